"""Evaluation figures like the paper's: Fig. 2 (lesion voxels in (T1 z, T2 z) with the type
centroids) and Fig. 4 (per-type sensitivity and specificity). Fig. 3 (the ROC of the
endplate threshold) is :func:`modicmap.evaluation.calibration.roc_figure`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from modicmap.evaluation.voxel import LesionVoxels

TYPE_COLOURS = {1: "#d62728", 2: "#e8b400", 3: "#1f5fbf"}

#: Gao et al. (ISMRM abstract), per endplate: sensitivity and specificity of types 1-3
PAPER_PER_TYPE = {"sensitivity": (0.54, 0.68, 0.67), "specificity": (0.86, 0.87, 0.81)}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _scatter_panel(
    ax: Any,
    t1z: np.ndarray,
    t2z: np.ndarray,
    types: np.ndarray,
    centroids: Sequence[tuple[tuple[float, float], tuple[float, float]]] | None,
    title: str,
    rng: np.random.Generator,
    max_points: int,
    reference: Sequence[tuple[tuple[float, float], tuple[float, float]]] | None = None,
) -> None:
    """One scatter of lesion voxels by type; ``centroids`` drawn as X with 1-sd ellipses,
    ``reference`` centroids (for comparison) as open circles."""
    from matplotlib.patches import Ellipse

    for t in (1, 2, 3):
        idx = np.flatnonzero(types == t)
        n_all = idx.size
        if idx.size > max_points:
            idx = rng.choice(idx, max_points, replace=False)
        ax.scatter(
            t1z[idx],
            t2z[idx],
            s=2,
            alpha=0.25,
            color=TYPE_COLOURS[t],
            rasterized=True,
            label=f"type {t} ({n_all} voxels)",
        )
    for t, (mean, sd) in enumerate(centroids or (), start=1):
        ax.add_patch(
            Ellipse(mean, 2 * sd[0], 2 * sd[1], fill=False, lw=1.5, ls="--", color=TYPE_COLOURS[t])
        )
        ax.plot(*mean, marker="X", ms=11, color=TYPE_COLOURS[t], mec="black", mew=1.0)
    for t, (mean, _) in enumerate(reference or (), start=1):
        ax.plot(*mean, marker="o", ms=12, mfc="white", mec="black", mew=1.5, alpha=0.9)
        ax.plot(*mean, marker=".", ms=6, color=TYPE_COLOURS[t])
    ax.axhline(0, color="grey", lw=0.5)
    ax.axvline(0, color="grey", lw=0.5)
    ax.set_xlim(-4, 5)
    ax.set_ylim(-4, 5)
    ax.set_xlabel("T1 z-score")
    ax.set_ylabel("T2 z-score")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper right", fontsize=7, markerscale=4)


def _centroids_of(t1z: np.ndarray, t2z: np.ndarray, types: np.ndarray) -> list[Any]:
    out = []
    for t in (1, 2, 3):
        m = types == t
        if m.sum() < 2:
            out.append(((float("nan"), float("nan")), (0.0, 0.0)))
        else:
            out.append(
                (
                    (float(t1z[m].mean()), float(t2z[m].mean())),
                    (float(t1z[m].std()), float(t2z[m].std())),
                )
            )
    return out


def scatter_figure(voxels: LesionVoxels, path: Path, *, max_points: int = 4000) -> Path:
    """Fig. 2: truth lesion voxels by truth type with their centroids (mean, sd ellipse)
    and, as open circles, the centroids the run typed with (from its summary.json); beside
    it the run's lesion voxels by the type the run gave them, with those centroids."""
    plt = _pyplot()
    rng = np.random.default_rng(0)
    fig, axes = plt.subplots(1, 2, figsize=(10, 5), sharex=True, sharey=True)
    used = None
    if voxels.centroids_used:
        used = list(
            zip(
                map(tuple, voxels.centroids_used["means"]),
                map(tuple, voxels.centroids_used["sds"]),
                strict=True,
            )
        )
    _scatter_panel(
        axes[0],
        voxels.t1z,
        voxels.t2z,
        voxels.truth,
        _centroids_of(voxels.t1z, voxels.t2z, voxels.truth),
        "truth lesion voxels, truth type\n(X, dashed: their mean and 1 sd; o: centroids used)",
        rng,
        max_points,
        reference=used,
    )
    _scatter_panel(
        axes[1],
        voxels.t1z,
        voxels.t2z,
        voxels.predicted,
        used,
        "run lesion voxels, type given by the run\n(X, dashed: centroids it typed with, 1 sd)",
        rng,
        max_points,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def per_type_figure(
    panels: Mapping[
        str, tuple[Mapping[int, Mapping[str, float]], Mapping[str, tuple[float, float]]]
    ],
    path: Path,
    *,
    paper_reference: bool = True,
) -> Path:
    """Fig. 4: per-type sensitivity and specificity with 95 % CI whiskers.

    ``panels`` maps a title (e.g. "endplates") to (per_type metrics as in
    :class:`~modicmap.evaluation.metrics.LevelMetrics`, CIs keyed ``type{t}_sensitivity``
    / ``type{t}_specificity`` as :func:`~modicmap.evaluation.voxel.bootstrap_cis` returns).
    The paper's per-endplate values are drawn as open diamonds for reference.
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4.8), squeeze=False)
    width = 0.38
    for ax, (title, (per_type, ci)) in zip(axes[0], panels.items(), strict=True):
        x = np.arange(3)
        for offset, stat, colour in (
            (-width / 2, "sensitivity", "#4c72b0"),
            (width / 2, "specificity", "#8c8c8c"),
        ):
            values = np.array([per_type[t][stat] for t in (1, 2, 3)], float)
            lo = np.array([ci.get(f"type{t}_{stat}", (np.nan, np.nan))[0] for t in (1, 2, 3)])
            hi = np.array([ci.get(f"type{t}_{stat}", (np.nan, np.nan))[1] for t in (1, 2, 3)])
            err = np.vstack([np.clip(values - lo, 0, None), np.clip(hi - values, 0, None)])
            err = np.nan_to_num(err)
            bars = ax.bar(
                x + offset,
                np.nan_to_num(values),
                width,
                color=colour,
                label=stat,
                yerr=err,
                capsize=4,
            )
            for bar, v in zip(bars, values, strict=True):
                ax.text(
                    bar.get_x() + bar.get_width() / 2,
                    0.02,
                    "n/a" if np.isnan(v) else f"{v:.2f}",
                    ha="center",
                    va="bottom",
                    fontsize=8,
                    color="white",
                )
            if paper_reference:
                ax.plot(
                    x + offset,
                    PAPER_PER_TYPE[stat],
                    "D",
                    mfc="none",
                    mec="black",
                    ms=6,
                    label="Gao et al. (abstract)" if stat == "sensitivity" else None,
                )
        graded = [int(per_type[t].get("graded", 0)) for t in (1, 2, 3)]
        ax.set_xticks(x, [f"type {t}\n(n = {g})" for t, g in zip((1, 2, 3), graded, strict=True)])
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("rate (95% CI, patient bootstrap)")
        ax.set_title(title, fontsize=10)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
