"""Which evidence ranks SPIDER's graded levels: an ablation of the level model's features.

On the out-of-fold runs of the lesion cross-validation (``spider_graded_cv.py evaluate``;
every run by a fold model that never saw the patient), the evidence `run` wrote to
summary.json (``levels``) is split into groups -- the V-Net's marrow probability, the
endplate-band z-scores, the disc ratios, the level -- and a logistic regression on each
combination is fitted on four folds and applied to the fifth (the level model's own
features and imputation, no threshold, no override). Prints the pooled out-of-fold ROC AUC
of each combination and the paired patient-bootstrap difference to the full model.

    python benchmarks/level_model_features.py --work W [--json out.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from modicmap.evaluation.calibration import read_level_evidence
from modicmap.evaluation.gradings import read_gradings
from modicmap.evaluation.metrics import patient_bootstrap
from modicmap.grading.level_model import FEATURES, SIGNALS, evidence_features

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
GROUPS = {
    "marrow": [FEATURES.index("marrow")],
    "bands": [FEATURES.index("band_t1"), FEATURES.index("band_t2")],
    "disc": [FEATURES.index("disc_t1"), FEATURES.index("disc_t2")],
    "level": [i for i, f in enumerate(FEATURES) if f.startswith("level_") and f[-1].isdigit()],
}
COMBINATIONS = (
    ("marrow",),
    ("level",),
    ("bands",),
    ("disc",),
    ("marrow", "level"),
    ("disc", "level"),
    ("marrow", "disc"),
    ("marrow", "disc", "level"),
    ("bands", "disc", "level"),
    ("marrow", "bands", "disc", "level"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=SHARED)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    folds = json.loads((args.work / "folds.json").read_text())
    fold_of = {p: f for f, patients in enumerate(folds) for p in patients}
    gradings = read_gradings(args.data / "spider-midsag" / "gradings.csv")
    evidence, truth, patients = [], [], []
    for run in sorted((args.work / "test_runs").iterdir()):
        if not (run / "summary.json").is_file() or run.name not in fold_of:
            continue
        for item in read_level_evidence(run):
            if (run.name, item.index_from_sacrum) in gradings:
                evidence.append(item)
                truth.append(gradings[(run.name, item.index_from_sacrum)] > 0)
                patients.append(run.name)
    x = evidence_features(evidence)
    y, pid = np.array(truth), np.array(patients)
    fold = np.array([fold_of[p] for p in patients])
    scores: dict[str, np.ndarray] = {}
    for combination in COMBINATIONS:
        columns = [c for group in combination for c in GROUPS[group]]
        score = np.zeros(len(y))
        for f in range(len(folds)):
            train, test = fold != f, fold == f
            xs = x[:, columns].copy()
            for j, c in enumerate(columns):  # the training folds' mean for unread signals
                if c in SIGNALS:
                    mean = float(np.nanmean(xs[train, j]))
                    xs[:, j] = np.where(np.isnan(xs[:, j]), mean, xs[:, j])
            model = LogisticRegression(C=1.0, max_iter=2000).fit(xs[train], y[train])
            score[test] = model.predict_proba(xs[test])[:, 1]
        scores[" + ".join(combination)] = score
    full = scores[" + ".join(COMBINATIONS[-1])]
    rows = []
    for name, score in scores.items():
        diffs = [
            roc_auc_score(y[i], full[i]) - roc_auc_score(y[i], score[i])
            for i in patient_bootstrap(pid, args.bootstrap, seed=0)
            if len(np.unique(y[i])) == 2
        ]
        row = {
            "features": name,
            "auc": round(float(roc_auc_score(y, score)), 4),
            "full_minus_this": round(float(roc_auc_score(y, full) - roc_auc_score(y, score)), 4),
            "full_minus_this_ci95": [round(float(v), 4) for v in np.percentile(diffs, [2.5, 97.5])],
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps({"levels": len(y), "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
