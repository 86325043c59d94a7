"""Registration accuracy on the real lumbar-vb DzZ T1/T2 pair (issue 2 acceptance).

The pair shares one grid but was acquired separately. T2 is displaced by N seeded
random rigid transforms (up to 8 deg about left-right, 3 deg about the other
axes, 10 mm in-plane, 3 mm laterally) and registered back to T1. Error = mean
distance over vertebral-body voxels (VB1-DzZ_T1_vb) between the recovered
mapping and (i) the tool's own result on the undisplaced pair composed with the
displacement, (ii) the displacement alone (identity = the pair's grids).

    python benchmarks/registration_accuracy.py --data ../shared/data --n 20
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from modicmap.io.reader import read_image
from modicmap.registration.rigid import register_rigid


def body_points(mask_path: Path, reference: sitk.Image, step: int = 20) -> np.ndarray:
    mask = sitk.DICOMOrient(sitk.ReadImage(str(mask_path)), "PIR")
    idx = np.argwhere(sitk.GetArrayFromImage(mask) > 0)[::step]
    return np.array(
        [reference.TransformIndexToPhysicalPoint([int(i) for i in p[::-1]]) for p in idx]
    )


def mean_distance(points_a: np.ndarray, points_b: np.ndarray) -> float:
    return float(np.linalg.norm(points_a - points_b, axis=1).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).parents[2] / "shared" / "data")
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    folder = args.data / "lumbar-vb"
    t1 = read_image(folder / "VB1-DzZ_T1.nii.gz").image
    t2 = read_image(folder / "VB1-DzZ_T2.nii.gz").image
    points = body_points(folder / "VB1-DzZ_T1_vb.nii.gz", t1)
    own = register_rigid(t1, t2)
    own_points = np.array([own.transform.TransformPoint(p) for p in points])
    print(
        f"undisplaced pair: {mean_distance(own_points, points):.3f} mm from identity, "
        f"{own.seconds:.1f} s"
    )
    rng = np.random.default_rng(args.seed)
    centre = t1.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2 for n in t1.GetSize()])
    rows = []
    for i in range(args.n):
        # world LPS axes: x = left-right, y = anterior-posterior, z = superior-inferior
        displacement = sitk.Euler3DTransform()
        displacement.SetCenter(centre)
        angles = (rng.uniform(-8, 8), rng.uniform(-3, 3), rng.uniform(-3, 3))
        shifts = (rng.uniform(-3, 3), rng.uniform(-10, 10), rng.uniform(-10, 10))
        displacement.SetRotation(*np.radians(angles))
        displacement.SetTranslation(shifts)
        # T2 content at q appears at displacement(q) in the displaced image
        moved = sitk.Resample(t2, t2, displacement.GetInverse(), sitk.sitkLinear, 0.0)
        start = time.perf_counter()
        result = register_rigid(t1, moved)
        seconds = time.perf_counter() - start
        found = np.array([result.transform.TransformPoint(p) for p in points])
        expect_own = np.array([displacement.TransformPoint(q) for q in own_points])
        expect_id = np.array([displacement.TransformPoint(p) for p in points])
        row = {
            "angles_deg": [round(a, 2) for a in angles],
            "shifts_mm": [round(s, 2) for s in shifts],
            "error_vs_own_mm": round(mean_distance(found, expect_own), 3),
            "error_vs_identity_mm": round(mean_distance(found, expect_id), 3),
            "seconds": round(seconds, 2),
            "warnings": list(result.warnings),
        }
        rows.append(row)
        print(i, row, flush=True)
    own_err = [r["error_vs_own_mm"] for r in rows]
    id_err = [r["error_vs_identity_mm"] for r in rows]
    summary = {
        "n": args.n,
        "error_vs_own_mm": {"mean": float(np.mean(own_err)), "max": float(np.max(own_err))},
        "error_vs_identity_mm": {"mean": float(np.mean(id_err)), "max": float(np.max(id_err))},
        "seconds_mean": float(np.mean([r["seconds"] for r in rows])),
    }
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "cases": rows}, indent=2))


if __name__ == "__main__":
    main()
