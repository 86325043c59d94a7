"""report.html's viewer and review table: what the page embeds, and, in a real headless
Chromium, that it opens offline, draws, jumps, and hands the reader's review back."""

from __future__ import annotations

import gzip
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from modicmap.report.viewer import NIIVUE_VERSION, lumbar_crop, outlines, viewer_data
from modicmap.review.table import read_review_csv
from review_study import chromium, wait_for_viewer, write_graded_study


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_graded_study(tmp_path_factory.mktemp("viewer") / "study-7", slices=5, matrix=128)


def _embedded(report: Path) -> dict:
    text = report.read_text(encoding="utf-8")
    match = re.search(r'<script type="application/json" id="modicmap-data">(.*?)</script>', text)
    assert match is not None
    return json.loads(match.group(1).replace("<\\/", "</"))


def test_the_report_embeds_the_volumes_niivue_and_every_review_row(report: Path) -> None:
    text = report.read_text(encoding="utf-8")
    data = _embedded(report)
    assert set(data["volumes"]) == {"t1", "t2", "modic", "outlines"}
    # gzipped NIfTI-1 (header size 348) in base64
    import base64

    raw = gzip.decompress(base64.b64decode(data["volumes"]["modic"]))
    assert int.from_bytes(raw[:4], "little") == 348
    from modicmap.report.viewer import niivue_script

    assert niivue_script()[:300] in text  # NiiVue inlined, not linked
    # 7 levels, each with its level row and two endplate rows, machine grades as levels.csv
    assert len(data["rows"]) == 21
    graded = {(r["level"], r["endplate"]): r["modic_machine"] for r in data["rows"]}
    assert graded[("L4-L5", "upper")] == 1 and graded[("L4-L5", "level")] == 1
    assert graded[("L2-L3", "upper")] == 2 and graded[("L1-L2", "level")] == 0
    # no address the browser could fetch: everything is inline
    assert not re.search(r'(src|href)="(https?:)?//', text)
    # the static figures stay for printing
    assert text.count("data:image/png;base64,") >= 3


def test_a_row_jumps_to_the_slice_where_its_lesion_is(report: Path) -> None:
    data = _embedded(report)
    targets = {(t["level"], t["endplate"]): t["voxel"] for t in data["targets"]}
    assert len(targets) == 21
    _, y, z = targets[("L4-L5", "upper")]
    assert z in (1, 2, 3)  # the lesion slices of the 5-slice study (slices 1-3)
    names = data["name_points"]
    assert names["L4"][1] <= y < names["L5"][1]  # in L4, not in L5
    _, y, z = targets[("L4-L5", "level")]
    assert z in (1, 2, 3) and names["L4"][1] < y < names["L5"][1]  # between the two bodies


def test_the_volumes_are_cropped_to_the_lumbar_bodies_with_a_margin() -> None:
    vertebrae = np.zeros((3, 200, 200), np.uint8)
    vertebrae[:, 20:40, 50:90] = 19  # T12: not lumbar, outside the crop
    vertebrae[:, 60:160, 80:120] = 22  # L3
    rows, cols = lumbar_crop(vertebrae, (4.0, 1.0, 1.0))
    assert (rows.start, rows.stop, cols.start, cols.stop) == (40, 180, 60, 140)
    # a reported level's body above L1 (T11-T12 graded) is kept in view
    rows, cols = lumbar_crop(vertebrae, (4.0, 1.0, 1.0), ("T12", "L1"))
    assert (rows.start, rows.stop, cols.start, cols.stop) == (0, 180, 30, 140)
    ring = outlines(vertebrae)
    assert ring[1, 100, 100] == 0 and ring[1, 60, 100] == 22 and ring[1, 100, 80] == 22


def test_a_15_slice_512_study_stays_far_below_10_mb(tmp_path: Path) -> None:
    report = write_graded_study(tmp_path / "big", slices=15, matrix=512)
    assert report.stat().st_size < 10_000_000


def test_the_vendored_niivue_is_recorded_with_its_licence() -> None:
    vendor = Path(__file__).parents[1] / "src" / "modicmap" / "report" / "vendor"
    assert "BSD 2-Clause" in (vendor / "LICENSE-niivue").read_text()
    assert NIIVUE_VERSION in (vendor / "README.md").read_text()
    code = gzip.decompress((vendor / "niivue.umd.js.gz").read_bytes())
    assert code.startswith(b"(function(") and len(code) > 1_000_000


def test_viewer_data_without_vertebrae_keeps_the_whole_image() -> None:
    t1 = np.random.default_rng(0).normal(size=(2, 30, 20)).astype(np.float32)
    empty = np.zeros((2, 30, 20), np.uint8)
    data = viewer_data(
        study_id="s",
        t1=t1,
        t2=t1,
        modic=empty,
        vertebrae=empty,
        levels=[],
        spacing_zyx=(4.0, 1.0, 1.0),
    )
    assert data.targets == () and data.rows == () and data.slices == 2


def _pane(page) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(page.locator("#pane-a").screenshot())).convert("RGB"))


@pytest.mark.browser
def test_the_report_opens_offline_draws_and_jumps(report: Path) -> None:
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors: list[str] = []
        requests: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(report.as_uri())
        wait_for_viewer(page)
        first = _pane(page)
        start = page.evaluate("window.modicmapViewer.slice()")
        # another slice, by the slider
        page.evaluate(
            "(k) => { const s = document.getElementById('slice'); s.value = String(k); "
            "s.dispatchEvent(new Event('input')); }",
            5 if start != 4 else 1,
        )
        other = _pane(page)
        assert page.evaluate("window.modicmapViewer.slice()") != start
        assert np.abs(first.astype(int) - other).sum() > 0
        # back to a lesion slice by clicking the L4-L5 row of the levels table
        page.locator("table tr[data-level='L4-L5'][data-endplate='level']").first.click()
        data = _embedded(report)
        target = next(
            t for t in data["targets"] if t["level"] == "L4-L5" and t["endplate"] == "level"
        )
        assert page.evaluate("window.modicmapViewer.slice()") == target["voxel"][2]
        with_map = _pane(page)
        page.locator("#show-modic").click()  # the Modic overlay off
        without_map = _pane(page)
        changed = np.abs(with_map.astype(int) - without_map).sum(axis=2) > 30
        assert changed.sum() > 50
        # the red (type 1) overlay pixels are the ones that went
        red = (with_map[..., 0] > 150) & (with_map[..., 1] < 100)
        assert red.sum() > 20 and (red & changed).sum() > 0.8 * red.sum()
        # T2 in the same pane (the t key), then T1 | T2 side by side in a second pane
        page.keyboard.press("t")
        assert page.locator("#pane-a .pane-title").text_content() == "T2 (registered)"
        assert np.abs(_pane(page).astype(int) - without_map).sum() > 0
        page.locator("#layout").select_option("both")
        page.wait_for_function("window.modicmapViewer.panes.length === 2")
        assert page.locator("#pane-b").is_visible()
        assert page.locator("#pane-a .pane-title").text_content() == "T1"
        assert errors == []
        assert all(u.startswith(("file:", "data:", "blob:")) for u in requests), requests


@pytest.mark.browser
def test_a_reader_reviews_seven_levels_in_a_few_clicks_and_downloads_review_csv(
    report: Path, tmp_path: Path
) -> None:
    with chromium() as browser:
        page = browser.new_page(accept_downloads=True, viewport={"width": 1200, "height": 900})
        page.goto(report.as_uri())
        wait_for_viewer(page)
        clicks = 0
        page.locator("#reader").fill("dr-a")  # typed, not a click
        row = page.locator("#review-table tr[data-level='L4-L5'][data-endplate='upper']")
        row.locator("button[data-grade='2']").click()  # the reader sees type 2, not 1
        clicks += 1
        row = page.locator("#review-table tr[data-level='L2-L3'][data-endplate='level']")
        row.locator("button[data-grade='0']").click()  # and no change at L2-L3
        clicks += 1
        row.locator("input").fill("fat in the endplate, not Modic")
        page.locator("#confirm-rest").click()
        clicks += 1
        with page.expect_download() as download:
            page.locator("#save-review").click()
        clicks += 1
        assert clicks <= 15
        saved = tmp_path / "review.csv"
        download.value.save_as(saved)
    rows = read_review_csv(saved)
    assert len(rows) == 21 and {r.reader for r in rows} == {"dr-a"}
    by = {(r.level, r.endplate): r for r in rows}
    assert by[("L4-L5", "upper")].modic_machine == 1 and by[("L4-L5", "upper")].modic_reader == 2
    assert by[("L2-L3", "level")].modic_reader == 0
    assert by[("L2-L3", "level")].note == "fat in the endplate, not Modic"
    assert by[("L4-L5", "lower")].modic_reader == by[("L4-L5", "lower")].modic_machine == 1
    assert all(r.study_id == "study-7" and r.time for r in rows)
