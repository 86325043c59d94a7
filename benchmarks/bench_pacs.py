"""Throughput of `modicmap pacs` through a real local Orthanc vs `modicmap batch` on the
same studies from files, with 1 and 2 workers (issue 28).

Synthetic DICOM studies (`synth --format dicom`) are uploaded to a private Orthanc
(Debian orthanc + orthanc-dicomweb, started here on free ports); each configuration runs
as its own CLI process on a fresh work folder (pacs: a fresh Orthanc holding the same
studies), and its wall time, start-up included, gives studies per minute.

    python benchmarks/bench_pacs.py --work /tmp/pacs-bench --n 4 --slices 3 --matrix 128
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

from modicmap.pacs.local_orthanc import LocalOrthanc, missing
from modicmap.synth.cohort import write_cohort
from modicmap.synth.study import SynthOptions


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def load() -> float:
    """The machine's 1-minute load average (other users' work skews the timings)."""
    return round(os.getloadavg()[0], 2)


def pacs_pass(cli: list[str], work: Path, files: list[Path], n: int, extra: list[str]) -> float:
    """Seconds of one `pacs --new` pass on a fresh Orthanc holding ``files``."""
    with LocalOrthanc(work / "orthanc") as node:
        node.upload(files)
        where = ["--url", node.dicomweb_url, "--work", str(work / "work")]
        seconds = timed([*cli, "pacs", *where, "--new", *extra])
        uids = {
            line.split(",")[0]
            for line in (work / "work" / "stored.csv").read_text().splitlines()[1:]
        }
        stored = sum(node.count(uid, "SR") for uid in uids)
        assert stored == n, f"pacs stored {stored} SRs for {n} studies"
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--slices", type=int, default=3)
    parser.add_argument("--matrix", type=int, default=128)
    parser.add_argument("--seed", type=int, default=28)
    parser.add_argument(
        "--repeats", type=int, default=2, help="runs per setting; the fastest counts"
    )
    args = parser.parse_args()
    if missing():
        sys.exit(f"bench_pacs: {missing()}")
    shutil.rmtree(args.work, ignore_errors=True)
    synth = args.work / "synth"
    options = SynthOptions(slices=args.slices, matrix=args.matrix)
    cohort = write_cohort(synth, args.n, args.seed, fmt="dicom", options=options)
    files = sorted(synth.rglob("*.dcm"))
    cli = [sys.executable, "-m", "modicmap"]
    rows = []
    for workers in (1, 2):
        many = ["--workers", str(workers), "--quiet"]
        for mode in ("batch (files)", "pacs (Orthanc)"):
            times, loads = [], []
            for repeat in range(args.repeats):
                tag = f"{mode.split()[0]}-{workers}-{repeat}"
                if mode.startswith("batch"):
                    out = ["--out", str(args.work / tag)]
                    times.append(timed([*cli, "batch", str(cohort), *out, *many]))
                else:
                    times.append(pacs_pass(cli, args.work / tag, files, args.n, many))
                loads.append(load())
            rows.append(
                {
                    "mode": mode,
                    "workers": workers,
                    "seconds": min(times),  # the least disturbed by other users' work
                    "all_seconds": [round(t, 1) for t in times],
                    "load": loads,
                }
            )
    for row in rows:
        row["studies_per_minute"] = round(60.0 * args.n / float(row["seconds"]), 2)
        row["seconds"] = round(float(row["seconds"]), 1)
        print(
            f"{row['mode']:16s} workers={row['workers']}  {row['seconds']:6.1f} s  "
            f"{row['studies_per_minute']:5.2f} studies/min  (all {row['all_seconds']} s; "
            f"load average {row['load']})"
        )
    result = {
        "studies": args.n,
        "slices": args.slices,
        "matrix": args.matrix,
        "repeats": args.repeats,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "rows": rows,
    }
    (args.work / "bench_pacs.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
