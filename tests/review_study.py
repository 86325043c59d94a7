"""A tiny graded study written straight through ``write_report`` (no pipeline run), for the
viewer and review tests: eight bodies T11-S1 (seven levels), Modic blobs at three endplates."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modicmap.grading.tables import (
    EndplateGrade,
    LevelGrade,
    write_endplates_csv,
    write_levels_csv,
)
from modicmap.grading.typing import Centroids
from modicmap.labels import vertebra_code
from modicmap.zscore import BodyStats, ZScoreMaps

BODIES = ("T11", "T12", "L1", "L2", "L3", "L4", "L5", "S1")
#: (vertebra, endplate) -> Modic type painted in the study
LESIONS = {("L4", "inferior"): 1, ("L5", "superior"): 1, ("L2", "inferior"): 2}


def write_graded_study(
    folder: Path, *, slices: int = 5, matrix: int = 128, study_id: str | None = None
) -> Path:
    """Write report.html, levels.csv and endplates.csv of a synthetic study into ``folder``."""
    from modicmap.report.html import write_report

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    shape = (slices, matrix, matrix)
    vertebrae = np.zeros(shape, np.uint8)
    modic = np.zeros(shape, np.uint8)
    unit = matrix * 0.9 / len(BODIES)
    x0, x1 = int(matrix * 0.35), int(matrix * 0.6)
    zs = slice(max(0, slices // 2 - 1), slices // 2 + 2)
    for i, name in enumerate(BODIES):
        y0 = int(matrix * 0.05 + i * unit)
        y1 = int(y0 + 0.75 * unit)
        vertebrae[:, y0:y1, x0:x1] = vertebra_code(name)
        for (vertebra, endplate), kind in LESIONS.items():
            if vertebra == name:
                rows = slice(y1 - 4, y1) if endplate == "inferior" else slice(y0, y0 + 4)
                modic[zs, rows, x0 + 3 : x0 + 12] = kind
    t1 = rng.normal(100, 8, shape).astype(np.float32) + 150 * (vertebrae > 0)
    t2 = rng.normal(120, 8, shape).astype(np.float32) + 80 * (vertebrae > 0)
    t1[modic == 1] -= 100
    t2[modic == 1] += 120
    t1[modic == 2] += 80
    endplates = []
    for name in BODIES:
        for side in ("superior", "inferior"):
            kind = LESIONS.get((name, side), 0)
            endplates.append(
                EndplateGrade(
                    name,
                    side,
                    kind,
                    float(kind == 1),
                    float(kind == 2),
                    0.0,
                    30.0 * bool(kind),
                    0.9 if kind else 0.1,
                )
            )
    grade = {(e.vertebra, e.endplate): e.modic for e in endplates}
    levels = []
    for i in range(len(BODIES) - 1):
        upper, lower = BODIES[i], BODIES[i + 1]
        up, low = grade[(upper, "inferior")], grade[(lower, "superior")]
        levels.append(
            LevelGrade(
                f"{upper}-{lower}",
                len(BODIES) - 1 - i,
                upper,
                lower,
                max(up, low),
                up,
                low,
                0.9 if up or low else 0.1,
            )
        )
    levels.sort(key=lambda r: r.index_from_sacrum)
    zeros = np.zeros(shape, np.float32)
    write_report(
        folder / "report.html",
        t1=t1,
        t2=t2,
        modic=modic,
        vertebrae=vertebrae,
        zmaps=ZScoreMaps(zeros, zeros, BodyStats(0.0, 1.0), BodyStats(0.0, 1.0)),
        centroids=Centroids(((-1.0, 1.0), (1.0, 0.5), (-1.0, -1.0)), ((0.5, 0.5),) * 3, "test"),
        endplates=endplates,
        levels=levels,
        summary={"software": {"modicmap": "test"}, "model": {"id": "test"}, "warnings": []},
        spacing_zyx=(4.0, 0.8, 0.8),
        study_id=study_id,
    )
    write_levels_csv(levels, folder / "levels.csv")
    write_endplates_csv(endplates, folder / "endplates.csv")
    return folder / "report.html"


CHROMIUM = "/usr/bin/chromium"
#: headless Chromium without a GPU: WebGL2 through SwiftShader, and nothing that phones home
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
)


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium driven by playwright; skips (with the reason) where the Debian
    chromium or the pip package playwright is missing. Never downloads a browser."""
    if shutil.which(CHROMIUM) is None:
        pytest.skip("headless Chromium is not installed (Debian package: chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip package playwright missing")
    with sync_api.sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            yield browser
        finally:
            browser.close()


def wait_for_viewer(page: Any) -> None:
    page.wait_for_function("window.modicmapViewer && window.modicmapViewer.ready", timeout=60_000)
