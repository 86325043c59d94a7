"""The bodies the lesion stage looks at: the segmented bodies grown by a thin in-plane margin.

Modic changes start at the endplate, the body's outermost marrow. Where the body
segmentation stops short of the cortex (on synthetic studies the run's bodies cover 69 %
of the truth bodies: the rim on central slices, more on lateral partial-volume slices;
docs/benchmarks.md, "A body margin for the lesion stage"), lesion voxels there cannot be
found and the study's body statistics, and so every z-score, shift.
``lesions.body_margin_mm`` in the bundle grows each body into the background around it on
every sagittal slice for the z-score statistics and the V-Net's input; the lesion map,
``vertebrae.nii.gz`` and the endplate regions keep the segmented outline (on synthetic
studies the voxels of the margin itself added only 0.005 Dice).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def grow_bodies(
    labels: np.ndarray, spacing_zyx: tuple[float, float, float], margin_mm: float
) -> np.ndarray:
    """``labels`` (arr[z, y, x]) with every body grown by ``margin_mm`` in-plane (rounded to
    whole pixels along each axis) into background only, never into another body;
    unchanged when the margin is under half a pixel."""
    ry, rx = (int(margin_mm / float(s) + 0.5) for s in spacing_zyx[1:])
    if ry <= 0 and rx <= 0:
        return labels
    yy, xx = np.mgrid[-ry : ry + 1, -rx : rx + 1]
    disc = (yy / max(ry, 1)) ** 2 + (xx / max(rx, 1)) ** 2 <= 1.0  # the rounded radii
    grown = ndimage.grey_dilation(labels, footprint=disc[None])
    return np.where(labels == 0, grown, labels).astype(labels.dtype)
