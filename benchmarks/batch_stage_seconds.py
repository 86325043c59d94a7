"""Where does a Dask LocalCluster lose time against the 2-worker pool? Per-study stage seconds.

    python benchmarks/batch_stage_seconds.py

Four synthetic 15 x 512 x 512 studies (seeds 4200-4203) through `modicmap batch --workers 2`
and through a LocalCluster (2 processes x 1 thread); prints each run's wall time, the stage
seconds summed over the studies (from summary.json), and the Dask workers' thread settings.
Works in a temporary folder.
"""

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dask.distributed import LocalCluster

from modicmap.synth.cohort import write_study
from modicmap.synth.study import SynthOptions, synthesize_study


def _threads() -> tuple[str | None, int, int]:
    """OMP_NUM_THREADS, torch's and ITK's thread counts in this process."""
    import os

    import SimpleITK as sitk
    import torch

    return (
        os.environ.get("OMP_NUM_THREADS"),
        torch.get_num_threads(),
        sitk.ProcessObject.GetGlobalDefaultNumberOfThreads(),
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        measure(Path(folder))


def measure(root: Path) -> None:
    rows = ["study_id,t1,t2"]
    for i in range(4):
        s = synthesize_study(4200 + i, SynthOptions(slices=15, matrix=512), study_id=f"b{i}")
        t1, t2 = write_study(s, root / "in" / f"b{i}")
        rows.append(f"b{i},{t1},{t2}")
    (root / "c.csv").write_text("\n".join(rows) + "\n")

    def batch(out: Path, *extra: str) -> float:
        t = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "modicmap",
                "batch",
                str(root / "c.csv"),
                "--out",
                str(out),
                "--quiet",
                *extra,
            ],
            check=True,
        )
        return time.perf_counter() - t

    def stages(out: Path) -> dict[str, float]:
        tot: dict[str, float] = {}
        for f in sorted(out.glob("b*/summary.json")):
            for k, v in json.loads(f.read_text())["seconds"].items():
                tot[k] = round(tot.get(k, 0) + v, 1)
        return tot

    print("pool2", round(batch(root / "pool", "--workers", "2"), 1), stages(root / "pool"))
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as c:
        print(
            "dask",
            round(batch(root / "dask", "--scheduler", c.scheduler_address), 1),
            stages(root / "dask"),
        )
        import dask.distributed as dd

        client = dd.Client(c)
        print("worker thread settings (OMP_NUM_THREADS, torch, ITK):", client.run(_threads))
        client.close()


if __name__ == "__main__":
    main()
