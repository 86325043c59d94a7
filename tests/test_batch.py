"""``modicmap batch``: per-study folders, cohort tables, failures, resume, Dask."""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path

import pytest

from modicmap.batch.cohort import read_cohort, run_cohort
from modicmap.cli.main import main
from modicmap.errors import InputError
from modicmap.synth.cohort import write_cohort
from modicmap.synth.study import SynthOptions

SMALL = SynthOptions(slices=3, matrix=128, lesion_rate=0.5)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cohort")
    csv_path = write_cohort(root, 2, seed=3, options=SMALL)
    with csv_path.open("a") as handle:
        handle.write("broken,missing_t1.nii.gz,missing_t2.nii.gz\n")
    return csv_path


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_batch_runs_each_study_and_gathers_the_cohort(cohort: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["batch", str(cohort), "--out", str(out), "--quiet"]) == 1  # one study fails
    ok = [r["study_id"] for r in _rows(cohort) if r["study_id"] != "broken"]
    for study_id in ok:
        assert (out / study_id / "summary.json").is_file()
    assert not (out / "broken").exists()
    failures = _rows(out / "failures.csv")
    assert [f["study_id"] for f in failures] == ["broken"]
    assert "does not exist" in failures[0]["error"]
    levels = _rows(out / "cohort_levels.csv")
    assert {r["study_id"] for r in levels} == set(ok)
    assert next(iter(levels[0])) == "study_id"
    assert {r["study_id"] for r in _rows(out / "cohort_endplates.csv")} == set(ok)
    gathered = _rows(out / "cohort_warnings.csv")  # every study's summary.json warnings
    for study_id in ok:
        summary = json.loads((out / study_id / "summary.json").read_text())
        mine = [r["warning"] for r in gathered if r["study_id"] == study_id]
        assert mine == summary["warnings"]


def test_rerun_skips_complete_studies_and_redoes_half_written_ones(
    cohort: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    run_cohort(cohort, out)
    first, second = [r["study_id"] for r in _rows(cohort)][:2]
    stamp = (out / first / "summary.json").stat().st_mtime_ns
    (out / second / "summary.json").unlink()  # half-written
    stale = out / f".{first}.partial-abc"  # leftover of a run killed two hours ago
    stale.mkdir()
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    live = out / f".{second}.partial-xyz"  # another batch writing into the same folder now
    live.mkdir()
    outcomes = run_cohort(cohort, out)
    assert (out / first / "summary.json").stat().st_mtime_ns == stamp, "complete study not redone"
    assert (out / second / "summary.json").is_file()
    assert not stale.exists() and live.is_dir(), "only the stale partial folder is removed"
    assert [o.ok for o in outcomes] == [True, True, False]


def test_batch_runs_on_a_dask_cluster(cohort: Path, tmp_path: Path) -> None:
    from dask.distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        outcomes = run_cohort(cohort, tmp_path / "out", scheduler=cluster.scheduler_address)
    assert [o.ok for o in outcomes] == [True, True, False]


def test_bad_cohort_csv_is_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "c.csv"
    bad.write_text("id,a,b\nx,y,z\n")
    assert main(["batch", str(bad), "--out", str(tmp_path / "o")]) == 2
    with pytest.raises(InputError, match="appears twice"):
        bad.write_text("study_id,t1,t2\na,x,y\na,x,y\n")
        read_cohort(bad)


def test_cohort_warnings_gathers_every_studys_warnings(tmp_path: Path) -> None:
    from modicmap.batch.cohort import CohortStudy, gather_warnings

    studies = [CohortStudy(s, tmp_path / "t1", tmp_path / "t2") for s in ("a", "b", "c", "d")]
    for study_id, content in (
        ("a", {"warnings": ["were T1 and T2 swapped?", "no sacrum in view"]}),
        ("b", {"warnings": []}),
        ("c", "{not json"),
    ):
        (tmp_path / study_id).mkdir()
        text = content if isinstance(content, str) else json.dumps(content)
        (tmp_path / study_id / "summary.json").write_text(text)
    rows = _rows(gather_warnings(tmp_path, studies))  # d: failed, no folder
    assert [(r["study_id"], r["warning"]) for r in rows] == [
        ("a", "were T1 and T2 swapped?"),
        ("a", "no sacrum in view"),
    ]
