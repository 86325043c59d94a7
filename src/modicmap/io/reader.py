"""One reader for every input: DICOM series or study folders, NIfTI, MetaImage, NRRD.

Whatever the file's orientation, :func:`read_image` returns the image in the
canonical ``PIR`` orientation (see :mod:`modicmap.io.image`) as float32, with the
native geometry needed to write outputs back onto the input's own grid
(:func:`to_native`).
"""

from __future__ import annotations

import gzip
import logging
import zlib
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from modicmap.errors import InputError
from modicmap.io.dicom_series import choose_series, find_series, gdcm_message
from modicmap.io.image import Geometry, LoadedImage, SeriesRole
from modicmap.io.nifti_non_finite import non_finite_mask
from modicmap.io.orientation import to_canonical, to_geometry
from modicmap.io.validate import (
    check_extent,
    check_pixels,
    check_sagittal,
    replace_non_finite,
)

logger = logging.getLogger(__name__)

#: File name endings SimpleITK reads for us (DICOM comes as folders, or single .dcm files).
IMAGE_SUFFIXES = (".nii.gz", ".nii", ".mha", ".mhd", ".nrrd", ".nhdr", ".dcm")


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in IMAGE_SUFFIXES:
        if name.endswith(suffix):
            return suffix
    return path.suffix.lower()


def _read_file(path: Path) -> sitk.Image:
    suffix = _suffix(path)
    if suffix not in IMAGE_SUFFIXES:
        raise InputError(
            path,
            f"unsupported file type {suffix or '(no extension)'!r}; give a DICOM folder or a "
            ".nii/.nii.gz/.mha/.mhd/.nrrd file",
        )
    if path.stat().st_size == 0:
        raise InputError(path, "is an empty file")
    try:
        if suffix in (".nii", ".nii.gz"):
            _check_nifti_length(path, suffix)
            return _with_non_finite(sitk.ReadImage(str(path)), non_finite_mask(path))
        return sitk.ReadImage(str(path))
    except RuntimeError as exc:
        detail = str(exc).strip().splitlines()
        hint = next((line for line in detail if "rror" in line), detail[-1] if detail else "")
        raise InputError(
            path, f"cannot be read as an image (corrupt, truncated or not an image): {hint[:160]}"
        ) from None


def _with_non_finite(image: sitk.Image, mask: np.ndarray | None) -> sitk.Image:
    """The NaN/inf voxels ITK's NIfTI reader turned into 0 put back, so that they are
    counted and replaced like every other format's (with a warning)."""
    if mask is None:
        return image
    array = sitk.GetArrayFromImage(image)
    if array.shape != mask.shape or not np.issubdtype(array.dtype, np.floating):
        return image
    array[mask] = np.nan
    restored = sitk.GetImageFromArray(array, isVector=False)
    restored.CopyInformation(image)
    return restored


def _check_nifti_length(path: Path, suffix: str) -> None:
    """ITK reads a truncated NIfTI without complaint (the missing voxels come back as zeros)."""
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    n_bytes = int(np.prod(reader.GetSize())) * reader.GetNumberOfComponents()
    n_bytes *= np.dtype(
        sitk.GetArrayViewFromImage(
            sitk.Image([1] * reader.GetDimension(), reader.GetPixelID())
        ).dtype
    ).itemsize
    if suffix == ".nii":
        length = path.stat().st_size
    else:
        length = 0
        try:
            with gzip.open(path, "rb") as stream:
                while chunk := stream.read(1 << 22):
                    length += len(chunk)
        except (OSError, EOFError, zlib.error):
            raise InputError(path, "is a truncated or corrupt gzip file") from None
    if length < n_bytes + 348:
        raise InputError(
            path, f"is truncated ({length} bytes; the header promises {n_bytes} bytes of voxels)"
        )


def _read_dicom_folder(folder: Path, role: SeriesRole) -> tuple[sitk.Image, LoadedImage | None]:
    candidates = find_series(folder)
    if not candidates:
        if not any(folder.iterdir()):
            raise InputError(folder, "is an empty folder")
        raise InputError(folder, "holds no DICOM series (and is not an image file)")
    chosen = choose_series(folder, candidates, role)
    if len(candidates) > 1:
        logger.info("%s: chose %s", folder, chosen.describe())
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames([str(f) for f in chosen.info.files])
    try:
        image = reader.Execute()
    except RuntimeError as exc:
        raise InputError(
            chosen.info.files[0].parent, f"DICOM series cannot be read ({gdcm_message(exc)})"
        ) from None
    return image, LoadedImage(
        image=image, source=folder, native=Geometry.of(image), dicom=chosen.info
    )


def _as_3d(image: sitk.Image, path: Path) -> sitk.Image:
    """A 2-D file is taken as one sagittal slice shown as rows = inferior, columns = posterior."""
    if image.GetDimension() == 3:
        return image
    logger.warning(
        "%s is 2-D: taking it as one sagittal slice (rows inferior, columns posterior)", path
    )
    volume = sitk.JoinSeries(image)
    volume.SetDirection((0, 0, -1, 1, 0, 0, 0, -1, 0))
    return volume


def read_image(
    path: Path | str,
    role: SeriesRole = SeriesRole.ANY,
    *,
    allow_non_sagittal: bool = False,
) -> LoadedImage:
    """Read one image (file or DICOM folder) into the canonical orientation.

    ``role`` picks the T1w or T2w series when ``path`` is a study folder with
    several series. Raises :class:`InputError` for every kind of bad input.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, "does not exist")
    dicom_loaded: LoadedImage | None = None
    if path.is_dir():
        native, dicom_loaded = _read_dicom_folder(path, role)
    else:
        native = _read_file(path)
    if native.GetDimension() == 4 and native.GetSize()[3] == 1:
        native = native[:, :, :, 0]
    native = replace_non_finite(native, path)
    check_pixels(native, path)
    native = _as_3d(native, path)
    check_sagittal(native, path, allow_non_sagittal=allow_non_sagittal)
    canonical = sitk.Cast(to_canonical(native), sitk.sitkFloat32)
    check_extent(canonical, path)
    return LoadedImage(
        image=canonical,
        source=path,
        native=Geometry.of(native),
        dicom=None if dicom_loaded is None else dicom_loaded.dicom,
    )


def to_native(image: sitk.Image, loaded: LoadedImage | Geometry) -> sitk.Image:
    """An image computed on the canonical grid, put back on the input's own grid exactly.

    ``loaded`` is the :class:`LoadedImage` the canonical grid came from, or just its
    ``native`` :class:`Geometry`. Raises ``ValueError`` when the sizes do not match.
    """
    native = loaded if isinstance(loaded, Geometry) else loaded.native
    return to_geometry(image, native)


def read_label_image(path: Path) -> sitk.Image:
    """An image file as stored (a user's vertebral-body mask, an annotation map, a run's
    output maps): no reorientation or float conversion; missing or unreadable files are bad
    input."""
    if not path.exists():
        raise InputError(path, "does not exist")
    try:
        return sitk.ReadImage(str(path))
    except RuntimeError:
        raise InputError(path, "cannot be read as a label image") from None
