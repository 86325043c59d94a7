"""Choosing a study's sagittal T1w and T2w series from DICOMweb metadata, by the same rules
as a study folder (:func:`modicmap.io.dicom_series.choose_series`), before any image is
retrieved."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pydicom

from modicmap.errors import InputError
from modicmap.io.dicom_series import SeriesCandidate, _float, _plane, choose_series
from modicmap.io.image import DicomSeriesInfo, SeriesRole
from modicmap.pacs.client import RemoteSeries


class NoUsablePairError(Exception):
    """The study has no usable sagittal T1w/T2w pair; the message says why."""


@dataclass(frozen=True)
class ChosenPair:
    t1: RemoteSeries
    t2: RemoteSeries


def candidate(series: RemoteSeries, header: pydicom.Dataset, folder: Path) -> SeriesCandidate:
    """The series as :func:`choose_series` sees it; ``folder`` is where it would be retrieved."""
    number = header.get("SeriesNumber")
    info = DicomSeriesInfo(
        files=(folder / series.series_uid / "IM00001.dcm",),
        series_instance_uid=series.series_uid,
        study_instance_uid=series.study_uid,
        patient_id="",
        patient_name="",
        series_description=str(header.get("SeriesDescription", series.description)),
        modality=series.modality,
        repetition_time_ms=_float(header, "RepetitionTime"),
        echo_time_ms=_float(header, "EchoTime"),
        inversion_time_ms=_float(header, "InversionTime"),
    )
    return SeriesCandidate(
        info=info,
        series_number=None if number in (None, "") else int(number),
        plane=_plane(header),
        n_files=series.n_instances,
    )


def image_series(series: Sequence[RemoteSeries]) -> list[RemoteSeries]:
    """The MR image series (not the SEG, SR and other derived objects beside them)."""
    return [s for s in series if s.modality == "MR"]


def choose_pair(
    folder: Path, remote: Sequence[RemoteSeries], candidates: Sequence[SeriesCandidate]
) -> ChosenPair:
    """The T1w and T2w series, or :class:`NoUsablePairError` with the reason."""
    by_uid = {s.series_uid: s for s in remote}
    if len(candidates) < 2:
        raise NoUsablePairError(
            f"{len(candidates)} MR image series; a sagittal T1w and a T2w series are needed"
        )
    try:
        t1 = choose_series(folder, list(candidates), SeriesRole.T1)
        t2 = choose_series(folder, list(candidates), SeriesRole.T2)
    except InputError as exc:
        raise NoUsablePairError(exc.problem) from None
    if t1.info.series_instance_uid == t2.info.series_instance_uid:
        raise NoUsablePairError(f"the same series would be T1 and T2: {t1.describe()}")
    return ChosenPair(by_uid[t1.info.series_instance_uid], by_uid[t2.info.series_instance_uid])
