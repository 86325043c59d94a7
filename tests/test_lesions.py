"""Lesion stage: V-Net (channel dropout, shapes, training), crops, z-scores, typing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from modicmap.grading.typing import PAPER_CENTROIDS, fit_centroids, type_voxels
from modicmap.lesions.crops import body_crops, paste_max, sample_crop
from modicmap.lesions.vnet import VNet2D, VNetSpec
from modicmap.models.bundle import load_bundle, save_bundle
from modicmap.zscore import zscore_maps

SMALL = VNetSpec(base_channels=4, dropout=0.5)


def test_channel_dropout_drops_channels_not_samples() -> None:
    torch.manual_seed(0)
    model = VNet2D(SMALL).train()
    dropouts = [m for m in model.modules() if isinstance(m, torch.nn.Dropout2d)]
    assert dropouts, "the deep stages must use channel dropout"
    assert not any(isinstance(m, torch.nn.Dropout3d) for m in model.modules())
    x = torch.ones(8, 16, 10, 10)
    y = dropouts[0](x)
    per_channel = y.amax(dim=(2, 3))  # (sample, channel): 0 where that channel was dropped
    assert (per_channel == 0).any(), "some channels are dropped"
    assert (per_channel > 0).any(dim=1).all(), "no sample loses all its channels"
    flat = y.reshape(8, 16, -1)
    assert torch.all((flat == flat[..., :1]).all(-1)), "a channel is dropped whole"


def test_output_has_the_crop_shape() -> None:
    model = VNet2D(SMALL).eval()
    with torch.no_grad():
        out = model(torch.randn(3, 2, 80, 80))
    assert out.shape == (3, 2, 80, 80)


def _toy_batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    y = torch.zeros(4, 1, 32, 32, dtype=torch.long)
    y[:, :, 4:10, 6:26] = 1
    x = torch.randn(4, 2, 32, 32, generator=g) * 0.3
    x[:, 0] += y[:, 0] * 1.5
    return x, y


def _train_steps(seed: int, steps: int) -> tuple[list[float], VNet2D]:
    from monai.losses import DiceCELoss

    torch.manual_seed(seed)
    model = VNet2D(VNetSpec(base_channels=4, dropout=0.0, down_convs=(1, 1)))
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    x, y = _toy_batch()
    losses = []
    for _ in range(steps):
        optimiser.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
    return losses, model


def test_a_few_training_steps_lower_the_loss() -> None:
    losses, _ = _train_steps(0, 15)
    assert losses[-1] < 0.7 * losses[0]


def test_same_seed_gives_the_same_weights() -> None:
    _, a = _train_steps(3, 3)
    _, b = _train_steps(3, 3)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb)


def test_bundle_reloads_without_pickle(tmp_path: Path) -> None:
    model = VNet2D(SMALL)
    save_bundle(tmp_path / "b", {"lesions": SMALL.to_json()}, {"lesions": model.state_dict()})
    assert not list((tmp_path / "b").glob("*.pt")) and not list((tmp_path / "b").glob("*.pkl"))
    bundle = load_bundle(tmp_path / "b")
    again = VNet2D(VNetSpec.from_json(bundle.section("lesions")))
    again.load_state_dict(bundle.load_weights("lesions"))
    for key, value in model.state_dict().items():
        assert torch.equal(value, again.state_dict()[key])


def test_zscores_stay_sensible_when_one_body_is_full_of_lesion() -> None:
    rng = np.random.default_rng(0)
    bodies = np.zeros((1, 120, 40), np.uint8)
    for i in range(6):
        bodies[0, 2 + 20 * i : 18 + 20 * i, 5:35] = 20 + i
    t1 = rng.normal(100, 5, bodies.shape).astype(np.float32)
    t1[bodies == 25] = 160  # one body entirely fatty (type 2 bright on T1)
    z = zscore_maps(t1, t1.copy(), bodies)
    assert z.t1z[bodies == 25].mean() > 1.5  # the lesion body still stands out
    assert abs(z.t1z[(bodies > 0) & (bodies != 25)].mean()) < 1.0


def test_crops_have_fixed_physical_size_and_paste_back() -> None:
    bodies = np.zeros((2, 200, 160), np.uint8)
    bodies[:, 50:100, 40:120] = 24
    crops = body_crops(bodies, (4.0, 0.5, 0.5))
    assert len(crops) == 2
    crop = sample_crop((bodies[0] > 0).astype(np.float32), crops[0], (0.5, 0.5), order=0)
    assert crop.shape == (80, 80)
    assert crop.sum() == pytest.approx(25 * 40, rel=0.1)  # 25 x 40 mm body at 1 mm pixels
    target = np.zeros(bodies.shape, np.float32)
    paste_max(target, crop, crops[0], (0.5, 0.5))
    assert ((target[0] > 0.5) == (bodies[0] > 0)).mean() > 0.98


def test_voxels_take_the_type_of_the_nearest_centroid() -> None:
    t1z = np.array([0.2, 1.1, -0.6, 3.0, 0.0])
    t2z = np.array([1.3, 0.3, -0.5, 0.0, 0.0])
    lesion = np.array([True, True, True, True, False])
    assert type_voxels(t1z, t2z, lesion, PAPER_CENTROIDS).tolist() == [1, 2, 3, 2, 0]


def test_fitted_centroids_are_the_annotated_means() -> None:
    rng = np.random.default_rng(0)
    t1z = rng.normal(0, 1, 1000)
    t2z = rng.normal(0, 1, 1000)
    modic = np.repeat([1, 2, 3, 0], 250)
    t1z[modic == 1] += 5
    fitted = fit_centroids(t1z, t2z, modic, "test")
    assert fitted.means[0][0] == pytest.approx(t1z[modic == 1].mean())
    assert fitted.sds[2][1] == pytest.approx(t2z[modic == 3].std())


def test_compact_weights_store_large_tensors_as_int8_and_expand_back() -> None:
    from modicmap.models.bundle import SCALE_SUFFIX, compact_weights, expand_weights

    state = VNet2D(SMALL).state_dict()
    compact = compact_weights(state)
    big = [k for k, v in state.items() if v.is_floating_point() and v.numel() >= 4096]
    assert big, "the network has tensors large enough to quantise"
    assert all(compact[k].dtype == torch.int8 for k in big)
    assert all(k + SCALE_SUFFIX in compact for k in big)
    back = expand_weights(compact)
    assert set(back) == set(state)
    for k, v in state.items():
        if v.is_floating_point():
            tolerance = float(v.abs().max()) / 127 * 0.51 + 1e-3 * float(v.abs().max()) + 1e-6
            assert torch.allclose(back[k], v.float(), atol=tolerance), k
        else:
            assert torch.equal(back[k], v)


def test_train_lesions_on_annotated_studies_fits_the_typing_centroids(tmp_path: Path) -> None:
    """`train lesions --data`: the bundle's centroids are the training studies' annotated
    voxels (pipeline z-scores); `--paper-centroids` keeps the paper's."""
    from modicmap.cli.main import main
    from modicmap.lesions.dataset import study_volumes
    from modicmap.lesions.training import annotated_centroids
    from modicmap.models.bundle import load_bundle

    synth = tmp_path / "synth"
    small = ["--slices", "5", "--matrix", "128", "--lesion-rate", "0.9"]
    assert main(["synth", "--out", str(synth), "--n", "4", "--seed", "3", *small, "--quiet"]) == 0
    argv = ["train", "lesions", "--data", str(synth), "--epochs", "1", "--threads", "1"]
    argv += ["--val-fraction", "0.25", "--test-fraction", "0.25", "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "fitted")]) == 0
    bundle = load_bundle(tmp_path / "fitted")
    assert load_bundle(None).has("level_model")
    assert not bundle.has("level_model"), "a new V-Net needs its own level model"
    typing = bundle.section("typing")
    train_ids = set(bundle.section("lesions")["split"]["train"])
    assert len(train_ids) == 2
    studies = [v for v in study_volumes(synth) if v.subject in train_ids]
    expected = annotated_centroids(studies, synth)
    assert np.allclose(typing["means"], expected["means"])
    assert typing["voxels_per_type"] == expected["voxels_per_type"]
    assert sum(typing["voxels_per_type"].values()) > 100 and "fitted" in typing["source"]
    assert typing["means"] != [list(m) for m in PAPER_CENTROIDS.means]

    assert main([*argv, "--out", str(tmp_path / "paper"), "--paper-centroids"]) == 0
    kept = load_bundle(tmp_path / "paper").section("typing")
    assert kept["means"] == [list(m) for m in PAPER_CENTROIDS.means]


def test_annotated_studies_are_read_from_nnunet_raw_layout_too(tmp_path: Path) -> None:
    """The same synthetic studies written as imagesTr/labelsTr/vertebraeTr give the same
    training volumes; without vertebraeTr the bundled model finds the bodies."""
    import shutil

    import SimpleITK as sitk

    from modicmap.cli.main import main
    from modicmap.lesions.dataset import study_volumes

    synth = tmp_path / "synth"
    small = ["--slices", "5", "--matrix", "128"]
    assert main(["synth", "--out", str(synth), "--n", "2", "--seed", "4", *small, "--quiet"]) == 0
    raw = tmp_path / "raw"
    for sub in ("imagesTr", "labelsTr", "vertebraeTr"):
        (raw / sub).mkdir(parents=True)
    for study in sorted(p for p in synth.iterdir() if p.is_dir()):
        t1 = sitk.ReadImage(str(study / "t1.nii.gz"), sitk.sitkFloat32)
        moved = sitk.ReadTransform(str(study / "truth" / "transform.tfm"))
        t2 = sitk.ReadImage(str(study / "t2.nii.gz"), sitk.sitkFloat32)
        t2 = sitk.Resample(t2, t1, moved, sitk.sitkLinear, 0.0, sitk.sitkFloat32)
        sitk.WriteImage(t1, str(raw / "imagesTr" / f"{study.name}_0000.nii.gz"))
        sitk.WriteImage(t2, str(raw / "imagesTr" / f"{study.name}_0001.nii.gz"))
        for name, sub in (("modic_map", "labelsTr"), ("vertebrae", "vertebraeTr")):
            shutil.copy(study / "truth" / f"{name}.nii.gz", raw / sub / f"{study.name}.nii.gz")
    mine, theirs = study_volumes(synth), study_volumes(raw)
    assert [v.subject for v in theirs] == [v.subject for v in mine]
    for a, b in zip(mine, theirs, strict=True):
        assert np.allclose(a.t1, b.t1) and np.allclose(a.t2, b.t2, atol=1e-3)
        assert np.array_equal(a.modic, b.modic) and np.array_equal(a.vertebrae, b.vertebrae)
        assert a.spacing_zyx == pytest.approx(b.spacing_zyx)
    shutil.rmtree(raw / "vertebraeTr")
    found = study_volumes(raw)
    assert all(len(np.unique(v.vertebrae)) >= 5 for v in found), "bodies found by the model"

    from modicmap.errors import InputError

    broken = raw / "labelsTr" / f"{found[0].subject}.nii.gz"
    broken.write_bytes(b"not an image")
    with pytest.raises(InputError, match="cannot be read as a label image") as error:
        study_volumes(raw)
    assert str(broken) in str(error.value), "the message names the file"


def test_test_time_flip_averages_a_crop_with_its_superior_inferior_mirror(monkeypatch) -> None:
    """A fake V-Net that calls the upper half of every crop lesion and the lower half not:
    alone it gives 1 and 0, averaged with the mirrored crop 0.5 everywhere."""
    import torch

    from modicmap.lesions import inference
    from modicmap.zscore import zscore_maps

    class UpperHalf(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            rows = x.shape[2]
            lesion = torch.full(x[:, 0].shape, -20.0)
            lesion[:, : rows // 2] = 20.0
            return torch.stack([torch.zeros_like(lesion), lesion], 1)

    vertebrae = np.zeros((1, 120, 120), np.int32)
    vertebrae[0, 40:70, 30:80] = 22
    noise = np.random.default_rng(0).normal(100, 10, (2, *vertebrae.shape)).astype(np.float32)
    zmaps = zscore_maps(noise[0], noise[1], vertebrae)
    for flip in (False, True):
        section = {"crop_mm": 80.0, "working_spacing_mm": 1.0, "test_time_flip": flip}
        monkeypatch.setattr(
            inference, "load_vnet", lambda bundle, device, s=section: (UpperHalf(), s)
        )
        p = inference.predict_lesions(zmaps, vertebrae, (4.0, 1.0, 1.0), None)  # type: ignore[arg-type]
        inside = p[vertebrae > 0]
        if flip:
            assert np.allclose(inside, 0.5, atol=1e-4)
        else:
            assert inside.max() > 0.99 and inside.min() < 0.01
        assert (p[vertebrae == 0] == 0).all()


def test_body_margin_grows_bodies_into_background_only() -> None:
    from modicmap.lesions.body_margin import grow_bodies

    labels = np.zeros((1, 12, 12), np.int16)
    labels[0, 2:5, 2:10] = 24  # L5
    labels[0, 6:9, 2:10] = 26  # S1, one empty row (the "disc") between them
    assert grow_bodies(labels, (4.0, 1.0, 1.0), 0.4) is labels  # under half a pixel
    grown = grow_bodies(labels, (4.0, 1.0, 1.0), 1.0)
    assert np.array_equal(grown[labels > 0], labels[labels > 0]), "no body overwritten"
    assert grown[0, 1, 5] == 24 and grown[0, 9, 5] == 26 and grown[0, 3, 10] == 24
    assert grown[0, 1, 1] == 0, "a disc of 1 mm, not a square"
    assert grown[0, 5, 5] in (24, 26) and grown[0, 0, 5] == 0
    # anisotropic pixels: 1 mm is two columns of 0.5 mm but only one row of 1 mm
    wide = grow_bodies(labels, (4.0, 1.0, 0.5), 1.0)
    assert wide[0, 3, 11] == 24 and wide[0, 0, 5] == 0
    stack = np.concatenate([labels, np.zeros_like(labels)])
    assert not grow_bodies(stack, (1.0, 1.0, 1.0), 1.0)[1].any(), "in-plane only"


def test_paintings_are_the_same_in_every_process() -> None:
    """A painting's seed must not depend on Python's per-process string hashing."""
    import subprocess
    import sys

    code = "from modicmap.lesions.dataset import painting_seed; print(painting_seed(0, 1, 'DzZ'))"
    seeds = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": salt, "PATH": ""},
        ).stdout.strip()
        for salt in ("1", "2")
    }
    from modicmap.lesions.dataset import painting_seed

    assert seeds == {str(painting_seed(0, 1, "DzZ"))}
    assert painting_seed(0, 1, "DzZ") != painting_seed(0, 1, "AKs")


def test_vnet_inputs_are_zero_outside_and_smoothed_only_at_fine_pixels() -> None:
    """Training crops and inference share one input rule: 0 outside the bodies, then (with the
    bundle's ``lesions.antialias``) a Gaussian that brings finer pixels to the 1 mm working
    spacing and leaves 1 mm pixels alone."""
    from modicmap.lesions.crops import vnet_inputs

    rng = np.random.default_rng(0)
    z = rng.normal(0.0, 1.0, (1, 80, 80)).astype(np.float32)
    inside = np.zeros(z.shape, bool)
    inside[0, 20:60, 20:60] = True
    raw, _ = vnet_inputs(z, z, inside, (0.5, 0.5))
    assert (raw[~inside] == 0).all() and np.array_equal(raw[inside], z[inside])
    same, _ = vnet_inputs(z, z, inside, (1.0, 1.0), smooth=True)
    assert np.array_equal(same, raw), "1 mm pixels: nothing to smooth"
    fine, fine2 = vnet_inputs(z, z, inside, (0.5, 0.5), smooth=True)
    assert np.array_equal(fine, fine2)
    core = (0, slice(30, 50), slice(30, 50))
    assert fine[core].std() < 0.7 * raw[core].std(), "pixel noise finer than 1 mm is smoothed"
    assert abs(float(fine[core].mean() - raw[core].mean())) < 0.1, "the mean stays"
    coarse_x, _ = vnet_inputs(z, z, inside, (1.0, 0.5), smooth=True)
    rows_diff = np.abs(np.diff(coarse_x[core], axis=0)).mean()
    cols_diff = np.abs(np.diff(coarse_x[core], axis=1)).mean()
    assert cols_diff < rows_diff, "only the finer axis is smoothed"


def test_synthetic_training_studies_cycle_through_the_matrices() -> None:
    from modicmap.lesions.dataset import synthetic_volumes

    small, large, again = synthetic_volumes(3, seed=4, matrices=(96, 160))
    assert small.t1.shape[1:] == (96, 96) and large.t1.shape[1:] == (160, 160)
    assert again.t1.shape[1:] == (96, 96)
    fov = [v.spacing_zyx[1] * v.t1.shape[1] for v in (small, large)]
    assert fov[0] == pytest.approx(fov[1], rel=0.15), "a lumbar field of view at every matrix"
    assert large.spacing_zyx[1] < 0.75 * small.spacing_zyx[1], "finer pixels"
    assert small.modic.shape == small.t1.shape and large.vertebrae.shape == large.t1.shape
