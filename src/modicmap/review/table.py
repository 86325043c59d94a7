"""``review.csv``: one row per disc level and per endplate a reader confirmed or changed.

Columns (CONTRACT): ``study_id, level, index_from_sacrum, endplate, modic_machine,
modic_reader, reader, time, note``; ``endplate`` is ``level`` for the disc level's own
grade, ``upper`` for the inferior endplate of the upper vertebra and ``lower`` for the
superior endplate of the lower vertebra (as in ``levels.csv``).
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from modicmap.errors import InputError
from modicmap.grading.tables import LevelGrade

#: the values of the ``endplate`` column
ENDPLATES = ("level", "upper", "lower")


@dataclass(frozen=True)
class ReviewRow:
    study_id: str
    level: str  # e.g. "L4-L5"
    index_from_sacrum: int  # 1 = the disc just above the sacrum
    endplate: str  # "level", "upper" or "lower"
    modic_machine: int  # 0-3, the grade modicmap wrote
    modic_reader: int  # 0-3, the reader's grade
    reader: str
    time: str  # ISO 8601
    note: str = ""


REVIEW_COLUMNS = tuple(f.name for f in fields(ReviewRow))


def machine_rows(study_id: str, levels: Sequence[LevelGrade]) -> list[ReviewRow]:
    """The rows a reader is asked to review: each level, then its upper and lower endplate,
    with the machine's grade and no reader grade yet (``modic_reader`` = the machine's)."""
    rows = []
    for level in levels:
        for endplate, modic in (
            ("level", level.modic),
            ("upper", level.upper_endplate_modic),
            ("lower", level.lower_endplate_modic),
        ):
            rows.append(
                ReviewRow(
                    study_id, level.level, level.index_from_sacrum, endplate, modic, modic, "", ""
                )
            )
    return rows


def parse_review_csv(text: str, source: Path | str) -> list[ReviewRow]:
    """Rows of a review.csv's text; ``source`` names the file in the error."""
    reader = csv.DictReader(io.StringIO(text))
    missing = set(REVIEW_COLUMNS) - set(reader.fieldnames or [])
    if missing:
        raise InputError(source, f"is not a review.csv: missing column(s) {sorted(missing)}")
    rows = []
    for number, raw in enumerate(reader, start=2):
        try:
            row = ReviewRow(
                study_id=raw["study_id"].strip(),
                level=raw["level"].strip(),
                index_from_sacrum=int(raw["index_from_sacrum"]),
                endplate=raw["endplate"].strip(),
                modic_machine=int(raw["modic_machine"]),
                modic_reader=int(raw["modic_reader"]),
                reader=raw["reader"] or "",
                time=raw["time"] or "",
                note=raw["note"] or "",
            )
        except (TypeError, ValueError) as exc:
            raise InputError(
                source, f"line {number}: not a number where one is due ({exc})"
            ) from None
        if row.endplate not in ENDPLATES:
            raise InputError(
                source, f"line {number}: endplate {row.endplate!r} is not one of {ENDPLATES}"
            )
        if not (0 <= row.modic_machine <= 3 and 0 <= row.modic_reader <= 3):
            raise InputError(source, f"line {number}: Modic type outside 0-3")
        if row.index_from_sacrum < 1:
            raise InputError(source, f"line {number}: index_from_sacrum below 1")
        rows.append(row)
    return rows


def read_review_csv(path: Path) -> list[ReviewRow]:
    if not path.is_file():
        raise InputError(path, "does not exist")
    return parse_review_csv(path.read_text(encoding="utf-8"), path)


def with_study(rows: Iterable[ReviewRow], study_id: str) -> list[ReviewRow]:
    """The rows with their ``study_id`` set (the server trusts its folder, not the page)."""
    return [replace(r, study_id=study_id) for r in rows]


def write_review_csv(rows: Iterable[ReviewRow], path: Path) -> Path:
    """Write atomically: a reader's earlier review is never left half overwritten."""
    handle, tmp = tempfile.mkstemp(prefix=".review-", suffix=".csv", dir=path.parent)
    try:
        with os.fdopen(handle, "w", newline="", encoding="utf-8") as out:
            writer = csv.DictWriter(out, fieldnames=list(REVIEW_COLUMNS))
            writer.writeheader()
            for row in rows:
                writer.writerow(asdict(row))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
