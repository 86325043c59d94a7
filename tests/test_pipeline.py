"""``modicmap run`` end to end with the bundled default: CONTRACT files, exit codes, PHI."""

from __future__ import annotations

import csv
import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from modicmap.cli.main import main
from modicmap.grading.tables import ENDPLATE_COLUMNS, LEVEL_COLUMNS
from modicmap.synth.cohort import write_study
from modicmap.synth.study import SynthOptions, synthesize_study

CONTRACT_FILES = {
    "modic_map.nii.gz",
    "vertebrae.nii.gz",
    "lesion_probability.nii.gz",
    "t2_registered.nii.gz",
    "endplates.csv",
    "levels.csv",
    "summary.json",
    "report.html",
}


@pytest.fixture(scope="module")
def nifti_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("nifti")
    study = synthesize_study(11, SynthOptions(slices=5, matrix=160, lesion_rate=0.6), study_id="s")
    t1, t2 = write_study(study, root / "s")
    out = root / "out"
    assert main(["run", "--t1", str(t1), "--t2", str(t2), "--out", str(out), "--quiet"]) == 0
    return out, t1


@pytest.fixture(scope="module")
def dicom_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from modicmap.io.dicom_writer import write_dicom_series

    root = tmp_path_factory.mktemp("dicom") / "study"
    study = synthesize_study(12, SynthOptions(slices=4, matrix=128, lesion_rate=0.6))
    for name, image, tr, te in (("t1", study.t1, 550.0, 10.0), ("t2", study.t2, 3500.0, 100.0)):
        write_dicom_series(
            image,
            root / name,
            patient_id="PID-12345",
            patient_name="Doe^Jane",
            series_description=f"{name}_tse_sag",
            repetition_time_ms=tr,
            echo_time_ms=te,
            series_number=1 if name == "t1" else 2,
            study_instance_uid="1.2.826.0.1.3680043.8.498.77",
        )
    return root


def test_run_writes_every_contract_file_on_the_t1_grid(nifti_run: tuple[Path, Path]) -> None:
    out, t1_path = nifti_run
    assert {p.name for p in out.iterdir()} == CONTRACT_FILES
    t1 = sitk.ReadImage(str(t1_path))
    for name, pixel in (
        ("modic_map", sitk.sitkUInt8),
        ("vertebrae", sitk.sitkUInt8),
        ("lesion_probability", sitk.sitkFloat32),
    ):
        image = sitk.ReadImage(str(out / f"{name}.nii.gz"))
        assert image.GetPixelID() == pixel, name
        assert image.GetSize() == t1.GetSize(), name
        np.testing.assert_allclose(image.GetOrigin(), t1.GetOrigin(), atol=1e-3)
        np.testing.assert_allclose(image.GetDirection(), t1.GetDirection(), atol=1e-6)
    probability = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "lesion_probability.nii.gz")))
    assert probability.min() >= 0.0 and probability.max() <= 1.0
    modic = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "modic_map.nii.gz")))
    assert set(np.unique(modic)) <= {0, 1, 2, 3}
    vertebrae = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "vertebrae.nii.gz")))
    assert np.all(vertebrae[modic > 0] > 0), "lesion voxels lie in vertebral bodies"


def test_tables_have_the_contract_columns(nifti_run: tuple[Path, Path]) -> None:
    out, _ = nifti_run
    for name, columns in (("endplates.csv", ENDPLATE_COLUMNS), ("levels.csv", LEVEL_COLUMNS)):
        with (out / name).open() as handle:
            rows = list(csv.reader(handle))
        assert tuple(rows[0]) == columns
        assert len(rows) > 1, f"{name} has rows"


def test_summary_records_inputs_versions_registration_times_and_warnings(
    nifti_run: tuple[Path, Path],
) -> None:
    summary = json.loads((nifti_run[0] / "summary.json").read_text())
    assert {"inputs", "software", "model", "registration", "seconds", "warnings"} <= set(summary)
    assert {"register", "vertebrae", "lesions", "grading"} <= set(summary["seconds"])
    assert summary["registration"]["dimension"] == 3


def test_report_is_self_contained(nifti_run: tuple[Path, Path]) -> None:
    page = (nifti_run[0] / "report.html").read_text()
    assert "data:image/png;base64," in page
    # scripts are inline (the viewer, issue 26); nothing is loaded from an address
    assert not re.search(r'(src|href)\s*=\s*"(https?:)?//', page) and "<script src" not in page
    assert "L5-S1" in page or "L4-L5" in page
    # warnings come first, above the grades, so a reader sees them before the tables
    assert page.index("<h2>Warnings</h2>") < page.index("<h2>Disc levels</h2>")
    summary = json.loads((nifti_run[0] / "summary.json").read_text())
    for warning in summary["warnings"]:
        assert html.escape(warning) in page
    edges = summary["registration"]["edge_correlation"]
    assert f"T1/T2 edge correlation {edges:.2f}" in page


def test_dicom_run_writes_a_seg_without_phi(dicom_study: Path, tmp_path: Path) -> None:
    import highdicom as hd
    import pydicom

    from modicmap.report.viewer import niivue_script

    out = tmp_path / "out"
    assert (
        main(
            [
                "run",
                "--t1",
                str(dicom_study),
                "--t2",
                str(dicom_study),
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    assert (out / "modic_seg.dcm").is_file()
    for name in ("report.html", "summary.json"):
        # without the vendored viewer's code and the embedded figures and volumes (base64:
        # any 3 letters turn up by chance)
        text = (out / name).read_text().replace(niivue_script(), "")
        text = re.sub(r"[A-Za-z0-9+/=]{200,}", "", text)
        assert "Doe" not in text and "Jane" not in text and "PID-12345" not in text, name
    seg = hd.seg.segread(str(out / "modic_seg.dcm"))
    t1_files = sorted((dicom_study / "t1").iterdir())
    first = pydicom.dcmread(str(t1_files[0]), stop_before_pixels=True)
    assert (seg.Rows, seg.Columns) == (first.Rows, first.Columns)
    assert seg.number_of_segments == 3
    referenced = {
        ref.ReferencedSOPInstanceUID
        for ref in seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence
    }
    assert referenced == {
        pydicom.dcmread(str(f), stop_before_pixels=True).SOPInstanceUID for f in t1_files
    }
    headers = [pydicom.dcmread(str(f), stop_before_pixels=True) for f in t1_files]
    t1_positions = {tuple(round(float(v), 2) for v in h.ImagePositionPatient) for h in headers}
    frame_positions = {
        tuple(round(float(v), 2) for v in frame.PlanePositionSequence[0].ImagePositionPatient)
        for frame in seg.PerFrameFunctionalGroupsSequence
    }
    assert frame_positions == t1_positions, "SEG frames lie on the T1 slices"
    shared = seg.SharedFunctionalGroupsSequence[0]
    orientation = shared.PlaneOrientationSequence[0].ImageOrientationPatient
    np.testing.assert_allclose(
        [float(v) for v in orientation],
        [float(v) for v in first.ImageOrientationPatient],
        atol=1e-5,
    )
    if shutil.which("dciodvfy"):
        result = subprocess.run(
            ["dciodvfy", str(out / "modic_seg.dcm")], capture_output=True, text=True
        )
        errors = [
            line
            for line in (result.stdout + result.stderr).splitlines()
            if line.startswith("Error")
        ]
        assert errors == []


def test_include_phi_puts_the_patient_in_the_summary(dicom_study: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert (
        main(
            [
                "run",
                "--t1",
                str(dicom_study),
                "--t2",
                str(dicom_study),
                "--out",
                str(out),
                "--quiet",
                "--include-phi",
            ]
        )
        == 0
    )
    assert "PID-12345" in (out / "summary.json").read_text()


def test_missing_t1_is_exit_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = main(
        [
            "run",
            "--t1",
            str(tmp_path / "no.nii.gz"),
            "--t2",
            str(tmp_path / "no2.nii.gz"),
            "--out",
            str(out),
        ]
    )
    assert code == 2
    assert not out.exists() and list(tmp_path.iterdir()) == []
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no.nii.gz: does not exist" in err[0]


def test_existing_non_empty_out_needs_force(nifti_run: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    t1 = nifti_run[1]
    assert (
        main(
            [
                "run",
                "--t1",
                str(t1),
                "--t2",
                str(t1.parent / "t2.nii.gz"),
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 2
    )
    assert [p.name for p in out.iterdir()] == ["mine.txt"]


def test_different_patients_are_refused_unless_forced(dicom_study: Path, tmp_path: Path) -> None:
    from modicmap.io.dicom_writer import write_dicom_series
    from modicmap.io.reader import read_image

    other = tmp_path / "other_t2"
    write_dicom_series(
        read_image(dicom_study / "t2").image,
        other,
        patient_id="SOMEONE-ELSE",
        series_description="t2_tse_sag",
        repetition_time_ms=3500,
        echo_time_ms=100,
    )
    assert (
        main(
            [
                "run",
                "--t1",
                str(dicom_study / "t1"),
                "--t2",
                str(other),
                "--out",
                str(tmp_path / "o"),
                "--quiet",
            ]
        )
        == 2
    )
    assert not (tmp_path / "o").exists()


def test_user_vertebrae_mask_names_bodies_from_its_codes(
    nifti_run: tuple[Path, Path], tmp_path: Path
) -> None:
    t1 = nifti_run[1]
    mask = t1.parent / "truth" / "vertebrae.nii.gz"
    out = tmp_path / "out"
    args = [
        "run",
        "--t1",
        str(t1),
        "--t2",
        str(t1.parent / "t2.nii.gz"),
        "--out",
        str(out),
        "--vertebrae",
        str(mask),
        "--quiet",
    ]
    assert main(args) == 0
    written = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "vertebrae.nii.gz")))
    np.testing.assert_array_equal(written, sitk.GetArrayFromImage(sitk.ReadImage(str(mask))))
    with (out / "levels.csv").open() as handle:
        levels = [row["level"] for row in csv.DictReader(handle)]
    assert levels[-1] == "L5-S1"


@pytest.mark.browser
def test_report_renders_in_headless_chromium(nifti_run: tuple[Path, Path], tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("headless Chromium is not installed (Debian package: chromium)")
    shot = tmp_path / "report.png"
    result = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1100,2000",
            f"--screenshot={shot}",
            (nifti_run[0] / "report.html").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shot.is_file() and shot.stat().st_size > 10_000
    console_errors = [
        line for line in result.stderr.splitlines() if "CONSOLE" in line and "ERROR" in line.upper()
    ]
    assert console_errors == []


@pytest.mark.real
def test_a_real_3d_volume_is_graded_like_its_own_single_slices(
    shared_data: Path, tmp_path: Path
) -> None:
    """lumbar-vb DzZ (50 sagittal slices): pooling every slice's top voxels once graded 16
    of its 17 endplates while its central slices, run alone, grade at most one."""
    from modicmap.pipeline.run import RunOptions, run_study

    volumes = shared_data / "lumbar-vb"
    run_study(
        volumes / "VB1-DzZ_T1.nii.gz",
        volumes / "VB1-DzZ_T2.nii.gz",
        tmp_path / "out",
        RunOptions(),
    )
    with (tmp_path / "out" / "endplates.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) >= 12
    assert sum(int(r["modic"]) > 0 for r in rows) <= 2


@pytest.mark.real
def test_a_real_pair_rescaled_to_16_bit_is_graded_the_same(
    shared_data: Path, tmp_path: Path
) -> None:
    """The shared slices are 8-bit, min-max scaled; a scanner's are 16-bit on its own scale.
    Every stage normalises, so an affine rescaling must not change bodies, names or grades."""
    images = shared_data / "spider-midsag" / "images"
    rescaled = {}
    for seq in ("t1", "t2"):
        image = sitk.ReadImage(str(images / f"2_{seq}.nii.gz"))
        values = sitk.GetArrayFromImage(image).astype(np.float64) * 37.3 + 120.0
        out = sitk.GetImageFromArray(values.astype(np.uint16))
        out.CopyInformation(image)
        rescaled[seq] = tmp_path / f"2_{seq}.mha"
        sitk.WriteImage(out, str(rescaled[seq]))
    runs = {}
    for name, t1, t2 in (
        ("8bit", images / "2_t1.nii.gz", images / "2_t2.nii.gz"),
        ("16bit", rescaled["t1"], rescaled["t2"]),
    ):
        argv = ["run", "--t1", str(t1), "--t2", str(t2), "--out", str(tmp_path / name)]
        assert main([*argv, "--quiet"]) == 0
        with (tmp_path / name / "levels.csv").open(newline="") as handle:
            runs[name] = list(csv.DictReader(handle))
    fields = ("level", "index_from_sacrum", "modic", "upper_endplate_modic", "lower_endplate_modic")
    assert [[r[f] for f in fields] for r in runs["16bit"]] == [
        [r[f] for f in fields] for r in runs["8bit"]
    ]
    p8 = np.array([float(r["probability"]) for r in runs["8bit"]])
    p16 = np.array([float(r["probability"]) for r in runs["16bit"]])
    assert np.abs(p16 - p8).max() < 0.05


def test_lesion_stage_looks_at_the_bodies_grown_by_the_bundles_margin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import modicmap.lesions.inference as lesion_inference

    seen: list[tuple[float, int, int]] = []
    grow = lesion_inference.grow_bodies

    def spy(labels: np.ndarray, spacing: tuple[float, float, float], margin: float) -> np.ndarray:
        grown = grow(labels, spacing, margin)
        seen.append((margin, int((labels > 0).sum()), int((grown > 0).sum())))
        return grown

    monkeypatch.setattr(lesion_inference, "grow_bodies", spy)
    study = synthesize_study(13, SynthOptions(slices=3, matrix=192, lesion_rate=0.6))  # 1.6 mm px
    t1, t2 = write_study(study, tmp_path / "s")
    out = tmp_path / "out"
    assert main(["run", "--t1", str(t1), "--t2", str(t2), "--out", str(out), "--quiet"]) == 0
    ((margin, segmented, grown),) = seen
    assert margin == 1.0 and grown > segmented, "the default bundle grows the bodies by 1 mm"
    assert json.loads((out / "summary.json").read_text())["lesion_body_margin_mm"] == 1.0
    arrays = {
        name: sitk.GetArrayFromImage(sitk.ReadImage(str(out / f"{name}.nii.gz")))
        for name in ("vertebrae", "lesion_probability")
    }
    assert not arrays["lesion_probability"][arrays["vertebrae"] == 0].any(), "map keeps to bodies"
