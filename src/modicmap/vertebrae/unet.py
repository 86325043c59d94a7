"""The vertebral-body U-Net in plain torch, layer for layer MONAI's ``UNet`` (residual units).

Written here because importing MONAI costs about 2 s (its package ``__init__`` imports every
submodule), 40 % of the whole `run` budget on 2 cores, for one network we only evaluate.
Module names match MONAI's, so the bundled weights (trained with
``monai.networks.nets.UNet``) load unchanged; ``tests/test_vertebrae_unet.py`` checks that
both give the same output for the same weights. Norm, dropout and activation follow MONAI's
defaults: instance norm (no affine), dropout, PReLU, in that order ("NDA").
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn


class _ADN(nn.Module):
    """Instance norm, dropout, PReLU: MONAI's ``ADN`` with its ``NDA`` ordering."""

    def __init__(self, channels: int, dropout: float) -> None:
        super().__init__()
        self.N = nn.InstanceNorm2d(channels)
        self.D = nn.Dropout(dropout)
        self.A = nn.PReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.A(self.D(self.N(x)))


class _Convolution(nn.Module):
    """A 3x3 (transposed) convolution followed, unless ``conv_only``, by :class:`_ADN`."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int,
        dropout: float,
        *,
        transposed: bool = False,
        conv_only: bool = False,
    ) -> None:
        super().__init__()
        if transposed:
            self.conv: nn.Module = nn.ConvTranspose2d(
                in_channels, out_channels, 3, stride, padding=1, output_padding=stride - 1
            )
        else:
            self.conv = nn.Conv2d(in_channels, out_channels, 3, stride, padding=1)
        if not conv_only:
            self.adn = _ADN(out_channels, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        return self.adn(x) if hasattr(self, "adn") else x


class _ResidualUnit(nn.Module):
    """One convolution subunit plus a residual path (a convolution when the shape changes)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int,
        dropout: float,
        *,
        last_conv_only: bool = False,
    ) -> None:
        super().__init__()
        unit = _Convolution(in_channels, out_channels, stride, dropout, conv_only=last_conv_only)
        self.conv = nn.Sequential(OrderedDict(unit0=unit))
        self.residual: nn.Module = nn.Identity()
        if stride != 1:
            self.residual = nn.Conv2d(in_channels, out_channels, 3, stride, padding=1)
        elif in_channels != out_channels:
            self.residual = nn.Conv2d(in_channels, out_channels, 1, 1, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + self.residual(x)


class _SkipConnection(nn.Module):
    def __init__(self, submodule: nn.Module) -> None:
        super().__init__()
        self.submodule = submodule

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.submodule(x)], dim=1)


class UNet(nn.Module):
    """2-D U-Net with one residual unit per level (MONAI ``UNet(num_res_units=1)``)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        channels: Sequence[int],
        strides: Sequence[int],
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if len(channels) < 2 or len(strides) != len(channels) - 1:
            raise ValueError("UNet needs >= 2 channels and one stride fewer than channels")
        self.dropout = dropout
        self.model = self._block(in_channels, out_channels, list(channels), list(strides), True)

    def _block(
        self, inc: int, outc: int, channels: list[int], strides: list[int], is_top: bool
    ) -> nn.Module:
        c, s = channels[0], strides[0]
        if len(channels) > 2:
            sub: nn.Module = self._block(c, c, channels[1:], strides[1:], False)
            up_in = 2 * c
        else:
            sub = _ResidualUnit(c, channels[1], 1, self.dropout)
            up_in = c + channels[1]
        down = _ResidualUnit(inc, c, s, self.dropout)
        up = nn.Sequential(
            _Convolution(up_in, outc, s, self.dropout, transposed=True),
            _ResidualUnit(outc, outc, 1, self.dropout, last_conv_only=is_top),
        )
        return nn.Sequential(down, _SkipConnection(sub), up)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)
