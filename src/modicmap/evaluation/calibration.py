"""Choose the endplate threshold by ROC and Youden's J (METHOD.md step 6).

The paper grades an endplate with a type when the share of its region's voxels typed
that way exceeds a threshold chosen on the validation set where TPR - FPR is largest.
Per graded disc level the score is, for the bundle's ``share`` rule, the larger lesion
share (types 1-3 together) of its two endplates (graded when share > t), and for the
``probability`` rule the level probability of levels.csv (graded when probability >= t);
the ROC runs over that score against "any Modic" in the gradings.

With voxel ground truth instead (``modicmap synth``'s layout, or a user's annotated
validation studies: the paper's own calibration), the ROC runs per ENDPLATE over the
endplate's share or probability against "any Modic" in the truth endplates, matched by
name; 3-D studies are then calibrated on 3-D studies.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np

from modicmap.errors import InputError
from modicmap.grading.grade import GradingRule
from modicmap.grading.level_model import LevelModel, read_level_evidence
from modicmap.grading.youden import ThresholdChoice, youden_threshold

__all__ = ["ThresholdChoice", "read_level_evidence", "youden_threshold"]


def level_shares(run: Path) -> dict[int, float]:
    """index_from_sacrum -> larger lesion share of the level's two endplates (from the CSVs)."""
    return _larger_of_endplates(run, endplate_shares(run))


def level_probabilities(run: Path) -> dict[int, float]:
    """index_from_sacrum -> the larger endplate probability of the level (from the CSVs; the
    marrow evidence the endplate threshold acts on, also when a level model re-scored
    levels.csv)."""
    return _larger_of_endplates(run, endplate_probabilities(run))


def larger_of_endplates(row: dict[str, str], per_endplate: dict[tuple[str, str], float]) -> float:
    """The larger value of a levels.csv row's two endplates (0 for one not in the table)."""
    return max(
        per_endplate.get((row["upper_vertebra"], "inferior"), 0.0),
        per_endplate.get((row["lower_vertebra"], "superior"), 0.0),
    )


def _larger_of_endplates(run: Path, per_endplate: dict[tuple[str, str], float]) -> dict[int, float]:
    path = run / "levels.csv"
    try:
        with path.open(newline="") as handle:
            return {
                int(row["index_from_sacrum"]): larger_of_endplates(row, per_endplate)
                for row in csv.DictReader(handle)
            }
    except (KeyError, ValueError, AttributeError) as exc:
        raise InputError(path, f"is not a modicmap table (missing or bad column: {exc})") from None


def fit_level_model_on_runs(
    runs: Path, gradings: dict[tuple[str, int], int], *, with_network: bool = False
) -> tuple[LevelModel, ThresholdChoice]:
    """The level model fitted on every run's graded levels (folder name = Patient), and its
    in-sample ROC. ``with_network``: also on the level network's logit, which the runs must
    carry (made with a bundle that has the network)."""
    from modicmap.grading.level_model import (
        FEATURES,
        WITHOUT_NETWORK,
        evidence_features,
        fit_level_model,
    )

    if not runs.is_dir():
        raise InputError(runs, "is not a folder of run outputs")
    evidence, truth, types, patients = [], [], [], set()
    for folder in sorted(p for p in runs.iterdir() if (p / "summary.json").is_file()):
        for item in read_level_evidence(folder):
            key = (folder.name, item.index_from_sacrum)
            if key in gradings:
                evidence.append(item)
                truth.append(gradings[key] > 0)
                types.append(gradings[key])
                patients.add(folder.name)
    if not evidence:
        raise InputError(
            runs,
            "no run's level evidence (summary.json 'levels'; re-run older outputs) matches a "
            "graded disc (folder name = Patient)",
        )
    labels = np.array(truth)
    if len(np.unique(labels)) != 2:
        raise InputError(runs, "the level model needs levels with and without Modic changes")
    if with_network and not any(e.level_net_logit is not None for e in evidence):
        raise InputError(
            runs,
            "no run carries the level network's logit; make the runs with the bundle that "
            "has the level network",
        )
    model = fit_level_model(
        evidence,
        labels,
        source=f"modicmap calibrate --level-model on {runs} ({len(evidence)} levels of "
        f"{len(patients)} patients)",
        features=FEATURES if with_network else WITHOUT_NETWORK,
        types=np.array(types),
    )
    score = model.probability(evidence_features(evidence))
    return model, youden_threshold(labels, score, strict=False)


def calibrate_on_runs(
    runs: Path, gradings: dict[tuple[str, int], int], rule: GradingRule = GradingRule.SHARE
) -> ThresholdChoice:
    """Youden threshold over the graded levels of every run folder (name = Patient)."""
    if not runs.is_dir():
        raise InputError(runs, "is not a folder of run outputs")
    truth, score = [], []
    scores_of = level_shares if rule is GradingRule.SHARE else level_probabilities
    for folder in sorted(
        p
        for p in runs.iterdir()
        if (p / "levels.csv").is_file() and (p / "endplates.csv").is_file()
    ):
        for index, share in scores_of(folder).items():
            if (folder.name, index) in gradings:
                truth.append(gradings[(folder.name, index)] > 0)
                score.append(share)
    if not truth:
        raise InputError(runs, "no level of any run matches a graded disc (folder name = Patient)")
    try:
        return youden_threshold(np.array(truth), np.array(score), strict=rule is GradingRule.SHARE)
    except ValueError as exc:
        raise InputError(runs, str(exc)) from None


def calibrate_on_truth(
    runs: Path, truth: Path, rule: GradingRule = GradingRule.SHARE
) -> ThresholdChoice:
    """Youden threshold over the truth endplates matched by name in every run folder."""
    from dataclasses import replace

    from modicmap.evaluation.voxel import match_truth

    matching = match_truth(runs, truth)
    shares: dict[str, dict[tuple[str, str], float]] = {}
    labels, score = [], []
    for endplate in matching.endplates:
        if rule is GradingRule.SHARE:
            if endplate.study not in shares:
                shares[endplate.study] = endplate_shares(runs / endplate.study)
            value = shares[endplate.study][(endplate.vertebra, endplate.endplate)]
        else:
            value = endplate.probability
        labels.append(endplate.truth > 0)
        score.append(value)
    if not labels:
        raise InputError(runs, f"no endplate of any run matches a truth endplate in {truth}")
    try:
        choice = youden_threshold(
            np.array(labels), np.array(score), strict=rule is GradingRule.SHARE
        )
    except ValueError as exc:
        raise InputError(truth, str(exc).replace("levels", "endplates")) from None
    return replace(choice, unit="endplates")


def endplate_shares(run: Path) -> dict[tuple[str, str], float]:
    """(vertebra, endplate) -> lesion share (types 1-3 together) from endplates.csv."""
    return _per_endplate(run, lambda row: sum(float(row[f"type{t}_fraction"]) for t in (1, 2, 3)))


def endplate_probabilities(run: Path) -> dict[tuple[str, str], float]:
    """(vertebra, endplate) -> probability from endplates.csv."""
    return _per_endplate(run, lambda row: float(row["probability"]))


def _per_endplate(
    run: Path, value: Callable[[dict[str, str]], float]
) -> dict[tuple[str, str], float]:
    path = run / "endplates.csv"
    try:
        with path.open(newline="") as handle:
            return {
                (row["vertebra"].strip(), row["endplate"].strip()): value(row)
                for row in csv.DictReader(handle)
            }
    except (KeyError, ValueError, AttributeError) as exc:
        raise InputError(path, f"is not a modicmap table (missing or bad column: {exc})") from None


def roc_figure(choice: ThresholdChoice, path: Path, title: str = "Endplate threshold") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot(choice.roc_fpr, choice.roc_tpr, color="#1f5fbf", label=f"AUC {choice.auc:.3f}")
    ax.plot([0, 1], [0, 1], color="grey", lw=0.6, ls="--")
    ax.plot(
        choice.fpr,
        choice.tpr,
        "o",
        color="#d62728",
        label=f"Youden J {choice.youden_j:.3f} at {choice.rule} {choice.threshold:.4f}",
    )
    ax.set_xlabel("false positive rate (1 - specificity)")
    ax.set_ylabel("true positive rate (sensitivity)")
    ax.set_title(f"{title} by ROC ({choice.levels} {choice.unit})")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
