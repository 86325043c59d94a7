"""Per-level evaluation of `modicmap run` on SPIDER dev pairs against the radiologists' gradings.

Runs the pipeline on every pair (outputs cached in --runs), matches levels.csv rows to
gradings.csv by `index_from_sacrum` == `IVD label`, and reports, for "any Modic" vs
"none": ROC AUC of the level probability (bootstrap 95% CI over patients), accuracy,
sensitivity, specificity and Cohen's kappa of the level grade, beside two baselines on
the same levels: the disc level alone (lower discs carry Modic more often) and a
hand-made feature (share of endplate-band marrow with T1 z > 1 and T2 z > 0).

The baselines are also turned into graders so that their kappa, accuracy, sensitivity
and specificity stand beside the model's: each baseline's cut (Youden's J) is chosen on
the OTHER folds' levels (``--folds``: the cross-validation's folds.json; default: the
same five folds by patient that ``spider_graded_cv.py`` draws), so no patient's own
grading sets its cut. The kappa differences (model minus baseline) get a paired
patient-bootstrap 95 % CI.

    python benchmarks/spider_levels_eval.py --runs /tmp/spider-runs [--folds folds.json]
        [--json out.json]
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from sklearn.metrics import cohen_kappa_score, confusion_matrix, roc_auc_score

from modicmap.errors import InputError
from modicmap.evaluation.calibration import youden_threshold
from modicmap.evaluation.gradings import read_gradings
from modicmap.evaluation.metrics import bootstrap_auc_ci, patient_bootstrap
from modicmap.grading.endplates import Endplate, endplate_regions
from modicmap.labels import vertebra_code
from modicmap.pipeline.run import RunOptions, run_study
from modicmap.zscore import zscore_maps


def hand_feature(run: Path, t1_path: Path) -> dict[str, float]:
    """Share of the level's two endplate regions with T1 z > 1 and T2 z > 0, per level name."""
    t1 = sitk.DICOMOrient(sitk.ReadImage(str(t1_path), sitk.sitkFloat32), "PIR")
    t2 = sitk.DICOMOrient(
        sitk.ReadImage(str(run / "t2_registered.nii.gz"), sitk.sitkFloat32), "PIR"
    )
    vertebrae = sitk.GetArrayFromImage(
        sitk.DICOMOrient(sitk.ReadImage(str(run / "vertebrae.nii.gz")), "PIR")
    )
    z = zscore_maps(sitk.GetArrayFromImage(t1), sitk.GetArrayFromImage(t2), vertebrae)
    regions = endplate_regions(vertebrae, tuple(t1.GetSpacing()[::-1]))  # type: ignore[arg-type]
    bright = (z.t1z > 1) & (z.t2z > 0)
    out = {}
    with (run / "levels.csv").open() as handle:
        for row in csv.DictReader(handle):
            a = regions.get((vertebra_code(row["upper_vertebra"]), Endplate.INFERIOR))
            b = regions.get((vertebra_code(row["lower_vertebra"]), Endplate.SUPERIOR))
            if a is None or b is None:
                continue
            both = a | b
            out[row["level"]] = float(bright[both].mean()) if both.any() else 0.0
    return out


def bootstrap_auc(
    patients: np.ndarray, y: np.ndarray, score: np.ndarray, n: int = 1000, seed: int = 0
) -> tuple[float, float, float]:
    """AUC and its 95 % CI over bootstrap samples of patients."""
    low, high = bootstrap_auc_ci(patients, y, score, n=n, seed=seed)
    return float(roc_auc_score(y, score)), low, high


def bootstrap_auc_difference(
    patients: np.ndarray,
    y: np.ndarray,
    score: np.ndarray,
    baseline: np.ndarray,
    n: int = 1000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """AUC(score) - AUC(baseline) on the same levels, 95% CI by a paired patient bootstrap."""
    values = []
    for idx in patient_bootstrap(patients, n, seed):
        if len(np.unique(y[idx])) == 2:
            values.append(roc_auc_score(y[idx], score[idx]) - roc_auc_score(y[idx], baseline[idx]))
    return (
        float(roc_auc_score(y, score) - roc_auc_score(y, baseline)),
        float(np.percentile(values, 2.5)),
        float(np.percentile(values, 97.5)),
    )


def cross_fitted_grades(
    patients: np.ndarray, y: np.ndarray, score: np.ndarray, folds: list[list[str]]
) -> np.ndarray:
    """Grade ``score >= t`` per fold with ``t`` chosen by Youden's J on the other folds."""
    out = np.zeros(y.shape, int)
    for fold in folds:
        inside = np.isin(patients, fold)
        if not inside.any():
            continue
        cut = youden_threshold(y[~inside], score[~inside], strict=False).threshold
        out[inside] = score[inside] >= cut
    return out


def grader_metrics(
    patients: np.ndarray, y: np.ndarray, pred: np.ndarray, n: int = 1000, seed: int = 0
) -> dict[str, object]:
    """Kappa (95 % CI over patient bootstrap), accuracy, sensitivity, specificity."""
    kappas = [cohen_kappa_score(y[i], pred[i]) for i in patient_bootstrap(patients, n, seed)]
    return {
        "kappa_presence": [
            float(cohen_kappa_score(y, pred)),
            float(np.nanpercentile(kappas, 2.5)),
            float(np.nanpercentile(kappas, 97.5)),
        ],
        "accuracy": float((pred == y).mean()),
        "sensitivity": float(pred[y == 1].mean()),
        "specificity": float(1 - pred[y == 0].mean()),
    }


def kappa_difference(
    patients: np.ndarray, y: np.ndarray, pred: np.ndarray, baseline: np.ndarray, n: int = 1000
) -> tuple[float, float, float]:
    """kappa(pred) - kappa(baseline) on the same levels, paired patient-bootstrap 95 % CI."""
    values = [
        cohen_kappa_score(y[i], pred[i]) - cohen_kappa_score(y[i], baseline[i])
        for i in patient_bootstrap(patients, n, 0)
    ]
    return (
        float(cohen_kappa_score(y, pred) - cohen_kappa_score(y, baseline)),
        float(np.nanpercentile(values, 2.5)),
        float(np.nanpercentile(values, 97.5)),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).parents[2] / "shared" / "data")
    parser.add_argument("--runs", type=Path, required=True)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--folds", type=Path, default=None, help="folds.json of the cross-validation (patients)"
    )
    args = parser.parse_args()
    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    folder = args.data / "spider-midsag"
    grades = read_gradings(folder / "gradings.csv")
    pids = sorted({p for p, _ in grades}, key=int)
    if args.limit:
        pids = pids[: args.limit]
    rows = []
    failures = {}
    for pid in pids:
        t1, t2 = folder / "images" / f"{pid}_t1.nii.gz", folder / "images" / f"{pid}_t2.nii.gz"
        run = args.runs / pid
        if not (run / "summary.json").is_file():
            try:
                run_study(t1, t2, run, RunOptions(model=args.model, force=True))
            except InputError as exc:
                failures[pid] = str(exc)
                continue
        feature = hand_feature(run, t1)
        with (run / "levels.csv").open() as handle:
            for row in csv.DictReader(handle):
                key = (pid, int(row["index_from_sacrum"]))
                if key in grades:
                    rows.append(
                        {
                            "pid": pid,
                            "index": key[1],
                            "truth": grades[key],
                            "modic": int(row["modic"]),
                            "probability": float(row["probability"]),
                            "feature": feature.get(row["level"], 0.0),
                        }
                    )
    patients = np.array([r["pid"] for r in rows])
    y = np.array([r["truth"] > 0 for r in rows], int)
    pred = np.array([r["modic"] > 0 for r in rows], int)
    probability = np.array([r["probability"] for r in rows])
    result = {
        "pairs": len(pids),
        "failed_pairs": failures,
        "levels_matched": len(rows),
        "levels_graded": sum(1 for p, _ in grades if p in pids),
        "prevalence": float(y.mean()),
        "auc_model": bootstrap_auc(patients, y, np.array([r["probability"] for r in rows])),
        "auc_level_only": bootstrap_auc(patients, y, -np.array([r["index"] for r in rows], float)),
        "auc_hand_feature": bootstrap_auc(patients, y, np.array([r["feature"] for r in rows])),
        "auc_model_minus_level_only": bootstrap_auc_difference(
            patients, y, probability, -np.array([r["index"] for r in rows], float)
        ),
        "auc_model_minus_hand_feature": bootstrap_auc_difference(
            patients, y, probability, np.array([r["feature"] for r in rows])
        ),
        "accuracy": float((pred == y).mean()),
        "sensitivity": float(pred[y == 1].mean()) if (y == 1).any() else None,
        "specificity": float(1 - pred[y == 0].mean()) if (y == 0).any() else None,
        "kappa_presence": float(cohen_kappa_score(y, pred)),
        "confusion_presence": confusion_matrix(y, pred).tolist(),
        "always_none_accuracy": float(1 - y.mean()),
    }
    if args.folds:
        folds = json.loads(args.folds.read_text())
    else:  # the cross-validation's own split (same seed and number of folds)
        from spider_graded_cv import folds_of

        folds = folds_of(patients, 5, 0)
    result["model_grader"] = grader_metrics(patients, y, pred)
    for name, score in (
        # 1 / index: lower is likelier, and positive (calibration thresholds are >= 0)
        ("level_only", 1.0 / np.array([r["index"] for r in rows], float)),
        ("hand_feature", np.array([r["feature"] for r in rows])),
    ):
        graded = cross_fitted_grades(patients, y, score, [[str(p) for p in f] for f in folds])
        result[f"{name}_grader"] = grader_metrics(patients, y, graded)
        result[f"kappa_model_minus_{name}"] = kappa_difference(patients, y, pred, graded)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps({**result, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
