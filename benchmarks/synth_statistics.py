"""(T1 z, T2 z) of painted lesion voxels per Modic type vs the paper's centroids (issue 3).

z-scores are computed exactly as the pipeline does (study-scope vertebral-body
z-scores, ``modicmap.zscore``) on (a) lesions painted into the real
lumbar-vb pairs, (b) whole synthetic studies.

    python benchmarks/synth_statistics.py --data ../shared/data --studies 10
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from modicmap.synth.lesions import PAPER_MEANS, PAPER_SDS
from modicmap.synth.paint import lumbar_vb_pairs, paint_lesions, read_pair
from modicmap.synth.study import SynthOptions, synthesize_study
from modicmap.zscore import zscore_maps


def table(
    name: str,
    t1z: list[np.ndarray],
    t2z: list[np.ndarray],
    kinds: list[np.ndarray],
    kinds2: list[np.ndarray] | None = None,
) -> float:
    """Markdown table; ``kinds2`` labels the T2 values when they come from another grid."""
    a, b, k = np.concatenate(t1z), np.concatenate(t2z), np.concatenate(kinds)
    k2 = np.concatenate(kinds2) if kinds2 is not None else k
    print(f"\n{name}")
    columns = ("type", "voxels", "T1 z mean", "T1 z sd", "T2 z mean", "T2 z sd")
    print("| " + " | ".join(c + (" (paper)" if " z " in c else "") for c in columns) + " |")
    print("|---|---|---|---|---|---|")
    worst = 0.0
    for t in (1, 2, 3):
        m, m2 = k == t, k2 == t
        if not m.any() or not m2.any():
            continue
        stats = (a[m].mean(), a[m].std(), b[m2].mean(), b[m2].std())
        paper = (PAPER_MEANS[t][0], PAPER_SDS[t][0], PAPER_MEANS[t][1], PAPER_SDS[t][1])
        worst = max(worst, *(abs(s - p) for s, p in zip(stats, paper, strict=True)))
        cells = " | ".join(f"{s:.3f} ({p:.2f})" for s, p in zip(stats, paper, strict=True))
        print(f"| {t} | {int(m.sum())} | {cells} |")
    print(f"largest deviation from the paper: {worst:.3f}")
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).parents[2] / "shared" / "data")
    parser.add_argument("--studies", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    t1z, t2z, kinds = [], [], []
    for i, pair in enumerate(lumbar_vb_pairs(args.data / "lumbar-vb")):
        t1, t2, bodies, spacing = read_pair(pair)
        painted = paint_lesions(t1, t2, bodies, spacing, np.random.default_rng(args.seed + i))
        z = zscore_maps(painted.t1, painted.t2, bodies)
        lesion = painted.modic_map > 0
        t1z.append(z.t1z[lesion])
        t2z.append(z.t2z[lesion])
        kinds.append(painted.modic_map[lesion])
    table("Painted into real lumbar-vb pairs (AKa, AKs: T1+TIRM; DzZ: T1+T2)", t1z, t2z, kinds)
    t1z, t2z, kinds, own2z, own2k = [], [], [], [], []
    for i in range(args.studies):
        study = synthesize_study(args.seed + i, SynthOptions(slices=15, matrix=256))
        t1 = sitk.GetArrayFromImage(study.t1)
        bodies = sitk.GetArrayFromImage(study.vertebrae)
        modic = sitk.GetArrayFromImage(study.modic_map)
        # T2 of the synthetic study lives on its own grid: z-score it there, with its own bodies
        t2_on_t1 = sitk.GetArrayFromImage(
            sitk.Resample(study.t2, study.t1, study.transform, sitk.sitkNearestNeighbor)
        )
        z = zscore_maps(t1, t2_on_t1, bodies)
        t2 = sitk.GetArrayFromImage(study.t2)
        modic2 = sitk.GetArrayFromImage(study.t2_modic_map)
        z2 = zscore_maps(t2, t2, sitk.GetArrayFromImage(study.t2_vertebrae))
        own2z.append(z2.t2z[modic2 > 0])
        own2k.append(modic2[modic2 > 0])
        lesion = modic > 0
        t1z.append(z.t1z[lesion])
        t2z.append(z.t2z[lesion])
        kinds.append(modic[lesion])
    name = f"Whole synthetic studies ({args.studies} x 15 x 256 x 256)"
    table(name + ", each sequence on its own grid", t1z, own2z, kinds, own2k)
    table(name + ", T2 resampled onto the T1 grid by the true transform", t1z, t2z, kinds)


if __name__ == "__main__":
    main()
