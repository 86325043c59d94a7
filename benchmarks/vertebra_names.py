"""Level names of the vertebral bodies against the lumbar-vb masks, with the evidence.

For every lumbar-vb volume: segment and name the bodies with a bundle, print per body the
evidence the name was checked against (``vertebrae.name_check``), and judge each labelled
body's name: in VB1 masks the lowest label is S1, in VB2 masks L5 (the sacrum is not
labelled), and the labels count up from there. Optionally the SPIDER slices of the
independent by-eye sample (docs/benchmarks/vertebrae_v2.md) are named too, to compare
their names and warnings with another run (``--spider``).

    python benchmarks/vertebra_names.py --json docs/benchmarks/vertebra_names.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from modicmap.io.reader import read_image
from modicmap.labels import SACRUM_CODE, codes_from_sacrum, vertebra_name
from modicmap.models.bundle import load_bundle
from modicmap.vertebrae.data import find_cases
from modicmap.vertebrae.inference import segment_vertebrae
from modicmap.vertebrae.result import VertebraeResult

#: the independent by-eye SPIDER sample (40 slices: T1 and T2 of each)
SPIDER_SAMPLE = (45, 66, 68, 71, 94, 96, 110, 136, 149, 162, 163, 179, 181, 186, 189, 191, 213)
SPIDER_SAMPLE += (231, 232, 250)


def expected_names(truth: np.ndarray, lowest_is_sacrum: bool) -> dict[int, str]:
    """Mask label -> level name: labels 1..n from superior, the lowest S1 (VB1) or L5."""
    ids = sorted(int(v) for v in np.unique(truth) if v)
    above = len(ids) - 1 if lowest_is_sacrum else len(ids)
    codes = codes_from_sacrum(above)[::-1] + ([SACRUM_CODE] if lowest_is_sacrum else [])
    return {i: vertebra_name(c) for i, c in zip(ids, codes, strict=True)}


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * (a & b).sum() / max(int(a.sum() + b.sum()), 1))


def judge(truth: np.ndarray, result: VertebraeResult, lowest_is_sacrum: bool) -> list[dict]:
    """Per labelled body: its true name, the name of the predicted body covering most of it
    (or none), and the Dice with that body."""
    rows = []
    pred = result.labels
    for label, name in expected_names(truth, lowest_is_sacrum).items():
        inside = pred[truth == label]
        counts = np.bincount(inside, minlength=SACRUM_CODE + 1)
        counts[0] = 0
        code = int(np.argmax(counts)) if counts.sum() else 0
        found = vertebra_name(code) if code else "none"
        rows.append(
            {
                "label": label,
                "true": name,
                "named": found,
                "right": found == name,
                "dice": round(dice(truth == label, pred == code), 3) if code else 0.0,
            }
        )
    return rows


def print_evidence(result: VertebraeResult) -> None:
    print(f"  {'name':>5} {'order':>5} {'spacing':>7} {'step':>5} {'vol':>5} {'lat mm':>6} mid")
    for e in getattr(result, "evidence", ()):  # () on code from before the check
        extra = "" if e.posterior_shift_mm is None else f"  S1 behind L5 {e.posterior_shift_mm} mm"
        print(
            f"  {e.name:>5} {e.levels_above_s1!s:>5} {e.discs_by_spacing!s:>7} "
            f"{e.step_ratio!s:>5} {e.volume_ratio:>5} {e.lateral_offset_mm:>6} "
            f"{'yes' if e.on_midline else 'NO'}{extra}{'' if e.agrees else '  <- disagrees'}"
        )
    for warning in result.warnings:
        print(f"  warning: {warning}")


def lumbar_vb(model: Path | None, data: Path) -> dict[str, object]:
    bundle = load_bundle(model)
    cases = {}
    for case in find_cases(data / "lumbar-vb"):
        image = read_image(case.image).image
        truth = sitk.GetArrayFromImage(sitk.DICOMOrient(sitk.ReadImage(str(case.mask)), "PIR"))
        start = time.perf_counter()
        result = segment_vertebrae(image, bundle)
        seconds = time.perf_counter() - start
        rows = judge(truth, result, bool(case.lowest_is_sacrum))
        ok = all(r["right"] for r in rows)
        print(f"{case.case}: {'PASS' if ok else 'FAIL'} ({seconds:.1f} s)", flush=True)
        print("  named:", " ".join(b.name for b in result.bodies))
        print("  truth:", " ".join(f"{r['true']}->{r['named']}" for r in rows))
        print_evidence(result)
        cases[case.case] = {
            "pass": ok,
            "bodies": rows,
            "names": [b.name for b in result.bodies],
            "warnings": list(result.warnings),
            "evidence": [e.__dict__ for e in getattr(result, "evidence", ())],
            "seconds": round(seconds, 2),
        }
    body_dice = [r["dice"] for c in cases.values() for r in c["bodies"] if r["true"] != "S1"]
    return {
        "volumes": len(cases),
        "volumes_all_right": sum(c["pass"] for c in cases.values()),
        "bodies": sum(len(c["bodies"]) for c in cases.values()),
        "bodies_named_right": sum(r["right"] for c in cases.values() for r in c["bodies"]),
        "mean_dice_of_the_named_body_above_s1": round(float(np.mean(body_dice)), 4),
        "cases": cases,
    }


def spider(model: Path | None, data: Path) -> dict[str, object]:
    bundle = load_bundle(model)
    rows = {}
    for pid in SPIDER_SAMPLE:
        for seq in ("t1", "t2"):
            path = data / "spider-midsag" / "images" / f"{pid}_{seq}.nii.gz"
            result = segment_vertebrae(read_image(path).image, bundle)
            rows[f"{pid}_{seq}"] = {
                "names": [b.name for b in result.bodies],
                "warnings": list(result.warnings),
            }
            print(pid, seq, " ".join(rows[f"{pid}_{seq}"]["names"]), result.warnings, flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).parents[2] / "shared" / "data")
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--spider", action="store_true", help="also the 40 SPIDER sample slices")
    parser.add_argument("--no-lumbar-vb", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)  # the machine is shared
    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    out: dict[str, object] = {}
    if not args.no_lumbar_vb:
        out["lumbar_vb"] = lumbar_vb(args.model, args.data)
        print({k: v for k, v in out["lumbar_vb"].items() if k != "cases"})  # type: ignore[union-attr]
    if args.spider:
        out["spider"] = spider(args.model, args.data)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
