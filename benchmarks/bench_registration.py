"""Speed and peak memory of T2 -> T1 registration on a clinical-size 3-D pair.

The pair is made from the real lumbar-vb DzZ T1/T2 volumes resampled to a
typical sagittal protocol: T1 15 x 512 x 512 (0.69 mm in-plane, 4 mm slices) and
T2 15 x 448 x 448 (0.78 mm), T2 displaced by 3 deg / 4 mm. Run in a fresh process
so the peak RSS is this job's own:

    python benchmarks/bench_registration.py [--data ../shared/data] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from modicmap.io.reader import read_image
from modicmap.registration.rigid import register_rigid


def protocol_grid(image: sitk.Image, matrix: int, slices: int, thickness: float) -> sitk.Image:
    """Resample a canonical volume onto a sagittal protocol grid covering the same centre."""
    size = np.asarray(image.GetSize()) * np.asarray(image.GetSpacing())
    spacing = (size[0] / matrix, size[1] / matrix, thickness)
    grid = sitk.Image([matrix, matrix, slices], sitk.sitkFloat32)
    grid.SetSpacing(spacing)
    grid.SetDirection(image.GetDirection())
    centre = np.asarray(
        image.TransformContinuousIndexToPhysicalPoint((np.asarray(image.GetSize()) - 1) / 2)
    )
    offset = np.asarray(
        grid.TransformContinuousIndexToPhysicalPoint((np.asarray(grid.GetSize()) - 1) / 2)
    )
    grid.SetOrigin(tuple(np.asarray(grid.GetOrigin()) + centre - offset))
    return sitk.Resample(image, grid, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).parents[2] / "shared" / "data")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    folder = args.data / "lumbar-vb"
    t1 = protocol_grid(read_image(folder / "VB1-DzZ_T1.nii.gz").image, 512, 15, 4.0)
    t2_native = read_image(folder / "VB1-DzZ_T2.nii.gz").image
    shift = sitk.Euler3DTransform()
    shift.SetCenter(t1.TransformContinuousIndexToPhysicalPoint((255.5, 255.5, 7.0)))
    shift.SetRotation(np.radians(3.0), 0.0, 0.0)
    shift.SetTranslation((0.0, 4.0, -3.0))
    t2 = protocol_grid(sitk.Resample(t2_native, t2_native, shift.GetInverse()), 448, 15, 4.0)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        result = register_rigid(t1, t2)
        times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "t1_size": t1.GetSize(),
                "t2_size": t2.GetSize(),
                "seconds": [round(t, 2) for t in times],
                "best_s": round(min(times), 2),
                "peak_rss_mb_process": round(peak),
                "rss_mb_before_registration": round(before),
                "rotation_deg": [round(a, 2) for a in result.rotation_deg],
                "translation_mm": [round(v, 2) for v in result.translation_mm],
                "warnings": list(result.warnings),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
