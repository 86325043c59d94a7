"""Level names: find the sacrum and count upward (L5, L4, ..., L1, T12, ...)."""

from __future__ import annotations

import logging

import numpy as np

from modicmap.labels import SACRUM_CODE, codes_from_sacrum, vertebra_code, vertebra_name
from modicmap.vertebrae.name_check import check_names
from modicmap.vertebrae.postprocess import Instances, label_centroids
from modicmap.vertebrae.result import VertebraeResult, VertebralBody

logger = logging.getLogger(__name__)

NO_SACRUM = (
    "no sacrum in view: level names are counted from the lowest body, assumed to be L5; "
    "check them before trusting any per-level result"
)

#: the top body is worth a warning when cut by the image's top only from L1 down
FIRST_LUMBAR_CODE = vertebra_code("L1")

MISSED_ABOVE_SACRUM = (
    "the sacrum lies far below the lowest body found: one body between them seems missed, "
    "so the lowest body found is named L4; check the level names"
)

#: S1's centre lies 0.5-1.1 times the median body-to-body step below L5's centre on the
#: 228 SPIDER dev slices (median 0.78); above this ratio a body in between was missed
#: (3 of the 4 slices above it looked at; the fourth took a pelvic blob for S1)
MAX_SACRUM_DROP_STEPS = 1.35


def missed_above_sacrum(instances: Instances) -> bool:
    """Whether a body between the lowest body found and the sacrum seems missed."""
    n = int(instances.labels.max())
    if n < 3 or not instances.sacrum.any():
        return False
    unit = (1.0, 1.0, 1.0)  # rows only: a ratio of distances along one axis
    rows = [c[1] for c in label_centroids(instances.labels, unit).values()]
    sacrum_row = label_centroids(instances.sacrum.astype(np.int32), unit)[1][1]
    step = float(np.median(np.diff(sorted(rows))))
    return step > 0 and sacrum_row - max(rows) > MAX_SACRUM_DROP_STEPS * step


def name_levels(
    instances: Instances, spacing_zyx: tuple[float, float, float] | None = None
) -> VertebraeResult:
    """VerSe-coded labels from ordered instances (1 = most superior) and the sacrum.

    With the voxel spacing (mm) given, the names are checked against the bodies' spacing
    and their column evidence (``name_check.check_names``): the evidence is kept on the
    result and a disagreement adds a warning.
    """
    n = int(instances.labels.max())
    bodies: list[VertebralBody] = []
    warnings: list[str] = list(instances.notes)
    skip = 0
    if not instances.sacrum.any():
        warnings.append(NO_SACRUM)
    elif missed_above_sacrum(instances):
        warnings.append(MISSED_ABOVE_SACRUM)
        skip = 1
    codes = codes_from_sacrum(n + skip)[skip:]  # lowest first
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
        message = f"{top[0].name} touches the top of the image: it may be only partly visible"
        # a lumbar body cut by the field of view is worth a look; a thoracic one is the
        # usual edge of a lumbar series (46 of 114 SPIDER pairs) and changes no level name
        if top[0].code >= FIRST_LUMBAR_CODE:
            warnings.append(message)
        else:
            logger.info("%s", message)
    evidence: tuple = ()
    if spacing_zyx is not None:
        evidence, disagreements = check_names(labels, spacing_zyx, MAX_SACRUM_DROP_STEPS)
        warnings += disagreements
    return VertebraeResult(
        labels=labels, bodies=tuple(bodies), warnings=tuple(warnings), evidence=evidence
    )
