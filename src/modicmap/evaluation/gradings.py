"""Match `run` outputs to per-level gradings in SPIDER's format.

Gradings CSV: columns ``Patient``, ``IVD label`` (1 = the lowest disc, L5-S1, counting
upward) and ``Modic`` (0-3). Each run folder's name is the patient id (as `batch` writes
``DIR/<study_id>/``); a level of ``levels.csv`` matches the graded disc whose ``IVD label``
equals its ``index_from_sacrum``. Graded discs without a matching level (not found, or
named differently) are counted as unmatched, never silently dropped.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from modicmap.errors import InputError
from modicmap.io.gradings import read_spider_gradings


@dataclass(frozen=True)
class MatchedLevel:
    patient: str
    index_from_sacrum: int
    level: str
    graded: int
    predicted: int
    probability: float
    #: the larger endplate probability (= probability without a level model)
    marrow_probability: float | None = None


@dataclass(frozen=True)
class Matching:
    levels: tuple[MatchedLevel, ...]
    graded_levels: int
    runs: int
    patients_without_run: tuple[str, ...]


def read_gradings(path: Path) -> dict[tuple[str, int], int]:
    """(patient, IVD label) -> Modic type. ``path`` is a SPIDER gradings CSV, or a folder of
    readers' ``review.csv`` files (``modicmap review``; IVD label = index_from_sacrum)."""
    if path.is_dir():
        from modicmap.evaluation.reviews import read_review_gradings

        return read_review_gradings(path)
    return read_spider_gradings(path)


def match_runs(runs: Path, gradings: dict[tuple[str, int], int]) -> Matching:
    """Levels of every run folder in ``runs`` matched to the gradings of its patient."""
    if not runs.is_dir():
        raise InputError(runs, "is not a folder of run outputs")
    graded_patients = {p for p, _ in gradings}
    folders = sorted(
        p for p in runs.iterdir() if (p / "levels.csv").is_file() and p.name in graded_patients
    )
    if not folders:
        raise InputError(
            runs, "holds no run folder named after a graded patient (folder name = Patient)"
        )
    from modicmap.evaluation.calibration import endplate_probabilities, larger_of_endplates

    matched = []
    for folder in folders:
        endplates = endplate_probabilities(folder) if (folder / "endplates.csv").is_file() else {}
        with (folder / "levels.csv").open(newline="") as handle:
            for row in csv.DictReader(handle):
                key = (folder.name, int(row["index_from_sacrum"]))
                if key in gradings:
                    matched.append(
                        MatchedLevel(
                            folder.name,
                            key[1],
                            row["level"],
                            gradings[key],
                            int(row["modic"]),
                            float(row["probability"]),
                            larger_of_endplates(row, endplates)
                            if endplates
                            else float(row["probability"]),
                        )
                    )
    names = {f.name for f in folders}
    return Matching(
        levels=tuple(matched),
        graded_levels=sum(1 for p, _ in gradings if p in names),
        runs=len(folders),
        patients_without_run=tuple(sorted(graded_patients - names)),
    )
