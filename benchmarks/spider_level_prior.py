"""Would a disc-level prior help the level grade? A probe on the SPIDER cross-validation.

For every fold of a ``spider_graded_cv.py`` work folder: a logistic model of "any Modic"
from the logit of the run's level probability, with the disc level's prior (log-odds of
Modic per ``index_from_sacrum``, levels 5 and up pooled, from the gradings of the patients
outside that fold's test set) as an offset, is fitted on the fold's VALIDATION runs (the
patients its threshold is calibrated on), and its cut (Youden's J) too; then applied to
the fold's test runs. Reported beside the same runs without the prior: pooled out-of-fold
ROC AUC, presence kappa, and the AUC difference to the disc level alone (paired patient
bootstrap). No test patient's grading enters its own prediction.

    python benchmarks/spider_level_prior.py --work W [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import cohen_kappa_score, roc_auc_score

from modicmap.evaluation.calibration import youden_threshold
from modicmap.evaluation.gradings import MatchedLevel, match_runs, read_gradings

sys.path.insert(0, str(Path(__file__).parent))
from spider_levels_eval import bootstrap_auc_difference, kappa_difference

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
TOP_LEVEL = 5  # levels from the fifth disc above the sacrum up share one prior


def _columns(rows: list[MatchedLevel]) -> tuple[np.ndarray, ...]:
    """patient, index_from_sacrum, level probability, graded (0/1), run's grade (0/1)."""
    return (
        np.array([m.patient for m in rows]),
        np.array([m.index_from_sacrum for m in rows]),
        np.array([m.probability for m in rows], float),
        np.array([m.graded > 0 for m in rows], int),
        np.array([m.predicted > 0 for m in rows], int),
    )


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-3, 1 - 1e-3)
    return np.log(p / (1 - p))


def level_prior(gradings: dict, exclude: set[str]) -> dict[int, float]:
    """Log-odds of any Modic per (pooled) disc level, add-one smoothed."""
    counts: dict[int, list[int]] = {}
    for (patient, index), modic in gradings.items():
        if patient not in exclude:
            counts.setdefault(min(index, TOP_LEVEL), []).append(int(modic > 0))
    return {k: float(np.log((sum(v) + 1) / (len(v) - sum(v) + 1))) for k, v in counts.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="spider_graded_cv.py folder")
    parser.add_argument("--data", type=Path, default=SHARED)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    gradings = read_gradings(args.data / "spider-midsag" / "gradings.csv")
    folds = json.loads((args.work / "folds.json").read_text())
    test_levels = match_runs(args.work / "test_runs", gradings).levels
    parts: list[tuple[np.ndarray, ...]] = []
    for f, test in enumerate(folds):
        prior = level_prior(gradings, set(test))
        _, vi, vp, vy, _ = _columns(match_runs(args.work / f"val_runs{f}", gradings).levels)
        model = LogisticRegression().fit(_logit(vp)[:, None], vy)

        def posterior(p: np.ndarray, i: np.ndarray, model=model, prior=prior) -> np.ndarray:
            offset = np.array([prior[min(k, TOP_LEVEL)] for k in i])
            return 1 / (1 + np.exp(-(model.decision_function(_logit(p)[:, None]) + offset)))

        cut = youden_threshold(vy, posterior(vp, vi), strict=False).threshold
        tp, ti, tprob, ty, graded = _columns([m for m in test_levels if m.patient in set(test)])
        post = posterior(tprob, ti)
        parts.append((tp, ti, tprob, ty, post, (post >= cut).astype(int), graded))
    patients, index, raw, y, post, grade, bundle_grade = (
        np.concatenate(c) for c in zip(*parts, strict=True)
    )
    level = -index.astype(float)
    result = {
        "work": str(args.work),
        "levels": len(y),
        "auc_without_prior": float(roc_auc_score(y, raw)),
        "auc_with_prior": float(roc_auc_score(y, post)),
        "auc_level_alone": float(roc_auc_score(y, level)),
        "auc_with_prior_minus_level": bootstrap_auc_difference(patients, y, post, level),
        "auc_without_prior_minus_level": bootstrap_auc_difference(patients, y, raw, level),
        "kappa_without_prior": float(cohen_kappa_score(y, bundle_grade)),
        "kappa_with_prior": float(cohen_kappa_score(y, grade)),
        "kappa_with_minus_without": kappa_difference(patients, y, grade, bundle_grade),
    }
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
