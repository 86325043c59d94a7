"""Evaluate a vertebra model: lumbar-vb held-out subjects (per-body Dice) and SPIDER slices.

    python benchmarks/vertebrae_eval.py --model BUNDLE --subjects DzZ VB2-06 VB2-20 \
        --spider --sheets docs/figures --json docs/benchmarks/vertebrae_eval.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from modicmap.evaluation.gradings import read_gradings
from modicmap.io.reader import read_image
from modicmap.labels import SACRUM_CODE
from modicmap.models.bundle import load_bundle
from modicmap.vertebrae.data import find_cases
from modicmap.vertebrae.inference import segment_vertebrae


def body_scores(truth: np.ndarray, pred: np.ndarray, skip_sacrum: bool) -> dict[str, object]:
    """Per ground-truth body: best Dice with one predicted body; counts of split/merged."""
    gt_ids = [int(v) for v in np.unique(truth) if v]
    if skip_sacrum:
        gt_ids = gt_ids[:-1]  # VB1: lowest label is S1 — scored separately
    pred_ids = [int(v) for v in np.unique(pred) if v]
    dices, ratios, split, found = [], [], 0, 0
    for g in gt_ids:
        gmask = truth == g
        overlaps = {p: int((gmask & (pred == p)).sum()) for p in pred_ids}
        big = [p for p, o in overlaps.items() if o > 0.2 * gmask.sum()]
        split += len(big) > 1
        best = max(overlaps, key=overlaps.get) if overlaps else None
        d = 0.0 if best is None else 2 * overlaps[best] / (gmask.sum() + (pred == best).sum())
        dices.append(d)
        ratios.append(0.0 if best is None else float((pred == best).sum() / gmask.sum()))
        found += d > 0.5
    merged = 0
    for p in pred_ids:
        pmask = pred == p
        hits = [g for g in gt_ids if ((truth == g) & pmask).sum() > 0.2 * (truth == g).sum()]
        merged += len(hits) > 1
    return {
        "dice": dices,
        "volume_ratio": ratios,
        "found": found,
        "n": len(gt_ids),
        "split": split,
        "merged": merged,
    }


def lumbar_vb(model_dir: Path | None, data: Path, subjects: list[str]) -> dict[str, object]:
    bundle = load_bundle(model_dir)
    rows = {}
    for case in find_cases(data / "lumbar-vb"):
        if case.subject not in subjects:
            continue
        image = read_image(case.image).image
        truth = sitk.GetArrayFromImage(sitk.DICOMOrient(sitk.ReadImage(str(case.mask)), "PIR"))
        result = segment_vertebrae(image, bundle)
        pred = result.labels.astype(np.int32)
        s1_pred = pred == SACRUM_CODE
        scores = body_scores(
            truth, np.where(s1_pred, 0, pred), skip_sacrum=bool(case.lowest_is_sacrum)
        )
        if case.lowest_is_sacrum:
            s1 = truth == max(int(v) for v in np.unique(truth))
            scores["s1_dice"] = float(2 * (s1 & s1_pred).sum() / max(s1.sum() + s1_pred.sum(), 1))
        scores["names"] = [b.name for b in result.bodies]
        rows[case.case] = scores
        print(
            case.case,
            {
                k: (np.round(v, 3).tolist() if k in ("dice", "volume_ratio") else v)
                for k, v in scores.items()
            },
            flush=True,
        )
    all_dice = [d for r in rows.values() for d in r["dice"]]  # type: ignore[union-attr]
    return {
        "cases": rows,
        "mean_body_dice": float(np.mean(all_dice)),
        "bodies_found": sum(r["found"] for r in rows.values()),  # type: ignore[misc]
        "bodies": sum(r["n"] for r in rows.values()),  # type: ignore[misc]
        "split": sum(r["split"] for r in rows.values()),  # type: ignore[misc]
        "merged": sum(r["merged"] for r in rows.values()),  # type: ignore[misc]
    }


COLOURS = (
    np.array(
        [[0, 0, 0]]
        + [[(i * 97) % 255, (i * 57 + 80) % 255, (i * 151 + 40) % 255] for i in range(1, 27)]
    )
    / 255.0
)


def judge_sheets(panels: list, pids: list[str], folder: Path) -> None:
    """Readable panels (6 per page) of the given patients' T1 and T2 for judging by eye:
    body outlines (S1 red), level names; (A) every lumbar body its own instance,
    (B) the lowest disc named L5-S1 correctly (S1 on the sacrum, L5 the body above)."""
    import matplotlib.pyplot as plt
    from scipy import ndimage

    chosen = [p for pid in pids for p in panels if p[0] == pid]
    for k in range(0, len(chosen), 6):
        fig, axes = plt.subplots(2, 3, figsize=(15, 11), dpi=65)
        for ax in axes.ravel():
            ax.axis("off")
        for ax, (pid, seq, arr, result) in zip(axes.ravel(), chosen[k : k + 6], strict=False):
            low, high = np.percentile(arr, (1, 99.5))
            ax.imshow(np.clip((arr - low) / (high - low), 0, 1), cmap="gray")
            lab = result.labels[0]
            for b in result.bodies:
                mask = lab == b.code
                colour = "red" if b.code == SACRUM_CODE else "cyan"
                ax.contour(mask.astype(float), [0.5], colors=colour, linewidths=0.7)
                cy, cx = ndimage.center_of_mass(mask)
                ax.text(cx + 0.09 * arr.shape[1], cy, b.name, color="yellow", fontsize=11)
            ax.set_title(f"{pid}_{seq}", fontsize=12)
        fig.tight_layout()
        fig.savefig(folder / f"vertebrae_judge_{k // 6 + 1:02d}.png")
        plt.close(fig)


def spider(
    model_dir: Path | None, data: Path, sheets: Path | None, judge: list[str] | None = None
) -> dict[str, object]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy import ndimage

    bundle = load_bundle(model_dir)
    folder = data / "spider-midsag"
    graded: dict[str, int] = {}
    for patient, label in read_gradings(folder / "gradings.csv"):
        graded[patient] = max(graded.get(patient, 0), label)
    rows = []
    panels = []
    for path in sorted(
        (folder / "images").glob("*.nii.gz"),
        key=lambda p: (p.name.split("_")[1], int(p.name.split("_")[0])),
    ):
        pid, seq = path.name.split("_")[0], path.name.split("_")[1][:2]
        image = read_image(path).image
        result = segment_vertebrae(image, bundle)
        codes = [b.code for b in result.bodies]
        has_s1 = SACRUM_CODE in codes
        discs = sum(
            1
            for a, b in itertools.pairwise(codes)
            if b == a + 1 or (b == SACRUM_CODE and a in (24, 25))
        )
        rows.append(
            {
                "pid": pid,
                "sequence": seq,
                "bodies": [b.name for b in result.bodies],
                "sacrum": has_s1,
                "discs_found": discs,
                "levels_graded": graded.get(pid, 0),
                "warnings": list(result.warnings),
            }
        )
        panels.append((pid, seq, sitk.GetArrayFromImage(image)[0], result))
    n = len(rows)
    summary = {
        "images": n,
        "sacrum_found": sum(r["sacrum"] for r in rows),
        "discs_equal_graded": sum(r["discs_found"] == r["levels_graded"] for r in rows),
        "discs_within_one": sum(abs(r["discs_found"] - r["levels_graded"]) <= 1 for r in rows),
        "rows": rows,
    }
    if sheets is not None:
        sheets.mkdir(parents=True, exist_ok=True)
        per = 20
        for k in range(math.ceil(len(panels) / per)):
            fig, axes = plt.subplots(4, 5, figsize=(15, 16), dpi=55)
            for ax in axes.ravel():
                ax.axis("off")
            for ax, (pid, seq, arr, result) in zip(
                axes.ravel(), panels[k * per : (k + 1) * per], strict=False
            ):
                low, high = np.percentile(arr, (1, 99.5))
                ax.imshow(np.clip((arr - low) / (high - low), 0, 1), cmap="gray")
                lab = result.labels[0]
                overlay = np.zeros((*lab.shape, 4))
                overlay[..., :3] = COLOURS[lab]
                overlay[..., 3] = (lab > 0) * 0.45
                ax.imshow(overlay)
                for b in result.bodies:
                    cy, cx = ndimage.center_of_mass(lab == b.code)
                    if not np.isnan(cy):
                        ax.text(cx + 30, cy, b.name, color="yellow", fontsize=8)
                ax.set_title(f"{pid} {seq}: {len(result.bodies)} found", fontsize=8)
            fig.tight_layout()
            fig.savefig(sheets / f"vertebrae_spider_{k + 1:02d}.png")
            plt.close(fig)
        if judge:
            judge_sheets(panels, judge, sheets)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).parents[2] / "shared" / "data")
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--subjects", nargs="*", default=[])
    parser.add_argument("--spider", action="store_true")
    parser.add_argument("--sheets", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--judge", nargs="*", default=[], help="patient ids drawn readable for judging by eye"
    )
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)  # the machine is shared
    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    out: dict[str, object] = {}
    if args.subjects:
        out["lumbar_vb"] = lumbar_vb(args.model, args.data, args.subjects)
        print({k: v for k, v in out["lumbar_vb"].items() if k != "cases"})  # type: ignore[union-attr]
    if args.spider:
        out["spider"] = spider(args.model, args.data, args.sheets, args.judge)
        print({k: v for k, v in out["spider"].items() if k != "rows"})  # type: ignore[union-attr]
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
