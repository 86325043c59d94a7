"""``endplates.csv`` and ``levels.csv``: the rows users read, in the CONTRACT's columns."""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass, fields
from pathlib import Path


@dataclass(frozen=True)
class EndplateGrade:
    vertebra: str  # e.g. "L4"
    endplate: str  # "superior" / "inferior"
    modic: int  # 0-3
    type1_fraction: float
    type2_fraction: float
    type3_fraction: float
    lesion_mm3: float  # mm^2 for a single slice
    probability: float


@dataclass(frozen=True)
class LevelGrade:
    level: str  # e.g. "L4-L5"
    index_from_sacrum: int  # 1 = the disc just above the sacrum
    upper_vertebra: str
    lower_vertebra: str
    modic: int
    upper_endplate_modic: int  # inferior endplate of the upper vertebra
    lower_endplate_modic: int  # superior endplate of the lower vertebra
    probability: float


#: CSV columns, in the CONTRACT's order (the dataclass fields define them)
ENDPLATE_COLUMNS = tuple(f.name for f in fields(EndplateGrade))
LEVEL_COLUMNS = tuple(f.name for f in fields(LevelGrade))


def _fmt(value: object) -> object:
    return round(value, 6) if isinstance(value, float) else value


def write_rows(
    rows: list[EndplateGrade] | list[LevelGrade], path: Path, columns: tuple[str, ...]
) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _fmt(v) for k, v in asdict(row).items()})
    return path


def write_endplates_csv(rows: list[EndplateGrade], path: Path) -> Path:
    return write_rows(rows, path, ENDPLATE_COLUMNS)


def write_levels_csv(rows: list[LevelGrade], path: Path) -> Path:
    return write_rows(rows, path, LEVEL_COLUMNS)


def read_endplates_csv(path: Path) -> list[EndplateGrade]:
    with path.open(newline="") as handle:
        return [
            EndplateGrade(
                vertebra=r["vertebra"],
                endplate=r["endplate"],
                modic=int(r["modic"]),
                type1_fraction=float(r["type1_fraction"]),
                type2_fraction=float(r["type2_fraction"]),
                type3_fraction=float(r["type3_fraction"]),
                lesion_mm3=float(r["lesion_mm3"]),
                probability=float(r["probability"]),
            )
            for r in csv.DictReader(handle)
        ]


def read_levels_csv(path: Path) -> list[LevelGrade]:
    with path.open(newline="") as handle:
        return [
            LevelGrade(
                level=r["level"],
                index_from_sacrum=int(r["index_from_sacrum"]),
                upper_vertebra=r["upper_vertebra"],
                lower_vertebra=r["lower_vertebra"],
                modic=int(r["modic"]),
                upper_endplate_modic=int(r["upper_endplate_modic"]),
                lower_endplate_modic=int(r["lower_endplate_modic"]),
                probability=float(r["probability"]),
            )
            for r in csv.DictReader(handle)
        ]
