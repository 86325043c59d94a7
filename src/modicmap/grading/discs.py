"""The disc between two found bodies: its signal relative to the bodies' marrow.

Modic changes sit next to degenerated discs: in SPIDER's gradings the Pfirrmann grade
alone ranks "any Modic at this level" with ROC AUC 0.82. A degenerated disc loses its
T2 signal (and T1 contrast) and narrows, all visible on the same slices the marrow is
graded on, so the level model (:mod:`modicmap.grading.level_model`) reads the disc as
context beside the V-Net's marrow evidence.

Region (documented decision): on each slice, the convex hull of the two bodies minus each
body's own convex hull (which removes the bodies' concave flanks) is the space between
them; its largest connected piece, eroded by one pixel, is the disc; its core is the
middle half along the disc's long (anterior-posterior) axis, which holds the nucleus.
Signals are the median of the core divided by the median of all body marrow on the same
slices (so the 8-bit min-max scaling of SPIDER and scanner gain cancel). On a stack the
slices within ``HALF_WINDOW_MM`` of the level's centre are used and their medians pooled
(:func:`level_slices`, shared with the level network's patches). A disc whose upper body
is not in the image (cut by the field of view) is read above the lower body alone
(:func:`disc_above`).
Written here rather than taken from a segmentation model: no public model outputs discs
for T1 and T2 sagittal MRI of any contrast, and the bodies already bound the disc.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.morphology import convex_hull_image

logger = logging.getLogger(__name__)

#: slices within this distance (left-right) of the level's centre are read on a stack
HALF_WINDOW_MM = 4.0
#: a disc piece smaller than this (pixels) is not read
MIN_DISC_PIXELS = 8
#: the height of a disc whose upper body is not in the image, as a share of the body below
#: (lumbar discs are a quarter to a third of their bodies' height; the image may cut it)
DISC_HEIGHT = 0.25


@dataclass(frozen=True)
class DiscSignal:
    """Signals of one disc relative to the bodies' marrow on the same slices."""

    upper_code: int
    lower_code: int
    t1_ratio: float  # median T1 of the disc core / median T1 of the body marrow
    t2_ratio: float  # NaN when the T2 has no marrow signal there
    slices: int  # how many slices were read


def central_slices(slices: np.ndarray, centre: float, slice_mm: float) -> np.ndarray:
    """The ``slices`` within ``HALF_WINDOW_MM`` of ``centre`` (the nearest one when none is)."""
    near = slices[np.abs(slices - centre) * slice_mm <= HALF_WINDOW_MM]
    if near.size == 0 and slices.size:
        near = slices[[int(np.argmin(np.abs(slices - centre)))]]
    return near


def level_slices(upper: np.ndarray, lower: np.ndarray, slice_mm: float) -> np.ndarray:
    """The sagittal slices a level is read on (disc signals and level-network patches alike):
    of the slices where both bodies (boolean ``[z, y, x]`` masks) show, those within
    ``HALF_WINDOW_MM`` of their pixel-weighted centre; empty when they never show together."""
    upper_area, lower_area = upper.sum(axis=(1, 2)), lower.sum(axis=(1, 2))
    both = np.flatnonzero((upper_area > 0) & (lower_area > 0))
    if both.size == 0:
        return both
    centre = float(np.average(both, weights=upper_area[both] + lower_area[both]))
    return central_slices(both, centre, slice_mm)


def disc_above(
    lower: np.ndarray, others: np.ndarray | None = None, in_view: np.ndarray | None = None
) -> np.ndarray | None:
    """The disc above a body whose upper neighbour is not in the image (cut by the field of
    view; 2-D boolean masks), or None: in each of the body's columns, the rows above its top
    edge up to ``DISC_HEIGHT`` times the body's height (the image's top edge may cut it), one
    pixel clear of the edge, ``others`` left out, only the rows ``in_view`` (1-D boolean: rows
    that carry signal; the zero rows some series are padded with at the top are not the
    disc), eroded by one pixel like :func:`disc_region`."""
    rows = np.flatnonzero(lower.any(axis=1))
    if rows.size == 0:
        return None
    reach = max(2, round(DISC_HEIGHT * (rows[-1] - rows[0] + 1)))
    grid = np.arange(lower.shape[0])[:, None]
    edge = np.where(lower, grid, lower.shape[0]).min(axis=0)  # the body's top row per column
    band = lower.any(axis=0)[None, :] & (grid < edge - 1) & (grid >= edge - 1 - reach)
    if others is not None:
        band &= ~others
    if in_view is not None:
        band &= in_view[:, None]
    band = ndimage.binary_erosion(band)
    return band if int(band.sum()) >= MIN_DISC_PIXELS else None


def disc_region(
    upper: np.ndarray, lower: np.ndarray, others: np.ndarray | None = None
) -> np.ndarray | None:
    """The disc between two body masks of one slice (2-D boolean; ``others``: any other
    body voxels, left out), or None."""
    if not upper.any() or not lower.any():
        return None
    between = convex_hull_image(upper | lower)
    between &= ~convex_hull_image(upper) & ~convex_hull_image(lower)
    if others is not None:
        between &= ~others
    between = ndimage.binary_erosion(between)
    labels, n = ndimage.label(between)
    if n == 0:
        return None
    sizes = ndimage.sum_labels(between, labels, range(1, n + 1))
    disc = labels == 1 + int(np.argmax(sizes))
    return disc if int(disc.sum()) >= MIN_DISC_PIXELS else None


def disc_core(disc: np.ndarray) -> np.ndarray:
    """The middle half of ``disc`` along its long axis (principal axis of its pixels)."""
    points = np.argwhere(disc).astype(np.float64)
    centred = points - points.mean(axis=0)
    _, vectors = np.linalg.eigh(np.cov(centred.T))
    along = centred @ vectors[:, -1]
    lo, hi = np.percentile(along, [25, 75])
    keep = points[(along >= lo) & (along <= hi)].astype(int)
    core = np.zeros_like(disc)
    core[keep[:, 0], keep[:, 1]] = True
    return core


def disc_signals(
    t1: np.ndarray,
    t2: np.ndarray,
    vertebrae: np.ndarray,
    spacing_zyx: tuple[float, float, float],
    pairs: list[tuple[int, int]],
) -> dict[tuple[int, int], DiscSignal]:
    """Signals of the discs between the (upper, lower) VerSe-coded bodies of ``pairs``
    (arrays ``[z, y, x]``, T2 on the T1 grid); pairs whose disc cannot be read are left out."""
    bodies = vertebrae > 0
    boxes = ndimage.find_objects(vertebrae.astype(np.int32))  # box of every label, one pass
    out: dict[tuple[int, int], DiscSignal] = {}
    for upper_code, lower_code in pairs:
        if max(upper_code, lower_code) > len(boxes):
            continue
        a, b = boxes[upper_code - 1], boxes[lower_code - 1]
        if b is None:
            continue
        if a is None:  # the upper body is not in the image: the disc above the lower one
            box = (b[0], slice(0, b[1].stop), b[2])
        else:
            box = tuple(
                slice(min(p.start, q.start), max(p.stop, q.stop)) for p, q in zip(a, b, strict=True)
            )
        labels = vertebrae[box]
        upper, lower = labels == upper_code, labels == lower_code
        others = bodies[box]
        z0 = box[0].start
        if a is None:
            area = lower.sum(axis=(1, 2))
            shown = np.flatnonzero(area)
            centre = float(np.average(shown, weights=area[shown]))
            near = central_slices(shown, centre, spacing_zyx[0])
        else:
            near = level_slices(upper, lower, spacing_zyx[0])
        t1_values, t2_values, marrow1, marrow2 = [], [], [], []
        for z in near:
            if a is None:
                # rows padded with zeros (T1) or outside the T2's field of view carry no disc
                in_view = (t1[z0 + z][box[1:]].max(axis=1) > 0) & (
                    t2[z0 + z][box[1:]].max(axis=1) > 0
                )
                disc = disc_above(lower[z], others[z] & ~lower[z], in_view)
            else:
                disc = disc_region(upper[z], lower[z], others[z])  # hulls on the pair's box
            if disc is None:
                continue
            core = disc_core(disc)
            t1_values.append(t1[z0 + z][box[1:]][core])
            t2_values.append(t2[z0 + z][box[1:]][core])
            marrow1.append(t1[z0 + z][bodies[z0 + z]])
            marrow2.append(t2[z0 + z][bodies[z0 + z]])
        if not t1_values:
            continue
        m1 = float(np.median(np.concatenate(marrow1)))
        m2 = float(np.median(np.concatenate(marrow2)))
        if m1 <= 0:
            logger.debug("disc %s-%s: T1 marrow median is 0", upper_code, lower_code)
            continue
        # a T2 without signal in the bodies (it shows other anatomy) leaves the T1 readable
        t2_ratio = float(np.median(np.concatenate(t2_values))) / m2 if m2 > 0 else math.nan
        out[(upper_code, lower_code)] = DiscSignal(
            upper_code=upper_code,
            lower_code=lower_code,
            t1_ratio=float(np.median(np.concatenate(t1_values))) / m1,
            t2_ratio=t2_ratio,
            slices=len(t1_values),
        )
    return out
