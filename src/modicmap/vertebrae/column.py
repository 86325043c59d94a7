"""Which candidate instances of a 3-D volume are vertebral bodies on the column.

A body candidate from the network is a body only when it sits on the spinal column, judged
in 3-D rather than slice by slice: it reaches the column's middle sagittal slices (the
column's left-right line through the volume-weighted centres of the candidates, fitted
against height), and it is not both far lateral of that line and much smaller than its
neighbours. On a real T2 volume a 3,000-voxel blob on the outermost 10 sagittal slices at
the height of S1 (the sacral ala, lateral to the column) passed every slice-wise rule, was
named L5 and shifted every name above it by one level; it fails both checks here.

Single slices and thin slabs (fewer than :data:`MIN_SLICES` slices) are left alone: they
hold no left-right information.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger(__name__)

#: slabs with fewer sagittal slices carry no left-right evidence
MIN_SLICES = 5
#: half-width of the column's middle: a body must reach a slice within this distance of the
#: column line at its height (the true bodies are 35-55 mm wide)
MIDLINE_HALF_WIDTH_MM = 6.0
#: a candidate whose centre lies farther than this from the column line ...
MAX_LATERAL_OFFSET_MM = 15.0
#: ... and whose volume is under this share of its neighbours' is not a body
MIN_LATERAL_VOLUME_RATIO = 0.5
#: any candidate under this share of its neighbours' volume is not a body (one that touches
#: the image's top or bottom is spared: the field of view may cut it)
MIN_VOLUME_RATIO = 0.2
#: neighbours compared with are on the middle slices and at least this share of the 90th
#: percentile of those candidates' volumes (a body's), so that specks are not neighbours
COMPARABLE_SHARE = 0.25


@dataclass(frozen=True)
class ColumnFit:
    """Evidence that one candidate is (or is not) a body on the column."""

    label: int
    voxels: int
    lateral_offset_mm: float  # distance of its centre from the column line, left-right
    on_midline: bool  # reaches the column's middle sagittal slices
    volume_ratio: float  # its volume / the median volume of its neighbours above and below
    reason: str  # "" when it is a body on the column, else why it is not

    @property
    def on_column(self) -> bool:
        return not self.reason


def _centres(labels: np.ndarray, ids: list[int], spacing_zyx: tuple[float, float, float]):
    from modicmap.vertebrae.postprocess import label_centroids

    centres = label_centroids(labels, spacing_zyx)
    return np.array([centres[i] for i in ids])


def column_line(
    centres_mm: np.ndarray, volumes: np.ndarray, rounds: int = 3
) -> tuple[float, float]:
    """(slope, intercept) of the left-right position against height, mm: a line fitted
    through the candidates' centres, weighted by volume (big bodies steer it), refitted
    without those farther than :data:`MAX_LATERAL_OFFSET_MM` from it."""
    zs, ys = centres_mm[:, 0], centres_mm[:, 1]
    keep = np.ones(len(zs), bool)
    coeffs = (0.0, float(np.average(zs, weights=volumes)))
    for _ in range(rounds):
        if keep.sum() >= 3 and np.ptp(ys[keep]) > 0:
            slope, intercept = np.polyfit(ys[keep], zs[keep], 1, w=np.sqrt(volumes[keep]))
            coeffs = (float(slope), float(intercept))
        else:
            coeffs = (0.0, float(np.average(zs[keep], weights=volumes[keep])))
        residual = np.abs(zs - np.polyval(coeffs, ys))
        new_keep = residual <= MAX_LATERAL_OFFSET_MM
        if new_keep.sum() < 2 or (new_keep == keep).all():
            break
        keep = new_keep
    return coeffs


def neighbour_volume_ratios(
    heights: np.ndarray, volumes: np.ndarray, comparable: np.ndarray
) -> np.ndarray:
    """Each candidate's volume over the median volume of its neighbours in height: the
    nearest ``comparable`` candidate above and the nearest below (one at the ends), so that
    a fragment is not compared with another fragment."""
    ratios = np.ones(len(volumes))
    for i in range(len(volumes)):
        others = [k for k in np.flatnonzero(comparable) if k != i]
        above = [k for k in others if heights[k] <= heights[i]]
        below = [k for k in others if heights[k] > heights[i]]
        around = [max(above, key=lambda k: heights[k])] if above else []
        around += [min(below, key=lambda k: heights[k])] if below else []
        if around:
            ratios[i] = volumes[i] / max(float(np.median(volumes[around])), 1.0)
    return ratios


def fit_to_column(labels: np.ndarray, spacing_zyx: tuple[float, float, float]) -> list[ColumnFit]:
    """The column evidence of every label of ``labels`` (int, arr[z, y, x]); every candidate
    passes on slabs of fewer than :data:`MIN_SLICES` slices or with fewer than three
    candidates."""
    ids = [int(v) for v in np.unique(labels) if v]
    volumes = np.bincount(labels.ravel())[ids].astype(float) if ids else np.zeros(0)
    if labels.shape[0] < MIN_SLICES or len(ids) < 3:
        return [ColumnFit(i, int(v), 0.0, True, 1.0, "") for i, v in zip(ids, volumes, strict=True)]
    centres = _centres(labels, ids, spacing_zyx)
    line = column_line(centres, volumes)
    half = max(MIDLINE_HALF_WIDTH_MM, spacing_zyx[0])
    present = np.zeros((labels.shape[0], int(labels.max()) + 1), bool)  # slice x label
    for z, part in enumerate(labels):
        present[z, np.unique(part)] = True
    line_z = np.polyval(line, centres[:, 1])
    offsets = np.abs(centres[:, 0] - line_z)
    on_midline = np.array(
        [
            (np.abs(np.flatnonzero(present[:, i]) * spacing_zyx[0] - line_z[k]) <= half).any()
            for k, i in enumerate(ids)
        ]
    )
    # neighbours to compare with: on the middle slices and not specks themselves
    big = volumes >= COMPARABLE_SHARE * np.percentile(volumes[on_midline], 90)
    ratios = neighbour_volume_ratios(centres[:, 1], volumes, on_midline & big)
    cut = {int(v) for v in np.unique(labels[:, :2, :])} | {
        int(v) for v in np.unique(labels[:, -2:, :])
    }
    fits = []
    for k, i in enumerate(ids):
        reason = ""
        if not on_midline[k]:
            reason = "does not reach the column's middle sagittal slices"
        elif offsets[k] > MAX_LATERAL_OFFSET_MM and ratios[k] < MIN_LATERAL_VOLUME_RATIO:
            reason = (
                f"lies {offsets[k]:.0f} mm lateral of the column and is "
                f"{ratios[k]:.2f} times its neighbours' volume"
            )
        elif ratios[k] < MIN_VOLUME_RATIO and i not in cut:
            reason = f"is only {ratios[k]:.2f} times its neighbours' volume"
        fits.append(
            ColumnFit(
                i, int(volumes[k]), float(offsets[k]), bool(on_midline[k]), float(ratios[k]), reason
            )
        )
    return fits


def drop_off_column(labels: np.ndarray, spacing_zyx: tuple[float, float, float]) -> int:
    """Remove, in place, the candidates that are not bodies on the column; returns how many."""
    fits = fit_to_column(labels, spacing_zyx)
    off = [f for f in fits if not f.on_column]
    if not off:
        return 0
    drop = np.zeros(int(labels.max()) + 1, bool)
    for fit in off:
        logger.info("vertebrae: a %d-voxel candidate %s: not a body", fit.voxels, fit.reason)
        drop[fit.label] = True
    labels[drop[labels]] = 0
    return len(off)
