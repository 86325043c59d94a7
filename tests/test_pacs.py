"""``modicmap pacs`` against a real Orthanc (Debian orthanc + orthanc-dicomweb), not a mock."""

from __future__ import annotations

import csv
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
import requests

from modicmap.cli.main import main
from modicmap.errors import InputError
from modicmap.export.dicom_sr import read_dicom_sr
from modicmap.pacs import local_orthanc
from modicmap.pacs.auth import http_session, load_credentials
from modicmap.pacs.client import (
    AuthenticationError,
    RetryPolicy,
    ServerError,
    with_retries,
)
from modicmap.pacs.local_orthanc import LocalOrthanc
from modicmap.synth.cohort import write_cohort
from modicmap.synth.study import SynthOptions

SMALL = SynthOptions(slices=3, matrix=128, lesion_rate=0.5)
SECRET = "s3cret-Pa55word-xyz"

needs_orthanc = pytest.mark.skipif(
    local_orthanc.missing() is not None, reason=str(local_orthanc.missing())
)


def _synth(root: Path, n: int, seed: int) -> list[Path]:
    write_cohort(root, n, seed=seed, fmt="dicom", options=SMALL)
    return sorted(p for p in root.iterdir() if p.is_dir())


def _study_uid(study: Path) -> str:
    first = next((study / "t1").glob("*.dcm"))
    return str(pydicom.dcmread(str(first), stop_before_pixels=True).StudyInstanceUID)


def _fetch(node: LocalOrthanc, sop_instance_uid: str) -> bytes:
    """One stored instance's file, by Orthanc's REST API."""
    session = node.admin_session()
    found = session.post(f"{node.url}/tools/lookup", data=sop_instance_uid, timeout=30).json()
    return session.get(f"{node.url}/instances/{found[0]['ID']}/file", timeout=30).content


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def open_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalOrthanc, list[str]]]:
    """An Orthanc without authentication holding three studies, the third without a T2."""
    if local_orthanc.missing():
        pytest.skip(str(local_orthanc.missing()))
    root = tmp_path_factory.mktemp("pacs-open")
    studies = _synth(root / "synth", 3, seed=21)
    files = [f for s in studies for f in sorted(s.rglob("*.dcm"))]
    files = [f for f in files if not (f.parent.name == "t2" and f.parent.parent == studies[2])]
    with LocalOrthanc(root / "orthanc") as node:
        node.upload(files)
        yield node, [_study_uid(s) for s in studies]


@pytest.fixture(scope="module")
def locked_node(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LocalOrthanc, list[str]]]:
    """An Orthanc that asks for HTTP basic authentication, holding two complete studies."""
    if local_orthanc.missing():
        pytest.skip(str(local_orthanc.missing()))
    root = tmp_path_factory.mktemp("pacs-locked")
    studies = _synth(root / "synth", 2, seed=22)
    with LocalOrthanc(root / "orthanc", users={"reader": SECRET}) as node:
        node.upload([f for s in studies for f in sorted(s.rglob("*.dcm"))])
        yield node, [_study_uid(s) for s in studies]


@pytest.mark.slow
@needs_orthanc
def test_new_studies_get_a_seg_and_an_sr_and_the_incomplete_one_is_skipped(
    open_node: tuple[LocalOrthanc, list[str]], tmp_path: Path
) -> None:
    node, (first, second, lacking_t2) = open_node
    work = tmp_path / "work"
    assert main(["pacs", "--url", node.dicomweb_url, "--new", "--work", str(work), "--quiet"]) == 0
    for uid in (first, second):
        assert node.count(uid, "SEG") == 1 and node.count(uid, "SR") == 1
    assert node.count(lacking_t2, "SEG") == 0 and node.count(lacking_t2, "SR") == 0
    skipped = _rows(work / "skipped.csv")
    assert [r["study_uid"] for r in skipped] == [lacking_t2]
    assert "T2" in skipped[0]["reason"]
    assert {r["study_uid"] for r in _rows(work / "stored.csv")} == {first, second}
    assert not any((work / "images").iterdir()), "retrieved images are deleted without --keep"
    assert stat.S_IMODE(work.stat().st_mode) == 0o700
    for path in work.rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, f"{path} readable by others"
    log = (work / "pacs.log").read_text()
    assert f"{first}: fetched T1 series" in log and f"{first}: stored SEG" in log
    # the SR on the server gives the findings of the run's tables
    stored_sr = tmp_path / "stored_sr.dcm"
    stored_sr.write_bytes(_fetch(node, _rows(work / "stored.csv")[0]["sr_uid"]))
    endplates, levels = read_dicom_sr(stored_sr)
    result = work / "results" / _rows(work / "stored.csv")[0]["study_uid"]
    assert [r.__dict__["vertebra"] for r in endplates] == [
        r["vertebra"] for r in _rows(result / "endplates.csv")
    ]
    assert [(lv.level, str(lv.modic)) for lv in levels] == [
        (r["level"], r["modic"]) for r in _rows(result / "levels.csv")
    ]

    # a second pass stores nothing and does not retry the skipped study
    assert main(["pacs", "--url", node.dicomweb_url, "--new", "--work", str(work), "--quiet"]) == 0
    for uid in (first, second):
        assert node.count(uid, "SEG") == 1 and node.count(uid, "SR") == 1
    assert len(_rows(work / "skipped.csv")) == 1 and len(_rows(work / "stored.csv")) == 2
    assert "skipped in an earlier pass" in (work / "pacs.log").read_text()


@needs_orthanc
def test_wrong_or_missing_credentials_stop_with_one_line_and_store_nothing(
    locked_node: tuple[LocalOrthanc, list[str]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    node, uids = locked_node
    for variable in ("MODICMAP_PACS_TOKEN", "MODICMAP_PACS_USER", "MODICMAP_PACS_PASSWORD"):
        monkeypatch.delenv(variable, raising=False)
    wrong = tmp_path / "wrong"
    wrong.write_text("reader:not-the-password\n")
    wrong.chmod(0o600)
    for extra in ([], ["--auth-file", str(wrong)]):
        code = main(
            ["pacs", "--url", node.dicomweb_url, "--new", "--work", str(tmp_path / "w"), *extra]
        )
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2
        assert len(err) == 1 and "refused access (HTTP 401)" in err[0], err
    assert all(node.count(uid, "SR") == 0 and node.count(uid, "SEG") == 0 for uid in uids)


@pytest.mark.slow
@needs_orthanc
def test_a_killed_pass_rerun_stores_each_result_once_and_the_secret_is_nowhere(
    locked_node: tuple[LocalOrthanc, list[str]], tmp_path: Path
) -> None:
    node, uids = locked_node
    work = tmp_path / "work"
    env = {**os.environ, "MODICMAP_PACS_USER": "reader", "MODICMAP_PACS_PASSWORD": SECRET}
    command = [sys.executable, "-m", "modicmap", "pacs", "--url", node.dicomweb_url, "--new"]
    command += ["--work", str(work)]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not list((work / "results").glob("*/summary.json")) and time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        time.sleep(0.1)
    os.kill(process.pid, signal.SIGKILL)  # mid-pass: one study run, none stored
    process.wait()
    first_err = process.stderr.read() if process.stderr else ""
    assert not (work / "stored.csv").exists(), "killed before any result was stored"
    rerun = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert rerun.returncode == 0, rerun.stderr
    for uid in uids:
        assert node.count(uid, "SEG") == 1 and node.count(uid, "SR") == 1, uid
    assert {r["study_uid"] for r in _rows(work / "stored.csv")} == set(uids)
    # storing a result again (a pass killed after its STOW) leaves one instance per UID
    from modicmap.pacs.client import Pacs

    pacs = Pacs(node.dicomweb_url, node.admin_session())
    result = work / "results" / uids[0]
    pacs.store(uids[0], [result / "modic_seg.dcm", result / "modic_sr.dcm"])
    assert node.count(uids[0], "SEG") == 1 and node.count(uids[0], "SR") == 1
    for text in (first_err, rerun.stderr, rerun.stdout):
        assert SECRET not in text
    for path in work.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), f"secret written into {path}"


def test_credentials_come_from_a_file_or_the_environment(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("abc.def.ghi\n")
    token = load_credentials(token_file, {})
    assert token is not None and token.kind == "bearer" and token.secret == "abc.def.ghi"
    assert "abc.def" not in repr(token)
    session = http_session(token)
    assert session.headers["Authorization"] == "Bearer abc.def.ghi" and session.verify is True
    basic = load_credentials(None, {"MODICMAP_PACS_USER": "u", "MODICMAP_PACS_PASSWORD": "p"})
    assert basic is not None and http_session(basic).auth == ("u", "p")
    assert load_credentials(None, {}) is None
    with pytest.raises(InputError, match="MODICMAP_PACS_PASSWORD"):
        load_credentials(None, {"MODICMAP_PACS_USER": "u"})
    with pytest.raises(InputError, match="does not exist"):
        load_credentials(tmp_path / "absent", {})


def test_credentials_in_the_url_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "https://user:pw@pacs.example.org/dicom-web"
    assert main(["pacs", "--url", url, "--new", "--work", str(tmp_path / "w")]) == 2
    err = capsys.readouterr().err
    assert "holds credentials" in err and "pw" not in err
    assert not (tmp_path / "w").exists()


def test_network_errors_are_retried_with_back_off_then_reported() -> None:
    calls: list[int] = []
    waits: list[float] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise requests.ConnectionError("connection reset")
        return "ok"

    policy = RetryPolicy(attempts=4, first_wait_s=0.5)
    assert with_retries("QIDO", flaky, "http://x", policy, sleep=waits.append) == "ok"
    assert waits == [0.5, 1.0]

    def down() -> str:
        raise requests.ConnectionError("refused")

    with pytest.raises(ServerError, match="refused"):
        with_retries("QIDO", down, "http://x", policy, sleep=waits.append)

    def refused() -> str:
        response = requests.Response()
        response.status_code = 401
        raise requests.HTTPError(response=response)

    with pytest.raises(AuthenticationError, match="HTTP 401"):
        with_retries("QIDO", refused, "http://x", policy, sleep=waits.append)
