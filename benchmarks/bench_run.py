"""End-to-end speed and memory of `modicmap run` on a clinical-size synthetic study (issue 7).

A synthetic 15 x 512 x 512 T1 (T2 on its own 15 x 448..512 grid), the bundled model,
per-stage seconds from summary.json, peak RSS of the process; then the same study through
the command line (``modicmap run`` in a fresh process: start-up, imports and exit
included), ``--cli`` times, with that process's peak RSS:

    python benchmarks/bench_run.py [--cli 3]

Register and vertebrae overlap (the registration runs in its own thread while the vertebra
network reads the T1; "vertebrae" includes waiting for the registered T2), so the stages
add up to more than the wall time.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from modicmap.pipeline.run import RunOptions, run_study
from modicmap.synth.cohort import write_study
from modicmap.synth.study import SynthOptions, synthesize_study


def cli_run(t1: Path, t2: Path, out: Path) -> tuple[float, int]:
    """Wall seconds and peak RSS (MB) of one ``modicmap run`` process."""
    start = time.perf_counter()
    command = ["--t1", str(t1), "--t2", str(t2), "--out", str(out), "--force", "--quiet"]
    subprocess.run([sys.executable, "-m", "modicmap", "run", *command], check=True)
    wall = time.perf_counter() - start
    return wall, round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cli", type=int, default=3, help="command-line runs (0: none)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        study = synthesize_study(99, SynthOptions(slices=15, matrix=512), study_id="bench")
        t1, t2 = write_study(study, root / "bench")
        runs = []
        for i in range(2):
            start = time.perf_counter()
            run_study(t1, t2, root / f"out{i}", RunOptions())
            wall = time.perf_counter() - start
            summary = json.loads((root / f"out{i}" / "summary.json").read_text())
            runs.append({"wall_s": round(wall, 2), "stages_s": summary["seconds"]})
        peak_in_process = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        cli = [cli_run(t1, t2, root / f"cli{i}") for i in range(args.cli)]
    print(
        json.dumps(
            {
                "t1_size": study.t1.GetSize(),
                "t2_size": study.t2.GetSize(),
                "runs": runs,
                "peak_rss_mb": peak_in_process,
                "cli_wall_s": [round(w, 2) for w, _ in cli],
                "cli_wall_median_s": round(statistics.median(w for w, _ in cli), 2)
                if cli
                else None,
                "cli_peak_rss_mb": max((m for _, m in cli), default=None),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
