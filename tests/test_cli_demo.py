"""``modicmap demo``: runs on the bundled samples and refuses to overwrite."""

from __future__ import annotations

import json
from pathlib import Path

import SimpleITK as sitk

from modicmap.cli.main import main
from modicmap.samples import bundled_samples


def test_demo_writes_registered_t2_on_the_t1_grid(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--quiet"]) == 0
    sample = bundled_samples()[0]
    folder = out / sample.name
    assert {p.name for p in folder.iterdir()} >= {
        "t2_registered.nii.gz",
        "transform.tfm",
        "registration.json",
        "registration_check.png",
    }
    t1 = sitk.ReadImage(str(sample.t1))
    registered = sitk.ReadImage(str(folder / "t2_registered.nii.gz"))
    assert registered.GetSize() == t1.GetSize()
    assert registered.GetDirection() == t1.GetDirection()
    assert json.loads((folder / "registration.json").read_text())["warnings"] == []


def test_demo_refuses_an_existing_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    assert main(["demo", "--out", str(tmp_path), "--quiet"]) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
