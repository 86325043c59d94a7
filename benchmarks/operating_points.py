"""Operating points of the level model, chosen out of fold, and its reliability curve.

Input: the rows of a nested patient cross-validation of the level model on SPIDER dev
(``spider_levels_eval.py --json`` on ``spider_level_model_cv.py`` runs: every level's
probability from a lesion model, level network and level model that never saw its patient).

For each criterion the cut is chosen on those out-of-fold probabilities; the expected
performance of CHOOSING a cut that way is measured one level further out: the patients are
split into ``--folds`` groups, each group's levels are graded with the cut chosen on the
other groups, and the pooled grades give sensitivity, specificity and kappa (with a
bootstrap over patients). Also writes the reliability curve (figure and table).

    python benchmarks/operating_points.py \
        --rows docs/benchmarks/spider_level_net_cv_2026-11-26-cut-top.json \
        --json docs/benchmarks/operating_points.json --figure docs/figures/level_reliability.png \
        [--record-in BUNDLE]

``--record-in`` writes the ``operating_points`` (cuts chosen on all rows, with their
out-of-fold and cross-validated numbers) and the out-of-fold sensitivity/specificity curve
into that bundle's ``level_model`` section, which `run --operating-point` reads.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss, cohen_kappa_score, roc_auc_score
from sklearn.model_selection import GroupKFold

from modicmap.grading.operating_point import (
    CRITERIA,
    UPPER_INDEX,
    choose_cut,
    performance_curve,
)


def rates(truth: np.ndarray, called: np.ndarray) -> dict[str, float]:
    return {
        "sensitivity": float(called[truth].mean()) if truth.any() else float("nan"),
        "specificity": float((~called[~truth]).mean()) if (~truth).any() else float("nan"),
        "kappa": float(cohen_kappa_score(truth, called)),
        "balanced_accuracy": float((called[truth].mean() + (~called[~truth]).mean()) / 2),
    }


def bootstrap(
    patients: np.ndarray, truth: np.ndarray, called: np.ndarray, n: int = 1000, seed: int = 0
) -> dict[str, list[float]]:
    rng = np.random.default_rng(seed)
    ids = np.unique(patients)
    index = {p: np.flatnonzero(patients == p) for p in ids}
    samples: dict[str, list[float]] = {"sensitivity": [], "specificity": [], "kappa": []}
    for _ in range(n):
        rows = np.concatenate([index[p] for p in rng.choice(ids, ids.size)])
        r = rates(truth[rows], called[rows])
        for key in samples:
            samples[key].append(r[key])
    return {
        k: [float(np.nanpercentile(v, 2.5)), float(np.nanpercentile(v, 97.5))]
        for k, v in samples.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=Path, required=True)
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--figure", type=Path, default=None)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--record-in", type=Path, default=None)
    args = parser.parse_args()

    data = json.loads(args.rows.read_text())
    rows = data["rows"]
    patients = np.array([str(r["pid"]) for r in rows])
    truth = np.array([int(r["truth"]) > 0 for r in rows])
    types = np.array([int(r["truth"]) for r in rows])
    probability = np.array([float(r["probability"]) for r in rows])
    index = np.array([int(r["index"]) for r in rows])
    upper = index >= UPPER_INDEX

    result: dict[str, object] = {
        "rows": str(args.rows),
        "levels": int(truth.size),
        "patients": int(np.unique(patients).size),
        "prevalence": float(truth.mean()),
        "auc": float(roc_auc_score(truth, probability)),
        "auc_upper_levels": float(roc_auc_score(truth[upper], probability[upper])),
        "brier": float(brier_score_loss(truth, probability)),
    }
    observed, predicted = calibration_curve(truth, probability, n_bins=10, strategy="quantile")
    result["reliability"] = {
        "bins": "deciles of the out-of-fold probability",
        "mean_predicted": [round(float(v), 4) for v in predicted],
        "observed_share": [round(float(v), 4) for v in observed],
    }
    points: dict[str, dict[str, object]] = {}
    for name in CRITERIA:
        cut = choose_cut(truth, probability, name)
        called = probability >= cut
        chosen_out = np.zeros(truth.size, bool)
        for train, test in GroupKFold(n_splits=args.folds).split(probability, truth, patients):
            chosen_out[test] = probability[test] >= choose_cut(
                truth[train], probability[train], name
            )
        cv = rates(truth, chosen_out)
        points[name] = {
            "threshold": round(cut, 4),
            "criterion": CRITERIA[name],
            "out_of_fold": {
                **{k: round(v, 4) for k, v in rates(truth, called).items()},
                "upper_levels_sensitivity": round(float(called[truth & upper].mean()), 4),
                "type2_sensitivity": round(float(called[types == 2].mean()), 4),
            },
            "cut_chosen_out_of_fold": {
                **{k: round(v, 4) for k, v in cv.items()},
                "upper_levels_sensitivity": round(float(chosen_out[truth & upper].mean()), 4),
                "ci95": bootstrap(patients, truth, chosen_out),
            },
        }
    result["operating_points"] = points
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "reliability"}, indent=1))

    if args.figure is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(4, 4), dpi=110)
        ax.plot([0, 1], [0, 1], color="#999", lw=1, ls="--")
        ax.plot(predicted, observed, marker="o", color="#1f5fa8")
        ax.set_xlabel("level probability (out of fold)")
        ax.set_ylabel("share graded Modic by the readers")
        ax.set_title(f"SPIDER dev, {truth.size} levels, deciles", fontsize=9)
        fig.tight_layout()
        fig.savefig(args.figure)

    if args.record_in is not None:
        path = args.record_in / "modicmap.json"
        bundle = json.loads(path.read_text())
        section = bundle["level_model"]
        section["operating_points"] = {
            name: {
                "threshold": p["threshold"],
                "criterion": p["criterion"],
                "sensitivity": p["out_of_fold"]["sensitivity"],  # type: ignore[index]
                "specificity": p["out_of_fold"]["specificity"],  # type: ignore[index]
                "cut_chosen_out_of_fold": p["cut_chosen_out_of_fold"],
            }
            for name, p in points.items()
        }
        section["operating_point_default"] = "balanced"
        section["out_of_fold_curve"] = {
            "source": f"{args.rows.name}: {truth.size} SPIDER dev levels of "
            f"{np.unique(patients).size} patients, nested patient cross-validation",
            **performance_curve(truth, probability),
        }
        path.write_text(json.dumps(bundle, indent=2) + "\n")
        print(f"recorded in {path}")


if __name__ == "__main__":
    main()
