"""Level names: find the sacrum and count upward (L5, L4, ..., L1, T12, ...)."""

from __future__ import annotations

import numpy as np

from modicmap.labels import SACRUM_CODE, codes_from_sacrum, vertebra_name
from modicmap.vertebrae.postprocess import Instances, label_centroids
from modicmap.vertebrae.result import VertebraeResult, VertebralBody

NO_SACRUM = (
    "no sacrum in view: level names are counted from the lowest body, assumed to be L5; "
    "check them before trusting any per-level result"
)


def name_levels(instances: Instances) -> VertebraeResult:
    """VerSe-coded labels from ordered instances (1 = most superior) and the sacrum."""
    n = int(instances.labels.max())
    codes = codes_from_sacrum(n)  # lowest first
    bodies: list[VertebralBody] = []
    warnings: list[str] = []
    if not instances.sacrum.any():
        warnings.append(NO_SACRUM)
    if n > len(codes):
        warnings.append(f"{n} bodies found; only {len(codes)} can be named")
    lookup = np.zeros(n + 1, np.uint8)  # instance index -> VerSe code
    for index in range(1, n + 1):
        k = n - index  # 0 for the lowest body
        if k < len(codes):
            lookup[index] = codes[k]
    labels = lookup[instances.labels]
    if instances.sacrum.any():
        labels[instances.sacrum] = SACRUM_CODE
    counts = np.bincount(labels.ravel(), minlength=SACRUM_CODE + 1)
    for code, centre in label_centroids(labels, (1.0, 1.0, 1.0)).items():
        bodies.append(
            VertebralBody(
                code, vertebra_name(code), int(counts[code]), tuple(float(c) for c in centre)
            )
        )
    top = [b for b in bodies if b.code != SACRUM_CODE]
    if top and (labels[:, :2, :] == top[0].code).any():
        warnings.append(
            f"{top[0].name} touches the top of the image: it may be only partly visible"
        )
    return VertebraeResult(labels=labels, bodies=tuple(bodies), warnings=tuple(warnings))
