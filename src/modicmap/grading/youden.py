"""The threshold where TPR - FPR (Youden's J) is largest on the ROC curve (METHOD.md step 6).

Used to choose a grade's threshold by the calibration (``modicmap.evaluation.calibration``)
and the level model's own threshold (``modicmap.grading.level_model``); it lives here so
that grading never imports evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve


@dataclass(frozen=True)
class ThresholdChoice:
    threshold: float
    youden_j: float
    tpr: float
    fpr: float
    auc: float
    levels: int
    roc_fpr: tuple[float, ...]
    roc_tpr: tuple[float, ...]
    rule: str = "share >"
    unit: str = "levels"  # what was counted: graded disc levels or truth endplates


def youden_threshold(
    truth: np.ndarray, score: np.ndarray, *, strict: bool = True
) -> ThresholdChoice:
    """Threshold ``t`` maximising TPR - FPR for the rule ``score > t`` (``strict``) or
    ``score >= t``."""
    truth = np.asarray(truth, bool)
    if len(np.unique(truth)) != 2:
        raise ValueError("calibration needs levels with and without Modic changes")
    fpr, tpr, thresholds = roc_curve(truth, score)
    j = tpr - fpr
    best = int(np.argmax(j))
    # roc_curve's thresholds mean "score >= t"; the grading rule is "share > t", so the
    # largest score below the chosen one is the equivalent strict threshold
    below = np.asarray(score)[np.asarray(score) < thresholds[best]]
    threshold = float(below.max()) if below.size else 0.0
    if not strict:
        threshold = float(min(thresholds[best], np.max(score)))
    return ThresholdChoice(
        threshold=max(threshold, 0.0),
        youden_j=float(j[best]),
        tpr=float(tpr[best]),
        fpr=float(fpr[best]),
        auc=float(roc_auc_score(truth, score)),
        levels=int(truth.size),
        roc_fpr=tuple(float(v) for v in fpr),
        roc_tpr=tuple(float(v) for v in tpr),
        rule="share >" if strict else "probability >=",
    )
