"""Figures drawn with matplotlib (Agg backend: no screen needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _window(image: np.ndarray) -> np.ndarray:
    low, high = np.percentile(image, (1.0, 99.5))
    return np.clip((image - low) / max(high - low, 1e-6), 0.0, 1.0)


def registration_overlay(
    t1_slice: np.ndarray, t2_slice: np.ndarray, path: Path, *, title: str = "", tiles: int = 8
) -> Path:
    """T1 beside a T1/T2 checkerboard and T1 with the registered T2's edges (red).

    Arrays are one canonical sagittal slice (rows superior -> inferior, columns
    anterior -> posterior), T2 already resampled onto the T1 grid.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from skimage.feature import canny

    a, b = _window(t1_slice), _window(t2_slice)
    rows, cols = a.shape
    yy, xx = np.mgrid[:rows, :cols]
    board = ((yy * tiles // rows) + (xx * tiles // cols)) % 2 == 0
    checker = np.where(board, a, b)
    edges = canny(b, sigma=2.0, low_threshold=0.05, high_threshold=0.15)
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.6), dpi=90)
    axes[0].imshow(a, cmap="gray")
    axes[0].set_title("T1")
    axes[1].imshow(checker, cmap="gray")
    axes[1].set_title("checkerboard T1 / registered T2")
    axes[2].imshow(a, cmap="gray")
    overlay = np.zeros((rows, cols, 4))
    overlay[edges] = (1.0, 0.15, 0.1, 0.9)
    axes[2].imshow(overlay)
    axes[2].set_title("T1 + registered T2 edges")
    for ax in axes:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
