"""Weak supervision from per-level gradings (e.g. SPIDER): crops whose labels are disc levels.

Lesions painted into real anatomy do not transfer to real Modic changes on their own
(docs/benchmarks.md: level AUC 0.53 on SPIDER dev). Radiologists' per-level gradings
are what real data offers, so the V-Net also learns from them by multiple-instance
learning: every body crop the pipeline makes at inference carries up to two "bags",
the voxels of the endplate regions of the disc level above and of the level below the
body (``modicmap.grading.endplates``: inferior region of the upper body + superior region
of the lower body). A bag's score is the mean of its ``top_k`` highest voxel
probabilities, the same score ``grade_endplates`` reports, and is trained with binary
cross-entropy against "any Modic at this level". The network still outputs a voxel
lesion probability map, so typing and the maps stay the paper's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modicmap.grading.endplates import DEFAULT_DEPTH_MM, Endplate, endplate_regions
from modicmap.grading.grade import disc_levels
from modicmap.labels import SACRUM_CODE
from modicmap.lesions.crops import CROP_MM, WORKING_MM, body_crops, sample_crop, vnet_inputs
from modicmap.lesions.dataset import LesionVolume, painting_seed
from modicmap.zscore import zscore_maps

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GradedVolume:
    """One study on the T1 grid with per-level gradings matched to its found bodies."""

    subject: str
    t1: np.ndarray  # arr[z, y, x]
    t2: np.ndarray  # registered onto the T1 grid
    vertebrae: np.ndarray  # VerSe codes
    spacing_zyx: tuple[float, float, float]
    levels: dict[tuple[int, int], int]  # (upper code, lower code) -> graded Modic 0-3


@dataclass(frozen=True)
class LevelCropSet:
    subjects: np.ndarray  # (n,) str
    inputs: np.ndarray  # (n, 2, S, S) float32: T1 z, T2 z inside the bodies
    bags: np.ndarray  # (n, 2, S, S) bool: the level above / below the crop's body
    labels: np.ndarray  # (n, 2) int8: graded Modic of that level, -1 when not graded

    def subset(self, mask: np.ndarray) -> LevelCropSet:
        return LevelCropSet(
            self.subjects[mask], self.inputs[mask], self.bags[mask], self.labels[mask]
        )

    def __len__(self) -> int:
        return len(self.subjects)


def match_levels(
    codes: Iterable[int], patient: str, gradings: dict[tuple[str, int], int]
) -> dict[tuple[int, int], int]:
    """Graded Modic of every disc level between found bodies, through index_from_sacrum."""
    out = {}
    for upper, lower, index in disc_levels(list(codes)):
        grade = gradings.get((patient, index))
        if grade is not None:
            out[(upper, lower)] = grade
    return out


def level_crops(
    volume: GradedVolume, *, depth_mm: float = DEFAULT_DEPTH_MM, smooth: bool = False
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Inputs, bags and labels of every body crop with at least one graded adjacent level;
    ``smooth``: inputs anti-aliased as the bundle's ``lesions.antialias`` does at inference."""
    z = zscore_maps(volume.t1, volume.t2, volume.vertebrae)
    spacing_yx = volume.spacing_zyx[1:]
    t1z, t2z = vnet_inputs(z.t1z, z.t2z, volume.vertebrae > 0, spacing_yx, smooth=smooth)
    regions = endplate_regions(volume.vertebrae, volume.spacing_zyx, depth_mm)
    above = {lower: (upper, lower) for upper, lower in volume.levels}
    below = {upper: (upper, lower) for upper, lower in volume.levels}
    inputs, bags, labels = [], [], []
    for crop in body_crops(volume.vertebrae, volume.spacing_zyx):
        k = crop.slice_index
        crop_bags = np.zeros((2, *_crop_shape()), bool)
        crop_labels = np.full(2, -1, np.int8)
        for j, level in enumerate((above.get(crop.code), below.get(crop.code))):
            if level is None:
                continue
            upper = regions.get((level[0], Endplate.INFERIOR))
            lower = regions.get((level[1], Endplate.SUPERIOR))
            if upper is None or lower is None:
                continue
            bag = (upper[k] | lower[k]).astype(np.float32)
            crop_bags[j] = sample_crop(bag, crop, spacing_yx, order=0) > 0.5
            if crop_bags[j].any():
                crop_labels[j] = volume.levels[level]
        if (crop_labels < 0).all():
            continue
        inputs.append(
            np.stack([sample_crop(t1z[k], crop, spacing_yx), sample_crop(t2z[k], crop, spacing_yx)])
        )
        bags.append(crop_bags)
        labels.append(crop_labels)
    return inputs, bags, labels


def _crop_shape() -> tuple[int, int]:
    side = round(CROP_MM / WORKING_MM)
    return side, side


def to_level_crop_set(volumes: Iterable[GradedVolume], *, smooth: bool = False) -> LevelCropSet:
    subjects: list[str] = []
    inputs: list[np.ndarray] = []
    bags: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    for volume in volumes:
        x, b, y = level_crops(volume, smooth=smooth)
        inputs += x
        bags += b
        labels += y
        subjects += [volume.subject] * len(x)
    side = _crop_shape()
    return LevelCropSet(
        np.asarray(subjects, dtype=str),
        np.asarray(inputs, np.float32).reshape(-1, 2, *side),
        np.asarray(bags, bool).reshape(-1, 2, *side),
        np.asarray(labels, np.int8).reshape(-1, 2),
    )


def graded_volumes(
    cohort: Path,
    gradings_csv: Path,
    prepare_study: Callable[..., Any],
    bundle_folder: Path | None = None,
    device: str = "cpu",
) -> list[GradedVolume]:
    """Register and find the bodies of every ``study_id,t1,t2`` row of ``cohort`` (the
    ``batch`` CSV) and match its levels to ``gradings_csv`` (SPIDER format, study_id =
    Patient). Studies that fail (bad input, no bodies) are skipped with a log line.
    ``prepare_study``: the pipeline's front, :func:`modicmap.pipeline.prepare.prepare_study`,
    passed in by the caller (the pipeline runs the lesion stage, so this stage may not
    import it)."""
    from modicmap.batch.cohort import read_cohort
    from modicmap.errors import InputError
    from modicmap.io.gradings import read_spider_gradings
    from modicmap.models.bundle import load_bundle

    gradings = read_spider_gradings(gradings_csv)
    bundle = load_bundle(bundle_folder)
    out = []
    for study in read_cohort(cohort):
        try:
            prepared = prepare_study(study.t1, study.t2, bundle, device=device)
        except InputError as exc:
            logger.warning("graded study %s skipped: %s", study.study_id, exc)
            continue
        codes = [b.code for b in prepared.vertebrae.bodies]
        levels = match_levels(codes, study.study_id, gradings)
        if not levels:
            logger.warning("graded study %s skipped: no level matches a grading", study.study_id)
            continue
        out.append(
            GradedVolume(
                study.study_id,
                prepared.t1_array,
                prepared.t2_array,
                prepared.vertebrae.labels,
                prepared.spacing_zyx,
                levels,
            )
        )
    return out


def normal_bodies(volume: GradedVolume) -> frozenset[int]:
    """Bodies whose every adjacent disc level is graded "no Modic" (both levels; the sacrum's
    one): their marrow carries no graded change, and a crop centred on one shows only those
    levels' endplates (the neighbours' far endplates lie outside its 80 mm)."""
    graded: dict[int, list[int]] = {}
    for (upper, lower), grade in volume.levels.items():
        graded.setdefault(upper, []).append(grade)
        graded.setdefault(lower, []).append(grade)
    return frozenset(
        code
        for code, grades in graded.items()
        if len(grades) == (1 if code == SACRUM_CODE else 2) and not any(grades)
    )


def painted_graded_volumes(
    volumes: Iterable[GradedVolume], paintings: int, seed: int
) -> Iterator[LesionVolume]:
    """Lesions painted (``modicmap.synth.paint``) into the normal bodies of graded studies,
    ``paintings`` times each, with crops around those bodies only: voxel supervision on the
    user's own scanners' marrow, where nothing graded is labelled background. One painting
    at a time (3-D studies: each holds two full volumes)."""
    from modicmap.synth.paint import paint_lesions

    for volume in volumes:
        codes = normal_bodies(volume)
        if not codes:
            continue
        for j in range(paintings):
            painted = paint_lesions(
                volume.t1,
                volume.t2,
                volume.vertebrae,
                volume.spacing_zyx,
                np.random.default_rng(painting_seed(seed, j, volume.subject)),
                codes=codes,
            )
            yield LesionVolume(
                volume.subject,
                painted.t1,
                painted.t2,
                volume.vertebrae,
                painted.modic_map,
                volume.spacing_zyx,
                crop_codes=codes,
            )


def mil_loss(probability, bags, labels, k: int):  # torch tensors -> scalar tensor
    """BCE of each graded bag's top-``k`` mean lesion probability against "any Modic"."""
    import torch

    scores, targets = [], []
    for i, j in zip(*np.nonzero(labels.cpu().numpy() >= 0), strict=True):
        values = probability[i][bags[i, j]]
        scores.append(torch.topk(values, min(k, values.numel())).values.mean())
        targets.append(float(labels[i, j] > 0))
    if not scores:
        return probability.sum() * 0.0
    score = torch.stack(scores).clamp(1e-4, 1 - 1e-4)
    return torch.nn.functional.binary_cross_entropy(
        score, torch.tensor(targets, dtype=score.dtype, device=score.device)
    )


def bag_scores(probability: np.ndarray, bags: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Top-``k`` mean probability of every bag (NaN where not graded), numpy version."""
    out = np.full(labels.shape, np.nan, np.float32)
    for i, j in zip(*np.nonzero(labels >= 0), strict=True):
        values = probability[i][bags[i, j]]
        kk = min(k, values.size)
        out[i, j] = np.sort(values)[-kk:].mean()
    return out
