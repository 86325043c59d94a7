"""T1/T2 z-score maps within the vertebral bodies (METHOD.md step 3).

Scope (the paper leaves it open): ONE mean and standard deviation per sequence
over all vertebral-body voxels of the study ("study" scope). A body full of
lesion moves these statistics only by its share of all body voxels (one body of
six or more), whereas per-body statistics would z-score a fully affected body
against itself and erase its lesion. The synthetic lesions are painted in this
same space (``modicmap.synth``), so the paper's centroids apply to it. Which scope
transfers best to real data is for the lesion-model work to measure (issue 5).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BodyStats:
    """Mean and standard deviation of one sequence inside the vertebral bodies."""

    mean: float
    sd: float


@dataclass(frozen=True)
class ZScoreMaps:
    t1z: np.ndarray  # float32 arr[z, y, x], T1 grid
    t2z: np.ndarray
    t1_stats: BodyStats
    t2_stats: BodyStats
    scope: str = "study"


def body_stats(image: np.ndarray, bodies: np.ndarray) -> BodyStats:
    """Mean/sd of ``image`` over ``bodies > 0``; ValueError when there are no body voxels."""
    values = image[bodies > 0]
    if values.size < 2:
        raise ValueError("no vertebral-body voxels to z-score against")
    sd = float(values.std())
    return BodyStats(mean=float(values.mean()), sd=sd if sd > 0 else 1.0)


def zscore(image: np.ndarray, stats: BodyStats) -> np.ndarray:
    return ((image - stats.mean) / stats.sd).astype(np.float32)


def zscore_maps(t1: np.ndarray, t2: np.ndarray, vertebrae: np.ndarray) -> ZScoreMaps:
    """Study-scope z-scores of T1 and (registered) T2 within the vertebral bodies."""
    s1, s2 = body_stats(t1, vertebrae), body_stats(t2, vertebrae)
    return ZScoreMaps(t1z=zscore(t1, s1), t2z=zscore(t2, s2), t1_stats=s1, t2_stats=s2)
