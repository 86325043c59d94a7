"""Paint Modic lesions into REAL images whose vertebral bodies are known.

No public images with voxel-level Modic annotations exist, so lesions with known
masks are painted into real anatomy: a band along a chosen endplate, 1-12 mm deep,
over part of the endplate's anterior-posterior length and a run of sagittal
slices, with an irregular deep edge; its (T1 z, T2 z) signal is drawn around the
paper's centroids with their spreads, heterogeneous (smooth field plus fine
texture), in the same study-scope body z-space the pipeline uses
(:mod:`modicmap.zscore`). Painting is repeated until the body statistics,
which include the lesions, stop moving.

Second channel. Only real PAIRS are painted: in ``lumbar-vb`` the DzZ subject has a
T1 and a T2 on one grid, and the AKa and AKs subjects have a T1 and a TIRM on one
grid. TIRM stands in for T2 there: both are fluid-sensitive, and inside a painted
lesion both channels are set explicitly in z-space, so the lesion signal is exactly
what a T1/T2 pair would carry. What TIRM does not imitate is the normal marrow and
fat around the lesion (fat is dark on TIRM, bright on T2 TSE); those cases are
labelled ``second="TIRM"`` so users can leave them out. The T2-only volumes (VB2,
S02, St1) are not painted: a second channel invented from the first would teach a
network a T1/T2 relation no scanner produces.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from modicmap.grading.endplates import _column_distance
from modicmap.grading.grade import grade_endplates
from modicmap.grading.tables import EndplateGrade
from modicmap.labels import SACRUM_CODE, codes_from_sacrum
from modicmap.synth.lesions import MAX_DEPTH_MM, PAPER_MEANS, PAPER_SDS
from modicmap.zscore import body_stats


@dataclass(frozen=True)
class PaintedStudy:
    t1: np.ndarray  # float32 arr[z, y, x], painted
    t2: np.ndarray
    modic_map: np.ndarray  # uint8 0-3
    vertebrae: np.ndarray  # uint8 VerSe codes (as given)
    spacing_zyx: tuple[float, float, float]
    endplates: tuple[EndplateGrade, ...]


def _smooth_field(
    shape: tuple[int, ...], rng: np.random.Generator, sigma_vox: tuple[float, ...]
) -> np.ndarray:
    field = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), sigma_vox)
    return field / max(float(field.std()), 1e-6)


def _lesion_mask(
    body: np.ndarray,
    spacing_zyx: tuple[float, float, float],
    superior: bool,
    rng: np.random.Generator,
) -> np.ndarray:
    """A band along one endplate of ``body`` (boolean box-local array)."""
    distance = _column_distance(body, spacing_zyx[1], from_top=superior)
    columns = np.flatnonzero(body.any(axis=(0, 1)))
    slices = np.flatnonzero(body.any(axis=(1, 2)))
    span = rng.uniform(0.25, 1.0)
    start = rng.uniform(0.0, 1.0 - span)
    x0 = columns[0] + int(start * len(columns))
    x1 = max(x0 + 2, columns[0] + int((start + span) * len(columns)))
    n_slices = max(1, round(rng.uniform(0.3, 1.0) * len(slices)))
    z0 = slices[0] + int(rng.integers(0, len(slices) - n_slices + 1))
    z1 = z0 + n_slices
    xs = np.arange(body.shape[2])
    zs = np.arange(body.shape[0])
    along = np.clip((xs - x0) / max(x1 - x0, 1), 0, 1)
    across = (
        np.clip((zs - z0 + 0.5) / max(z1 - z0, 1), 0, 1) if n_slices > 1 else np.ones(body.shape[0])
    )
    bump = np.sqrt(
        np.clip(np.sin(np.pi * along)[None, :] * np.sin(np.pi * across)[:, None], 0, None)
    )
    if n_slices == 1:
        bump = np.sqrt(np.clip(np.sin(np.pi * along), 0, None))[None, :].repeat(body.shape[0], 0)
    edge = _smooth_field((body.shape[0], body.shape[2]), rng, (0.5, 3.0))
    reach = rng.uniform(3.0, MAX_DEPTH_MM) * bump * (1.0 + 0.2 * edge)
    reach = np.minimum(reach, MAX_DEPTH_MM)[:, None, :]
    inside = (distance >= 1.0) & (distance <= reach)
    inside[:, :, :x0] = False
    inside[:, :, x1:] = False
    inside[:z0] = False
    inside[z1:] = False
    return inside & body


def paint_lesions(
    t1: np.ndarray,
    t2: np.ndarray,
    vertebrae: np.ndarray,
    spacing_zyx: tuple[float, float, float],
    rng: np.random.Generator,
    *,
    lesion_rate: float = 0.4,
    types_p: tuple[float, float, float] = (0.3, 0.45, 0.25),
    mixed_rate: float = 0.2,
    codes: frozenset[int] | None = None,
) -> PaintedStudy:
    """Paint lesions at randomly chosen endplates of the VerSe-coded ``vertebrae`` (only of
    the bodies in ``codes`` when given; the body statistics still come from every body)."""
    t1 = t1.astype(np.float32, copy=True)
    t2 = t2.astype(np.float32, copy=True)
    modic = np.zeros(vertebrae.shape, np.uint8)
    targets = np.zeros((2, *vertebrae.shape), np.float32)
    p = np.asarray(types_p) / np.sum(types_p)
    for code in (int(c) for c in np.unique(vertebrae) if c):
        if codes is not None and code not in codes:
            continue
        where = np.argwhere(vertebrae == code)
        lo, hi = where.min(axis=0), where.max(axis=0) + 1
        box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
        body = vertebrae[box] == code
        for superior in (True,) if code == SACRUM_CODE else (True, False):
            if rng.random() >= lesion_rate:
                continue
            mask = _lesion_mask(body, spacing_zyx, superior, rng) & (modic[box] == 0)
            if not mask.any():
                continue
            kind = int(rng.choice([1, 2, 3], p=p))
            kinds = np.full(mask.shape, kind, np.uint8)
            if rng.random() < mixed_rate:
                other = 2 if kind != 2 else int(rng.choice([1, 3]))
                split = _smooth_field(mask.shape, rng, (1.0, 3.0, 3.0)) > 0
                kinds = np.where(split, kind, other).astype(np.uint8)
            region = modic[box]
            region[mask] = kinds[mask]
            for channel in (0, 1):
                field = 0.85 * _smooth_field(mask.shape, rng, (0.7, 1.5, 1.5))
                field += 0.55 * rng.standard_normal(mask.shape, dtype=np.float32)
                values = targets[channel][box]
                for t in np.unique(kinds[mask]):
                    part = mask & (kinds == t)
                    f = field[part]
                    f = (f - f.mean()) / max(float(f.std()), 1e-6) if f.size > 1 else f * 0
                    values[part] = PAPER_MEANS[int(t)][channel] + PAPER_SDS[int(t)][channel] * f
    lesion = modic > 0
    for channel, image in enumerate((t1, t2)):
        for _ in range(3):
            stats = body_stats(image, vertebrae)
            image[lesion] = np.maximum(stats.mean + targets[channel][lesion] * stats.sd, 0.0)
    endplates = grade_endplates(modic, vertebrae, spacing_zyx)
    return PaintedStudy(
        t1=t1,
        t2=t2,
        modic_map=modic,
        vertebrae=vertebrae,
        spacing_zyx=spacing_zyx,
        endplates=tuple(endplates),
    )


@dataclass(frozen=True)
class RealPair:
    """A real T1 + second-sequence pair on one grid with vertebral-body masks."""

    subject: str
    t1: Path
    second: Path
    second_kind: str  # "T2" or "TIRM"
    mask: Path
    source: str  # "VB1 Chu 2015" ...


def lumbar_vb_pairs(folder: Path) -> list[RealPair]:
    """The painting pairs of ``lumbar-vb`` (see the module docstring)."""
    with (folder / "cases.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    by_subject: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_subject.setdefault(row["subject"], []).append(row)
    pairs = []
    for subject, items in sorted(by_subject.items()):
        t1s = [r for r in items if r["sequence"] == "T1"]
        others = [r for r in items if r["sequence"] in ("T2", "TIRM")]
        for t1 in t1s:
            match = [o for o in others if o["shape"] == t1["shape"]]
            if not match:
                continue
            other = match[0]
            pairs.append(
                RealPair(
                    subject=subject,
                    t1=folder / f"{t1['case']}_T1.nii.gz",
                    second=folder / f"{other['case']}_{other['sequence']}.nii.gz",
                    second_kind=other["sequence"],
                    mask=folder / f"{t1['case']}_T1_vb.nii.gz",
                    source=t1["source"],
                )
            )
    return pairs


def lumbar_vb_codes(mask: np.ndarray, source: str) -> np.ndarray:
    """lumbar-vb labels (1 = most superior .. n) -> VerSe codes.

    VB1 (Chu 2015) masks end with S1, VB2 (Zukic 2014) masks end with L5.
    """
    labels = [int(v) for v in np.unique(mask) if v]
    ends_with_sacrum = source.startswith("VB1")
    n_above = len(labels) - 1 if ends_with_sacrum else len(labels)
    codes = codes_from_sacrum(n_above)  # lowest first: L5, L4, ...
    mapping = {}
    ordered = sorted(labels, reverse=True)  # inferior first
    if ends_with_sacrum:
        mapping[ordered[0]] = SACRUM_CODE
        ordered = ordered[1:]
    for label, code in zip(ordered, codes, strict=False):
        mapping[label] = code
    out = np.zeros(mask.shape, np.uint8)
    for label, code in mapping.items():
        out[mask == label] = code
    return out


def read_pair(
    pair: RealPair,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[float, float, float]]:
    """Canonical arrays of a pair: T1, second sequence, VerSe-coded bodies, spacing (z, y, x)."""
    images = [
        sitk.DICOMOrient(sitk.ReadImage(str(p)), "PIR") for p in (pair.t1, pair.second, pair.mask)
    ]
    t1, second, mask = (sitk.GetArrayFromImage(i) for i in images)
    spacing = tuple(float(s) for s in images[0].GetSpacing()[::-1])
    return (
        t1.astype(np.float32),
        second.astype(np.float32),
        lumbar_vb_codes(mask, pair.source),
        spacing,
    )  # type: ignore[return-value]
