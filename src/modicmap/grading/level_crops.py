"""One image patch per disc level, aligned with the spine: the level network's input.

A reader grades a level from the disc and the two endplates' marrow together. The patch
shows exactly that: on each sagittal slice, the square centred between the two bodies'
centroids, its vertical axis along the line joining them (so lordosis and a tilted
acquisition do not matter) and its size a fixed multiple of that distance (so body size
and pixel spacing do not matter either): ``ALONG`` times the distance up and down (from
inside the lower body to inside the upper one), ``ACROSS`` times it front and back (the
whole body depth and the canal behind); a network records its own geometry. Channels: T1
and T2 divided by the median of all body marrow on the same slice (the disc ratios'
normalisation, :mod:`modicmap.grading.discs`), clipped to ``[0, CLIP]``. Sampled with
``scipy.ndimage.map_coordinates`` (bilinear).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from modicmap.grading.discs import level_slices

#: half the patch height, in units of the distance between the two bodies' centroids
#: (a wider patch, 1.0 x 1.0 at 80 px, ranked SPIDER dev levels no better in the nested
#: cross-validation: docs/benchmarks.md "More context, more targets")
ALONG = 0.65
#: half the patch width, in the same units
ACROSS = 0.75
#: patch side in pixels
SIZE = 64
#: signal ratios above this are clipped (fat and fluid reach 3-4 times marrow)
CLIP = 4.0
#: a body with fewer pixels than this on a slice is not used for a patch
MIN_BODY_PIXELS = 20


@dataclass(frozen=True)
class PatchGeometry:
    """A patch's side in pixels and its half height and half width in units of the
    distance between the two bodies' centroids (a level network records the one it was
    trained on)."""

    size: int = SIZE
    along: float = ALONG
    across: float = ACROSS

    def __post_init__(self) -> None:
        if self.size < 16 or not (0 < self.along <= 3 and 0 < self.across <= 3):
            raise ValueError(f"implausible patch geometry {self}")


@dataclass(frozen=True)
class LevelPatches:
    """The patches of one level: one per central slice where both bodies show."""

    upper_code: int
    lower_code: int
    patches: np.ndarray  # float32 arr[n, 2, SIZE, SIZE] (T1, T2 relative to marrow)
    distance_mm: float  # between the two bodies' centroids (mean over the slices)


def _patch(
    t1: np.ndarray,
    t2: np.ndarray,
    upper: np.ndarray,
    lower: np.ndarray,
    spacing_yx: tuple[float, float],
    marrow: tuple[float, float],
    geometry: PatchGeometry,
) -> tuple[np.ndarray, float]:
    scale = np.asarray(spacing_yx)
    top = np.argwhere(upper).mean(axis=0) * scale
    bottom = np.argwhere(lower).mean(axis=0) * scale
    axis = top - bottom
    distance = float(np.linalg.norm(axis))
    axis /= max(distance, 1e-6)
    across = np.array([axis[1], -axis[0]])
    if across[1] < 0:  # the same image direction (front or back) on every level
        across = -across
    centre = (top + bottom) / 2
    size = geometry.size
    u = np.linspace(geometry.along, -geometry.along, size) * distance  # row 0: upper body
    v = np.linspace(-geometry.across, geometry.across, size) * distance
    grid_u, grid_v = np.meshgrid(u, v, indexing="ij")
    points = centre[:, None, None] + axis[:, None, None] * grid_u + across[:, None, None] * grid_v
    coords = [points[0] / scale[0], points[1] / scale[1]]
    channels = [
        ndimage.map_coordinates(image / max(m, 1e-6), coords, order=1, mode="constant")
        for image, m in ((t1, marrow[0]), (t2, marrow[1]))
    ]
    return np.clip(np.stack(channels), 0.0, CLIP).astype(np.float32), distance


def level_patches(
    t1: np.ndarray,
    t2: np.ndarray,
    labels: np.ndarray,
    spacing_zyx: tuple[float, float, float],
    pairs: list[tuple[int, int]],
    geometry: PatchGeometry = PatchGeometry(),
) -> dict[tuple[int, int], LevelPatches]:
    """Patches of every (upper code, lower code) level in ``pairs`` (``labels``: VerSe
    codes on the T1 grid, arr[z, y, x]; ``t2`` on the same grid). A level whose bodies
    never show together on a central slice is left out."""
    out: dict[tuple[int, int], LevelPatches] = {}
    for upper_code, lower_code in pairs:
        upper_all, lower_all = labels == upper_code, labels == lower_code
        patches, distances = [], []
        for k in level_slices(upper_all, lower_all, spacing_zyx[0]):
            upper, lower = upper_all[k], lower_all[k]
            if upper.sum() < MIN_BODY_PIXELS or lower.sum() < MIN_BODY_PIXELS:
                continue
            bone = labels[k] > 0
            marrow = (float(np.median(t1[k][bone])), float(np.median(t2[k][bone])))
            patch, distance = _patch(t1[k], t2[k], upper, lower, spacing_zyx[1:], marrow, geometry)
            patches.append(patch)
            distances.append(distance)
        if patches:
            out[(upper_code, lower_code)] = LevelPatches(
                upper_code=upper_code,
                lower_code=lower_code,
                patches=np.stack(patches),
                distance_mm=float(np.mean(distances)),
            )
    return out
