"""Fixed-size crops around each vertebral body on each sagittal slice (METHOD.md step 2).

The paper crops 100 x 100 pixels; we crop a fixed PHYSICAL box so that every
scanner's pixel size gives the network the same anatomy: 80 x 80 mm at 1.0 mm
(80 px, divisible by 16 for the V-Net). A lumbar body is 35-45 mm deep and 25-30 mm
high, so the box holds the whole body with both endplates and the adjacent discs,
centred on the body's centroid in that slice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from modicmap.vertebrae.postprocess import label_centroids

CROP_MM = 80.0
WORKING_MM = 1.0


@dataclass(frozen=True)
class Crop:
    slice_index: int
    code: int  # VerSe code of the body the crop is centred on
    centre_yx: tuple[float, float]  # voxel coordinates in the slice


def body_crops(
    vertebrae: np.ndarray, spacing_zyx: tuple[float, float, float], *, min_area_mm2: float = 150.0
) -> tuple[Crop, ...]:
    """One crop per body and sagittal slice where the body shows at least ``min_area_mm2``."""
    crops = []
    area = spacing_zyx[1] * spacing_zyx[2]
    for k in range(vertebrae.shape[0]):
        plane = vertebrae[k]
        counts = np.bincount(plane.ravel()) if plane.any() else np.zeros(1, np.int64)
        centres = label_centroids(plane, (1.0, 1.0))  # pixels
        for code, centre in centres.items():
            if counts[code] * area >= min_area_mm2:
                crops.append(Crop(k, code, (float(centre[0]), float(centre[1]))))
    return tuple(crops)


def antialias(volume: np.ndarray, spacing_yx: tuple[float, float], working_mm: float) -> np.ndarray:
    """``volume`` (arr[z, y, x]) smoothed in-plane before its crops are sampled at
    ``working_mm``, where its pixels are finer: a Gaussian that brings each axis's resolution
    (FWHM = pixel size) to ``working_mm``. Without it a 0.5 mm series reaches the V-Net as
    point samples of its finest texture, which the network never saw at 1 mm: on 4 synthetic
    studies at 512 x 512 the endplate evidence's AUC went from 0.90 to 0.93 with it (0.96 at
    256 x 256; docs/notebook/findings.md). (Normalising by the smoothed body mask, so that the 0
    outside the body does not pull its edge down, did as well in AUC and worse in
    sensitivity: the network was trained with that 0 outside.)"""
    sigma = [float(np.sqrt(max(working_mm**2 - s**2, 0.0)) / 2.355 / s) for s in spacing_yx]
    if max(sigma) < 0.05:
        return volume
    return ndimage.gaussian_filter(volume, (0.0, *sigma)).astype(volume.dtype, copy=False)


def vnet_inputs(
    t1z: np.ndarray,
    t2z: np.ndarray,
    inside: np.ndarray,
    spacing_yx: tuple[float, float],
    *,
    smooth: bool = False,
    working_mm: float = WORKING_MM,
) -> tuple[np.ndarray, np.ndarray]:
    """The V-Net's two input volumes, as training and inference must both make them: the
    z-maps set to 0 outside the bodies, then (``smooth``, the bundle's ``lesions.antialias``)
    anti-aliased in-plane to ``working_mm`` (:func:`antialias`)."""
    out = []
    for z in (t1z, t2z):
        masked = np.where(inside, z, 0.0).astype(np.float32)
        out.append(antialias(masked, spacing_yx, working_mm) if smooth else masked)
    return out[0], out[1]


def _grid(
    crop: Crop, spacing_yx: tuple[float, float], size_px: int, working_mm: float
) -> np.ndarray:
    offsets = (np.arange(size_px) - (size_px - 1) / 2) * working_mm
    rows = crop.centre_yx[0] + offsets / spacing_yx[0]
    cols = crop.centre_yx[1] + offsets / spacing_yx[1]
    return np.stack(np.meshgrid(rows, cols, indexing="ij"))


def sample_crop(
    plane: np.ndarray,
    crop: Crop,
    spacing_yx: tuple[float, float],
    *,
    order: int = 1,
    size_mm: float = CROP_MM,
    working_mm: float = WORKING_MM,
) -> np.ndarray:
    """The crop of a 2-D array, resampled to ``working_mm`` pixels (0 outside the image)."""
    size_px = round(size_mm / working_mm)
    return ndimage.map_coordinates(
        plane, _grid(crop, spacing_yx, size_px, working_mm), order=order, mode="constant", cval=0.0
    )


def paste_max(
    target: np.ndarray,
    values: np.ndarray,
    crop: Crop,
    spacing_yx: tuple[float, float],
    *,
    size_mm: float = CROP_MM,
    working_mm: float = WORKING_MM,
) -> None:
    """Write a crop's values back onto its slice of ``target`` (max where crops overlap)."""
    size_px = values.shape[0]
    half = size_mm / 2
    y0 = max(0, int(np.floor(crop.centre_yx[0] - half / spacing_yx[0])))
    y1 = min(target.shape[1], int(np.ceil(crop.centre_yx[0] + half / spacing_yx[0])) + 1)
    x0 = max(0, int(np.floor(crop.centre_yx[1] - half / spacing_yx[1])))
    x1 = min(target.shape[2], int(np.ceil(crop.centre_yx[1] + half / spacing_yx[1])) + 1)
    if y1 <= y0 or x1 <= x0:
        return
    rows, cols = np.meshgrid(np.arange(y0, y1), np.arange(x0, x1), indexing="ij")
    u = (rows - crop.centre_yx[0]) * spacing_yx[0] / working_mm + (size_px - 1) / 2
    v = (cols - crop.centre_yx[1]) * spacing_yx[1] / working_mm + (size_px - 1) / 2
    inside = (u >= 0) & (u <= size_px - 1) & (v >= 0) & (v <= size_px - 1)
    sampled = ndimage.map_coordinates(values, np.stack([u, v]), order=1, mode="nearest")
    region = target[crop.slice_index, y0:y1, x0:x1]
    np.maximum(region, np.where(inside, sampled, 0.0), out=region)
