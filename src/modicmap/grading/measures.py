"""The measures readers report for a Modic change, per endplate, from the voxel map.

The ISSLS recommendations (Fields et al., Eur Spine J 2019) ask for type, location and
size; the Nordic classification (Jensen et al. 2007) grades size by the lesion's height as
a share of the body's height. Measured in physical units so that they do not depend on the
pixel grid:

* the lesion voxels of an endplate are the map's lesion voxels in the half of the body next
  to it (per sagittal column of the body, the rows above the column's middle for the
  superior endplate, below it for the inferior one) that belong to a lesion reaching the
  endplate: a connected piece (in 3-D, inside that half) with a voxel within
  ``ATTACHED_MM`` of the body's edge. A Modic change lies against its endplate; a spot in
  the middle of the body (on SPIDER dev often where the basivertebral vein enters, at the
  back of the body's middle) is not its extent;
* ``height_fraction``: the largest extent of those voxels from the endplate (per column,
  from the body's edge to the farthest lesion voxel, in mm) over the body's height (the
  75th percentile of its columns' heights, so the rounded rims do not shorten it);
* ``extent_grade``: 0 none, 1 below 25 %, 2 25-50 %, 3 above 50 % of the body height;
* ``volume_fraction``: their volume over the body's volume;
* ``mixed_type``: "a/b" (ascending) when the second most frequent type covers at least
  ``MIXED_SHARE`` of them, with that share.

No library computes these from a label map, hence the few lines of numpy below.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

#: share of an endplate's lesion voxels that a second type needs for a mixed type ("1/2")
MIXED_SHARE = 0.25
#: the Nordic grades' bounds on height_fraction
EXTENT_BOUNDS = (0.25, 0.50)
#: a lesion piece counts for an endplate when it comes this close to the body's edge (mm):
#: the depth of the endplate region the grade reads (``endplates.DEFAULT_DEPTH_MM``)
ATTACHED_MM = 8.0


@dataclass(frozen=True)
class LesionMeasures:
    height_fraction: float = 0.0
    extent_grade: int = 0
    volume_fraction: float = 0.0
    mixed_type: str = ""
    second_type_share: float = 0.0


NO_LESION = LesionMeasures()


def extent_grade(height_fraction: float) -> int:
    """The Nordic size grade of a lesion of ``height_fraction`` (0 when there is none)."""
    if height_fraction <= 0:
        return 0
    return 1 + int(np.searchsorted(EXTENT_BOUNDS, height_fraction, side="right"))


def body_boxes(vertebrae: np.ndarray) -> dict[int, tuple[slice, ...]]:
    """The bounding box of every labelled body."""
    boxes = ndimage.find_objects(vertebrae)
    return {code: box for code, box in enumerate(boxes, start=1) if box is not None}


def endplate_measures(
    modic_map: np.ndarray,
    vertebrae: np.ndarray,
    code: int,
    superior: bool,
    spacing_zyx: tuple[float, float, float],
    box: tuple[slice, ...] | None = None,
) -> LesionMeasures:
    """The measures of the lesion next to the superior (``superior``) or inferior endplate of
    body ``code``. ``box``: the body's bounding box when the caller has it."""
    if box is None:
        box = body_boxes(vertebrae).get(code)
        if box is None:
            return NO_LESION
    body = vertebrae[box] == code
    types = np.where(body, modic_map[box], 0)
    has = body.any(axis=1)  # (z, x) columns of the body
    if not has.any():
        return NO_LESION
    n_rows = body.shape[1]
    top = np.argmax(body, axis=1)
    bottom = n_rows - 1 - np.argmax(body[:, ::-1, :], axis=1)
    middle = (top + bottom) / 2.0
    rows = np.arange(n_rows)[None, :, None]
    half = rows <= middle[:, None, :] if superior else rows > middle[:, None, :]
    lesion = (types > 0) & half
    if not lesion.any():
        return NO_LESION
    dy = spacing_zyx[1]
    edge = top if superior else bottom
    near = np.abs(rows - edge[:, None, :]) * dy < ATTACHED_MM
    pieces, _ = ndimage.label(lesion, structure=np.ones((3, 3, 3), bool))
    attached = np.unique(pieces[lesion & near])
    lesion &= np.isin(pieces, attached[attached > 0])
    n_lesion = int(lesion.sum())
    if n_lesion == 0:
        return NO_LESION
    heights = (bottom - top + 1)[has] * dy
    body_height = float(np.percentile(heights, 75))
    columns = lesion.any(axis=1)
    if superior:
        far = n_rows - 1 - np.argmax(lesion[:, ::-1, :], axis=1)  # deepest lesion row
        extent = (far - top + 1)[columns] * dy
    else:
        far = np.argmax(lesion, axis=1)  # highest lesion row
        extent = (bottom - far + 1)[columns] * dy
    height_fraction = float(min(extent.max() / max(body_height, 1e-6), 1.0))
    counts = np.array([(types[lesion] == t).sum() for t in (1, 2, 3)], float)
    order = np.argsort(-counts, kind="stable")
    second = counts[order[1]] / n_lesion
    mixed = ""
    if second >= MIXED_SHARE:
        mixed = "/".join(str(t) for t in sorted((int(order[0]) + 1, int(order[1]) + 1)))
    return LesionMeasures(
        height_fraction=round(height_fraction, 4),
        extent_grade=extent_grade(height_fraction),
        volume_fraction=round(n_lesion / int(body.sum()), 5),
        mixed_type=mixed,
        second_type_share=round(float(second), 4) if mixed else 0.0,
    )
