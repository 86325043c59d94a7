"""Canonical orientation in, native geometry out.

``sitk.DICOMOrient`` only permutes and flips axes (no resampling), so going to the
canonical ``PIR`` grid and back is exact; the native origin, spacing and direction
are copied back bit for bit at the end.
"""

from __future__ import annotations

import SimpleITK as sitk

from modicmap.io.image import CANONICAL_ORIENTATION, Geometry


def to_canonical(image: sitk.Image) -> sitk.Image:
    """Permute/flip ``image`` so its axes point P, I, R (numpy ``arr[k]`` = sagittal slice)."""
    if image.GetDimension() != 3:
        raise ValueError("to_canonical expects a 3-D image")
    return sitk.DICOMOrient(image, CANONICAL_ORIENTATION)


def to_geometry(image: sitk.Image, native: Geometry) -> sitk.Image:
    """Put an image computed on the canonical grid back on the ``native`` grid, exactly.

    The image must be on the canonical grid of ``native`` (same voxels, permuted);
    the result has ``native``'s size, spacing, origin and direction.
    """
    out = sitk.DICOMOrient(image, native.orientation)
    if tuple(out.GetSize()) != tuple(native.size):
        raise ValueError(f"image of size {out.GetSize()} is not on the grid of size {native.size}")
    out.SetSpacing(native.spacing)
    out.SetOrigin(native.origin)
    out.SetDirection(native.direction)
    return out
