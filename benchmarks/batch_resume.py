"""`modicmap batch` on 20 SPIDER dev pairs: throughput, and kill-and-resume (issue 7).

1. Uninterrupted runs with 1 and 2 workers (studies per minute).
2. A 1-worker run killed (SIGKILL) once about half the studies are complete, then the
   same command again: it must complete, must not recompute any study that was
   complete, and its outputs must equal the uninterrupted run's.

    python benchmarks/batch_resume.py --data ../shared/data --work /tmp/batch-bench
"""

from __future__ import annotations

import argparse
import csv
import filecmp
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk


def batch(cohort: Path, out: Path, workers: int) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "modicmap.cli.main",
        "batch",
        str(cohort),
        "--out",
        str(out),
        "--workers",
        str(workers),
        "--quiet",
    ]
    return subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )


def complete(out: Path) -> list[Path]:
    return (
        [
            p
            for p in out.iterdir()
            if p.is_dir() and not p.name.startswith(".") and (p / "summary.json").is_file()
        ]
        if out.exists()
        else []
    )


def same_outputs(a: Path, b: Path) -> bool:
    for name in ("cohort_levels.csv", "cohort_endplates.csv", "failures.csv"):
        if not filecmp.cmp(a / name, b / name, shallow=False):
            print("differs:", name)
            return False
    for study in sorted(p for p in a.iterdir() if p.is_dir()):
        for image in ("modic_map.nii.gz", "vertebrae.nii.gz", "lesion_probability.nii.gz"):
            x = sitk.GetArrayFromImage(sitk.ReadImage(str(study / image)))
            y = sitk.GetArrayFromImage(sitk.ReadImage(str(b / study.name / image)))
            if not np.array_equal(x, y):
                print("differs:", study.name, image)
                return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).parents[2] / "shared" / "data")
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--n", type=int, default=20)
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    images = args.data / "spider-midsag" / "images"
    pids = sorted({int(p.name.split("_")[0]) for p in images.glob("*_t1.nii.gz")})[: args.n]
    cohort = args.work / "cohort.csv"
    with cohort.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("study_id", "t1", "t2"))
        for pid in pids:
            writer.writerow(
                (f"spider-{pid}", images / f"{pid}_t1.nii.gz", images / f"{pid}_t2.nii.gz")
            )
    result: dict[str, object] = {"studies": len(pids)}
    for workers in (1, 2):
        start = time.perf_counter()
        code = batch(cohort, args.work / f"full{workers}", workers).wait()
        seconds = time.perf_counter() - start
        result[f"workers_{workers}"] = {
            "exit": code,
            "seconds": round(seconds, 1),
            "studies_per_minute": round(60 * len(pids) / seconds, 1),
        }
        print(result, flush=True)
    killed = args.work / "killed"
    process = batch(cohort, killed, 1)
    while len(complete(killed)) < len(pids) // 2:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    before = {p.name: (p / "summary.json").stat().st_mtime_ns for p in complete(killed)}
    partial = [p.name for p in killed.glob(".*.partial-*")]
    code = batch(cohort, killed, 1).wait()
    after = {p.name: (p / "summary.json").stat().st_mtime_ns for p in complete(killed)}
    result["kill_and_resume"] = {
        "complete_when_killed": len(before),
        "partial_folders_left_by_the_kill": len(partial),
        "exit_after_resume": code,
        "complete_after_resume": len(after),
        "recomputed_complete_studies": sum(after[k] != v for k, v in before.items()),
        "outputs_equal_uninterrupted": same_outputs(args.work / "full1", killed),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
