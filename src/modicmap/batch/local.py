"""Run studies on a local process pool."""

from __future__ import annotations

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
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(run_one, s, out, model, device, operating_point) for s in studies]
        for future in as_completed(futures):
            outcomes.append(future.result())
            if progress:
                progress(len(outcomes), len(studies))
    return outcomes
