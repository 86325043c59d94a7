"""The level network: patches on constructed spines, training, bundles, the train CLI."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from modicmap.cli.main import main
from modicmap.errors import InputError
from modicmap.grading.level_crops import ALONG, SIZE, PatchGeometry, level_patches
from modicmap.grading.level_model import (
    FEATURES,
    WITHOUT_NETWORK,
    LevelEvidence,
    LevelModel,
    feature_row,
    without_t2,
)
from modicmap.grading.level_network import (
    SECTION,
    LevelNetSpec,
    build_level_network,
    load_level_network,
    network_outputs,
    score_patches,
)
from modicmap.grading.level_training import (
    LevelData,
    LevelGrading,
    LevelTrainSettings,
    aux_columns,
    read_level_gradings,
    train_network,
)
from modicmap.grading.tables import read_levels_csv
from modicmap.labels import vertebra_code

L4, L5, S1 = vertebra_code("L4"), vertebra_code("L5"), vertebra_code("S1")


def _spine(angle: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One slice: L4, L5, S1 as 24 x 36-pixel boxes 8 pixels apart (marrow 100, discs 40 on
    T2 and 60 on T1), rotated by ``angle`` degrees in the slice."""
    labels = np.zeros((160, 160), np.uint8)
    t1 = np.full(labels.shape, 10.0, np.float32)
    t2 = np.full(labels.shape, 10.0, np.float32)
    for code, top in ((L4, 30), (L5, 62), (S1, 94)):
        labels[top : top + 24, 62:98] = code
    t1[labels > 0] = t2[labels > 0] = 100.0
    for top in (54, 86):
        t1[top : top + 8, 62:98] = 60.0
        t2[top : top + 8, 62:98] = 40.0
    if angle:
        labels = ndimage.rotate(labels, angle, reshape=False, order=0)
        t1 = ndimage.rotate(t1, angle, reshape=False, order=1, cval=10.0)
        t2 = ndimage.rotate(t2, angle, reshape=False, order=1, cval=10.0)
    return t1[None], t2[None], labels[None]


def test_a_level_patch_is_centred_on_its_disc_and_scaled_to_marrow() -> None:
    t1, t2, labels = _spine()
    patches = level_patches(t1, t2, labels, (4.0, 1.0, 1.0), [(L4, L5), (L5, S1)])
    assert set(patches) == {(L4, L5), (L5, S1)}
    level = patches[(L4, L5)]
    assert level.patches.shape == (1, 2, SIZE, SIZE)
    assert level.distance_mm == pytest.approx(32.0)
    middle = level.patches[0, :, SIZE // 2, SIZE // 2]
    assert middle == pytest.approx([0.6, 0.4], abs=0.05), "the disc, relative to marrow"
    upper, lower = (
        round((1 - 0.5 / ALONG) * (SIZE - 1) / 2),
        round((1 + 0.5 / ALONG) * (SIZE - 1) / 2),
    )
    assert level.patches[0, :, upper, SIZE // 2] == pytest.approx([1.0, 1.0], abs=0.05), "L4"
    assert level.patches[0, :, lower, SIZE // 2] == pytest.approx([1.0, 1.0], abs=0.05), "L5"


def test_a_wider_geometry_shows_more_of_the_bodies() -> None:
    t1, t2, labels = _spine()
    geometry = PatchGeometry(size=32, along=1.0, across=1.0)
    (level,) = level_patches(t1, t2, labels, (4.0, 1.0, 1.0), [(L4, L5)], geometry).values()
    assert level.patches.shape == (1, 2, 32, 32)
    assert level.patches[0, :, 16, 16] == pytest.approx([0.6, 0.4], abs=0.05), "the disc"
    # rows 0 and 31 lie a whole centroid distance up and down: above L4, the L5-S1 disc
    assert level.patches[0, 1, 0, 16] < 0.8 and level.patches[0, 1, -1, 16] < 0.8
    spec = LevelNetSpec(size=32, along=1.0, across=1.0)
    assert spec.geometry == geometry and LevelNetSpec.from_json(spec.to_json()) == spec
    with pytest.raises(ValueError, match="geometry"):
        LevelNetSpec(size=8)


def test_a_tilted_spine_gives_the_same_patch() -> None:
    straight = level_patches(*_spine(), (4.0, 1.0, 1.0), [(L4, L5)])[(L4, L5)].patches
    tilted = level_patches(*_spine(20.0), (4.0, 1.0, 1.0), [(L4, L5)])[(L4, L5)].patches
    inner = (slice(None), slice(None), slice(8, -8), slice(8, -8))
    corr = np.corrcoef(straight[inner].ravel(), tilted[inner].ravel())[0, 1]
    assert corr > 0.9, "the patch follows the line between the bodies"


def test_a_level_whose_bodies_never_show_together_has_no_patch() -> None:
    t1, t2, labels = _spine()
    labels[labels == L5] = 0
    assert level_patches(t1, t2, labels, (4.0, 1.0, 1.0), [(L4, L5)]) == {}


def test_a_stack_uses_the_central_slices_only() -> None:
    t1, t2, labels = (np.repeat(a, 9, axis=0) for a in _spine())
    patches = level_patches(t1, t2, labels, (2.0, 1.0, 1.0), [(L4, L5)])[(L4, L5)]
    assert len(patches.patches) == 5, "slices within 4 mm of the centre at 2 mm spacing"


def test_disc_signals_and_patches_read_a_level_on_the_same_slices() -> None:
    """On a stack where one body reaches further to one side, the disc signals and the
    level network's patches still read the same central slices (``discs.level_slices``)."""
    from modicmap.grading.discs import disc_signals, level_slices

    t1, t2, labels = (np.repeat(a, 11, axis=0) for a in _spine())
    labels[:3][labels[:3] == L5] = 0  # L5 is missing on the first three slices
    labels[10:][labels[10:] == L4] = 0  # L4 on the last: the bodies' centres are 4.5 and 6.5
    spacing = (2.0, 1.0, 1.0)
    slices = level_slices(labels == L4, labels == L5, spacing[0])
    assert slices.tolist() == [4, 5, 6, 7, 8], "both show on 3-9; centre 6, 4 mm either side"
    patches = level_patches(t1, t2, labels, spacing, [(L4, L5)])[(L4, L5)]
    disc = disc_signals(t1, t2, labels, spacing, [(L4, L5)])[(L4, L5)]
    assert len(patches.patches) == disc.slices == len(slices)


def _data(n: int, seed: int) -> LevelData:
    """Patches whose disc (middle band) is dark on T2 exactly when the level is graded."""
    rng = np.random.default_rng(seed)
    modic = rng.random(n) < 0.5
    patches = rng.normal(1.0, 0.1, (n, 2, SIZE, SIZE)).astype(np.float32)
    patches[:, 1, 28:36] = np.where(modic, 0.3, 1.6)[:, None, None]
    evidence = tuple(LevelEvidence("L4-L5", 2, 0.3, 0.8, 0.9, 0.5, 0.5, 0.3) for _ in range(n))
    return LevelData(
        patches=patches,
        level_of_patch=np.arange(n),
        modic=modic,
        pfirrmann=np.where(modic, 4.0, 2.0),
        patients=tuple(str(i // 2) for i in range(n)),
        evidence=evidence,
    )


def test_a_few_epochs_lower_the_loss_and_the_same_seed_gives_the_same_weights() -> None:
    import torch

    data = _data(48, 0)
    settings = LevelTrainSettings(epochs=6, batch_size=16)
    spec = LevelNetSpec(widths=(4, 8, 8, 8))
    model, losses = train_network(data, np.arange(48), settings, spec, seed=3)
    assert losses[-1] < losses[0]
    again, _ = train_network(data, np.arange(48), settings, spec, seed=3)
    for a, b in zip(model.state_dict().values(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    with torch.no_grad():
        out = model(torch.from_numpy(data.patches[:4]))
    assert tuple(out.shape) == (4, 2), "a logit and a Pfirrmann grade per patch"


def test_auxiliary_targets_are_trained_but_not_read() -> None:
    import torch

    data = _data(48, 1)
    aux = np.stack([data.modic, np.full(48, np.nan)], axis=1).astype(np.float64)
    aux[::3, 0] = np.nan  # ungraded targets stay out of the loss
    data = replace(data, aux=aux)
    settings = LevelTrainSettings(epochs=6, batch_size=16, aux_weight=1.0)
    spec = LevelNetSpec(widths=(4, 8, 8, 8), aux_targets=("UP endplate", "Disc bulging"))
    model, losses = train_network(data, np.arange(48), settings, spec, seed=3)
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    with torch.no_grad():
        assert tuple(model(torch.from_numpy(data.patches[:4])).shape) == (4, 4)
    assert network_outputs(model, data.patches[:4]).shape == (4, 2)
    assert LevelNetSpec.from_json(spec.to_json()) == spec
    with pytest.raises(ValueError, match="auxiliary"):
        train_network(replace(data, aux=None), np.arange(48), settings, spec, seed=3)


def test_a_bundle_with_a_level_network_reloads_from_its_files_alone(tmp_path: Path) -> None:
    import torch

    from modicmap.models.bundle import load_bundle, save_bundle

    spec = LevelNetSpec(widths=(4, 8, 8, 8))
    torch.manual_seed(0)
    network = build_level_network(spec).eval()
    save_bundle(tmp_path / "b", {SECTION: spec.to_json()}, {SECTION: network.state_dict()})
    assert not list((tmp_path / "b").glob("*.pt*")), "safetensors only"
    loaded, loaded_spec = load_level_network(load_bundle(tmp_path / "b"))
    assert loaded_spec == spec
    patches = level_patches(*_spine(), (4.0, 1.0, 1.0), [(L4, L5), (L5, S1)])
    with torch.no_grad():
        expected = network(torch.from_numpy(patches[(L4, L5)].patches))[0]
    scores = score_patches(loaded, patches)
    assert scores[(L4, L5)].logit == pytest.approx(float(expected[0]), abs=1e-5)
    assert scores[(L4, L5)].pfirrmann == pytest.approx(float(expected[1]) + 3.0, abs=1e-5)


def test_older_level_models_without_the_network_still_load_and_score() -> None:
    data = LevelModel((1.0,) + (0.0,) * 9, 0.0, 0.5, (0.0,) * 4).to_json()
    assert data["features"] == list(WITHOUT_NETWORK)
    model = LevelModel.from_json(data)
    assert not model.uses_network
    row = feature_row(0.8, 2, level_net=50.0)  # a network logit the model does not use
    assert model.probability(row[None])[0] == pytest.approx(0.8)


def test_an_unread_network_logit_takes_the_fitting_mean() -> None:
    coefficients = tuple(1.0 if f == "level_net" else 0.0 for f in FEATURES)
    model = LevelModel(coefficients, 0.0, 0.5, (0.0, 0.0, 0.0, 0.0, 2.0), features=FEATURES)
    assert model.uses_network
    unread = model.probability(feature_row(0.5, 2)[None])[0]
    assert unread == pytest.approx(1 / (1 + np.exp(-2.0)))
    read = model.probability(feature_row(0.5, 2, level_net=-1.0)[None])[0]
    assert read == pytest.approx(1 / (1 + np.exp(1.0)))


def test_a_registration_that_warned_leaves_the_network_unread() -> None:
    item = LevelEvidence("L4-L5", 2, 0.3, 0.8, 0.9, 0.5, 0.5, 0.3, 1.5, 3.2)
    (unread,) = without_t2([item])
    assert unread.level_net_logit is None and unread.pfirrmann_estimate is None


def test_gradings_with_and_without_a_pfirrmann_column(tmp_path: Path) -> None:
    spider = tmp_path / "spider.csv"
    spider.write_text("Patient,IVD label,Modic,Pfirrman grade\n1,1,2,4\n1,2,0,\n")
    assert read_level_gradings(spider)[("1", 1)] == LevelGrading(2, 4.0)
    assert np.isnan(read_level_gradings(spider)[("1", 2)].pfirrmann)
    plain = tmp_path / "plain.csv"
    plain.write_text("Patient,IVD label,Modic\n1,1,0\n")
    assert np.isnan(read_level_gradings(plain)[("1", 1)].pfirrmann)


def test_auxiliary_gradings_are_read_as_present_absent_or_unknown(tmp_path: Path) -> None:
    path = tmp_path / "spider.csv"
    path.write_text(
        "Patient,IVD label,Modic,UP endplate,Disc bulging,Pfirrman grade\n1,1,2,1,0,4\n1,2,0,,2,3\n"
    )
    assert aux_columns(path) == ("UP endplate", "Disc bulging")
    graded = read_level_gradings(path, ("UP endplate", "Disc bulging"))
    assert graded[("1", 1)].aux == (1.0, 0.0)
    assert np.isnan(graded[("1", 2)].aux[0]) and graded[("1", 2)].aux[1] == 1.0
    with pytest.raises(InputError, match="Disc narrowing"):
        read_level_gradings(path, ("Disc narrowing",))
    path.write_text("Patient,IVD label,Modic,UP endplate\n1,1,2,yes\n")
    with pytest.raises(InputError, match="line 2: non-numeric UP endplate"):
        read_level_gradings(path, ("UP endplate",))


def test_train_levels_cli_writes_a_bundle_whose_run_reads_the_network(tmp_path: Path) -> None:
    from modicmap.synth.cohort import write_study
    from modicmap.synth.study import SynthOptions, synthesize_study

    rows, gradings = ["study_id,t1,t2"], ["Patient,IVD label,Modic,Pfirrman grade,UP endplate"]
    for k in range(4):
        study = synthesize_study(20 + k, SynthOptions(slices=1, matrix=128, lesion_rate=0.0))
        t1, t2 = write_study(study, tmp_path / "studies" / str(k))
        rows.append(f"{k},{t1},{t2}")
        gradings += [
            f"{k},{i},{2 if (i + k) % 2 else 0},{2 + (i + k) % 3},{i % 2}" for i in range(1, 6)
        ]
    cohort = tmp_path / "cohort.csv"
    cohort.write_text("\n".join(rows) + "\n")
    (tmp_path / "gradings.csv").write_text("\n".join(gradings) + "\n")
    assert main(["batch", str(cohort), "--out", str(tmp_path / "runs"), "--quiet"]) == 0
    argv = ["train", "levels", "--cohort", str(cohort), "--runs", str(tmp_path / "runs")]
    argv += ["--gradings", str(tmp_path / "gradings.csv"), "--out", str(tmp_path / "bundle")]
    assert main([*argv, "--patch", "8", "0.9", "0.9", "--quiet"]) == 2
    assert not (tmp_path / "bundle").exists(), "bad settings leave no bundle"
    argv += ["--epochs", "2", "--folds", "2", "--aux-weight", "0.5", "--patch", "48", "0.9", "0.9"]
    assert main([*argv, "--quiet"]) == 0
    config = json.loads((tmp_path / "bundle" / "modicmap.json").read_text())
    assert (config[SECTION]["size"], config[SECTION]["along"]) == (48, 0.9), "its own geometry"
    assert config["level_model"]["features"] == list(FEATURES)
    prior = config["level_model"]["type_prior"]  # every Modic level graded is type 2
    assert prior[1] > prior[0] == pytest.approx(prior[2]), "fitted from the gradings' types"
    assert config[SECTION]["metrics_out_of_fold"]["patients"] == 4
    assert "train levels" in config[SECTION]["training"]["command"]
    assert config[SECTION]["aux_targets"] == ["UP endplate"], "the SPIDER columns it has"
    assert (tmp_path / "bundle" / f"{SECTION}.safetensors").is_file()
    (study,) = [r.split(",") for r in rows[1:2]]
    out = tmp_path / "run"
    run = ["run", "--t1", study[1], "--t2", study[2], "--out", str(out)]
    assert main([*run, "--model", str(tmp_path / "bundle"), "--quiet"]) == 0
    evidence = json.loads((out / "summary.json").read_text())["levels"]
    cut = {lv.level for lv in read_levels_csv(out / "levels.csv") if not lv.upper_body_found}
    # the network reads a level's two bodies; a level whose upper body the field of view
    # cut off (reported above the top body) is graded without it
    read = [e for e in evidence if e["level"] not in cut]
    assert read and all(e["level_net_logit"] is not None for e in read)
    assert all(e["level_net_logit"] is None for e in evidence if e["level"] in cut)
    assert all(1.0 < e["pfirrmann_estimate"] < 6.0 for e in read)
    assert all(e["type_posterior"] is not None for e in evidence), "typed with the prior"
    report = (out / "report.html").read_text()
    assert "What the level network read" in report and 'alt="level patches"' in report
    assert "type if Modic: P(1 / 2 / 3)" in report and "it does not set the type" in report


def test_train_levels_refuses_runs_without_gradings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cohort = tmp_path / "cohort.csv"
    (tmp_path / "t1.nii.gz").write_bytes(b"")
    cohort.write_text("study_id,t1,t2\n1,t1.nii.gz,t1.nii.gz\n")
    (tmp_path / "runs").mkdir()  # no run of study 1
    (tmp_path / "g.csv").write_text("Patient,IVD label,Modic\n1,1,0\n")
    argv = ["train", "levels", "--cohort", str(cohort), "--runs", str(tmp_path / "runs")]
    argv += ["--gradings", str(tmp_path / "g.csv"), "--out", str(tmp_path / "b"), "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no graded level" in err[0]
    assert not (tmp_path / "b").exists()
