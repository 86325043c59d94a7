"""Level-wise evaluation: metrics against hand-computed cases and scikit-learn, matching, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score, roc_auc_score

from modicmap.cli.main import main
from modicmap.evaluation.gradings import match_runs, read_gradings
from modicmap.evaluation.metrics import level_metrics


def test_presence_metrics_match_a_hand_computed_case() -> None:
    truth = np.array([0, 0, 0, 0, 2, 2, 1, 3])
    predicted = np.array([0, 0, 2, 0, 2, 0, 2, 3])
    probability = np.array([0.1, 0.2, 0.7, 0.3, 0.9, 0.4, 0.8, 0.6])
    patients = np.array(["a", "a", "b", "b", "c", "c", "d", "d"])
    m = level_metrics(patients, truth, predicted, probability, bootstrap=200)
    # presence: TP 3 (levels 5, 7, 8), FN 1 (level 6), TN 3, FP 1 (level 3)
    assert m.sensitivity == pytest.approx(3 / 4)
    assert m.specificity == pytest.approx(3 / 4)
    assert m.accuracy == pytest.approx(6 / 8)
    assert m.kappa_presence == pytest.approx(0.5)  # po 0.75, pe 0.5
    assert m.kappa_presence == pytest.approx(cohen_kappa_score(truth > 0, predicted > 0))
    assert m.auc == pytest.approx(roc_auc_score(truth > 0, probability))
    assert m.auc_ci95[0] <= m.auc <= m.auc_ci95[1]
    assert m.per_type[2]["sensitivity"] == pytest.approx(1 / 2)
    assert m.per_type[1]["sensitivity"] == 0.0
    assert m.per_type[3]["specificity"] == pytest.approx(1.0)
    assert m.confusion_types[1][2] == 1 and sum(map(sum, m.confusion_types)) == 8
    assert m.patients == 4 and m.prevalence == pytest.approx(0.5)


def test_perfect_agreement() -> None:
    truth = np.array([0, 2, 0, 1, 3, 2])
    m = level_metrics(
        np.arange(6).astype(str), truth, truth, (truth > 0).astype(float), bootstrap=50
    )
    assert m.kappa_presence == 1.0 and m.kappa_types == 1.0 and m.auc == 1.0


def _runs(root: Path) -> tuple[Path, Path]:
    for patient, rows in {
        "7": [("L4-L5", 2, 2, 0.9), ("L5-S1", 1, 0, 0.2)],
        "9": [("L5-S1", 1, 1, 0.7)],
    }.items():
        folder = root / "runs" / patient
        folder.mkdir(parents=True)
        lines = [
            "level,index_from_sacrum,upper_vertebra,lower_vertebra,modic,upper_endplate_modic,lower_endplate_modic,probability"
        ]
        lines += [f"{lv},{i},X,Y,{m},0,0,{p}" for lv, i, m, p in rows]
        (folder / "levels.csv").write_text("\n".join(lines) + "\n")
    gradings = root / "gradings.csv"
    gradings.write_text("Patient,IVD label,Modic\n7,1,0\n7,2,2\n7,3,2\n9,1,0\n11,1,2\n")
    return root / "runs", gradings


def test_levels_match_graded_discs_by_index_from_sacrum(tmp_path: Path) -> None:
    runs, gradings = _runs(tmp_path)
    matching = match_runs(runs, read_gradings(gradings))
    assert {(m.patient, m.index_from_sacrum, m.graded, m.predicted) for m in matching.levels} == {
        ("7", 2, 2, 2),
        ("7", 1, 0, 0),
        ("9", 1, 0, 1),
    }
    assert matching.graded_levels == 4  # patient 7's L3-L4 is graded but not found
    assert matching.patients_without_run == ("11",)


def test_evaluate_cli_writes_metrics(tmp_path: Path) -> None:
    runs, gradings = _runs(tmp_path)
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
                "50",
            ]
        )
        == 0
    )
    report = json.loads((out / "metrics.json").read_text())
    assert report["metrics"]["levels"] == 3
    assert report["metrics"]["specificity"] == pytest.approx(0.5)
    assert "Cohen's kappa" in (out / "metrics.md").read_text()


def test_gradings_in_another_format_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "g.csv"
    bad.write_text("patient,level,grade\n1,1,0\n")
    (tmp_path / "runs").mkdir()
    assert (
        main(
            [
                "evaluate",
                "--runs",
                str(tmp_path / "runs"),
                "--gradings",
                str(bad),
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )


def test_evaluate_reports_the_marrow_evidence_beside_a_level_model(tmp_path: Path) -> None:
    """With endplates.csv, the larger endplate probability is scored too (a level model
    re-scored levels.csv): here it ranks the levels the other way round."""
    runs, gradings = _runs(tmp_path)
    endplates = {"7": (0.1, 0.3), "9": (0.6, 0.8)}  # (X inferior, Y superior) per run
    for patient, (a, b) in endplates.items():
        (runs / patient / "endplates.csv").write_text(
            "vertebra,endplate,modic,type1_fraction,type2_fraction,type3_fraction,lesion_mm3,probability\n"
            f"X,inferior,0,0,0,0,0,{a}\nY,superior,0,0,0,0,0,{b}\n"
        )
    matching = match_runs(runs, read_gradings(gradings))
    assert {(m.patient, m.marrow_probability) for m in matching.levels} == {("7", 0.3), ("9", 0.8)}
    out = tmp_path / "eval"
    argv = ["evaluate", "--runs", str(runs), "--gradings", str(gradings), "--out", str(out)]
    assert main([*argv, "--quiet", "--bootstrap", "50"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    assert metrics["auc"] == pytest.approx(1.0), "levels.csv: 0.9 graded, 0.2 and 0.7 not"
    assert metrics["auc_marrow"] == pytest.approx(0.25), "marrow: graded 0.3; not: 0.3 (tie), 0.8"
    assert "marrow evidence alone" in (out / "metrics.md").read_text()


def test_evaluate_reports_the_level_network_alone_where_runs_carry_it(tmp_path: Path) -> None:
    runs, gradings = _runs(tmp_path)
    logits = {"7": {2: 0.5, 1: 1.5}, "9": {1: -2.0}}  # graded level 0.5; the others 1.5, -2
    for patient, by_index in logits.items():
        levels = [
            {
                "level": "X-Y",
                "index_from_sacrum": i,
                "marrow_probability": 0.5,
                "disc_t1_ratio": None,
                "disc_t2_ratio": None,
                "band_t1_p90": None,
                "band_t2_p90": None,
                "probability": 0.5,
                "level_net_logit": logit,
            }
            for i, logit in by_index.items()
        ]
        (runs / patient / "summary.json").write_text(json.dumps({"levels": levels}))
    out = tmp_path / "eval"
    argv = ["evaluate", "--runs", str(runs), "--gradings", str(gradings), "--out", str(out)]
    assert main([*argv, "--quiet", "--bootstrap", "50"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    assert metrics["auc_level_network"] == pytest.approx(0.5), "0.5 ranks above -2, below 1.5"
    assert metrics["level_network_levels"] == 3
    assert "level network alone (3 levels)" in (out / "metrics.md").read_text()


def test_a_broken_endplates_table_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs, gradings = _runs(tmp_path)
    (runs / "7" / "endplates.csv").write_text("vertebra,endplate\nX,inferior\n")
    out = tmp_path / "eval"
    argv = ["evaluate", "--runs", str(runs), "--gradings", str(gradings), "--out", str(out)]
    assert main([*argv, "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "endplates.csv" in err[0]
    assert not out.exists()
