"""A graded disc level's Modic type: its lesion signal weighed against the types' frequencies.

The voxel map types every lesion voxel by the nearest centroid (the paper's rule; it stays
the rule of the map and of the endplate rows). A level graded by a level model that carries
a type prior is typed by Bayes' rule instead: the likelihood of the mean (T1 z, T2 z) of the
lesion voxels in its two endplate regions under each type (independent normals at the
centroid's mean and spread), times the share of that type among the Modic levels of the
gradings the level model was fitted on (add-one smoothed). On SPIDER dev, where the readers
graded 309 of the 317 matched Modic levels type 2 and the lesion voxels of those levels scatter
around all three centroids (docs/benchmarks.md, "Why SPIDER's type-2 levels are typed 1 or
3"), the voxel plurality typed most of them 1 or 3; the prior keeps a level at the frequent
type unless its signal lies far out on another type's side. A level without lesion voxels
takes the prior's most frequent type.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from modicmap.grading.endplates import Endplate
from modicmap.grading.typing import Centroids


@dataclass(frozen=True)
class LesionSignal:
    """Mean study-scope z-scores of the lesion voxels in a level's two endplate regions."""

    t1z: float
    t2z: float
    voxels: int


def lesion_signals(
    t1z: np.ndarray,
    t2z: np.ndarray,
    modic_map: np.ndarray,
    regions: dict[tuple[int, Endplate], np.ndarray],
    pairs: list[tuple[int, int]],
) -> dict[tuple[int, int], LesionSignal]:
    """The lesion signal of every (upper code, lower code) level of ``pairs`` that has lesion
    voxels in the inferior region of its upper body or the superior region of its lower one
    (``regions``: :func:`modicmap.grading.endplates.endplate_regions`)."""
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
                float(t1z[inside].mean()), float(t2z[inside].mean()), count
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
) -> np.ndarray:
    """P(type 1, 2, 3 | the level's mean lesion signal); the prior alone when it has none."""
    log_post = np.log(np.asarray(prior, np.float64))
    if signal is not None:
        means = np.asarray(centroids.means, np.float64)
        sds = np.asarray(centroids.sds, np.float64)
        z = (np.asarray(signal, np.float64)[None, :] - means) / sds
        log_post = log_post - 0.5 * (z**2).sum(axis=1) - np.log(sds).sum(axis=1)
    post = np.exp(log_post - log_post.max())
    return post / post.sum()
