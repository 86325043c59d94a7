"""Readers' reviews as gradings: a folder of ``<study>/review.csv`` files (as ``modicmap
review`` writes them) read in the shape of SPIDER's per-level gradings, so a site can
calibrate and evaluate on its own readers' grades."""

from __future__ import annotations

import logging
from pathlib import Path

from modicmap.errors import InputError
from modicmap.review.table import ReviewRow, read_review_csv, with_study

logger = logging.getLogger(__name__)


def review_files(folder: Path) -> list[Path]:
    """``folder/review.csv`` (one study) or ``folder/<study>/review.csv`` (a batch)."""
    if (folder / "review.csv").is_file():
        return [folder / "review.csv"]
    return sorted(p for p in folder.glob("*/review.csv") if p.is_file())


def read_review_rows(folder: Path) -> list[ReviewRow]:
    files = review_files(folder)
    if not files:
        raise InputError(folder, "holds no review.csv (write them with `modicmap review`)")
    rows = []
    for path in files:
        # the run folder names the study, as `batch` writes it and `match_runs` reads it
        rows += with_study(read_review_csv(path), path.parent.name)
    return rows


def read_review_gradings(folder: Path) -> dict[tuple[str, int], int]:
    """(study, index from sacrum) -> the reader's Modic type, from the reviewed ``level``
    rows; a level whose row is missing but whose endplates were both reviewed takes the
    larger of their types (the CONTRACT: a level is Modic when an endplate is)."""
    rows = read_review_rows(folder)
    levels = {
        (r.study_id, r.index_from_sacrum): r.modic_reader for r in rows if r.endplate == "level"
    }
    sides: dict[tuple[str, int], dict[str, int]] = {}
    for r in rows:
        if r.endplate != "level":
            sides.setdefault((r.study_id, r.index_from_sacrum), {})[r.endplate] = r.modic_reader
    for key, graded in sides.items():
        if key not in levels and len(graded) == 2:
            levels[key] = max(graded.values())
    logger.info(
        "%d reviewed levels of %d studies in %s", len(levels), len({s for s, _ in levels}), folder
    )
    return levels


def read_review_endplate_gradings(folder: Path) -> dict[tuple[str, int, str], int]:
    """(study, index from sacrum, "upper"/"lower") -> the reader's Modic type, from the
    reviewed endplate rows (empty when the reviews graded levels only)."""
    return {
        (r.study_id, r.index_from_sacrum, r.endplate): r.modic_reader
        for r in read_review_rows(folder)
        if r.endplate in ("upper", "lower")
    }
