"""Grading accuracy on synthetic test studies (issue 6 acceptance), end to end.

Steps, each the user-facing command:

1. ``modicmap synth --out WORK/synth --n 20 --seed 777`` (seeds 777..: the default lesion
   model trained on synthetic seeds 10000+, see ``modicmap.lesions.dataset``);
2. ``modicmap batch WORK/synth/cohort.csv --out WORK/runs --workers 1`` (default bundle,
   or ``--model``);
3. ``modicmap evaluate --runs WORK/runs --truth WORK/synth --out WORK/eval``.

With ``--truth-vertebrae`` step 2 is ``modicmap run ... --vertebrae TRUTH`` per study: the
lesion stage and grading on the truth bodies, to separate their shortfall from the
vertebra network's.

Then diagnostics that the acceptance text needs: ``WORK/disagreements.csv`` (every matched
endplate whose grade differs from the truth, with both rows' type fractions) and, in
``WORK/result.json``, disagreement categories, an IN-SAMPLE sweep of endplate thresholds
(the grade with ``share > t`` or ``probability >= t`` instead of the bundle's rule, same
type; fitted on the test studies themselves, so it shows the size of the threshold
effect, not a result to report) and the typing ceiling (the truth lesion mask typed and
graded as the pipeline does). Acceptance: endplate-level kappa >= 0.90 and per-type
sensitivity >= 0.85.

    python benchmarks/synthetic_grading_eval.py --work /tmp/grading-synth [--figures docs/figures]

Steps whose output folder is complete are not redone (delete WORK to start over).
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import cohen_kappa_score

from modicmap.cli.main import main as modicmap

SHARE_THRESHOLDS = (0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.08)
PROBABILITY_THRESHOLDS = (0.5, 0.9, 0.99, 0.999)


def _step(name: str, argv: list[str], done: Path, seconds: dict[str, float]) -> None:
    if done.exists():
        print(f"{name}: {done} exists, not redone")
        return
    start = time.perf_counter()
    code = modicmap(argv)
    seconds[name] = round(time.perf_counter() - start, 1)
    print(f"{name}: exit {code} in {seconds[name]} s: modicmap {' '.join(argv)}")
    if code != 0:
        raise SystemExit(f"modicmap {argv[0]} failed with exit code {code}")


def _rows(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    with path.open(newline="") as handle:
        return {(r["vertebra"], r["endplate"]): r for r in csv.DictReader(handle)}


def _fractions(row: dict[str, str]) -> np.ndarray:
    return np.array([float(row[f"type{t}_fraction"]) for t in (1, 2, 3)])


def diagnostics(synth: Path, runs: Path, work: Path) -> dict:
    """Disagreeing endplates and an in-sample threshold sweep (see the module docstring)."""
    records = []
    for study in sorted(p.name for p in synth.iterdir() if (p / "truth").is_dir()):
        truth, run = (
            _rows(synth / study / "truth" / "endplates.csv"),
            _rows(runs / study / "endplates.csv"),
        )
        for key in truth.keys() & run.keys():
            records.append(
                {
                    "study": study,
                    "vertebra": key[0],
                    "endplate": key[1],
                    "truth": int(truth[key]["modic"]),
                    "predicted": int(run[key]["modic"]),
                    "truth_fractions": _fractions(truth[key]),
                    "run_fractions": _fractions(run[key]),
                    "probability": float(run[key]["probability"]),
                }
            )
    truth = np.array([r["truth"] for r in records])
    predicted = np.array([r["predicted"] for r in records])
    run_fractions = np.array([r["run_fractions"] for r in records])
    share = run_fractions.sum(axis=1)
    categories = {
        "false_positive": int(((truth == 0) & (predicted > 0)).sum()),
        "false_positive_share_below_1pct": int(
            ((truth == 0) & (predicted > 0) & (share < 0.01)).sum()
        ),
        "false_positive_by_type": {
            t: int(((truth == 0) & (predicted == t)).sum()) for t in (1, 2, 3)
        },
        "missed": int(((truth > 0) & (predicted == 0)).sum()),
        "missed_truth_share_above_5pct": int(
            sum(
                1
                for r in records
                if r["truth"] > 0 and r["predicted"] == 0 and r["truth_fractions"].sum() > 0.05
            )
        ),
        "wrong_type": int(((truth > 0) & (predicted > 0) & (truth != predicted)).sum()),
        "wrong_type_mixed_truth": int(
            sum(
                1
                for r in records
                if r["truth"] > 0
                and r["predicted"] > 0
                and r["truth"] != r["predicted"]
                and (r["truth_fractions"] > 0).sum() > 1
            )
        ),
        "detected_positive": int(((truth > 0) & (predicted > 0)).sum()),
    }
    probability = np.array([r["probability"] for r in records])

    def scored(rule: str, t: float, graded: np.ndarray) -> dict[str, object]:
        return {
            "rule": rule,
            "threshold": t,
            "kappa_presence": round(float(cohen_kappa_score(truth > 0, graded > 0)), 3),
            "kappa_types": round(float(cohen_kappa_score(truth, graded)), 3),
            "type_sensitivity": [
                round(float((graded[truth == k] == k).mean()), 3) for k in (1, 2, 3)
            ],
        }

    typed = run_fractions.argmax(axis=1) + 1
    sweep = [scored("share > t", t, np.where(share > t, typed, 0)) for t in SHARE_THRESHOLDS]
    sweep += [
        scored("probability >= t", t, np.where((probability >= t) & (share > 0), typed, 0))
        for t in PROBABILITY_THRESHOLDS
    ]
    with (work / "disagreements.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["study", "vertebra", "endplate", "truth", "predicted", "probability"]
            + [f"truth_type{t}" for t in (1, 2, 3)]
            + [f"run_type{t}" for t in (1, 2, 3)]
        )
        for r in records:
            if r["truth"] != r["predicted"]:
                writer.writerow(
                    [r["study"], r["vertebra"], r["endplate"], r["truth"], r["predicted"]]
                    + [round(r["probability"], 4)]
                    + [round(float(v), 4) for v in r["truth_fractions"]]
                    + [round(float(v), 4) for v in r["run_fractions"]]
                )
    return {
        "endplates": len(records),
        "categories": categories,
        "in_sample_threshold_sweep": sweep,
    }


def typing_ceiling(synth: Path, runs: Path) -> dict[str, dict[str, object]]:
    """Endplate grades from the TRUTH lesion mask, typed as the pipeline types (nearest
    centroid per voxel, the bundle's paper centroids, plurality per endplate region, share
    threshold 0), in two z-spaces: within the truth bodies and within the run's bodies. A
    third variant types each endplate by the nearest centroid of the MEAN (T1 z, T2 z) of
    its lesion voxels. What a perfect lesion detector would reach with this typing."""
    import SimpleITK as sitk

    from modicmap.grading.endplates import endplate_regions
    from modicmap.grading.grade import grade_endplates
    from modicmap.grading.typing import PAPER_CENTROIDS, type_voxels
    from modicmap.labels import vertebra_name
    from modicmap.zscore import zscore_maps

    def read(path: Path) -> tuple[np.ndarray, tuple[float, float, float]]:
        image = sitk.DICOMOrient(sitk.ReadImage(str(path)), "PIR")
        spacing = image.GetSpacing()
        return sitk.GetArrayFromImage(image), (spacing[2], spacing[1], spacing[0])

    centroids = np.array(PAPER_CENTROIDS.means)
    pairs: dict[str, tuple[list[int], list[int]]] = {
        "voxel_typing_truth_bodies": ([], []),
        "voxel_typing_run_bodies": ([], []),
        "mean_z_typing_truth_bodies": ([], []),
    }
    for study in sorted(p.name for p in synth.iterdir() if (p / "truth").is_dir()):
        t1, spacing = read(synth / study / "t1.nii.gz")
        t2, _ = read(runs / study / "t2_registered.nii.gz")
        lesion = read(synth / study / "truth" / "modic_map.nii.gz")[0] > 0
        truth_bodies = read(synth / study / "truth" / "vertebrae.nii.gz")[0].astype(np.int32)
        run_bodies = read(runs / study / "vertebrae.nii.gz")[0].astype(np.int32)
        truth = {
            k: int(r["modic"]) for k, r in _rows(synth / study / "truth" / "endplates.csv").items()
        }
        for name, bodies in (("truth", truth_bodies), ("run", run_bodies)):
            z = zscore_maps(t1.astype(np.float32), t2.astype(np.float32), bodies)
            typed = type_voxels(z.t1z, z.t2z, lesion, PAPER_CENTROIDS).astype(np.uint8)
            for row in grade_endplates(typed, truth_bodies, spacing, threshold=0.0):
                key = (row.vertebra, row.endplate)
                if key in truth:
                    pairs[f"voxel_typing_{name}_bodies"][0].append(truth[key])
                    pairs[f"voxel_typing_{name}_bodies"][1].append(row.modic)
            if name == "truth":
                for (code, side), region in endplate_regions(truth_bodies, spacing).items():
                    key = (vertebra_name(code), str(side))
                    voxels = region & lesion
                    graded = 0
                    if voxels.any():
                        mean = np.array([z.t1z[voxels].mean(), z.t2z[voxels].mean()])
                        graded = int(np.argmin(((centroids - mean) ** 2).sum(axis=1))) + 1
                    if key in truth:
                        pairs["mean_z_typing_truth_bodies"][0].append(truth[key])
                        pairs["mean_z_typing_truth_bodies"][1].append(graded)
    out: dict[str, dict[str, object]] = {}
    for name, (t, p) in pairs.items():
        truth_arr, graded_arr = np.array(t), np.array(p)
        out[name] = {
            "endplates": int(truth_arr.size),
            "kappa_presence": round(float(cohen_kappa_score(truth_arr > 0, graded_arr > 0)), 3),
            "kappa_types": round(float(cohen_kappa_score(truth_arr, graded_arr)), 3),
            "type_sensitivity": [
                round(float((graded_arr[truth_arr == k] == k).mean()), 3) for k in (1, 2, 3)
            ],
        }
    return out


def _code_state() -> dict[str, object]:
    """Where the measured modicmap was imported from, and its git state when in a repo."""
    import modicmap

    package = Path(modicmap.__file__).resolve().parent

    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=package, capture_output=True, text=True)
        return result.stdout.strip()

    return {
        "package": str(package),
        "version": modicmap.__version__,
        "commit": git("rev-parse", "HEAD") or "not a git checkout",
        "uncommitted_src": git("status", "--porcelain", "--", ".").splitlines(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="working folder")
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--seed", type=int, default=777)
    parser.add_argument("--model", type=Path, default=None, help="bundle (default: bundled)")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument(
        "--truth-vertebrae",
        action="store_true",
        help="run every study with its truth bodies (run --vertebrae): what the lesion stage "
        "and the grading reach when the bodies are right",
    )
    parser.add_argument(
        "--figures", type=Path, default=None, help="copy the figures here as grading_synthetic_*"
    )
    args = parser.parse_args()
    work = args.work
    synth, runs, evaluation = work / "synth", work / "runs", work / "eval"
    seconds: dict[str, float] = {}
    _step(
        "synth",
        ["synth", "--out", str(synth), "--n", str(args.n), "--seed", str(args.seed), "--quiet"],
        synth / "cohort.csv",
        seconds,
    )
    model = ["--model", str(args.model)] if args.model is not None else []
    if args.truth_vertebrae:  # the lesion stage and grading alone, on the truth bodies
        for study in sorted(p.parents[1] for p in synth.glob("*/truth/vertebrae.nii.gz")):
            run = [
                *("run", "--t1", str(study / "t1.nii.gz"), "--t2", str(study / "t2.nii.gz")),
                *("--vertebrae", str(study / "truth" / "vertebrae.nii.gz")),
                *("--out", str(runs / study.name), "--quiet", *model),
            ]
            _step(f"run {study.name}", run, runs / study.name / "levels.csv", seconds)
    else:
        batch = ["batch", str(synth / "cohort.csv"), "--out", str(runs), "--workers", "1"]
        _step("batch", [*batch, "--quiet", *model], runs / "cohort_endplates.csv", seconds)
    _step(
        "evaluate",
        [
            *("evaluate", "--runs", str(runs), "--truth", str(synth)),
            *("--out", str(evaluation), "--bootstrap", str(args.bootstrap), "--quiet"),
        ],
        evaluation / "metrics.json",
        seconds,
    )
    report = json.loads((evaluation / "metrics.json").read_text())
    endplates = report["endplates"]
    acceptance = {
        "kappa_presence": endplates["kappa_presence"],
        "kappa_types": endplates["kappa_types"],
        "type_sensitivity": [endplates["per_type"][str(t)]["sensitivity"] for t in (1, 2, 3)],
    }
    acceptance["met"] = bool(
        min(acceptance["kappa_presence"], acceptance["kappa_types"]) >= 0.90
        and min(acceptance["type_sensitivity"]) >= 0.85
    )
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {platform.python_version()}",
        "n": args.n,
        "seed": args.seed,
        "model": str(args.model or "default bundle"),
        "truth_vertebrae": args.truth_vertebrae,
        "seconds": seconds,
        "code": _code_state(),
        "acceptance": acceptance,
        "diagnostics": diagnostics(synth, runs, work),
        "typing_ceiling_with_truth_lesion_mask": typing_ceiling(synth, runs),
    }
    (work / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print((evaluation / "metrics.md").read_text())
    if args.figures is not None:
        args.figures.mkdir(parents=True, exist_ok=True)
        for name in ("fig2_scatter.png", "fig4_per_type.png"):
            if (evaluation / name).is_file():
                shutil.copy(evaluation / name, args.figures / f"grading_synthetic_{name}")


if __name__ == "__main__":
    main()
