"""Tiny synthetic images for tests (importable helpers, not fixtures)."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

PIR_DIRECTION = (0.0, 0.0, -1.0, 1.0, 0.0, 0.0, 0.0, -1.0, 0.0)


def phantom_array(shape_zyx: tuple[int, int, int] = (6, 40, 32), seed: int = 0) -> np.ndarray:
    """A blocky 'spine-like' phantom with texture: distinct values so orientation errors show."""
    rng = np.random.default_rng(seed)
    z, y, x = shape_zyx
    arr = np.full(shape_zyx, 10.0, dtype=np.float32)
    for k in range(4):
        y0 = 3 + k * (y // 4)
        arr[:, y0 : y0 + y // 6, x // 4 : x // 2 + k] = 80.0 + 20 * k
    arr[: max(1, z // 2), :, -4:] = 200.0
    arr += rng.normal(0, 2, shape_zyx).astype(np.float32)
    arr[0, 0, 0] = 300.0  # a unique corner marker
    return arr


def canonical_image(
    shape_zyx: tuple[int, int, int] = (6, 40, 32),
    spacing: tuple[float, float, float] = (0.8, 0.9, 4.0),
    origin: tuple[float, float, float] = (12.0, -30.0, 45.0),
    seed: int = 0,
) -> sitk.Image:
    """A phantom on a canonical PIR grid (x -> posterior, y -> inferior, z -> right)."""
    image = sitk.GetImageFromArray(phantom_array(shape_zyx, seed))
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    image.SetDirection(PIR_DIRECTION)
    return image


def blob_volume(shape_zyx: tuple[int, int, int] = (24, 64, 64), spacing: float = 1.5) -> sitk.Image:
    """A smooth, asymmetric 3-D phantom for registration tests (PIR grid)."""
    z, y, x = np.mgrid[: shape_zyx[0], : shape_zyx[1], : shape_zyx[2]].astype(np.float32)
    arr = np.zeros(shape_zyx, np.float32)
    for cz, cy, cx, r, v in [
        (12, 20, 25, 7, 100),
        (12, 40, 30, 8, 60),
        (8, 30, 45, 5, 150),
        (16, 50, 20, 4, 200),
    ]:
        arr += v * np.exp(-((z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2) / (2 * r**2))
    arr += 20 * ((y > 10) & (y < 55) & (x > 8) & (x < 56))
    image = sitk.DiscreteGaussian(
        sitk.GetImageFromArray(arr), [1.0, 1.0, 1.0 if shape_zyx[0] >= 4 else 0.0]
    )
    image.SetSpacing((spacing, spacing, spacing))
    image.SetDirection(PIR_DIRECTION)
    return image
