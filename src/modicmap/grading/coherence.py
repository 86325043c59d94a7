"""One story per level: the level row, its two endplate rows and the map agree by construction.

The level model decides whether a disc level carries a Modic change (it weighs the marrow,
the disc and the level; the voxel rule alone weighs the marrow). Its decision is then
attributed to the level's endplates by their own evidence:

* a level called Modic is carried by its endplates that the voxel rule grades; when neither
  is graded, by the endplate with the higher confidence. A carrying endplate always shows
  lesion voxels on the map: when none of its voxels passed the map's threshold, the voxels
  behind its confidence (its top voxels over 20 mm² on the slices that gave it) are marked
  and typed like every other lesion voxel;
* a carrying endplate's type: with the level model's type prior, the most probable type
  given the mean T1/T2 z-scores of its lesion voxels and how often each type occurs
  (:mod:`modicmap.grading.level_typing`); without one, the type with most lesion voxels;
* the level's type is its carrying endplates' type; when two carrying endplates differ, the
  one with more lesion volume, and the level's ``mixed_type`` names both ("1/2");
* the other endplates of the levels are not graded: lesion voxels there stay on the map and
  are tabled as ``sub-threshold`` (seen, too weak to make a finding);
* endplates that face no reported level (the top body's upper endplate, a body across a
  gap) keep the voxel rule;
* a level whose upper body is not in the image (the level above the top body, reported when
  its disc is in view: :func:`modicmap.grading.grade.level_above_in_view`) is carried by its
  lower endplate alone; its row says ``upper_body_found`` 0 and the notes say why.

:func:`contradictions` lists every disagreement left (it must be empty).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage

from modicmap.grading.endplates import Endplate
from modicmap.grading.grade import carriers, evidence_voxels, mixed_level_type
from modicmap.grading.level_typing import effective_samples, type_posterior
from modicmap.grading.measures import body_boxes, endplate_measures
from modicmap.grading.tables import EndplateGrade, LevelGrade
from modicmap.grading.typing import Centroids, type_voxels
from modicmap.labels import vertebra_code


@dataclass(frozen=True)
class Findings:
    """The reconciled rows and the map they describe."""

    endplates: tuple[EndplateGrade, ...]
    levels: tuple[LevelGrade, ...]
    modic_map: np.ndarray  # uint8, the map with every carrying endplate's voxels
    notes: tuple[str, ...]  # what a reader should know (mixed levels, voxels added)


@dataclass(frozen=True)
class VoxelContext:
    """What reconciling needs of the study's voxels."""

    modic_map: np.ndarray
    probability: np.ndarray
    t1z: np.ndarray
    t2z: np.ndarray
    vertebrae: np.ndarray
    regions: dict[tuple[int, Endplate], np.ndarray]
    spacing_zyx: tuple[float, float, float]
    centroids: Centroids


def reconcile(
    levels: list[LevelGrade],
    endplates: list[EndplateGrade],
    voxels: VoxelContext,
    *,
    type_prior: tuple[float, float, float] | None = None,
) -> Findings:
    """The levels' decisions (``levels[i].modic > 0``) attributed to their endplates."""
    modic_map = voxels.modic_map.copy()
    by_key = {(e.vertebra, e.endplate): e for e in endplates}
    boxes = body_boxes(voxels.vertebrae)
    unit = float(np.prod(voxels.spacing_zyx[1:])) * (
        1.0 if modic_map.shape[0] == 1 else voxels.spacing_zyx[0]
    )
    new_rows: dict[tuple[str, str], EndplateGrade] = {}
    new_levels: list[LevelGrade] = []
    notes: list[str] = []
    cut_notes: list[str] = []  # after the others: the top level is read first
    shown = {e.vertebra for e in endplates}
    for level in levels:
        keys = ((level.upper_vertebra, "inferior"), (level.lower_vertebra, "superior"))
        pair = [by_key.get(k) for k in keys]
        cut = pair[0] is None and pair[1] is not None and level.upper_vertebra not in shown
        if pair[1] is None or (pair[0] is None and not cut):
            new_levels.append(level)
            continue
        rows: list[EndplateGrade] = [r for r in pair if r is not None]
        chosen: list[int] = []
        if level.modic:
            chosen = [i for i, r in enumerate(rows) if r.modic] or [
                int(np.argmax([r.probability for r in rows]))
            ]
        final = []
        for i, row in enumerate(rows):
            code = vertebra_code(row.vertebra)
            side = Endplate(row.endplate)
            region = voxels.regions[(code, side)]
            if i in chosen:
                added = _ensure_voxels(modic_map, region, code, voxels)
                if added:
                    notes.append(
                        f"{level.level}: the {row.vertebra} {row.endplate} endplate carries the "
                        f"level's finding with no voxel above the map's threshold; its "
                        f"{added} strongest voxels are marked on the map"
                    )
                row = _recount(row, modic_map, region, unit, voxels, boxes.get(code), code, side)
                modic = _endplate_type(row, modic_map, region, voxels, type_prior)
                row = replace(row, modic=modic, finding="graded", level=level.level)
            else:
                lesion = bool(row.lesion_mm3 > 0 or row.volume_fraction > 0)
                row = replace(
                    row, modic=0, finding="sub-threshold" if lesion else "none", level=level.level
                )
            new_rows[(row.vertebra, row.endplate)] = row
            final.append(row)
        if cut:
            (lower,) = final
            cut_notes.append(_not_in_view_note(level, voxels))
            new_levels.append(
                replace(
                    level,
                    modic=lower.modic,
                    upper_endplate_modic=0,
                    lower_endplate_modic=lower.modic,
                    carried_by=carriers(0, lower.modic),
                    mixed_type="",
                    upper_body_found=0,
                )
            )
            continue
        upper, lower = final
        modic = _level_type(upper, lower)
        mixed = mixed_level_type(upper.modic, lower.modic)
        if mixed:
            notes.append(
                f"{level.level}: its endplates differ in type ({upper.vertebra} inferior type "
                f"{upper.modic}, {lower.vertebra} superior type {lower.modic}); the level reports "
                f"type {modic}, the one with more lesion"
            )
        new_levels.append(
            replace(
                level,
                modic=modic,
                upper_endplate_modic=upper.modic,
                lower_endplate_modic=lower.modic,
                carried_by=carriers(upper.modic, lower.modic),
                mixed_type=mixed,
            )
        )
    out_rows = [new_rows.get((e.vertebra, e.endplate), e) for e in endplates]
    return Findings(tuple(out_rows), tuple(new_levels), modic_map, tuple(notes + cut_notes))


def _not_in_view_note(level: LevelGrade, voxels: VoxelContext) -> str:
    """What a reader should know of a level whose upper body is not in the image."""
    lower = voxels.vertebrae == vertebra_code(level.lower_vertebra)
    rows = np.flatnonzero(lower.any(axis=(0, 2)))
    room = float(rows[0] * voxels.spacing_zyx[1]) if rows.size else 0.0
    height = float((rows[-1] - rows[0] + 1) * voxels.spacing_zyx[1]) if rows.size else 0.0
    where = (
        "is cut by the top of the field of view"
        if room < height
        else "is mostly in the image but was not found"
    )
    return (
        f"{level.level}: {level.upper_vertebra} {where} ({room:.0f} mm shown above "
        f"{level.lower_vertebra}); the level is graded from its disc and the "
        f"{level.lower_vertebra} superior endplate only"
    )


def _ensure_voxels(
    modic_map: np.ndarray, region: np.ndarray, code: int, voxels: VoxelContext
) -> int:
    """Mark the voxels behind the endplate's confidence when its region has no lesion voxel;
    the number marked."""
    if (modic_map[region] > 0).any():
        return 0
    centre = float(ndimage.center_of_mass(voxels.vertebrae == code)[0])
    behind = evidence_voxels(voxels.probability, region, centre, voxels.spacing_zyx)
    typed = type_voxels(voxels.t1z, voxels.t2z, behind, voxels.centroids)
    modic_map[behind] = typed[behind]
    return int(behind.sum())


def _recount(
    row: EndplateGrade,
    modic_map: np.ndarray,
    region: np.ndarray,
    unit: float,
    voxels: VoxelContext,
    box: tuple[slice, ...] | None,
    code: int,
    side: Endplate,
) -> EndplateGrade:
    types = modic_map[region]
    n = max(int(region.sum()), 1)
    counts = [int((types == t).sum()) for t in (1, 2, 3)]
    measures = endplate_measures(
        modic_map, voxels.vertebrae, code, side is Endplate.SUPERIOR, voxels.spacing_zyx, box
    )
    return replace(
        row,
        type1_fraction=counts[0] / n,
        type2_fraction=counts[1] / n,
        type3_fraction=counts[2] / n,
        lesion_mm3=float(sum(counts) * unit),
        height_fraction=measures.height_fraction,
        extent_grade=measures.extent_grade,
        volume_fraction=measures.volume_fraction,
        mixed_type=measures.mixed_type,
        second_type_share=measures.second_type_share,
    )


def _endplate_type(
    row: EndplateGrade,
    modic_map: np.ndarray,
    region: np.ndarray,
    voxels: VoxelContext,
    type_prior: tuple[float, float, float] | None,
) -> int:
    """A carrying endplate's type: Bayes with the type prior on its lesion voxels' mean
    signal, or (no prior) the type with most lesion voxels."""
    lesion = region & (modic_map > 0)
    if type_prior is not None:
        signal = None
        if lesion.any():
            signal = (float(voxels.t1z[lesion].mean()), float(voxels.t2z[lesion].mean()))
        area = int(lesion.sum()) * float(np.prod(voxels.spacing_zyx[1:]))
        posterior = type_posterior(signal, voxels.centroids, type_prior, effective_samples(area))
        return int(np.argmax(posterior)) + 1
    shares = (row.type1_fraction, row.type2_fraction, row.type3_fraction)
    return int(np.argmax(shares)) + 1


def _level_type(upper: EndplateGrade, lower: EndplateGrade) -> int:
    if upper.modic and lower.modic and upper.modic != lower.modic:
        return upper.modic if upper.lesion_mm3 >= lower.lesion_mm3 else lower.modic
    return upper.modic or lower.modic


def contradictions(levels: list[LevelGrade], endplates: list[EndplateGrade]) -> list[str]:
    """Every way the rows disagree: a Modic level with no graded endplate, a graded endplate
    at a level called none, a level type that none of its graded endplates has, a level's
    endplate columns that differ from the endplate rows, a graded endplate with no lesion
    voxel."""
    by_key = {(e.vertebra, e.endplate): e for e in endplates}
    problems = []
    for level in levels:
        upper = by_key.get((level.upper_vertebra, "inferior"))
        lower = by_key.get((level.lower_vertebra, "superior"))
        if upper is None and lower is not None and not level.upper_body_found:
            # the upper body is not in the image (grade.grade_levels): it grades nothing
            upper = replace(lower, vertebra=level.upper_vertebra, endplate="inferior", modic=0)
        if upper is None or lower is None:
            problems.append(f"{level.level}: an endplate row is missing")
            continue
        types = {e.modic for e in (upper, lower) if e.modic}
        if level.modic and not types:
            problems.append(f"{level.level}: Modic type {level.modic} but no graded endplate")
        if not level.modic and types:
            problems.append(f"{level.level}: none but an endplate is graded {sorted(types)}")
        if level.modic and types and level.modic not in types:
            problems.append(f"{level.level}: type {level.modic}, its endplates {sorted(types)}")
        if (level.upper_endplate_modic, level.lower_endplate_modic) != (upper.modic, lower.modic):
            problems.append(f"{level.level}: its endplate columns differ from the endplate rows")
    for e in endplates:
        if e.modic and e.lesion_mm3 <= 0:
            problems.append(f"{e.vertebra} {e.endplate}: graded with no lesion voxel on the map")
    return problems
