"""Check the level names against evidence that does not come from counting the bodies.

Names are given by counting bodies up from S1 (``levels.name_levels``). One extra or
missing body moves every name above it, silently. Before the names are handed on they
are compared with the number of discs between S1 and each body counted from the bodies'
spacing along the column: a step of about one body height is one disc, a step of two is
a missed body (two discs), a step far shorter than a body is no disc (two candidates on
one level: a fragment), and S1 lies 0.5-1.35 body steps below L5 (its centre is lower in
the tilted sacrum). Each body's column evidence (``column.fit_to_column``: volume against
its neighbours, left-right offset, presence on the middle slices) and S1's position
behind L5 (the promontory) are recorded beside it. When the counts disagree, the names
are kept but a warning gives the naming the spacing suggests (summary.json, report).
"""

from __future__ import annotations

import numpy as np

from modicmap.labels import L6_CODE, SACRUM_CODE, vertebra_name
from modicmap.vertebrae.column import fit_to_column
from modicmap.vertebrae.postprocess import label_centroids
from modicmap.vertebrae.result import NameEvidence

#: body-to-body steps shorter than this share of the median step are no disc (one level)
MIN_DISC_STEP = 0.5
#: steps from this share of the median on count as round(ratio) discs (a missed body);
#: the same 1.6 that ``inference.plausibility`` takes as a missing body
MISSED_BODY_STEP = 1.6
#: S1's centre lies 0.5-1.1 median steps below L5's on the 228 SPIDER dev slices (median
#: 0.78, ``levels.MAX_SACRUM_DROP_STEPS``); under this share it is at L5's own height
MIN_SACRUM_STEP = 0.35
TYPICAL_SACRUM_STEP = 0.78


def _body_step_discs(ratio: float) -> int:
    if ratio < MIN_DISC_STEP:
        return 0
    return 1 if ratio < MISSED_BODY_STEP else round(ratio)


def _sacrum_step_discs(ratio: float, max_ratio: float) -> int:
    if ratio < MIN_SACRUM_STEP:
        return 0
    return 1 if ratio <= max_ratio else 1 + round(ratio - TYPICAL_SACRUM_STEP)


def _levels_above_s1(code: int) -> int:
    """L5 (or L6) -> 1, L4 -> 2, ..., from the name alone."""
    return 1 if code == L6_CODE else L6_CODE - code


def _candidate(discs: int | None) -> str:
    if discs is None:
        return "?"
    if discs <= 0:
        return "no level of its own"
    return vertebra_name(L6_CODE - discs) if L6_CODE - discs >= 1 else "?"


def check_names(
    labels: np.ndarray, spacing_zyx: tuple[float, float, float], max_sacrum_step: float
) -> tuple[tuple[NameEvidence, ...], tuple[str, ...]]:
    """Evidence per body (superior -> inferior, S1 last) and the warnings it raises.

    ``labels``: VerSe codes, arr[z, y, x]; ``spacing_zyx`` in mm; ``max_sacrum_step``:
    the S1 drop (in median body steps) above which a body was missed between L5 and S1
    (``levels.MAX_SACRUM_DROP_STEPS``, which also names the lowest body L4 then).
    """
    centres = label_centroids(labels, spacing_zyx)
    codes = sorted((c for c in centres if c != SACRUM_CODE), key=lambda c: centres[c][1])
    if not codes:
        return (), ()
    has_s1 = SACRUM_CODE in centres
    bodies = np.where(labels == SACRUM_CODE, 0, labels)
    fits = {f.label: f for f in fit_to_column(bodies, spacing_zyx)}
    ys = np.array([centres[c][1] for c in codes])
    steps = np.diff(ys)
    unit = float(np.median(steps)) if len(steps) >= 2 else 0.0
    ratios = list(steps / unit) if unit > 0 else [None] * len(steps)
    sacrum_ratio = None
    if has_s1 and unit > 0:
        sacrum_ratio = float((centres[SACRUM_CODE][1] - ys[-1]) / unit)
    # discs from each body down to S1 (or, without S1, down to below the lowest body)
    discs: list[int | None] = [None] * len(codes)
    if unit > 0:
        below = 1 if sacrum_ratio is None else _sacrum_step_discs(sacrum_ratio, max_sacrum_step)
        discs[-1] = below
        for k in range(len(codes) - 2, -1, -1):
            below += _body_step_discs(float(ratios[k]))  # type: ignore[arg-type]
            discs[k] = below
    evidence = []
    for k, code in enumerate(codes):
        fit = fits[code]
        step = sacrum_ratio if k == len(codes) - 1 else ratios[k]
        evidence.append(
            NameEvidence(
                name=vertebra_name(code),
                levels_above_s1=_levels_above_s1(code) if has_s1 else None,
                discs_by_spacing=discs[k] if has_s1 else None,
                step_ratio=None if step is None else round(float(step), 2),
                volume_ratio=round(fit.volume_ratio, 2),
                lateral_offset_mm=round(fit.lateral_offset_mm, 1),
                on_midline=fit.on_midline,
            )
        )
    if has_s1:
        shift = float(centres[SACRUM_CODE][2] - centres[codes[-1]][2])  # PIR: x is posterior
        evidence.append(
            NameEvidence("S1", 0, 0, None, 1.0, 0.0, True, posterior_shift_mm=round(shift, 1))
        )
    warnings: list[str] = []
    if not all(e.agrees for e in evidence):
        named = ", ".join(e.name for e in evidence if e.name != "S1")
        spaced = ", ".join(_candidate(e.discs_by_spacing) for e in evidence if e.name != "S1")
        warnings.append(
            "the level names disagree with the bodies' spacing (discs counted down to S1): "
            f"named {named}; by spacing {spaced}; a body may be missed or a fragment taken "
            "for a body: check the level names (modicmap segment-vertebrae --check-names)"
        )
    return tuple(evidence), tuple(warnings)
