"""Learning from per-level gradings: graded bags on body crops, the MIL loss, fine-tuning."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from modicmap.labels import SACRUM_CODE, vertebra_code
from modicmap.lesions.graded import (
    GradedVolume,
    LevelCropSet,
    bag_scores,
    level_crops,
    match_levels,
    mil_loss,
    normal_bodies,
    painted_graded_volumes,
)

L3, L4, L5 = (vertebra_code(n) for n in ("L3", "L4", "L5"))


def _spine(bright_level: tuple[int, int] | None) -> GradedVolume:
    """One 1-mm slice with L3, L4, L5, S1 (25 mm high, 8 mm discs); T1 bright band at the
    endplates of ``bright_level``."""
    rng = np.random.default_rng(0)
    labels = np.zeros((1, 160, 80), np.uint8)
    codes = [L3, L4, L5, SACRUM_CODE]
    for i, code in enumerate(codes):
        labels[0, 10 + 33 * i : 35 + 33 * i, 20:60] = code
    t1 = rng.normal(100, 5, labels.shape).astype(np.float32)
    t2 = rng.normal(80, 5, labels.shape).astype(np.float32)
    if bright_level is not None:
        upper = codes.index(bright_level[0])
        t1[0, 31 + 33 * upper : 35 + 33 * upper, 25:55] += 60  # inferior endplate of upper
    levels = {(L3, L4): 0, (L4, L5): 0, (L5, SACRUM_CODE): 0}
    if bright_level is not None:
        levels[bright_level] = 2
    return GradedVolume("p", t1, t2, labels, (4.0, 1.0, 1.0), levels)


def test_levels_match_gradings_through_index_from_sacrum() -> None:
    gradings = {("7", 1): 2, ("7", 2): 0, ("8", 1): 1}
    assert match_levels([L4, L5, SACRUM_CODE], "7", gradings) == {
        (L5, SACRUM_CODE): 2,
        (L4, L5): 0,
    }
    assert match_levels([L4, L5], "7", gradings) == {(L4, L5): 0}, "L4-L5 is index 2 always"


def test_every_body_crop_carries_the_bags_of_its_two_levels() -> None:
    inputs, bags, labels = level_crops(_spine((L4, L5)))
    assert len(inputs) == 4  # L3, L4, L5, S1
    labels_arr = np.array(labels)
    # L3: no level above it is graded, the level below (L3-L4) is
    assert labels_arr[0].tolist() == [-1, 0]
    assert labels_arr[1].tolist() == [0, 2], "L4: L3-L4 above, L4-L5 (type 2) below"
    assert labels_arr[2].tolist() == [2, 0]
    assert labels_arr[3].tolist() == [0, -1], "the sacrum has no level below"
    for x, b in zip(inputs, bags, strict=True):
        assert x.shape == (2, 80, 80)
        assert b.shape == (2, 80, 80)
    # the bag below L4 lies in the lower half of L4's crop, the bag above in the upper half
    rows_below = np.nonzero(bags[1][1])[0]
    rows_above = np.nonzero(bags[1][0])[0]
    assert rows_below.min() > rows_above.max()
    # inputs are 0 outside the bodies
    assert inputs[1][0][0, 0] == 0.0


def test_bag_scores_equal_the_training_score() -> None:
    rng = np.random.default_rng(1)
    probability = rng.random((3, 80, 80)).astype(np.float32)
    bags = rng.random((3, 2, 80, 80)) > 0.7
    labels = np.array([[0, 2], [-1, 1], [0, -1]], np.int8)
    scores = bag_scores(probability, bags, labels, k=20)
    assert np.isnan(scores[1, 0]) and np.isnan(scores[2, 1])
    manual = np.sort(probability[0][bags[0, 1]])[-20:].mean()
    assert scores[0, 1] == pytest.approx(manual, rel=1e-6)
    loss = mil_loss(
        torch.from_numpy(probability), torch.from_numpy(bags), torch.from_numpy(labels), 20
    )
    graded = labels >= 0
    s = np.clip(scores[graded], 1e-4, 1 - 1e-4)
    y = (labels[graded] > 0).astype(float)
    expected = -np.mean(y * np.log(s) + (1 - y) * np.log(1 - s))
    assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_normal_bodies_have_every_adjacent_level_graded_none() -> None:
    assert normal_bodies(_spine(None)) == {L4, L5, SACRUM_CODE}, "L3's upper level is not graded"
    assert normal_bodies(_spine((L4, L5))) == {SACRUM_CODE}
    assert normal_bodies(_spine((L5, SACRUM_CODE))) == {L4}


def test_lesions_are_painted_and_cropped_only_in_the_normal_bodies() -> None:
    from modicmap.lesions.dataset import crops_from_volume

    volume = _spine((L3, L4))  # normal: L5 and the sacrum
    painted = list(painted_graded_volumes([volume], paintings=8, seed=0))
    assert len(painted) == 8
    normal = np.isin(volume.vertebrae, [L5, SACRUM_CODE])
    assert any(p.modic.any() for p in painted)
    for p in painted:
        assert p.crop_codes == {L5, SACRUM_CODE}
        assert not (p.modic > 0)[~normal].any(), "a lesion outside the normal bodies"
        changed = (p.t1 != volume.t1) | (p.t2 != volume.t2)
        assert not (changed & (p.modic == 0)).any(), "only painted voxels change"
        inputs, _ = crops_from_volume(p, keep_empty=1.0)
        assert len(inputs) == 2, "one crop per normal body"
    graded_all = replace(volume, levels={(L3, L4): 1, (L4, L5): 2, (L5, SACRUM_CODE): 3})
    assert not list(painted_graded_volumes([graded_all], 2, 0)), "no normal body, no painting"


def _toy_volumes() -> list[GradedVolume]:
    volumes = [_spine(level) for level in [(L3, L4), (L4, L5), (L5, SACRUM_CODE), None] * 2]
    return [replace(v, subject=f"s{i}") for i, v in enumerate(volumes)]


def _toy_graded_set() -> LevelCropSet:
    volumes = _toy_volumes()
    crops = []
    for v in volumes:
        x, b, y = level_crops(v)
        crops.append((v.subject, x, b, y))
    return LevelCropSet(
        np.array([s for s, x, _, _ in crops for _ in x]),
        np.array([xi for _, x, _, _ in crops for xi in x], np.float32),
        np.array([bi for _, _, b, _ in crops for bi in b], bool),
        np.array([yi for _, _, _, y in crops for yi in y], np.int8),
    )


def _train_toy(out: Path, paint_graded: int = 0, **settings: object) -> dict:
    """Fine-tune a new V-Net on :func:`_toy_graded_set` (graded levels, and lesions painted
    ``paint_graded`` times into their normal bodies; 1 thread)."""
    from modicmap.lesions.training import LesionTrainSettings, train

    base = {"batch_size": 8, "learning_rate": 3e-3, "threads": 1, "val_fraction": 0.25}
    return train(
        out,
        data=None,
        synthetic=0,
        lumbar_vb=None,
        paintings=0,
        test_subjects=(),
        settings=LesionTrainSettings(**{**base, "test_fraction": 0.0, **settings}),
        progress=False,
        graded=_toy_graded_set(),
        init=None,
        graded_studies=_toy_volumes(),
        paint_graded=paint_graded,
    )


def test_fine_tuning_on_graded_levels_learns_the_graded_signal(tmp_path: Path) -> None:
    from modicmap.models.bundle import load_bundle

    section = _train_toy(tmp_path / "bundle", epochs=4, patience=10)
    losses = [h["loss"] for h in section["history"]]
    assert losses[-1] < losses[0], losses
    bundle = load_bundle(tmp_path / "bundle")
    assert bundle.section("grading")["rule"] == "probability"
    assert "val_level_auc" in section["history"][0]
    config = json.loads((tmp_path / "bundle" / "modicmap.json").read_text())
    assert config["lesions"]["split"]["val"], "graded subjects get a validation split"


def test_only_the_training_studies_paintings_join_the_voxel_crops(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="modicmap.lesions.training"):
        section = _train_toy(tmp_path / "bundle", paint_graded=1, epochs=1)
    painted = {v.subject for v in _toy_volumes() if normal_bodies(v)}
    expected = painted & set(section["split"]["train"])
    assert expected and expected != painted, "the toy split holds some out"
    logged = [r.getMessage() for r in caplog.records if "painted into" in r.getMessage()]
    assert len(logged) == 1, logged
    head, count = logged[0].rsplit(": ", 1)
    assert head == f"voxel crops painted into {len(expected)} graded training studies"
    assert int(count) > 0
    # the validation studies' paintings are scored, every epoch and at the end
    assert 0.0 <= section["history"][0]["val_painted_graded_dice"] <= 1.0
    assert 0.0 <= section["metrics"]["validation_painted_graded_pixel_dice"] <= 1.0


def test_paint_graded_without_graded_studies_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from modicmap.cli.main import main

    out = tmp_path / "bundle"
    argv = ["train", "lesions", "--out", str(out), "--synthetic", "1", "--paint-graded", "2"]
    assert main([*argv, "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--paint-graded" in err[0] and "needs --graded" in err[0]
    assert not out.exists()


def test_average_weights_is_the_elementwise_mean_with_counters_from_the_last() -> None:
    from modicmap.lesions.training import average_weights

    a = {"w": torch.tensor([1.0, 2.0]), "bn.num_batches_tracked": torch.tensor(3)}
    b = {"w": torch.tensor([3.0, 6.0]), "bn.num_batches_tracked": torch.tensor(7)}
    mean = average_weights([a, b])
    assert torch.equal(mean["w"], torch.tensor([2.0, 4.0]))
    assert int(mean["bn.num_batches_tracked"]) == 7
    with pytest.raises(ValueError):
        average_weights([])


def test_average_last_runs_every_epoch_and_keeps_the_mean_weights(tmp_path: Path) -> None:
    """`--average-last K`: no early stop, no epoch chosen; the bundle holds the mean of the
    weights after the last K epochs (as stored: int8 with per-tensor scales)."""
    from modicmap.lesions.training import average_weights
    from modicmap.models.bundle import expand_weights, load_bundle

    out = tmp_path / "bundle"
    section = _train_toy(out, epochs=3, patience=1, average_last=2)
    assert [h["epoch"] for h in section["history"]] == [1, 2, 3]
    assert section["averaged_epochs"] == [2, 3] and "best_epoch" not in section
    saved = torch.load(out / "lesions_checkpoint.pt", weights_only=True)
    assert len(saved["snapshots"]) == 2
    mean = average_weights(saved["snapshots"])
    stored = expand_weights(load_bundle(out).load_weights("lesions"))
    moved = [k for k, v in mean.items() if v.is_floating_point() and v.numel() > 100]
    assert moved
    for key in moved:
        to_mean = float((stored[key] - mean[key]).abs().mean())
        to_last = float((stored[key] - saved["model"][key]).abs().mean())
        assert to_mean < to_last, key


@pytest.mark.real
@pytest.mark.slow
def test_train_lesions_cli_learns_from_spider_gradings(shared_data: Path, tmp_path: Path) -> None:
    """`train lesions --graded COHORT --gradings CSV --init BUNDLE` on three real SPIDER pairs."""
    from modicmap.cli.main import main
    from modicmap.models.bundle import default_bundle_dir, load_bundle

    images = shared_data / "spider-midsag" / "images"
    cohort = tmp_path / "cohort.csv"
    cohort.write_text(
        "study_id,t1,t2\n"
        + "".join(
            f"{p},{images / f'{p}_t1.nii.gz'},{images / f'{p}_t2.nii.gz'}\n" for p in (2, 3, 4)
        )
    )
    out = tmp_path / "bundle"
    code = main(
        [
            "train",
            "lesions",
            "--out",
            str(out),
            "--graded",
            str(cohort),
            "--gradings",
            str(shared_data / "spider-midsag" / "gradings.csv"),
            "--init",
            str(default_bundle_dir()),
            "--epochs",
            "1",
            "--threads",
            "1",
            "--val-fraction",
            "0.34",
            "--test-fraction",
            "0",
            "--paint-graded",
            "1",
            "--quiet",
        ]
    )
    assert code == 0
    bundle = load_bundle(out)
    section = bundle.section("lesions")
    assert section["training_data"]["graded_levels"]["studies"] == 3
    assert section["training_data"]["graded_levels"]["levels"] >= 12
    assert section["training_data"]["graded_levels"]["paintings_per_study"] == 1
    assert section["initialised_from"]["id"] == load_bundle(None).bundle_id
    assert bundle.section("grading")["rule"] == "probability"
    assert bundle.section("vertebrae") == load_bundle(None).section("vertebrae")
    assert (out / "lesions.safetensors").is_file() and not list(out.glob("*.pkl"))
    default = load_bundle(None).section("lesions")  # how the bundle is run is inherited
    assert section["test_time_flip"] is default["test_time_flip"] is True
    assert section["body_margin_mm"] == default["body_margin_mm"] == 1.0
    assert section["antialias"] is bool(default.get("antialias", False))


def test_an_antialiased_bundle_records_it_and_its_fine_tunes_inherit_it(tmp_path: Path) -> None:
    import argparse

    from modicmap.lesions.training import inference_settings

    section = _train_toy(tmp_path / "bundle", epochs=1, patience=10, synthetic_matrices=(96,))
    assert section["antialias"] is False
    assert list(section["settings"]["synthetic_matrices"]) == [96]
    config = json.loads((tmp_path / "bundle" / "modicmap.json").read_text())
    config["lesions"]["antialias"] = True
    (tmp_path / "bundle" / "modicmap.json").write_text(json.dumps(config))
    args = argparse.Namespace(
        init=tmp_path / "bundle", test_time_flip=None, body_margin_mm=None, antialias=None
    )
    assert inference_settings(args)["antialias"] is True
    args.antialias = False
    assert inference_settings(args)["antialias"] is False


def test_graded_cohort_without_any_usable_study_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from modicmap.cli.main import main

    cohort = tmp_path / "cohort.csv"
    cohort.write_text(f"study_id,t1,t2\n9,{tmp_path / 'a.nii.gz'},{tmp_path / 'b.nii.gz'}\n")
    gradings = tmp_path / "g.csv"
    gradings.write_text("Patient,IVD label,Modic\n9,1,2\n")
    out = tmp_path / "bundle"
    argv = ["train", "lesions", "--out", str(out), "--graded", str(cohort)]
    assert main([*argv, "--gradings", str(gradings), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith("no study could be read and matched to a graded level")
    assert not out.exists()
