"""Checks on images as read, each failing with an :class:`InputError` naming the file."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from modicmap.errors import InputError
from modicmap.io.image import LoadedImage

logger = logging.getLogger(__name__)

_AXIS_NAMES = {0: "left-right", 1: "anterior-posterior", 2: "superior-inferior"}
_PLANE_NAMES = {0: "sagittal", 1: "coronal", 2: "axial"}
_ARTICLE = {0: "a", 1: "a", 2: "an"}
#: plausible in-plane field of view (mm) of an MR image: a header whose spacing puts it
#: outside (e.g. centimetres read as millimetres) would make the working-grid resampling
#: allocate gigabytes, or leave no spine to find
MIN_FOV_MM, MAX_FOV_MM = 20.0, 1000.0


def check_pixels(image: sitk.Image, path: Path) -> None:
    """Reject vector/RGB pixels, 4-D images, NaN/inf values and constant images."""
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(
            path,
            f"has {image.GetNumberOfComponentsPerPixel()} components per pixel (RGB or vector); "
            "a grey-scale MR image is needed",
        )
    if image.GetDimension() not in (2, 3):
        raise InputError(
            path, f"is {image.GetDimension()}-D; a 3-D (or single-slice) image is needed"
        )
    array = sitk.GetArrayViewFromImage(image)
    if not np.issubdtype(array.dtype, np.integer) and not np.all(np.isfinite(array)):
        raise InputError(path, "contains NaN or infinite values")  # replace_non_finite first
    if array.size == 0 or array.min() == array.max():
        raise InputError(path, "is constant (every voxel has the same value): no image content")


#: an image with more non-finite voxels than this share is refused, not repaired
MAX_NON_FINITE_SHARE = 0.5


def replace_non_finite(image: sitk.Image, path: Path) -> sitk.Image:
    """NaN/inf voxels in part of an image set to its smallest finite value (no signal), with a
    warning that says how many; an image mostly or wholly non-finite is bad input."""
    if image.GetNumberOfComponentsPerPixel() != 1:
        return image  # check_pixels refuses it
    array = sitk.GetArrayViewFromImage(image)
    if np.issubdtype(array.dtype, np.integer):
        return image
    bad = ~np.isfinite(array)
    n_bad = int(bad.sum())
    if n_bad == 0:
        return image
    if n_bad > MAX_NON_FINITE_SHARE * array.size:
        raise InputError(
            path, f"has {n_bad} of {array.size} voxels NaN or infinite: no usable image content"
        )
    fill = float(array[~bad].min())
    logger.warning(
        "%s: %d of %d voxels are NaN or infinite; set to %g (the image's smallest finite value)",
        path,
        n_bad,
        array.size,
        fill,
    )
    repaired = sitk.GetImageFromArray(np.where(bad, fill, array).astype(array.dtype))
    repaired.CopyInformation(image)
    return repaired


def check_extent(canonical: sitk.Image, path: Path) -> None:
    """Reject an in-plane field of view no spine MRI has (``canonical``: the image on the
    canonical PIR grid, whose first two axes are in-plane)."""
    size, spacing = canonical.GetSize(), canonical.GetSpacing()
    for axis, name in ((1, "a superior-inferior"), (0, "an anterior-posterior")):
        fov = size[axis] * spacing[axis]
        if not MIN_FOV_MM <= fov <= MAX_FOV_MM:
            raise InputError(
                path,
                f"has {name} field of view of {fov:.1f} mm "
                f"({size[axis]} pixels of {spacing[axis]:.3g} mm); expected "
                f"{MIN_FOV_MM:.0f}-{MAX_FOV_MM:.0f} mm: check the pixel spacing in the header",
            )


def slice_axis(image: sitk.Image) -> int | None:
    """Index (x=0, y=1, z=2) of the through-plane axis of a native grid, or None if unclear.

    A single slice decides it; otherwise the axis with clearly the largest spacing
    (slice thickness), else the axis with clearly the fewest voxels; isotropic cubes
    give None (no judgement possible).
    """
    size = image.GetSize()
    spacing = image.GetSpacing()
    singles = [i for i, n in enumerate(size) if n == 1]
    if len(singles) == 1:
        return singles[0]
    order = np.argsort(spacing)[::-1]
    if spacing[order[0]] > 1.2 * spacing[order[1]]:
        return int(order[0])
    order = np.argsort(size)
    if size[order[0]] < 0.5 * size[order[1]]:
        return int(order[0])
    return None


def check_sagittal(image: sitk.Image, path: Path, *, allow_non_sagittal: bool = False) -> None:
    """Reject series whose slices are not (close to) sagittal."""
    if image.GetDimension() != 3:
        return
    axis = slice_axis(image)
    if axis is None:
        logger.warning(
            "%s: cannot tell the slice direction (isotropic grid); assuming sagittal", path
        )
        return
    direction = np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)
    normal = direction[:, axis]
    world_axis = int(np.argmax(np.abs(normal)))
    if world_axis == 0:
        return
    message = (
        f"is {_ARTICLE[world_axis]} {_PLANE_NAMES[world_axis]} series (slices stacked along the "
        f"{_AXIS_NAMES[world_axis]} axis); modicmap needs sagittal slices"
    )
    if allow_non_sagittal:
        logger.warning("%s: %s (continuing: --allow-non-sagittal)", path, message)
        return
    raise InputError(path, message + " (override with --allow-non-sagittal)")


def check_same_patient(t1: LoadedImage, t2: LoadedImage, *, force: bool = False) -> None:
    """Reject a T1/T2 pair from different patients (DICOM PatientID), unless ``force``."""
    if t1.dicom is None or t2.dicom is None:
        return
    a, b = t1.dicom.patient_id.strip(), t2.dicom.patient_id.strip()
    if a and b and a != b:
        if force:
            logger.warning("T1 and T2 have different PatientID (%r vs %r): --force given", a, b)
            return
        raise InputError(
            t2.source,
            f"PatientID {b!r} differs from the T1's ({a!r} in {t1.source}): "
            "T1 and T2 must come from the same patient (override with --force)",
        )
