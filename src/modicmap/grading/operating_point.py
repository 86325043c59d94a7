"""Operating points of the level model: where its probability is cut into "Modic" / "none".

A bundle's ``level_model`` section carries ``operating_points`` (``balanced``, ``sensitive``,
``specific``), each cut chosen on the OUT-OF-FOLD probabilities of a nested patient
cross-validation (never on the patients the bundle reports on), with the sensitivity and
specificity it had there, and ``out_of_fold_curve``: sensitivity and specificity at every
cut 0.00, 0.01, ..., 1.00 on the same levels, so that any number a user gives is stated
with its out-of-fold performance too (``benchmarks/operating_points.py`` writes both).
Bundles without them fall back to the level model's own threshold.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from modicmap.errors import InputError

#: the criteria by which a named operating point is chosen
CRITERIA = {
    "balanced": "the cut with the largest sensitivity + specificity (Youden's J, balanced "
    "accuracy) on the out-of-fold probabilities",
    "sensitive": "the highest cut with out-of-fold sensitivity >= 0.80",
    "specific": "the lowest cut with out-of-fold specificity >= 0.90",
}
DEFAULT = "balanced"
#: levels from T12-L1 up (index_from_sacrum >= 6): reported apart
UPPER_INDEX = 6
_GRID = np.round(np.linspace(0.0, 1.0, 101), 2)


@dataclass(frozen=True)
class OperatingPoint:
    name: str  # "balanced", "sensitive", "specific", or "custom" for a number
    threshold: float  # a level is Modic when its probability >= threshold
    sensitivity: float | None  # out of fold on the data named in ``source``
    specificity: float | None
    criterion: str
    source: str
    #: the next lower named cut of the bundle: a level called "none" with a probability from
    #: here up is near the cut, the next one a reader should look at (None: no lower cut)
    look_from: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        text = f"{self.name} (cut {self.threshold:.2f}"
        if self.sensitivity is not None and self.specificity is not None:
            text += (
                f"; out of fold sensitivity {self.sensitivity:.2f}, "
                f"specificity {self.specificity:.2f}"
            )
        return text + ")"


def choose_cut(truth: np.ndarray, probability: np.ndarray, criterion: str) -> float:
    """The cut of ``criterion`` (a key of CRITERIA) on these levels' probabilities."""
    truth = np.asarray(truth, bool)
    p = np.asarray(probability, float)
    cuts = np.unique(p)
    called = p[None, :] >= cuts[:, None]
    sensitivity = called[:, truth].mean(axis=1)
    specificity = (~called[:, ~truth]).mean(axis=1)
    if criterion == "balanced":
        return float(cuts[int(np.argmax(sensitivity + specificity))])
    if criterion == "sensitive":
        ok = np.flatnonzero(sensitivity >= 0.80)
        return float(cuts[ok.max()]) if ok.size else float(cuts.min())
    if criterion == "specific":
        ok = np.flatnonzero(specificity >= 0.90)
        return float(cuts[ok.min()]) if ok.size else float(cuts.max())
    raise ValueError(f"unknown operating point criterion {criterion!r}")


def performance_curve(truth: np.ndarray, probability: np.ndarray) -> dict[str, list[float]]:
    """Sensitivity and specificity at the cuts 0.00 .. 1.00 (step 0.01)."""
    truth = np.asarray(truth, bool)
    called = np.asarray(probability, float)[None, :] >= _GRID[:, None]
    return {
        "cuts": [float(c) for c in _GRID],
        "sensitivity": [round(float(v), 4) for v in called[:, truth].mean(axis=1)],
        "specificity": [round(float(v), 4) for v in (~called[:, ~truth]).mean(axis=1)],
    }


def operating_point(
    section: dict[str, Any], requested: str | float | None, *, where: Any = "model bundle"
) -> OperatingPoint:
    """The operating point ``requested`` (a name, a number in (0, 1), or None for the bundle's
    default) of a ``level_model`` section. Raises InputError for an unknown name."""
    points = section.get("operating_points") or {}
    curve = section.get("out_of_fold_curve") or {}
    source = str(curve.get("source", section.get("source", "")))
    if requested is None:
        requested = str(section.get("operating_point_default", DEFAULT))
        if requested not in points:
            return OperatingPoint(
                "fitted",
                float(section["threshold"]),
                None,
                None,
                "the level model's own threshold (Youden's J on its fitting levels)",
                str(section.get("source", "")),
            )
    if isinstance(requested, str):
        if requested not in points:
            known = ", ".join(sorted(points)) or "none"
            raise InputError(where, f"no operating point {requested!r} (this bundle has: {known})")
        p = points[requested]
        return OperatingPoint(
            requested,
            float(p["threshold"]),
            _maybe(p.get("sensitivity")),
            _maybe(p.get("specificity")),
            str(p.get("criterion", CRITERIA.get(requested, ""))),
            source,
            _next_lower_cut(points, float(p["threshold"])),
        )
    cut = float(requested)
    sensitivity = specificity = None
    if curve.get("cuts"):
        i = int(np.searchsorted(np.asarray(curve["cuts"]), cut - 1e-9))
        i = min(i, len(curve["cuts"]) - 1)
        sensitivity = float(curve["sensitivity"][i])
        specificity = float(curve["specificity"][i])
    return OperatingPoint(
        "custom",
        cut,
        sensitivity,
        specificity,
        "given by the user",
        source,
        _next_lower_cut(points, cut),
    )


def _next_lower_cut(points: dict[str, Any], cut: float) -> float | None:
    """The highest named cut below ``cut``, or None."""
    lower = [float(p["threshold"]) for p in points.values() if float(p["threshold"]) < cut - 1e-9]
    return max(lower) if lower else None


def parse_operating_point(text: str) -> str | float:
    """argparse type: a name of CRITERIA or a probability strictly between 0 and 1."""
    import argparse

    if text in CRITERIA:
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither {', '.join(CRITERIA)} nor a number"
        ) from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"a cut must lie between 0 and 1, not {text}")
    return value


def _maybe(value: Any) -> float | None:
    return None if value is None else float(value)
