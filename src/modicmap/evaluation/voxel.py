"""Evaluate `run` outputs against voxel ground truth (synthetic or painted studies).

Truth layout (what ``modicmap synth`` writes): ``TRUTH/<study_id>/truth/`` holding
``vertebrae.nii.gz``, ``modic_map.nii.gz``, ``endplates.csv`` and ``levels.csv`` in the
formats `run` writes, and the T1 beside it (``TRUTH/<study_id>/t1.nii.gz`` or a ``t1/``
DICOM folder). Each run folder ``RUNS/<study_id>/`` is matched to the truth study of the
same name.

- Endplates match by (vertebra, endplate), levels by their name (``L4-L5``); a truth
  row the run did not report (body not found, or named differently) is counted as
  unmatched, never silently scored or dropped. Names are what users read, so this is
  the headline pairing. A second pairing goes through the bodies themselves: each run
  body takes the name of the truth body it overlaps most (:func:`body_name_map`), which
  separates grading errors from level-naming errors.
- Endplate and level tables are scored with :func:`modicmap.evaluation.metrics.level_metrics`
  (presence and 4-class kappa, accuracy, sensitivity, specificity, per type, confusion,
  ROC AUC of the ``probability`` column); :func:`bootstrap_cis` adds 95 % percentile
  intervals over bootstrap samples of STUDIES (endplates of one patient are not
  independent).
- Voxel Dice of the lesion (``modic_map > 0``) and of each type, from per-study
  true-positive / false-positive / false-negative counts: pooled over all studies (the
  headline number), the mean of per-study values, and a study-bootstrap 95 % CI of the
  pooled value. Dice is counted by hand because sklearn's ``f1_score`` would need the
  whole voxel arrays at once; tests check it against ``f1_score``.
"""

from __future__ import annotations

import csv
import json
import logging
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
from sklearn.metrics import cohen_kappa_score, roc_auc_score

from modicmap.errors import InputError
from modicmap.evaluation.gradings import MatchedLevel
from modicmap.evaluation.metrics import LevelMetrics, level_metrics, patient_bootstrap
from modicmap.io.reader import read_label_image
from modicmap.labels import vertebra_name

logger = logging.getLogger(__name__)

ENDPLATE_COLUMNS = ("vertebra", "endplate", "modic", "probability")
LEVEL_COLUMNS = ("level", "index_from_sacrum", "modic", "probability")
DICE_LABELS = ("lesion", "type1", "type2", "type3")


@dataclass(frozen=True)
class MatchedEndplate:
    study: str
    vertebra: str
    endplate: str
    truth: int
    predicted: int
    probability: float
    # the ISSLS height fractions (None where a table predates the column)
    truth_height_fraction: float | None = None
    predicted_height_fraction: float | None = None


@dataclass(frozen=True)
class StudyVoxels:
    """Voxel counts of one study: label -> (true positives, false positives, false negatives)."""

    study: str
    counts: dict[str, tuple[int, int, int]]


@dataclass(frozen=True)
class TruthMatching:
    endplates: tuple[MatchedEndplate, ...]
    levels: tuple[MatchedLevel, ...]
    voxels: tuple[StudyVoxels, ...]
    truth_endplates: int  # truth rows of the matched studies
    truth_levels: int
    unmatched_truth_endplates: tuple[str, ...]  # "study vertebra endplate"
    unmatched_run_endplates: tuple[str, ...]
    unmatched_truth_levels: tuple[str, ...]
    studies_without_run: tuple[str, ...]
    # endplates matched through the body each run body overlaps most (naming errors undone)
    endplates_by_overlap: tuple[MatchedEndplate, ...] = ()
    renamed_bodies: tuple[str, ...] = ()  # "study: run L4 = truth L5"

    def summary(self) -> dict[str, Any]:
        return {
            "studies": len(self.voxels),
            "truth_endplates": self.truth_endplates,
            "matched_endplates": len(self.endplates),
            "truth_levels": self.truth_levels,
            "matched_levels": len(self.levels),
            "unmatched_truth_endplates": list(self.unmatched_truth_endplates),
            "unmatched_run_endplates": list(self.unmatched_run_endplates),
            "unmatched_truth_levels": list(self.unmatched_truth_levels),
            "studies_without_run": list(self.studies_without_run),
            "matched_endplates_by_overlap": len(self.endplates_by_overlap),
            "bodies_named_differently": list(self.renamed_bodies),
        }


@dataclass(frozen=True)
class DiceResult:
    pooled: dict[str, float]  # label -> Dice over all voxels of all studies
    mean_per_study: dict[str, float]  # label -> mean over studies where it is defined
    pooled_ci95: dict[str, tuple[float, float]]
    per_study: dict[str, dict[str, float]]  # study -> label -> Dice


@dataclass(frozen=True)
class TruthEvaluation:
    matching: TruthMatching
    endplates: LevelMetrics
    endplates_ci95: dict[str, tuple[float, float]]
    levels: LevelMetrics
    levels_ci95: dict[str, tuple[float, float]]
    dice: DiceResult
    # endplates paired through body overlap instead of names: grading without naming errors
    endplates_by_overlap: LevelMetrics | None = None
    endplates_by_overlap_ci95: dict[str, tuple[float, float]] | None = None

    def to_json(self) -> dict[str, Any]:
        by_overlap = None
        if self.endplates_by_overlap is not None:
            by_overlap = {
                **self.endplates_by_overlap.to_json(),
                "ci95": self.endplates_by_overlap_ci95,
            }
        return {
            "matching": self.matching.summary(),
            "endplates": {**self.endplates.to_json(), "ci95": self.endplates_ci95},
            "levels": {**self.levels.to_json(), "ci95": self.levels_ci95},
            "endplates_matched_by_body_overlap": by_overlap,
            "voxel_dice": asdict(self.dice),
            "issls_measures": issls_agreement(self.matching.endplates),
        }


@dataclass(frozen=True)
class LesionVoxels:
    """(T1 z, T2 z) of every voxel that is lesion in the truth or in the run (for Fig. 2)."""

    t1z: np.ndarray
    t2z: np.ndarray
    truth: np.ndarray  # 0-3
    predicted: np.ndarray  # 0-3
    centroids_used: dict[str, Any] | None = None  # from the run's summary.json


# --- small readers that name the file on every problem ---------------------------------


def _read_table(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    if not path.is_file():
        raise InputError(path, "does not exist")
    try:
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            missing = set(required) - set(reader.fieldnames or [])
            if missing:
                raise InputError(path, f"missing column(s) {sorted(missing)}")
            return list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(path, f"cannot be read as CSV ({exc})") from None


def _int(value: str, path: Path, column: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InputError(path, f"non-integer {column} {value!r}") from None


def _float(value: str, path: Path, column: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InputError(path, f"non-numeric {column} {value!r}") from None


def _same_grid(a: sitk.Image, b: sitk.Image) -> bool:
    return a.GetSize() == b.GetSize() and np.allclose(a.GetSpacing(), b.GetSpacing(), atol=1e-3)


# --- matching --------------------------------------------------------------------------


def truth_studies(truth: Path) -> list[str]:
    if not truth.is_dir():
        raise InputError(truth, "is not a folder of ground-truth studies")
    names = sorted(p.name for p in truth.iterdir() if (p / "truth" / "endplates.csv").is_file())
    if not names:
        raise InputError(truth, "holds no study with truth/endplates.csv (layout of `synth`)")
    return names


def voxel_counts(
    truth_map: np.ndarray, predicted_map: np.ndarray
) -> dict[str, tuple[int, int, int]]:
    """label -> (TP, FP, FN) voxels for the lesion (any type) and each type."""
    out = {}
    for label, t, p in [("lesion", truth_map > 0, predicted_map > 0)] + [
        (f"type{k}", truth_map == k, predicted_map == k) for k in (1, 2, 3)
    ]:
        tp = int(np.count_nonzero(t & p))
        out[label] = (tp, int(np.count_nonzero(p)) - tp, int(np.count_nonzero(t)) - tp)
    return out


def dice(tp: int, fp: int, fn: int) -> float:
    """2 TP / (2 TP + FP + FN); NaN when neither map has the label."""
    denominator = 2 * tp + fp + fn
    return 2 * tp / denominator if denominator else float("nan")


def body_name_map(truth_bodies: np.ndarray, run_bodies: np.ndarray) -> dict[str, str]:
    """Run body name -> name of the truth body it overlaps most.

    Pairs are taken by decreasing overlap and each truth body only once, so a run body
    split in two maps its larger part; run bodies that overlap no truth body are left out.
    """
    pairs = []
    for code in (int(c) for c in np.unique(run_bodies) if c != 0):
        labels, counts = np.unique(truth_bodies[run_bodies == code], return_counts=True)
        keep = labels != 0
        if keep.any():
            best = int(np.argmax(counts[keep]))
            pairs.append((int(counts[keep][best]), code, int(labels[keep][best])))
    names: dict[str, str] = {}
    taken: set[int] = set()
    for _, run_code, truth_code in sorted(pairs, reverse=True):
        if truth_code not in taken:
            taken.add(truth_code)
            names[vertebra_name(run_code)] = vertebra_name(truth_code)
    return names


def _pair_endplates(
    study: str,
    truth_rows: list[dict[str, str]],
    run_rows: dict[tuple[str, str], dict[str, str]],
    truth_path: Path,
    run_path: Path,
) -> tuple[list[MatchedEndplate], list[str]]:
    """Truth rows paired with the run row of the same (vertebra, endplate) key."""
    matched, missing = [], []
    for row in truth_rows:
        key = (row["vertebra"].strip(), row["endplate"].strip())
        found = run_rows.get(key)
        if found is None:
            missing.append(f"{study} {key[0]} {key[1]}")
            continue
        matched.append(
            MatchedEndplate(
                study,
                key[0],
                key[1],
                _int(row["modic"], truth_path, "modic"),
                _int(found["modic"], run_path, "modic"),
                _float(found["probability"], run_path, "probability"),
                _optional_float(row, "height_fraction", truth_path),
                _optional_float(found, "height_fraction", run_path),
            )
        )
    return matched, missing


def _optional_float(row: dict[str, str], column: str, path: Path) -> float | None:
    value = row.get(column)
    return None if value in (None, "") else _float(value, path, column)


#: the ISSLS check: a predicted height fraction within this of the truth's
HEIGHT_TOLERANCE = 0.1


def issls_agreement(rows: tuple[MatchedEndplate, ...]) -> dict[str, Any] | None:
    """How the ISSLS height fractions match the truth's on the truth's lesions (truth
    ``modic`` > 0): the share within ``HEIGHT_TOLERANCE``, the mean absolute error, and the
    agreement of the Nordic extent grades (weighted kappa)."""
    from modicmap.grading.measures import extent_grade

    pairs = [
        (r.truth_height_fraction, r.predicted_height_fraction)
        for r in rows
        if r.truth > 0
        and r.truth_height_fraction is not None
        and r.predicted_height_fraction is not None
    ]
    if not pairs:
        return None
    truth, predicted = (np.array(v, float) for v in zip(*pairs, strict=True))
    error = np.abs(predicted - truth)
    grades_t = [extent_grade(v) for v in truth]
    grades_p = [extent_grade(v) for v in predicted]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kappa = cohen_kappa_score(grades_t, grades_p, weights="linear", labels=[0, 1, 2, 3])
    return {
        "truth_lesions": len(pairs),
        "height_fraction_within_0.1": float((error <= HEIGHT_TOLERANCE + 1e-9).mean()),
        "height_fraction_mean_abs_error": float(error.mean()),
        "extent_grade_agreement": float(np.mean(np.equal(grades_t, grades_p))),
        "extent_grade_weighted_kappa": float(kappa),
    }


@dataclass(frozen=True)
class _StudyMatch:
    endplates: list[MatchedEndplate]
    levels: list[MatchedLevel]
    voxels: StudyVoxels
    missing_endplates: list[str]
    extra_endplates: list[str]
    missing_levels: list[str]
    truth_endplates: int
    truth_levels: int
    endplates_by_overlap: list[MatchedEndplate]
    renamed_bodies: list[str]


def _match_study(run: Path, truth: Path, study: str) -> _StudyMatch:
    truth_dir = truth / study / "truth"
    run_dir = run / study
    t_end = _read_table(truth_dir / "endplates.csv", ENDPLATE_COLUMNS)
    r_end = _read_table(run_dir / "endplates.csv", ENDPLATE_COLUMNS)
    t_lev = _read_table(truth_dir / "levels.csv", LEVEL_COLUMNS)
    r_lev = _read_table(run_dir / "levels.csv", LEVEL_COLUMNS)

    def endplate_key(row: dict[str, str]) -> tuple[str, str]:
        return (row["vertebra"].strip(), row["endplate"].strip())

    run_endplates = {endplate_key(r): r for r in r_end}
    truth_keys = {endplate_key(r) for r in t_end}
    endplates, missing = _pair_endplates(
        study, t_end, run_endplates, truth_dir / "endplates.csv", run_dir / "endplates.csv"
    )
    extra = [f"{study} {v} {e}" for v, e in run_endplates if (v, e) not in truth_keys]

    run_levels = {r["level"].strip(): r for r in r_lev}
    levels, missing_levels = [], []
    for row in t_lev:
        found = run_levels.get(row["level"].strip())
        if found is None:
            missing_levels.append(f"{study} {row['level'].strip()}")
            continue
        path = run_dir / "levels.csv"
        levels.append(
            MatchedLevel(
                study,
                _int(found["index_from_sacrum"], path, "index_from_sacrum"),
                row["level"].strip(),
                _int(row["modic"], truth_dir / "levels.csv", "modic"),
                _int(found["modic"], path, "modic"),
                _float(found["probability"], path, "probability"),
            )
        )

    truth_image = read_label_image(truth_dir / "modic_map.nii.gz")
    run_image = read_label_image(run_dir / "modic_map.nii.gz")
    if not _same_grid(truth_image, run_image):
        raise InputError(
            run_dir / "modic_map.nii.gz",
            f"grid {run_image.GetSize()} differs from the truth's {truth_image.GetSize()} "
            "(both must be on the study's T1 grid)",
        )
    counts = voxel_counts(sitk.GetArrayFromImage(truth_image), sitk.GetArrayFromImage(run_image))
    truth_bodies = read_label_image(truth_dir / "vertebrae.nii.gz")
    run_bodies = read_label_image(run_dir / "vertebrae.nii.gz")
    if not _same_grid(truth_bodies, run_bodies):
        raise InputError(run_dir / "vertebrae.nii.gz", "grid differs from the truth vertebrae")
    try:
        names = body_name_map(
            sitk.GetArrayFromImage(truth_bodies), sitk.GetArrayFromImage(run_bodies)
        )
    except ValueError as exc:
        raise InputError(run_dir / "vertebrae.nii.gz", str(exc)) from None
    renamed = {(names[v], e): row for (v, e), row in run_endplates.items() if v in names}
    by_overlap, _ = _pair_endplates(
        study, t_end, renamed, truth_dir / "endplates.csv", run_dir / "endplates.csv"
    )
    return _StudyMatch(
        endplates,
        levels,
        StudyVoxels(study, counts),
        missing,
        extra,
        missing_levels,
        len(t_end),
        len(t_lev),
        by_overlap,
        [f"{study}: run {r} = truth {t}" for r, t in names.items() if r != t],
    )


def match_truth(runs: Path, truth: Path) -> TruthMatching:
    """Match every run folder to the truth study of the same name."""
    if not runs.is_dir():
        raise InputError(runs, "is not a folder of run outputs")
    studies = truth_studies(truth)
    with_run = [s for s in studies if (runs / s / "endplates.csv").is_file()]
    if not with_run:
        raise InputError(runs, f"holds no run folder named after a study in {truth}")
    matches = [_match_study(runs, truth, study) for study in with_run]
    return TruthMatching(
        endplates=tuple(e for m in matches for e in m.endplates),
        levels=tuple(lv for m in matches for lv in m.levels),
        voxels=tuple(m.voxels for m in matches),
        truth_endplates=sum(m.truth_endplates for m in matches),
        truth_levels=sum(m.truth_levels for m in matches),
        unmatched_truth_endplates=tuple(x for m in matches for x in m.missing_endplates),
        unmatched_run_endplates=tuple(x for m in matches for x in m.extra_endplates),
        unmatched_truth_levels=tuple(x for m in matches for x in m.missing_levels),
        studies_without_run=tuple(s for s in studies if s not in with_run),
        endplates_by_overlap=tuple(e for m in matches for e in m.endplates_by_overlap),
        renamed_bodies=tuple(x for m in matches for x in m.renamed_bodies),
    )


# --- statistics ------------------------------------------------------------------------


def _statistics(truth: np.ndarray, predicted: np.ndarray, score: np.ndarray) -> dict[str, float]:
    """The point statistics that get a bootstrap interval (NaN where undefined)."""
    present, called = truth > 0, predicted > 0
    nan = float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # kappa of a one-class sample: NaN, not a warning
        out = {
            "accuracy": float((present == called).mean()),
            "sensitivity": float(called[present].mean()) if present.any() else nan,
            "specificity": float((~called[~present]).mean()) if (~present).any() else nan,
            "kappa_presence": float(cohen_kappa_score(present, called)),
            "kappa_types": float(cohen_kappa_score(truth, predicted, labels=[0, 1, 2, 3])),
            "auc": float(roc_auc_score(present, score))
            if 0 < present.sum() < present.size
            else nan,
        }
    for t in (1, 2, 3):
        pos = truth == t
        out[f"type{t}_sensitivity"] = float((predicted[pos] == t).mean()) if pos.any() else nan
        out[f"type{t}_specificity"] = float((predicted[~pos] != t).mean()) if (~pos).any() else nan
    return out


def _percentiles(samples: list[dict[str, float]]) -> dict[str, tuple[float, float]]:
    out = {}
    for key in samples[0]:
        values = np.array([s[key] for s in samples], float)
        values = values[np.isfinite(values)]
        out[key] = (
            (float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5)))
            if values.size
            else (float("nan"), float("nan"))
        )
    return out


def bootstrap_cis(
    patients: np.ndarray,
    truth: np.ndarray,
    predicted: np.ndarray,
    score: np.ndarray,
    *,
    n: int = 1000,
    seed: int = 0,
) -> dict[str, tuple[float, float]]:
    """95 % percentile intervals of accuracy, sensitivity, specificity, both kappas, AUC and
    per-type sensitivity/specificity over ``n`` bootstrap samples of PATIENTS."""
    patients = np.asarray(patients)
    truth, predicted = np.asarray(truth, int), np.asarray(predicted, int)
    score = np.asarray(score, float)
    samples = [
        _statistics(truth[idx], predicted[idx], score[idx])
        for idx in patient_bootstrap(patients, max(n, 1), seed)
    ]
    return _percentiles(samples)


def dice_result(voxels: tuple[StudyVoxels, ...], *, n: int = 1000, seed: int = 0) -> DiceResult:
    counts = np.array([[v.counts[label] for label in DICE_LABELS] for v in voxels], np.int64)

    def pooled(c: np.ndarray) -> dict[str, float]:
        total = c.sum(axis=0)
        return {label: dice(*map(int, total[i])) for i, label in enumerate(DICE_LABELS)}

    per_study = {v.study: {label: dice(*v.counts[label]) for label in DICE_LABELS} for v in voxels}
    mean_per_study = {}
    for label in DICE_LABELS:
        values = np.array([per_study[s][label] for s in per_study], float)
        values = values[np.isfinite(values)]
        mean_per_study[label] = float(values.mean()) if values.size else float("nan")
    rng = np.random.default_rng(seed)
    samples = [pooled(counts[rng.integers(0, len(voxels), len(voxels))]) for _ in range(max(n, 1))]
    return DiceResult(pooled(counts), mean_per_study, _percentiles(samples), per_study)


def _score(
    patients: list[str],
    truth: list[int],
    predicted: list[int],
    probability: list[float],
    bootstrap: int,
) -> tuple[LevelMetrics, dict[str, tuple[float, float]]]:
    arrays = (
        np.array(patients),
        np.array(truth, int),
        np.array(predicted, int),
        np.array(probability, float),
    )
    return level_metrics(*arrays, bootstrap=bootstrap), bootstrap_cis(*arrays, n=bootstrap)


def _score_endplates(
    rows: tuple[MatchedEndplate, ...], bootstrap: int
) -> tuple[LevelMetrics, dict[str, tuple[float, float]]]:
    return _score(
        [r.study for r in rows],
        [r.truth for r in rows],
        [r.predicted for r in rows],
        [r.probability for r in rows],
        bootstrap,
    )


def evaluate_against_truth(runs: Path, truth: Path, *, bootstrap: int = 1000) -> TruthEvaluation:
    """Per-endplate, per-level and voxel metrics of the runs in ``runs`` against ``truth``."""
    matching = match_truth(runs, truth)
    if not matching.endplates:
        raise InputError(runs, "no endplate of any run matches a truth endplate (vertebra names)")
    if not matching.levels:
        raise InputError(runs, "no level of any run matches a truth level (level names)")
    endplates, endplates_ci = _score_endplates(matching.endplates, bootstrap)
    lv = matching.levels
    levels, levels_ci = _score(
        [r.patient for r in lv],
        [r.graded for r in lv],
        [r.predicted for r in lv],
        [r.probability for r in lv],
        bootstrap,
    )
    by_overlap = by_overlap_ci = None
    if matching.endplates_by_overlap:
        by_overlap, by_overlap_ci = _score_endplates(matching.endplates_by_overlap, bootstrap)
    logger.info(
        "%d studies: %d/%d endplates and %d/%d levels matched",
        len(matching.voxels),
        len(matching.endplates),
        matching.truth_endplates,
        len(matching.levels),
        matching.truth_levels,
    )
    return TruthEvaluation(
        matching=matching,
        endplates=endplates,
        endplates_ci95=endplates_ci,
        levels=levels,
        levels_ci95=levels_ci,
        dice=dice_result(matching.voxels, n=bootstrap),
        endplates_by_overlap=by_overlap,
        endplates_by_overlap_ci95=by_overlap_ci,
    )


# --- lesion voxels in (T1 z, T2 z) for Fig. 2 ------------------------------------------


def _find_t1(truth: Path, run_dir: Path, study: str) -> Path | None:
    for candidate in (truth / study / "t1.nii.gz", truth / study / "t1.nii", truth / study / "t1"):
        if candidate.exists():
            return candidate
    try:
        path = json.loads((run_dir / "summary.json").read_text())["inputs"]["t1"]["path"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return Path(path) if Path(path).exists() else None


def lesion_voxels(runs: Path, truth: Path, studies: list[str]) -> LesionVoxels | None:
    """z-scores of the truth and run lesion voxels, as the pipeline typed them.

    z-scores are :func:`modicmap.zscore.zscore_maps` of the study's T1 and the run's
    ``t2_registered.nii.gz`` within the run's own ``vertebrae.nii.gz`` (the space in which
    the run typed its voxels), all on the T1's native grid. Studies whose T1 or run images
    are missing are skipped with a warning; ``None`` when none is left.
    """
    from modicmap.io.reader import read_image, to_native
    from modicmap.zscore import zscore_maps

    parts: list[tuple[np.ndarray, ...]] = []
    centroids = None
    for study in studies:
        run_dir = runs / study
        t1_path = _find_t1(truth, run_dir, study)
        needed = [run_dir / "t2_registered.nii.gz", run_dir / "vertebrae.nii.gz"]
        if t1_path is None or not all(p.is_file() for p in needed):
            logger.warning("%s: no T1 or no t2_registered/vertebrae; left out of Fig. 2", study)
            continue
        loaded = read_image(t1_path)
        t1 = sitk.GetArrayFromImage(to_native(loaded.image, loaded))
        t2 = sitk.GetArrayFromImage(read_label_image(needed[0]))
        bodies = sitk.GetArrayFromImage(read_label_image(needed[1]))
        truth_map = sitk.GetArrayFromImage(
            read_label_image(truth / study / "truth" / "modic_map.nii.gz")
        )
        run_map = sitk.GetArrayFromImage(read_label_image(run_dir / "modic_map.nii.gz"))
        if not (t1.shape == t2.shape == bodies.shape == truth_map.shape == run_map.shape):
            logger.warning("%s: images on different grids; left out of Fig. 2", study)
            continue
        try:
            z = zscore_maps(t1.astype(np.float32), t2.astype(np.float32), bodies)
        except ValueError:
            logger.warning("%s: no vertebral-body voxels; left out of Fig. 2", study)
            continue
        voxels = (truth_map > 0) | (run_map > 0)
        parts.append((z.t1z[voxels], z.t2z[voxels], truth_map[voxels], run_map[voxels]))
        if centroids is None:
            try:
                centroids = json.loads((run_dir / "summary.json").read_text()).get("centroids")
            except (OSError, ValueError):
                centroids = None
    if not parts:
        return None
    return LesionVoxels(
        *(np.concatenate([p[i] for p in parts]) for i in range(4)), centroids_used=centroids
    )
