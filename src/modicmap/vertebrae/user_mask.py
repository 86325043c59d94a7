"""Use a user's own vertebral-body mask (``run --vertebrae MASK``): any label values.

* Labels that look like VerSe codes (values within 1-26 and at least one lumbar code
  20-25 or the sacrum 26) are kept as they are.
* Otherwise every label value is one body (a binary mask is split into connected
  components), bodies are ordered by height and named from the lowest, which is taken
  as L5; a warning says so, because a mask without anatomical codes cannot tell whether
  its lowest label is L5 or the sacrum.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from modicmap.errors import InputError
from modicmap.labels import L6_CODE, vertebra_name
from modicmap.vertebrae.levels import name_levels
from modicmap.vertebrae.postprocess import Instances
from modicmap.vertebrae.result import VertebraeResult, VertebralBody

UNNAMED = (
    "the vertebrae mask has no anatomical codes: bodies are named from the lowest, taken as L5 "
    "(give VerSe codes, S1 = 26, to name them exactly)"
)

TRANSITIONAL_L6 = (
    "the vertebrae mask labels an L6 (transitional anatomy): disc levels are counted from the "
    "sacrum, so L6-S1 has index_from_sacrum 1 and L5-L6 index 2; check that gradings you "
    "compare with count the same way"
)


def vertebrae_from_mask(
    mask: sitk.Image, reference: sitk.Image, source: str = "mask"
) -> VertebraeResult:
    """Resample (nearest) ``mask`` onto the canonical ``reference`` grid and name its bodies."""
    if mask.GetNumberOfComponentsPerPixel() != 1 or mask.GetDimension() != 3:
        raise InputError(source, "vertebrae mask must be a 3-D label image")
    on_grid = sitk.Resample(
        mask, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkInt32
    )
    labels = sitk.GetArrayFromImage(on_grid)
    values = [int(v) for v in np.unique(labels) if v > 0]
    if not values:
        raise InputError(
            source, "vertebrae mask has no labelled voxel on the T1 grid (no vertebrae found)"
        )
    if max(values) <= 26 and any(20 <= v <= 26 for v in values) and len(values) > 1:
        out = np.where((labels > 0) & (labels <= 26), labels, 0).astype(np.uint8)
        bodies = []
        for code in values:
            part = out == code
            if part.any():
                centre = ndimage.center_of_mass(part)
                bodies.append(
                    VertebralBody(
                        code, vertebra_name(code), int(part.sum()), tuple(float(c) for c in centre)
                    )
                )
        warnings = (TRANSITIONAL_L6,) if L6_CODE in values else ()
        return VertebraeResult(labels=out, bodies=tuple(bodies), warnings=warnings)
    if len(values) == 1:
        labels, _ = ndimage.label(labels > 0)
        values = [int(v) for v in np.unique(labels) if v]
    centres = ndimage.center_of_mass(labels > 0, labels, values)
    order = sorted(zip(values, centres, strict=True), key=lambda item: item[1][1])
    ordered = np.zeros(labels.shape, np.int32)
    for new, (old, _) in enumerate(order, start=1):
        ordered[labels == old] = new
    result = name_levels(Instances(labels=ordered, sacrum=np.zeros(labels.shape, bool), removed=0))
    warnings = (*tuple(w for w in result.warnings if not w.startswith("no sacrum")), UNNAMED)
    return VertebraeResult(labels=result.labels, bodies=result.bodies, warnings=warnings)
