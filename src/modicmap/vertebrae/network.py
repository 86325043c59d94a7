"""The vertebral-body network: a small 2-D MONAI U-Net on sagittal slices.

Classes: 0 background, 1 vertebral body (above the sacrum), 2 sacrum (S1). A
separate sacrum class makes S1 explicit, because every level name is counted from it.
A bundle may hold several such networks (``members``) whose class probabilities are
averaged (``train vertebrae --ensemble-with``). The default bundle holds one: a two-member
ensemble traded one kind of level-naming error on SPIDER for another (docs/benchmarks.md,
"Vertebral bodies"). It also holds a second, separate network (``FALLBACK``, ``train
vertebrae --fallback-in``) that is asked only when the main one's result is implausible.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

CLASSES = ("background", "vertebral_body", "sacrum")
#: bundle section (and weights file) of an optional second vertebra network, asked only when
#: everything the main network tried stays implausible (docs/benchmarks.md, "fallback")
FALLBACK = "vertebrae_fallback"
IGNORE = 255  # label value excluded from the loss (e.g. the unlabelled sacrum of VB2 masks)


@dataclass(frozen=True)
class VertebraeNetSpec:
    """Everything needed to rebuild the network and prepare its input."""

    channels: tuple[int, ...] = (16, 32, 64, 128, 192)
    strides: tuple[int, ...] = (2, 2, 2, 2)
    num_res_units: int = 1
    dropout: float = 0.1
    working_spacing_mm: float = 1.25
    tile: int = 224  # training crop side (pixels at the working spacing)
    members: int = 1  # networks of this architecture whose class probabilities are averaged

    def to_json(self) -> dict[str, Any]:
        return {"architecture": "monai.networks.nets.UNet", **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VertebraeNetSpec:
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in ("channels", "strides"):
            if key in fields:
                fields[key] = tuple(fields[key])
        return cls(**fields)


def build_network(spec: VertebraeNetSpec):  # -> torch.nn.Module (torch imported lazily)
    """One U-Net, or for ``members`` > 1 a module averaging the members' probabilities
    (its output is the log of the mean probability, so a softmax recovers the mean)."""
    import torch

    def unet() -> torch.nn.Module:
        if spec.num_res_units == 1:  # the bundled recipe: the plain-torch copy, no MONAI import
            from modicmap.vertebrae.unet import UNet as PlainUNet

            return PlainUNet(1, len(CLASSES), spec.channels, spec.strides, spec.dropout)
        from monai.networks.nets import UNet

        return UNet(
            spatial_dims=2,
            in_channels=1,
            out_channels=len(CLASSES),
            channels=spec.channels,
            strides=spec.strides,
            num_res_units=spec.num_res_units,
            dropout=spec.dropout,
        )

    if spec.members == 1:
        return unet()

    class MeanProbability(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.members = torch.nn.ModuleList(unet() for _ in range(spec.members))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            probs = torch.stack([torch.softmax(m(x), 1) for m in self.members]).mean(0)
            return torch.log(probs.clamp_min(1e-7))

    return MeanProbability()


MEMBER_PREFIX = "members."


def split_members(state: dict[str, Any], members: int) -> list[dict[str, Any]]:
    """The members' own state dicts from a bundle's (one member: the state itself)."""
    if members == 1:
        return [state]
    out: list[dict[str, Any]] = [{} for _ in range(members)]
    for key, value in state.items():
        index, _, rest = key[len(MEMBER_PREFIX) :].partition(".")
        out[int(index)][rest] = value
    return out


def join_members(states: list[dict[str, Any]]) -> dict[str, Any]:
    """One state dict for :func:`build_network` with ``members = len(states)``."""
    if len(states) == 1:
        return dict(states[0])
    return {
        f"{MEMBER_PREFIX}{i}.{key}": value
        for i, state in enumerate(states)
        for key, value in state.items()
    }
