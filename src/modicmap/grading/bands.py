"""The marrow signal of a level's two endplate bands, for the level model.

Per endplate region (:mod:`modicmap.grading.endplates`, 8 mm deep) the 90th percentile of
the study-scope body z-scores (the V-Net's inputs, :mod:`modicmap.lesions.zscore`) of T1
and of T2; per level the larger of its two endplates'. Type 1 and type 2 changes are
T2-bright and type 2 T1-bright, so a bright band is marrow evidence a reader sees on the
map's underlying images; the percentile (not the mean) keeps a band that is bright over
part of the endplate. On a stack only the slices within ``HALF_WINDOW_MM`` of the body's
centre are read, like the disc (:mod:`modicmap.grading.discs`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from modicmap.grading.discs import HALF_WINDOW_MM
from modicmap.grading.endplates import DEFAULT_DEPTH_MM, Endplate, endplate_regions

#: the percentile of the band's z-scores that stands for the band
PERCENTILE = 90.0


@dataclass(frozen=True)
class BandSignal:
    """The larger 90th-percentile z-score of a level's two endplate bands, per sequence."""

    upper_code: int
    lower_code: int
    t1_p90: float
    t2_p90: float


def _central(region: np.ndarray, centre: float, slice_mm: float) -> np.ndarray:
    slices = np.flatnonzero(region.any(axis=(1, 2)))
    near = slices[np.abs(slices - centre) * slice_mm <= HALF_WINDOW_MM]
    if near.size == 0 and slices.size:
        near = slices[[int(np.argmin(np.abs(slices - centre)))]]
    keep = np.zeros(region.shape[0], bool)
    keep[near] = True
    return region & keep[:, None, None]


def band_signals(
    t1z: np.ndarray,
    t2z: np.ndarray,
    vertebrae: np.ndarray,
    spacing_zyx: tuple[float, float, float],
    pairs: list[tuple[int, int]],
    depth_mm: float = DEFAULT_DEPTH_MM,
) -> dict[tuple[int, int], BandSignal]:
    """Band signals of the levels between the (upper, lower) VerSe-coded bodies of
    ``pairs``; a level missing an endplate region is left out."""
    regions = endplate_regions(vertebrae, spacing_zyx, depth_mm)
    codes = sorted({c for pair in pairs for c in pair})
    mass = ndimage.center_of_mass(vertebrae > 0, vertebrae, codes) if codes else []
    centres = {code: float(c[0]) for code, c in zip(codes, mass, strict=True)}
    out: dict[tuple[int, int], BandSignal] = {}
    for upper, lower in pairs:
        above = regions.get((upper, Endplate.INFERIOR))
        below = regions.get((lower, Endplate.SUPERIOR))
        if above is None or below is None or not above.any() or not below.any():
            continue
        central = [
            _central(above, centres[upper], spacing_zyx[0]),
            _central(below, centres[lower], spacing_zyx[0]),
        ]
        out[(upper, lower)] = BandSignal(
            upper_code=upper,
            lower_code=lower,
            t1_p90=max(float(np.percentile(t1z[c], PERCENTILE)) for c in central),
            t2_p90=max(float(np.percentile(t2z[c], PERCENTILE)) for c in central),
        )
    return out
