"""Training slices for the vertebral-body network.

Folder layouts accepted by ``modicmap train vertebrae --data DIR``:

* lumbar-vb style: ``<case>.nii.gz`` (or ``<case>_<seq>.nii.gz``) with
  ``<case>_vb.nii.gz`` beside it, labels 1..n from superior to inferior; an optional
  ``cases.csv`` (columns case, subject, source) groups volumes by subject and tells
  whether the lowest label is S1 (source starting with "VB1") or L5 (the sacrum is
  then unlabelled, and the loss is ignored below L5 instead of calling it background);
* nnU-Net raw: ``imagesTr/<case>_0000.nii.gz`` + ``labelsTr/<case>.nii.gz``, labels as
  above, or VerSe codes (26 = sacrum) when the values reach 20 or more.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from modicmap.errors import InputError
from modicmap.labels import SACRUM_CODE
from modicmap.vertebrae.network import IGNORE

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingCase:
    case: str
    subject: str
    image: Path
    mask: Path
    lowest_is_sacrum: bool | None  # None: the labels are VerSe codes


@dataclass(frozen=True)
class TrainingSlice:
    subject: str
    image: np.ndarray  # float32, normalised, working spacing
    target: np.ndarray  # uint8 classes (0, 1, 2) or IGNORE


def find_cases(folder: Path) -> list[TrainingCase]:
    """The image/mask pairs of a training folder (layouts in the module docstring)."""
    if not folder.is_dir():
        raise InputError(folder, "training data folder does not exist")
    cases: list[TrainingCase] = []
    if (folder / "imagesTr").is_dir() and (folder / "labelsTr").is_dir():
        for image in sorted((folder / "imagesTr").glob("*_0000.nii.gz")):
            case = image.name[: -len("_0000.nii.gz")]
            mask = folder / "labelsTr" / f"{case}.nii.gz"
            if mask.is_file():
                cases.append(TrainingCase(case, case, image, mask, None))
    else:
        meta: dict[str, dict[str, str]] = {}
        if (folder / "cases.csv").is_file():
            with (folder / "cases.csv").open(newline="") as handle:
                for row in csv.DictReader(handle):
                    meta[row["case"]] = row
        for mask in sorted(folder.glob("*_vb.nii.gz")):
            stem = mask.name[: -len("_vb.nii.gz")]
            image = folder / f"{stem}.nii.gz"
            if not image.is_file():
                continue
            case = stem.rsplit("_", 1)[0] if stem.rsplit("_", 1)[0] in meta else stem
            row = meta.get(case, {})
            cases.append(
                TrainingCase(
                    case=stem,
                    subject=row.get("subject", case),
                    image=image,
                    mask=mask,
                    lowest_is_sacrum=row.get("source", "VB1").startswith("VB1"),
                )
            )
    if not cases:
        raise InputError(
            folder, "holds no image/mask pairs (see `modicmap train vertebrae --help`)"
        )
    return cases


def normalise(image: np.ndarray) -> np.ndarray:
    """Percentile scaling per image (robust across T1, T2, TIRM and scanners)."""
    low, high = np.percentile(image, (0.5, 99.5))
    return np.clip((image - low) / max(float(high - low), 1e-6), 0.0, 1.0).astype(np.float32)


def classes_from_labels(
    mask: np.ndarray, lowest_is_sacrum: bool | None, spacing_y: float
) -> np.ndarray:
    """Training classes from a 3-D label volume (canonical arr[z, y, x])."""
    target = np.zeros(mask.shape, np.uint8)
    if lowest_is_sacrum is None:  # VerSe codes
        target[(mask > 0) & (mask != SACRUM_CODE)] = 1
        target[mask == SACRUM_CODE] = 2
        return target
    labels = [int(v) for v in np.unique(mask) if v]
    if not labels:
        return target
    lowest = max(labels)  # labels run superior (1) -> inferior (n)
    target[mask > 0] = 1
    if lowest_is_sacrum:
        target[mask == lowest] = 2
    else:  # the sacrum is there but unlabelled: say nothing below L5
        rows = np.flatnonzero((mask == lowest).any(axis=(0, 2)))
        cut = rows[-1] + round(4.0 / spacing_y)
        target[:, cut:, :] = np.where(target[:, cut:, :] > 0, target[:, cut:, :], IGNORE)
    return target


def to_working_spacing(
    array: np.ndarray, spacing_yx: tuple[float, float], working: float, order: int
) -> np.ndarray:
    zoom = (spacing_yx[0] / working, spacing_yx[1] / working)
    return ndimage.zoom(
        array, zoom, order=order, grid_mode=True, mode="grid-constant" if order == 0 else "nearest"
    )


def load_slices(
    cases: list[TrainingCase], working_spacing: float, margin_slices: int = 2
) -> list[TrainingSlice]:
    """Sagittal slices with bodies (plus ``margin_slices`` lateral ones without)."""
    slices: list[TrainingSlice] = []
    for case in cases:
        image = sitk.DICOMOrient(sitk.ReadImage(str(case.image)), "PIR")
        mask = sitk.DICOMOrient(sitk.ReadImage(str(case.mask)), "PIR")
        arr = sitk.GetArrayFromImage(image).astype(np.float32)
        lab = sitk.GetArrayFromImage(mask)
        if arr.shape != lab.shape:
            raise InputError(
                case.mask, f"mask shape {lab.shape} differs from the image's {arr.shape}"
            )
        spacing_yx = (image.GetSpacing()[1], image.GetSpacing()[0])
        target = classes_from_labels(lab, case.lowest_is_sacrum, spacing_yx[0])
        arr = normalise(arr)
        with_body = np.flatnonzero((target == 1).any(axis=(1, 2)))
        if with_body.size == 0:
            continue
        first, last = (
            max(0, with_body[0] - margin_slices),
            min(arr.shape[0], with_body[-1] + margin_slices + 1),
        )
        for k in range(first, last):
            slices.append(
                TrainingSlice(
                    subject=case.subject,
                    image=to_working_spacing(arr[k], spacing_yx, working_spacing, 1).astype(
                        np.float32
                    ),
                    target=to_working_spacing(target[k], spacing_yx, working_spacing, 0).astype(
                        np.uint8
                    ),
                )
            )
        logger.info("%s: %d slices", case.case, last - first)
    return slices


def synthetic_slices(
    n_studies: int,
    working_spacing: float,
    seed: int = 1000,
    *,
    all_slices: bool = False,
    outline_ignore_px: int = 0,
) -> list[TrainingSlice]:
    """Sagittal slices of synthetic studies (every label known, sacrum included).

    By default the 5 central slices of 7-slice studies (what the shipped networks were
    trained on); ``all_slices``: every slice with a body (plus two lateral ones without,
    as :func:`load_slices`) of studies in the ``synth`` command's 15-slice geometry, so the
    lateral partial-volume slices of a 3-D study are learnt too. ``outline_ignore_px``:
    a band of that many working pixels either side of every synthetic outline is left out
    of the loss (IGNORE), because a synthetic body includes its 1.3 mm cortex ring while the
    real masks draw that edge their own way; training on it made the real bodies grow.
    """
    from modicmap.synth.study import SynthOptions, synthesize_study

    out = []
    for i in range(n_studies):
        study = synthesize_study(seed + i, SynthOptions(slices=15 if all_slices else 7, matrix=256))
        arr = sitk.GetArrayFromImage(study.t1 if i % 2 == 0 else study.t2)
        codes = sitk.GetArrayFromImage(study.vertebrae if i % 2 == 0 else study.t2_vertebrae)
        target = classes_from_labels(codes, None, 1.0)
        grid = study.t1 if i % 2 == 0 else study.t2
        spacing_yx = (grid.GetSpacing()[1], grid.GetSpacing()[0])
        arr = normalise(arr)
        if all_slices:
            with_body = np.flatnonzero((target == 1).any(axis=(1, 2)))
            if with_body.size == 0:
                continue
            chosen = range(max(0, with_body[0] - 2), min(len(arr), with_body[-1] + 3))
        else:
            chosen = range(1, 6)
        for k in chosen:
            working = to_working_spacing(target[k], spacing_yx, working_spacing, 0)
            working = working.astype(np.uint8)
            if outline_ignore_px:
                bone = working > 0
                band = ndimage.binary_dilation(bone, iterations=outline_ignore_px)
                band &= ~ndimage.binary_erosion(bone, iterations=outline_ignore_px)
                working[band] = IGNORE
            out.append(
                TrainingSlice(
                    subject=f"synthetic-{i}",
                    image=to_working_spacing(arr[k], spacing_yx, working_spacing, 1).astype(
                        np.float32
                    ),
                    target=working,
                )
            )
    return out
