"""Vertebral bodies: instances, level names from the sacrum, user masks, training."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from images import PIR_DIRECTION
from modicmap.cli.main import main
from modicmap.vertebrae.levels import NO_SACRUM, name_levels
from modicmap.vertebrae.postprocess import clean_instances, split_bodies
from modicmap.vertebrae.user_mask import UNNAMED, vertebrae_from_mask

SPACING = (4.0, 1.0, 1.0)


def spine(
    n_bodies: int, *, sacrum: bool = True, gap: int = 8, shape=(3, 260, 120)
) -> tuple[np.ndarray, np.ndarray]:
    """Body and sacrum masks of a straight toy spine: 26-row bodies, ``gap``-row discs."""
    body = np.zeros(shape, bool)
    top = 5
    for _ in range(n_bodies):
        body[:, top : top + 26, 40:76] = True
        top += 26 + gap
    sac = np.zeros(shape, bool)
    if sacrum:
        sac[:, top : top + 30, 42:82] = True
    return body, sac


def names(result) -> list[str]:
    return [b.name for b in result.bodies]


def test_five_bodies_above_the_sacrum_are_l1_to_l5() -> None:
    body, sac = spine(5)
    result = name_levels(clean_instances(body, sac, SPACING))
    assert names(result) == ["L1", "L2", "L3", "L4", "L5", "S1"]
    assert result.warnings == ()
    assert set(np.unique(result.labels)) == {0, 20, 21, 22, 23, 24, 26}


def test_missing_sacrum_names_the_lowest_body_l5_and_warns() -> None:
    body, sac = spine(4, sacrum=False)
    result = name_levels(clean_instances(body, sac, SPACING))
    assert names(result) == ["L2", "L3", "L4", "L5"]
    assert NO_SACRUM in result.warnings


def test_a_cut_top_body_warns_only_when_it_is_lumbar() -> None:
    body, sac = spine(5)
    body[:, 0:5, 40:76] = True  # L1 reaches the top row
    result = name_levels(clean_instances(body, sac, SPACING))
    assert names(result)[0] == "L1"
    assert any("L1 touches the top of the image" in w for w in result.warnings)
    body, sac = spine(6, gap=6)
    body[:, 0:5, 40:76] = True  # T12 reaches the top row: the usual edge of a lumbar series
    result = name_levels(clean_instances(body, sac, SPACING))
    assert names(result)[0] == "T12"
    assert not any("touches the top" in w for w in result.warnings)


def test_a_body_cut_by_the_top_of_the_image_is_kept_though_small() -> None:
    """A partly visible top body (smaller than the area rule allows because the field of
    view cuts it) is a level; a speck of the same size far above the column is not."""
    body, sac = spine(5)
    body, sac = np.roll(body, 8, axis=1), np.roll(sac, 8, axis=1)  # L1 from row 13
    body[:, 0:8, 48:68] = True  # the lower 8 mm of the body above L1: 160 mm^2 < 250
    result = name_levels(clean_instances(body, sac, SPACING))
    assert names(result) == ["T12", "L1", "L2", "L3", "L4", "L5", "S1"]
    assert np.flatnonzero((result.labels == 20).any(axis=(0, 2)))[0] == 13, "L1 as it was"
    body[:, 0:8, 48:68] = False
    body[:, 0:8, 96:116] = True  # as large, but far behind the column: not a body
    assert names(name_levels(clean_instances(body, sac, SPACING)))[0] == "L1"


def test_six_bodies_count_up_into_the_thoracic_spine() -> None:
    body, sac = spine(6, gap=6)
    result = name_levels(clean_instances(body, sac, SPACING))
    assert names(result) == ["T12", "L1", "L2", "L3", "L4", "L5", "S1"]


def test_bodies_joined_by_a_thin_bridge_are_split() -> None:
    body, _sac = spine(3)
    body[:, 31:39, 55:58] = True  # a 3-pixel bridge across the first disc
    labels = split_bodies(body, SPACING)
    assert len(np.unique(labels)) - 1 == 3


def test_bodies_joined_only_on_an_outer_slice_are_separate_instances() -> None:
    """On a lateral slice the disc can blur away: there the bodies are one tall blob, which
    joined them in 3-D (lumbar-vb AKa3 T1: four bodies became one instance)."""
    body, sac = spine(5, shape=(5, 260, 120))
    body[4, 5:170, 40:76] = True  # slice 4: the five bodies and their discs one blob
    labels = split_bodies(body, SPACING)
    assert len(np.unique(labels)) - 1 == 5
    for top in range(5, 170, 34):  # every body's core is one instance on every slice
        assert len(np.unique(labels[:, top + 8 : top + 18, 50:66])) == 1
    result = name_levels(clean_instances(body, sac, SPACING))
    assert names(result) == ["L1", "L2", "L3", "L4", "L5", "S1"]


def test_a_body_seen_as_two_small_rims_on_an_outer_slice_stays_one() -> None:
    body, _sac = spine(1, sacrum=False, shape=(5, 60, 120))
    body[4] = False
    body[4, 5:13, 40:50] = True  # two 8 x 10 px rims, 80 mm2 each, 18 px apart
    body[4, 23:31, 40:50] = True
    body[4, 5:31, 40:42] = True  # joined along the anterior edge
    assert len(np.unique(split_bodies(body, SPACING))) - 1 == 1


def test_blob_off_the_spine_axis_is_removed() -> None:
    body, sac = spine(5)
    body[:, 120:150, 2:30] = False
    body[:, 100:130, 90:118] = True  # a bowel-like blob far posterior of the column
    instances = clean_instances(body, sac, SPACING)
    assert instances.labels.max() == 5
    assert instances.removed >= 1


def test_small_specks_are_removed() -> None:
    body, sac = spine(5)
    body[:, 3:6, 5:8] = True
    assert clean_instances(body, sac, SPACING).labels.max() == 5


def _image(array: np.ndarray) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(SPACING[::-1])
    image.SetDirection(PIR_DIRECTION)
    return image


def test_user_mask_with_verse_codes_is_kept() -> None:
    codes = np.zeros((3, 100, 60), np.uint8)
    codes[:, 10:30, 10:40] = 24
    codes[:, 40:70, 10:45] = 26
    result = vertebrae_from_mask(_image(codes), _image(codes.astype(np.float32)))
    assert names(result) == ["L5", "S1"]
    assert result.warnings == ()


def test_user_mask_with_an_l6_warns_of_transitional_anatomy() -> None:
    from modicmap.vertebrae.user_mask import TRANSITIONAL_L6

    codes = np.zeros((3, 130, 60), np.uint8)
    for code, top in ((24, 5), (25, 40), (26, 75)):
        codes[:, top : top + 25, 10:40] = code
    result = vertebrae_from_mask(_image(codes), _image(codes.astype(np.float32)))
    assert names(result) == ["L5", "L6", "S1"]
    assert result.warnings == (TRANSITIONAL_L6,)


def test_user_mask_with_arbitrary_labels_is_named_from_the_lowest() -> None:
    mask = np.zeros((3, 120, 60), np.uint8)
    for i, top in enumerate((5, 40, 75)):
        mask[:, top : top + 25, 10:40] = 100 + i
    result = vertebrae_from_mask(_image(mask), _image(mask.astype(np.float32)))
    assert names(result) == ["L3", "L4", "L5"]
    assert UNNAMED in result.warnings


def test_binary_user_mask_is_split_into_components() -> None:
    mask = np.zeros((3, 120, 60), np.uint8)
    for top in (5, 40, 75):
        mask[:, top : top + 25, 10:40] = 1
    result = vertebrae_from_mask(_image(mask), _image(mask.astype(np.float32)))
    assert len(result.bodies) == 3


def test_empty_user_mask_is_bad_input() -> None:
    from modicmap.errors import InputError

    empty = np.zeros((3, 20, 20), np.uint8)
    with pytest.raises(InputError, match="no vertebrae found"):
        vertebrae_from_mask(_image(empty), _image(empty.astype(np.float32)))


def test_a_few_training_steps_lower_the_loss() -> None:
    import torch

    from modicmap.vertebrae.network import VertebraeNetSpec, build_network
    from modicmap.vertebrae.training import loss_fn

    torch.manual_seed(0)
    spec = VertebraeNetSpec(channels=(8, 16, 32), strides=(2, 2), tile=64)
    model = build_network(spec)
    body, sac = spine(2, shape=(1, 64, 64), gap=4)
    target = torch.from_numpy((body.astype(np.int64) + 2 * sac)[0])[None].repeat(2, 1, 1)
    target[:, 60:, :] = 255  # ignored pixels must not break the loss
    x = target.clamp(max=2).float()[:, None] * 0.4 + 0.1 * torch.randn(2, 1, 64, 64)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(12):
        optimiser.zero_grad()
        loss = loss_fn(model(x), target)
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.8 * losses[0]


def test_an_ensemble_outputs_the_mean_of_its_members_probabilities() -> None:
    import torch

    from modicmap.vertebrae.network import (
        VertebraeNetSpec,
        build_network,
        join_members,
        split_members,
    )

    torch.manual_seed(0)
    spec = VertebraeNetSpec(channels=(8, 16, 32), strides=(2, 2), tile=64)
    a, b = build_network(spec).eval(), build_network(spec).eval()
    both = build_network(VertebraeNetSpec(channels=(8, 16, 32), strides=(2, 2), members=2))
    joined = join_members([a.state_dict(), b.state_dict()])
    both.load_state_dict(joined)
    both.eval()
    x = torch.rand(2, 1, 64, 64)
    with torch.no_grad():
        expected = (torch.softmax(a(x), 1) + torch.softmax(b(x), 1)) / 2
        got = torch.softmax(both(x), 1)
    assert torch.allclose(got, expected, atol=1e-6)
    assert not torch.allclose(torch.softmax(a(x), 1), expected, atol=1e-3), "members differ"
    back = split_members(joined, 2)
    assert all(torch.equal(back[1][k], v) for k, v in b.state_dict().items())
    (alone,) = split_members(a.state_dict(), 1)
    assert alone.keys() == a.state_dict().keys()


def test_train_vertebrae_cli_writes_a_bundle_and_joins_an_ensemble(tmp_path: Path) -> None:
    """Two tiny training runs through the CLI: the second joins the first's network."""
    data = tmp_path / "data"
    data.mkdir()
    body, sac = spine(5, shape=(2, 260, 120))
    labels = np.zeros(body.shape, np.uint8)
    for i, rows in enumerate(range(10, 10 + 5 * 34, 34)):
        labels[:, rows : rows + 26][body[:, rows : rows + 26]] = i + 1
    labels[sac] = 6
    for subject in ("a", "b"):
        image = _image(np.where(labels > 0, 0.8, 0.2).astype(np.float32))
        sitk.WriteImage(image, str(data / f"{subject}_T1.nii.gz"))
        sitk.WriteImage(_image(labels), str(data / f"{subject}_T1_vb.nii.gz"))
    tiny = ["--epochs", "1", "--crops-per-epoch", "8", "--threads", "1", "--quiet"]
    common = ["train", "vertebrae", "--data", str(data), *tiny, "--val-fraction", "0"]
    assert main([*common, "--out", str(tmp_path / "one")]) == 0
    partner = ["--ensemble-with", str(tmp_path / "one")]
    assert main([*common, "--out", str(tmp_path / "two"), *partner]) == 0

    from modicmap.models.bundle import load_bundle
    from modicmap.vertebrae.inference import load_network

    first, second = load_bundle(tmp_path / "one"), load_bundle(tmp_path / "two")
    section = second.section("vertebrae")
    assert section["members"] == 2 and len(section["members_info"]) == 2
    assert "--ensemble-with" in section["command"]
    model, spec = load_network(second)
    assert spec.members == 2
    single, _ = load_network(first)
    mine = model.members[0].state_dict()
    assert all(mine[k].equal(v) for k, v in single.state_dict().items()), (
        "the first member is the partner's network"
    )

    from modicmap.vertebrae.network import FALLBACK

    host = ["--fallback-in", str(tmp_path / "one"), "--seed", "1"]
    assert main([*common, "--out", str(tmp_path / "three"), *host]) == 0
    third = load_bundle(tmp_path / "three")
    assert third.section("vertebrae") == first.section("vertebrae"), "the main network is kept"
    assert "--fallback-in" in third.section(FALLBACK)["command"]
    assert (tmp_path / "three" / f"{FALLBACK}.safetensors").is_file()
    fallback, _ = load_network(third, section=FALLBACK)
    assert not all(fallback.state_dict()[k].equal(v) for k, v in single.state_dict().items()), (
        "the fallback is the new network"
    )
    assert not first.has(FALLBACK) and not second.has(FALLBACK), (
        "a newly trained main network does not inherit the default's fallback"
    )


def _one_subject(tmp_path: Path) -> Path:
    """A training folder with one subject: five bodies and a sacrum on two slices."""
    data = tmp_path / "data"
    data.mkdir()
    body, sac = spine(5, shape=(2, 260, 120))
    labels = np.where(sac, 6, np.where(body, 1, 0)).astype(np.uint8)
    sitk.WriteImage(
        _image(np.where(labels > 0, 0.8, 0.2).astype(np.float32)), str(data / "a_T1.nii.gz")
    )
    sitk.WriteImage(_image(labels), str(data / "a_T1_vb.nii.gz"))
    return data


def test_training_can_start_from_a_bundles_network(tmp_path: Path) -> None:
    """``--init-weights BUNDLE`` starts from that bundle's vertebra network (lr 0 keeps it)."""
    data = _one_subject(tmp_path)
    tiny = ["--epochs", "1", "--crops-per-epoch", "8", "--threads", "1", "--quiet"]
    common = ["train", "vertebrae", "--data", str(data), *tiny, "--val-fraction", "0"]
    assert main([*common, "--out", str(tmp_path / "one"), "--seed", "1"]) == 0
    start = ["--init-weights", str(tmp_path / "one"), "--lr", "0", "--seed", "2"]
    assert main([*common, "--out", str(tmp_path / "two"), *start]) == 0
    fresh = ["--lr", "0", "--seed", "2"]
    assert main([*common, "--out", str(tmp_path / "three"), *fresh]) == 0

    from modicmap.models.bundle import load_bundle

    one, two, three = (
        load_bundle(tmp_path / name).load_weights("vertebrae") for name in ("one", "two", "three")
    )
    assert all(two[k].equal(v) for k, v in one.items())
    assert not all(three[k].equal(v) for k, v in one.items()), "seed 2 alone starts elsewhere"

    for wrong in (tmp_path / "nowhere.pt", data / "a_T1.nii.gz"):  # missing; not a state dict
        bad = ["--init-weights", str(wrong)]
        assert main([*common, "--out", str(tmp_path / "four"), *bad]) == 2
        assert not (tmp_path / "four").exists(), "no partial output"


def test_a_run_can_stop_early_in_its_schedule_and_weight_the_sacrum(tmp_path: Path) -> None:
    """``--stop-after`` ends a run inside its learning-rate schedule (the shipped network's
    first phase), ``--resume`` finishes it; ``--sacrum-weight`` is the sacrum's CE weight."""
    import json

    import torch

    from modicmap.vertebrae.training import loss_fn

    data = _one_subject(tmp_path)
    tiny = ["--epochs", "3", "--crops-per-epoch", "8", "--threads", "1", "--quiet"]
    common = ["train", "vertebrae", "--data", str(data), *tiny, "--val-fraction", "0"]
    cut = ["--stop-after", "1", "--sacrum-weight", "1", "--keep-last"]
    assert main([*common, "--out", str(tmp_path / "cut"), *cut]) == 0
    assert main([*common, "--out", str(tmp_path / "full"), "--sacrum-weight", "1"]) == 0

    def history(name: str) -> list[dict]:
        return json.loads((tmp_path / name / "checkpoint.json").read_text())["history"]

    assert len(history("cut")) == 1 and len(history("full")) == 3
    assert history("cut")[0]["loss"] == history("full")[0]["loss"], "same start, same epoch 1"
    assert main([*common, "--out", str(tmp_path / "cut"), *cut[2:], "--resume"]) == 0
    assert len(history("cut")) == 3, "--resume finishes the schedule"

    logits = torch.zeros(1, 3, 4, 4)
    logits[:, 0] = 2.0  # background predicted everywhere: the sacrum pixels are the errors
    target = torch.full((1, 4, 4), 2)
    target[0, :2] = 0
    plain, weighted = (float(loss_fn(logits, target, (1.0, 1.0, w))) for w in (1.0, 5.0))
    assert weighted > plain, "a heavier sacrum weight makes missing it cost more"


def test_synthetic_training_slices_can_include_the_lateral_ones() -> None:
    from modicmap.vertebrae.data import synthetic_slices

    central = synthetic_slices(1, 1.25)
    every = synthetic_slices(1, 1.25, all_slices=True)
    assert len(central) == 5 and len(every) > 10
    areas = [int((s.target == 1).sum()) for s in every]
    assert areas[0] == 0 and areas[-1] == 0, "two slices without a body at either side"
    middle = max(areas)
    assert any(0 < a < middle / 2 for a in areas), "lateral partial-volume slices are included"

    from modicmap.vertebrae.network import IGNORE

    banded = synthetic_slices(1, 1.25, all_slices=True, outline_ignore_px=1)
    for plain, band in zip(every, banded, strict=True):
        assert np.array_equal(plain.image, band.image)
        ignored = band.target == IGNORE
        bone = plain.target > 0
        assert not (ignored & ~bone & ~ndimage.binary_dilation(bone)).any(), "only near outlines"
        assert np.array_equal(band.target[~ignored], plain.target[~ignored])
        assert ignored.any() == bone.any()
    widest = banded[int(np.argmax(areas))].target
    assert (widest == 1).sum() > areas[int(np.argmax(areas))] / 2, "the bodies' cores stay"


def test_subjects_are_split_whole_and_val_fraction_zero_trains_on_all() -> None:
    from modicmap.vertebrae.data import TrainingSlice
    from modicmap.vertebrae.training import TrainSettings, split_by_subject

    blank = np.zeros((4, 4), np.float32)
    slices = [
        TrainingSlice(subject, blank, blank.astype(np.uint8))
        for subject in ("a", "a", "b", "c", "c", "synthetic-0")
        for _ in range(2)
    ]
    train, val = split_by_subject(slices, TrainSettings(val_subjects=("c",)))
    assert {s.subject for s in val} == {"c"} and len(val) == 4
    assert {s.subject for s in train} == {"a", "b", "synthetic-0"}
    train, val = split_by_subject(slices, TrainSettings(val_fraction=0.0))
    assert val == [] and len(train) == len(slices)
    train, val = split_by_subject(slices, TrainSettings(val_fraction=0.3, seed=3))
    held_out = {s.subject for s in val}
    assert len(held_out) == 1 and not held_out & {s.subject for s in train}
    assert "synthetic-0" not in held_out


def test_bundled_model_loads_from_safetensors_alone() -> None:
    from modicmap.models.bundle import load_bundle
    from modicmap.vertebrae.inference import load_network

    bundle = load_bundle(None)
    assert not list(bundle.folder.glob("*.pt")) and not list(bundle.folder.glob("*.pkl"))
    model, spec = load_network(bundle)
    assert spec.working_spacing_mm > 0
    assert sum(p.numel() for p in model.parameters()) > 100_000


def test_the_network_takes_a_small_image() -> None:
    """A 20 mm slice is 16 working pixels: the U-Net's bottom would be one pixel, which
    instance norm refuses; the input is padded instead and the answer has the slice's size."""
    from modicmap.models.bundle import load_bundle
    from modicmap.vertebrae.inference import predict_probabilities

    image = sitk.GetImageFromArray(np.random.default_rng(0).random((1, 16, 16), dtype=np.float32))
    image.SetSpacing((1.26, 1.26, 4.0))
    image.SetDirection(PIR_DIRECTION)
    result = predict_probabilities(image, load_bundle(None))
    assert result.body.shape == (1, 16, 16)
    assert np.isfinite(result.body).all()


@pytest.mark.real
def test_bundled_model_finds_and_names_the_bodies_of_a_held_out_lumbar_vb_volume(
    shared_data,
) -> None:
    from modicmap.io.reader import read_image
    from modicmap.models.bundle import load_bundle
    from modicmap.vertebrae.inference import segment_vertebrae

    image = read_image(shared_data / "lumbar-vb" / "VB1-DzZ_T2.nii.gz").image  # DzZ: held out
    result = segment_vertebrae(image, load_bundle(None))
    names_found = [b.name for b in result.bodies]
    assert names_found[-1] == "S1"
    assert {"L1", "L2", "L3", "L4", "L5"} <= set(names_found)


@pytest.mark.real
@pytest.mark.parametrize("name", ["2_t1", "48_t2"])
def test_bundled_model_names_the_lumbar_bodies_of_real_spider_slices(shared_data, name) -> None:
    """SPIDER slices (the vertebra model never saw SPIDER) judged right by eye: L1-L5 and
    S1 found, in order, S1 the lowest."""
    from modicmap.io.reader import read_image
    from modicmap.models.bundle import load_bundle
    from modicmap.vertebrae.inference import segment_vertebrae

    image = read_image(shared_data / "spider-midsag" / "images" / f"{name}.nii.gz").image
    result = segment_vertebrae(image, load_bundle(None))
    names_found = [b.name for b in result.bodies]
    assert names_found[-6:] == ["L1", "L2", "L3", "L4", "L5", "S1"]
    rows = [float(np.nonzero(result.labels == b.code)[1].mean()) for b in result.bodies]
    assert rows == sorted(rows), "bodies named from top to bottom"


def test_a_sacrum_blob_deep_in_the_pelvis_is_not_taken_for_s1() -> None:
    body, sac = spine(5, sacrum=False, shape=(3, 330, 120))
    sac[:, 290:320, 42:82] = True  # 100+ mm below L5: bladder or bowel, not S1
    result = name_levels(clean_instances(body, sac, SPACING))
    assert "S1" not in names(result)
    assert NO_SACRUM in result.warnings


def test_a_small_weak_sacrum_below_l5_is_recovered_from_its_probability() -> None:
    body, _ = spine(5)
    probability = np.zeros(body.shape, np.float32)
    probability[:, 180:190, 45:55] = 0.4  # 100 mm^2, never the argmax: S1 seen faintly
    no_class = np.zeros(body.shape, bool)
    without = name_levels(clean_instances(body, no_class, SPACING))
    assert "S1" not in names(without)
    result = name_levels(clean_instances(body, no_class, SPACING, sacrum_probability=probability))
    assert names(result) == ["L1", "L2", "L3", "L4", "L5", "S1"]
    assert NO_SACRUM not in result.warnings


def test_a_pelvic_body_blob_below_the_sacrum_is_dropped_and_does_not_hide_s1() -> None:
    body, sac = spine(5, shape=(3, 300, 120))
    body[:, 235:265, 20:50] = True  # bladder/bowel called "body", below and in front of S1
    result = name_levels(clean_instances(body, sac, SPACING))
    assert names(result) == ["L1", "L2", "L3", "L4", "L5", "S1"]
    assert result.labels[1, 250, 35] == 0


def test_the_sacrum_is_the_candidate_with_most_probability_right_below_l5() -> None:
    body, sac = spine(5, shape=(3, 300, 120))
    sac[:, 200:230, 2:30] = True  # a pelvic blob in front of S1, smaller than S1
    sac[:, 200:230, 2:30] &= np.arange(28)[None, None, :] < 14
    result = name_levels(clean_instances(body, sac, SPACING))
    assert names(result) == ["L1", "L2", "L3", "L4", "L5", "S1"]
    assert result.labels[1, 185, 60] == 26 and result.labels[1, 215, 8] == 0


def test_bodies_found_on_the_working_grid_are_named_on_the_image_grid() -> None:
    from modicmap.vertebrae.inference import ClassProbabilities, vertebrae_from_probabilities

    body, sac = spine(5)
    working = ClassProbabilities(
        body.astype(np.float32) * 0.9,
        sac.astype(np.float32) * 0.9,
        spacing_zyx=(4.0, 1.0, 1.0),
        native_shape=(3, 520, 240),  # the image has 0.5 mm pixels
    )
    result = vertebrae_from_probabilities(working)
    assert names(result) == ["L1", "L2", "L3", "L4", "L5", "S1"]
    assert result.labels.shape == (3, 520, 240)
    l1 = result.labels == 20
    assert abs(int(l1[1].sum()) - 4 * 26 * 36) < 0.1 * 4 * 26 * 36  # area kept
    assert result.labels[1, 2 * 18, 2 * 58] == 20


def test_a_sacrum_core_wrapped_by_the_lowest_body_makes_that_body_s1() -> None:
    body, _ = spine(6, shape=(3, 260, 120))  # the network called S1 "body" ...
    core = np.zeros(body.shape, bool)
    core[:, 185:195, 55:66] = True  # ... except a small core inside it
    body &= ~core
    result = name_levels(clean_instances(body, core, SPACING))
    assert names(result) == ["L1", "L2", "L3", "L4", "L5", "S1"]
    assert result.labels[1, 176, 45] == 26  # the whole lowest body, not just the core


def test_a_separate_sacrum_below_l5_does_not_swallow_l5() -> None:
    body, sac = spine(5, gap=2)  # S1 right below L5, touching it across a thin disc
    result = name_levels(clean_instances(body, sac, SPACING))
    assert names(result) == ["L1", "L2", "L3", "L4", "L5", "S1"]


def test_intensity_variants_stay_in_0_1_and_brighten_a_dark_image() -> None:
    from modicmap.vertebrae.inference import INTENSITY_VARIANTS, _network_input

    rng = np.random.default_rng(0)
    dark = rng.gamma(1.0, 10.0, (2, 40, 40)).astype(np.float32)  # most voxels dark
    base = _network_input(dark, INTENSITY_VARIANTS[0])
    for variant in INTENSITY_VARIANTS[1:]:
        x = _network_input(dark, variant)
        assert x.shape == dark.shape and x.min() >= 0 and x.max() <= 1
        assert np.median(x) > np.median(base)
    with pytest.raises(ValueError, match="unknown intensity variant"):
        _network_input(dark, "sepia")


def test_plausibility_prefers_a_sacrum_and_no_missing_body() -> None:
    from modicmap.vertebrae.inference import plausibility

    body, sac = spine(5)
    complete = name_levels(clean_instances(body, sac, SPACING))
    body[:, 73:99, :] = False  # L3 missed
    holed = name_levels(clean_instances(body, sac, SPACING))
    no_sacrum = name_levels(clean_instances(*spine(5, sacrum=False), SPACING))
    assert plausibility(complete, 1.0) == (True, True, True)
    assert plausibility(complete, 1.0) > plausibility(holed, 1.0) > plausibility(no_sacrum, 1.0)


def test_a_small_lateral_fragment_at_the_height_of_a_body_is_not_a_level() -> None:
    body, sac = spine(5, shape=(5, 260, 120))
    body[0] = False
    body[0, 110:128, 20:40] = True  # an outer-slice fragment beside L4, own component
    result = name_levels(clean_instances(body, sac, SPACING))
    assert names(result) == ["L1", "L2", "L3", "L4", "L5", "S1"]
    assert result.labels[0, 120, 30] == 0


def test_level_fragments_are_dropped_but_small_bodies_on_their_own_level_are_kept() -> None:
    from modicmap.vertebrae.postprocess import _drop_level_fragments

    labels = np.zeros((1, 200, 100), np.int32)
    for i, top in enumerate((10, 50, 90, 130), start=1):
        labels[0, top : top + 30, 30:70] = i
    labels[0, 95:110, 80:90] = 5  # small, beside body 3
    labels[0, 170:185, 40:50] = 6  # small, on its own level (a partly visible body)
    assert _drop_level_fragments(labels) == 1
    assert sorted(int(v) for v in np.unique(labels) if v) == [1, 2, 3, 4, 6]


def test_a_sacrum_far_below_the_lowest_body_means_l5_was_missed() -> None:
    from modicmap.vertebrae.levels import MISSED_ABOVE_SACRUM

    body, sac = spine(5)
    body[:, 141:167, :] = False  # L5 not found; S1 still seen, 56 mm below L4
    result = name_levels(clean_instances(body, sac, (4.0, 0.8, 0.8)))
    assert names(result) == ["L1", "L2", "L3", "L4", "S1"]
    assert MISSED_ABOVE_SACRUM in result.warnings


def test_a_sacrum_core_is_not_merged_into_l5_when_both_would_make_a_giant_body() -> None:
    body, _ = spine(5, gap=2)
    core = np.zeros(body.shape, bool)
    core[:, 150:175, 50:66] = True  # reaches from inside L5 (rows 133-158) far below it
    body &= ~core
    result = name_levels(clean_instances(body, core, SPACING))
    assert names(result) == ["L1", "L2", "L3", "L4", "L5", "S1"]


@pytest.mark.real
@pytest.mark.parametrize(
    ("slice_name", "failure_fixed"),
    [
        ("3_t1", "a pelvic blob below S1 was the lowest body"),
        ("4_t1", "S1 called body, only its core sacrum"),
        ("22_t1", "dark T1: bodies missed"),
        ("7_t2", "no S1 from the main network: the fallback network finds it"),
        ("204_t1", "no S1 and a pelvic blob called L5: the fallback network"),
    ],
)
def test_spider_slices_that_failed_before_are_named_from_s1(
    shared_data, slice_name: str, failure_fixed: str
) -> None:
    from modicmap.io.reader import read_image
    from modicmap.models.bundle import load_bundle
    from modicmap.vertebrae.inference import segment_vertebrae

    image = read_image(shared_data / "spider-midsag" / "images" / f"{slice_name}.nii.gz").image
    found = names(segment_vertebrae(image, load_bundle(None)))
    assert found[-2:] == ["L5", "S1"], failure_fixed
    assert {"L1", "L2", "L3", "L4"} <= set(found), failure_fixed


@pytest.mark.real
def test_a_result_found_on_other_input_intensities_says_so(shared_data) -> None:
    from modicmap.io.reader import read_image
    from modicmap.models.bundle import load_bundle
    from modicmap.vertebrae.inference import segment_vertebrae

    image = read_image(shared_data / "spider-midsag" / "images" / "22_t1.nii.gz").image
    result = segment_vertebrae(image, load_bundle(None))  # dark T1: plain input misses bodies
    assert any("input intensities" in w for w in result.warnings)


class _Bundle:
    """Stands in for a model bundle: only whether it has a fallback vertebra network."""

    def __init__(self, fallback: bool = False) -> None:
        self.fallback = fallback

    def has(self, name: str) -> bool:
        from modicmap.vertebrae.network import FALLBACK

        return self.fallback and name == FALLBACK


def test_the_registered_second_sequence_replaces_an_implausible_t1_and_checks_a_plausible_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from modicmap.vertebrae import inference

    t1 = sitk.Image(120, 260, 3, sitk.sitkFloat32)
    t1.SetSpacing((1.0, 1.0, 4.0))
    t2 = sitk.Image(t1) + 1.0  # told apart by its value: the cross-check gets a slab of it

    def is_t2(source: sitk.Image) -> bool:
        return bool(sitk.GetArrayViewFromImage(source).max() == 1.0)

    without_sacrum = name_levels(clean_instances(*spine(5, sacrum=False), SPACING))
    with_sacrum = name_levels(clean_instances(*spine(5), SPACING))
    asked: list[str] = []

    def probabilities(source, bundle, *, device, variant, network):
        asked.append("t2" if is_t2(source) else f"t1 {variant}")
        return source

    monkeypatch.setattr(inference, "load_network", lambda bundle, device, section="": None)
    monkeypatch.setattr(inference, "predict_probabilities", probabilities)
    monkeypatch.setattr(
        inference,
        "vertebrae_from_probabilities",
        lambda source: with_sacrum if is_t2(source) else without_sacrum,
    )
    result = inference.segment_vertebrae(t1, _Bundle(), second_opinion=t2)  # type: ignore[arg-type]
    assert asked == [f"t1 {v}" for v in inference.INTENSITY_VARIANTS] + ["t2"]
    assert names(result)[-1] == "S1"
    assert any("second sequence" in w for w in result.warnings)

    asked.clear()
    monkeypatch.setattr(inference, "vertebrae_from_probabilities", lambda source: with_sacrum)
    result = inference.segment_vertebrae(t1, _Bundle(), second_opinion=t2)  # type: ignore[arg-type]
    assert asked == ["t1 percentile", "t2"], "a plausible T1 is only cross-checked"
    assert not any("second" in w for w in result.warnings), "same names: no warning"

    lumbar = (with_sacrum.labels > 0) & (with_sacrum.labels < 26)
    shifted = replace(
        with_sacrum, labels=np.where(lumbar, with_sacrum.labels - 1, with_sacrum.labels)
    )
    monkeypatch.setattr(
        inference,
        "vertebrae_from_probabilities",
        lambda source: shifted if is_t2(source) else with_sacrum,
    )
    result = inference.segment_vertebrae(t1, _Bundle(), second_opinion=t2)  # type: ignore[arg-type]
    assert names(result)[-2:] == ["L5", "S1"], "the T1 result is kept"
    assert inference.disagreement_note(-1) in result.warnings
    assert "1 level lower" in inference.disagreement_note(-1)
    assert inference.name_offset(with_sacrum.labels, shifted.labels) == -1
    assert inference.name_offset(with_sacrum.labels, with_sacrum.labels) == 0


def test_the_fallback_network_is_asked_only_when_all_else_is_implausible_and_kept_if_plausible(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from modicmap.vertebrae import inference
    from modicmap.vertebrae.network import FALLBACK

    image = sitk.Image(120, 260, 3, sitk.sitkFloat32)
    image.SetSpacing((1.0, 1.0, 4.0))
    without_sacrum = name_levels(clean_instances(*spine(5, sacrum=False), SPACING))
    with_sacrum = name_levels(clean_instances(*spine(5), SPACING))
    three_with_sacrum = name_levels(clean_instances(*spine(3), SPACING))
    outputs = {"vertebrae": without_sacrum, FALLBACK: with_sacrum}
    asked: list[str] = []

    def probabilities(source, bundle, *, device, variant, network):
        asked.append(f"{network} {variant}")
        return network

    monkeypatch.setattr(
        inference, "load_network", lambda bundle, device, section="vertebrae": section
    )
    monkeypatch.setattr(inference, "predict_probabilities", probabilities)
    monkeypatch.setattr(inference, "vertebrae_from_probabilities", lambda network: outputs[network])

    result = inference.segment_vertebrae(image, _Bundle(fallback=True))  # type: ignore[arg-type]
    variants = [f"vertebrae {v}" for v in inference.INTENSITY_VARIANTS]
    assert asked == [*variants, f"{FALLBACK} percentile"], "the first plausible result is kept"
    assert names(result)[-2:] == ["L5", "S1"]
    assert any("fallback vertebra network" in w for w in result.warnings)

    asked.clear()
    outputs[FALLBACK] = three_with_sacrum  # a sacrum but too few bodies: not fully plausible
    result = inference.segment_vertebrae(image, _Bundle(fallback=True))  # type: ignore[arg-type]
    assert asked == [*variants, *(f"{FALLBACK} {v}" for v in inference.INTENSITY_VARIANTS)]
    assert "S1" not in names(result), "a partly plausible fallback result is not taken"
    assert not any("fallback" in w for w in result.warnings)

    asked.clear()
    outputs["vertebrae"] = with_sacrum
    inference.segment_vertebrae(image, _Bundle(fallback=True))  # type: ignore[arg-type]
    assert asked == ["vertebrae percentile"], "a plausible first result never asks the fallback"


def test_the_fallback_network_breaks_a_tie_between_the_sequences_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from modicmap.vertebrae import inference
    from modicmap.vertebrae.network import FALLBACK

    t1 = sitk.Image(120, 260, 3, sitk.sitkFloat32)
    t1.SetSpacing((1.0, 1.0, 4.0))
    t2 = sitk.Image(t1) + 1.0

    with_sacrum = name_levels(clean_instances(*spine(5), SPACING))
    lumbar = (with_sacrum.labels > 0) & (with_sacrum.labels < 26)
    shifted = replace(
        with_sacrum, labels=np.where(lumbar, with_sacrum.labels - 1, with_sacrum.labels)
    )
    outputs = {("t1", "vertebrae"): with_sacrum, ("t2", "vertebrae"): shifted}

    def probabilities(source, bundle, *, device, variant, network):
        sequence = "t2" if sitk.GetArrayViewFromImage(source).max() == 1.0 else "t1"
        return sequence, network

    monkeypatch.setattr(
        inference, "load_network", lambda bundle, device, section="vertebrae": section
    )
    monkeypatch.setattr(inference, "predict_probabilities", probabilities)
    monkeypatch.setattr(inference, "vertebrae_from_probabilities", lambda key: outputs[key])

    outputs[("t1", FALLBACK)] = shifted  # the fallback names the T1 bodies as the T2 does
    result = inference.segment_vertebrae(t1, _Bundle(fallback=True), second_opinion=t2)  # type: ignore[arg-type]
    assert np.array_equal(result.labels, shifted.labels), "two of three opinions win"
    assert result.warnings == (inference.tie_break_note(-1),)

    outputs[("t1", FALLBACK)] = with_sacrum  # the fallback agrees with the first sequence
    result = inference.segment_vertebrae(t1, _Bundle(fallback=True), second_opinion=t2)  # type: ignore[arg-type]
    assert np.array_equal(result.labels, with_sacrum.labels)
    assert inference.disagreement_note(-1) in result.warnings
