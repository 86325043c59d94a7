"""review.csv, the `modicmap review` server, and reviews used as gradings by calibrate."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest

from modicmap.cli.main import main
from modicmap.errors import InputError
from modicmap.evaluation.gradings import read_gradings
from modicmap.grading.tables import read_levels_csv
from modicmap.review.server import HOST, find_studies, serving
from modicmap.review.table import (
    REVIEW_COLUMNS,
    ReviewRow,
    machine_rows,
    parse_review_csv,
    read_review_csv,
    write_review_csv,
)
from review_study import chromium, wait_for_viewer, write_graded_study


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("batch")
    for study in ("A1", "B2"):
        write_graded_study(root / study, slices=3, matrix=96)
    return root


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _post(url: str, body: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body.encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_review_csv_has_the_contract_columns_and_round_trips(tmp_path: Path) -> None:
    assert REVIEW_COLUMNS == (
        "study_id", "level", "index_from_sacrum", "endplate", "modic_machine",
        "modic_reader", "reader", "time", "note",
    )  # fmt: skip
    rows = [
        ReviewRow("s", "L4-L5", 2, "upper", 1, 2, "dr-a", "2026-01-01T10:00:00Z", 'a, "b"'),
        ReviewRow("s", "L4-L5", 2, "level", 1, 1, "dr-a", "2026-01-01T10:00:01Z"),
    ]
    path = write_review_csv(rows, tmp_path / "review.csv")
    assert read_review_csv(path) == rows
    assert [p.name for p in tmp_path.iterdir()] == ["review.csv"]  # no temporary left


def test_machine_rows_list_each_level_then_its_two_endplates(batch: Path) -> None:
    levels = read_levels_csv(batch / "A1" / "levels.csv")
    rows = machine_rows("A1", levels)
    assert len(rows) == 3 * len(levels) == 21
    assert [r.endplate for r in rows[:3]] == ["level", "upper", "lower"]
    assert all(r.modic_reader == r.modic_machine and not r.reader for r in rows)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("study_id,level\ns,L4-L5\n", "missing column"),
        (",".join(REVIEW_COLUMNS) + "\ns,L4-L5,two,level,1,1,r,t,\n", "line 2"),
        (",".join(REVIEW_COLUMNS) + "\ns,L4-L5,2,middle,1,1,r,t,\n", "endplate 'middle'"),
        (",".join(REVIEW_COLUMNS) + "\ns,L4-L5,2,level,1,5,r,t,\n", "outside 0-3"),
    ],
)
def test_a_bad_review_csv_is_refused_naming_the_file_and_problem(text: str, problem: str) -> None:
    with pytest.raises(InputError, match=problem) as caught:
        parse_review_csv(text, "x/review.csv")
    assert "x/review.csv" in str(caught.value)


def test_review_refuses_requests_without_its_token_and_listens_on_loopback_only(
    batch: Path,
) -> None:
    with serving(batch) as server:
        assert server.server_address[0] == HOST == "127.0.0.1"
        base = f"http://127.0.0.1:{server.port}"
        report = f"{base}/study/A1/report.html"
        assert _get(report)[0] == 403
        assert _get(report + "?token=wrong")[0] == 403
        assert _post(f"{base}/study/A1/review.csv?token=wrong", "x")[0] == 403
        assert _get(f"{base}/api/studies")[0] == 403
        status, body = _get(f"{report}?token={server.token}")
        assert status == 200 and b"modicmap-data" in body
        assert json.loads(_get(f"{base}/api/studies?token={server.token}")[1]) == {
            "studies": ["A1", "B2"]
        }
        assert _get(f"{base}/study/ZZ/report.html?token={server.token}")[0] == 404
        assert len(server.token) >= 24
        # not reachable on this machine's other addresses
        others = {
            info[4][0]
            for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
            if not info[4][0].startswith("127.")
        }
        for address in others:
            with pytest.raises(OSError), socket.create_connection((address, server.port), 2):
                pass


def test_review_writes_a_valid_post_with_the_folder_as_study_and_refuses_a_bad_one(
    tmp_path: Path,
) -> None:
    write_graded_study(tmp_path / "C3", slices=3, matrix=96)
    rows = [ReviewRow("someone-else", "L4-L5", 2, "level", 1, 0, "dr-b", "t", "")]
    text = write_review_csv(rows, tmp_path / "draft.csv").read_text()
    with serving(tmp_path) as server:
        url = f"http://127.0.0.1:{server.port}/study/C3/review.csv?token={server.token}"
        assert _post(url, "not,a,review\n1,2,3\n")[0] == 400
        assert not (tmp_path / "C3" / "review.csv").exists()
        assert _post(url, text)[0] == 200
        status, body = _get(url)
    assert status == 200 and b"dr-b" in body
    saved = read_review_csv(tmp_path / "C3" / "review.csv")
    assert [(r.study_id, r.modic_reader, r.reader) for r in saved] == [("C3", 0, "dr-b")]


def test_one_run_folder_is_one_study_and_a_folder_without_reports_is_bad_input(
    batch: Path, tmp_path: Path
) -> None:
    assert find_studies(batch / "A1").ids == ["A1"]
    assert main(["review", str(tmp_path)]) == 2
    assert main(["review", str(tmp_path / "missing")]) == 2


def test_a_folder_of_reviews_reads_as_per_level_gradings(tmp_path: Path) -> None:
    folder = tmp_path / "S9"
    folder.mkdir()
    write_review_csv(
        [
            ReviewRow("S9", "L4-L5", 2, "level", 1, 0, "r", "t"),
            ReviewRow("S9", "L5-S1", 1, "upper", 0, 2, "r", "t"),
            ReviewRow("S9", "L5-S1", 1, "lower", 0, 0, "r", "t"),
            ReviewRow("S9", "L3-L4", 3, "upper", 0, 1, "r", "t"),  # one endplate: no level
        ],
        folder / "review.csv",
    )
    assert read_gradings(tmp_path) == {("S9", 2): 0, ("S9", 1): 2}
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match=r"no review\.csv"):
        read_gradings(empty)


@pytest.mark.browser
def test_a_review_entered_by_clicks_is_saved_and_calibrate_reads_it(
    tmp_path: Path,
) -> None:
    for study in ("A1", "B2"):
        write_graded_study(tmp_path / "runs" / study, slices=3, matrix=96)
    runs = tmp_path / "runs"
    with serving(runs) as server, chromium() as browser:
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(server.url)
        wait_for_viewer(page)
        page.locator("#reader").fill("dr-c")
        # A1: the reader sees no Modic at L4-L5 (machine: type 1), confirms the rest, saves
        level = page.locator("#review-table tr[data-level='L4-L5'][data-endplate='level']")
        level.locator("button[data-grade='0']").click()
        page.locator("#confirm-rest").click()
        page.locator("#save-review").click()
        page.wait_for_function(
            "document.getElementById('review-status').textContent.includes('saved')"
        )
        # the keyboard moves to the next study (B2), where Enter confirms row after row
        page.locator("h1").click()
        page.keyboard.press("n")
        page.wait_for_url("**/study/B2/report.html?token=*")
        wait_for_viewer(page)
        for _ in range(21):
            page.keyboard.press("Enter")
        page.locator("#save-review").click()
        page.wait_for_function(
            "document.getElementById('review-status').textContent.includes('saved')"
        )
        # reopening A1 shows its saved review
        page.goto(server.url)
        wait_for_viewer(page)
        assert "21 of 21 reviewed" in page.locator("#review-status").text_content()
    a1 = {(r.level, r.endplate): r for r in read_review_csv(runs / "A1" / "review.csv")}
    assert a1[("L4-L5", "level")].modic_reader == 0 and a1[("L4-L5", "level")].reader == "dr-c"
    assert len(read_review_csv(runs / "B2" / "review.csv")) == 21
    gradings = read_gradings(runs)
    assert gradings[("A1", 2)] == 0 and gradings[("B2", 2)] == 1 and len(gradings) == 14
    out = tmp_path / "bundle"
    assert main(["calibrate", "--runs", str(runs), "--gradings", str(runs), "--out", str(out)]) == 0
    grading = json.loads(next(out.glob("*.json")).read_text())["grading"]
    assert "(28 endplates)" in grading["source"]  # each reviewed level's two endplates


def test_evaluate_takes_a_folder_of_reviews_as_gradings(batch: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    for study in ("A1", "B2"):
        (runs / study).mkdir(parents=True)
        for name in ("levels.csv", "endplates.csv"):
            (runs / study / name).write_bytes((batch / study / name).read_bytes())
        rows = machine_rows(study, read_levels_csv(runs / study / "levels.csv"))
        # the reader disagrees at L4-L5 of A1 only
        rows = [
            replace(r, modic_reader=0, reader="r", time="t")
            if (study, r.level) == ("A1", "L4-L5")
            else replace(r, reader="r", time="t")
            for r in rows
        ]
        write_review_csv(rows, runs / study / "review.csv")
    out = tmp_path / "eval"
    argv = ["evaluate", "--runs", str(runs), "--gradings", str(runs), "--out", str(out)]
    assert main([*argv, "--bootstrap", "20"]) == 0
    result = json.loads((out / "metrics.json").read_text())
    assert result["matching"]["graded_levels"] == 14 and result["matching"]["runs"] == 2
