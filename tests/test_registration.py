"""Registration recovers known transforms, flags hopeless pairs, and writes the CONTRACT files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from images import blob_volume
from modicmap.cli.main import main
from modicmap.registration.result import RegistrationSettings
from modicmap.registration.rigid import register_rigid, resample_to_fixed

FAST = RegistrationSettings(
    max_iterations=60, level_spacings_mm=(4.0, 2.0), smoothing_sigmas_mm=(2.0, 1.0)
)


def _mean_error(found: sitk.Transform, truth: sitk.Transform, image: sitk.Image) -> float:
    idx = np.argwhere(sitk.GetArrayFromImage(image) > 30)[::7]
    points = [image.TransformIndexToPhysicalPoint([int(i) for i in p[::-1]]) for p in idx]
    return float(
        np.mean(
            [
                np.linalg.norm(np.subtract(found.TransformPoint(p), truth.TransformPoint(p)))
                for p in points
            ]
        )
    )


def _displaced(image: sitk.Image, truth: sitk.Transform) -> sitk.Image:
    """Moving image whose content at truth(p) equals the fixed content at p."""
    return sitk.Resample(image, image, truth.GetInverse(), sitk.sitkLinear, 0.0)


def test_3d_rigid_transform_is_recovered() -> None:
    fixed = blob_volume()
    truth = sitk.Euler3DTransform()
    truth.SetCenter(fixed.TransformContinuousIndexToPhysicalPoint([31.5, 31.5, 11.5]))
    truth.SetRotation(math.radians(5), math.radians(-2), math.radians(2))
    truth.SetTranslation((2.0, -4.0, 3.0))
    result = register_rigid(fixed, _displaced(fixed, truth), FAST)
    assert result.dimension == 3
    assert _mean_error(result.transform, truth, fixed) < 0.5
    assert result.metric_final < result.metric_initial
    assert result.warnings == ()


def test_single_slice_pair_recovers_rotation_translation_and_scale() -> None:
    volume = blob_volume(shape_zyx=(24, 96, 96), spacing=1.0)
    arr = sitk.GetArrayFromImage(volume)[12:13]
    fixed = sitk.GetImageFromArray(arr)
    fixed.SetDirection(volume.GetDirection())
    fixed.SetSpacing((1.0, 1.0, 4.0))
    truth_2d = sitk.Similarity2DTransform(1.08, math.radians(4), (3.0, -5.0), (48.0, 48.0))
    plane = sitk.GetImageFromArray(arr[0])
    moved = sitk.Resample(plane, plane, truth_2d.GetInverse(), sitk.sitkLinear, 0.0)
    moving = sitk.JoinSeries(moved)
    moving.CopyInformation(fixed)
    result = register_rigid(fixed, moving)
    assert result.dimension == 2
    assert result.scale == pytest.approx(1.08, abs=0.02)
    assert result.rotation_deg[0] == pytest.approx(4.0, abs=1.0)
    registered = sitk.GetArrayFromImage(resample_to_fixed(moving, fixed, result.transform))[0]
    mask = arr[0] > 30
    assert np.abs(registered - arr[0])[mask].mean() < 0.05 * arr[0][mask].mean()


def test_hopeless_pair_is_flagged() -> None:
    fixed = blob_volume()
    noise = sitk.GetImageFromArray(np.random.default_rng(0).random((24, 64, 64)).astype(np.float32))
    noise.CopyInformation(fixed)
    shifted = sitk.Image(noise)
    shifted.SetOrigin((200.0, 200.0, 200.0))  # no overlap at all
    result = register_rigid(fixed, shifted, FAST)
    assert result.warnings, "a registration of unrelated, non-overlapping images must warn"


def test_coverage_counts_dark_tissue_of_a_fat_suppressed_second_sequence() -> None:
    """On a TIRM/STIR-like image most tissue is dark and Otsu keeps only fluid; the coverage
    check must still see that the registered image covers the T1 (it reported 5 % on a
    correctly registered lumbar-vb T1/TIRM pair)."""
    from modicmap.registration.rigid import overlap_fraction

    fixed = blob_volume()
    dark = sitk.GetArrayFromImage(fixed) * 0.1  # tissue dim, air 0 ...
    dark[10:14, 28:36, 20:30] = 500.0  # ... a little fluid very bright
    moving = sitk.GetImageFromArray(dark.astype(np.float32))
    moving.CopyInformation(fixed)
    assert overlap_fraction(fixed, moving, sitk.Euler3DTransform()) > 0.9
    away = sitk.Euler3DTransform()
    away.SetTranslation((500.0, 0.0, 0.0))  # the moved image lies outside: nothing covered
    assert overlap_fraction(fixed, moving, away) == 0.0


def test_register_cli_writes_the_contract_files(tmp_path: Path) -> None:
    fixed = blob_volume()
    truth = sitk.Euler3DTransform()
    truth.SetTranslation((1.5, -2.0, 0.0))
    sitk.WriteImage(fixed, str(tmp_path / "t1.nii.gz"))
    sitk.WriteImage(_displaced(fixed, truth), str(tmp_path / "t2.nii.gz"))
    out = tmp_path / "reg"
    code = main(
        [
            "register",
            str(tmp_path / "t1.nii.gz"),
            str(tmp_path / "t2.nii.gz"),
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "moving_registered.nii.gz",
        "registration.json",
        "transform.tfm",
    ]
    transform = sitk.ReadTransform(str(out / "transform.tfm"))
    assert _mean_error(transform, truth, fixed) < 0.5
    report = json.loads((out / "registration.json").read_text())
    assert {"metric_initial", "metric_final", "rotation_deg", "translation_mm", "seconds"} <= set(
        report
    )
    registered = sitk.ReadImage(str(out / "moving_registered.nii.gz"))
    assert registered.GetSize() == fixed.GetSize()


def test_register_cli_refuses_missing_input_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "register",
            str(tmp_path / "none.nii.gz"),
            str(tmp_path / "b.nii.gz"),
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "none.nii.gz: does not exist" in err[0]
    assert not (tmp_path / "o").exists()


def test_a_three_slice_volume_registers() -> None:
    fixed = blob_volume(shape_zyx=(3, 64, 64))
    truth = sitk.Euler3DTransform()
    truth.SetTranslation((0.0, 2.0, -1.5))
    result = register_rigid(fixed, _displaced(fixed, truth), FAST)
    assert result.dimension == 3
    assert result.metric_final <= result.metric_initial


def test_edges_tell_a_true_pair_from_other_anatomy() -> None:
    """Mutual information "aligns" any two images; the edges of another anatomy do not fall
    on the T1's, and a registration whose other checks pass then warns."""
    from dataclasses import replace

    from scipy import ndimage

    from modicmap.registration.rigid import _quality_warnings, edge_correlation

    fixed = blob_volume()
    truth = sitk.Euler3DTransform()
    truth.SetTranslation((2.0, -3.0, 1.0))
    same = register_rigid(fixed, _displaced(fixed, truth), FAST)
    assert same.edge_correlation is not None and same.edge_correlation > 0.5
    assert same.to_json()["edge_correlation"] == round(same.edge_correlation, 4)
    noise = np.random.default_rng(1).random(sitk.GetArrayFromImage(fixed).shape)
    other = sitk.GetImageFromArray((50 + 50 * ndimage.gaussian_filter(noise, 2.0)).astype("f4"))
    other.CopyInformation(fixed)  # tissue everywhere, edges elsewhere
    unrelated = edge_correlation(fixed, other, sitk.Euler3DTransform())
    assert unrelated < 0.15
    warnings = _quality_warnings(
        fixed, fixed, replace(same, edge_correlation=unrelated), RegistrationSettings()
    )
    assert any("does not show the T1's edges" in w for w in warnings)
    assert _quality_warnings(fixed, fixed, same, RegistrationSettings()) == ()


@pytest.mark.real
def test_another_patients_t2_is_flagged_and_its_evidence_unread(
    shared_data: Path, tmp_path: Path
) -> None:
    """SPIDER 4's T1 with patient 96's T2 (a cohort row off by one): no other registration
    check fires; the edges do, and the run reads no T2 evidence."""
    images = shared_data / "spider-midsag" / "images"
    out = tmp_path / "mixed"
    argv = ["run", "--t1", str(images / "4_t1.nii.gz"), "--t2", str(images / "96_t2.nii.gz")]
    assert main([*argv, "--out", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert [w for w in summary["registration"]["warnings"] if "edges" in w]
    assert all(level["disc_t2_ratio"] is None for level in summary["levels"])
