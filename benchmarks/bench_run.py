"""End-to-end speed and memory of `modicmap run` on a clinical-size synthetic study (issue 7).

A synthetic 15 x 512 x 512 T1 (T2 on its own 15 x 448..512 grid), the bundled model,
per-stage seconds from summary.json, peak RSS of the process:

    python benchmarks/bench_run.py
"""

from __future__ import annotations

import json
import resource
import tempfile
import time
from pathlib import Path

from modicmap.pipeline.run import RunOptions, run_study
from modicmap.synth.cohort import write_study
from modicmap.synth.study import SynthOptions, synthesize_study


def main() -> None:
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
    print(
        json.dumps(
            {
                "t1_size": study.t1.GetSize(),
                "t2_size": study.t2.GetSize(),
                "runs": runs,
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
