"""The plain-torch vertebral-body U-Net is MONAI's UNet, layer for layer."""

from __future__ import annotations

import pytest
import torch

from modicmap.vertebrae.network import CLASSES, VertebraeNetSpec
from modicmap.vertebrae.unet import UNet


@pytest.mark.parametrize(
    "channels,strides", [((16, 32, 64, 128, 192), (2, 2, 2, 2)), ((8, 16), (2,))]
)
def test_same_keys_and_outputs_as_monai(
    channels: tuple[int, ...], strides: tuple[int, ...]
) -> None:
    monai_nets = pytest.importorskip("monai.networks.nets")
    torch.manual_seed(0)
    reference = monai_nets.UNet(
        spatial_dims=2,
        in_channels=1,
        out_channels=len(CLASSES),
        channels=channels,
        strides=strides,
        num_res_units=1,
        dropout=0.1,
    ).eval()
    plain = UNet(1, len(CLASSES), channels, strides, dropout=0.1).eval()
    state = reference.state_dict()
    assert list(plain.state_dict()) == list(state)
    plain.load_state_dict(state, strict=True)
    x = torch.randn(2, 1, 96, 80)
    with torch.no_grad():
        assert torch.allclose(plain(x), reference(x), atol=1e-5)


def test_bundled_weights_load_strictly() -> None:
    from modicmap.models.bundle import load_bundle
    from modicmap.vertebrae.inference import load_network

    bundle = load_bundle()
    network, spec = load_network(bundle, "cpu")
    assert isinstance(spec, VertebraeNetSpec)
    assert any(isinstance(m, UNet) for m in network.modules())
