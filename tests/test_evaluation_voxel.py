"""Evaluation against voxel ground truth: Dice, study bootstrap, matching, CLI, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from sklearn.metrics import cohen_kappa_score, f1_score

from images import PIR_DIRECTION
from modicmap.cli.main import main
from modicmap.evaluation.voxel import (
    body_name_map,
    bootstrap_cis,
    dice,
    dice_result,
    match_truth,
    voxel_counts,
)

SHAPE = (3, 24, 16)  # z, y, x: 3 sagittal slices
ENDPLATE_HEADER = (
    "vertebra,endplate,modic,type1_fraction,type2_fraction,type3_fraction,lesion_mm3,probability"
)
LEVEL_HEADER = (
    "level,index_from_sacrum,upper_vertebra,lower_vertebra,modic,"
    "upper_endplate_modic,lower_endplate_modic,probability"
)


def test_dice_of_a_hand_computed_case() -> None:
    truth = np.zeros((1, 4, 4), np.uint8)
    predicted = np.zeros_like(truth)
    truth[0, 0, :4] = 1  # 4 voxels of type 1
    predicted[0, 0, :2] = 1  # 2 of them found as type 1
    predicted[0, 1, :2] = 2  # and 2 false-positive voxels of type 2
    counts = voxel_counts(truth, predicted)
    assert counts["lesion"] == (2, 2, 2)
    assert counts["type1"] == (2, 0, 2)
    assert counts["type2"] == (0, 2, 0)
    assert dice(*counts["lesion"]) == pytest.approx(0.5)
    assert dice(*counts["type1"]) == pytest.approx(2 * 2 / (2 * 2 + 2))
    assert dice(*counts["type2"]) == 0.0
    assert np.isnan(dice(*counts["type3"]))  # absent from both maps: undefined, not 1 or 0


def test_dice_counts_agree_with_sklearn_f1() -> None:
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 4, (4, 10, 10))
    predicted = np.where(rng.random(truth.shape) < 0.7, truth, rng.integers(0, 4, truth.shape))
    counts = voxel_counts(truth, predicted)
    assert dice(*counts["lesion"]) == pytest.approx(
        f1_score(truth.ravel() > 0, predicted.ravel() > 0)
    )
    for t in (1, 2, 3):
        assert dice(*counts[f"type{t}"]) == pytest.approx(
            f1_score(truth.ravel() == t, predicted.ravel() == t)
        )


def test_pooled_dice_sums_counts_over_studies() -> None:
    from modicmap.evaluation.voxel import StudyVoxels

    empty = (0, 0, 0)
    a = StudyVoxels(
        "a", {"lesion": (10, 0, 0), "type1": (10, 0, 0), "type2": empty, "type3": empty}
    )
    b = StudyVoxels(
        "b", {"lesion": (0, 10, 10), "type1": (0, 10, 10), "type2": empty, "type3": empty}
    )
    result = dice_result((a, b), n=50)
    assert result.pooled["lesion"] == pytest.approx(20 / 40)  # 2*10 / (2*10 + 10 + 10)
    assert result.mean_per_study["lesion"] == pytest.approx(0.5)  # (1.0 + 0.0) / 2
    assert result.per_study["a"]["lesion"] == 1.0 and result.per_study["b"]["lesion"] == 0.0
    assert np.isnan(result.pooled["type2"])
    lo, hi = result.pooled_ci95["lesion"]
    assert lo == 0.0 and hi == 1.0  # resamples of {a, b}: only a, only b, or both


def test_bootstrap_resamples_patients_not_endplates() -> None:
    # patient "a": 10 endplates all right; patient "b": 10 endplates all wrong. Resampling
    # the two patients gives accuracies 1, 0.5 or 0 only, so the interval spans 0..1
    # (resampling the 20 endplates independently would give roughly 0.3..0.7).
    patients = np.array(["a"] * 10 + ["b"] * 10)
    truth = np.array([1, 0] * 10)
    predicted = np.concatenate([truth[:10], 1 - truth[10:]])
    ci = bootstrap_cis(patients, truth, predicted, predicted.astype(float), n=100)
    assert ci["accuracy"] == (0.0, 1.0)


def test_bootstrap_intervals_of_perfect_agreement_are_points() -> None:
    truth = np.array([0, 1, 2, 3, 0, 2, 0, 1])
    patients = np.array(list("aabbccdd"))
    ci = bootstrap_cis(patients, truth, truth, (truth > 0).astype(float), n=100)
    for key in ("accuracy", "sensitivity", "specificity", "auc", "type2_sensitivity"):
        assert ci[key] == (1.0, 1.0), key
    lo, hi = ci["kappa_presence"]
    assert lo == pytest.approx(1.0) and hi == pytest.approx(1.0)
    assert cohen_kappa_score(truth, truth) == 1.0


# --- tiny studies on disk ----------------------------------------------------------------


def _image(array: np.ndarray, dtype: type = np.uint8) -> sitk.Image:
    image = sitk.GetImageFromArray(array.astype(dtype))
    image.SetSpacing((1.5, 1.5, 4.0))  # 16 pixels of 1.5 mm: a field of view a reader takes
    image.SetDirection(PIR_DIRECTION)
    return image


def _maps() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertebrae (two bodies), truth lesion map and the run's lesion map."""
    vertebrae = np.zeros(SHAPE, np.uint8)
    vertebrae[:, 2:10, 3:13] = 23  # L4
    vertebrae[:, 14:22, 3:13] = 24  # L5
    truth = np.zeros(SHAPE, np.uint8)
    truth[:, 8:10, 4:12] = 1  # L4 inferior endplate, type 1: 48 voxels
    run = np.zeros(SHAPE, np.uint8)
    run[:, 9:10, 4:12] = 1  # half of it found: 24 voxels
    run[:, 14:15, 4:8] = 3  # and a false type-3 speck at L5 superior: 12 voxels
    return vertebrae, truth, run


def _write_study(
    root: Path,
    study: str,
    truth_rows: list[str],
    run_rows: list[str],
    truth_levels: list[str],
    run_levels: list[str],
) -> None:
    vertebrae, truth, run = _maps()
    rng = np.random.default_rng(0)
    t1 = 100 + 10 * rng.standard_normal(SHAPE)
    t1[truth == 1] -= 5
    t2 = 200 + 20 * rng.standard_normal(SHAPE)
    t2[truth == 1] += 30
    truth_dir = root / "synth" / study / "truth"
    run_dir = root / "runs" / study
    truth_dir.mkdir(parents=True)
    run_dir.mkdir(parents=True)
    sitk.WriteImage(_image(t1, np.float32), str(root / "synth" / study / "t1.nii.gz"))
    sitk.WriteImage(_image(vertebrae), str(truth_dir / "vertebrae.nii.gz"))
    sitk.WriteImage(_image(truth), str(truth_dir / "modic_map.nii.gz"))
    sitk.WriteImage(_image(vertebrae), str(run_dir / "vertebrae.nii.gz"))
    sitk.WriteImage(_image(run), str(run_dir / "modic_map.nii.gz"))
    sitk.WriteImage(_image(t2, np.float32), str(run_dir / "t2_registered.nii.gz"))
    (truth_dir / "endplates.csv").write_text("\n".join([ENDPLATE_HEADER, *truth_rows]) + "\n")
    (run_dir / "endplates.csv").write_text("\n".join([ENDPLATE_HEADER, *run_rows]) + "\n")
    (truth_dir / "levels.csv").write_text("\n".join([LEVEL_HEADER, *truth_levels]) + "\n")
    (run_dir / "levels.csv").write_text("\n".join([LEVEL_HEADER, *run_levels]) + "\n")


def _cohort(root: Path) -> tuple[Path, Path]:
    # study s1: L4 inferior type 1 found; L5 superior false type 3; L5 inferior not reported
    _write_study(
        root,
        "s1",
        [
            "L4,superior,0,0,0,0,0,0",
            "L4,inferior,1,0.3,0,0,192,1",
            "L5,superior,0,0,0,0,0,0",
            "L5,inferior,0,0,0,0,0,0",
        ],
        [
            "L4,superior,0,0,0,0,0,0.1",
            "L4,inferior,1,0.15,0,0,96,0.9",
            "L5,superior,3,0,0,0.07,48,0.6",
            "S1,superior,0,0,0,0,0,0.2",  # the run found a body the truth does not have
        ],
        ["L4-L5,1,L4,L5,1,1,0,1"],
        ["L4-L5,1,L4,L5,1,1,3,0.9"],
    )
    # study s2: everything right
    _write_study(
        root,
        "s2",
        ["L4,superior,2,0,0.2,0,80,1", "L4,inferior,0,0,0,0,0,0", "L5,superior,0,0,0,0,0,0"],
        ["L4,superior,2,0,0.2,0,80,0.8", "L4,inferior,0,0,0,0,0,0.3", "L5,superior,0,0,0,0,0,0.1"],
        ["L4-L5,1,L4,L5,0,0,0,0"],
        ["L4-L5,1,L4,L5,0,0,0,0.2"],
    )
    # study s3 has truth but no run (a failed study)
    (root / "synth" / "s3" / "truth").mkdir(parents=True)
    (root / "synth" / "s3" / "truth" / "endplates.csv").write_text(ENDPLATE_HEADER + "\n")
    return root / "runs", root / "synth"


def test_endplates_match_by_vertebra_and_endplate_and_leftovers_are_listed(
    tmp_path: Path,
) -> None:
    runs, truth = _cohort(tmp_path)
    matching = match_truth(runs, truth)
    assert {
        (e.study, e.vertebra, e.endplate, e.truth, e.predicted) for e in matching.endplates
    } == {
        ("s1", "L4", "superior", 0, 0),
        ("s1", "L4", "inferior", 1, 1),
        ("s1", "L5", "superior", 0, 3),
        ("s2", "L4", "superior", 2, 2),
        ("s2", "L4", "inferior", 0, 0),
        ("s2", "L5", "superior", 0, 0),
    }
    assert matching.truth_endplates == 7
    assert matching.unmatched_truth_endplates == ("s1 L5 inferior",)
    assert matching.unmatched_run_endplates == ("s1 S1 superior",)
    assert matching.studies_without_run == ("s3",)
    assert [(lv.patient, lv.graded, lv.predicted) for lv in matching.levels] == [
        ("s1", 1, 1),
        ("s2", 0, 0),
    ]
    s1 = {v.study: v for v in matching.voxels}["s1"]
    assert s1.counts["lesion"] == (24, 12, 24)  # see _maps


def _evaluate(runs: Path, truth: Path, out: Path) -> int:
    return main(
        [
            "evaluate",
            "--runs",
            str(runs),
            "--truth",
            str(truth),
            "--out",
            str(out),
            "--quiet",
            "--bootstrap",
            "30",
        ]
    )


def test_evaluate_truth_cli_writes_metrics_and_figures(tmp_path: Path) -> None:
    runs, truth = _cohort(tmp_path)
    out = tmp_path / "eval"
    assert _evaluate(runs, truth, out) == 0
    report = json.loads((out / "metrics.json").read_text())
    endplates = report["endplates"]
    # 6 matched endplates: truth [0,1,0,2,0,0], predicted [0,1,3,2,0,0]
    assert endplates["levels"] == 6 and endplates["patients"] == 2
    assert endplates["sensitivity"] == 1.0
    assert endplates["specificity"] == pytest.approx(3 / 4)
    assert endplates["accuracy"] == pytest.approx(5 / 6)
    truth_types, predicted = [0, 1, 0, 2, 0, 0], [0, 1, 3, 2, 0, 0]
    assert endplates["kappa_types"] == pytest.approx(cohen_kappa_score(truth_types, predicted))
    assert endplates["per_type"]["3"]["specificity"] == pytest.approx(5 / 6)
    lo, hi = endplates["ci95"]["accuracy"]
    assert lo <= endplates["accuracy"] <= hi
    assert report["levels"]["levels"] == 2 and report["levels"]["kappa_presence"] == 1.0
    # no naming errors here: pairing by body overlap gives the same 6 endplates
    assert report["endplates_matched_by_body_overlap"]["levels"] == 6
    assert report["matching"]["bodies_named_differently"] == []
    dice = report["voxel_dice"]
    # lesion voxels over both studies (identical maps): TP 48, FP 24, FN 48
    assert dice["pooled"]["lesion"] == pytest.approx(2 * 48 / (2 * 48 + 24 + 48))
    assert dice["pooled"]["type3"] == 0.0
    assert report["matching"]["studies_without_run"] == ["s3"]
    assert "Voxel Dice" in (out / "metrics.md").read_text()
    for figure in ("fig2_scatter.png", "fig4_per_type.png"):
        assert (out / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_truth_table_without_the_modic_column_exits_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs, truth = _cohort(tmp_path)
    bad = truth / "s2" / "truth" / "endplates.csv"
    bad.write_text("vertebra,endplate,probability\nL4,superior,1\n")
    out = tmp_path / "eval"
    assert _evaluate(runs, truth, out) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(bad) in err and "modic" in err
    assert not out.exists() and not list(tmp_path.glob(".eval.partial-*"))


def test_a_run_map_on_another_grid_exits_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs, truth = _cohort(tmp_path)
    bad = runs / "s1" / "modic_map.nii.gz"
    sitk.WriteImage(_image(np.zeros((3, 10, 10))), str(bad))
    assert _evaluate(runs, truth, tmp_path / "eval") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(bad) in err and "grid" in err
    assert not (tmp_path / "eval").exists()


def test_a_corrupt_truth_map_exits_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs, truth = _cohort(tmp_path)
    bad = truth / "s1" / "truth" / "modic_map.nii.gz"
    bad.write_bytes(b"not a nifti")
    assert _evaluate(runs, truth, tmp_path / "eval") == 2
    assert str(bad) in capsys.readouterr().err


def test_a_truth_folder_without_studies_exits_2(tmp_path: Path) -> None:
    (tmp_path / "runs").mkdir()
    (tmp_path / "empty").mkdir()
    assert _evaluate(tmp_path / "runs", tmp_path / "empty", tmp_path / "eval") == 2


def test_gradings_and_truth_together_are_a_usage_error(tmp_path: Path) -> None:
    argv = ["evaluate", "--runs", str(tmp_path), "--out", str(tmp_path / "o")]
    assert main([*argv, "--truth", str(tmp_path), "--gradings", str(tmp_path / "g.csv")]) == 2
    assert main(argv) == 2  # neither


def test_gradings_mode_also_writes_the_per_type_figure_and_intervals(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    for patient, modic in (("1", 2), ("2", 0), ("3", 1)):
        (runs / patient).mkdir(parents=True)
        (runs / patient / "levels.csv").write_text(
            f"{LEVEL_HEADER}\nL5-S1,1,L5,S1,{modic},0,0,0.5\n"
        )
    gradings = tmp_path / "gradings.csv"
    gradings.write_text("Patient,IVD label,Modic\n1,1,2\n2,1,0\n3,1,2\n")
    out = tmp_path / "eval"
    assert (
        main(
            [
                "evaluate",
                "--runs",
                str(runs),
                "--gradings",
                str(gradings),
                "--out",
                str(out),
                "--quiet",
                "--bootstrap",
                "30",
            ]
        )
        == 0
    )
    report = json.loads((out / "metrics.json").read_text())
    assert report["metrics"]["per_type"]["2"]["sensitivity"] == pytest.approx(0.5)
    assert set(report["ci95"]) >= {"kappa_presence", "type2_sensitivity", "type3_specificity"}
    assert (out / "fig4_per_type.png").read_bytes()[:4] == b"\x89PNG"


def test_body_names_map_to_the_truth_body_they_overlap_most() -> None:
    truth = np.zeros((1, 12, 4), np.uint8)
    truth[0, 0:4] = 23  # L4
    truth[0, 6:10] = 24  # L5
    run = np.zeros_like(truth)
    run[0, 0:3] = 22  # the run calls L4 "L3" ...
    run[0, 3:4] = 21  # ... and a sliver of it "L2" (split: the larger part wins)
    run[0, 6:10] = 23  # and L5 "L4"
    run[0, 11:12] = 26  # a body where the truth has none: left out
    assert body_name_map(truth, run) == {"L3": "L4", "L4": "L5"}


def test_endplates_paired_by_body_overlap_undo_a_naming_shift(tmp_path: Path) -> None:
    runs, truth = _cohort(tmp_path)
    # study s2's run names every body one level too high (L4 -> L3, L5 -> L4)
    vertebrae = sitk.GetArrayFromImage(sitk.ReadImage(str(runs / "s2" / "vertebrae.nii.gz")))
    sitk.WriteImage(
        _image(np.where(vertebrae > 0, vertebrae - 1, 0)), str(runs / "s2" / "vertebrae.nii.gz")
    )
    (runs / "s2" / "endplates.csv").write_text(
        "\n".join(
            [
                ENDPLATE_HEADER,
                "L3,superior,2,0,0.2,0,80,0.8",
                "L3,inferior,0,0,0,0,0,0.3",
                "L4,superior,0,0,0,0,0,0.1",
            ]
        )
        + "\n"
    )
    matching = match_truth(runs, truth)
    by_name = {(e.study, e.vertebra, e.endplate): e.predicted for e in matching.endplates}
    by_overlap = {
        (e.study, e.vertebra, e.endplate): e.predicted for e in matching.endplates_by_overlap
    }
    assert by_name[("s2", "L4", "superior")] == 0  # compared with the run's "L4" = truth L5
    assert by_overlap[("s2", "L4", "superior")] == 2  # compared with the same body
    assert set(matching.renamed_bodies) == {"s2: run L3 = truth L4", "s2: run L4 = truth L5"}
