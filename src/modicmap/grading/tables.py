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
    # the measures readers report (ISSLS, Fields et al. 2019; Nordic size grades, Jensen et
    # al. 2007), over the lesion voxels of the body half next to this endplate
    height_fraction: float = 0.0  # the lesion's extent from the endplate / the body's height
    extent_grade: int = 0  # 0 none, 1 < 25 %, 2 25-50 %, 3 > 50 % of the body height
    volume_fraction: float = 0.0  # lesion volume / body volume
    mixed_type: str = ""  # e.g. "1/2" when a second type covers >= MIXED_SHARE of the lesion
    second_type_share: float = 0.0  # that second type's share of the lesion voxels
    #: "graded" (a Modic finding of its level), "sub-threshold" (lesion voxels on the map that
    #: do not make a finding), "none"
    finding: str = "none"
    level: str = ""  # the disc level this endplate faces (e.g. "L4-L5"), empty when none


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
    #: which endplate(s) carry a Modic level: "upper" (the upper vertebra's inferior
    #: endplate), "lower", "both"; empty for a level graded none
    carried_by: str = ""
    mixed_type: str = ""  # "1/2" etc. when its two graded endplates differ in type
    #: 0 when the upper body is not in the image (cut by the field of view, or not found):
    #: the level is graded from its disc and its lower endplate, the upper endplate is 0
    upper_body_found: int = 1


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
    """The rows of an endplates.csv (files written before a column existed take its default)."""
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
                height_fraction=float(r.get("height_fraction") or 0.0),
                extent_grade=int(r.get("extent_grade") or 0),
                volume_fraction=float(r.get("volume_fraction") or 0.0),
                mixed_type=r.get("mixed_type") or "",
                second_type_share=float(r.get("second_type_share") or 0.0),
                finding=r.get("finding") or ("graded" if int(r["modic"]) else "none"),
                level=r.get("level") or "",
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
                carried_by=r.get("carried_by") or "",
                mixed_type=r.get("mixed_type") or "",
                upper_body_found=int(r.get("upper_body_found") or 1),
            )
            for r in csv.DictReader(handle)
        ]
