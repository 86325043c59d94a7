"""What ``pacs`` keeps in its work folder between passes: ``skipped.csv`` (studies without a
usable pair, never retried blindly), ``stored.csv`` (results stored back) and
``failures.csv`` (this pass's failed studies, retried next pass). Rows are appended and
flushed to disk one by one, so a killed pass loses nothing it had finished."""

from __future__ import annotations

import csv
import datetime as _dt
import os
from collections.abc import Iterable
from pathlib import Path

SKIPPED = "skipped.csv"
STORED = "stored.csv"
FAILURES = "failures.csv"


def _append(path: Path, header: tuple[str, ...], row: tuple[str, ...]) -> None:
    new = not path.is_file()
    with path.open("a", newline="") as handle:
        writer = csv.writer(handle)
        if new:
            writer.writerow(header)
        writer.writerow(row)
        handle.flush()
        os.fsync(handle.fileno())


def _column(path: Path, key: str) -> dict[str, dict[str, str]]:
    if not path.is_file():
        return {}
    with path.open(newline="") as handle:
        return {row[key]: row for row in csv.DictReader(handle) if row.get(key)}


def skipped(work: Path) -> dict[str, str]:
    """study_uid -> reason of every study recorded as lacking a usable pair."""
    return {uid: row["reason"] for uid, row in _column(work / SKIPPED, "study_uid").items()}


def record_skipped(work: Path, study_uid: str, reason: str) -> None:
    _append(work / SKIPPED, ("study_uid", "reason"), (study_uid, reason))


def stored(work: Path) -> set[str]:
    return set(_column(work / STORED, "study_uid"))


def record_stored(work: Path, study_uid: str, seg_uid: str, sr_uid: str) -> None:
    now = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    _append(
        work / STORED, ("study_uid", "seg_uid", "sr_uid", "time"), (study_uid, seg_uid, sr_uid, now)
    )


def write_failures(work: Path, failures: Iterable[tuple[str, str]]) -> Path:
    target = work / FAILURES
    with target.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("study_uid", "error"))
        writer.writerows(failures)
    return target
