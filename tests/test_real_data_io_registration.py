"""Real development MRI (../shared/data): reading and T2 -> T1 registration."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from modicmap.io.reader import read_image
from modicmap.registration.rigid import register_rigid

pytestmark = pytest.mark.real


def test_every_spider_image_reads_as_one_canonical_sagittal_slice(shared_data: Path) -> None:
    paths = sorted((shared_data / "spider-midsag" / "images").glob("*.nii.gz"))
    assert len(paths) == 228
    for path in paths:
        loaded = read_image(path)
        assert loaded.is_single_slice, path
        assert loaded.native.orientation == "PIR", path


def test_lumbar_vb_volume_reads_with_its_slices_left_right(shared_data: Path) -> None:
    loaded = read_image(shared_data / "lumbar-vb" / "VB1-DzZ_T2.nii.gz")
    assert loaded.image.GetSize() == (351, 351, 50)
    direction = np.asarray(loaded.image.GetDirection()).reshape(3, 3)
    assert abs(direction[0, 2]) == 1.0  # third axis runs left-right


def test_spider_pair_with_mismatched_header_spacing_is_aligned_by_scale(shared_data: Path) -> None:
    # pid 11: same pixel grid, header spacings differ (0.80 ratio): the scale must be found
    images = shared_data / "spider-midsag" / "images"
    t1 = read_image(images / "11_t1.nii.gz").image
    t2 = read_image(images / "11_t2.nii.gz").image
    result = register_rigid(t1, t2)
    assert result.dimension == 2
    assert result.scale == pytest.approx(0.80, abs=0.02)
    assert result.metric_final < result.metric_initial - 0.2
    assert result.warnings == ()


def test_dzz_pair_registers_close_to_its_shared_grid(shared_data: Path) -> None:
    folder = shared_data / "lumbar-vb"
    t1 = read_image(folder / "VB1-DzZ_T1.nii.gz").image
    t2 = read_image(folder / "VB1-DzZ_T2.nii.gz").image
    result = register_rigid(t1, t2)
    mask = sitk.DICOMOrient(sitk.ReadImage(str(folder / "VB1-DzZ_T1_vb.nii.gz")), "PIR")
    idx = np.argwhere(sitk.GetArrayFromImage(mask) > 0)[::200]
    points = [t1.TransformIndexToPhysicalPoint([int(i) for i in p[::-1]]) for p in idx]
    errors = [np.linalg.norm(np.subtract(result.transform.TransformPoint(p), p)) for p in points]
    assert float(np.mean(errors)) < 1.0
