"""Lesion probability on the T1 grid from body crops (METHOD.md step 4, inference)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from modicmap.lesions.body_margin import grow_bodies
from modicmap.lesions.crops import (
    CROP_MM,
    WORKING_MM,
    body_crops,
    paste_max,
    sample_crop,
    vnet_inputs,
)
from modicmap.models.bundle import ModelBundle, load_weights_into
from modicmap.zscore import ZScoreMaps, zscore_maps

if TYPE_CHECKING:
    from modicmap.lesions.vnet import VNet2D


def load_vnet(bundle: ModelBundle, device: str = "cpu") -> tuple[VNet2D, dict]:
    from modicmap.lesions.vnet import VNet2D, VNetSpec  # torch: imported only when needed

    section = bundle.section("lesions")
    model = load_weights_into(bundle, "lesions", VNet2D(VNetSpec.from_json(section)))
    return model.to(device).eval(), section


def predict_lesions(
    zmaps: ZScoreMaps,
    vertebrae: np.ndarray,
    spacing_zyx: tuple[float, float, float],
    bundle: ModelBundle,
    *,
    device: str = "cpu",
    batch_size: int = 32,
) -> np.ndarray:
    """float32 lesion probability 0..1 (arr[z, y, x], T1 grid); 0 outside the vertebral bodies.

    With the bundle's ``lesions.test_time_flip``, each crop's probability is the mean of the
    crop's and its superior-inferior mirror's (the V-Net was trained with that flip). With
    ``lesions.antialias``, series with pixels finer than the working spacing are smoothed
    in-plane first (:func:`modicmap.lesions.crops.antialias`)."""
    import torch

    model, section = load_vnet(bundle, device)
    mirror = bool(section.get("test_time_flip", False))
    size_mm = float(section.get("crop_mm", CROP_MM))
    working = float(section.get("working_spacing_mm", WORKING_MM))
    inside = vertebrae > 0
    spacing_yx = spacing_zyx[1:]
    t1z, t2z = vnet_inputs(
        zmaps.t1z,
        zmaps.t2z,
        inside,
        spacing_yx,  # type: ignore[arg-type]
        smooth=bool(section.get("antialias", False)),
        working_mm=working,
    )
    crops = body_crops(vertebrae, spacing_zyx)
    probability = np.zeros(vertebrae.shape, np.float32)
    for start in range(0, len(crops), batch_size):
        chunk = crops[start : start + batch_size]
        x = np.stack(
            [
                np.stack(
                    [
                        sample_crop(
                            t1z[c.slice_index], c, spacing_yx, size_mm=size_mm, working_mm=working
                        ),
                        sample_crop(
                            t2z[c.slice_index], c, spacing_yx, size_mm=size_mm, working_mm=working
                        ),
                    ]
                )
                for c in chunk
            ]
        ).astype(np.float32)
        with torch.no_grad():
            batch = torch.from_numpy(x).to(device)
            p = torch.softmax(model(batch), 1)[:, 1]
            if mirror:
                flipped = torch.softmax(model(torch.flip(batch, (2,))), 1)[:, 1]
                p = (p + torch.flip(flipped, (1,))) / 2
            p = p.cpu().numpy()
        for crop, values in zip(chunk, p, strict=True):
            paste_max(probability, values, crop, spacing_yx, size_mm=size_mm, working_mm=working)
    probability[~inside] = 0.0
    return probability


@dataclass(frozen=True)
class LesionStage:
    """The lesion stage's output on the T1 grid."""

    zmaps: ZScoreMaps
    probability: np.ndarray  # float32 0..1, 0 outside the segmented bodies
    body_margin_mm: float


def lesion_stage(
    t1: np.ndarray,
    t2: np.ndarray,
    vertebrae: np.ndarray,
    spacing_zyx: tuple[float, float, float],
    bundle: ModelBundle,
    *,
    device: str = "cpu",
) -> LesionStage:
    """z-scores and lesion probability with the bundle's ``lesions.body_margin_mm``: the
    statistics and the V-Net's input use the bodies grown by it, the map keeps to the
    segmented bodies (``modicmap.lesions.body_margin``)."""
    margin = float(bundle.section("lesions").get("body_margin_mm", 0.0))
    grown = grow_bodies(vertebrae, spacing_zyx, margin)
    zmaps = zscore_maps(t1, t2, grown)
    probability = predict_lesions(zmaps, grown, spacing_zyx, bundle, device=device)
    probability[vertebrae == 0] = 0.0
    return LesionStage(zmaps, probability, margin)
