"""Synthetic T1/T2 mid-sagittal slices beside real SPIDER dev slices, to judge by eye.

python benchmarks/synth_contact_sheet.py --out docs/figures/synth_vs_spider.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import SimpleITK as sitk

from modicmap.io.reader import read_image
from modicmap.synth.study import SynthOptions, synthesize_study


def show(ax: plt.Axes, image: np.ndarray, title: str) -> None:
    low, high = np.percentile(image, (1, 99.5))
    ax.imshow(np.clip((image - low) / max(high - low, 1e-6), 0, 1), cmap="gray")
    ax.set_title(title, fontsize=9)
    ax.axis("off")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).parents[2] / "shared" / "data")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).parents[1] / "docs" / "figures" / "synth_vs_spider.png",
    )
    parser.add_argument("--pids", type=int, nargs="+", default=[2, 23, 100])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    n = max(len(args.pids), len(args.seeds))
    fig, axes = plt.subplots(n, 4, figsize=(13, 3.6 * n), dpi=60)
    for row in range(n):
        if row < len(args.seeds):
            study = synthesize_study(args.seeds[row], SynthOptions(slices=15, matrix=384))
            t1, t2 = (sitk.GetArrayFromImage(i) for i in (study.t1, study.t2))
            show(axes[row, 0], t1[t1.shape[0] // 2], f"synthetic T1 (seed {args.seeds[row]})")
            show(axes[row, 1], t2[t2.shape[0] // 2], "synthetic T2")
        if row < len(args.pids):
            images = args.data / "spider-midsag" / "images"
            for col, seq in ((2, "t1"), (3, "t2")):
                image = sitk.GetArrayFromImage(
                    read_image(images / f"{args.pids[row]}_{seq}.nii.gz").image
                )[0]
                show(axes[row, col], image, f"SPIDER {args.pids[row]} {seq.upper()} (real)")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out)
    print(args.out)


if __name__ == "__main__":
    main()
