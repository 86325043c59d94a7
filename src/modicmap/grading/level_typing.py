"""A graded endplate's or level's Modic type: its lesion signal weighed against the types'
frequencies.

The voxel map types every lesion voxel by the nearest centroid (the paper's rule; it stays
the rule of the map). With a level model that carries a type prior (and, for the endplate
rows, a bundle whose ``typing.endplate_type`` is "prior": :mod:`modicmap.grading.coherence`)
a carrying endplate, and the level's ``type_posterior``, are typed by Bayes' rule instead:
the likelihood of the mean (T1 z, T2 z) of the lesion voxels (the endplate's region, or the
level's two) under each type (independent normals at the
centroid's mean and spread), times the share of that type among the Modic levels of the
gradings the level model was fitted on (add-one smoothed). On SPIDER dev, where the readers
graded 309 of the 317 matched Modic levels type 2 and the lesion voxels of those levels scatter
around all three centroids (docs/benchmarks.md, "Why SPIDER's type-2 levels are typed 1 or
3"), the voxel plurality typed most of them 1 or 3; the prior keeps a level at the frequent
type unless its signal lies far out on another type's side. A level without lesion voxels
takes the prior's most frequent type.

The likelihood is that of a lesion's *mean* signal, so its spread shrinks with the lesion's
size: per type, the voxels' spread (the centroid's sd) times
``sqrt(BETWEEN_SHARE + (1 - BETWEEN_SHARE) / n)``, where ``n`` (:func:`effective_samples`)
counts the lesion's independent pieces of marrow (its in-plane area summed over slices, in
units of ``SAMPLE_AREA_MM2``; neighbouring voxels of one lesion share their signal). A large
lesion that sits on the type-1 or type-3 centroid is typed so against a strong type-2 prior; a
small one whose mean lies between the centroids is typed by the prior.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from modicmap.grading.endplates import Endplate
from modicmap.grading.typing import Centroids

#: in-plane marrow area (mm^2) whose voxels vary together: one independent sample of a
#: lesion's signal. An assumption, not fitted: about the 2 mm grain of marrow texture on
#: clinical T1/T2 (partial volume over 0.5-1.1 mm pixels and a 1.2 mm texture grain).
SAMPLE_AREA_MM2 = 4.0
#: share of a type's voxel variance that lies between lesions (it does not average out
#: within one lesion): bounds the confidence any lesion size can give. An assumption.
BETWEEN_SHARE = 0.05


@dataclass(frozen=True)
class LesionSignal:
    """Mean study-scope z-scores of the lesion voxels in a level's two endplate regions;
    ``area_mm2``: their in-plane area summed over slices."""

    t1z: float
    t2z: float
    voxels: int
    area_mm2: float = 0.0


def effective_samples(area_mm2: float | None) -> float:
    """Independent samples of marrow signal in a lesion of ``area_mm2`` (in-plane area summed
    over slices); 1 when unknown or smaller than one sample."""
    if area_mm2 is None or not np.isfinite(area_mm2):
        return 1.0
    return max(1.0, float(area_mm2) / SAMPLE_AREA_MM2)


def lesion_signals(
    t1z: np.ndarray,
    t2z: np.ndarray,
    modic_map: np.ndarray,
    regions: dict[tuple[int, Endplate], np.ndarray],
    pairs: list[tuple[int, int]],
    pixel_mm2: float = 1.0,
) -> dict[tuple[int, int], LesionSignal]:
    """The lesion signal of every (upper code, lower code) level of ``pairs`` that has lesion
    voxels in the inferior region of its upper body or the superior region of its lower one
    (``regions``: :func:`modicmap.grading.endplates.endplate_regions`; ``pixel_mm2``: the
    in-plane area of one pixel)."""
    lesion = modic_map > 0
    out: dict[tuple[int, int], LesionSignal] = {}
    for upper, lower in pairs:
        inside = np.zeros(lesion.shape, bool)
        for key in ((upper, Endplate.INFERIOR), (lower, Endplate.SUPERIOR)):
            region = regions.get(key)
            if region is not None:
                inside |= region & lesion
        count = int(inside.sum())
        if count:
            out[(upper, lower)] = LesionSignal(
                float(t1z[inside].mean()), float(t2z[inside].mean()), count, count * pixel_mm2
            )
    return out


def type_prior(grades: Iterable[int]) -> tuple[float, float, float]:
    """Shares of types 1, 2, 3 among the Modic grades in ``grades`` (0 = none is ignored),
    add-one smoothed so that no type is ruled out."""
    counts = np.ones(3)
    for grade in grades:
        if grade in (1, 2, 3):
            counts[int(grade) - 1] += 1
    shares = counts / counts.sum()
    return (float(shares[0]), float(shares[1]), float(shares[2]))


def type_posterior(
    signal: tuple[float, float] | None,
    centroids: Centroids,
    prior: tuple[float, float, float],
    samples: float = 1.0,
) -> np.ndarray:
    """P(type 1, 2, 3 | the mean signal of a lesion of ``samples`` independent samples
    (:func:`effective_samples`)); the prior alone when it has none."""
    log_post = np.log(np.asarray(prior, np.float64))
    if signal is not None:
        means = np.asarray(centroids.means, np.float64)
        shrink = np.sqrt(BETWEEN_SHARE + (1.0 - BETWEEN_SHARE) / max(samples, 1.0))
        sds = np.asarray(centroids.sds, np.float64) * shrink
        z = (np.asarray(signal, np.float64)[None, :] - means) / sds
        log_post = log_post - 0.5 * (z**2).sum(axis=1) - np.log(sds).sum(axis=1)
    post = np.exp(log_post - log_post.max())
    return post / post.sum()
