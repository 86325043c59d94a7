"""``modicmap demo``: the whole pipeline on the bundled samples; refuses to overwrite."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import SimpleITK as sitk

from modicmap.cli.main import main
from modicmap.samples import bundled_samples


def test_demo_runs_the_pipeline_on_the_real_and_the_synthetic_sample(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--quiet"]) == 0
    sample = bundled_samples()[0]
    assert {p.name for p in out.iterdir()} == {sample.name, "synthetic-3d", "synthetic-3d-truth"}
    for name in (sample.name, "synthetic-3d"):
        assert (out / name / "report.html").is_file()
        summary = json.loads((out / name / "summary.json").read_text())
        assert summary["vertebrae"]
        assert not any("swapped" in w for w in summary["warnings"])  # both pairs given right
    t1 = sitk.ReadImage(str(sample.t1))
    modic = sitk.ReadImage(str(out / sample.name / "modic_map.nii.gz"))
    assert modic.GetSize() == t1.GetSize() and modic.GetDirection() == t1.GetDirection()
    with (out / sample.name / "levels.csv").open() as handle:
        levels = [row["level"] for row in csv.DictReader(handle)]
    assert "L4-L5" in levels


def test_demo_refuses_an_existing_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    assert main(["demo", "--out", str(tmp_path), "--quiet"]) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
