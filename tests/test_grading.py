"""Endplate and level grading on constructed label maps: regions, rules, level names."""

from __future__ import annotations

import numpy as np
import pytest

from modicmap.grading.grade import (
    GradingRule,
    disc_levels,
    endplate_probability,
    grade_endplates,
    grade_levels,
    index_from_sacrum,
    top_mean,
)
from modicmap.labels import SACRUM_CODE, vertebra_code

L4, L5, L6 = vertebra_code("L4"), vertebra_code("L5"), vertebra_code("L6")


def _two_bodies() -> np.ndarray:
    """One slice, 1 mm pixels: L5 rows 10-39, S1 rows 50-79, both 40 mm deep."""
    labels = np.zeros((1, 90, 60), np.uint8)
    labels[0, 10:40, 10:50] = L5
    labels[0, 50:80, 10:50] = SACRUM_CODE
    return labels


def test_top_mean_is_the_mean_of_the_largest_values() -> None:
    assert top_mean(np.array([0.1, 0.9, 0.5, 0.7]), 2) == pytest.approx(0.8)
    assert top_mean(np.array([0.2, 0.4]), 10) == pytest.approx(0.3)
    assert top_mean(np.array([]), 3) == 0.0


def test_probability_rule_grades_an_endplate_whose_top_voxels_pass_the_threshold() -> None:
    labels = _two_bodies()
    probability = np.zeros(labels.shape, np.float32)
    probability[0, 36:40, 20:30] = 0.9  # 40 px band at the inferior endplate of L5
    modic = np.where(probability >= 0.5, 2, 0).astype(np.uint8)
    rows = grade_endplates(
        modic,
        labels,
        (4.0, 1.0, 1.0),
        threshold=0.5,
        probability=probability,
        rule=GradingRule.PROBABILITY,
    )
    by_key = {(r.vertebra, r.endplate): r for r in rows}
    assert by_key[("L5", "inferior")].modic == 2
    assert by_key[("L5", "inferior")].probability == pytest.approx(0.9)
    assert by_key[("L5", "superior")].modic == 0
    assert by_key[("S1", "superior")].modic == 0
    assert ("S1", "inferior") not in by_key, "the sacrum has only its superior endplate"
    levels = grade_levels(rows, [L5, SACRUM_CODE])
    assert [(lv.level, lv.index_from_sacrum, lv.modic) for lv in levels] == [("L5-S1", 1, 2)]


def test_probability_rule_ignores_a_few_stray_voxels() -> None:
    labels = _two_bodies()
    probability = np.zeros(labels.shape, np.float32)
    probability[0, 38, 20:23] = 0.95  # 3 px: below the top-area mean's threshold
    modic = np.where(probability >= 0.5, 1, 0).astype(np.uint8)
    common = {"threshold": 0.5, "probability": probability}
    strict = grade_endplates(modic, labels, (4.0, 1.0, 1.0), rule=GradingRule.PROBABILITY, **common)
    paper = grade_endplates(
        modic,
        labels,
        (4.0, 1.0, 1.0),
        rule=GradingRule.SHARE,
        threshold=0.0,
        probability=probability,
    )
    assert {r.modic for r in strict} == {0}
    assert [r.modic for r in paper if (r.vertebra, r.endplate) == ("L5", "inferior")] == [1], (
        "the paper's share rule at threshold 0: one voxel suffices"
    )


def test_on_a_stack_a_speck_is_diluted_an_off_midline_lesion_counts_the_rims_do_not() -> None:
    """41 slices of 1 mm (centre 20): the endplate score is the best mean per-slice score
    of an 8-slice window within 12 mm of the centre."""
    labels = np.repeat(_two_bodies(), 41, axis=0)
    region = np.zeros(labels.shape, bool)
    region[:, 32:40, 10:50] = True  # the inferior endplate band of L5 on every slice
    speck = np.zeros(labels.shape, np.float32)
    speck[20, 34:36, 20:30] = 0.95  # 20 bright voxels on one slice
    assert top_mean(speck[region], 20) == pytest.approx(0.95), "pooling acts as a maximum"
    assert endplate_probability(speck, region, 20.0, 1.0, 20) == pytest.approx(0.95 / 8)
    rim = np.zeros(labels.shape, np.float32)
    rim[0:8, 34:36, 20:30] = 0.95  # 13-20 mm off centre: the body's lateral rim
    assert endplate_probability(rim, region, 20.0, 1.0, 20) == 0.0
    off_midline = np.zeros(labels.shape, np.float32)
    off_midline[23:31, 34:38, 20:30] = 0.9  # 3-10 mm to one side, none at the centre
    assert endplate_probability(off_midline, region, 20.0, 1.0, 20) == pytest.approx(0.9)
    four_mm = off_midline[::4]  # the same at 4 mm slices: windows of two slices
    assert endplate_probability(four_mm, region[::4], 5.0, 4.0, 20) == pytest.approx(0.9)
    one = off_midline[25:26]
    assert endplate_probability(one, region[25:26], 0.0, 4.0, 20) == pytest.approx(
        top_mean(one[region[25:26]], 20)
    ), "on a single slice the score is that slice's"


def test_probability_rule_needs_the_probability_map() -> None:
    labels = _two_bodies()
    with pytest.raises(ValueError, match="probability"):
        grade_endplates(np.zeros_like(labels), labels, (1, 1, 1), rule=GradingRule.PROBABILITY)


def test_disc_levels_count_from_the_sacrum_and_skip_gaps() -> None:
    assert disc_levels([L4, L5, SACRUM_CODE]) == [(L4, L5, 2), (L5, SACRUM_CODE, 1)]
    assert disc_levels([L4 - 1, L5, SACRUM_CODE]) == [(L5, SACRUM_CODE, 1)], "L4 missing: no L3-L5"
    with_l6 = disc_levels([L5, L6, SACRUM_CODE])
    assert with_l6 == [(L5, L6, 2), (L6, SACRUM_CODE, 1)]
    assert index_from_sacrum(L5, has_l6=False) == 2
