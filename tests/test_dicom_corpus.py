"""A node holds anything: every file of pydicom's own test corpus, given alone as a series,
is read or refused with one line (never a crash); NaN voxels in part of an image are
repaired with a warning that says how many and to what."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom.data
import pytest
import SimpleITK as sitk

from modicmap.cli.main import main
from modicmap.errors import InputError
from modicmap.io.image import SeriesRole
from modicmap.io.reader import read_image
from modicmap.synth.cohort import write_cohort
from modicmap.synth.study import SynthOptions

CORPUS = Path(pydicom.data.__file__).parent / "test_files"
#: the RT Dose files GDCM cannot scan (they ended with exit 1 and a traceback), and a
#: 16 x 16 pixel MR slice on which registration fails (ended with exit 1 too)
FORMER_CRASHES = (
    "rtdose_1frame.dcm",
    "rtdose_expb_1frame.dcm",
    "rtdose_rle_1frame.dcm",
    "dicomdirtests/98892003/MR1/15820",
)


def _alone(file: Path, root: Path) -> Path:
    folder = root / file.relative_to(CORPUS).as_posix().replace("/", "_")
    folder.mkdir(parents=True)
    shutil.copy(file, folder / file.name)
    return folder


def test_every_corpus_file_is_read_or_refused_with_one_line(tmp_path: Path) -> None:
    files = sorted(f for f in CORPUS.rglob("*") if f.is_file())
    assert len(files) > 80, "pydicom's test corpus should be installed with pydicom"
    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    outcomes: dict[str, str] = {}
    for file in files:
        folder = _alone(file, tmp_path)
        try:
            read_image(folder, SeriesRole.T1)
            outcomes[file.name] = "read"
        except InputError as exc:
            assert "\n" not in str(exc) and str(folder) in str(exc), (file, exc)
            outcomes[file.name] = "refused"
    assert outcomes["rtdose_1frame.dcm"] == "refused"
    assert outcomes["MR_small.dcm"] == "refused"  # axial
    assert list(outcomes.values()).count("read") >= 1


@pytest.mark.parametrize("name", FORMER_CRASHES)
def test_former_crashes_end_with_exit_2_and_one_line(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _alone(CORPUS / name, tmp_path / "in")
    code = main(
        ["run", "--t1", str(folder), "--t2", str(folder), "--out", str(tmp_path / "o"), "--quiet"]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("modicmap run: error: ") and str(folder) in err[0]
    assert not (tmp_path / "o").exists()


def test_nan_voxels_in_part_of_an_image_run_with_a_warning_saying_how_many(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_cohort(tmp_path / "synth", 1, seed=5, options=SynthOptions(slices=1, matrix=128))
    study = next(p for p in (tmp_path / "synth").iterdir() if p.is_dir())
    t1 = sitk.ReadImage(str(study / "t1.nii.gz"), sitk.sitkFloat32)
    array = sitk.GetArrayFromImage(t1)
    array[..., :5] = np.nan  # a band of NaN voxels at the image's edge (ITK's NIfTI reader
    # turns them into 0 without a word: the reader finds them in the file)
    holed = sitk.GetImageFromArray(array)
    holed.CopyInformation(t1)
    sitk.WriteImage(holed, str(tmp_path / "t1_nan.nii.gz"))
    n_nan = int(np.isnan(array).sum())
    smallest = float(np.nanmin(array))
    inputs = ["--t1", str(tmp_path / "t1_nan.nii.gz"), "--t2", str(study / "t2.nii.gz")]
    code = main(["run", *inputs, "--out", str(tmp_path / "out"), "--quiet"])
    assert code == 0
    said = [line for line in capsys.readouterr().err.splitlines() if "NaN" in line]
    assert len(said) == 1
    assert f"{n_nan} of {array.size} voxels are NaN or infinite; set to {smallest:g}" in said[0]


@pytest.mark.parametrize("suffix", [".mha", ".nrrd", ".nii", ".nii.gz"])
def test_nan_voxels_are_found_in_every_float_format(
    suffix: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    array = np.random.default_rng(1).random((1, 64, 48)).astype(np.float32) + 1.0
    array[0, :3, :] = np.nan
    array[0, 10, 10] = np.inf
    image = sitk.GetImageFromArray(array)
    image.SetDirection((0, 0, -1, 1, 0, 0, 0, -1, 0))  # one sagittal slice
    sitk.WriteImage(image, str(tmp_path / f"nan{suffix}"))
    with caplog.at_level("WARNING", logger="modicmap"):
        loaded = read_image(tmp_path / f"nan{suffix}")
    assert np.isfinite(sitk.GetArrayViewFromImage(loaded.image)).all()
    smallest = float(np.min(array[np.isfinite(array)]))
    said = [r.getMessage() for r in caplog.records if "NaN" in r.getMessage()]
    assert said == [
        f"{tmp_path / f'nan{suffix}'}: 145 of 3072 voxels are NaN or infinite; set to "
        f"{smallest:g} (the image's smallest finite value)"
    ]
