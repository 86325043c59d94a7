"""Does a registration schedule change the result? Time and displacement against the defaults.

Each variant of ``RegistrationSettings`` is run on the same pairs as the shipped defaults,
and the two transforms are compared where it matters (mean and max distance, over the
fixed image's points, between where each maps them):

- the real lumbar-vb DzZ T1/T2 pair, undisplaced and displaced by ``--n`` seeded rigid
  transforms (as ``registration_accuracy.py``; points: its vertebral-body voxels);
- the same pair on a clinical 15 x 512 x 512 / 15 x 448 x 448 protocol grid (as
  ``bench_registration.py``; points: the body voxels on that grid);
- ``--spider`` SPIDER dev mid-sagittal T1/T2 pairs (the 2-D path; points: T1 foreground).

On the displaced DzZ pairs the error against the known displacement (composed with the
defaults' own result on the undisplaced pair, as ``registration_accuracy.py``) is reported
too. Seconds are CPU seconds of the (single-threaded) registration, so they stay
comparable on a busy machine.

    python benchmarks/registration_settings.py --variant min_step=0.01 --json W/reg.json
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from bench_registration import protocol_grid
from registration_accuracy import body_points

from modicmap.io.reader import read_image
from modicmap.registration.result import RegistrationSettings
from modicmap.registration.rigid import foreground_mask, register_rigid


def parse_variant(text: str) -> RegistrationSettings:
    """``key=value[,key=value]`` over :class:`RegistrationSettings` fields (tuples: ``a/b/c``)."""
    changes: dict[str, object] = {}
    for item in text.split(","):
        key, _, value = item.partition("=")
        default = getattr(RegistrationSettings(), key)
        if isinstance(default, tuple):
            changes[key] = tuple(type(default[0])(v) for v in value.split("/"))
        else:
            changes[key] = type(default)(value)
    return replace(RegistrationSettings(), **changes)


def foreground_points(image: sitk.Image, n: int = 5000) -> np.ndarray:
    idx = np.argwhere(foreground_mask(image))
    idx = idx[:: max(1, len(idx) // n)]
    return np.array([image.TransformIndexToPhysicalPoint([int(i) for i in p[::-1]]) for p in idx])


def pairs(data: Path, n: int, spider: int, seed: int):
    """(name, fixed, moving, points) for every pair of the comparison."""
    folder = data / "lumbar-vb"
    t1 = read_image(folder / "VB1-DzZ_T1.nii.gz").image
    t2 = read_image(folder / "VB1-DzZ_T2.nii.gz").image
    points = body_points(folder / "VB1-DzZ_T1_vb.nii.gz", t1)
    own = register_rigid(t1, t2)
    own_points = np.array([own.transform.TransformPoint(p) for p in points])
    yield "DzZ", t1, t2, points, None
    rng = np.random.default_rng(seed)
    centre = t1.TransformContinuousIndexToPhysicalPoint([(s - 1) / 2 for s in t1.GetSize()])
    for i in range(n):
        displacement = sitk.Euler3DTransform()
        displacement.SetCenter(centre)
        angles = (rng.uniform(-8, 8), rng.uniform(-3, 3), rng.uniform(-3, 3))
        displacement.SetRotation(*np.radians(angles))
        displacement.SetTranslation(
            (rng.uniform(-3, 3), rng.uniform(-10, 10), rng.uniform(-10, 10))
        )
        moved = sitk.Resample(t2, t2, displacement.GetInverse(), sitk.sitkLinear, 0.0)
        expected = np.array([displacement.TransformPoint(q) for q in own_points])
        yield f"DzZ displaced {i}", t1, moved, points, expected
    clinical_t1 = protocol_grid(t1, 512, 15, 4.0)
    shift = sitk.Euler3DTransform()
    shift.SetCenter(clinical_t1.TransformContinuousIndexToPhysicalPoint((255.5, 255.5, 7.0)))
    shift.SetRotation(np.radians(3.0), 0.0, 0.0)
    shift.SetTranslation((0.0, 4.0, -3.0))
    clinical_t2 = protocol_grid(sitk.Resample(t2, t2, shift.GetInverse()), 448, 15, 4.0)
    expected = np.array([shift.TransformPoint(q) for q in own_points])
    yield "DzZ 15x512x512", clinical_t1, clinical_t2, points, expected
    images = data / "spider-midsag" / "images"
    pids = sorted({int(p.name.split("_")[0]) for p in images.glob("*_t1.nii.gz")})[:spider]
    for pid in pids:
        f = read_image(images / f"{pid}_t1.nii.gz").image
        m = read_image(images / f"{pid}_t2.nii.gz").image
        yield f"SPIDER {pid}", f, m, foreground_points(f), None


def _mean_distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b, axis=1).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).parents[2] / "shared" / "data")
    parser.add_argument("--variant", action="append", default=[], help="key=value[,key=value]")
    parser.add_argument("--n", type=int, default=10, help="displaced DzZ pairs")
    parser.add_argument("--spider", type=int, default=20, help="SPIDER dev pairs (2-D path)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    variants = {text: parse_variant(text) for text in args.variant}
    rows = []
    for name, fixed, moving, points, expected in pairs(args.data, args.n, args.spider, args.seed):
        start = time.process_time()
        base = register_rigid(fixed, moving)
        row: dict[str, object] = {"pair": name, "default_s": round(time.process_time() - start, 3)}
        mapped = np.array([base.transform.TransformPoint(p) for p in points])
        if expected is not None:
            row["default_error_mm"] = round(_mean_distance(mapped, expected), 4)
        for text, settings in variants.items():
            start = time.process_time()
            result = register_rigid(fixed, moving, settings)
            seconds = time.process_time() - start
            other = np.array([result.transform.TransformPoint(p) for p in points])
            distance = np.linalg.norm(other - mapped, axis=1)
            row[text] = {
                "s": round(seconds, 3),
                "mean_mm": round(float(distance.mean()), 4),
                "max_mm": round(float(distance.max()), 4),
            }
            if expected is not None:
                row[text]["error_mm"] = round(_mean_distance(other, expected), 4)
        rows.append(row)
        print(json.dumps(row), flush=True)
    errors = [r["default_error_mm"] for r in rows if "default_error_mm" in r]
    summary: dict[str, object] = {
        "default_s": float(np.sum([r["default_s"] for r in rows])),
        "default_error_mm_mean": float(np.mean(errors)) if errors else None,
    }
    for text in variants:
        cells = [r[text] for r in rows]
        summary[text] = {
            "s": float(np.sum([c["s"] for c in cells])),
            "mean_mm_max": float(np.max([c["mean_mm"] for c in cells])),
            "max_mm_max": float(np.max([c["max_mm"] for c in cells])),
            "error_mm_mean": float(np.mean([c["error_mm"] for c in cells if "error_mm" in c]))
            if errors
            else None,
        }
    print(json.dumps(summary, indent=1))
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "pairs": rows}, indent=1))


if __name__ == "__main__":
    main()
