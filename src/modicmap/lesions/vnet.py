"""The 2-D V-Net of Milletari et al. (2016) with a width setting, written for this package.

Residual stages of 5x5 convolutions with PReLU, 2x2 strided down-convolutions and
transposed up-convolutions, skip connections by concatenation, softmax output.
Written here rather than taken from MONAI because MONAI's ``VNet`` has no width
argument (9.4 M parameters is too slow to train on a CPU) and, in 2-D, builds
``Dropout3d`` layers that on a (N, C, H, W) batch drop whole samples instead of
channels; this one uses ``nn.Dropout2d`` (channel dropout), tested in the suite.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn


@dataclass(frozen=True)
class VNetSpec:
    in_channels: int = 2  # T1 z, T2 z
    out_channels: int = 2  # background, lesion
    base_channels: int = 8  # the paper's V-Net: 16
    dropout: float = 0.5
    down_convs: tuple[int, ...] = (1, 2, 3, 3)
    bottom_convs: int = 3

    def to_json(self) -> dict[str, Any]:
        return {"architecture": "modicmap.lesions.vnet.VNet2D", **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VNetSpec:
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if "down_convs" in fields:
            fields["down_convs"] = tuple(fields["down_convs"])
        return cls(**fields)


class _ResidualConvs(nn.Module):
    def __init__(self, channels: int, n: int, dropout: float) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(n):
            layers += [
                nn.Conv2d(channels, channels, 5, padding=2),
                nn.BatchNorm2d(channels),
                nn.PReLU(channels),
            ]
        self.convs = nn.Sequential(*layers)
        self.drop = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.act = nn.PReLU(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.convs(self.drop(x)) + x)


class VNet2D(nn.Module):
    """Input sides must be divisible by 2 ** len(down_convs)."""

    def __init__(self, spec: VNetSpec) -> None:
        super().__init__()
        c = spec.base_channels
        self.spec = spec
        self.input = nn.Sequential(nn.Conv2d(spec.in_channels, c, 5, padding=2), nn.BatchNorm2d(c))
        self.input_act = nn.PReLU(c)
        self.downs = nn.ModuleList()
        self.down_blocks = nn.ModuleList()
        channels = c
        for level, n in enumerate(spec.down_convs):
            drop = (
                spec.dropout if level >= 2 else 0.0
            )  # dropout in the deep stages, as the paper's code
            self.downs.append(
                nn.Sequential(
                    nn.Conv2d(channels, 2 * channels, 2, stride=2), nn.PReLU(2 * channels)
                )
            )
            channels *= 2
            self.down_blocks.append(
                _ResidualConvs(
                    channels, n if level < len(spec.down_convs) - 1 else spec.bottom_convs, drop
                )
            )
        self.ups = nn.ModuleList()
        self.up_blocks = nn.ModuleList()
        for i, (level, n) in enumerate(reversed(list(enumerate(spec.down_convs)))):
            # the first up-convolution halves the channels, the later ones quarter them, so
            # that after concatenation with the skip each stage has twice the skip's width
            out = channels // 2 if i == 0 else channels // 4
            self.ups.append(
                nn.Sequential(nn.ConvTranspose2d(channels, out, 2, stride=2), nn.PReLU(out))
            )
            drop = spec.dropout if level >= 2 else 0.0
            self.up_blocks.append(_ResidualConvs(2 * out, max(1, n), drop))
            channels = 2 * out
        self.output = nn.Conv2d(channels, spec.out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip0 = self.input_act(self.input(x) + x.mean(1, keepdim=True))
        skips = [skip0]
        h = skip0
        for down, block in zip(self.downs, self.down_blocks, strict=True):
            h = block(down(h))
            skips.append(h)
        skips.pop()  # the bottom is not a skip
        for up, block in zip(self.ups, self.up_blocks, strict=True):
            h = up(h)
            h = block(torch.cat([h, skips.pop()], dim=1))
        return self.output(h)
