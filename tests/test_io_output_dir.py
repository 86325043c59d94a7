"""Output folders are all-or-nothing and never overwrite a user's data silently."""

from __future__ import annotations

from pathlib import Path

import pytest

from modicmap.errors import InputError
from modicmap.io.output_dir import output_dir


def test_files_appear_only_after_success(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with output_dir(out) as work:
        (work / "a.txt").write_text("a")
        assert not out.exists()
    assert (out / "a.txt").read_text() == "a"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_failure_leaves_nothing_behind(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(RuntimeError), output_dir(out) as work:
        (work / "half.txt").write_text("half")
        raise RuntimeError("stage failed")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_existing_non_empty_folder_needs_force(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("user data")
    with pytest.raises(InputError, match="--force"), output_dir(out):
        pass
    assert (out / "keep.txt").read_text() == "user data"


def test_force_replaces_contents_only_after_success(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), output_dir(out, force=True) as work:
        (work / "new.txt").write_text("new")
        raise RuntimeError("boom")
    assert (out / "old.txt").exists()
    with output_dir(out, force=True) as work:
        (work / "new.txt").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_empty_existing_folder_is_fine(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with output_dir(out) as work:
        (work / "x").write_text("x")
    assert (out / "x").exists()


def test_output_inside_an_input_folder_is_refused(tmp_path: Path) -> None:
    series = tmp_path / "dicom"
    series.mkdir()
    with (
        pytest.raises(InputError, match="inside the input"),
        output_dir(series / "out", inputs=[series]),
    ):
        pass


def test_output_onto_an_existing_file_is_refused(tmp_path: Path) -> None:
    image = tmp_path / "t1.nii.gz"
    image.write_bytes(b"x")
    with pytest.raises(InputError, match="not a folder"), output_dir(image, inputs=[image]):
        pass


def test_output_dir_is_also_available_as_outputdir(tmp_path: Path) -> None:
    from modicmap.io.output_dir import OutputDir

    with OutputDir(tmp_path / "out") as work:
        (work / "a.txt").write_text("a")
    assert (tmp_path / "out" / "a.txt").read_text() == "a"
