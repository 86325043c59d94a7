"""Level-wise agreement metrics (METHOD.md step 7), as pure functions on arrays.

Presence (any Modic vs none): identification rate (accuracy), sensitivity, specificity,
Cohen's kappa, ROC AUC of the level probability with a bootstrap 95 % CI that resamples
PATIENTS (levels of one patient are not independent); 4-class kappa and confusion
matrix; per-type sensitivity and specificity (type t vs not t).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from sklearn.metrics import cohen_kappa_score, confusion_matrix, roc_auc_score


@dataclass(frozen=True)
class LevelMetrics:
    levels: int
    patients: int
    prevalence: float
    accuracy: float
    sensitivity: float
    specificity: float
    kappa_presence: float
    kappa_types: float
    auc: float
    auc_ci95: tuple[float, float]
    confusion_types: list[list[int]]  # rows truth 0-3, columns predicted 0-3
    per_type: dict[int, dict[str, float]]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _rate(hits: np.ndarray) -> float:
    return float(hits.mean()) if hits.size else float("nan")


def patient_bootstrap(patients: np.ndarray, n: int, seed: int = 0) -> Iterator[np.ndarray]:
    """``n`` bootstrap samples as row indices: patients drawn with replacement, each with all
    of its rows (levels of one patient are not independent)."""
    rng = np.random.default_rng(seed)
    ids = np.unique(patients)
    groups = [np.flatnonzero(patients == p) for p in ids]
    for _ in range(n):
        yield np.concatenate([groups[i] for i in rng.integers(0, len(ids), len(ids))])


def bootstrap_auc_ci(
    patients: np.ndarray, truth: np.ndarray, score: np.ndarray, *, n: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """95 % percentile interval of the AUC over bootstrap samples of patients."""
    values = []
    for idx in patient_bootstrap(patients, n, seed):
        if len(np.unique(truth[idx])) == 2:
            values.append(roc_auc_score(truth[idx], score[idx]))
    if not values:
        return (float("nan"), float("nan"))
    return (float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5)))


def level_metrics(
    patients: np.ndarray,
    truth: np.ndarray,
    predicted: np.ndarray,
    probability: np.ndarray,
    *,
    bootstrap: int = 1000,
) -> LevelMetrics:
    """Metrics of predicted Modic types (0-3) and probabilities against graded types (0-3)."""
    truth, predicted = np.asarray(truth, int), np.asarray(predicted, int)
    present, called = truth > 0, predicted > 0
    both_classes = len(np.unique(present)) == 2
    per_type = {}
    for t in (1, 2, 3):
        per_type[t] = {
            "sensitivity": _rate(predicted[truth == t] == t),
            "specificity": _rate(predicted[truth != t] != t),
            "graded": int((truth == t).sum()),
        }
    return LevelMetrics(
        levels=int(truth.size),
        patients=int(np.unique(patients).size),
        prevalence=float(present.mean()),
        accuracy=float((present == called).mean()),
        sensitivity=_rate(called[present]),
        specificity=_rate(~called[~present]),
        kappa_presence=float(cohen_kappa_score(present, called)),
        kappa_types=float(cohen_kappa_score(truth, predicted, labels=[0, 1, 2, 3])),
        auc=float(roc_auc_score(present, probability)) if both_classes else float("nan"),
        auc_ci95=bootstrap_auc_ci(patients, present, np.asarray(probability, float), n=bootstrap)
        if both_classes
        else (float("nan"), float("nan")),
        confusion_types=confusion_matrix(truth, predicted, labels=[0, 1, 2, 3]).tolist(),
        per_type=per_type,
    )
