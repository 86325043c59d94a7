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

With readers' reviews (``modicmap review``) the ROC runs over each reviewed endplate (its
share or probability against the reader's grade of it) and, for a level reviewed only as
a level, over the level as above. Every refit is also cross-validated by patient
(:func:`out_of_fold`): refitted on the other patients' items, applied to each patient's,
so a site sees what its refit is worth before it uses it.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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

    evidence, labels, types, patients = _graded_evidence(runs, gradings)
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
        f"{len(set(patients))} patients)",
        features=FEATURES if with_network else WITHOUT_NETWORK,
        types=types,
    )
    score = model.probability(evidence_features(evidence))
    return model, youden_threshold(labels, score, strict=False)


def _graded_evidence(
    runs: Path, gradings: dict[tuple[str, int], int]
) -> tuple[list, np.ndarray, np.ndarray, list[str]]:
    """The graded levels' evidence (summary.json), "any Modic", types and patients."""
    if not runs.is_dir():
        raise InputError(runs, "is not a folder of run outputs")
    evidence, truth, types, patients = [], [], [], []
    for folder in sorted(p for p in runs.iterdir() if (p / "summary.json").is_file()):
        for item in read_level_evidence(folder):
            key = (folder.name, item.index_from_sacrum)
            if key in gradings:
                evidence.append(item)
                truth.append(gradings[key] > 0)
                types.append(gradings[key])
                patients.append(folder.name)
    if not evidence:
        raise InputError(
            runs,
            "no run's level evidence (summary.json 'levels'; re-run older outputs) matches a "
            "graded disc (folder name = Patient)",
        )
    labels = np.array(truth)
    if len(np.unique(labels)) != 2:
        raise InputError(runs, "the level model needs levels with and without Modic changes")
    return evidence, labels, np.array(types), patients


def level_model_out_of_fold(
    runs: Path, gradings: dict[tuple[str, int], int], *, with_network: bool = False
) -> OutOfFold | None:
    """The level model (and its threshold) refitted without each patient, applied to that
    patient's levels."""
    from modicmap.grading.level_model import (
        FEATURES,
        WITHOUT_NETWORK,
        evidence_features,
        fit_level_model,
    )

    evidence, labels, types, patients = _graded_evidence(runs, gradings)
    features = evidence_features(evidence)

    def refit(train: np.ndarray, test: np.ndarray) -> np.ndarray | None:
        if len(np.unique(labels[train])) != 2:
            return None
        model = fit_level_model(
            [evidence[i] for i in train],
            labels[train],
            features=FEATURES if with_network else WITHOUT_NETWORK,
            types=types[train],
        )
        return model.probability(features[test]) >= model.threshold

    return out_of_fold(patients, labels, refit, unit="levels")


@dataclass(frozen=True)
class GradedScores:
    """One item (a level or an endplate) per entry: its patient, the grade's "any Modic",
    and the score the threshold acts on."""

    patients: tuple[str, ...]
    truth: np.ndarray
    score: np.ndarray
    unit: str  # "levels", "endplates", or "reviewed endplates and levels"


def _run_folders(runs: Path) -> list[Path]:
    if not runs.is_dir():
        raise InputError(runs, "is not a folder of run outputs")
    return sorted(
        p
        for p in runs.iterdir()
        if (p / "levels.csv").is_file() and (p / "endplates.csv").is_file()
    )


def graded_level_scores(
    runs: Path,
    gradings: dict[tuple[str, int], int],
    rule: GradingRule = GradingRule.SHARE,
    endplate_gradings: dict[tuple[str, int, str], int] | None = None,
) -> GradedScores:
    """Every graded item of every run folder (name = Patient). ``endplate_gradings``
    ((patient, index from sacrum, "upper"/"lower") -> type, from reviews): a level whose
    two endplates were graded counts as those two endplates (upper = the inferior endplate
    of the level's upper vertebra), any other graded level as one level."""
    endplate_gradings = endplate_gradings or {}
    per_endplate = endplate_shares if rule is GradingRule.SHARE else endplate_probabilities
    patients: list[str] = []
    truth: list[bool] = []
    score: list[float] = []
    units = set()
    for folder in _run_folders(runs):
        values = per_endplate(folder)
        for row in _level_rows(folder):
            index = int(row["index_from_sacrum"])
            sides = {
                "upper": (row["upper_vertebra"], "inferior"),
                "lower": (row["lower_vertebra"], "superior"),
            }
            graded = {s: endplate_gradings.get((folder.name, index, s)) for s in sides}
            if all(v is not None for v in graded.values()):
                for side, key in sides.items():
                    patients.append(folder.name)
                    truth.append(int(graded[side] or 0) > 0)
                    score.append(values.get(key, 0.0))
                units.add("endplates")
            elif (folder.name, index) in gradings:
                patients.append(folder.name)
                truth.append(gradings[(folder.name, index)] > 0)
                score.append(larger_of_endplates(row, values))
                units.add("levels")
    if not truth:
        raise InputError(runs, "no level of any run matches a graded disc (folder name = Patient)")
    unit = units.pop() if len(units) == 1 else "reviewed endplates and levels"
    return GradedScores(tuple(patients), np.array(truth), np.array(score, float), unit)


def _level_rows(run: Path) -> list[dict[str, str]]:
    path = run / "levels.csv"
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    missing = {"index_from_sacrum", "upper_vertebra", "lower_vertebra"} - set(
        rows[0] if rows else {}
    )
    if rows and missing:
        raise InputError(path, f"is not a modicmap table (missing column: {sorted(missing)})")
    return rows


def threshold_on_scores(scores: GradedScores, rule: GradingRule, runs: Path) -> ThresholdChoice:
    """Youden's threshold over the graded items."""
    from dataclasses import replace

    try:
        choice = youden_threshold(scores.truth, scores.score, strict=rule is GradingRule.SHARE)
    except ValueError as exc:
        raise InputError(runs, str(exc).replace("levels", scores.unit)) from None
    return replace(choice, unit=scores.unit)


def calibrate_on_runs(
    runs: Path, gradings: dict[tuple[str, int], int], rule: GradingRule = GradingRule.SHARE
) -> ThresholdChoice:
    """Youden threshold over the graded levels of every run folder (name = Patient)."""
    return threshold_on_scores(graded_level_scores(runs, gradings, rule), rule, runs)


@dataclass(frozen=True)
class OutOfFold:
    """Calls made by refits that never saw the patient: "any Modic" against the grades."""

    folds: int
    patients: int
    items: int  # items that got an out-of-fold call (a fold with one class is skipped)
    unit: str
    sensitivity: float
    specificity: float
    kappa: float  # Cohen's kappa, Modic present vs absent

    def text(self) -> str:
        return (
            f"out of fold ({self.folds}-fold by patient, {self.patients} patients, "
            f"{self.items} {self.unit}): sensitivity {self.sensitivity:.2f}, specificity "
            f"{self.specificity:.2f}, kappa {self.kappa:.2f} (Modic present vs absent)"
        )


def out_of_fold(
    patients: Sequence[str],
    truth: np.ndarray,
    refit: Callable[[np.ndarray, np.ndarray], np.ndarray | None],
    *,
    folds: int = 5,
    unit: str = "levels",
) -> OutOfFold | None:
    """Cross-validation by patient: ``refit(train, test)`` (index arrays) returns the test
    items' calls (bool) of a refit on the train items, or None when it cannot be fitted.
    None with fewer than two patients."""
    from sklearn.metrics import cohen_kappa_score
    from sklearn.model_selection import GroupKFold

    groups = np.asarray(patients)
    n_patients = len(set(patients))
    if n_patients < 2:
        return None
    truth = np.asarray(truth, bool)
    calls = np.zeros(truth.size, bool)
    done = np.zeros(truth.size, bool)
    k = min(folds, n_patients)
    for train, test in GroupKFold(n_splits=k).split(truth, groups=groups):
        predicted = refit(train, test)
        if predicted is not None:
            calls[test] = predicted
            done[test] = True
    if not done.any():
        return None
    t, c = truth[done], calls[done]
    positives, negatives = int(t.sum()), int((~t).sum())
    kappa = float(cohen_kappa_score(t, c)) if len(np.unique(np.r_[t, c])) > 1 else 1.0
    return OutOfFold(
        folds=k,
        patients=len(set(groups[done])),
        items=int(done.sum()),
        unit=unit,
        sensitivity=float((t & c).sum() / positives) if positives else float("nan"),
        specificity=float((~t & ~c).sum() / negatives) if negatives else float("nan"),
        kappa=kappa,
    )


def threshold_out_of_fold(scores: GradedScores, rule: GradingRule) -> OutOfFold | None:
    """The Youden threshold refitted without each patient, applied to that patient."""
    strict = rule is GradingRule.SHARE

    def refit(train: np.ndarray, test: np.ndarray) -> np.ndarray | None:
        if len(np.unique(scores.truth[train])) != 2:
            return None
        t = youden_threshold(scores.truth[train], scores.score[train], strict=strict).threshold
        return scores.score[test] > t if strict else scores.score[test] >= t

    return out_of_fold(scores.patients, scores.truth, refit, unit=scores.unit)


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
