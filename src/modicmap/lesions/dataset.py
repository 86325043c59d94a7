"""Training crops for the lesion V-Net: 2 channels (T1 z, T2 z) inside the bodies, lesion mask.

Sources (see ``modicmap train lesions --help``):
* studies with voxel annotations in the ``synth`` truth layout: ``<study>/t1.nii.gz``,
  ``t2.nii.gz`` (already on the T1 grid, or with ``truth/transform.tfm`` to map it),
  ``truth/vertebrae.nii.gz`` and ``truth/modic_map.nii.gz``;
* or in nnU-Net's raw layout: ``imagesTr/<case>_0000.nii.gz`` (T1) and ``_0001.nii.gz``
  (T2, on the T1's grid as nnU-Net requires), ``labelsTr/<case>.nii.gz`` (the Modic map,
  0-3), and the vertebral bodies in ``vertebraeTr/<case>.nii.gz`` (any label values, as
  ``run --vertebrae``) or, without that folder, found by the bundled vertebra model;
* synthetic studies generated on the fly (``modicmap.synth``);
* lesions painted into the real lumbar-vb pairs (``modicmap.synth.paint``), several
  paintings per pair with different seeds.
Everything outside the vertebral bodies is set to 0 (the paper masks neighbouring
structures with the body segmentation).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from modicmap.lesions.crops import body_crops, sample_crop, vnet_inputs
from modicmap.zscore import zscore_maps


@dataclass(frozen=True)
class LesionVolume:
    subject: str
    t1: np.ndarray  # arr[z, y, x], T2 already on the same grid
    t2: np.ndarray
    vertebrae: np.ndarray
    modic: np.ndarray
    spacing_zyx: tuple[float, float, float]
    # crops only around these bodies (None: every body); the others still shape the z-scores
    crop_codes: frozenset[int] | None = None


@dataclass(frozen=True)
class CropSet:
    subjects: np.ndarray  # (n,) str
    inputs: np.ndarray  # (n, 2, 80, 80) float32
    targets: np.ndarray  # (n, 80, 80) uint8 (1 = lesion)


def crops_from_volume(
    volume: LesionVolume,
    *,
    keep_empty: float = 0.5,
    rng: np.random.Generator | None = None,
    smooth: bool = False,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Input/target crops of one volume; lesion-free crops kept with probability ``keep_empty``;
    ``smooth``: inputs anti-aliased as the bundle's ``lesions.antialias`` does at inference."""
    rng = rng or np.random.default_rng(0)
    z = zscore_maps(volume.t1, volume.t2, volume.vertebrae)
    spacing_yx = volume.spacing_zyx[1:]
    t1z, t2z = vnet_inputs(z.t1z, z.t2z, volume.vertebrae > 0, spacing_yx, smooth=smooth)
    lesion = (volume.modic > 0).astype(np.float32)
    inputs, targets = [], []
    for crop in body_crops(volume.vertebrae, volume.spacing_zyx):
        if volume.crop_codes is not None and crop.code not in volume.crop_codes:
            continue
        k = crop.slice_index
        target = sample_crop(lesion[k], crop, spacing_yx, order=0) > 0.5
        if not target.any() and rng.random() > keep_empty:
            continue
        inputs.append(
            np.stack([sample_crop(t1z[k], crop, spacing_yx), sample_crop(t2z[k], crop, spacing_yx)])
        )
        targets.append(target.astype(np.uint8))
    return inputs, targets


def synthetic_volumes(n: int, seed: int, matrices: tuple[int, ...] = (256,)) -> list[LesionVolume]:
    """``n`` synthetic studies of 9 slices; study ``i`` at matrix ``matrices[i % len]`` (a
    lumbar field of view at every matrix: several matrices teach the V-Net the same tissue at
    several pixel sizes)."""
    from modicmap.synth.study import SynthOptions, synthesize_study

    out = []
    for i in range(n):
        matrix = matrices[i % len(matrices)]
        study = synthesize_study(seed + i, SynthOptions(slices=9, matrix=matrix, lesion_rate=0.5))
        t2 = sitk.Resample(
            study.t2, study.t1, study.transform, sitk.sitkLinear, 0.0, sitk.sitkFloat32
        )
        out.append(
            LesionVolume(
                subject=f"synthetic-{seed + i}",
                t1=sitk.GetArrayFromImage(study.t1),
                t2=sitk.GetArrayFromImage(t2),
                vertebrae=sitk.GetArrayFromImage(study.vertebrae),
                modic=sitk.GetArrayFromImage(study.modic_map),
                spacing_zyx=tuple(study.t1.GetSpacing()[::-1]),  # type: ignore[arg-type]
            )
        )
    return out


def painting_seed(seed: int, painting: int, subject: str) -> int:
    """The random seed of one painting: the same in every process (``hash()`` of a str is
    salted per process, which made paintings differ between runs of the same command)."""
    return seed * 1000 + painting + zlib.crc32(subject.encode()) % 997


def painted_volumes(
    lumbar_vb: Path, paintings: int, seed: int, subjects: tuple[str, ...] | None = None
) -> list[LesionVolume]:
    from modicmap.synth.paint import lumbar_vb_pairs, paint_lesions, read_pair

    out = []
    for pair in lumbar_vb_pairs(lumbar_vb):
        if subjects is not None and pair.subject not in subjects:
            continue
        t1, t2, bodies, spacing = read_pair(pair)
        for j in range(paintings):
            painted = paint_lesions(
                t1,
                t2,
                bodies,
                spacing,
                np.random.default_rng(painting_seed(seed, j, pair.subject)),
            )
            out.append(
                LesionVolume(
                    pair.subject, painted.t1, painted.t2, bodies, painted.modic_map, spacing
                )
            )
    return out


def study_volumes(folder: Path) -> list[LesionVolume]:
    """Annotated studies (a user's own data) in the ``synth`` truth layout or nnU-Net's."""
    if (folder / "imagesTr").is_dir() and (folder / "labelsTr").is_dir():
        return nnunet_volumes(folder)
    out = []
    for study in sorted(
        p for p in folder.iterdir() if (p / "truth" / "modic_map.nii.gz").is_file()
    ):
        t1 = sitk.ReadImage(str(study / "t1.nii.gz"), sitk.sitkFloat32)
        t2 = sitk.ReadImage(str(study / "t2.nii.gz"), sitk.sitkFloat32)
        tfm = study / "truth" / "transform.tfm"
        transform = sitk.ReadTransform(str(tfm)) if tfm.is_file() else sitk.Transform()
        t2 = sitk.Resample(t2, t1, transform, sitk.sitkLinear, 0.0, sitk.sitkFloat32)
        labels = [
            sitk.ReadImage(str(study / "truth" / n))
            for n in ("vertebrae.nii.gz", "modic_map.nii.gz")
        ]
        out.append(
            LesionVolume(
                study.name,
                sitk.GetArrayFromImage(t1),
                sitk.GetArrayFromImage(t2),
                sitk.GetArrayFromImage(labels[0]),
                sitk.GetArrayFromImage(labels[1]),
                tuple(t1.GetSpacing()[::-1]),  # type: ignore[arg-type]
            )
        )
    return out


def to_crop_set(volumes: Iterable[LesionVolume], seed: int, *, smooth: bool = False) -> CropSet:
    rng = np.random.default_rng(seed)
    subjects, inputs, targets = [], [], []
    for volume in volumes:
        x, y = crops_from_volume(volume, rng=rng, smooth=smooth)
        inputs += x
        targets += y
        subjects += [volume.subject] * len(x)
    return CropSet(
        np.asarray(subjects), np.asarray(inputs, np.float32), np.asarray(targets, np.uint8)
    )


def nnunet_volumes(folder: Path) -> list[LesionVolume]:
    """Annotated studies in nnU-Net's raw layout (module docstring), canonical orientation."""
    from modicmap.errors import InputError
    from modicmap.io.reader import read_image, read_label_image
    from modicmap.models.bundle import load_bundle
    from modicmap.vertebrae.inference import segment_vertebrae
    from modicmap.vertebrae.user_mask import vertebrae_from_mask

    out = []
    bundle = None
    for label_path in sorted((folder / "labelsTr").glob("*.nii.gz")):
        case = label_path.name[: -len(".nii.gz")]
        t1_path, t2_path = (folder / "imagesTr" / f"{case}_{c:04d}.nii.gz" for c in (0, 1))
        if not (t1_path.is_file() and t2_path.is_file()):
            raise InputError(label_path, f"needs imagesTr/{case}_0000.nii.gz (T1) and _0001 (T2)")
        t1 = read_image(t1_path).image
        t2 = sitk.Resample(
            read_image(t2_path).image, t1, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32
        )
        modic = sitk.GetArrayFromImage(
            sitk.Resample(
                read_label_image(label_path),
                t1,
                sitk.Transform(),
                sitk.sitkNearestNeighbor,
                0,
                sitk.sitkInt32,
            )
        )
        if modic.min() < 0 or modic.max() > 3:
            raise InputError(label_path, "Modic labels must be 0 (none) to 3")
        mask_path = folder / "vertebraeTr" / f"{case}.nii.gz"
        if mask_path.is_file():
            vertebrae = vertebrae_from_mask(read_label_image(mask_path), t1, str(mask_path))
        else:
            bundle = bundle or load_bundle(None)
            vertebrae = segment_vertebrae(t1, bundle)
        out.append(
            LesionVolume(
                case,
                sitk.GetArrayFromImage(t1).astype(np.float32),
                sitk.GetArrayFromImage(t2),
                vertebrae.labels.astype(np.int32),
                modic.astype(np.uint8),
                tuple(t1.GetSpacing()[::-1]),  # type: ignore[arg-type]
            )
        )
    return out
