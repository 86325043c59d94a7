"""Run studies on a Dask distributed cluster (``--scheduler tcp://host:port``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from modicmap.batch.cohort import CohortStudy, StudyOutcome, run_one
from modicmap.errors import InputError


def run_on_dask(
    scheduler: str,
    studies: list[CohortStudy],
    out: Path,
    model: Path | None,
    device: str,
    progress: Callable[[int, int], None] | None = None,
    client: object | None = None,
    operating_point: str | float | None = None,
) -> list[StudyOutcome]:
    from dask.distributed import Client, as_completed

    own = client is None
    if own:
        try:
            client = Client(scheduler, timeout="20s")
        except OSError as exc:
            raise InputError(scheduler, f"cannot reach the Dask scheduler ({exc})") from None
    try:
        futures = [
            client.submit(run_one, s, out, model, device, operating_point, pure=False)  # type: ignore[attr-defined]
            for s in studies
        ]
        outcomes = []
        for future in as_completed(futures):
            outcomes.append(future.result())
            if progress:
                progress(len(outcomes), len(studies))
        return outcomes
    finally:
        if own:
            client.close()  # type: ignore[attr-defined]
