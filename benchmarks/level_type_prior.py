"""The level type prior on SPIDER dev, out of fold: graded levels typed by their voxels vs 2.

    python benchmarks/level_type_prior.py --cv docs/benchmarks/spider_level_net_cv.json \
        [--runs W] [--json out.json]

``--cv``: the per-level rows of the nested cross-validation (``spider_level_model_cv.py
--json``; every level graded by models that never saw its patient). Its types come from the
voxels (the rule before the type prior). Every graded level typed 2 is what the shipped
prior (97 % type 2) gives unless a level's lesion signal lies far out on another type's side;
the presence grades are the same. Both are scored by ``modicmap.evaluation.metrics`` (4-class
kappa, per-type sensitivity / specificity) with a paired patient bootstrap of the kappa
difference. ``--runs``: `run` outputs made with the prior (summary.json ``levels``); reports
how many graded levels the prior typed other than 2 and the median lesion signal by grade.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
from sklearn.metrics import cohen_kappa_score

from modicmap.evaluation.gradings import read_gradings
from modicmap.evaluation.metrics import level_metrics, patient_bootstrap


def _summary(patients: np.ndarray, truth: np.ndarray, typed: np.ndarray) -> dict[str, object]:
    m = level_metrics(patients, truth, typed, (typed > 0).astype(float), bootstrap=0)
    kappas = [
        cohen_kappa_score(truth[i], typed[i], labels=[0, 1, 2, 3])
        for i in patient_bootstrap(patients, 1000)
    ]
    return {
        "kappa_types": round(m.kappa_types, 4),
        "kappa_types_ci95": np.percentile(kappas, [2.5, 97.5]).round(3).tolist(),
        "kappa_presence": round(m.kappa_presence, 4),
        "per_type": m.per_type,
        "confusion": m.confusion_types,
    }


def out_of_fold(cv: Path) -> dict[str, object]:
    rows = json.loads(cv.read_text())["rows"]
    patients = np.array([r["pid"] for r in rows])
    truth = np.array([r["truth"] for r in rows])
    voxel = np.array([r["modic"] for r in rows])
    prior = np.where(voxel > 0, 2, 0)
    diff = [
        cohen_kappa_score(truth[i], prior[i], labels=[0, 1, 2, 3])
        - cohen_kappa_score(truth[i], voxel[i], labels=[0, 1, 2, 3])
        for i in patient_bootstrap(patients, 1000)
    ]
    return {
        "levels": len(rows),
        "voxel_types": _summary(patients, truth, voxel),
        "graded_typed_2": _summary(patients, truth, prior),
        "kappa_types_difference_ci95": np.percentile(diff, [2.5, 50, 97.5]).round(3).tolist(),
    }


def with_prior(runs: Path, gradings: Path) -> dict[str, object]:
    grades = read_gradings(gradings)
    signal: dict[int, list[tuple[float, float]]] = {}
    other_than_2, graded = 0, 0
    for run in sorted(p for p in runs.iterdir() if (p / "summary.json").is_file()):
        with (run / "levels.csv").open(newline="") as handle:
            typed = {r["level"]: int(r["modic"]) for r in csv.DictReader(handle)}
        for item in json.loads((run / "summary.json").read_text())["levels"]:
            if typed.get(item["level"]):
                graded += 1
                other_than_2 += typed[item["level"]] != 2
                grade = grades.get((run.name, int(item["index_from_sacrum"])))
                if grade is not None and item.get("lesion_t1z") is not None:
                    signal.setdefault(grade, []).append((item["lesion_t1z"], item["lesion_t2z"]))
    return {
        "graded_levels": graded,
        "typed_other_than_2": other_than_2,
        "median_lesion_signal_by_grade": {
            str(k): {"n": len(v), "median": np.median(v, axis=0).round(3).tolist()}
            for k, v in sorted(signal.items())
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cv", type=Path, required=True)
    parser.add_argument("--runs", type=Path, default=None)
    data = Path(__file__).parents[2] / "shared" / "data" / "spider-midsag"
    parser.add_argument("--gradings", type=Path, default=data / "gradings.csv")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    result = {"out_of_fold": out_of_fold(args.cv)}
    if args.runs is not None:
        result["runs_with_prior"] = with_prior(args.runs, args.gradings)
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
