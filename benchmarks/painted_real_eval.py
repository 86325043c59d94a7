"""Lesions painted into held-out real lumbar-vb pairs, scored through `modicmap run`.

Issue 5 asks for voxel Dice on lesions painted into lumbar-vb subjects held out of
training. `train lesions` reports a crop-level pixel Dice on its test paintings; this
script measures what a user gets: each painting (``modicmap.synth.paint``, the training
code's seeds) is written as T1 / second sequence / body mask NIfTI files, `modicmap run
--vertebrae MASK --no-register` maps it (the painted pair shares one grid, and the true
bodies keep the vertebra network out of the number), and the run's Modic map is compared
with the painted one voxel by voxel: Dice of "any lesion" per painting and pooled, recall
per painted type.

    python benchmarks/painted_real_eval.py --work W [--subjects AKs DzZ] [--paintings 3]
        [--model BUNDLE] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from modicmap.lesions.dataset import painted_volumes
from modicmap.synth.paint import lumbar_vb_pairs

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=SHARED)
    parser.add_argument("--subjects", nargs="+", default=["AKs", "DzZ"])
    parser.add_argument("--paintings", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0, help="the training's --seed")
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    lumbar_vb = args.data / "lumbar-vb"
    pairs = {p.subject: p for p in lumbar_vb_pairs(lumbar_vb)}
    exe = Path(sys.executable).with_name("modicmap")
    counts = {"tp": 0, "fp": 0, "fn": 0}
    recall = {t: [0, 0] for t in (1, 2, 3)}
    rows = []
    volumes = painted_volumes(lumbar_vb, args.paintings, args.seed, tuple(args.subjects))
    for i, volume in enumerate(volumes):
        folder = args.work / f"{volume.subject}_{i}"
        folder.mkdir(parents=True, exist_ok=True)
        reference = sitk.DICOMOrient(sitk.ReadImage(str(pairs[volume.subject].t1)), "PIR")
        arrays = {"t1": volume.t1, "t2": volume.t2, "bodies": volume.vertebrae.astype(np.uint8)}
        for name, array in arrays.items():
            image = sitk.GetImageFromArray(array)
            image.CopyInformation(reference)
            sitk.WriteImage(image, str(folder / f"{name}.nii.gz"))
        out = folder / "run"
        command = [str(exe), "run", "--t1", str(folder / "t1.nii.gz")]
        command += ["--t2", str(folder / "t2.nii.gz"), "--vertebrae", str(folder / "bodies.nii.gz")]
        command += ["--no-register", "--out", str(out), "--force", "--quiet"]
        if args.model is not None:
            command += ["--model", str(args.model)]
        subprocess.run(command, check=True)
        mapped = sitk.DICOMOrient(sitk.ReadImage(str(out / "modic_map.nii.gz")), "PIR")
        found, truth = sitk.GetArrayFromImage(mapped) > 0, volume.modic
        lesion = truth > 0
        tp, fp, fn = (int(v.sum()) for v in (found & lesion, found & ~lesion, ~found & lesion))
        for key, value in zip(("tp", "fp", "fn"), (tp, fp, fn), strict=True):
            counts[key] += value
        for t in (1, 2, 3):
            recall[t][0] += int((found & (truth == t)).sum())
            recall[t][1] += int((truth == t).sum())
        rows.append(
            {
                "subject": volume.subject,
                "painting": i,
                "dice": round(2 * tp / max(2 * tp + fp + fn, 1), 4),
                "tp": tp,
                "fp": fp,
                "fn": fn,
                "painted_voxels_per_type": [int((truth == t).sum()) for t in (1, 2, 3)],
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    tp_all = counts["tp"]
    result = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "model": str(args.model or "default bundle"),
        "subjects": args.subjects,
        "paintings_per_subject": args.paintings,
        "pooled_dice": round(2 * tp_all / max(2 * tp_all + counts["fp"] + counts["fn"], 1), 4),
        "recall_per_type": {t: round(a / max(b, 1), 4) for t, (a, b) in recall.items()},
        "per_subject_dice": {
            s: round(float(np.mean([r["dice"] for r in rows if r["subject"] == s])), 4)
            for s in args.subjects
        },
        "paintings": rows,
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
