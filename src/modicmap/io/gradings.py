"""Per-level gradings in SPIDER's CSV format (``Patient``, ``IVD label``, ``Modic``).

Read here, below every stage, because training (``modicmap.lesions``, ``modicmap.grading``)
and evaluation both need them; ``modicmap.evaluation.gradings.read_gradings`` adds the
readers' review folders.
"""

from __future__ import annotations

import csv
from pathlib import Path

from modicmap.errors import InputError


def read_spider_gradings(path: Path) -> dict[tuple[str, int], int]:
    """(patient, IVD label) -> Modic type, from a SPIDER-format gradings CSV."""
    if path.is_dir():
        raise InputError(
            path, "is a folder: a gradings CSV (SPIDER format: Patient, IVD label, Modic) is needed"
        )
    if not path.is_file():
        raise InputError(path, "does not exist")
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"Patient", "IVD label", "Modic"} - set(reader.fieldnames or [])
        if missing:
            raise InputError(
                path,
                f"missing column(s) {sorted(missing)} (SPIDER format: Patient, IVD label, Modic)",
            )
        try:
            return {
                (row["Patient"].strip(), int(row["IVD label"])): int(row["Modic"]) for row in reader
            }
        except ValueError as exc:
            raise InputError(path, f"non-numeric IVD label or Modic ({exc})") from None
