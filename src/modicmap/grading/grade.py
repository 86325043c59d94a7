"""Grade endplates and disc levels from a voxel Modic map (METHOD.md step 6).

An endplate gets the Modic type with the most lesion voxels in its region when
that type's share of the region's voxels exceeds ``threshold`` (the paper's
calibrated optimum is 0: one voxel suffices). A disc level combines the inferior
endplate of the upper body and the superior endplate of the lower body.
"""

from __future__ import annotations

import itertools

import numpy as np

from modicmap.grading.endplates import DEFAULT_DEPTH_MM, Endplate, endplate_regions
from modicmap.grading.tables import EndplateGrade, LevelGrade
from modicmap.labels import L6_CODE, SACRUM_CODE, level_name, vertebra_name


def grade_endplates(
    modic_map: np.ndarray,
    vertebrae: np.ndarray,
    spacing_zyx: tuple[float, float, float],
    *,
    threshold: float = 0.0,
    depth_mm: float = DEFAULT_DEPTH_MM,
    probability: np.ndarray | None = None,
) -> list[EndplateGrade]:
    """One row per endplate, superior to inferior. ``probability``: lesion probability map
    (its maximum in the region is the endplate's confidence); without it, 1.0 / 0.0."""
    single_slice = modic_map.shape[0] == 1
    unit = spacing_zyx[1] * spacing_zyx[2] * (1.0 if single_slice else spacing_zyx[0])
    rows: list[tuple[int, int, EndplateGrade]] = []
    for (code, side), region in endplate_regions(vertebrae, spacing_zyx, depth_mm).items():
        n_region = int(region.sum())
        types = modic_map[region]
        counts = np.array([(types == t).sum() for t in (1, 2, 3)])
        fractions = counts / max(n_region, 1)
        best = int(np.argmax(counts))
        modic = best + 1 if counts[best] > 0 and fractions[best] > threshold else 0
        if probability is not None:
            confidence = float(probability[region].max()) if n_region else 0.0
        else:
            confidence = 1.0 if modic else 0.0
        grade = EndplateGrade(
            vertebra=vertebra_name(code),
            endplate=side.value,
            modic=modic,
            type1_fraction=float(fractions[0]),
            type2_fraction=float(fractions[1]),
            type3_fraction=float(fractions[2]),
            lesion_mm3=float(counts.sum() * unit),
            probability=confidence,
        )
        rows.append((code, 0 if side is Endplate.SUPERIOR else 1, grade))
    return [grade for _, _, grade in sorted(rows, key=lambda r: (r[0], r[1]))]


def index_from_sacrum(lower_code: int, *, has_l6: bool) -> int:
    """1 for the disc just above the sacrum, 2 for the next one up, ..."""
    if lower_code == SACRUM_CODE:
        return 1
    return 1 + (SACRUM_CODE - lower_code) - (0 if has_l6 else 1)


def grade_levels(endplates: list[EndplateGrade], present_codes: list[int]) -> list[LevelGrade]:
    """Disc levels between consecutive found bodies (superior to inferior)."""
    by_key = {(row.vertebra, row.endplate): row for row in endplates}
    codes = sorted(set(present_codes))
    has_l6 = L6_CODE in codes
    levels = []
    for upper, lower in itertools.pairwise(codes):
        expected_next = SACRUM_CODE if upper == (L6_CODE if has_l6 else L6_CODE - 1) else upper + 1
        if lower != expected_next:
            continue  # a body is missing in between: no disc level can be named here
        a = by_key.get((vertebra_name(upper), Endplate.INFERIOR.value))
        b = by_key.get((vertebra_name(lower), Endplate.SUPERIOR.value))
        if a is None or b is None:
            continue
        if a.modic and b.modic and a.modic != b.modic:
            modic = a.modic if a.lesion_mm3 >= b.lesion_mm3 else b.modic
        else:
            modic = a.modic or b.modic
        levels.append(
            LevelGrade(
                level=level_name(upper, lower),
                index_from_sacrum=index_from_sacrum(lower, has_l6=has_l6),
                upper_vertebra=vertebra_name(upper),
                lower_vertebra=vertebra_name(lower),
                modic=modic,
                upper_endplate_modic=a.modic,
                lower_endplate_modic=b.modic,
                probability=max(a.probability, b.probability),
            )
        )
    return levels
