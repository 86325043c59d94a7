"""Level names on 3-D volumes: only bodies on the column are named, names are checked."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from modicmap.vertebrae.column import fit_to_column
from modicmap.vertebrae.levels import name_levels
from modicmap.vertebrae.postprocess import clean_instances

SPACING_3D = (4.0, 1.0, 1.0)  # 4 mm sagittal slices, 1 mm in-plane


def spine_3d(n_bodies: int = 5, gap: int = 8, slices: int = 15):
    """A straight toy spine in a 15-slice sagittal slab: bodies on slices 4-12 (36 mm
    wide), 26-row bodies, ``gap``-row discs, the sacrum below. Returns (body, sacrum, sacrum
    top row)."""
    shape = (slices, 260, 120)
    body = np.zeros(shape, bool)
    top = 5
    for _ in range(n_bodies):
        body[4:13, top : top + 26, 40:76] = True
        top += 26 + gap
    sacrum = np.zeros(shape, bool)
    sacrum[4:13, top : top + 30, 42:82] = True
    return body, sacrum, top


def names(result) -> list[str]:
    return [b.name for b in result.bodies]


def test_a_lateral_fragment_at_the_height_of_s1_is_not_named_l5() -> None:
    """The real failure: a small blob on the outer slices at S1's height, lateral to the
    column, was named L5 and moved every name above it up by one."""
    body, sacrum, top = spine_3d()
    body[0:3, top - 5 : top + 15, 45:65] = True  # outermost slices, S1 height: the ala
    result = name_levels(clean_instances(body, sacrum, SPACING_3D), SPACING_3D)
    assert names(result) == ["L1", "L2", "L3", "L4", "L5", "S1"]
    assert not result.labels[0:3, top - 5 : top + 15, 45:65].any()
    assert not any("disagree" in w for w in result.warnings)


def test_column_evidence_judges_in_3d() -> None:
    labels = np.zeros((15, 200, 100), np.int32)
    for i, top in enumerate((10, 50, 90, 130), start=1):
        labels[4:13, top : top + 30, 30:70] = i
    labels[0:3, 140:160, 40:60] = 5  # lateral, small, on the outer slices only
    labels[6:10, 172:176, 40:60] = 6  # on the midline but a speck next to body 4
    fits = {f.label: f for f in fit_to_column(labels, SPACING_3D)}
    assert all(fits[i].on_column for i in (1, 2, 3, 4))
    assert not fits[5].on_midline and not fits[5].on_column
    assert fits[5].lateral_offset_mm > 20
    assert fits[6].on_midline and not fits[6].on_column  # far smaller than its neighbours
    assert fits[6].volume_ratio < 0.2


def test_a_small_top_body_cut_by_the_field_of_view_stays_on_the_column() -> None:
    labels = np.zeros((15, 200, 100), np.int32)
    labels[4:13, 0:4, 30:70] = 1  # the image cuts the top body
    for i, top in enumerate((10, 50, 90, 130), start=2):
        labels[4:13, top : top + 30, 30:70] = i
    assert all(f.on_column for f in fit_to_column(labels, SPACING_3D))


def test_single_slices_are_not_judged_left_right() -> None:
    labels = np.zeros((1, 200, 100), np.int32)
    for i, top in enumerate((10, 50, 90, 130), start=1):
        labels[0, top : top + 30, 30:70] = i
    labels[0, 172:176, 40:44] = 5
    assert all(f.on_column for f in fit_to_column(labels, (4.0, 1.0, 1.0)))


def test_a_missed_body_keeps_the_names_below_it_and_warns_with_the_spaced_names() -> None:
    body, sacrum, _ = spine_3d()
    body[:, 73:99, :] = False  # L3 (rows 73-98) not found
    result = name_levels(clean_instances(body, sacrum, SPACING_3D), SPACING_3D)
    assert names(result)[-3:] == ["L4", "L5", "S1"]
    assert [e.discs_by_spacing for e in result.evidence] == [5, 4, 2, 1, 0]
    assert [e.levels_above_s1 for e in result.evidence] == [4, 3, 2, 1, 0]
    (warning,) = [w for w in result.warnings if "disagree" in w]
    assert "named L2, L3, L4, L5; by spacing L1, L2, L4, L5" in warning


def test_evidence_of_a_plain_spine_agrees_and_records_s1_behind_l5() -> None:
    body, sacrum, _ = spine_3d()
    result = name_levels(clean_instances(body, sacrum, SPACING_3D), SPACING_3D)
    assert [e.name for e in result.evidence] == ["L1", "L2", "L3", "L4", "L5", "S1"]
    assert all(e.agrees for e in result.evidence)
    assert [e.discs_by_spacing for e in result.evidence] == [5, 4, 3, 2, 1, 0]
    assert result.evidence[-1].posterior_shift_mm == pytest.approx(4.0, abs=0.1)
    assert all(e.on_midline and e.lateral_offset_mm < 1 for e in result.evidence)


def test_a_fragment_kept_as_a_body_is_flagged_by_the_spacing() -> None:
    """A fragment the column rules let through (on the midline, big enough) still shows as
    two candidates on one level: the names are kept, but a warning says so."""
    from modicmap.vertebrae.postprocess import Instances

    labels = np.zeros((15, 260, 120), np.int32)
    for i, top in enumerate((5, 39, 73, 107), start=1):
        labels[4:13, top : top + 26, 40:76] = i
    labels[4:13, 141:153, 40:76] = 5  # upper half of "L5" ...
    labels[4:13, 155:167, 40:76] = 6  # ... and its lower half as another body
    sacrum = np.zeros(labels.shape, bool)
    sacrum[4:13, 175:205, 42:82] = True
    result = name_levels(Instances(labels, sacrum, 0), SPACING_3D)
    (warning,) = [w for w in result.warnings if "disagree" in w]
    assert "named T12, L1, L2, L3, L4, L5; by spacing L1, L2, L3, L4, L5, L5" in warning
    assert [e.step_ratio for e in result.evidence][4] == pytest.approx(0.41, abs=0.01)


def test_name_levels_without_a_spacing_checks_nothing() -> None:
    body, sacrum, _ = spine_3d()
    result = name_levels(clean_instances(body, sacrum, SPACING_3D))
    assert result.evidence == ()


# --- real data: post-processing on the shipped network's output for a real volume ----------


@pytest.fixture(scope="module")
def real_probabilities(shared_data):
    from modicmap.io.reader import read_image
    from modicmap.models.bundle import load_bundle
    from modicmap.vertebrae.inference import predict_probabilities

    image = read_image(shared_data / "lumbar-vb" / "VB2-06_T2.nii.gz").image
    return predict_probabilities(image, load_bundle(None))


@pytest.mark.real
def test_a_lateral_fragment_added_to_a_real_volume_is_not_named(real_probabilities) -> None:
    from modicmap.vertebrae.inference import vertebrae_from_probabilities

    plain = vertebrae_from_probabilities(real_probabilities)
    assert names(plain)[-2:] == ["L5", "S1"]
    classes = real_probabilities.classes
    z, rows, cols = np.nonzero(classes == 2)
    top = int(rows.min())
    body = real_probabilities.body.copy()
    sacrum = real_probabilities.sacrum.copy()
    fragment = np.zeros(body.shape, bool)  # outermost 10 slices, S1's height, ~3,000 voxels
    centre = int(np.median(cols))
    fragment[:10, top : top + 15, centre - 10 : centre + 10] = True
    fragment &= classes == 0
    assert fragment.sum() * np.prod(real_probabilities.spacing_zyx) > 2500  # mm^3
    body[fragment], sacrum[fragment] = 0.95, 0.02
    result = vertebrae_from_probabilities(replace(real_probabilities, body=body, sacrum=sacrum))
    # every name from the top body of ``plain`` down is unchanged (whether a body that the
    # image's top cuts is restored above it can flip on a one-voxel change of the watershed)
    assert names(result)[-len(plain.bodies) :] == names(plain)
    # the fragment's voxels on the image grid are no body
    scale = np.array(result.labels.shape[1:]) / np.array(body.shape[1:])
    z, r, c = np.nonzero(fragment)
    native = result.labels[z, (r * scale[0]).astype(int), (c * scale[1]).astype(int)]
    assert not np.isin(native, range(1, 26)).any()
    assert not any("disagree" in w for w in result.warnings)


@pytest.mark.real
def test_a_body_removed_from_a_real_volume_keeps_the_names_below(real_probabilities) -> None:
    from modicmap.vertebrae.inference import vertebrae_from_probabilities
    from modicmap.vertebrae.postprocess import clean_instances as clean

    plain = vertebrae_from_probabilities(real_probabilities)
    classes = real_probabilities.classes
    instances = clean(classes == 1, classes == 2, real_probabilities.spacing_zyx)
    n = int(instances.labels.max())
    l3 = instances.labels == n - 2  # third body above the sacrum on the working grid
    body = np.where(l3, 0.0, real_probabilities.body).astype(np.float32)
    result = vertebrae_from_probabilities(replace(real_probabilities, body=body))
    assert names(result)[-3:] == names(plain)[-3:] == ["L4", "L5", "S1"]
    assert len(result.bodies) == len(plain.bodies) - 1
    assert any("disagree" in w for w in result.warnings)


def test_the_evidence_table_shows_why_each_name_was_given() -> None:
    from modicmap.cli.segment_vertebrae import evidence_table

    body, sacrum, _ = spine_3d()
    body[:, 73:99, :] = False  # L3 missed
    table = evidence_table(name_levels(clean_instances(body, sacrum, SPACING_3D), SPACING_3D))
    lines = table.splitlines()
    assert lines[0].split() == ["body", "order", "spacing", "step", "volume", "lateral", "middle"]
    assert lines[1].split()[:3] == ["L2", "4", "5"] and lines[1].endswith("disagree")
    assert lines[3].split()[:3] == ["L4", "2", "2"] and not lines[3].endswith("disagree")
    assert lines[5].startswith("S1") and "behind L5" in lines[5]
    assert any(line.startswith("warning: the level names disagree") for line in lines)


def test_segment_vertebrae_needs_out_or_check_names(tmp_path: Path) -> None:
    from modicmap.cli.main import main

    image = tmp_path / "image.nii.gz"
    image.write_bytes(b"")
    assert main(["segment-vertebrae", str(image)]) == 2


@pytest.mark.real
def test_check_names_prints_the_evidence_and_the_json_keeps_it(
    shared_data, tmp_path: Path, capsys
) -> None:
    import json

    from modicmap.cli.main import main

    image = shared_data / "spider-midsag" / "images" / "2_t1.nii.gz"
    out = tmp_path / "vb.nii.gz"
    assert main(["segment-vertebrae", str(image), "--out", str(out), "--check-names"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].split()[0] == "body"
    assert [line.split()[0] for line in printed[-3:-1]] == ["L5", "S1"]
    report = json.loads((tmp_path / "vb.json").read_text())
    assert [e["name"] for e in report["evidence"]][-2:] == ["L5", "S1"]
    assert report["evidence"][-2]["levels_above_s1"] == 1
