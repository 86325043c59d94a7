"""How the swapped-sequence check separates right and swapped T1/T2 pairs on SPIDER dev.

For every `run` output folder in RUNS (made with T1 and T2 given the right way), the canal
readings of :mod:`modicmap.pipeline.sequence_check` on the T1 (``--images``) and the run's
``t2_registered.nii.gz``, within the run's own bodies; prints the ratio T2 / T1 of every
pair, how many right pairs would warn and how many swapped ones (the inverse ratio) would.

    python benchmarks/sequence_swap_check.py --runs W/test_runs
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from modicmap.pipeline.sequence_check import SWAP_RATIO, canal_to_marrow

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, required=True)
    parser.add_argument("--images", type=Path, default=SHARED / "spider-midsag" / "images")
    args = parser.parse_args()
    ratios: dict[str, float] = {}
    for run in sorted(p for p in args.runs.iterdir() if (p / "vertebrae.nii.gz").is_file()):
        bodies = sitk.ReadImage(str(run / "vertebrae.nii.gz"))
        labels = sitk.GetArrayFromImage(bodies)
        t1 = sitk.GetArrayFromImage(sitk.ReadImage(str(args.images / f"{run.name}_t1.nii.gz")))
        t2 = sitk.GetArrayFromImage(sitk.ReadImage(str(run / "t2_registered.nii.gz")))
        x, y, z = bodies.GetSpacing()
        a = canal_to_marrow(t1.astype(np.float32), labels, (z, y, x))
        b = canal_to_marrow(t2.astype(np.float32), labels, (z, y, x))
        if a and b:
            ratios[run.name] = b / a
    values = np.array(list(ratios.values()))
    print(
        json.dumps(
            {
                "pairs": len(values),
                "ratio_min_median_max": [
                    round(float(v), 3) for v in np.percentile(values, [0, 50, 100])
                ],
                "right_pairs_warned": int((values < SWAP_RATIO).sum()),
                "swapped_pairs_warned": int((1 / values < SWAP_RATIO).sum()),
                "lowest": sorted((round(v, 3), k) for k, v in ratios.items())[:5],
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
