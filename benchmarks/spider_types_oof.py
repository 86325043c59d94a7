"""Type agreement on SPIDER dev: presence out of fold, types from a folder of `run` outputs.

    python benchmarks/spider_types_oof.py \
        --rows docs/benchmarks/spider_level_net_cv_2026-11-26-cut-top.json --runs R \
        --gradings ../shared/data/spider-midsag/gradings.csv --cut 0.4365 \
        [--json docs/benchmarks/spider_types_oof.json]

A level is called Modic when its out-of-fold probability (``rows`` of a nested
cross-validation, `spider_level_model_cv.py`) reaches ``--cut`` (the `balanced` operating
point); its type is the one the runs in ``--runs`` (the bundle under test, e.g. `batch` with
the default bundle on all 114 pairs) give it: the level's type where the run grades it,
else the most probable type of its ``type_posterior`` (summary.json), else the plurality of
its endplates' voxel types. The types are thus read from runs whose level model saw these
patients; only the type rule differs between two folders of runs, so the difference
between them is the type rule's. Prints and stores the 4-class kappa (95 % CI, bootstrap
over patients), per-type sensitivity and the confusion matrix
(`modicmap.evaluation.metrics`, as `modicmap evaluate`).
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


def run_types(runs: Path) -> dict[tuple[str, int], int]:
    """(patient, index from sacrum) -> the type the run gives the level if it were Modic."""
    out: dict[tuple[str, int], int] = {}
    for study in sorted(p for p in runs.iterdir() if (p / "levels.csv").is_file()):
        evidence = json.loads((study / "summary.json").read_text())["levels"]
        posterior = {e["index_from_sacrum"]: e.get("type_posterior") for e in evidence}
        with (study / "endplates.csv").open(newline="") as handle:
            endplates = {(r["vertebra"], r["endplate"]): r for r in csv.DictReader(handle)}
        with (study / "levels.csv").open(newline="") as handle:
            for row in csv.DictReader(handle):
                index = int(row["index_from_sacrum"])
                kind = int(row["modic"])
                if not kind and posterior.get(index):
                    kind = int(np.argmax(posterior[index])) + 1
                if not kind:
                    shares = np.zeros(3)
                    upper, lower = row["upper_vertebra"], row["lower_vertebra"]
                    sides = ((upper, "inferior"), (lower, "superior"))
                    for key in sides:
                        if key in endplates:
                            found = endplates[key]
                            shares += [float(found[f"type{t}_fraction"]) for t in (1, 2, 3)]
                    kind = int(np.argmax(shares)) + 1 if shares.any() else 2
                out[(study.name, index)] = kind
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=Path, required=True)
    parser.add_argument("--runs", type=Path, required=True)
    parser.add_argument("--gradings", type=Path, required=True)
    parser.add_argument("--cut", type=float, required=True)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    truth = read_gradings(args.gradings)
    types = run_types(args.runs)
    rows = json.loads(args.rows.read_text())["rows"]
    pids, graded, called, probability = [], [], [], []
    for row in rows:
        key = (str(row["pid"]), int(row["index"]))
        if key not in types or key not in truth:
            continue
        pids.append(key[0])
        graded.append(truth[key])
        called.append(types[key] if row["probability"] >= args.cut else 0)
        probability.append(float(row["probability"]))
    y, p, ids = np.array(graded), np.array(called), np.array(pids)
    metrics = level_metrics(ids, y, p, np.array(probability), bootstrap=0)
    draws = [
        cohen_kappa_score(y[pick], p[pick], labels=[0, 1, 2, 3])
        for pick in patient_bootstrap(ids, args.bootstrap)
    ]
    result = {
        "levels": metrics.levels,
        "patients": metrics.patients,
        "cut": args.cut,
        "kappa_4class": round(metrics.kappa_types, 3),
        "kappa_4class_ci95": [round(float(v), 3) for v in np.percentile(draws, [2.5, 97.5])],
        "kappa_presence": round(metrics.kappa_presence, 3),
        "type_sensitivity": {
            str(t): None if row["graded"] == 0 else round(row["sensitivity"], 3)
            for t, row in metrics.per_type.items()
        },
        "type_graded": {str(t): int(row["graded"]) for t, row in metrics.per_type.items()},
        "confusion_graded_x_called": metrics.confusion_types,
        "command": "python benchmarks/spider_types_oof.py "
        + f"--rows {args.rows} --runs RUNS --gradings GRADINGS --cut {args.cut}",
    }
    print(json.dumps(result, indent=1))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
