"""Speed of synthetic study generation (issue 3).

python benchmarks/bench_synth.py
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from modicmap.synth.cohort import write_cohort
from modicmap.synth.study import SynthOptions, synthesize_study


def main() -> None:
    synthesize_study(0, SynthOptions(slices=3, matrix=64))  # warm-up (imports, caches)
    times = []
    for seed in (1, 2, 3):
        start = time.perf_counter()
        synthesize_study(seed, SynthOptions(slices=15, matrix=512))
        times.append(time.perf_counter() - start)
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        write_cohort(Path(folder), 10, seed=0, options=SynthOptions(slices=5, matrix=128))
        cohort = time.perf_counter() - start
    print(
        json.dumps(
            {
                "study_15x512x512_s": [round(t, 2) for t in times],
                "cohort_10_studies_5x128x128_written_s": round(cohort, 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
