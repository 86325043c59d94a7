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


def test_calibrate_cli_writes_a_bundle_with_the_threshold(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    shares = {"1": (0.0, 0), "2": (0.01, 0), "3": (0.2, 2), "4": (0.3, 2)}
    lines = ["Patient,IVD label,Modic"]
    for patient, (share, grade) in shares.items():
        folder = runs / patient
        folder.mkdir(parents=True)
        (folder / "endplates.csv").write_text(
            "vertebra,endplate,modic,type1_fraction,type2_fraction,type3_fraction,lesion_mm3,probability\n"
            f"L5,inferior,0,0,{share},0,0,0.5\nS1,superior,0,0,0,0,0,0.1\n"
        )
        (folder / "levels.csv").write_text(
            "level,index_from_sacrum,upper_vertebra,lower_vertebra,modic,upper_endplate_modic,lower_endplate_modic,probability\n"
            "L5-S1,1,L5,S1,0,0,0,0.5\n"
        )
        lines.append(f"{patient},1,{grade}")
    gradings = tmp_path / "g.csv"
    gradings.write_text("\n".join(lines) + "\n")
    out = tmp_path / "bundle"
    assert (
        main(
            [
                "calibrate",
                "--runs",
                str(runs),
                "--gradings",
                str(gradings),
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    config = json.loads((out / "modicmap.json").read_text())
    assert config["grading"]["threshold"] == pytest.approx(0.01)
    assert (out / "roc.png").is_file() and (out / "lesions.safetensors").is_file()
