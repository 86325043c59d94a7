"""``modic_sr.dcm``: the findings as a TID 1500 Measurement Report beside ``modic_seg.dcm``."""

from __future__ import annotations

import csv
import shutil
import subprocess
from dataclasses import asdict
from pathlib import Path

import pydicom
import pytest

from modicmap.export.dicom_sr import PRIVATE_SCHEME, read_dicom_sr, series_description
from modicmap.pipeline.run import run_study
from modicmap.synth.cohort import write_cohort
from modicmap.synth.study import SynthOptions

SMALL = SynthOptions(slices=3, matrix=128, lesion_rate=0.6)


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sr")
    write_cohort(root / "synth", 1, seed=11, fmt="dicom", options=SMALL)
    study = next(p for p in (root / "synth").iterdir() if p.is_dir())
    run_study(study / "t1", study / "t2", root / "out")
    return root / "out"


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _as_csv(rows: list[object]) -> list[dict[str, str]]:
    """Rows formatted as the CSV writer formats them (floats rounded to 6 places)."""
    return [
        {k: str(round(v, 6) if isinstance(v, float) else v) for k, v in asdict(r).items()}  # type: ignore[call-overload]
        for r in rows
    ]


def test_run_writes_an_sr_beside_the_seg(result: Path) -> None:
    assert (result / "modic_seg.dcm").is_file() and (result / "modic_sr.dcm").is_file()
    sr = pydicom.dcmread(str(result / "modic_sr.dcm"))
    seg = pydicom.dcmread(str(result / "modic_seg.dcm"), stop_before_pixels=True)
    assert sr.Modality == "SR" and sr.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.34"  # Comp. 3D
    assert sr.StudyInstanceUID == seg.StudyInstanceUID
    assert sr.SeriesDescription.startswith("Modic findings modicmap")
    assert sr.SeriesDescription == series_description(sr.SeriesDescription.split()[-1])
    assert sr.CodingSchemeIdentificationSequence[0].CodingSchemeDesignator == PRIVATE_SCHEME
    evidence = {
        item.ReferencedSOPInstanceUID
        for study in sr.CurrentRequestedProcedureEvidenceSequence
        for series in study.ReferencedSeriesSequence
        for item in series.ReferencedSOPSequence
    }
    t1_uids = {
        pydicom.dcmread(str(f), stop_before_pixels=True).SOPInstanceUID
        for f in (result.parent / "synth").rglob("t1/*.dcm")
    }
    assert seg.SOPInstanceUID in evidence and t1_uids <= evidence


def test_sr_read_back_gives_the_csv_findings(result: Path) -> None:
    endplates, levels = read_dicom_sr(result / "modic_sr.dcm")
    assert _as_csv(endplates) == _csv(result / "endplates.csv")
    assert _as_csv(levels) == _csv(result / "levels.csv")
    assert any(e.modic > 0 for e in endplates), "the test study should hold a finding"


def test_findings_reference_their_seg_segment_and_carry_the_operating_point(
    result: Path,
) -> None:
    sr = pydicom.dcmread(str(result / "modic_sr.dcm"))
    seg_uid = pydicom.dcmread(str(result / "modic_seg.dcm"), stop_before_pixels=True)
    groups = next(
        c for c in sr.ContentSequence if c.ConceptNameCodeSequence[0].CodeValue == "126010"
    ).ContentSequence
    endplates, _ = read_dicom_sr(result / "modic_sr.dcm")
    for group, row in zip(groups, endplates, strict=False):
        items = list(group.ContentSequence)
        segments = [i for i in items if i.ValueType == "IMAGE" and "ReferencedSOPSequence" in i]
        refs = [
            (r.ReferencedSOPInstanceUID, int(r.ReferencedSegmentNumber))
            for i in segments
            for r in i.ReferencedSOPSequence
            if "ReferencedSegmentNumber" in r
        ]
        if row.modic > 0:
            assert refs == [(seg_uid.SOPInstanceUID, row.modic)]
        else:
            assert refs == []
        names = {i.ConceptNameCodeSequence[0].CodeMeaning for i in items}
        assert "Modic change" in names and "Modic type" in names
        assert "Operating point (probability threshold)" in names


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy (dicom3tools) not installed")
def test_sr_and_seg_pass_dciodvfy(result: Path) -> None:
    for name in ("modic_sr.dcm", "modic_seg.dcm"):
        report = subprocess.run(
            ["dciodvfy", str(result / name)], capture_output=True, text=True, check=False
        )
        errors = [line for line in report.stderr.splitlines() if line.startswith("Error")]
        assert errors == [], f"{name}: {errors}"


def test_a_study_without_graded_endplates_still_gets_a_valid_sr(
    result: Path, tmp_path: Path
) -> None:
    from modicmap.export.dicom_sr import write_dicom_sr
    from modicmap.io.image import SeriesRole
    from modicmap.io.reader import read_image

    t1 = read_image(next((result.parent / "synth").glob("*/t1")), SeriesRole.T1)
    path = write_dicom_sr([], [], t1, result / "modic_seg.dcm", tmp_path / "sr.dcm", model_id="m")
    assert read_dicom_sr(path) == ([], [])
    if shutil.which("dciodvfy"):
        report = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
        assert not [line for line in report.stderr.splitlines() if line.startswith("Error")]
