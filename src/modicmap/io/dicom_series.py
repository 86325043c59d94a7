"""Finding DICOM series in a folder and choosing the sagittal T1w / T2w one.

The choice uses only header facts a radiographer would use: the slice
orientation (ImageOrientationPatient), the timing (TR, TE, TI) and keywords in
SeriesDescription. When more than one series fits, nothing is guessed: the error
lists the candidates so the user can point ``--t1``/``--t2`` at one series folder.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk

from modicmap.errors import InputError
from modicmap.io.image import DicomSeriesInfo, SeriesRole

logger = logging.getLogger(__name__)

_T1_WORDS = re.compile(r"t1", re.IGNORECASE)
_T2_WORDS = re.compile(r"t2", re.IGNORECASE)
_INVERSION_WORDS = re.compile(r"stir|tirm|flair|\bir\b|inversion", re.IGNORECASE)
_FAT_NULLING_WORDS = re.compile(r"stir|tirm", re.IGNORECASE)
#: an inversion time from this on is not a fat-nulling one (STIR: about 130-250 ms)
_T1_INVERSION_MIN_TI_MS = 400.0
_LOCALISER_WORDS = re.compile(r"locali[sz]er|scout|survey|tripilot|3.?plane", re.IGNORECASE)
_FAT_SAT_OR_CONTRAST = re.compile(r"\bfs\b|fat ?sat|spair|dixon|\+c\b|gad|post", re.IGNORECASE)


@dataclass(frozen=True)
class SeriesCandidate:
    """One DICOM series found in a folder, with the header facts used to choose."""

    info: DicomSeriesInfo
    series_number: int | None
    plane: str  # "sagittal", "coronal", "axial" or "unknown"
    n_files: int

    def describe(self) -> str:
        folder = self.info.files[0].parent
        timing = f"TR={_fmt(self.info.repetition_time_ms)} TE={_fmt(self.info.echo_time_ms)}" + (
            f" TI={_fmt(self.info.inversion_time_ms)}" if self.info.inversion_time_ms else ""
        )
        return (
            f"series {self.series_number} '{self.info.series_description}' ({self.plane}, "
            f"{self.n_files} images, {timing}, UID {self.info.series_instance_uid}) in {folder}"
        )


def _fmt(value: float | None) -> str:
    return "?" if value is None else f"{value:g}"


def _float(ds: pydicom.Dataset, keyword: str) -> float | None:
    value = ds.get(keyword)
    try:
        return None if value in (None, "") else float(value)
    except (TypeError, ValueError):
        return None


def _plane(ds: pydicom.Dataset) -> str:
    iop = ds.get("ImageOrientationPatient")
    if iop is None or len(iop) != 6:
        return "unknown"
    normal = np.cross(np.asarray(iop[:3], float), np.asarray(iop[3:], float))
    return ("sagittal", "coronal", "axial")[int(np.argmax(np.abs(normal)))]


def series_info(files: tuple[Path, ...]) -> DicomSeriesInfo:
    """Header facts of a series, read from its first file (pixels not loaded)."""
    ds = pydicom.dcmread(str(files[0]), stop_before_pixels=True, force=True)
    return DicomSeriesInfo(
        files=files,
        series_instance_uid=str(ds.get("SeriesInstanceUID", "")),
        study_instance_uid=str(ds.get("StudyInstanceUID", "")),
        patient_id=str(ds.get("PatientID", "")),
        patient_name=str(ds.get("PatientName", "")),
        series_description=str(ds.get("SeriesDescription", "")),
        modality=str(ds.get("Modality", "")),
        repetition_time_ms=_float(ds, "RepetitionTime"),
        echo_time_ms=_float(ds, "EchoTime"),
        inversion_time_ms=_float(ds, "InversionTime"),
    )


def find_series(folder: Path) -> list[SeriesCandidate]:
    """Every DICOM series in ``folder`` and its sub-folders (files sorted by position)."""
    candidates: list[SeriesCandidate] = []
    for directory in sorted({folder, *(p for p in folder.rglob("*") if p.is_dir())}):
        try:
            uids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(directory)) or ()
        except RuntimeError as exc:  # GDCM cannot parse a file here (e.g. an RT Dose)
            raise InputError(
                directory, f"holds DICOM files GDCM cannot parse ({gdcm_message(exc)})"
            ) from None
        for uid in uids:
            names = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(directory), uid)
            if not names:
                continue
            files = tuple(Path(n) for n in names)
            try:
                info = series_info(files)
                ds = pydicom.dcmread(str(files[0]), stop_before_pixels=True, force=True)
            except Exception as exc:  # pydicom raises many types on broken headers
                logger.warning("skipping unreadable DICOM series in %s (%s)", directory, exc)
                continue
            number = ds.get("SeriesNumber")
            candidates.append(
                SeriesCandidate(
                    info=info,
                    series_number=None if number in (None, "") else int(number),
                    plane=_plane(ds),
                    n_files=len(files),
                )
            )
    return candidates


def gdcm_message(exc: RuntimeError) -> str:
    """The last line of an ITK/GDCM exception, without the build paths."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[-1] if lines else "unknown error").split(": ")[-1][:160]


def weighting(info: DicomSeriesInfo) -> str:
    """'t1', 't2', 'ir' (STIR/TIRM, T2 FLAIR), 'localiser' or 'unknown' (timing, then
    description). A T1 FLAIR (inversion recovery with a short TE and a long, not
    fat-nulling TI; GE's usual sagittal T1 of the spine) is 't1': fat stays bright on it."""
    desc = info.series_description
    if _LOCALISER_WORDS.search(desc) or (info.repetition_time_ms or 1e9) < 100:
        return "localiser"
    if info.inversion_time_ms or _INVERSION_WORDS.search(desc):
        return "t1" if _t1_inversion(info) else "ir"
    tr, te = info.repetition_time_ms, info.echo_time_ms
    if tr is not None and te is not None:
        if tr < 1200 and te < 35:
            return "t1"
        if tr >= 1500 and te >= 60:
            return "t2"
    if _T1_WORDS.search(desc) and not _T2_WORDS.search(desc):
        return "t1"
    if _T2_WORDS.search(desc) and not _T1_WORDS.search(desc):
        return "t2"
    return "unknown"


def _t1_inversion(info: DicomSeriesInfo) -> bool:
    desc, te, ti = info.series_description, info.echo_time_ms, info.inversion_time_ms
    if _FAT_NULLING_WORDS.search(desc) or (ti is not None and ti < _T1_INVERSION_MIN_TI_MS):
        return False
    if te is not None:
        return te < 35
    return bool(_T1_WORDS.search(desc)) and not _T2_WORDS.search(desc)


def choose_series(
    folder: Path, candidates: list[SeriesCandidate], role: SeriesRole
) -> SeriesCandidate:
    """The one sagittal series of the requested weighting, or an InputError listing candidates."""
    if not candidates:
        raise InputError(folder, "holds no DICOM series")
    if len(candidates) == 1:
        return candidates[0]
    listing = "; ".join(c.describe() for c in candidates)
    if role is SeriesRole.ANY:
        raise InputError(
            folder,
            f"holds {len(candidates)} DICOM series, choose one by giving its folder: {listing}",
        )
    sagittal = [c for c in candidates if c.plane == "sagittal"]
    fitting = [c for c in sagittal if weighting(c.info) == role.value]
    plain = [c for c in fitting if not _FAT_SAT_OR_CONTRAST.search(c.info.series_description)]
    if len(plain) == 1:
        return plain[0]
    if len(fitting) == 1:
        return fitting[0]
    what = f"sagittal {role.value.upper()}-weighted"
    inversion = [c for c in sagittal if weighting(c.info) == "ir"]
    if not fitting and role is SeriesRole.T2 and len(inversion) == 1:
        # STIR/TIRM is T2-like but fat-suppressed: used only when no plain T2w series exists
        logger.warning("%s: no plain T2w series; using %s", folder, inversion[0].describe())
        return inversion[0]
    if not fitting:
        raise InputError(folder, f"holds no {what} series; series found: {listing}")
    listing = "; ".join(c.describe() for c in (plain or fitting))
    raise InputError(
        folder,
        f"holds several {what} series, point --{role.value} at one series folder: {listing}",
    )
