"""``modicmap calibrate`` on readers' reviews: the endplate threshold from reviewed
endplates, and the out-of-fold (by patient) worth of every refit, printed and stored."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from modicmap.cli.main import main
from modicmap.evaluation.calibration import out_of_fold
from modicmap.grading.level_model import LevelModel
from modicmap.review.table import ReviewRow, write_review_csv

ENDPLATES_HEADER = (
    "vertebra,endplate,modic,type1_fraction,type2_fraction,type3_fraction,lesion_mm3,probability"
)
LEVELS_HEADER = (
    "level,index_from_sacrum,upper_vertebra,lower_vertebra,modic,upper_endplate_modic,"
    "lower_endplate_modic,probability"
)


def test_out_of_fold_never_lets_a_patient_see_its_own_grades() -> None:
    patients = [f"P{i}" for i in range(6) for _ in range(2)]
    truth = np.array([True, False] * 6)
    seen: list[set[str]] = []

    def refit(train: np.ndarray, test: np.ndarray) -> np.ndarray:
        seen.append({patients[i] for i in train} & {patients[i] for i in test})
        return truth[test]  # a perfect refit

    result = out_of_fold(patients, truth, refit, folds=3)
    assert result is not None and seen == [set(), set(), set()]
    assert (result.folds, result.patients, result.items) == (3, 6, 12)
    assert (result.sensitivity, result.specificity, result.kappa) == (1.0, 1.0, 1.0)
    flipped = out_of_fold(patients, truth, lambda train, test: ~truth[test], folds=3)
    assert flipped is not None and flipped.sensitivity == 0.0 and flipped.kappa == -1.0
    assert out_of_fold(["P0", "P0"], truth[:2], refit) is None, "one patient: no CV"
    skipped = out_of_fold(patients, truth, lambda train, test: None)
    assert skipped is None


def _reviewed_runs(tmp_path: Path, *, level_only: tuple[str, ...] = ()) -> Path:
    """Eight patients, one L5-S1 level each; the reader graded the L5 inferior endplate
    Modic in P0-P3 (lesion share 0.10-0.25 there) and every S1 superior endplate none,
    though the map puts a small share (0.06) on it; each endplate's probability is its
    share, so either grading rule sees the same scores. A patient in ``level_only`` was
    reviewed at the level row only."""
    runs = tmp_path / "runs"
    for i in range(8):
        patient = f"P{i}"
        folder = runs / patient
        folder.mkdir(parents=True)
        modic = i < 4
        share = 0.10 + 0.05 * i if modic else 0.01 * (i - 4)
        (folder / "endplates.csv").write_text(
            f"{ENDPLATES_HEADER}\nL5,inferior,0,0,{share},0,0,{share}\nS1,superior,0,0,0.06,0,0,0.06\n"
        )
        (folder / "levels.csv").write_text(f"{LEVELS_HEADER}\nL5-S1,1,L5,S1,0,0,0,0.5\n")
        rows = [ReviewRow(patient, "L5-S1", 1, "level", 0, 2 * modic, "dr", "t")]
        if patient not in level_only:
            rows += [
                ReviewRow(patient, "L5-S1", 1, "upper", 0, 2 * modic, "dr", "t"),
                ReviewRow(patient, "L5-S1", 1, "lower", 0, 0, "dr", "t"),
            ]
        write_review_csv(rows, folder / "review.csv")
    return runs


def test_calibrate_on_reviewed_endplates_prints_its_out_of_fold_worth(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = _reviewed_runs(tmp_path)
    out = tmp_path / "bundle"
    argv = ["calibrate", "--runs", str(runs), "--gradings", str(runs), "--out", str(out)]
    assert main([*argv, "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "over 16 endplates" in printed  # two reviewed endplates per level, not 8 levels
    assert "out of fold (5-fold by patient, 8 patients, 16 endplates)" in printed
    grading = json.loads((out / "modicmap.json").read_text())["grading"]
    # the S1 endplates (share 0.06, graded none) sit below the chosen threshold
    assert 0.06 <= grading["threshold"] <= 0.10
    held_out = grading["calibration"]["out_of_fold"]
    assert held_out["items"] == 16 and held_out["unit"] == "endplates"
    assert held_out["specificity"] == 1.0 and held_out["sensitivity"] >= 0.75


def test_a_level_reviewed_only_as_a_level_still_counts_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = _reviewed_runs(tmp_path, level_only=("P0", "P5"))
    out = tmp_path / "bundle"
    argv = ["calibrate", "--runs", str(runs), "--gradings", str(runs), "--out", str(out)]
    assert main([*argv, "--quiet"]) == 0
    assert "over 14 reviewed endplates and levels" in capsys.readouterr().out


def test_calibrate_level_model_prints_and_stores_its_out_of_fold_worth(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from test_level_model import _bundle_without_level_network, _runs_with_evidence

    runs, gradings = _runs_with_evidence(tmp_path)  # a dark disc (T2) means Modic type 2
    out = tmp_path / "bundle"
    argv = ["calibrate", "--runs", str(runs), "--gradings", str(gradings), "--level-model"]
    argv += ["--model", str(_bundle_without_level_network(tmp_path)), "--out", str(out)]
    assert main([*argv, "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "out of fold (5-fold by patient, 40 patients, 120 levels)" in printed
    section = json.loads((out / "modicmap.json").read_text())["level_model"]
    held_out = section["out_of_fold"]
    assert held_out["sensitivity"] > 0.9 and held_out["specificity"] > 0.9
    assert held_out["kappa"] > 0.8
    LevelModel.from_json(section)  # the stored section still reads as a level model
