"""One ``pacs`` pass: find studies, pick and retrieve their series, run them on the batch
machinery (process pool or Dask), store the SEG and SR back, and keep the ledger.

Idempotent by construction: a study whose server copy already holds an SR of this
software and model version (its Series Description, :func:`series_description`) is done;
results are computed into ``DIR/results/<study_uid>/`` (written atomically by ``run``) and
stored with their own SOP Instance UIDs, so re-storing after a pass killed mid-STOW does
not duplicate anything (the server keeps one instance per UID); the SEG goes before the SR
in one STOW request, so a stored SR means a stored SEG.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pydicom

from modicmap.batch.cohort import CohortStudy, StudyOutcome, clean_partials, gather, is_complete
from modicmap.export.dicom_sr import series_description
from modicmap.pacs import ledger
from modicmap.pacs.client import Pacs, RemoteSeries, ServerError
from modicmap.pacs.selection import NoUsablePairError, candidate, choose_pair, image_series

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PacsOptions:
    work: Path
    studies: tuple[str, ...] = ()
    new: bool = False
    workers: int = 1
    scheduler: str | None = None
    model: Path | None = None
    device: str = "cpu"
    keep: bool = False
    chunk: int = 0  # studies retrieved before running them; 0: twice the workers, at least 4


@dataclass(frozen=True)
class PassReport:
    stored: tuple[str, ...]
    already_done: tuple[str, ...]
    skipped: tuple[str, ...]
    failed: tuple[tuple[str, str], ...]


def prepare_work(work: Path) -> Path:
    """The work folder, readable by the user only (it holds patient data)."""
    work.mkdir(parents=True, exist_ok=True)
    work.chmod(0o700)
    for name in ("images", "results"):
        (work / name).mkdir(exist_ok=True)
        (work / name).chmod(0o700)
    return work


def _study_list(pacs: Pacs, options: PacsOptions) -> list[str]:
    uids = list(options.studies)
    if options.new:
        uids += list(pacs.mr_studies())
    return list(dict.fromkeys(u.strip() for u in uids if u.strip()))


def _retrieve_pair(
    pacs: Pacs, study_uid: str, series: list[RemoteSeries], work: Path
) -> CohortStudy:
    images = work / "images" / study_uid
    remote = image_series(series)
    candidates = [candidate(s, pacs.first_header(s), images) for s in remote]
    pair = choose_pair(images, remote, candidates)
    partial = work / "images" / f".{study_uid}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    shutil.rmtree(images, ignore_errors=True)
    for role, chosen in (("t1", pair.t1), ("t2", pair.t2)):
        n = pacs.retrieve(chosen, partial / role)
        logger.info(
            "%s: fetched %s series '%s' (%d images)", study_uid, role.upper(), chosen.description, n
        )
    partial.rename(images)
    return CohortStudy(study_uid, images / "t1", images / "t2")


def _run(todo: list[CohortStudy], results: Path, options: PacsOptions) -> list[StudyOutcome]:
    if not todo:
        return []
    level = logging.getLogger("modicmap").level
    try:
        if options.scheduler:
            from modicmap.batch.dask_runner import run_on_dask

            return run_on_dask(options.scheduler, todo, results, options.model, options.device)
        from modicmap.batch.local import run_on_pool

        return run_on_pool(todo, results, options.model, options.device, options.workers)
    finally:
        logging.getLogger("modicmap").setLevel(level)  # run_one quietens it in-process


def _store(pacs: Pacs, study_uid: str, result: Path, work: Path) -> None:
    seg, sr = result / "modic_seg.dcm", result / "modic_sr.dcm"
    if not (seg.is_file() and sr.is_file()):
        raise ServerError(f"{result} lacks modic_seg.dcm or modic_sr.dcm")
    uids = [pydicom.dcmread(str(p), stop_before_pixels=True).SOPInstanceUID for p in (seg, sr)]
    pacs.store(study_uid, [seg, sr])
    ledger.record_stored(work, study_uid, str(uids[0]), str(uids[1]))
    logger.info("%s: stored SEG %s and SR %s", study_uid, uids[0], uids[1])


def run_pass(
    pacs: Pacs,
    options: PacsOptions,
    model_id: str,
    progress: Callable[[str, str], None] | None = None,
) -> PassReport:
    """Process every study of ``options``; one failing study never stops the others."""
    work = prepare_work(options.work)
    old_umask = os.umask(0o077)
    try:
        return _run_pass(pacs, options, work, series_description(model_id), progress)
    finally:
        os.umask(old_umask)


def _run_pass(
    pacs: Pacs,
    options: PacsOptions,
    work: Path,
    marker: str,
    progress: Callable[[str, str], None] | None,
) -> PassReport:
    pacs.check_access()
    results = work / "results"
    clean_partials(results)
    uids = _study_list(pacs, options)
    logger.info("%d studies to look at on %s", len(uids), pacs.url)
    known_skipped = ledger.skipped(work)
    stored: list[str] = []
    done: list[str] = []
    skipped: list[str] = []
    failed: dict[str, str] = {}
    size = options.chunk or max(4, 2 * options.workers)

    def note(uid: str, what: str) -> None:
        if progress:
            progress(uid, what)

    for start in range(0, len(uids), size):
        todo: list[CohortStudy] = []
        ready: list[str] = []
        for uid in uids[start : start + size]:
            if uid in known_skipped:
                logger.info("%s: skipped in an earlier pass (%s)", uid, known_skipped[uid])
                skipped.append(uid)
                note(uid, "skipped")
                continue
            try:
                series = pacs.series(uid)
                if not series:
                    raise ServerError("no such study on the server")
                if any(s.modality == "SR" and s.description == marker for s in series):
                    logger.info("%s: already holds this model's SR", uid)
                    done.append(uid)
                    note(uid, "done")
                    continue
                if is_complete(results / uid):
                    ready.append(uid)  # run before, not (or not wholly) stored
                    continue
                shutil.rmtree(results / uid, ignore_errors=True)  # half-written
                todo.append(_retrieve_pair(pacs, uid, series, work))
            except NoUsablePairError as exc:
                logger.warning("%s: skipped: %s", uid, exc)
                ledger.record_skipped(work, uid, str(exc))
                skipped.append(uid)
                note(uid, "skipped")
            except ServerError as exc:
                logger.error("%s: %s", uid, exc)
                failed[uid] = str(exc)
                note(uid, "failed")
        for outcome in _run(todo, results, options):
            if outcome.ok:
                ready.append(outcome.study_id)
            else:
                logger.error("%s: run failed: %s", outcome.study_id, outcome.error)
                failed[outcome.study_id] = outcome.error
                note(outcome.study_id, "failed")
                _drop_images(work, outcome.study_id, options.keep)
        for uid in ready:
            try:
                _store(pacs, uid, results / uid, work)
                stored.append(uid)
                note(uid, "stored")
            except ServerError as exc:
                logger.error("%s: %s", uid, exc)
                failed[uid] = str(exc)
                note(uid, "failed")
            _drop_images(work, uid, options.keep)
    ledger.write_failures(work, failed.items())
    finished = [CohortStudy(u, Path(), Path()) for u in uids if is_complete(results / u)]
    gather(results, finished, "levels").replace(work / "cohort_levels.csv")
    gather(results, finished, "endplates").replace(work / "cohort_endplates.csv")
    return PassReport(tuple(stored), tuple(done), tuple(skipped), tuple(failed.items()))


def _drop_images(work: Path, study_uid: str, keep: bool) -> None:
    if not keep:
        shutil.rmtree(work / "images" / study_uid, ignore_errors=True)
