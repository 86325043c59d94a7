"""Reading every input kind into the canonical PIR orientation, and back to native grids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from images import canonical_image
from modicmap.errors import InputError
from modicmap.io.dicom_writer import write_dicom_series
from modicmap.io.image import SeriesRole
from modicmap.io.reader import read_image, to_native


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".mha", ".nrrd"])
def test_image_files_read_to_the_canonical_array(tmp_path: Path, suffix: str) -> None:
    image = canonical_image()
    path = tmp_path / f"t1{suffix}"
    sitk.WriteImage(image, str(path))
    loaded = read_image(path)
    assert loaded.native.orientation == "PIR"
    assert loaded.image.GetPixelID() == sitk.sitkFloat32
    np.testing.assert_allclose(
        sitk.GetArrayFromImage(loaded.image), sitk.GetArrayFromImage(image), atol=1e-4
    )


def test_mhd_with_raw_file_reads(tmp_path: Path) -> None:
    sitk.WriteImage(canonical_image(), str(tmp_path / "t1.mhd"))
    assert read_image(tmp_path / "t1.mhd").image.GetSize() == (32, 40, 6)


@pytest.mark.parametrize("orientation", ["LPS", "RAS", "PIR", "ASL", "SPL", "IRA"])
def test_every_orientation_reads_to_the_same_canonical_array(
    tmp_path: Path, orientation: str
) -> None:
    reference = canonical_image()
    stored = sitk.DICOMOrient(reference, orientation)
    path = tmp_path / f"{orientation}.nii.gz"
    sitk.WriteImage(stored, str(path))
    loaded = read_image(path)
    np.testing.assert_allclose(
        sitk.GetArrayFromImage(loaded.image), sitk.GetArrayFromImage(reference), atol=1e-4
    )
    np.testing.assert_allclose(loaded.image.GetOrigin(), reference.GetOrigin(), atol=1e-4)


@pytest.mark.parametrize("orientation", ["LPS", "RAS", "ASL", "PIR"])
def test_outputs_land_back_in_each_inputs_geometry(tmp_path: Path, orientation: str) -> None:
    stored = sitk.DICOMOrient(canonical_image(), orientation)
    path = tmp_path / "in.nii.gz"
    sitk.WriteImage(stored, str(path))
    stored = sitk.ReadImage(str(path))  # as the file holds it (NIfTI keeps float32 origins)
    loaded = read_image(path)
    back = to_native(loaded.image, loaded)
    assert back.GetSize() == stored.GetSize()
    assert back.GetDirection() == stored.GetDirection()
    assert back.GetOrigin() == stored.GetOrigin()
    assert back.GetSpacing() == stored.GetSpacing()
    np.testing.assert_allclose(
        sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(stored), atol=1e-4
    )


def test_oblique_image_round_trips_exactly(tmp_path: Path) -> None:
    image = canonical_image()
    rotation = sitk.VersorTransform((1.0, 0.0, 0.0), np.radians(12.0))
    direction = np.asarray(rotation.GetMatrix()).reshape(3, 3) @ np.asarray(
        image.GetDirection()
    ).reshape(3, 3)
    image.SetDirection(direction.ravel().tolist())
    path = tmp_path / "oblique.nii.gz"
    sitk.WriteImage(image, str(path))
    loaded = read_image(path)
    back = to_native(loaded.image, loaded)
    np.testing.assert_allclose(
        back.GetDirection(), sitk.ReadImage(str(path)).GetDirection(), atol=1e-6
    )
    np.testing.assert_allclose(
        sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(image), atol=1e-4
    )


def test_single_slice_image_is_a_valid_study(tmp_path: Path) -> None:
    path = tmp_path / "mid.nii.gz"
    sitk.WriteImage(canonical_image(shape_zyx=(1, 40, 32)), str(path))
    loaded = read_image(path)
    assert loaded.is_single_slice
    assert loaded.image.GetSize() == (32, 40, 1)


def _series(
    folder: Path, description: str, tr: float, te: float, number: int, **kw: object
) -> None:
    write_dicom_series(
        canonical_image(seed=number),
        folder,
        patient_id=str(kw.pop("patient_id", "P001")),
        series_description=description,
        repetition_time_ms=tr,
        echo_time_ms=te,
        series_number=number,
        study_instance_uid="1.2.826.0.1.3680043.8.498.1",
        **kw,  # type: ignore[arg-type]
    )


def test_dicom_series_folder_reads_with_header_facts(tmp_path: Path) -> None:
    _series(tmp_path / "s1", "t1_tse_sag", 600, 10, 1)
    loaded = read_image(tmp_path / "s1", SeriesRole.T1)
    assert loaded.dicom is not None
    assert loaded.dicom.patient_id == "P001"
    assert loaded.image.GetSize() == (32, 40, 6)
    np.testing.assert_allclose(loaded.image.GetSpacing(), (0.8, 0.9, 4.0), atol=1e-5)
    expected = sitk.GetArrayFromImage(canonical_image(seed=1))
    np.testing.assert_allclose(sitk.GetArrayFromImage(loaded.image), expected, atol=0.2)


def test_dicom_files_in_shuffled_order_read_in_slice_order(tmp_path: Path) -> None:
    folder = tmp_path / "s1"
    _series(folder, "t1_tse_sag", 600, 10, 1)
    names = sorted(folder.iterdir())
    for i, path in enumerate(names):  # names no longer follow the slice order
        path.rename(folder / f"x{(i * 7) % len(names):03d}_{i}.dcm")
    loaded = read_image(folder)
    expected = sitk.GetArrayFromImage(canonical_image(seed=1))
    np.testing.assert_allclose(sitk.GetArrayFromImage(loaded.image), expected, atol=0.2)


def _study(root: Path) -> Path:
    _series(root / "series1", "localizer", 8, 3, 1)
    _series(root / "series2", "t1_tse_sag", 600, 10, 2)
    _series(root / "series3", "t2_tse_sag", 3500, 100, 3)
    _series(root / "series4", "t2_tirm_sag", 4000, 60, 4, inversion_time_ms=160)
    return root


def test_study_folder_chooses_sagittal_t1_and_t2_from_headers(tmp_path: Path) -> None:
    study = _study(tmp_path / "study")
    t1 = read_image(study, SeriesRole.T1)
    t2 = read_image(study, SeriesRole.T2)
    assert t1.dicom is not None and t1.dicom.series_description == "t1_tse_sag"
    assert t2.dicom is not None and t2.dicom.series_description == "t2_tse_sag"


def test_ambiguous_study_folder_lists_the_candidates(tmp_path: Path) -> None:
    study = _study(tmp_path / "study")
    _series(study / "series5", "t1_tse_sag_repeat", 620, 11, 5)
    with pytest.raises(InputError) as info:
        read_image(study, SeriesRole.T1)
    message = str(info.value)
    assert "t1_tse_sag_repeat" in message and "'t1_tse_sag'" in message
    assert "--t1" in message


def test_study_folder_without_a_role_asks_to_choose(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="choose one"):
        read_image(_study(tmp_path / "study"))


def test_axial_series_is_rejected_unless_allowed(tmp_path: Path) -> None:
    image = sitk.GetImageFromArray(np.random.default_rng(0).normal(100, 10, (5, 30, 30)))
    image.SetSpacing((0.8, 0.8, 5.0))  # identity direction: slices stacked along S (axial)
    path = tmp_path / "axial.nii.gz"
    sitk.WriteImage(image, str(path))
    with pytest.raises(InputError, match="axial series"):
        read_image(path)
    assert read_image(path, allow_non_sagittal=True).image.GetSize()[2] == 30


def test_to_native_also_takes_a_bare_geometry(tmp_path: Path) -> None:
    path = tmp_path / "las.nii.gz"
    sitk.WriteImage(sitk.DICOMOrient(canonical_image(), "LAS"), str(path))
    loaded = read_image(path)
    back = to_native(loaded.image, loaded.native)
    assert back.GetSize() == loaded.native.size
    assert back.GetDirection() == loaded.native.direction
    assert back.GetOrigin() == loaded.native.origin


def test_to_native_refuses_an_image_on_another_grid(tmp_path: Path) -> None:
    path = tmp_path / "pir.nii.gz"
    sitk.WriteImage(canonical_image(), str(path))
    loaded = read_image(path)
    with pytest.raises(ValueError, match="not on the grid"):
        to_native(canonical_image(shape_zyx=(3, 40, 32)), loaded)


def test_single_slice_dicom_series_reads_as_one_sagittal_slice(tmp_path: Path) -> None:
    image = canonical_image(shape_zyx=(1, 40, 32))
    write_dicom_series(
        image,
        tmp_path / "mid",
        patient_id="P001",
        series_description="t1_tse_sag",
        repetition_time_ms=600,
        echo_time_ms=10,
    )
    loaded = read_image(tmp_path / "mid", SeriesRole.T1)
    assert loaded.is_single_slice
    assert loaded.image.GetSize() == (32, 40, 1)
    np.testing.assert_allclose(
        sitk.GetArrayFromImage(loaded.image), sitk.GetArrayFromImage(image), atol=0.2
    )


def test_dicom_series_written_and_read_back_keeps_its_geometry(tmp_path: Path) -> None:
    image = canonical_image()
    write_dicom_series(
        image,
        tmp_path / "s",
        patient_id="P001",
        series_description="t2_tse_sag",
        repetition_time_ms=3500,
        echo_time_ms=100,
    )
    loaded = read_image(tmp_path / "s", SeriesRole.T2)
    np.testing.assert_allclose(loaded.image.GetOrigin(), image.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(loaded.image.GetDirection(), image.GetDirection(), atol=1e-6)
    np.testing.assert_allclose(loaded.image.GetSpacing(), image.GetSpacing(), atol=1e-5)


def test_write_image_into_a_missing_folder_names_it(tmp_path: Path) -> None:
    from modicmap.io.writer import write_image

    with pytest.raises(InputError, match="does not exist") as info:
        write_image(canonical_image(), tmp_path / "nowhere" / "out.nii.gz")
    assert str(tmp_path / "nowhere") in str(info.value)


def test_write_image_with_an_unwritable_name_is_an_input_error(tmp_path: Path) -> None:
    from modicmap.io.writer import write_image

    with pytest.raises(InputError, match="cannot be written"):
        write_image(canonical_image(), tmp_path / "out.unknownformat")


def test_stir_series_is_the_t2_only_when_no_plain_t2_exists(tmp_path: Path) -> None:
    study = tmp_path / "study"
    _series(study / "series2", "t1_tse_sag", 600, 10, 2)
    _series(study / "series4", "t2_tirm_sag", 4000, 60, 4, inversion_time_ms=160)
    t2 = read_image(study, SeriesRole.T2)
    assert t2.dicom is not None and t2.dicom.series_description == "t2_tirm_sag"


def test_candidate_listing_names_each_series_uid(tmp_path: Path) -> None:
    study = _study(tmp_path / "study")
    with pytest.raises(InputError) as info:
        read_image(study)
    for name in ("series1", "series2", "series3", "series4"):
        uid = read_image(study / name, allow_non_sagittal=True).dicom
        assert uid is not None and uid.series_instance_uid in str(info.value)


def test_header_warns_about_a_stir_or_t1_given_as_t2(tmp_path: Path) -> None:
    from modicmap.pipeline.sequence_check import header_warnings

    _series(tmp_path / "t1", "t1_tse_sag", 600, 10, 1)
    _series(tmp_path / "t2", "t2_tse_sag", 3500, 100, 2)
    _series(tmp_path / "tirm", "t2_tirm_sag", 4000, 60, 3, inversion_time_ms=160)
    t1, t2, tirm = (read_image(tmp_path / name) for name in ("t1", "t2", "tirm"))
    assert header_warnings(t1, t2) == []
    (stir,) = header_warnings(t1, tirm)
    assert "--t2 series 't2_tirm_sag'" in stir and "TI=160 ms" in stir
    assert "inversion recovery" in stir
    swapped = header_warnings(t2, t1)
    assert len(swapped) == 2 and "--t1 series 't2_tse_sag'" in swapped[0]
    nifti = tmp_path / "t2.nii.gz"
    sitk.WriteImage(canonical_image(), str(nifti))
    assert header_warnings(t1, read_image(nifti)) == []  # no header, not judged


def test_a_t1_flair_is_a_t1_and_a_stir_is_not(tmp_path: Path) -> None:
    from modicmap.pipeline.sequence_check import header_warnings

    study = tmp_path / "study"
    _series(study / "series2", "Sag T1 FLAIR", 2200, 9, 2, inversion_time_ms=860)
    _series(study / "series3", "Sag T2 FSE", 3500, 100, 3)
    _series(study / "series4", "Sag STIR", 4000, 40, 4, inversion_time_ms=150)
    t1 = read_image(study, SeriesRole.T1)
    t2 = read_image(study, SeriesRole.T2)
    assert t1.dicom is not None and t1.dicom.series_description == "Sag T1 FLAIR"
    assert header_warnings(t1, t2) == [], "fat is bright on a T1 FLAIR"
    stir = read_image(study / "series4")
    assert "inversion recovery" in header_warnings(t1, stir)[0]
