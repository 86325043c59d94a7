"""Grade endplates and disc levels from a voxel Modic map (METHOD.md step 6).

Two rules, chosen by the bundle's ``grading.rule``:
* ``share`` (the paper's): an endplate gets the Modic type with the most lesion voxels
  in its region when that type's share of the region's voxels exceeds ``threshold``
  (the paper's calibrated optimum is 0: one voxel suffices);
* ``probability`` (the default since the V-Net also learns from per-level gradings):
  an endplate is graded when its probability, the mean of the top voxel probabilities
  of its region (``TOP_AREA_MM2``), reaches ``threshold``; its type is the type with the
  most lesion voxels (voxels whose probability reaches the same threshold).
Both thresholds are chosen by ROC and Youden's J (``modicmap calibrate``). A disc level
combines the inferior endplate of the upper body and the superior endplate of the
lower body.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from enum import StrEnum

import numpy as np

from modicmap.errors import InputError
from modicmap.grading.endplates import DEFAULT_DEPTH_MM, Endplate, endplate_regions
from modicmap.grading.measures import body_boxes, endplate_measures
from modicmap.grading.tables import EndplateGrade, LevelGrade
from modicmap.labels import L6_CODE, SACRUM_CODE, level_name, vertebra_code, vertebra_name
from modicmap.models.bundle import ModelBundle
from modicmap.vertebrae.postprocess import label_centroids

#: Area whose top voxel probabilities make an endplate's probability (about 4 x 5 mm);
#: the same score the V-Net is trained on from per-level gradings.
TOP_AREA_MM2 = 20.0

#: On a stack of slices an endplate's probability is the highest mean per-slice score of
#: a run of consecutive slices spanning ``WINDOW_MM`` (left-right), among the slices within
#: ``INNER_MM`` of the body's centre. The per-slice score is what the V-Net learned and was
#: calibrated on (mid-sagittal SPIDER slices), so a single slice keeps its score. Pooling
#: the top voxels of every slice instead acts as a maximum over slices and graded 16 of 17
#: endplates of a real 50-slice lumbar-vb volume (DzZ) whose single slices graded none;
#: the mean over the central 12 mm missed lesions off the midline (synthetic sensitivity
#: 0.70); windows reaching the lateral rims fired on partial-volume edges of real bodies
#: (docs/benchmarks.md, "3-D studies").
WINDOW_MM = 8.0
INNER_MM = 12.0


#: room (mm) above the top body found, inside the image, from which the disc above it counts
#: as in view and its level is reported (graded from the disc and the top body's superior
#: endplate: :func:`level_above_in_view`). On the 114 SPIDER dev slices the readers graded
#: that disc on 30 of the 52 slices with at least 3 mm above the top body (on two with
#: 3.6 mm), and on 5 of the 62 with less (where the top body touches the image's top edge).
MIN_ROOM_ABOVE_MM = 3.0


class GradingRule(StrEnum):
    SHARE = "share"
    PROBABILITY = "probability"


def grading_rule(bundle: ModelBundle) -> GradingRule:
    """The bundle's grading rule (the paper's ``share`` when it names none)."""
    grading = bundle.section("grading") if bundle.has("grading") else {}
    value = str(grading.get("rule", GradingRule.SHARE.value))
    try:
        return GradingRule(value)
    except ValueError:
        choices = ", ".join(r.value for r in GradingRule)
        raise InputError(
            bundle.folder / "modicmap.json", f"unknown grading rule {value!r} (one of {choices})"
        ) from None


def top_mean(values: np.ndarray, k: int) -> float:
    """Mean of the ``k`` largest values (all of them when fewer)."""
    if values.size == 0:
        return 0.0
    k = min(max(k, 1), values.size)
    return float(np.partition(values, values.size - k)[values.size - k :].mean())


def endplate_probability(
    probability: np.ndarray,
    region: np.ndarray,
    centre_slice: float,
    slice_spacing_mm: float,
    k: int,
) -> float:
    """Per slice the top-``k`` mean within ``region``; the highest mean of those over a
    window of ``WINDOW_MM`` of consecutive slices within ``INNER_MM`` of the centre."""
    score, _ = _best_window(probability, region, centre_slice, slice_spacing_mm, k)
    return score


def _best_window(
    probability: np.ndarray,
    region: np.ndarray,
    centre_slice: float,
    slice_spacing_mm: float,
    k: int,
) -> tuple[float, np.ndarray]:
    """:func:`endplate_probability` and the slices of its best window."""
    slices = np.flatnonzero(region.any(axis=(1, 2)))
    if slices.size == 0:
        return 0.0, slices
    offset = np.abs(slices - centre_slice) * slice_spacing_mm
    inner = slices[offset <= INNER_MM]
    if inner.size == 0:
        inner = slices[[int(np.argmin(offset))]]
    scores = np.array([top_mean(probability[z][region[z]], k) for z in inner])
    window = min(max(1, round(WINDOW_MM / slice_spacing_mm)), scores.size)
    means = np.convolve(scores, np.full(window, 1.0 / window), mode="valid")
    start = int(np.argmax(means))
    return float(means[start]), inner[start : start + window]


def evidence_voxels(
    probability: np.ndarray,
    region: np.ndarray,
    centre_slice: float,
    spacing_zyx: tuple[float, float, float],
) -> np.ndarray:
    """The voxels behind an endplate's probability: on each slice of its best window, the
    region's voxels with the highest probabilities over ``TOP_AREA_MM2``."""
    k = round(TOP_AREA_MM2 / (spacing_zyx[1] * spacing_zyx[2]))
    _, window = _best_window(probability, region, centre_slice, spacing_zyx[0], k)
    out = np.zeros(region.shape, bool)
    for z in window:
        inside = np.flatnonzero(region[z])
        values = probability[z].ravel()[inside]
        top = inside[np.argsort(-values, kind="stable")[: max(k, 1)]]
        out[z].ravel()[top] = True  # a view: out[z] is C-contiguous
    return out


def grade_endplates(
    modic_map: np.ndarray,
    vertebrae: np.ndarray,
    spacing_zyx: tuple[float, float, float],
    *,
    threshold: float = 0.0,
    depth_mm: float = DEFAULT_DEPTH_MM,
    probability: np.ndarray | None = None,
    rule: GradingRule = GradingRule.SHARE,
    regions: dict[tuple[int, Endplate], np.ndarray] | None = None,
) -> list[EndplateGrade]:
    """One row per endplate, superior to inferior. ``probability``: lesion probability map
    (the endplate's probability is :func:`endplate_probability`: per slice the mean of
    the region's top voxels over ``TOP_AREA_MM2``, then the best ``WINDOW_MM`` window of
    slices near the centre);
    without it, 1.0 / 0.0. ``regions``: the endplate regions when the caller already has
    them (:func:`endplate_regions` of ``depth_mm``)."""
    if rule is GradingRule.PROBABILITY and probability is None:
        raise ValueError("the probability rule needs the lesion probability map")
    single_slice = modic_map.shape[0] == 1
    unit = spacing_zyx[1] * spacing_zyx[2] * (1.0 if single_slice else spacing_zyx[0])
    k = round(TOP_AREA_MM2 / (spacing_zyx[1] * spacing_zyx[2]))
    rows: list[tuple[int, int, EndplateGrade]] = []
    codes = [int(c) for c in np.unique(vertebrae) if c]
    # the slice index (axis 0) of every body's centre of mass, in one pass over the labels
    found = label_centroids(vertebrae, (1.0, 1.0, 1.0))  # voxel units
    centres = {code: float(found[code][0]) for code in codes}
    if regions is None:
        regions = endplate_regions(vertebrae, spacing_zyx, depth_mm)
    boxes = body_boxes(vertebrae)
    for (code, side), region in regions.items():
        n_region = int(region.sum())
        types = modic_map[region]
        counts = np.array([(types == t).sum() for t in (1, 2, 3)])
        fractions = counts / max(n_region, 1)
        best = int(np.argmax(counts))
        if probability is not None:
            confidence = endplate_probability(probability, region, centres[code], spacing_zyx[0], k)
        if rule is GradingRule.PROBABILITY:
            modic = best + 1 if counts[best] > 0 and confidence >= threshold else 0
        else:
            modic = best + 1 if counts[best] > 0 and fractions[best] > threshold else 0
        if probability is None:
            confidence = 1.0 if modic else 0.0
        measures = endplate_measures(
            modic_map, vertebrae, code, side is Endplate.SUPERIOR, spacing_zyx, boxes.get(code)
        )
        grade = EndplateGrade(
            vertebra=vertebra_name(code),
            endplate=side.value,
            modic=modic,
            type1_fraction=float(fractions[0]),
            type2_fraction=float(fractions[1]),
            type3_fraction=float(fractions[2]),
            lesion_mm3=float(counts.sum() * unit),
            probability=confidence,
            height_fraction=measures.height_fraction,
            extent_grade=measures.extent_grade,
            volume_fraction=measures.volume_fraction,
            mixed_type=measures.mixed_type,
            second_type_share=measures.second_type_share,
            finding="graded"
            if modic
            else ("sub-threshold" if counts.sum() or measures.volume_fraction else "none"),
        )
        rows.append((code, 0 if side is Endplate.SUPERIOR else 1, grade))
    above = level_above_in_view(vertebrae, spacing_zyx)
    if above is not None:  # the top body's superior endplate faces a level in view
        rows = [
            (code, order, replace(grade, level=level_name(*above)))
            if (code, order) == (above[1], 0)
            else (code, order, grade)
            for code, order, grade in rows
        ]
    return [grade for _, _, grade in sorted(rows, key=lambda r: (r[0], r[1]))]


def level_above_in_view(
    vertebrae: np.ndarray, spacing_zyx: tuple[float, float, float]
) -> tuple[int, int] | None:
    """(upper code, lower code) of the level above the top body when its upper body is cut by
    the top of the image and its disc is in view: at least ``MIN_ROOM_ABOVE_MM`` of the
    image above the top body's highest row, but less than one centre-to-centre step of the
    bodies found (the median over at least two bodies above the sacrum; with more room the
    body above would be in view whole, and was missed). None otherwise."""
    codes = [int(c) for c in np.unique(vertebrae) if 1 < c < SACRUM_CODE]
    if len(codes) < 2:
        return None
    rows = np.arange(vertebrae.shape[1], dtype=np.float64)
    centres = []
    for code in codes:
        area = (vertebrae == code).sum(axis=(0, 2))
        centres.append(float(np.average(rows, weights=area)))
    step = float(np.median(np.diff(centres))) * spacing_zyx[1]
    room = float(np.flatnonzero((vertebrae == codes[0]).any(axis=(0, 2)))[0]) * spacing_zyx[1]
    if not MIN_ROOM_ABOVE_MM <= room < step:
        return None
    return codes[0] - 1, codes[0]


def index_from_sacrum(lower_code: int, *, has_l6: bool) -> int:
    """1 for the disc just above the sacrum, 2 for the next one up, ..."""
    if lower_code == SACRUM_CODE:
        return 1
    return 1 + (SACRUM_CODE - lower_code) - (0 if has_l6 else 1)


def disc_levels(present_codes: list[int]) -> list[tuple[int, int, int]]:
    """(upper code, lower code, index_from_sacrum) of every disc between consecutive bodies.

    No level is named across a gap (a body missing in between)."""
    codes = sorted(set(present_codes))
    has_l6 = L6_CODE in codes
    out = []
    for upper, lower in itertools.pairwise(codes):
        expected_next = SACRUM_CODE if upper == (L6_CODE if has_l6 else L6_CODE - 1) else upper + 1
        if lower == expected_next:
            out.append((upper, lower, index_from_sacrum(lower, has_l6=has_l6)))
    return out


def level_type(upper: tuple[int, float], lower: tuple[int, float]) -> int:
    """A level's type from its two endplates' (type, lesion volume): one graded endplate
    decides; two graded with different types, the one with more lesion."""
    (upper_type, upper_volume), (lower_type, lower_volume) = upper, lower
    if upper_type and lower_type and upper_type != lower_type:
        return upper_type if upper_volume >= lower_volume else lower_type
    return upper_type or lower_type


def carriers(upper_modic: int, lower_modic: int) -> str:
    """Which endplate(s) of a level are graded: "upper", "lower", "both" or ""."""
    return {(True, True): "both", (True, False): "upper", (False, True): "lower"}.get(
        (bool(upper_modic), bool(lower_modic)), ""
    )


def mixed_level_type(upper_modic: int, lower_modic: int) -> str:
    """ "a/b" (ascending) when both endplates are graded with different types, else ""."""
    if upper_modic and lower_modic and upper_modic != lower_modic:
        return "/".join(str(t) for t in sorted((upper_modic, lower_modic)))
    return ""


def grade_levels(endplates: list[EndplateGrade], present_codes: list[int]) -> list[LevelGrade]:
    """Disc levels between consecutive found bodies (superior to inferior), graded from their
    two endplates (so they agree with them by construction).

    Above the top body, the level its superior endplate faces when that disc is in view
    (:func:`level_above_in_view`, the row's ``level``) is graded from that endplate alone
    (``upper_body_found`` 0): its upper body is not in the image."""
    by_key = {(row.vertebra, row.endplate): row for row in endplates}
    shown = {row.vertebra for row in endplates}
    codes = sorted(set(present_codes))
    levels = []
    top = by_key.get((vertebra_name(codes[0]), Endplate.SUPERIOR.value)) if codes else None
    if top is not None and top.level:  # set by grade_endplates: its disc is in view
        upper = vertebra_code(top.level.split("-")[0])
        if upper == codes[0] - 1 and vertebra_name(upper) not in shown:
            index = index_from_sacrum(codes[0], has_l6=L6_CODE in codes)
            levels.append(_level_without_upper_body(upper, codes[0], index, top))
    for upper, lower, index in disc_levels(present_codes):
        a = by_key.get((vertebra_name(upper), Endplate.INFERIOR.value))
        b = by_key.get((vertebra_name(lower), Endplate.SUPERIOR.value))
        if a is None or b is None:
            continue
        modic = level_type((a.modic, a.lesion_mm3), (b.modic, b.lesion_mm3))
        levels.append(
            LevelGrade(
                level=level_name(upper, lower),
                index_from_sacrum=index,
                upper_vertebra=vertebra_name(upper),
                lower_vertebra=vertebra_name(lower),
                modic=modic,
                upper_endplate_modic=a.modic,
                lower_endplate_modic=b.modic,
                probability=max(a.probability, b.probability),
                carried_by=carriers(a.modic, b.modic),
                mixed_type=mixed_level_type(a.modic, b.modic),
            )
        )
    return levels


def _level_without_upper_body(
    upper: int, lower: int, index: int, lower_endplate: EndplateGrade
) -> LevelGrade:
    """The level under a body that is not in the image: graded from its lower endplate."""
    return LevelGrade(
        level=level_name(upper, lower),
        index_from_sacrum=index,
        upper_vertebra=vertebra_name(upper),
        lower_vertebra=vertebra_name(lower),
        modic=lower_endplate.modic,
        upper_endplate_modic=0,
        lower_endplate_modic=lower_endplate.modic,
        probability=lower_endplate.probability,
        carried_by=carriers(0, lower_endplate.modic),
        upper_body_found=0,
    )
