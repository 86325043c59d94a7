"""Which z-score scope carries the Modic signal on real data: study, body or slice?

METHOD.md step 3 leaves the scope of the T1/T2 z-scores open. For every graded SPIDER
level of existing `run` outputs (their registered T2 and vertebral bodies), this scores
"any Modic" by two hand-made endplate features computed in each scope and reports the
ROC AUC with a patient-bootstrap 95 % CI:
* bright share: share of the level's two endplate regions with T1 z > 1 and T2 z > 0;
* T1 p90: 90th percentile of T1 z over those regions (type 2, fatty, is T1 bright).
Scopes: ``study`` (one mean/sd per sequence over all body voxels: the pipeline's), ``body``
(per vertebral body), ``slice`` (per sagittal slice; the same as study on single slices).

    python benchmarks/zscore_scope.py --runs RUNS [--json out.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from modicmap.evaluation.gradings import read_gradings
from modicmap.grading.endplates import Endplate, endplate_regions
from modicmap.labels import vertebra_code

sys.path.insert(0, str(Path(__file__).parent))
from spider_levels_eval import bootstrap_auc

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def _read(path: Path, pixel=sitk.sitkFloat32) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.DICOMOrient(sitk.ReadImage(str(path), pixel), "PIR"))


def zscores(image: np.ndarray, bodies: np.ndarray, scope: str) -> np.ndarray:
    out = np.zeros(image.shape, np.float32)
    if scope == "study":
        groups = [bodies > 0]
    elif scope == "body":
        groups = [bodies == c for c in np.unique(bodies) if c]
    else:
        groups = [np.zeros_like(bodies, bool) for _ in range(bodies.shape[0])]
        for k, g in enumerate(groups):
            g[k] = bodies[k] > 0
    for g in groups:
        values = image[g]
        if values.size > 1:
            out[g] = (values - values.mean()) / (values.std() or 1.0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=SHARED)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    gradings = read_gradings(args.data / "spider-midsag" / "gradings.csv")
    images = args.data / "spider-midsag" / "images"
    rows: list[dict] = []
    for run in sorted(p for p in args.runs.iterdir() if (p / "levels.csv").is_file()):
        t1 = _read(images / f"{run.name}_t1.nii.gz")
        t2 = _read(run / "t2_registered.nii.gz")
        bodies_image = sitk.DICOMOrient(sitk.ReadImage(str(run / "vertebrae.nii.gz")), "PIR")
        bodies = sitk.GetArrayFromImage(bodies_image)
        spacing = tuple(bodies_image.GetSpacing()[::-1])
        regions = endplate_regions(bodies, spacing)  # type: ignore[arg-type]
        z = {s: (zscores(t1, bodies, s), zscores(t2, bodies, s)) for s in ("study", "body")}
        with (run / "levels.csv").open(newline="") as handle:
            for row in csv.DictReader(handle):
                key = (run.name, int(row["index_from_sacrum"]))
                a = regions.get((vertebra_code(row["upper_vertebra"]), Endplate.INFERIOR))
                b = regions.get((vertebra_code(row["lower_vertebra"]), Endplate.SUPERIOR))
                if key not in gradings or a is None or b is None:
                    continue
                band = a | b
                record = {"pid": run.name, "truth": gradings[key] > 0}
                for scope, (t1z, t2z) in z.items():
                    record[f"bright_{scope}"] = float(((t1z > 1) & (t2z > 0))[band].mean())
                    record[f"t1p90_{scope}"] = float(np.percentile(t1z[band], 90))
                rows.append(record)
    patients = np.array([r["pid"] for r in rows])
    y = np.array([r["truth"] for r in rows], int)
    result = {"levels": len(rows), "patients": len(set(patients.tolist()))}
    for name in ("bright_study", "bright_body", "t1p90_study", "t1p90_body"):
        result[name] = bootstrap_auc(patients, y, np.array([r[name] for r in rows]))
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
