"""Where SPIDER levels get their Modic type: the signal of the voxels that graded them.

    python benchmarks/spider_typing_signal.py --runs W/test_runs [--json out.json]

For every graded endplate of ``modicmap run`` outputs on SPIDER dev pairs, the mean
(T1 z, T2 z) of its lesion voxels (the pipeline's study-scope z-scores, recomputed from
the T1, ``t2_registered`` and ``vertebrae``), grouped by the readers' grade of the level.
Also re-types every graded endplate by the nearest paper centroid of that MEAN instead
of the plurality of voxel types (the run's rule), to see whether the typing rule or the
detected voxels limit the 4-class result.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from sklearn.metrics import cohen_kappa_score, confusion_matrix

from modicmap.evaluation.gradings import read_gradings
from modicmap.grading.endplates import Endplate, endplate_regions
from modicmap.grading.grade import disc_levels, level_type
from modicmap.grading.typing import PAPER_CENTROIDS
from modicmap.io.reader import read_image
from modicmap.labels import vertebra_name
from modicmap.zscore import zscore_maps


def array(path: Path) -> tuple[np.ndarray, sitk.Image]:
    image = read_image(path).image
    return sitk.GetArrayFromImage(image), image


def analyse(runs: Path, images: Path, gradings: Path) -> dict[str, object]:
    grades = read_gradings(gradings)
    centres = np.asarray(PAPER_CENTROIDS.means)
    rows = []
    for run in sorted(p for p in runs.iterdir() if (p / "levels.csv").is_file()):
        pid = run.name
        t1, grid = array(images / f"{pid}_t1.nii.gz")
        t2, _ = array(run / "t2_registered.nii.gz")
        bodies = array(run / "vertebrae.nii.gz")[0].astype(np.int32)
        modic = array(run / "modic_map.nii.gz")[0].astype(np.uint8)
        z = zscore_maps(t1, t2, bodies)
        with (run / "endplates.csv").open(newline="") as handle:
            graded = {
                (r["vertebra"], r["endplate"]): int(r["modic"]) for r in csv.DictReader(handle)
            }
        endplates: dict[tuple[int, Endplate], tuple[int, int, float, list[float] | None]] = {}
        for (code, side), region in endplate_regions(bodies, grid.GetSpacing()[::-1]).items():
            lesion = region & (modic > 0)
            run_type = graded.get((vertebra_name(code), side.value), 0)
            if not run_type or not lesion.any():
                endplates[(code, side)] = (0, 0, 0.0, None)
                continue
            mean = [float(z.t1z[lesion].mean()), float(z.t2z[lesion].mean())]
            by_mean = int(((centres - np.asarray(mean)) ** 2).sum(1).argmin()) + 1
            endplates[(code, side)] = (run_type, by_mean, float(lesion.sum()), mean)
        present = [int(c) for c in np.unique(bodies) if c]
        for upper, lower, index in disc_levels(present):
            a = endplates.get((upper, Endplate.INFERIOR))
            b = endplates.get((lower, Endplate.SUPERIOR))
            if (pid, index) not in grades or a is None or b is None:
                continue
            rows.append(
                {
                    "patient": pid,
                    "index_from_sacrum": index,
                    "graded": grades[(pid, index)],
                    "run": level_type((a[0], a[2]), (b[0], b[2])),
                    "by_mean": level_type((a[1], a[2]), (b[1], b[2])),
                    "means": [m for m in (a[3], b[3]) if m is not None],
                }
            )
    truth = np.array([r["graded"] for r in rows])
    out: dict[str, object] = {"levels": len(rows)}
    for rule in ("run", "by_mean"):
        pred = np.array([r[rule] for r in rows])
        out[rule] = {
            "kappa_4class": float(cohen_kappa_score(truth, pred)),
            "type2_sensitivity": float((pred[truth == 2] == 2).mean()),
            "type2_specificity": float((pred[truth != 2] != 2).mean()),
            "confusion": confusion_matrix(truth, pred, labels=[0, 1, 2, 3]).tolist(),
        }
    for grade in (0, 2):
        means = np.array([m for r in rows if r["graded"] == grade for m in r["means"]])
        out[f"graded_{grade}_endplate_means"] = {
            "n": len(means),
            "mean": means.mean(0).round(3).tolist(),
            "quartiles": np.percentile(means, (25, 50, 75), axis=0).round(3).tolist(),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, required=True)
    data = Path(__file__).parents[2] / "shared" / "data" / "spider-midsag"
    parser.add_argument("--images", type=Path, default=data / "images")
    parser.add_argument("--gradings", type=Path, default=data / "gradings.csv")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    result = analyse(args.runs, args.images, args.gradings)
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
