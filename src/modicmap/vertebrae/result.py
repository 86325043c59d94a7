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
class NameEvidence:
    """Why a body has its name (``vertebrae.name_check``): independent counts beside it."""

    name: str
    levels_above_s1: int | None  # from the order of the bodies; None when no S1 was found
    discs_by_spacing: int | None  # discs down to S1 counted from the bodies' spacing
    step_ratio: float | None  # distance to the body below (or S1) / median body step
    volume_ratio: float  # volume / median volume of its neighbours above and below
    lateral_offset_mm: float  # centre's distance from the column's left-right line
    on_midline: bool  # reaches the column's middle sagittal slices
    posterior_shift_mm: float | None = None  # S1 only: its centre behind L5's (+) or in front

    @property
    def agrees(self) -> bool:
        """Whether the spacing count gives the same level as the order of the bodies."""
        return self.discs_by_spacing is None or self.discs_by_spacing == self.levels_above_s1


@dataclass(frozen=True)
class VertebraeResult:
    labels: np.ndarray  # uint8 VerSe codes, canonical arr[z, y, x] on the input grid
    bodies: tuple[VertebralBody, ...]  # superior -> inferior
    warnings: tuple[str, ...] = ()
    #: per body, superior -> inferior, the evidence the names were checked against (empty
    #: where no check ran: a user mask)
    evidence: tuple[NameEvidence, ...] = ()

    @property
    def has_sacrum(self) -> bool:
        return any(b.name == "S1" for b in self.bodies)
