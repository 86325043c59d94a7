"""Cohort throughput on this machine's CPU: `modicmap batch` with 1 and 2 local workers and on
a Dask LocalCluster (2 worker processes, 1 thread each), on the same synthetic studies.

    python benchmarks/bench_batch.py [--studies 6] [--matrix 512] [--json W/batch.json]

Each configuration writes into its own fresh folder (nothing is skipped as complete); the
wall time covers the whole command, so process start-up and model loading count.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from modicmap.synth.cohort import write_study
from modicmap.synth.study import SynthOptions, synthesize_study


def batch(cohort: Path, out: Path, *extra: str) -> float:
    start = time.perf_counter()
    command = [sys.executable, "-m", "modicmap", "batch", str(cohort), "--out", str(out)]
    subprocess.run([*command, "--quiet", *extra], check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=6)
    parser.add_argument("--matrix", type=int, default=512)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    from dask.distributed import LocalCluster

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        rows = ["study_id,t1,t2"]
        for i in range(args.studies):
            study = synthesize_study(
                4200 + i, SynthOptions(slices=15, matrix=args.matrix), study_id=f"b{i}"
            )
            t1, t2 = write_study(study, root / "in" / f"b{i}")
            rows.append(f"b{i},{t1},{t2}")
        cohort = root / "cohort.csv"
        cohort.write_text("\n".join(rows) + "\n")
        results = {}
        for name, extra in (("1 worker", ["--workers", "1"]), ("2 workers", ["--workers", "2"])):
            results[name] = batch(cohort, root / name.replace(" ", "_"), *extra)
        with LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster:
            results["Dask LocalCluster, 2 processes x 1 thread"] = batch(
                cohort, root / "dask", "--scheduler", cluster.scheduler_address
            )
    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "studies": args.studies,
        "study": f"synthetic 15 x {args.matrix} x {args.matrix}",
        "wall_s": {k: round(v, 1) for k, v in results.items()},
        "studies_per_minute": {k: round(60 * args.studies / v, 2) for k, v in results.items()},
    }
    print(json.dumps(report, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
