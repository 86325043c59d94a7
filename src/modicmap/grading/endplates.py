"""Endplate regions: the marrow next to each vertebral body's superior and inferior endplate.

Definition (documented decision): on every sagittal slice and every column
(anterior-posterior position) of a body, the endplate is the body's first voxel
from the top (superior) or from the bottom (inferior); the endplate region is the
body voxels within ``depth_mm`` of it along the column. Columns run
superior-inferior in the canonical orientation, so for a body tilted by lordosis
the depth is measured vertically (at 30 deg tilt, 15 % deeper than along the
endplate's normal). Default depth 8 mm, about a third of a lumbar body's height, the
extent within which Modic changes are usually graded. The sacrum contributes only
its superior endplate (S1 is fused below).
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np

from modicmap.labels import SACRUM_CODE

DEFAULT_DEPTH_MM = 8.0


class Endplate(StrEnum):
    SUPERIOR = "superior"
    INFERIOR = "inferior"


def _column_distance(mask: np.ndarray, spacing_y: float, from_top: bool) -> np.ndarray:
    """Distance in mm along y (rows) from the first mask voxel of each (z, x) column."""
    rows = np.arange(mask.shape[1], dtype=np.float32)[None, :, None]
    present = mask.any(axis=1, keepdims=True)
    if from_top:
        edge = np.argmax(mask, axis=1)[:, None, :]
        distance = (rows - edge) * spacing_y
    else:
        edge = mask.shape[1] - 1 - np.argmax(mask[:, ::-1, :], axis=1)[:, None, :]
        distance = (edge - rows) * spacing_y
    return np.where(present & mask, distance, np.inf)


def endplate_regions(
    vertebrae: np.ndarray,
    spacing_zyx: tuple[float, float, float],
    depth_mm: float = DEFAULT_DEPTH_MM,
) -> dict[tuple[int, Endplate], np.ndarray]:
    """Boolean masks (full grid) of every endplate region, keyed by (VerSe code, endplate)."""
    regions: dict[tuple[int, Endplate], np.ndarray] = {}
    for code in (int(c) for c in np.unique(vertebrae) if c != 0):
        where = np.argwhere(vertebrae == code)
        lo, hi = where.min(axis=0), where.max(axis=0) + 1
        box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
        mask = vertebrae[box] == code
        sides = (
            [Endplate.SUPERIOR] if code == SACRUM_CODE else [Endplate.SUPERIOR, Endplate.INFERIOR]
        )
        for side in sides:
            distance = _column_distance(mask, spacing_zyx[1], from_top=side is Endplate.SUPERIOR)
            region = np.zeros(vertebrae.shape, dtype=bool)
            region[box] = distance < depth_mm
            regions[(code, side)] = region
    return regions
