"""Paired comparison of two sets of SPIDER dev runs (e.g. two bundles, or a setting on/off).

On the levels both sets matched to the gradings (``index_from_sacrum`` == ``IVD label``):
ROC AUC of the level probability and presence kappa of the level grade of each, and
their differences (B minus A) with a paired patient-bootstrap 95 % CI. With ``--folds``
(the cross-validation's folds.json) also the kappa of each when its cut is chosen like the
baselines' in ``spider_levels_eval.py`` (Youden's J on the other folds' levels).

    python benchmarks/spider_runs_compare.py A/test_runs B/test_runs [--folds folds.json]
        [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import cohen_kappa_score, roc_auc_score

from modicmap.evaluation.gradings import MatchedLevel, match_runs, read_gradings

sys.path.insert(0, str(Path(__file__).parent))
from spider_levels_eval import bootstrap_auc_difference, cross_fitted_grades, kappa_difference

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


Key = tuple[str, int]  # (patient, index_from_sacrum)


def matched(runs: Path, gradings: dict[Key, int]) -> dict[Key, MatchedLevel]:
    return {(m.patient, m.index_from_sacrum): m for m in match_runs(runs, gradings).levels}


def compare(
    a: Path, b: Path, gradings_csv: Path, folds: list[list[str]] | None = None
) -> dict[str, object]:
    gradings = read_gradings(gradings_csv)
    first, second = matched(a, gradings), matched(b, gradings)
    keys = sorted(set(first) & set(second))
    patients = np.array([k[0] for k in keys])
    y = np.array([first[k].graded > 0 for k in keys], int)
    p_a = np.array([first[k].probability for k in keys])
    p_b = np.array([second[k].probability for k in keys])
    g_a = np.array([first[k].predicted > 0 for k in keys], int)
    g_b = np.array([second[k].predicted > 0 for k in keys], int)
    result: dict[str, object] = {
        "levels": {"a": len(first), "b": len(second), "common": len(keys)},
        "auc": {"a": float(roc_auc_score(y, p_a)), "b": float(roc_auc_score(y, p_b))},
        "kappa_presence": {
            "a": float(cohen_kappa_score(y, g_a)),
            "b": float(cohen_kappa_score(y, g_b)),
        },
        "auc_b_minus_a": bootstrap_auc_difference(patients, y, p_b, p_a),
        "kappa_b_minus_a": kappa_difference(patients, y, g_b, g_a),
    }
    if folds is not None:
        x_a = cross_fitted_grades(patients, y, p_a, folds)
        x_b = cross_fitted_grades(patients, y, p_b, folds)
        result["cross_fitted_kappa"] = {
            "a": float(cohen_kappa_score(y, x_a)),
            "b": float(cohen_kappa_score(y, x_b)),
            "b_minus_a": kappa_difference(patients, y, x_b, x_a),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path, help="runs folder A (the reference)")
    parser.add_argument("b", type=Path, help="runs folder B")
    parser.add_argument("--gradings", type=Path, default=SHARED / "spider-midsag" / "gradings.csv")
    parser.add_argument("--folds", type=Path, default=None, help="folds.json (patients)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    folds = None if args.folds is None else json.loads(args.folds.read_text())
    result = compare(args.a, args.b, args.gradings, folds)
    text = json.dumps(result, indent=1)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
