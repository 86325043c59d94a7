"""Types that cross the reading boundary.

Canonical orientation (every stage works in it): SimpleITK orientation code
``PIR`` — numpy ``arr[z, y, x]`` from ``GetArrayFromImage`` has z = sagittal slice
(towards patient right), y = rows towards inferior, x = columns towards posterior.
So ``arr[k]`` is a sagittal slice with superior at the top and anterior at the
left, as the SPIDER and lumbar-vb files already are. A single-slice study has
z size 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import SimpleITK as sitk

CANONICAL_ORIENTATION = "PIR"


class SeriesRole(StrEnum):
    """Which series a reader is asked for (used to pick from a DICOM study folder)."""

    T1 = "t1"
    T2 = "t2"
    ANY = "image"


@dataclass(frozen=True)
class Geometry:
    """An image grid: size (x, y, z), spacing, origin and direction as SimpleITK holds them."""

    size: tuple[int, ...]
    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    direction: tuple[float, ...]

    @classmethod
    def of(cls, image: sitk.Image) -> Geometry:
        return cls(
            size=tuple(image.GetSize()),
            spacing=tuple(image.GetSpacing()),
            origin=tuple(image.GetOrigin()),
            direction=tuple(image.GetDirection()),
        )

    @property
    def orientation(self) -> str:
        """SimpleITK orientation code of this grid (e.g. ``"PIR"``, ``"LPS"``)."""
        return sitk.DICOMOrientImageFilter.GetOrientationFromDirectionCosines(self.direction)


@dataclass(frozen=True)
class DicomSeriesInfo:
    """What a DICOM series tells about itself (for series choice, PHI checks and DICOM SEG)."""

    files: tuple[Path, ...]
    series_instance_uid: str
    study_instance_uid: str
    patient_id: str
    patient_name: str
    series_description: str
    modality: str
    repetition_time_ms: float | None
    echo_time_ms: float | None
    inversion_time_ms: float | None


@dataclass(frozen=True)
class LoadedImage:
    """One image as read: ``image`` in the canonical orientation (float32, 3-D, one
    component), plus how to go back to the file's own grid (``native``)."""

    image: sitk.Image
    source: Path
    native: Geometry
    dicom: DicomSeriesInfo | None = None

    @property
    def is_single_slice(self) -> bool:
        return self.image.GetSize()[2] == 1
