"""Draw SPIDER levels where the run and the readers disagree, to look at them (issue 6).

    python benchmarks/spider_disagreements.py --runs W/test_runs --out disagreements.png

Picks ``--n`` false-positive and ``--n`` false-negative levels (any Modic vs none) at
random (``--seed``) from `modicmap run` outputs matched to the gradings, and draws for each
the T1 with the run's Modic map (type 1 red, 2 yellow, 3 blue) and the registered T2, the
level's two bodies outlined. The picked levels are printed as JSON lines.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import SimpleITK as sitk

from modicmap.evaluation.gradings import MatchedLevel, match_runs, read_gradings
from modicmap.io.reader import read_image
from modicmap.labels import vertebra_code

COLOURS = {1: (1.0, 0.0, 0.0, 0.8), 2: (1.0, 1.0, 0.0, 0.8), 3: (0.0, 0.4, 1.0, 0.8)}


def pick(levels: list[MatchedLevel], n: int, seed: int) -> list[MatchedLevel]:
    rng = np.random.default_rng(seed)
    chosen = []
    for wrong in (
        [m for m in levels if m.graded == 0 and m.predicted > 0],
        [m for m in levels if m.graded > 0 and m.predicted == 0],
    ):
        chosen += [wrong[i] for i in sorted(rng.choice(len(wrong), min(n, len(wrong)), False))]
    return chosen


def draw(chosen: list[MatchedLevel], runs: Path, images: Path, out: Path) -> None:
    def array(path: Path) -> np.ndarray:
        return sitk.GetArrayFromImage(read_image(path).image)[0].astype(float)

    columns = max(1, len(chosen) // 2)
    fig, axes = plt.subplots(4, columns, figsize=(2.5 * columns, 11), squeeze=False)
    for n, match in enumerate(chosen):
        run = runs / match.patient
        t1 = array(images / f"{match.patient}_t1.nii.gz")
        t2 = array(run / "t2_registered.nii.gz")
        bodies = array(run / "vertebrae.nii.gz").astype(int)
        modic = array(run / "modic_map.nii.gz").astype(int)
        pair = np.isin(bodies, [vertebra_code(name) for name in match.level.split("-")])
        ys, xs = np.nonzero(pair)
        half = int(max(np.ptp(ys), np.ptp(xs)) * 0.7) + 10
        cy, cx = int(ys.mean()), int(xs.mean())
        window = (slice(max(cy - half, 0), cy + half), slice(max(cx - half, 0), cx + half))
        overlay = np.zeros((*modic.shape, 4))
        for kind, colour in COLOURS.items():
            overlay[modic == kind] = colour
        row = (n // columns) * 2
        for k, image in enumerate((t1, t2)):
            ax = axes[row + k, n % columns]
            ax.imshow(image[window], cmap="gray")
            if k == 0:
                ax.imshow(overlay[window])
                kind = "FP" if match.graded == 0 else "FN"
                ax.set_title(
                    f"{kind} {match.patient} {match.level}\ngraded {match.graded} run "
                    f"{match.predicted} p={match.probability:.2f}",
                    fontsize=8,
                )
            ax.contour(pair[window], [0.5], colors="lime", linewidths=0.4)
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(out, dpi=55)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    data = Path(__file__).resolve().parents[2] / "shared" / "data" / "spider-midsag"
    parser.add_argument("--runs", type=Path, required=True)
    parser.add_argument("--images", type=Path, default=data / "images")
    parser.add_argument("--gradings", type=Path, default=data / "gradings.csv")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    levels = match_runs(args.runs, read_gradings(args.gradings)).levels
    chosen = pick(levels, args.n, args.seed)
    draw(chosen, args.runs, args.images, args.out)
    for match in chosen:
        print(
            json.dumps(
                {
                    "patient": match.patient,
                    "level": match.level,
                    "graded": match.graded,
                    "run": match.predicted,
                    "probability": round(match.probability, 3),
                }
            )
        )


if __name__ == "__main__":
    main()
