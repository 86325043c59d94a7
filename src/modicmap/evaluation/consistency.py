"""Checks across a folder of run outputs that need no truth: do the findings tell one story?"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from modicmap.grading.coherence import contradictions
from modicmap.grading.operating_point import UPPER_INDEX
from modicmap.grading.tables import read_endplates_csv, read_levels_csv


def run_contradictions(runs: Path) -> dict[str, Any]:
    """Every contradiction between levels.csv and endplates.csv of each run in ``runs``."""
    found: dict[str, list[str]] = {}
    studies = levels = 0
    for run in sorted(p for p in runs.iterdir() if (p / "levels.csv").is_file()):
        if not (run / "endplates.csv").is_file():
            continue
        rows = read_levels_csv(run / "levels.csv")
        studies += 1
        levels += len(rows)
        problems = contradictions(rows, read_endplates_csv(run / "endplates.csv"))
        if problems:
            found[run.name] = problems
    return {
        "studies": studies,
        "levels": levels,
        "contradictions": sum(len(v) for v in found.values()),
        "by_study": found,
    }


def upper_level_sensitivity(index: np.ndarray, graded: np.ndarray, predicted: np.ndarray) -> dict:
    """Sensitivity on the levels from T12-L1 up (``index_from_sacrum`` >= UPPER_INDEX)."""
    upper = (np.asarray(index) >= UPPER_INDEX) & (np.asarray(graded) > 0)
    n = int(upper.sum())
    return {
        "graded_modic_levels": n,
        "sensitivity": float((np.asarray(predicted)[upper] > 0).mean()) if n else None,
    }
