"""Cross-validate the vertebral-body network on lumbar-vb by subject (issue 4 acceptance).

    python benchmarks/vertebrae_cv.py train --work W --fold 0   # one fold (run folds in parallel)
    python benchmarks/vertebrae_cv.py evaluate --work W --json docs/benchmarks/vertebrae_cv.json

Each fold trains the default recipe (``modicmap train vertebrae``, same settings as the
bundled model) on the other folds' subjects plus synthetic studies, keeps the LAST epoch
(the held-out fold is only watched, never used to choose weights) and is scored on its
held-out subjects with ``vertebrae_eval.lumbar_vb`` (per-body Dice after post-processing,
bodies found, split, merged; S1 Dice where the masks label S1).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

#: three folds by subject, each with VB1 (S1 labelled) and VB2 (sacrum unlabelled) subjects
FOLDS: tuple[tuple[str, ...], ...] = (
    ("AKa", "S02", "VB2-06", "VB2-09", "VB2-10", "VB2-12"),
    ("AKs", "St1", "VB2-13", "VB2-14", "VB2-16", "VB2-17"),
    ("DzZ", "VB2-18", "VB2-19", "VB2-20", "VB2-23"),
)

#: the recipe of the bundled model (``--val-subjects`` is added per fold)
RECIPE = (
    "--epochs", "45", "--crops-per-epoch", "320", "--lr", "2e-3", "--synthetic", "24",
    "--seed", "0", "--threads", "1", "--keep-last",
)  # fmt: skip


def train(work: Path, fold: int, data: Path) -> None:
    out = work / f"fold{fold}"
    cmd = [
        sys.executable, "-m", "modicmap", "train", "vertebrae", "--data", str(data / "lumbar-vb"),
        "--out", str(out), *RECIPE, "--val-subjects", *FOLDS[fold],
    ]  # fmt: skip
    if (out / "checkpoint.json").is_file():
        cmd.append("--resume")
    print(" ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def evaluate(work: Path, data: Path, json_out: Path | None) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    from vertebrae_eval import lumbar_vb

    folds = []
    for fold, subjects in enumerate(FOLDS):
        result = lumbar_vb(work / f"fold{fold}", data, list(subjects))
        result["subjects"] = list(subjects)
        folds.append(result)
        print(f"fold {fold}: mean body Dice {result['mean_body_dice']:.3f}", flush=True)
    cases = {name: row for f in folds for name, row in f["cases"].items()}
    dice = [d for row in cases.values() for d in row["dice"]]
    summary = {
        "mean_body_dice": float(np.mean(dice)),
        "median_body_dice": float(np.median(dice)),
        "mean_body_dice_by_source": {
            source: float(
                np.mean([d for k, r in cases.items() if k.startswith(source) for d in r["dice"]])
            )
            for source in ("VB1", "VB2")
        },
        "per_case_mean_dice": {k: float(np.mean(r["dice"])) for k, r in cases.items()},
        "per_case_median_volume_ratio": {
            k: float(np.median(r["volume_ratio"])) for k, r in cases.items()
        },
        "bodies": len(dice),
        "bodies_found": sum(r["found"] for r in cases.values()),
        "split": sum(r["split"] for r in cases.values()),
        "merged": sum(r["merged"] for r in cases.values()),
        "s1_dice": {k: r["s1_dice"] for k, r in cases.items() if "s1_dice" in r},
        "recipe": " ".join(RECIPE),
        "folds": [list(f) for f in FOLDS],
    }
    print(json.dumps(summary, indent=1, default=int))
    if json_out:
        json_out.write_text(json.dumps({"summary": summary, "folds": folds}, indent=1, default=int))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("train", "evaluate"))
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--data", type=Path, default=Path(__file__).parents[2] / "shared" / "data")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.action == "train":
        train(args.work, args.fold, args.data)
    else:
        evaluate(args.work, args.data, args.json)


if __name__ == "__main__":
    main()
