"""Type every lesion voxel by the nearest (T1 z, T2 z) centroid (METHOD.md step 5)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Centroids:
    """Per Modic type 1, 2, 3: mean and sd of (T1 z, T2 z) of annotated lesion voxels."""

    means: tuple[tuple[float, float], ...]
    sds: tuple[tuple[float, float], ...]
    source: str

    def to_json(self) -> dict[str, Any]:
        return {
            "means": [list(m) for m in self.means],
            "sds": [list(s) for s in self.sds],
            "source": self.source,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Centroids:
        return cls(
            means=tuple(tuple(float(v) for v in m) for m in data["means"]),  # type: ignore[misc]
            sds=tuple(tuple(float(v) for v in s) for s in data["sds"]),  # type: ignore[misc]
            source=str(data.get("source", "")),
        )


PAPER_CENTROIDS = Centroids(
    means=((0.23, 1.20), (1.04, 0.37), (-0.53, -0.52)),
    sds=((0.73, 1.16), (1.00, 0.85), (0.41, 0.85)),
    source="Gao et al., ISMRM (paper defaults)",
)


def fit_centroids(
    t1z: np.ndarray, t2z: np.ndarray, modic_map: np.ndarray, source: str
) -> Centroids:
    """Centroids from annotated voxels; a type without voxels keeps the paper's values."""
    means, sds = [], []
    for kind in (1, 2, 3):
        m = modic_map == kind
        if m.sum() >= 2:
            means.append((float(t1z[m].mean()), float(t2z[m].mean())))
            sds.append((float(t1z[m].std()), float(t2z[m].std())))
        else:
            means.append(PAPER_CENTROIDS.means[kind - 1])
            sds.append(PAPER_CENTROIDS.sds[kind - 1])
    return Centroids(tuple(means), tuple(sds), source)


def type_voxels(
    t1z: np.ndarray, t2z: np.ndarray, lesion: np.ndarray, centroids: Centroids
) -> np.ndarray:
    """uint8 Modic map: 0 outside ``lesion``, else 1/2/3 by Euclidean distance to the centroids."""
    points = np.stack([t1z[lesion], t2z[lesion]], axis=1)
    centres = np.asarray(centroids.means)
    distance = ((points[:, None, :] - centres[None, :, :]) ** 2).sum(-1)
    out = np.zeros(lesion.shape, np.uint8)
    out[lesion] = (distance.argmin(1) + 1).astype(np.uint8)
    return out
