"""The level type prior on SPIDER dev, out of fold: graded levels typed with the prior or
by their voxels.

    python benchmarks/level_type_prior.py [--cv ROWS.json] [--runs W/level_net_runs] \
        [--json out.json]

``--runs``: the nested cross-validation's graded runs made with the prior
(``spider_level_model_cv.py --level-network``: every level graded by models that never saw
its patient). The same graded levels are typed twice, as levels.csv has them (the prior)
and by their voxels from endplates.csv (``voxel_type``, the rule of bundles without a
prior), and both are scored by ``modicmap.evaluation.metrics`` (4-class kappa, per-type
sensitivity / specificity) with a paired patient bootstrap of the kappa difference; the
levels the prior typed other than 2 are listed with their lesion signal and posterior.
``--cv``: per-level rows of an earlier nested cross-validation whose types came from the
voxels (``spider_level_model_cv.py --json``), scored as they are and with every graded level
typed 2 (what a 97 % type-2 prior gives unless a level's signal lies far out).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from sklearn.metrics import cohen_kappa_score

from modicmap.evaluation.gradings import read_gradings
from modicmap.evaluation.metrics import level_metrics, patient_bootstrap
from modicmap.grading.level_model import voxel_type
from modicmap.grading.tables import read_endplates_csv, read_levels_csv


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


def _paired(
    patients: np.ndarray, truth: np.ndarray, voxel: np.ndarray, other: np.ndarray, name: str
) -> dict[str, object]:
    """Both typings of the same levels scored, and the kappa difference (other - voxel) over
    paired patient bootstrap samples."""
    diff = [
        cohen_kappa_score(truth[i], other[i], labels=[0, 1, 2, 3])
        - cohen_kappa_score(truth[i], voxel[i], labels=[0, 1, 2, 3])
        for i in patient_bootstrap(patients, 1000)
    ]
    return {
        "voxel_types": _summary(patients, truth, voxel),
        name: _summary(patients, truth, other),
        "kappa_types_difference_ci95": np.percentile(diff, [2.5, 50, 97.5]).round(3).tolist(),
    }


def out_of_fold(cv: Path) -> dict[str, object]:
    rows = json.loads(cv.read_text())["rows"]
    patients = np.array([r["pid"] for r in rows])
    truth = np.array([r["truth"] for r in rows])
    voxel = np.array([r["modic"] for r in rows])
    typed_2 = np.where(voxel > 0, 2, 0)
    return {"levels": len(rows), **_paired(patients, truth, voxel, typed_2, "graded_typed_2")}


def with_prior(runs: Path, gradings: Path) -> dict[str, object]:
    """Runs graded with the prior: its types (levels.csv) against the voxel types of the same
    graded levels (from endplates.csv, as a bundle without the prior types them)."""
    grades = read_gradings(gradings)
    patients, truth, prior, voxel = [], [], [], []
    signal: dict[int, list[tuple[float, float]]] = {}
    overruled = []
    for run in sorted(p for p in runs.iterdir() if (p / "summary.json").is_file()):
        endplates = {(e.vertebra, e.endplate): e for e in read_endplates_csv(run / "endplates.csv")}
        evidence = {e["level"]: e for e in json.loads((run / "summary.json").read_text())["levels"]}
        for level in read_levels_csv(run / "levels.csv"):
            grade = grades.get((run.name, level.index_from_sacrum))
            if grade is None:
                continue
            patients.append(run.name)
            truth.append(grade)
            prior.append(level.modic)
            voxel.append(voxel_type(level, endplates) if level.modic else 0)
            item = evidence.get(level.level, {})
            if level.modic and item.get("lesion_t1z") is not None:
                signal.setdefault(grade, []).append((item["lesion_t1z"], item["lesion_t2z"]))
            if level.modic not in (0, 2):
                overruled.append(
                    {
                        "patient": run.name,
                        "level": level.level,
                        "typed": level.modic,
                        "graded": grade,
                        "signal": [item.get("lesion_t1z"), item.get("lesion_t2z")],
                        "posterior": item.get("type_posterior"),
                    }
                )
    typed = np.array(prior)
    return {
        "levels": len(truth),
        **_paired(np.array(patients), np.array(truth), np.array(voxel), typed, "type_prior"),
        "graded_levels": int((typed > 0).sum()),
        "typed_other_than_2": overruled,
        "median_lesion_signal_of_graded_levels_by_grade": {
            str(k): {"n": len(v), "median": np.median(v, axis=0).round(3).tolist()}
            for k, v in sorted(signal.items())
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cv", type=Path, default=None)
    parser.add_argument("--runs", type=Path, default=None)
    data = Path(__file__).parents[2] / "shared" / "data" / "spider-midsag"
    parser.add_argument("--gradings", type=Path, default=data / "gradings.csv")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    result = {}
    if args.cv is not None:
        result["out_of_fold_rows"] = out_of_fold(args.cv)
    if args.runs is not None:
        result["runs_with_prior"] = with_prior(args.runs, args.gradings)
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
