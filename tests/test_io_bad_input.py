"""Every kind of bad input is refused with one clear message naming the file."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from images import canonical_image
from modicmap.errors import InputError
from modicmap.io.dicom_writer import write_dicom_series
from modicmap.io.image import SeriesRole
from modicmap.io.reader import read_image
from modicmap.io.validate import check_same_patient


def _refused(path: Path, match: str, **kwargs: object) -> InputError:
    with pytest.raises(InputError, match=match) as info:
        read_image(path, **kwargs)  # type: ignore[arg-type]
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)
    return info.value


def test_missing_path(tmp_path: Path) -> None:
    _refused(tmp_path / "nope.nii.gz", "does not exist")


def test_empty_folder(tmp_path: Path) -> None:
    _refused(tmp_path, "empty folder")


def test_folder_without_dicom(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    _refused(tmp_path, "holds no DICOM series")


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "t1.nii.gz").write_bytes(b"")
    _refused(tmp_path / "t1.nii.gz", "empty file")


def test_truncated_nifti(tmp_path: Path) -> None:
    good = tmp_path / "good.nii.gz"
    sitk.WriteImage(canonical_image(), str(good))
    data = good.read_bytes()
    (tmp_path / "cut.nii.gz").write_bytes(data[: len(data) // 2])
    _refused(tmp_path / "cut.nii.gz", "truncated")


def test_corrupt_header(tmp_path: Path) -> None:
    (tmp_path / "bad.nii.gz").write_bytes(gzip.compress(b"not a nifti header at all" * 20))
    _refused(tmp_path / "bad.nii.gz", "cannot be read")


def test_text_file_renamed_as_image(tmp_path: Path) -> None:
    (tmp_path / "t1.nrrd").write_text("just some text\n")
    _refused(tmp_path / "t1.nrrd", "cannot be read")


def test_unsupported_extension(tmp_path: Path) -> None:
    (tmp_path / "t1.png").write_bytes(b"\x89PNG")
    _refused(tmp_path / "t1.png", "unsupported file type")


def test_four_d_image(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    volumes = [sitk.GetImageFromArray(rng.random((3, 8, 8)).astype(np.float32)) for _ in range(2)]
    sitk.WriteImage(sitk.JoinSeries(volumes), str(tmp_path / "4d.nii.gz"))
    _refused(tmp_path / "4d.nii.gz", "4-D")


def test_rgb_image(tmp_path: Path) -> None:
    rgb = sitk.GetImageFromArray(np.zeros((3, 8, 8, 3), np.uint8) + 7, isVector=True)
    sitk.WriteImage(rgb, str(tmp_path / "rgb.mha"))
    _refused(tmp_path / "rgb.mha", "RGB")


def test_constant_image(tmp_path: Path) -> None:
    image = sitk.GetImageFromArray(np.full((3, 8, 8), 5.0, np.float32))
    sitk.WriteImage(image, str(tmp_path / "flat.nii.gz"))
    _refused(tmp_path / "flat.nii.gz", "constant")


def test_nan_image(tmp_path: Path) -> None:
    """Mostly NaN: refused (a few NaN voxels are repaired with a warning: test_dicom_corpus)."""
    arr = np.random.default_rng(0).random((3, 8, 8)).astype(np.float32)
    arr[:, :6] = np.nan
    sitk.WriteImage(sitk.GetImageFromArray(arr), str(tmp_path / "nan.mha"))
    _refused(tmp_path / "nan.mha", "NaN")


def test_spacing_that_makes_an_impossible_field_of_view(tmp_path: Path) -> None:
    """Centimetres read as millimetres: 40 x 40 mm pixels would be resampled to a grid of
    gigabytes; refused before any work, naming the spacing."""
    sitk.WriteImage(canonical_image(spacing=(40.0, 40.0, 4.0)), str(tmp_path / "cm.nii.gz"))
    _refused(tmp_path / "cm.nii.gz", "field of view of 1600.0 mm .*check the pixel spacing")


def test_field_of_view_too_small_for_a_spine(tmp_path: Path) -> None:
    sitk.WriteImage(canonical_image(spacing=(0.8, 0.3, 4.0)), str(tmp_path / "small.nii.gz"))
    _refused(tmp_path / "small.nii.gz", "superior-inferior field of view of 12.0 mm")


def test_non_sagittal_dicom_series_says_how_to_override(tmp_path: Path) -> None:
    axial = sitk.GetImageFromArray(np.random.default_rng(0).normal(100, 10, (5, 24, 24)))
    axial.SetSpacing((0.8, 0.8, 5.0))
    write_dicom_series(
        axial,
        tmp_path / "ax",
        patient_id="P1",
        series_description="t2_tse_tra",
        repetition_time_ms=4000,
        echo_time_ms=100,
    )
    error = _refused(tmp_path / "ax", "axial series")
    assert "--allow-non-sagittal" in str(error)


def _pair(tmp_path: Path, id1: str, id2: str) -> tuple[object, object]:
    for name, pid, tr, te in (("t1", id1, 600, 10), ("t2", id2, 3500, 100)):
        write_dicom_series(
            canonical_image(),
            tmp_path / name,
            patient_id=pid,
            series_description=name,
            repetition_time_ms=tr,
            echo_time_ms=te,
        )
    return read_image(tmp_path / "t1", SeriesRole.T1), read_image(tmp_path / "t2", SeriesRole.T2)


def test_t1_and_t2_of_different_patients_are_refused(tmp_path: Path) -> None:
    t1, t2 = _pair(tmp_path, "P1", "P2")
    with pytest.raises(InputError, match="PatientID 'P2' differs"):
        check_same_patient(t1, t2)  # type: ignore[arg-type]
    check_same_patient(t1, t2, force=True)  # type: ignore[arg-type]


def test_same_patient_passes(tmp_path: Path) -> None:
    t1, t2 = _pair(tmp_path, "P1", "P1")
    check_same_patient(t1, t2)  # type: ignore[arg-type]
