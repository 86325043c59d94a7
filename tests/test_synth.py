"""Synthetic studies and painted lesions: deterministic, consistent truth, CONTRACT layout."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from modicmap.cli.main import main
from modicmap.grading.endplates import endplate_regions
from modicmap.grading.grade import grade_endplates, grade_levels
from modicmap.grading.tables import (
    ENDPLATE_COLUMNS,
    LEVEL_COLUMNS,
    read_endplates_csv,
    read_levels_csv,
)
from modicmap.io.image import SeriesRole
from modicmap.io.reader import read_image
from modicmap.labels import SACRUM_CODE, VERTEBRA_CODES
from modicmap.synth.lesions import MAX_DEPTH_MM, PAPER_MEANS
from modicmap.synth.paint import paint_lesions
from modicmap.synth.study import SynthOptions, synthesize_study
from modicmap.zscore import zscore_maps

SMALL = SynthOptions(slices=5, matrix=96, lesion_rate=0.6)


def _digest(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_same_seed_gives_identical_files(tmp_path: Path) -> None:
    args = ["synth", "--n", "2", "--seed", "5", "--slices", "4", "--matrix", "64", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert main([*args[:4], "6", *args[5:], "--out", str(tmp_path / "c")]) == 0
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_cohort_layout_matches_the_contract(tmp_path: Path) -> None:
    assert (
        main(
            [
                "synth",
                "--out",
                str(tmp_path / "s"),
                "--n",
                "2",
                "--slices",
                "3",
                "--matrix",
                "64",
                "--quiet",
            ]
        )
        == 0
    )
    with (tmp_path / "s" / "cohort.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert next(list(r) for r in rows) == ["study_id", "t1", "t2"]
    for row in rows:
        study = tmp_path / "s" / row["study_id"]
        assert (tmp_path / "s" / row["t1"]).is_file() and (tmp_path / "s" / row["t2"]).is_file()
        truth = study / "truth"
        assert {p.name for p in truth.iterdir()} == {
            "vertebrae.nii.gz",
            "modic_map.nii.gz",
            "endplates.csv",
            "levels.csv",
            "transform.tfm",
        }
        with (truth / "endplates.csv").open() as handle:
            assert tuple(next(csv.reader(handle))) == ENDPLATE_COLUMNS
        with (truth / "levels.csv").open() as handle:
            assert tuple(next(csv.reader(handle))) == LEVEL_COLUMNS
        sitk.ReadTransform(str(truth / "transform.tfm"))


def test_anatomy_spans_t11_to_the_sacrum_with_verse_codes() -> None:
    study = synthesize_study(3, SMALL)
    codes = set(np.unique(sitk.GetArrayFromImage(study.vertebrae)).tolist()) - {0}
    expected = {VERTEBRA_CODES[n] for n in ("T11", "T12", "L1", "L2", "L3", "L4", "L5")} | {
        SACRUM_CODE
    }
    assert expected <= codes
    assert [lv.level for lv in study.levels][-1] == "L5-S1"
    assert [lv.index_from_sacrum for lv in study.levels][-1] == 1


def test_every_lesion_voxel_lies_in_a_body_near_an_endplate() -> None:
    study = synthesize_study(4, SMALL)
    modic = sitk.GetArrayFromImage(study.modic_map)
    bodies = sitk.GetArrayFromImage(study.vertebrae)
    assert (modic > 0).sum() > 50
    assert np.all(bodies[modic > 0] > 0)
    spacing = tuple(study.t1.GetSpacing()[::-1])
    # depth is measured vertically on the grid; bodies tilt up to ~45 deg
    regions = endplate_regions(bodies, spacing, depth_mm=MAX_DEPTH_MM * 1.5 + 2 * spacing[1])
    near = np.zeros_like(modic, dtype=bool)
    for region in regions.values():
        near |= region
    assert np.all(near[modic > 0])


def test_truth_tables_agree_with_the_maps() -> None:
    study = synthesize_study(5, SMALL)
    modic = sitk.GetArrayFromImage(study.modic_map)
    bodies = sitk.GetArrayFromImage(study.vertebrae)
    spacing = tuple(study.t1.GetSpacing()[::-1])
    assert list(study.endplates) == grade_endplates(modic, bodies, spacing)
    present = [int(c) for c in np.unique(bodies) if c]
    assert list(study.levels) == grade_levels(list(study.endplates), present)
    assert any(row.modic for row in study.endplates)


def test_written_tables_read_back_equal(tmp_path: Path) -> None:
    assert (
        main(
            [
                "synth",
                "--out",
                str(tmp_path / "s"),
                "--seed",
                "2",
                "--slices",
                "3",
                "--matrix",
                "64",
                "--quiet",
            ]
        )
        == 0
    )
    truth = next((tmp_path / "s").glob("synth*/truth"))
    study = synthesize_study(2 * 100_003, SynthOptions(slices=3, matrix=64))
    assert [r.modic for r in read_endplates_csv(truth / "endplates.csv")] == [
        r.modic for r in study.endplates
    ]
    assert [r.level for r in read_levels_csv(truth / "levels.csv")] == [
        r.level for r in study.levels
    ]


def test_dicom_output_reads_back_with_the_same_geometry(tmp_path: Path) -> None:
    out = tmp_path / "d"
    assert (
        main(
            [
                "synth",
                "--out",
                str(out),
                "--format",
                "dicom",
                "--slices",
                "3",
                "--matrix",
                "64",
                "--quiet",
            ]
        )
        == 0
    )
    study = next(out.glob("synth*"))
    t1 = read_image(study, SeriesRole.T1)  # a study folder: the T1 is chosen from the headers
    t2 = read_image(study, SeriesRole.T2)
    truth = sitk.ReadImage(str(study / "truth" / "vertebrae.nii.gz"))
    assert t1.image.GetSize() == truth.GetSize()
    np.testing.assert_allclose(t1.image.GetSpacing(), truth.GetSpacing(), rtol=1e-5)
    np.testing.assert_allclose(t1.image.GetOrigin(), truth.GetOrigin(), atol=1e-3)
    np.testing.assert_allclose(t1.image.GetDirection(), truth.GetDirection(), atol=1e-6)
    assert t1.dicom is not None and t2.dicom is not None
    assert t1.dicom.patient_id == t2.dicom.patient_id


def test_t2_is_misaligned_by_the_recorded_transform() -> None:
    study = synthesize_study(6, SMALL)
    assert study.transform.GetTranslation() != (0.0, 0.0, 0.0)
    t2_bodies = sitk.GetArrayFromImage(study.t2_vertebrae)
    mapped = sitk.GetArrayFromImage(
        sitk.Resample(
            study.t2_vertebrae, study.vertebrae, study.transform, sitk.sitkNearestNeighbor
        )
    )
    t1_bodies = sitk.GetArrayFromImage(study.vertebrae)
    overlap = ((mapped == t1_bodies) & (t1_bodies > 0)).sum() / (t1_bodies > 0).sum()
    assert t2_bodies.any() and overlap > 0.8


def test_painted_lesion_signal_matches_the_paper_centroids() -> None:
    rng = np.random.default_rng(0)
    shape = (6, 80, 60)
    bodies = np.zeros(shape, np.uint8)
    for i, code in enumerate((22, 23, 24, 26)):
        bodies[:, 4 + i * 19 : 19 + i * 19, 15:45] = code
    t1 = rng.normal(100, 10, shape).astype(np.float32)
    t2 = rng.normal(60, 8, shape).astype(np.float32)
    painted = paint_lesions(t1, t2, bodies, (4.0, 1.0, 1.0), rng, lesion_rate=1.0)
    z = zscore_maps(painted.t1, painted.t2, bodies)
    for kind in np.unique(painted.modic_map[painted.modic_map > 0]):
        m = painted.modic_map == kind
        assert z.t1z[m].mean() == pytest.approx(PAPER_MEANS[int(kind)][0], abs=0.05)
        assert z.t2z[m].mean() == pytest.approx(PAPER_MEANS[int(kind)][1], abs=0.05)
    assert np.all(bodies[painted.modic_map > 0] > 0)
    untouched = painted.modic_map == 0
    np.testing.assert_array_equal(painted.t1[untouched], t1[untouched])


@pytest.mark.real
def test_lesions_painted_into_real_dzz_match_the_centroids(shared_data: Path) -> None:
    from modicmap.synth.paint import lumbar_vb_pairs, read_pair

    pair = next(p for p in lumbar_vb_pairs(shared_data / "lumbar-vb") if p.subject == "DzZ")
    t1, t2, bodies, spacing = read_pair(pair)
    assert {26, 24, 20} <= set(np.unique(bodies).tolist())  # S1, L5 ... counted from the sacrum
    painted = paint_lesions(t1, t2, bodies, spacing, np.random.default_rng(1), lesion_rate=0.6)
    z = zscore_maps(painted.t1, painted.t2, bodies)
    for kind in np.unique(painted.modic_map[painted.modic_map > 0]):
        m = painted.modic_map == kind
        assert z.t1z[m].mean() == pytest.approx(PAPER_MEANS[int(kind)][0], abs=0.05)
        assert z.t2z[m].mean() == pytest.approx(PAPER_MEANS[int(kind)][1], abs=0.05)
