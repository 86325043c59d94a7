"""Writing images with clear errors."""

from __future__ import annotations

from pathlib import Path

import SimpleITK as sitk

from modicmap.errors import InputError


def write_image(image: sitk.Image, path: Path | str, *, compress: bool = True) -> Path:
    """Write ``image`` (format from the file name, e.g. ``.nii.gz``)."""
    path = Path(path)
    if not path.parent.is_dir():
        raise InputError(path.parent, "output folder does not exist")
    try:
        sitk.WriteImage(image, str(path), useCompression=compress)
    except RuntimeError as exc:
        raise InputError(path, f"cannot be written ({str(exc).strip()[:160]})") from None
    return path
