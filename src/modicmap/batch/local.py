"""Run studies on a local process pool."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from modicmap.batch.cohort import CohortStudy, StudyOutcome, run_one


def run_on_pool(
    studies: list[CohortStudy],
    out: Path,
    model: Path | None,
    device: str,
    workers: int,
    progress: Callable[[int, int], None] | None = None,
    operating_point: str | float | None = None,
) -> list[StudyOutcome]:
    outcomes: list[StudyOutcome] = []
    if workers <= 1:
        for study in studies:
            outcomes.append(run_one(study, out, model, device, operating_point))
            if progress:
                progress(len(outcomes), len(studies))
        return outcomes
    threads = max(1, (os.cpu_count() or 1) // workers)
    with ProcessPoolExecutor(
        max_workers=workers, initializer=share_cores, initargs=(threads,)
    ) as pool:
        futures = [pool.submit(run_one, s, out, model, device, operating_point) for s in studies]
        for future in as_completed(futures):
            outcomes.append(future.result())
            if progress:
                progress(len(outcomes), len(studies))
    return outcomes


def share_cores(threads: int) -> None:
    """A worker's torch threads: the machine's cores shared among the workers (torch would
    otherwise start one thread per core in every worker, and N workers would fight over
    the cores). The results do not depend on it (tests/test_batch.py)."""
    import torch

    torch.set_num_threads(threads)
