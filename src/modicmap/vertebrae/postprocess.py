"""From network classes to one 3-D instance per vertebral body.

Steps: fill holes; split bodies joined across a thin disc by eroding before the
connected components and growing the parts back (watershed on the distance map);
drop small blobs and blobs away from the spine axis (bowel, bladder, presacral
tissue); keep one sacrum below the lowest body and merge body fragments that lie in it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.segmentation import watershed


@dataclass(frozen=True)
class Instances:
    labels: np.ndarray  # int32, 1..n = bodies ordered superior -> inferior, 0 elsewhere
    sacrum: np.ndarray  # bool mask of the sacrum (S1), may be empty
    removed: int  # blobs dropped as not part of the spine


def _fill_holes_per_slice(mask: np.ndarray) -> np.ndarray:
    return np.stack([ndimage.binary_fill_holes(s) for s in mask])


def split_bodies(
    mask: np.ndarray, spacing_zyx: tuple[float, float, float], erode_mm: float = 2.5
) -> np.ndarray:
    """Connected bodies split at narrow necks; returns int32 labels (arbitrary order)."""
    mask = _fill_holes_per_slice(mask)
    radius = max(1, round(erode_mm / min(spacing_zyx[1:])))
    structure = np.zeros((1, 2 * radius + 1, 2 * radius + 1), bool)
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    structure[0] = yy**2 + xx**2 <= radius**2
    cores = ndimage.binary_erosion(mask, structure)
    markers, _ = ndimage.label(cores)
    if markers.max() == 0:
        markers, _ = ndimage.label(mask)
        return markers.astype(np.int32)
    distance = ndimage.distance_transform_edt(mask, sampling=spacing_zyx)
    return watershed(-distance, markers, mask=mask).astype(np.int32)


def _centroids_mm(
    labels: np.ndarray, spacing_zyx: tuple[float, float, float]
) -> dict[int, np.ndarray]:
    ids = [int(i) for i in np.unique(labels) if i]
    points = ndimage.center_of_mass(labels > 0, labels, ids)
    return {i: np.asarray(p) * np.asarray(spacing_zyx) for i, p in zip(ids, points, strict=True)}


def clean_instances(
    body: np.ndarray,
    sacrum: np.ndarray,
    spacing_zyx: tuple[float, float, float],
    *,
    min_area_mm2: float = 250.0,
    axis_tolerance_mm: float = 25.0,
    max_sacrum_drop_mm: float = 65.0,
    max_sacrum_shift_mm: float = 45.0,
) -> Instances:
    """Body instances ordered superior -> inferior, and the sacrum (see module docstring)."""
    voxel = float(np.prod(spacing_zyx))
    slice_area = spacing_zyx[1] * spacing_zyx[2]
    labels = split_bodies(body, spacing_zyx)
    removed = 0
    sizes = ndimage.sum_labels(np.ones_like(labels), labels, index=np.arange(labels.max() + 1))
    n_slices = max(1, int((labels > 0).any(axis=(1, 2)).sum()))
    for i in range(1, labels.max() + 1):
        # compare the mean area per slice it occupies with a body's sagittal area
        occupied = max(1, int((labels == i).any(axis=(1, 2)).sum())) if sizes[i] else 1
        if sizes[i] and sizes[i] * slice_area / occupied < min_area_mm2:
            labels[labels == i] = 0
            removed += 1
    del voxel, n_slices
    centres = _centroids_mm(labels, spacing_zyx)
    if len(centres) >= 4:  # spine axis: AP position as a smooth function of height
        ys = np.array([c[1] for c in centres.values()])
        xs = np.array([c[2] for c in centres.values()])
        keep = np.ones(len(ys), bool)
        for _ in range(3):
            coeffs = np.polyfit(ys[keep], xs[keep], 2 if keep.sum() >= 5 else 1)
            residual = np.abs(xs - np.polyval(coeffs, ys))
            keep = residual < max(axis_tolerance_mm, 2.5 * np.median(residual[keep]))
        for (i, _), ok in zip(centres.items(), keep, strict=True):
            if not ok:
                labels[labels == i] = 0
                removed += 1
    # the sacrum: the largest sacrum-class blob below the lowest body's centre
    sacrum_labels, n = ndimage.label(_fill_holes_per_slice(sacrum))
    sacrum_mask = np.zeros(body.shape, bool)
    centres = _centroids_mm(labels, spacing_zyx)
    if n:
        lowest = max(centres.values(), key=lambda c: c[1]) if centres else None
        sizes = ndimage.sum_labels(
            np.ones_like(sacrum_labels), sacrum_labels, index=np.arange(n + 1)
        )
        best, best_size = 0, 0.0
        for i, centre in _centroids_mm(sacrum_labels, spacing_zyx).items():
            # S1 sits right below L5: a "sacrum" blob deep in the pelvis or away from the
            # column (bowel, bladder, presacral tissue) is not it
            near = lowest is None or (
                0 < centre[1] - lowest[1] < max_sacrum_drop_mm
                and abs(centre[2] - lowest[2]) < max_sacrum_shift_mm
            )
            if near and sizes[i] * slice_area > min_area_mm2 and sizes[i] > best_size:
                best, best_size = i, sizes[i]
        if best:
            sacrum_mask = sacrum_labels == best
            # body fragments mostly inside the sacrum's extent belong to it
            grown = ndimage.binary_dilation(sacrum_mask, iterations=2)
            for i in [int(v) for v in np.unique(labels) if v]:
                part = labels == i
                if (part & grown).sum() > 0.5 * part.sum():
                    sacrum_mask |= part
                    labels[part] = 0
    # order superior -> inferior by centroid height
    centres = _centroids_mm(labels, spacing_zyx)
    order = sorted(centres, key=lambda i: centres[i][1])
    ordered = np.zeros(labels.shape, np.int32)
    for new, old in enumerate(order, start=1):
        ordered[labels == old] = new
    return Instances(labels=ordered, sacrum=sacrum_mask, removed=removed)
