"""The vertebral-body network: a small 2-D MONAI U-Net on sagittal slices.

Classes: 0 background, 1 vertebral body (above the sacrum), 2 sacrum (S1). A
separate sacrum class makes S1 explicit, because every level name is counted from it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

CLASSES = ("background", "vertebral_body", "sacrum")
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
