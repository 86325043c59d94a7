"""One story per level (coherence), the ISSLS measures, and operating points."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from modicmap.errors import InputError
from modicmap.grading.coherence import VoxelContext, contradictions, reconcile
from modicmap.grading.endplates import endplate_regions
from modicmap.grading.grade import GradingRule, grade_endplates, grade_levels
from modicmap.grading.measures import endplate_measures, extent_grade
from modicmap.grading.operating_point import (
    choose_cut,
    operating_point,
    parse_operating_point,
    performance_curve,
)
from modicmap.grading.tables import (
    LevelGrade,
    read_endplates_csv,
    read_levels_csv,
    write_endplates_csv,
    write_levels_csv,
)
from modicmap.grading.typing import PAPER_CENTROIDS
from modicmap.labels import SACRUM_CODE, vertebra_code

L4, L5 = vertebra_code("L4"), vertebra_code("L5")
SPACING = (4.0, 1.0, 1.0)


def _column() -> np.ndarray:
    """One slice, 1 mm pixels: L4 rows 10-39, L5 rows 50-79, S1 rows 90-119, 40 mm deep."""
    labels = np.zeros((1, 130, 60), np.uint8)
    labels[0, 10:40, 10:50] = L4
    labels[0, 50:80, 10:50] = L5
    labels[0, 90:120, 10:50] = SACRUM_CODE
    return labels


def test_extent_grade_follows_the_nordic_bounds() -> None:
    assert [extent_grade(f) for f in (0.0, 0.1, 0.25, 0.4, 0.5, 0.51, 1.0)] == [
        0,
        1,
        2,
        2,
        3,
        3,
        3,
    ]


def test_measures_of_a_band_lesion_under_an_endplate() -> None:
    labels = _column()
    modic = np.zeros(labels.shape, np.uint8)
    modic[0, 50:59, 15:45] = 2  # 9 mm of the 30 mm L5 below its superior endplate
    modic[0, 50:53, 15:30] = 1  # a type-1 part: 45 of 270 voxels
    m = endplate_measures(modic, labels, L5, True, SPACING)
    assert m.height_fraction == pytest.approx(9 / 30)
    assert m.extent_grade == 2
    assert m.volume_fraction == pytest.approx(270 / (30 * 40))
    assert m.mixed_type == ""  # 45 / 270 = 17 % < 25 %
    modic[0, 50:56, 15:30] = 1  # now 90 of 270 are type 1
    m = endplate_measures(modic, labels, L5, True, SPACING)
    assert m.mixed_type == "1/2"
    assert m.second_type_share == pytest.approx(90 / 270, abs=1e-3)
    inferior = endplate_measures(modic, labels, L5, False, SPACING)
    assert inferior.height_fraction == 0.0 and inferior.extent_grade == 0


def test_a_spot_in_the_middle_of_the_body_is_not_an_endplates_lesion() -> None:
    """A lesion piece that does not reach within 8 mm of the endplate (e.g. where the
    basivertebral vein enters the back of the body) gives that endplate no extent."""
    labels = _column()
    modic = np.zeros(labels.shape, np.uint8)
    modic[0, 60:64, 40:46] = 2  # L5 rows 50-79: 10-14 mm below its superior endplate
    assert endplate_measures(modic, labels, L5, True, SPACING).height_fraction == 0.0
    modic[0, 50:54, 15:30] = 2  # a lesion against the endplate, 4 mm deep
    m = endplate_measures(modic, labels, L5, True, SPACING)
    assert m.height_fraction == pytest.approx(4 / 30, abs=1e-3), "the spot does not lengthen it"
    assert m.volume_fraction == pytest.approx(60 / (30 * 40))
    modic[0, 54:60, 15:20] = 2  # joined to the spot's rows by a lesion down from the endplate
    modic[0, 59:61, 20:41] = 2
    joined = endplate_measures(modic, labels, L5, True, SPACING)
    assert joined.height_fraction == pytest.approx(14 / 30, abs=1e-3), "one piece, attached"


def test_measures_do_not_depend_on_the_pixel_grid() -> None:
    """The same anatomy and lesion at 1 mm and at 0.5 mm pixels: the same fractions."""
    coarse = _column()
    modic = np.zeros(coarse.shape, np.uint8)
    modic[0, 68:80, 12:48] = 3  # 12 mm above L5's inferior endplate
    fine_labels = np.kron(coarse, np.ones((1, 2, 2), np.uint8))
    fine_modic = np.kron(modic, np.ones((1, 2, 2), np.uint8))
    a = endplate_measures(modic, coarse, L5, False, SPACING)
    b = endplate_measures(fine_modic, fine_labels, L5, False, (4.0, 0.5, 0.5))
    assert a.height_fraction == pytest.approx(0.4)
    assert b.height_fraction == pytest.approx(a.height_fraction)
    assert b.volume_fraction == pytest.approx(a.volume_fraction)


def _context(labels: np.ndarray, probability: np.ndarray, modic: np.ndarray) -> VoxelContext:
    return VoxelContext(
        modic_map=modic,
        probability=probability,
        t1z=np.full(labels.shape, 1.0, np.float32),  # type-2-like signal everywhere
        t2z=np.full(labels.shape, 0.4, np.float32),
        vertebrae=labels,
        regions=endplate_regions(labels, SPACING, 8.0),
        spacing_zyx=SPACING,
        centroids=PAPER_CENTROIDS,
    )


def _graded(labels: np.ndarray, probability: np.ndarray, modic: np.ndarray | None = None):
    """The voxel grades of ``probability`` (threshold 0.5); ``modic``: the typed map (default:
    type 2 wherever the probability passes)."""
    if modic is None:
        modic = np.where(probability >= 0.5, 2, 0).astype(np.uint8)
    endplates = grade_endplates(
        modic,
        labels,
        SPACING,
        threshold=0.5,
        probability=probability,
        rule=GradingRule.PROBABILITY,
    )
    return modic, endplates, grade_levels(endplates, [L4, L5, SACRUM_CODE])


def test_a_level_called_modic_by_the_level_model_is_carried_by_its_stronger_endplate() -> None:
    labels = _column()
    probability = np.zeros(labels.shape, np.float32)
    probability[0, 50:54, 20:30] = 0.4  # L5 superior: below the map's threshold
    probability[0, 36:40, 20:30] = 0.2  # L4 inferior: weaker
    modic, endplates, levels = _graded(labels, probability)
    assert all(lv.modic == 0 for lv in levels)
    # the level model calls L4-L5 Modic (type 2), L5-S1 none
    called = [
        lv if lv.level != "L4-L5" else LevelGrade(**{**lv.__dict__, "modic": 2}) for lv in levels
    ]
    findings = reconcile(called, endplates, _context(labels, probability, modic))
    by_key = {(e.vertebra, e.endplate): e for e in findings.endplates}
    carrier = by_key[("L5", "superior")]
    assert carrier.modic == 2 and carrier.finding == "graded" and carrier.level == "L4-L5"
    assert carrier.lesion_mm3 > 0, "the voxels behind its confidence are marked on the map"
    assert (findings.modic_map[0, 50:58, 10:50] > 0).sum() == 20  # its top 20 mm²
    assert by_key[("L4", "inferior")].modic == 0
    level = {lv.level: lv for lv in findings.levels}["L4-L5"]
    assert (level.modic, level.carried_by, level.lower_endplate_modic) == (2, "lower", 2)
    assert findings.notes and "strongest voxels" in findings.notes[0]
    assert contradictions(list(findings.levels), list(findings.endplates)) == []


def test_a_lesion_at_a_level_called_none_is_sub_threshold_not_graded() -> None:
    labels = _column()
    probability = np.zeros(labels.shape, np.float32)
    probability[0, 76:80, 15:35] = 0.9  # L5 inferior, graded by the voxel rule
    modic, endplates, levels = _graded(labels, probability)
    assert {lv.level: lv.modic for lv in levels}["L5-S1"] == 2
    overruled = [LevelGrade(**{**lv.__dict__, "modic": 0}) for lv in levels]
    findings = reconcile(overruled, endplates, _context(labels, probability, modic))
    row = {(e.vertebra, e.endplate): e for e in findings.endplates}[("L5", "inferior")]
    assert (row.modic, row.finding) == (0, "sub-threshold")
    assert row.lesion_mm3 == 80 and row.height_fraction > 0, "still measured and on the map"
    assert (findings.modic_map > 0).sum() == 80
    assert contradictions(list(findings.levels), list(findings.endplates)) == []


def test_endplates_of_different_types_make_a_mixed_level() -> None:
    labels = _column()
    probability = np.zeros(labels.shape, np.float32)
    probability[0, 36:40, 15:45] = 0.9  # L4 inferior: 120 voxels
    probability[0, 50:53, 15:35] = 0.9  # L5 superior: 60 voxels
    modic, endplates, levels = _graded(labels, probability)
    modic[0, 50:53, 15:35] = 1
    _, endplates, levels = _graded(labels, probability, modic)
    findings = reconcile(levels, endplates, _context(labels, probability, modic))
    level = {lv.level: lv for lv in findings.levels}["L4-L5"]
    assert (level.modic, level.mixed_type, level.carried_by) == (2, "1/2", "both")
    assert any("differ in type" in n for n in findings.notes)
    assert contradictions(list(findings.levels), list(findings.endplates)) == []


def test_the_type_prior_types_a_carrying_endplate() -> None:
    labels = _column()
    probability = np.zeros(labels.shape, np.float32)
    probability[0, 50:53, 15:35] = 0.9
    modic, endplates, levels = _graded(labels, probability)
    modic[modic > 0] = 3  # the voxels' nearest centroid said 3, the signal is type-2-like
    _, endplates, levels = _graded(labels, probability, modic)
    context = _context(labels, probability, modic)
    plain = reconcile(levels, endplates, context)
    assert {lv.level: lv.modic for lv in plain.levels}["L4-L5"] == 3
    prior = reconcile(levels, endplates, context, type_prior=(0.0125, 0.96875, 0.01875))
    assert {lv.level: lv.modic for lv in prior.levels}["L4-L5"] == 2
    assert contradictions(list(prior.levels), list(prior.endplates)) == []


def test_contradictions_are_found() -> None:
    labels = _column()
    probability = np.zeros(labels.shape, np.float32)
    probability[0, 76:80, 15:35] = 0.9
    _, endplates, levels = _graded(labels, probability)
    assert contradictions(levels, endplates) == []
    wrong = [LevelGrade(**{**lv.__dict__, "modic": 0}) for lv in levels]
    problems = contradictions(wrong, endplates)
    assert any("none but an endplate is graded" in p for p in problems)
    typed = [LevelGrade(**{**lv.__dict__, "modic": 1}) if lv.modic else lv for lv in levels]
    assert any("its endplates [2]" in p for p in contradictions(typed, endplates))


def test_new_columns_round_trip_and_old_files_read(tmp_path) -> None:
    labels = _column()
    probability = np.zeros(labels.shape, np.float32)
    probability[0, 76:80, 15:35] = 0.75
    _, endplates, levels = _graded(labels, probability)
    write_endplates_csv(endplates, tmp_path / "e.csv")
    write_levels_csv(levels, tmp_path / "l.csv")
    assert read_endplates_csv(tmp_path / "e.csv") == endplates
    assert read_levels_csv(tmp_path / "l.csv") == levels
    old = tmp_path / "old.csv"
    old.write_text(
        "vertebra,endplate,modic,type1_fraction,type2_fraction,type3_fraction,lesion_mm3,"
        "probability\nL5,inferior,2,0,0.1,0,80,0.9\n"
    )
    (row,) = read_endplates_csv(old)
    assert (row.finding, row.extent_grade, row.mixed_type) == ("graded", 0, "")


def test_choose_cut_by_criterion() -> None:
    rng = np.random.default_rng(0)
    truth = rng.random(400) < 0.4
    p = np.clip(0.45 + 0.25 * (truth - 0.4) + 0.2 * rng.standard_normal(400), 0, 1)
    for name, check in (
        ("sensitive", lambda s, _: s >= 0.80),
        ("specific", lambda _, s: s >= 0.90),
        ("balanced", lambda a, b: a + b > 1.2),
    ):
        cut = choose_cut(truth, p, name)
        called = p >= cut
        assert check(called[truth].mean(), (~called[~truth]).mean()), name
    assert choose_cut(truth, p, "sensitive") < choose_cut(truth, p, "specific")
    curve = performance_curve(truth, p)
    assert len(curve["cuts"]) == 101 and curve["sensitivity"][0] == 1.0


def test_operating_points_of_the_default_bundle() -> None:
    from modicmap.models.bundle import load_bundle

    section = load_bundle(None).section("level_model")
    default = operating_point(section, None)
    assert default.name == "balanced"
    named = {n: operating_point(section, n) for n in ("sensitive", "balanced", "specific")}
    assert named["sensitive"].threshold < named["balanced"].threshold < named["specific"].threshold
    assert named["sensitive"].sensitivity >= 0.80 and named["specific"].specificity >= 0.90
    custom = operating_point(section, 0.5)
    assert custom.name == "custom" and 0 < custom.sensitivity < 1
    # the band a reader looks at next: up from the next lower named cut
    assert named["sensitive"].look_from is None
    assert named["balanced"].look_from == named["sensitive"].threshold
    assert named["specific"].look_from == named["balanced"].threshold
    assert custom.look_from == named["balanced"].threshold
    with pytest.raises(InputError, match="no operating point"):
        operating_point(section, "lenient")
    fitted = operating_point({"threshold": 0.4, "source": "x"}, None)
    assert fitted.name == "fitted" and fitted.sensitivity is None


def test_parse_operating_point() -> None:
    assert parse_operating_point("specific") == "specific"
    assert parse_operating_point("0.3") == pytest.approx(0.3)
    for bad in ("1.5", "0", "lenient"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_operating_point(bad)


def test_run_states_its_operating_point_and_tells_one_story(tmp_path) -> None:
    """The bundled real sample (SPIDER patient 2) with the default bundle at two operating
    points: no contradiction, the point in summary.json, more levels called when sensitive."""
    from modicmap.cli.main import main
    from modicmap.samples import bundled_samples

    (sample,) = [s for s in bundled_samples() if s.name == "spider-2"]
    called = {}
    for point in ("sensitive", "specific"):
        out = tmp_path / point
        args = ["run", "--t1", str(sample.t1), "--t2", str(sample.t2), "--out", str(out)]
        assert main([*args, "--operating-point", point, "--quiet"]) == 0
        summary = json.loads((out / "summary.json").read_text())
        assert summary["operating_point"]["name"] == point
        assert summary["operating_point"]["sensitivity"] is not None
        levels = read_levels_csv(out / "levels.csv")
        endplates = read_endplates_csv(out / "endplates.csv")
        assert levels and contradictions(levels, endplates) == []
        called[point] = sum(lv.modic > 0 for lv in levels)
        look_from = summary["operating_point"]["look_from"]
        cut = summary["operating_point"]["threshold"]
        near = [
            lv.level
            for lv in levels
            if look_from is not None and not lv.modic and look_from <= lv.probability < cut
        ]
        report = (out / "report.html").read_text()
        assert report.count("none, near the cut</td>") == len(near)
        if point == "specific":  # the levels between the balanced and the specific cut
            assert near and look_from < cut
        else:
            assert look_from is None and not near
    assert called["sensitive"] >= called["specific"]
