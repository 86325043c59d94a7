"""Threshold choice by Youden's J on constructed ROC cases, and ``modicmap calibrate``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from modicmap.cli.main import main
from modicmap.evaluation.calibration import youden_threshold


def test_separable_scores_put_the_threshold_between_the_classes() -> None:
    truth = np.array([0, 0, 0, 1, 1, 1])
    score = np.array([0.0, 0.01, 0.02, 0.05, 0.2, 0.3])
    choice = youden_threshold(truth, score)
    assert choice.youden_j == pytest.approx(1.0)
    assert choice.threshold == pytest.approx(0.02)  # rule "share > 0.02" splits them exactly
    assert ((score > choice.threshold) == truth.astype(bool)).all()
    assert choice.auc == pytest.approx(1.0)


def test_zero_threshold_when_any_lesion_voxel_is_best() -> None:
    # the paper's optimum: every level with some lesion share is Modic
    truth = np.array([0, 0, 0, 1, 1, 1])
    score = np.array([0.0, 0.0, 0.0, 0.001, 0.002, 0.5])
    assert youden_threshold(truth, score).threshold == 0.0


def test_a_single_class_cannot_be_calibrated() -> None:
    with pytest.raises(ValueError, match="with and without"):
        youden_threshold(np.array([1, 1]), np.array([0.1, 0.2]))


def _runs(tmp_path: Path, levels: dict[str, tuple[float, float, int]]) -> tuple[Path, Path]:
    """One run folder per patient with one L5-S1 level: (lesion share, probability, grade)."""
    runs = tmp_path / "runs"
    lines = ["Patient,IVD label,Modic"]
    for patient, (share, probability, grade) in levels.items():
        folder = runs / patient
        folder.mkdir(parents=True)
        (folder / "endplates.csv").write_text(
            "vertebra,endplate,modic,type1_fraction,type2_fraction,type3_fraction,lesion_mm3,probability\n"
            f"L5,inferior,0,0,{share},0,0,{probability}\nS1,superior,0,0,0,0,0,0.1\n"
        )
        (folder / "levels.csv").write_text(
            "level,index_from_sacrum,upper_vertebra,lower_vertebra,modic,upper_endplate_modic,lower_endplate_modic,probability\n"
            f"L5-S1,1,L5,S1,0,0,0,{probability}\n"
        )
        lines.append(f"{patient},1,{grade}")
    gradings = tmp_path / "g.csv"
    gradings.write_text("\n".join(lines) + "\n")
    return runs, gradings


def _bundle_with_rule(tmp_path: Path, rule: str) -> Path:
    from modicmap.models.bundle import load_bundle, save_bundle

    base = load_bundle(None)
    grading = {**base.section("grading"), "rule": rule}
    return save_bundle(tmp_path / f"base-{rule}", {"grading": grading}, base=base).folder


def _calibrate(runs: Path, gradings: Path, model: Path, out: Path) -> dict:
    argv = ["calibrate", "--runs", str(runs), "--gradings", str(gradings), "--out", str(out)]
    assert main([*argv, "--model", str(model), "--quiet"]) == 0
    assert (out / "roc.png").is_file() and (out / "lesions.safetensors").is_file()
    return json.loads((out / "modicmap.json").read_text())["grading"]


def test_calibrate_cli_share_rule_thresholds_the_lesion_share(tmp_path: Path) -> None:
    runs, gradings = _runs(
        tmp_path, {"1": (0.0, 0.5, 0), "2": (0.01, 0.5, 0), "3": (0.2, 0.5, 2), "4": (0.3, 0.5, 2)}
    )
    grading = _calibrate(runs, gradings, _bundle_with_rule(tmp_path, "share"), tmp_path / "b")
    assert grading["rule"] == "share"
    assert grading["threshold"] == pytest.approx(0.01), "share > 0.01 separates the classes"


def test_calibrate_cli_probability_rule_thresholds_the_level_probability(tmp_path: Path) -> None:
    runs, gradings = _runs(
        tmp_path, {"1": (0.0, 0.1, 0), "2": (0.0, 0.3, 0), "3": (0.0, 0.6, 2), "4": (0.0, 0.8, 1)}
    )
    model = _bundle_with_rule(tmp_path, "probability")
    grading = _calibrate(runs, gradings, model, tmp_path / "b")
    assert grading["rule"] == "probability"
    assert grading["threshold"] == pytest.approx(0.6), "probability >= 0.6 separates the classes"
    assert grading["calibration"]["auc"] == pytest.approx(1.0)


def test_a_bundle_with_an_unknown_grading_rule_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs, gradings = _runs(tmp_path, {"1": (0.0, 0.1, 0), "2": (0.0, 0.8, 2)})
    model = _bundle_with_rule(tmp_path, "vibes")
    argv = ["calibrate", "--runs", str(runs), "--gradings", str(gradings)]
    code = main([*argv, "--out", str(tmp_path / "b"), "--model", str(model), "--quiet"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown grading rule 'vibes'" in err[0]
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize(
    ("rule", "threshold"),
    [
        # truth-positive endplates: probability 0.9 and 0.8, share 0.15 and 0.2; the highest
        # negative: probability 0.6, share 0.07 (tests/test_evaluation_voxel.py, _cohort)
        ("probability", 0.8),
        ("share", 0.07),
    ],
)
def test_calibrate_cli_on_voxel_truth_runs_the_roc_over_endplates(
    tmp_path: Path, rule: str, threshold: float
) -> None:
    from test_evaluation_voxel import _cohort

    runs, truth = _cohort(tmp_path)
    out = tmp_path / "b"
    argv = ["calibrate", "--runs", str(runs), "--truth", str(truth), "--out", str(out)]
    model = _bundle_with_rule(tmp_path, rule)
    assert main([*argv, "--model", str(model), "--quiet"]) == 0
    grading = json.loads((out / "modicmap.json").read_text())["grading"]
    assert grading["threshold"] == pytest.approx(threshold)
    assert grading["calibration"]["levels"] == 6 and grading["calibration"]["unit"] == "endplates"
    assert grading["calibration"]["youden_j"] == pytest.approx(1.0)
    assert "6 endplates" in grading["source"]
    assert (out / "roc.png").is_file()


def test_calibrate_takes_gradings_or_truth_not_both(tmp_path: Path) -> None:
    argv = ["calibrate", "--runs", str(tmp_path), "--out", str(tmp_path / "b")]
    assert main([*argv, "--truth", str(tmp_path), "--gradings", str(tmp_path / "g.csv")]) == 2
    assert main(argv) == 2
