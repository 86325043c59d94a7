"""Register every SPIDER dev T2 slice to its T1 and draw contact sheets to judge by eye.

Each panel: the T1 slice in grey with the edges of the registered T2 in red
(Canny on the smoothed T2), cropped to the spine. Sheets of 20 pairs go to
docs/figures/registration_spider_<k>.png; a CSV lists every pair's parameters,
metric and warnings.

    python benchmarks/registration_contact_sheet.py --data ../shared/data --out docs/figures
"""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import SimpleITK as sitk
from skimage.feature import canny

from modicmap.io.reader import read_image
from modicmap.registration.rigid import register_rigid, resample_to_fixed


def panel(ax: plt.Axes, t1: np.ndarray, t2: np.ndarray, title: str) -> None:
    lo, hi = np.percentile(t1, (1, 99.5))
    ax.imshow(np.clip((t1 - lo) / max(hi - lo, 1e-6), 0, 1), cmap="gray")
    edges = canny(t2, sigma=2.0, low_threshold=0.05 * t2.max(), high_threshold=0.15 * t2.max())
    overlay = np.zeros((*t2.shape, 4))
    overlay[edges] = (1.0, 0.15, 0.1, 0.9)
    ax.imshow(overlay)
    ax.set_title(title, fontsize=7)
    ax.axis("off")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).parents[2] / "shared" / "data")
    parser.add_argument("--out", type=Path, default=Path(__file__).parents[1] / "docs" / "figures")
    parser.add_argument("--per-sheet", type=int, default=20)
    args = parser.parse_args()
    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    images = args.data / "spider-midsag" / "images"
    pids = sorted({int(p.name.split("_")[0]) for p in images.glob("*_t1.nii.gz")})
    rows = []
    panels = []
    for pid in pids:
        t1 = read_image(images / f"{pid}_t1.nii.gz").image
        t2 = read_image(images / f"{pid}_t2.nii.gz").image
        result = register_rigid(t1, t2)
        moved = resample_to_fixed(t2, t1, result.transform)
        rows.append(
            {
                "pid": pid,
                "rotation_deg": round(result.rotation_deg[0], 2),
                "tx_mm": round(result.translation_mm[0], 1),
                "ty_mm": round(result.translation_mm[1], 1),
                "scale": round(result.scale, 3),
                "metric_initial": round(result.metric_initial, 3),
                "metric_final": round(result.metric_final, 3),
                "seconds": round(result.seconds, 2),
                "warnings": " | ".join(result.warnings),
            }
        )
        panels.append(
            (pid, sitk.GetArrayFromImage(t1)[0], sitk.GetArrayFromImage(moved)[0], result)
        )
        print(rows[-1], flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "registration_spider.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    for sheet in range(math.ceil(len(panels) / args.per_sheet)):
        chunk = panels[sheet * args.per_sheet : (sheet + 1) * args.per_sheet]
        fig, axes = plt.subplots(4, 5, figsize=(15, 16), dpi=55)
        for ax in axes.ravel():
            ax.axis("off")
        for ax, (pid, a, b, result) in zip(axes.ravel(), chunk, strict=False):
            title = f"{pid}: rot {result.rotation_deg[0]:.1f}° scale {result.scale:.2f}"
            panel(ax, a, b, title + (" WARN" if result.warnings else ""))
        fig.tight_layout()
        fig.savefig(args.out / f"registration_spider_{sheet + 1}.png")
        plt.close(fig)


if __name__ == "__main__":
    main()
