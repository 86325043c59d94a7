"""What the vertebra stage hands on."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class VertebralBody:
    code: int  # VerSe code
    name: str  # e.g. "L5"
    voxels: int
    centroid_zyx: tuple[float, float, float]  # voxel coordinates


@dataclass(frozen=True)
class VertebraeResult:
    labels: np.ndarray  # uint8 VerSe codes, canonical arr[z, y, x] on the input grid
    bodies: tuple[VertebralBody, ...]  # superior -> inferior
    warnings: tuple[str, ...] = ()

    @property
    def has_sacrum(self) -> bool:
        return any(b.name == "S1" for b in self.bodies)
