"""Same input, same grades, on any thread count (torch threads; registration is always
single-threaded ITK), and a batch of 2 workers gives what 1 worker gives."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from modicmap.batch.cohort import run_cohort
from modicmap.pipeline.run import RunOptions, run_study
from modicmap.synth.cohort import write_study
from modicmap.synth.study import SynthOptions, synthesize_study


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("threads")
    made = synthesize_study(31, SynthOptions(slices=5, matrix=192, lesion_rate=0.7), "t")
    return write_study(made, root / "t")


def _table(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as stream:
        return list(csv.DictReader(stream))


def _probability(folder: Path) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "lesion_probability.nii.gz")))


def _without_probability(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{k: v for k, v in row.items() if k != "probability"} for row in rows]


def test_grades_do_not_depend_on_torch_threads(study: tuple[Path, Path], tmp_path: Path) -> None:
    before = torch.get_num_threads()
    outs = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            out = tmp_path / f"threads{threads}"
            run_study(*study, out, RunOptions())
            outs.append(out)
    finally:
        torch.set_num_threads(before)
    one, two = outs
    assert _without_probability(_table(one / "levels.csv")) == _without_probability(
        _table(two / "levels.csv")
    )
    assert _table(one / "endplates.csv") == _table(two / "endplates.csv")
    for a, b in zip(_table(one / "levels.csv"), _table(two / "levels.csv"), strict=True):
        assert abs(float(a["probability"]) - float(b["probability"])) < 1e-3
    assert np.abs(_probability(one) - _probability(two)).max() < 1e-3


def test_two_workers_grade_as_one(study: tuple[Path, Path], tmp_path: Path) -> None:
    cohort = tmp_path / "cohort.csv"
    t1, t2 = study
    cohort.write_text(f"study_id,t1,t2\na,{t1},{t2}\nb,{t1},{t2}\n")
    run_cohort(cohort, tmp_path / "one", workers=1)
    run_cohort(cohort, tmp_path / "two", workers=2)
    for study_id in ("a", "b"):
        for table in ("levels.csv", "endplates.csv"):
            one = _without_probability(_table(tmp_path / "one" / study_id / table))
            two = _without_probability(_table(tmp_path / "two" / study_id / table))
            assert one == two
