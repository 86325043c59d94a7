"""The marrow signal of a level's two endplate bands, for the level model.

Per endplate region (:mod:`modicmap.grading.endplates`, 8 mm deep) the 90th percentile of
the study-scope body z-scores (the V-Net's inputs, :mod:`modicmap.zscore`) of T1
and of T2; per level the larger of its two endplates'. Type 1 and type 2 changes are
T2-bright and type 2 T1-bright, so a bright band is marrow evidence a reader sees on the
map's underlying images; the percentile (not the mean) keeps a band that is bright over
part of the endplate. On a stack only the slices near the body's centre are read, like the
disc's (:func:`modicmap.grading.discs.central_slices`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from modicmap.grading.discs import central_slices
from modicmap.grading.endplates import DEFAULT_DEPTH_MM, Endplate, endplate_regions
from modicmap.vertebrae.postprocess import label_centroids

#: the percentile of the band's z-scores that stands for the band
PERCENTILE = 90.0


@dataclass(frozen=True)
class BandSignal:
    """The larger 90th-percentile z-score of a level's two endplate bands, per sequence."""

    upper_code: int
    lower_code: int
    t1_p90: float
    t2_p90: float


def _band_p90(
    t1z: np.ndarray,
    t2z: np.ndarray,
    band: np.ndarray,
    box: tuple[slice, ...],
    centre: float,
    slice_mm: float,
) -> tuple[float, float] | None:
    """90th percentiles of one endplate band (``band``: its mask cut to its body's ``box``)
    on the slices near the body's centre."""
    slices = central_slices(np.flatnonzero(band.any(axis=(1, 2))), centre - box[0].start, slice_mm)
    if slices.size == 0:
        return None
    inside = band[slices]
    return (
        float(np.percentile(t1z[box][slices][inside], PERCENTILE)),
        float(np.percentile(t2z[box][slices][inside], PERCENTILE)),
    )


def band_signals(
    t1z: np.ndarray,
    t2z: np.ndarray,
    vertebrae: np.ndarray,
    spacing_zyx: tuple[float, float, float],
    pairs: list[tuple[int, int]],
    depth_mm: float = DEFAULT_DEPTH_MM,
    *,
    regions: dict[tuple[int, Endplate], np.ndarray] | None = None,
) -> dict[tuple[int, int], BandSignal]:
    """Band signals of the levels between the (upper, lower) VerSe-coded bodies of
    ``pairs``; a level missing an endplate region is left out, except the level above the
    top body whose upper body is not in the image at all (cut by the field of view:
    :func:`modicmap.grading.grade.level_above_in_view`), read from its lower endplate alone.
    ``regions``: the endplate regions when the caller already has them
    (:func:`endplate_regions` of ``depth_mm``)."""
    if regions is None:
        regions = endplate_regions(vertebrae, spacing_zyx, depth_mm)
    boxes = ndimage.find_objects(vertebrae.astype(np.int32))  # each band lies in its body's box
    codes = sorted({c for pair in pairs for c in pair})
    found = label_centroids(vertebrae, (1.0, 1.0, 1.0))  # voxel units
    centres = {code: float(found[code][0]) if code in found else float("nan") for code in codes}
    out: dict[tuple[int, int], BandSignal] = {}
    for upper, lower in pairs:
        values = []
        for code, side in ((upper, Endplate.INFERIOR), (lower, Endplate.SUPERIOR)):
            region = regions.get((code, side))
            box = boxes[code - 1] if 0 < code <= len(boxes) else None
            if code == upper and box is None:
                continue  # the upper body is not in the image: the lower endplate alone
            if region is None or box is None:
                break
            p90 = _band_p90(t1z, t2z, region[box], box, centres[code], spacing_zyx[0])
            if p90 is None:
                break
            values.append(p90)
        else:
            out[(upper, lower)] = BandSignal(
                upper_code=upper,
                lower_code=lower,
                t1_p90=max(v[0] for v in values),
                t2_p90=max(v[1] for v in values),
            )
    return out
