"""The swapped-sequence check: the spinal canal is bright on T2 and dark on T1."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from modicmap.pipeline.sequence_check import canal_to_marrow, swapped_warning

SPACING = (4.0, 1.0, 1.0)


def _spine(canal: float) -> tuple[np.ndarray, np.ndarray]:
    """Five lumbar bodies (marrow 100) stacked in one slice, the canal 5-15 mm behind them
    (``canal``), other tissue 60; canonical grid: columns run posterior."""
    image = np.full((1, 200, 120), 60.0, np.float32)
    labels = np.zeros(image.shape, np.uint8)
    for i, code in enumerate(range(20, 25)):
        rows = slice(20 + 35 * i, 48 + 35 * i)
        labels[0, rows, 30:70] = code
        image[0, rows, 30:70] = 100.0
    image[0, :, 74:84] = canal
    return image, labels


def test_canal_to_marrow_reads_the_strip_behind_the_bodies() -> None:
    image, labels = _spine(canal=250.0)
    assert canal_to_marrow(image, labels, SPACING) == pytest.approx(2.5)


def test_no_lumbar_body_no_reading() -> None:
    image, labels = _spine(canal=250.0)
    labels[labels > 0] = 19  # T12 only
    assert canal_to_marrow(image, labels, SPACING) is None
    assert swapped_warning(image, image, labels, SPACING) is None


def test_swapped_pair_warns_and_the_right_pair_does_not() -> None:
    t1, labels = _spine(canal=40.0)
    t2, _ = _spine(canal=300.0)
    assert swapped_warning(t1, t2, labels, SPACING) is None
    warning = swapped_warning(t2, t1, labels, SPACING)
    assert warning is not None and "swapped" in warning and "3.00 vs 0.40" in warning


@pytest.mark.real
def test_a_real_swapped_pair_is_flagged_in_summary_json(shared_data: Path, tmp_path: Path) -> None:
    from modicmap.cli.main import main

    images = shared_data / "spider-midsag" / "images"
    out = tmp_path / "swapped"
    argv = ["run", "--t1", str(images / "2_t2.nii.gz"), "--t2", str(images / "2_t1.nii.gz")]
    assert main([*argv, "--out", str(out), "--quiet"]) == 0
    warnings = json.loads((out / "summary.json").read_text())["warnings"]
    assert any("were T1 and T2 swapped" in w for w in warnings)
