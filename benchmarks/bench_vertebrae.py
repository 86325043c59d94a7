"""Speed of vertebral-body segmentation on a clinical-size 3-D study (issue 4).

A synthetic 15 x 512 x 512 study (`modicmap.synth`), the bundled (or given) model:

    python benchmarks/bench_vertebrae.py [--model BUNDLE] [--threads 2]

Reports wall seconds and CPU seconds of this process (on a shared machine the wall time
also counts the time other jobs hold the cores), and the bodies found next to the truth.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from modicmap.labels import vertebra_name
from modicmap.models.bundle import load_bundle
from modicmap.synth.study import SynthOptions, synthesize_study
from modicmap.vertebrae.inference import segment_vertebrae


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    bundle = load_bundle(args.model)
    study = synthesize_study(7, SynthOptions(slices=15, matrix=512))
    segment_vertebrae(study.t1, bundle)  # warm-up
    times, cpu = [], []
    for _ in range(3):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = segment_vertebrae(study.t1, bundle)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    truth = [int(c) for c in np.unique(sitk.GetArrayFromImage(study.vertebrae)) if c]
    print(
        json.dumps(
            {
                "size": study.t1.GetSize(),
                "threads": args.threads,
                "seconds": [round(t, 2) for t in times],
                "cpu_seconds": [round(t, 2) for t in cpu],
                "bodies": [b.name for b in result.bodies],
                "truth": [vertebra_name(c) for c in truth],
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
