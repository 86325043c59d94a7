"""``modicmap batch``: run every study of a cohort CSV, resumably, one failure never stops the rest.

Each study is written atomically by ``run`` (temporary sibling folder renamed into
place), so a study folder that exists is complete; a killed batch leaves only hidden
``.<id>.partial-*`` folders, which a later run removes once they are an hour old (younger
ones may belong to another batch writing into the same folder) and redoes.
"""

from __future__ import annotations

import csv
import json
import logging
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from modicmap.errors import InputError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CohortStudy:
    study_id: str
    t1: Path
    t2: Path


@dataclass(frozen=True)
class StudyOutcome:
    study_id: str
    ok: bool
    error: str = ""


def read_cohort(path: Path) -> list[CohortStudy]:
    """Rows of ``study_id,t1,t2``; relative paths are relative to the CSV's folder."""
    if not path.is_file():
        raise InputError(path, "does not exist")
    try:
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            missing = {"study_id", "t1", "t2"} - set(reader.fieldnames or [])
            if missing:
                raise InputError(path, f"missing column(s) {sorted(missing)}; need study_id,t1,t2")
            rows = list(reader)
    except UnicodeDecodeError:
        raise InputError(path, "is not a text CSV file") from None
    studies, seen = [], set()
    for number, row in enumerate(rows, start=2):
        study_id = (row["study_id"] or "").strip()
        if not study_id or "/" in study_id or study_id.startswith("."):
            raise InputError(path, f"line {number}: invalid study_id {study_id!r}")
        if study_id in seen:
            raise InputError(path, f"line {number}: study_id {study_id!r} appears twice")
        seen.add(study_id)
        studies.append(
            CohortStudy(study_id, path.parent / row["t1"].strip(), path.parent / row["t2"].strip())
        )
    if not studies:
        raise InputError(path, "lists no studies")
    return studies


def is_complete(folder: Path) -> bool:
    return (folder / "summary.json").is_file() and (folder / "levels.csv").is_file()


#: a ``.partial-*`` folder untouched this long belongs to no live run
STALE_PARTIAL_S = 3600.0


def clean_partials(out: Path, *, now: float | None = None) -> None:
    """Remove stale half-written study folders (a killed run's), not live ones."""
    now = time.time() if now is None else now
    for leftover in out.glob(".*.partial-*"):
        try:
            age = now - leftover.stat().st_mtime
        except OSError:  # removed meanwhile by its own run
            continue
        if age > STALE_PARTIAL_S:
            shutil.rmtree(leftover, ignore_errors=True)


def gather(out: Path, studies: Iterable[CohortStudy], name: str) -> Path:
    """``cohort_<name>.csv``: every study's rows with a ``study_id`` column first."""
    rows, columns = [], None
    for study in studies:
        path = out / study.study_id / f"{name}.csv"
        if not path.is_file():
            continue
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            columns = columns or reader.fieldnames
            rows += [{"study_id": study.study_id, **row} for row in reader]
    target = out / f"cohort_{name}.csv"
    with target.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["study_id", *(columns or [])])
        writer.writeheader()
        writer.writerows(rows)
    return target


def gather_warnings(out: Path, studies: Iterable[CohortStudy]) -> Path:
    """``cohort_warnings.csv``: one ``study_id,warning`` row per warning in each study's
    summary.json, so the studies to look at can be filtered in a cohort of hundreds."""
    rows = []
    for study in studies:
        path = out / study.study_id / "summary.json"
        if not path.is_file():
            continue
        try:
            warnings = json.loads(path.read_text()).get("warnings", [])
        except (OSError, ValueError, AttributeError):
            logger.warning("%s: unreadable summary.json; its warnings are not gathered", path)
            continue
        rows += [(study.study_id, str(w)) for w in warnings]
    target = out / "cohort_warnings.csv"
    with target.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("study_id", "warning"))
        writer.writerows(rows)
    return target


def write_failures(out: Path, outcomes: Iterable[StudyOutcome]) -> Path:
    target = out / "failures.csv"
    with target.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("study_id", "error"))
        writer.writerows((o.study_id, o.error) for o in outcomes if not o.ok)
    return target


def run_one(
    study: CohortStudy,
    out: Path,
    model: Path | None,
    device: str,
    operating_point: str | float | None = None,
) -> StudyOutcome:
    """Run one study in a worker; every error becomes an outcome (never raised)."""
    import logging as _logging

    from modicmap.pipeline.run import RunOptions, run_study

    _logging.getLogger("modicmap").setLevel(_logging.WARNING)
    try:
        options = RunOptions(model=model, device=device, operating_point=operating_point)
        run_study(study.t1, study.t2, out / study.study_id, options)
        return StudyOutcome(study.study_id, True)
    except InputError as exc:
        return StudyOutcome(study.study_id, False, str(exc))
    except Exception as exc:  # a bug in one study must not stop the cohort; it is reported
        return StudyOutcome(study.study_id, False, f"{type(exc).__name__}: {exc}")


def run_cohort(
    cohort: Path,
    out: Path,
    *,
    workers: int = 1,
    scheduler: str | None = None,
    model: Path | None = None,
    device: str = "cpu",
    progress: Callable[[int, int], None] | None = None,
    operating_point: str | float | None = None,
) -> list[StudyOutcome]:
    """Run every study not yet complete; gather the cohort tables; return all outcomes."""
    studies = read_cohort(cohort)
    out.mkdir(parents=True, exist_ok=True)
    clean_partials(out)
    todo = [s for s in studies if not is_complete(out / s.study_id)]
    logger.info("%d studies, %d already complete", len(studies), len(studies) - len(todo))
    done = {s.study_id: StudyOutcome(s.study_id, True) for s in studies if s not in todo}
    for study in todo:  # a folder without summary.json is half-written: redo it
        if (out / study.study_id).exists():
            shutil.rmtree(out / study.study_id)
    if scheduler:
        from modicmap.batch.dask_runner import run_on_dask

        outcomes = run_on_dask(
            scheduler, todo, out, model, device, progress, operating_point=operating_point
        )
    else:
        from modicmap.batch.local import run_on_pool

        outcomes = run_on_pool(
            todo, out, model, device, workers, progress, operating_point=operating_point
        )
    done.update({o.study_id: o for o in outcomes})
    ordered = [done[s.study_id] for s in studies]
    gather(out, studies, "levels")
    gather(out, studies, "endplates")
    gather_warnings(out, studies)
    write_failures(out, ordered)
    return ordered
