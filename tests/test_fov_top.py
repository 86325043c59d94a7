"""The top of the field of view: a level whose upper body the image cuts is still reported.

On SPIDER dev 44 of 52 graded levels without a reported level were the top one: the image
stops inside (or just above) the body over the top body found, so no level was named there
although its disc and the lower endplate are in view (docs/findings.md).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from modicmap.grading.bands import band_signals
from modicmap.grading.coherence import VoxelContext, contradictions, reconcile
from modicmap.grading.discs import disc_signals
from modicmap.grading.endplates import endplate_regions
from modicmap.grading.grade import (
    MIN_ROOM_ABOVE_MM,
    GradingRule,
    grade_endplates,
    grade_levels,
    level_above_in_view,
)
from modicmap.grading.tables import LevelGrade, read_levels_csv, write_levels_csv
from modicmap.grading.typing import PAPER_CENTROIDS
from modicmap.labels import SACRUM_CODE, vertebra_code

T12, L1, L2 = vertebra_code("T12"), vertebra_code("L1"), vertebra_code("L2")
SPACING = (4.0, 1.0, 1.0)
SAMPLE = Path(__file__).resolve().parents[1] / "src" / "modicmap" / "samples" / "spider-2"


def _column(top_row: int) -> np.ndarray:
    """One slice, 1 mm pixels, VerSe codes: L1 from ``top_row`` (30 mm high, 40 mm deep),
    L2 and a sacrum below it, ``top_row`` mm of the image above L1."""
    labels = np.zeros((1, top_row + 120, 60), np.uint8)
    labels[0, top_row : top_row + 30, 10:50] = L1
    labels[0, top_row + 40 : top_row + 70, 10:50] = L2
    labels[0, top_row + 80 : top_row + 110, 10:50] = SACRUM_CODE
    return labels


def _grade(labels: np.ndarray, probability: np.ndarray) -> list:
    modic = np.where(probability >= 0.5, 2, 0).astype(np.uint8)
    return grade_endplates(
        modic, labels, SPACING, threshold=0.5, probability=probability, rule=GradingRule.PROBABILITY
    )


def test_the_top_bodys_superior_endplate_faces_the_level_above_when_its_disc_is_in_view() -> None:
    labels = _column(top_row=8)  # 8 mm of the image above L1
    assert level_above_in_view(labels, SPACING) == (T12, L1)
    rows = {(e.vertebra, e.endplate): e for e in _grade(labels, np.zeros(labels.shape))}
    assert rows[("L1", "superior")].level == "T12-L1"
    assert all(e.level == "" for k, e in rows.items() if k != ("L1", "superior"))


def test_no_level_is_named_above_a_top_body_at_the_image_edge() -> None:
    for top_row in (0, int(MIN_ROOM_ABOVE_MM) - 1):
        labels = _column(top_row)
        assert level_above_in_view(labels, SPACING) is None, top_row
        endplates = _grade(labels, np.zeros(labels.shape))
        assert all(e.level == "" for e in endplates)
        assert [lv.level for lv in grade_levels(endplates, [L1, L2, SACRUM_CODE])] == ["L1-L2"]


def test_no_level_is_named_above_when_the_body_above_would_be_in_view_whole() -> None:
    """More room above the top body than one body-to-body step: the body above is in the
    image and the body stage missed it (a failure to see, not a cut field of view)."""
    assert level_above_in_view(_column(top_row=45), SPACING) is None  # step: 40 mm
    single = _column(top_row=8)
    single[single == L2] = 0  # one body above the sacrum: no step to compare with
    assert level_above_in_view(single, SPACING) is None


def _graded_top(probability_l1_superior: float) -> tuple[np.ndarray, list, list]:
    labels = _column(top_row=8)
    probability = np.zeros(labels.shape, np.float32)
    probability[0, 8:12, 15:45] = probability_l1_superior
    endplates = _grade(labels, probability)
    return labels, endplates, grade_levels(endplates, [L1, L2, SACRUM_CODE])


def test_the_level_under_a_cut_body_is_graded_from_its_lower_endplate() -> None:
    _, endplates, levels = _graded_top(0.9)
    top = levels[0]
    assert (top.level, top.index_from_sacrum, top.upper_body_found) == ("T12-L1", 6, 0)
    assert (top.modic, top.upper_endplate_modic, top.lower_endplate_modic) == (2, 0, 2)
    assert top.carried_by == "lower" and top.probability == pytest.approx(0.9)
    assert [(lv.level, lv.upper_body_found) for lv in levels[1:]] == [("L1-L2", 1)]
    assert contradictions(levels, endplates) == []


def _context(labels: np.ndarray, modic: np.ndarray, probability: np.ndarray) -> VoxelContext:
    return VoxelContext(
        modic_map=modic,
        probability=probability,
        t1z=np.full(labels.shape, 1.0, np.float32),
        t2z=np.full(labels.shape, 0.4, np.float32),
        vertebrae=labels,
        regions=endplate_regions(labels, SPACING, 8.0),
        spacing_zyx=SPACING,
        centroids=PAPER_CENTROIDS,
    )


def test_a_cut_level_called_modic_by_the_level_model_is_carried_by_its_lower_endplate() -> None:
    labels, endplates, levels = _graded_top(0.4)  # L1 superior below the map's threshold
    assert levels[0].modic == 0
    # the level model (which rebuilds the rows without the flag) calls T12-L1 Modic
    called = [
        LevelGrade(**{**lv.__dict__, "modic": 2, "upper_body_found": 1})
        if lv.level == "T12-L1"
        else lv
        for lv in levels
    ]
    probability = np.zeros(labels.shape, np.float32)
    probability[0, 8:12, 15:45] = 0.4
    findings = reconcile(called, endplates, _context(labels, np.zeros_like(labels), probability))
    top = {lv.level: lv for lv in findings.levels}["T12-L1"]
    assert (top.modic, top.carried_by, top.upper_body_found) == (2, "lower", 0)
    carrier = {(e.vertebra, e.endplate): e for e in findings.endplates}[("L1", "superior")]
    assert (carrier.modic, carrier.finding, carrier.level) == (2, "graded", "T12-L1")
    assert carrier.lesion_mm3 > 0, "the voxels behind its confidence are on the map"
    assert any("T12 is cut by the top of the field of view" in n for n in findings.notes)
    assert contradictions(list(findings.levels), list(findings.endplates)) == []
    # a level whose upper endplate row is missing without the flag is still a contradiction
    unflagged = [LevelGrade(**{**top.__dict__, "upper_body_found": 1})]
    assert contradictions(unflagged, list(findings.endplates)) == [
        "T12-L1: an endplate row is missing"
    ]


def test_the_flag_survives_the_csv(tmp_path: Path) -> None:
    _, _, levels = _graded_top(0.9)
    path = write_levels_csv(levels, tmp_path / "levels.csv")
    assert [lv.upper_body_found for lv in read_levels_csv(path)] == [0, 1]
    with path.open(newline="") as handle:
        assert [r["upper_body_found"] for r in csv.DictReader(handle)] == ["0", "1"]


def test_the_disc_above_the_top_body_is_read_without_its_upper_body() -> None:
    labels = _column(top_row=8)
    t1 = np.where(labels > 0, 100.0, 0.0).astype(np.float32)
    t1[0, 0:8, 10:50] = 50.0  # the disc above L1, half the marrow's signal
    t2 = t1 * 2.0
    signals = disc_signals(t1, t2, labels, SPACING, [(T12, L1), (L1, L2)])
    assert (T12, L1) in signals, "the cut level's disc is read"
    assert signals[(T12, L1)].t1_ratio == pytest.approx(0.5)
    assert signals[(T12, L1)].t2_ratio == pytest.approx(0.5)
    assert signals[(L1, L2)].t1_ratio == pytest.approx(0.0)  # unchanged: the dark gap


def test_zero_rows_padding_the_top_of_the_image_are_not_read_as_the_disc() -> None:
    """Some SPIDER series are padded with black rows at the top: a disc read there was
    'black' (ratio 0), which the level model takes for a degenerated disc (5 false Modic
    levels of 52 cut ones on SPIDER dev)."""
    labels = _column(top_row=8)
    t1 = np.where(labels > 0, 100.0, 0.0).astype(np.float32)
    t1[0, 4:8, :] = 50.0  # 4 rows of disc in view, rows 0-3 padding (all zero)
    t2 = t1.copy()
    signal = disc_signals(t1, t2, labels, SPACING, [(T12, L1)])[(T12, L1)]
    assert signal.t1_ratio == pytest.approx(0.5) and signal.t2_ratio == pytest.approx(0.5)
    t1[0, 5:8, :] = 0.0  # one row of disc left: nothing to read
    assert (T12, L1) not in disc_signals(t1, t2, labels, SPACING, [(T12, L1)])


def _crop_top(source: Path, rows: int, out: Path) -> Path:
    image = sitk.ReadImage(str(source))
    sitk.WriteImage(image[:, rows:, :], str(out))  # SimpleITK index order: x, y (rows), z
    return out


@pytest.mark.slow
def test_a_real_slice_cut_through_t12_still_reports_t12_l1(tmp_path: Path) -> None:
    """SPIDER patient 2 (the bundled sample: T12 at rows 0-26 of its T1, L1 from row 31)
    with its T1's top 25 rows cut off: 1-2 rows of T12 and the disc stay in view. Without
    the cut body listed, the top level reported was L1-L2 (the readers grade T12-L1 too)."""
    from modicmap.pipeline.run import RunOptions, run_study

    t1 = _crop_top(SAMPLE / "t1.nii.gz", 25, tmp_path / "t1_cut.nii.gz")
    result = run_study(t1, SAMPLE / "t2.nii.gz", tmp_path / "out", RunOptions())
    levels = {lv.level: lv for lv in result.levels}
    assert "T12-L1" in levels, sorted(levels)
    top = levels["T12-L1"]
    assert (top.index_from_sacrum, top.upper_body_found, top.upper_endplate_modic) == (6, 0, 0)
    assert all(lv.upper_body_found == 1 for name, lv in levels.items() if name != "T12-L1")
    assert contradictions(list(result.levels), list(result.endplates)) == []
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert any(n.startswith("T12-L1: T12 is cut") for n in summary["findings_notes"])
    evidence = {e["level"]: e for e in summary["levels"]}["T12-L1"]
    assert evidence["disc_t1_ratio"] is not None, "its disc is read"


def test_the_band_of_a_level_under_a_cut_body_is_its_lower_endplates() -> None:
    """The level model reads the band of the one endplate in view (and its disc)."""
    labels = _column(top_row=8)
    t1z, t2z = np.zeros(labels.shape), np.zeros(labels.shape)
    t2z[0, 8:12, 10:50] = 3.0  # a T2-bright band under L1's superior endplate
    bands = band_signals(t1z, t2z, labels, SPACING, [(T12, L1), (L1, L2)])
    assert bands[(T12, L1)].t2_p90 == pytest.approx(3.0)
    assert bands[(L1, L2)].t2_p90 == pytest.approx(0.0), "L1's inferior band is not bright"
    labels[labels == L2] = 0  # a body missing inside the column is no cut field of view
    assert (L1, L2) not in band_signals(t1z, t2z, labels, SPACING, [(L1, L2)])
