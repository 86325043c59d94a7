"""Size and opening time of report.html for a clinical-size study (issue 26).

A synthetic 15 x 512 x 512 study (as `modicmap synth --slices 15 --matrix 512` writes it)
is run once with the bundled model; then report.html is opened N times in headless
Chromium (Debian /usr/bin/chromium through playwright, WebGL2 on SwiftShader, no GPU), each
in a fresh page, timing navigation -> the DOM's load event and navigation -> the viewer
ready (both panes drawn, all four volumes decoded). Also times a scripted review: clicks
to confirm or change every level and endplate of the study and download review.csv.

    python benchmarks/bench_report.py [--repeats 5] [--keep DIR]
    python benchmarks/bench_report.py --report DIR/report.html   # time an existing report

With --shoot PNG REPORT...: no benchmark; the viewer of each report.html, jumped to its
first level the machine graded Modic (else its lowest level), side by side in one PNG
(the figures of docs/reading-the-report.md).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from modicmap.pipeline.run import RunOptions, run_study
from modicmap.synth.cohort import write_study
from modicmap.synth.study import SynthOptions, synthesize_study

CHROMIUM = "/usr/bin/chromium"
#: as in the tests: WebGL2 on SwiftShader (no GPU), nothing that phones home
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
]


@contextmanager
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


def wait_for_viewer(page: Any) -> None:
    page.wait_for_function("window.modicmapViewer && window.modicmapViewer.ready", timeout=60_000)


def _browser_cpu_s() -> float:
    """CPU seconds (user + system) used so far by this process's children (Chromium and
    playwright's driver): less sensitive than wall time to other jobs on a shared machine."""
    import psutil

    total = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            times = child.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def _open_times(report: Path, repeats: int) -> dict[str, object]:
    import os

    loads, readies, cpus = [], [], []
    with chromium() as browser:
        for _ in range(repeats):
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            cpu = _browser_cpu_s()
            start = time.perf_counter()
            page.goto(report.as_uri(), wait_until="load")
            loads.append(time.perf_counter() - start)
            wait_for_viewer(page)
            readies.append(time.perf_counter() - start)
            cpus.append(_browser_cpu_s() - cpu)
            page.close()
        page = browser.new_page(accept_downloads=True, viewport={"width": 1200, "height": 900})
        page.goto(report.as_uri())
        wait_for_viewer(page)
        rows = page.locator("#review-table tbody tr").count()
        clicks = 0
        # the walk-through: change the first Modic endplate the machine graded, confirm the rest
        graded = page.locator("#review-table tbody tr:not([data-endplate='level']) td.m1")
        if graded.count():
            graded.first.locator("xpath=..").locator("button[data-grade='2']").click()
            clicks += 1
        page.locator("#confirm-rest").click()
        clicks += 1
        with page.expect_download():
            page.locator("#save-review").click()
        clicks += 1
    return {
        "load_s_median": round(statistics.median(loads), 3),
        "viewer_ready_s_median": round(statistics.median(readies), 3),
        "viewer_ready_s_max": round(max(readies), 3),
        "browser_cpu_s_median": round(statistics.median(cpus), 3),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        "repeats": repeats,
        "review_rows": rows,
        "review_clicks": clicks,
    }


def shoot(reports: list[Path], out: Path) -> Path:
    import io

    from PIL import Image, ImageDraw

    shots = []
    with chromium() as browser:
        for report in reports:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.goto(report.as_uri())
            wait_for_viewer(page)
            page.evaluate("window.modicmapViewer.layout('both')")
            page.wait_for_function("window.modicmapViewer.panes.length === 2")
            page.evaluate(
                """() => {
                  const rows = window.modicmapReview.rows;
                  const row = rows.find((r) => r.endplate === "level" && r.modic_machine > 0)
                    || rows[0];
                  if (row) window.modicmapViewer.jump(row.level, row.endplate);
                }"""
            )
            image = Image.open(io.BytesIO(page.locator("#viewer").screenshot())).convert("RGB")
            ImageDraw.Draw(image).text((8, image.height - 16), report.parent.name, fill="yellow")
            shots.append(image)
            page.close()
    width = sum(s.width for s in shots[:3])
    rows = [shots[i : i + 3] for i in range(0, len(shots), 3)]
    sheet = Image.new("RGB", (width, sum(max(s.height for s in r) for r in rows)), "white")
    y = 0
    for row in rows:
        x = 0
        for shot in row:
            sheet.paste(shot, (x, y))
            x += shot.width
        y += max(s.height for s in row)
    sheet.thumbnail((2000, 2000))
    sheet.save(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--keep", type=Path, default=None, help="copy report.html here")
    parser.add_argument("--report", type=Path, help="time this report.html instead (no run)")
    parser.add_argument("--shoot", nargs="+", type=Path, metavar=("PNG", "REPORT"))
    args = parser.parse_args()
    if args.shoot:
        print(shoot(args.shoot[1:], args.shoot[0]))
        return
    if args.report:
        size = args.report.stat().st_size
        result = {"report": str(args.report), "report_mb": round(size / 1e6, 2)}
        print(json.dumps({**result, **_open_times(args.report, args.repeats)}, indent=2))
        return
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        study = synthesize_study(99, SynthOptions(slices=15, matrix=512), study_id="bench")
        t1, t2 = write_study(study, root / "bench")
        start = time.perf_counter()
        run_study(t1, t2, root / "out", RunOptions())
        run_s = time.perf_counter() - start
        report = root / "out" / "report.html"
        result = {
            "t1_size": study.t1.GetSize(),
            "run_s": round(run_s, 1),
            "report_bytes": report.stat().st_size,
            "report_mb": round(report.stat().st_size / 1e6, 2),
            **_open_times(report, args.repeats),
        }
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            (args.keep / "report.html").write_bytes(report.read_bytes())
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
