"""Level model: one probability per disc level from the marrow, the disc and the level.

The V-Net's marrow evidence (the level's larger endplate probability) alone ranks SPIDER's
graded levels little better than the disc level does (docs/benchmarks.md). Readers grade
Modic changes on marrow, but the changes sit next to degenerated discs and at the lower
levels, and both are in the image. The level model is a logistic regression (scikit-learn)
on

* ``marrow``: logit of the level's larger endplate probability (the voxel maps' evidence);
* ``disc_t1``, ``disc_t2``: log of the disc's T1 and T2 signal relative to the bodies'
  marrow (:mod:`modicmap.grading.discs`);
* ``band_t1``, ``band_t2``: the 90th percentile of the T1 and T2 z-scores in the level's
  endplate bands, the larger of the two (:mod:`modicmap.grading.bands`);
* ``level_net``: the level network's logit (:mod:`modicmap.grading.level_network`: a small
  CNN on the patch of disc and endplates, trained on per-level gradings), when the bundle
  has one;
* ``level_1`` .. ``level_5``: the level's ``index_from_sacrum`` (L5-S1 .. L1-L2) one-hot,
  higher levels all zero;

(a signal that cannot be read, or a T2 signal when the registration warned, takes the
fitting levels' mean)

fitted by ``modicmap calibrate --level-model`` (or, with a level network, ``modicmap train
levels``) on `run` outputs of patients with per-level gradings. A model uses the FEATURES it
lists in its JSON (bundles before the level network list all but ``level_net``). A level is
graded when the model's probability reaches its threshold (Youden's J on the fitting
levels). Strong marrow evidence is never overruled by a healthy-looking disc
or a high level: when the marrow probability reaches ``marrow_override`` (the marrow
probability that only ``1 - OVERRIDE_SPECIFICITY`` of the fitting levels graded "none"
reach), the level's probability is at least its marrow probability. A graded level's type:
with the model's ``type_prior`` (fitted from the same gradings), the most probable type
given the mean z-scores of its lesion voxels (:mod:`modicmap.grading.level_typing`);
without one (older bundles), from the voxels: the type of its graded endplates, else the
type with the largest voxel share in its two endplate regions, else type 2 (no voxel of
the level passes the map's threshold; type 2 is 98 % of SPIDER's graded levels).
The endplate rows stay the paper's voxel grades; summary.json lists every level's evidence.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from modicmap.errors import InputError
from modicmap.grading.bands import BandSignal
from modicmap.grading.discs import DiscSignal
from modicmap.grading.grade import level_type
from modicmap.grading.level_network import LevelNetScore
from modicmap.grading.level_typing import (
    LesionSignal,
    effective_samples,
    type_posterior,
    type_prior,
)
from modicmap.grading.tables import EndplateGrade, LevelGrade
from modicmap.grading.typing import PAPER_CENTROIDS, Centroids
from modicmap.labels import vertebra_code

FEATURES = (
    "marrow",
    "disc_t1",
    "disc_t2",
    "band_t1",
    "band_t2",
    "level_net",
    "level_1",
    "level_2",
    "level_3",
    "level_4",
    "level_5",
)
#: the columns of FEATURES that may be missing (NaN) and take the fitting mean
SIGNALS = (1, 2, 3, 4, 5)
_LEVEL_0 = len(FEATURES) - 6  # column of level_1 is _LEVEL_0 + 1
#: the features of level models fitted without a level network
WITHOUT_NETWORK = tuple(f for f in FEATURES if f != "level_net")
#: the type given to a level graded with no voxel passing the map's threshold
FALLBACK_TYPE = 2
#: share of the fitting levels graded "none" whose marrow evidence stays below the override
OVERRIDE_SPECIFICITY = 0.95
_EPS_P = 1e-4  # probabilities are clipped before the logit
_EPS_RATIO = 0.02  # added before the log of a signal ratio (a black disc core is 0)


@dataclass(frozen=True)
class LevelEvidence:
    """What the level model read for one level (written to summary.json)."""

    level: str
    index_from_sacrum: int
    marrow_probability: float
    disc_t1_ratio: float | None
    disc_t2_ratio: float | None
    band_t1_p90: float | None
    band_t2_p90: float | None
    probability: float
    level_net_logit: float | None = None  # the level network's, when the bundle has one
    pfirrmann_estimate: float | None = None  # the level network's estimate of the disc's grade
    lesion_t1z: float | None = None  # mean z-scores of the lesion voxels at the level
    lesion_t2z: float | None = None
    type_posterior: tuple[float, float, float] | None = None  # when typed with a prior
    lesion_mm2: float | None = None  # their in-plane area summed over slices

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LevelEvidence:
        def signal(key: str) -> float | None:
            value = data.get(key)
            return None if value is None else float(value)

        return cls(
            level=str(data["level"]),
            index_from_sacrum=int(data["index_from_sacrum"]),
            marrow_probability=float(data["marrow_probability"]),
            disc_t1_ratio=signal("disc_t1_ratio"),
            disc_t2_ratio=signal("disc_t2_ratio"),
            band_t1_p90=signal("band_t1_p90"),
            band_t2_p90=signal("band_t2_p90"),
            probability=float(data["probability"]),
            level_net_logit=signal("level_net_logit"),
            pfirrmann_estimate=signal("pfirrmann_estimate"),
            lesion_t1z=signal("lesion_t1z"),
            lesion_t2z=signal("lesion_t2z"),
            type_posterior=None
            if data.get("type_posterior") is None
            else tuple(float(v) for v in data["type_posterior"]),  # type: ignore[arg-type]
            lesion_mm2=signal("lesion_mm2"),
        )


@dataclass(frozen=True)
class LevelModel:
    coefficients: tuple[float, ...]  # one per entry of ``features``
    intercept: float
    threshold: float  # graded when probability >= threshold
    signal_means: tuple[float, ...]  # fitting means of its signal features, for unread ones
    marrow_override: float = 1.0  # marrow probability from which the marrow alone decides
    source: str = ""
    features: tuple[str, ...] = WITHOUT_NETWORK  # the FEATURES it uses, in FEATURES' order
    #: shares of types 1-3 among the fitting gradings' Modic levels; None: voxel plurality
    type_prior: tuple[float, float, float] | None = None

    def __post_init__(self) -> None:
        if [f for f in FEATURES if f in self.features] != list(self.features):
            raise ValueError(f"level model features {list(self.features)} not among {FEATURES}")
        if "marrow" not in self.features:
            raise ValueError("a level model needs the 'marrow' feature")
        if len(self.coefficients) != len(self.features):
            raise ValueError("one coefficient per feature is needed")
        if len(self.signal_means) != len(self.signal_columns):
            raise ValueError("one mean per signal feature is needed")
        if self.type_prior is not None and (len(self.type_prior) != 3 or min(self.type_prior) <= 0):
            raise ValueError("a type prior needs three positive shares (types 1, 2, 3)")

    @property
    def columns(self) -> list[int]:
        """Its features' columns in a FEATURES row."""
        return [FEATURES.index(f) for f in self.features]

    @property
    def signal_columns(self) -> list[int]:
        """Its features' columns (in its own order) that may be unread."""
        return [i for i, c in enumerate(self.columns) if c in SIGNALS]

    @property
    def uses_network(self) -> bool:
        return "level_net" in self.features

    def to_json(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "coefficients": list(self.coefficients),
            "intercept": self.intercept,
            "threshold": self.threshold,
            "signal_means": list(self.signal_means),
            "marrow_override": self.marrow_override,
            "source": self.source,
            "type_prior": None if self.type_prior is None else list(self.type_prior),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LevelModel:
        prior = data.get("type_prior")
        return cls(
            coefficients=tuple(float(c) for c in data["coefficients"]),
            intercept=float(data["intercept"]),
            threshold=float(data["threshold"]),
            signal_means=tuple(float(m) for m in data["signal_means"]),
            marrow_override=float(data.get("marrow_override", 1.0)),
            source=str(data.get("source", "")),
            features=tuple(str(f) for f in data["features"]),
            type_prior=None if prior is None else tuple(float(v) for v in prior),  # type: ignore[arg-type]
        )

    def probability(self, features: np.ndarray, *, override: bool = True) -> np.ndarray:
        """The levels' probabilities (rows of FEATURES); ``override``: lifted to the marrow
        probability where that reaches ``marrow_override``."""
        x = np.atleast_2d(features)[:, self.columns]
        x = _impute(x, self.signal_columns, self.signal_means)
        z = x @ np.asarray(self.coefficients) + self.intercept
        p = 1.0 / (1.0 + np.exp(-z))
        if not override:
            return p
        marrow = 1.0 / (1.0 + np.exp(-x[:, self.features.index("marrow")]))
        return np.where(marrow >= self.marrow_override, np.maximum(p, marrow), p)


def _impute(x: np.ndarray, columns: list[int], means: tuple[float, ...]) -> np.ndarray:
    x = x.copy()
    for column, mean in zip(columns, means, strict=True):
        x[:, column] = np.where(np.isnan(x[:, column]), mean, x[:, column])
    return x


def _log_ratio(value: float | None) -> float:
    return np.nan if value is None else float(np.log(max(value, 0.0) + _EPS_RATIO))


def feature_row(
    marrow_probability: float,
    index: int,
    *,
    disc_t1: float | None = None,
    disc_t2: float | None = None,
    band_t1: float | None = None,
    band_t2: float | None = None,
    level_net: float | None = None,
) -> np.ndarray:
    """One level's FEATURES (NaN for a signal that could not be read)."""
    p = float(np.clip(marrow_probability, _EPS_P, 1 - _EPS_P))
    row = np.full(len(FEATURES), np.nan)
    row[0] = np.log(p / (1 - p))
    row[1], row[2] = _log_ratio(disc_t1), _log_ratio(disc_t2)
    row[3] = np.nan if band_t1 is None else band_t1
    row[4] = np.nan if band_t2 is None else band_t2
    row[5] = np.nan if level_net is None else level_net
    row[_LEVEL_0 + 1 :] = 0.0
    if 1 <= index <= 5:
        row[_LEVEL_0 + index] = 1.0
    return row


def evidence_features(evidence: list[LevelEvidence]) -> np.ndarray:
    rows = [
        feature_row(
            e.marrow_probability,
            e.index_from_sacrum,
            disc_t1=e.disc_t1_ratio,
            disc_t2=e.disc_t2_ratio,
            band_t1=e.band_t1_p90,
            band_t2=e.band_t2_p90,
            level_net=e.level_net_logit,
        )
        for e in evidence
    ]
    return np.array(rows).reshape(len(evidence), len(FEATURES))


def fit_level_model(
    evidence: list[LevelEvidence],
    truth: np.ndarray,
    *,
    source: str = "",
    features: tuple[str, ...] = WITHOUT_NETWORK,
    types: np.ndarray | None = None,
) -> LevelModel:
    """Logistic regression (L2, C = 1) of ``truth`` (any Modic) on the levels' ``features``;
    threshold by Youden's J and the marrow override (``OVERRIDE_SPECIFICITY``) on the same
    levels. ``types``: the same levels' graded types (0-3), for the type prior
    (:func:`modicmap.grading.level_typing.type_prior`); without them graded levels keep
    the type of their voxels."""
    from sklearn.linear_model import LogisticRegression

    from modicmap.grading.youden import youden_threshold

    columns = [FEATURES.index(f) for f in features]
    x = evidence_features(evidence)[:, columns]
    signals = [i for i, c in enumerate(columns) if c in SIGNALS]
    means = tuple(
        float(np.nanmean(x[:, c])) if np.isfinite(x[:, c]).any() else 0.0 for c in signals
    )
    x = _impute(x, signals, means)
    truth = np.asarray(truth, bool)
    fit = LogisticRegression(C=1.0, max_iter=1000).fit(x, truth)
    model = LevelModel(
        coefficients=tuple(float(c) for c in fit.coef_[0]),
        intercept=float(fit.intercept_[0]),
        threshold=0.5,
        signal_means=means,
        source=source,
        features=tuple(features),
        type_prior=None if types is None else type_prior(int(t) for t in np.asarray(types)),
    )
    full = evidence_features(evidence)
    choice = youden_threshold(truth, model.probability(full, override=False), strict=False)
    marrow = np.array([e.marrow_probability for e in evidence])
    override = float(np.quantile(marrow[~truth], OVERRIDE_SPECIFICITY)) if (~truth).any() else 1.0
    return replace(model, threshold=choice.threshold, marrow_override=override)


def level_evidence(
    levels: list[LevelGrade],
    discs: dict[tuple[int, int], DiscSignal],
    bands: dict[tuple[int, int], BandSignal],
    lesions: dict[tuple[int, int], LesionSignal] | None = None,
) -> list[LevelEvidence]:
    """The evidence of every level (``probability`` = the level's marrow probability)."""
    out = []
    for level in levels:
        key = (vertebra_code(level.upper_vertebra), vertebra_code(level.lower_vertebra))
        disc, band = discs.get(key), bands.get(key)
        lesion = None if lesions is None else lesions.get(key)
        out.append(
            LevelEvidence(
                level=level.level,
                index_from_sacrum=level.index_from_sacrum,
                marrow_probability=level.probability,
                disc_t1_ratio=None if disc is None else round(disc.t1_ratio, 6),
                disc_t2_ratio=None
                if disc is None or not np.isfinite(disc.t2_ratio)
                else round(disc.t2_ratio, 6),
                band_t1_p90=None if band is None else round(band.t1_p90, 6),
                band_t2_p90=None if band is None else round(band.t2_p90, 6),
                probability=level.probability,
                lesion_t1z=None if lesion is None else round(lesion.t1z, 6),
                lesion_t2z=None if lesion is None else round(lesion.t2z, 6),
                lesion_mm2=None if lesion is None else round(lesion.area_mm2, 3),
            )
        )
    return out


def with_network_scores(
    evidence: list[LevelEvidence], scores: dict[tuple[int, int], LevelNetScore]
) -> list[LevelEvidence]:
    """The evidence with the level network's outputs, matched by the level's (upper, lower)
    VerSe codes; a level without a score keeps none."""
    out = []
    for item in evidence:
        upper, lower = item.level.split("-")
        score = scores.get((vertebra_code(upper), vertebra_code(lower)))
        out.append(
            item
            if score is None
            else replace(
                item,
                level_net_logit=round(score.logit, 6),
                pfirrmann_estimate=round(score.pfirrmann, 3),
            )
        )
    return out


def without_t2(evidence: list[LevelEvidence]) -> list[LevelEvidence]:
    """The evidence with its T2 signals unread (a registration that warned: the T2 may show
    other anatomy); the level model then takes their fitting means. The level network reads
    the T2 too, so its outputs go as well."""
    return [
        replace(
            e, disc_t2_ratio=None, band_t2_p90=None, level_net_logit=None, pfirrmann_estimate=None
        )
        for e in evidence
    ]


def voxel_type(level: LevelGrade, endplates: dict[tuple[str, str], EndplateGrade]) -> int:
    """A level's type from its voxels: its graded endplates' (:func:`level_type`), else the
    largest voxel share of its two endplate regions, else ``FALLBACK_TYPE``."""
    a = endplates.get((level.upper_vertebra, "inferior"))
    b = endplates.get((level.lower_vertebra, "superior"))
    graded = level_type(
        (a.modic if a else 0, a.lesion_mm3 if a else 0.0),
        (b.modic if b else 0, b.lesion_mm3 if b else 0.0),
    )
    if graded:
        return graded
    shares = np.zeros(3)
    for row in (a, b):
        if row is not None:
            shares += (row.type1_fraction, row.type2_fraction, row.type3_fraction)
    return int(np.argmax(shares)) + 1 if shares.max() > 0 else FALLBACK_TYPE


def apply_level_model(
    model: LevelModel,
    levels: list[LevelGrade],
    evidence: list[LevelEvidence],
    endplates: list[EndplateGrade],
    centroids: Centroids = PAPER_CENTROIDS,
) -> tuple[list[LevelGrade], list[LevelEvidence]]:
    """Levels graded by the model (probability and grade; the endplate columns unchanged).
    A graded level's type: with the model's type prior, the most probable type given its
    lesion signal (:mod:`modicmap.grading.level_typing`, ``centroids``: the map's); without
    one, its voxels' type."""
    if not levels:
        return [], []
    probabilities = model.probability(evidence_features(evidence))
    by_key = {(e.vertebra, e.endplate): e for e in endplates}
    graded, updated = [], []
    for level, item, p in zip(levels, evidence, probabilities, strict=True):
        present = bool(p >= model.threshold)
        posterior = None
        if model.type_prior is not None:
            signal = (
                None
                if item.lesion_t1z is None or item.lesion_t2z is None
                else (item.lesion_t1z, item.lesion_t2z)
            )
            samples = effective_samples(item.lesion_mm2)
            posterior = type_posterior(signal, centroids, model.type_prior, samples)
            modic = int(np.argmax(posterior)) + 1
        else:
            modic = voxel_type(level, by_key)
        graded.append(
            LevelGrade(
                level=level.level,
                index_from_sacrum=level.index_from_sacrum,
                upper_vertebra=level.upper_vertebra,
                lower_vertebra=level.lower_vertebra,
                modic=modic if present else 0,
                upper_endplate_modic=level.upper_endplate_modic,
                lower_endplate_modic=level.lower_endplate_modic,
                probability=float(p),
            )
        )
        updated.append(
            replace(
                item,
                probability=float(round(p, 6)),
                type_posterior=None
                if posterior is None
                else (
                    round(float(posterior[0]), 4),
                    round(float(posterior[1]), 4),
                    round(float(posterior[2]), 4),
                ),
            )
        )
    return graded, updated


def read_level_evidence(run: Path) -> list[LevelEvidence]:
    """The per-level evidence a run wrote to summary.json (empty for older runs)."""
    path = run / "summary.json"
    try:
        data = json.loads(path.read_text())
        return [LevelEvidence.from_json(item) for item in data.get("levels", [])]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(path, f"cannot read the level evidence ({exc})") from None
