"""Whole synthetic sagittal T1/T2 studies with voxel ground truth."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from modicmap.grading.grade import grade_endplates, grade_levels
from modicmap.grading.tables import EndplateGrade, LevelGrade
from modicmap.synth.anatomy import SpineAnatomy, random_anatomy
from modicmap.synth.lesions import PAPER_MEANS, PAPER_SDS, LesionSpec, draw_lesion
from modicmap.synth.render import Rendered, render
from modicmap.synth.tissue import SIGNAL, Tissue
from modicmap.zscore import body_stats

#: direction cosines of the canonical PIR grid in LPS world coordinates
PIR_DIRECTION = (0.0, 0.0, -1.0, 1.0, 0.0, 0.0, 0.0, -1.0, 0.0)


@dataclass(frozen=True)
class SynthOptions:
    slices: int = 15
    matrix: int = 256
    lesion_rate: float = 0.35  # chance that an endplate carries a lesion
    types_p: tuple[float, float, float] = (0.3, 0.45, 0.25)
    noise: float = 0.015  # Rician noise sigma relative to the brightest tissue
    misalign: bool = True


@dataclass(frozen=True)
class SyntheticStudy:
    study_id: str
    t1: sitk.Image  # canonical PIR grid
    t2: sitk.Image  # its own grid, misaligned by ``transform``
    vertebrae: sitk.Image  # uint8 VerSe codes on the T1 grid
    modic_map: sitk.Image  # uint8 0-3 on the T1 grid
    transform: sitk.Euler3DTransform  # maps T1 physical points to T2 physical points
    t2_vertebrae: sitk.Image  # the same truth on the T2's own grid
    t2_modic_map: sitk.Image
    endplates: tuple[EndplateGrade, ...]
    levels: tuple[LevelGrade, ...]
    lesions: tuple[LesionSpec, ...]


def _grid(
    size: tuple[int, int, int],
    spacing: tuple[float, float, float],
    centre_uvw: tuple[float, float, float],
) -> sitk.Image:
    """A PIR grid (x posterior, y inferior, z right) centred on an anatomy point."""
    image = sitk.Image(list(size), sitk.sitkFloat32)
    image.SetSpacing(spacing)
    image.SetDirection(PIR_DIRECTION)
    u, v, w = centre_uvw
    half = [(n - 1) * sp / 2 for n, sp in zip(size, spacing, strict=True)]
    # LPS world: X = -w, Y = u, Z = -v; the grid's first voxel is at (u, v, w) - half
    image.SetOrigin((-(w - half[2]), u - half[0], -(v - half[1])))
    return image


def _points_uvw(
    grid: sitk.Image, transform: sitk.Transform | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Anatomy coordinates of every voxel (flat, numpy z-y-x order) of ``grid``.

    With ``transform`` (T1 -> T2 physical), the grid is the T2's: its voxel at q shows
    the anatomy at transform^-1(q).
    """
    nx, ny, nz = grid.GetSize()
    k, j, i = np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij")
    index = np.stack([i.ravel(), j.ravel(), k.ravel()], axis=1).astype(np.float64)
    direction = np.asarray(grid.GetDirection()).reshape(3, 3)
    points = np.asarray(grid.GetOrigin()) + (index * np.asarray(grid.GetSpacing())) @ direction.T
    if transform is not None:
        inverse = transform.GetInverse()
        matrix = np.asarray(inverse.GetMatrix()).reshape(3, 3)
        centre = np.asarray(inverse.GetCenter())
        offset = np.asarray(inverse.GetTranslation())
        points = (points - centre) @ matrix.T + centre + offset
    return (
        points[:, 1].astype(np.float32),
        (-points[:, 2]).astype(np.float32),
        (-points[:, 0]).astype(np.float32),
    )


def _render_on(
    grid: sitk.Image,
    transform: sitk.Transform | None,
    anatomy: SpineAnatomy,
    lesions: list[LesionSpec],
    texture_seed: int,
) -> Rendered:
    """Render the anatomy on ``grid`` at 0.75-1.5 mm in-plane, then repeat onto the grid.

    The analytic shapes are the slow part; evaluating them at about 1 mm and
    repeating each value over the finer voxels is 4x faster at 512 x 512, and the
    image and its truth still come from the same labels.
    """
    nx, ny, nz = grid.GetSize()
    sx, sy, sz = grid.GetSpacing()
    factor = max(1, int(1.5 / max(sx, sy)))
    if factor == 1:
        return render(anatomy, lesions, *_points_uvw(grid, transform), texture_seed=texture_seed)
    coarse = sitk.Image([-(-nx // factor), -(-ny // factor), nz], sitk.sitkFloat32)
    coarse.SetSpacing((sx * factor, sy * factor, sz))
    coarse.SetDirection(grid.GetDirection())
    coarse.SetOrigin(
        grid.TransformContinuousIndexToPhysicalPoint(((factor - 1) / 2, (factor - 1) / 2, 0.0))
    )
    small = render(anatomy, lesions, *_points_uvw(coarse, transform), texture_seed=texture_seed)
    shape = coarse.GetSize()[::-1]

    # for every fine voxel, the flat index of the coarse voxel it repeats
    coarse_index = np.arange(small.tissue.size, dtype=np.int64).reshape(shape)
    parent = np.repeat(np.repeat(coarse_index, factor, axis=1), factor, axis=2)[:, :ny, :nx].ravel()

    def up(values: np.ndarray) -> np.ndarray:
        return values[parent]

    lesion_index = up(small.lesion_index)
    local = {}
    position = np.full(small.tissue.size, -1, np.int64)
    for i, (sel, s, t, w) in small.local.items():
        position[sel] = np.arange(sel.size)
        fine = np.flatnonzero(lesion_index == i)
        at = position[parent[fine]]
        local[i] = (fine, s[at], t[at], w[at])
        position[sel] = -1
    return Rendered(
        tissue=up(small.tissue),
        codes=up(small.codes),
        lesion=up(small.lesion),
        lesion_index=lesion_index,
        local=local,
    )


#: grain (Gaussian sigma, mm) of the tissue texture; 1.2 pixels of the default 256 matrix
TEXTURE_MM = 1.2


def _contrast(
    rendered: Rendered,
    shape: tuple[int, int, int],
    channel: int,
    rng: np.random.Generator,
    spacing_zyx: tuple[float, float, float],
    noise: float,
) -> np.ndarray:
    """Tissue signal with texture, PSF blur, bias field, gain and Rician noise."""
    tissue = rendered.tissue.reshape(shape)
    means = np.array([SIGNAL[t][channel] for t in Tissue], np.float32)
    textures = np.array([SIGNAL[t][2] for t in Tissue], np.float32)
    # the marrow's texture is the tissue's, so its grain is in millimetres: in pixels (as it
    # was until 2026-12-04) a 512 study had a texture twice as fine as the same study at 256,
    # and "the same study at another matrix" was another tissue (docs/notebook/findings.md)
    texture = ndimage.gaussian_filter(
        rng.standard_normal(shape, dtype=np.float32),
        sigma=(0, TEXTURE_MM / spacing_zyx[1], TEXTURE_MM / spacing_zyx[2]),
    )
    texture /= max(float(texture.std()), 1e-6)
    image = means[tissue] + textures[tissue] * texture
    # slight in-plane blur: the point-spread function of a TSE acquisition
    image = ndimage.gaussian_filter(image, sigma=(0, 0.6, 0.6))  # in pixels: the acquisition's
    # smooth multiplicative bias field (receive-coil sensitivity) and a scanner gain
    z, y, x = (
        np.linspace(-1, 1, n, dtype=np.float32).reshape([-1 if a == i else 1 for a in range(3)])
        for i, n in enumerate(shape)
    )
    coeffs = rng.normal(0, 0.12, 4)
    bias = np.exp(
        coeffs[0] * x + coeffs[1] * y + coeffs[2] * x * y + coeffs[3] * (x**2 - 0.3) + 0.05 * z
    )
    # posterior (surface) coil: signal falls off anteriorly
    bias *= 0.75 + 0.25 * (x + 1) / 2
    gain = rng.uniform(300, 1500)
    clean = image * bias * gain
    sigma = noise * gain
    real = clean + np.float32(sigma) * rng.standard_normal(shape, dtype=np.float32)
    imag = np.float32(sigma) * rng.standard_normal(shape, dtype=np.float32)
    return np.hypot(real, imag).astype(np.float32)


def _paint(
    image: np.ndarray,
    rendered: Rendered,
    lesions: list[LesionSpec],
    channel: int,
    rng: np.random.Generator,
) -> None:
    """Set lesion voxels to their (T1 z, T2 z) targets in study-scope body z-space, in place.

    The body statistics include the lesions, so painting is repeated until the
    statistics stop moving (three passes are plenty).
    """
    flat = image.reshape(-1)
    codes = rendered.codes
    targets = np.zeros(flat.shape, np.float32)
    has = rendered.lesion > 0
    for i, spec in enumerate(lesions):
        if i not in rendered.local:
            continue
        sel, s, t, w = rendered.local[i]
        field = spec.t1_field(s, t, w) if channel == 0 else spec.t2_field(s, t, w)
        field = 0.85 * field + 0.55 * rng.normal(size=field.shape).astype(np.float32)
        kinds = rendered.lesion[sel]
        for kind in np.unique(kinds):
            part = kinds == kind
            values = field[part]
            if values.size > 1:
                values = (values - values.mean()) / max(float(values.std()), 1e-6)
            targets[sel[part]] = (
                PAPER_MEANS[int(kind)][channel] + PAPER_SDS[int(kind)][channel] * values
            )
    for _ in range(3):
        stats = body_stats(flat, codes)
        flat[has] = np.maximum(stats.mean + targets[has] * stats.sd, 0.0)


def synthesize_study(
    seed: int, options: SynthOptions | None = None, study_id: str | None = None
) -> SyntheticStudy:
    """One deterministic synthetic study (same seed -> identical arrays)."""
    options = options or SynthOptions()
    rng = np.random.default_rng(seed)
    anatomy: SpineAnatomy = random_anatomy(rng)
    lesions: list[LesionSpec] = []
    for body in anatomy.bodies:
        sides = (True,) if body.code == 26 else (True, False)
        for superior in sides:
            if rng.random() < options.lesion_rate:
                lesions.append(
                    draw_lesion(rng, body.code, superior, body.half_width, options.types_p)
                )
    top = anatomy.bodies[0]
    bottom = anatomy.bodies[-1]
    span_v = (bottom.center_uv[1] + bottom.height) - (top.center_uv[1] - top.height / 2)
    fov = max(span_v + rng.uniform(15, 40), 260.0)
    centre_v = (
        top.center_uv[1] - top.height / 2 + bottom.center_uv[1] + bottom.height
    ) / 2 + rng.uniform(-5, 5)
    l3 = anatomy.bodies[4]
    centre = (l3.center_uv[0] + rng.uniform(20, 35), centre_v, rng.uniform(-1.5, 1.5))
    thickness = float(rng.uniform(3.0, 4.5))
    spacing1 = (fov / options.matrix, fov / options.matrix, thickness)
    grid1 = _grid((options.matrix, options.matrix, options.slices), spacing1, centre)
    matrix2 = max(16, round(options.matrix * rng.uniform(0.8, 1.0) / 16) * 16)
    fov2 = fov * rng.uniform(0.95, 1.08)
    spacing2 = (fov2 / matrix2, fov2 / matrix2, thickness)
    grid2 = _grid(
        (matrix2, matrix2, options.slices),
        spacing2,
        (centre[0] + rng.uniform(-5, 5), centre[1] + rng.uniform(-8, 8), centre[2]),
    )
    transform = sitk.Euler3DTransform()
    transform.SetCenter(
        grid1.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2 for n in grid1.GetSize()])
    )
    if options.misalign:
        transform.SetRotation(
            math.radians(rng.uniform(-3, 3)),
            math.radians(rng.uniform(-1, 1)),
            math.radians(rng.uniform(-1, 1)),
        )
        transform.SetTranslation((rng.uniform(-1.5, 1.5), rng.uniform(-4, 4), rng.uniform(-4, 4)))
    texture_seed = int(rng.integers(2**31))
    channel_seeds = rng.integers(2**31, size=2)

    def make(
        channel: int, grid: sitk.Image, moved: sitk.Transform | None
    ) -> tuple[sitk.Image, Rendered]:
        channel_rng = np.random.default_rng(int(channel_seeds[channel]))
        rendered = _render_on(grid, moved, anatomy, lesions, texture_seed)
        spacing = tuple(grid.GetSpacing()[::-1])
        image = _contrast(
            rendered, grid.GetSize()[::-1], channel, channel_rng, spacing, options.noise
        )
        _paint(image, rendered, lesions, channel, channel_rng)
        out = sitk.GetImageFromArray(image)
        out.CopyInformation(grid)
        return out, rendered

    # T1 and T2 are independent given the anatomy: render them on the two cores
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(make, (0, 1), (grid1, grid2), (None, transform)))
    images = [image for image, _ in results]
    rendered_all = [rendered for _, rendered in results]
    truth, truth2 = rendered_all
    shape2 = grid2.GetSize()[::-1]
    t2_truth = []
    for values in (truth2.codes, truth2.lesion):
        image = sitk.GetImageFromArray(values.reshape(shape2))
        image.CopyInformation(grid2)
        t2_truth.append(image)
    shape1 = grid1.GetSize()[::-1]
    codes = truth.codes.reshape(shape1)
    modic = truth.lesion.reshape(shape1)
    spacing_zyx = tuple(grid1.GetSpacing()[::-1])
    endplates = grade_endplates(modic, codes, spacing_zyx)  # type: ignore[arg-type]
    present = [int(c) for c in np.unique(codes) if c]
    levels = grade_levels(endplates, present)
    vertebrae = sitk.GetImageFromArray(codes)
    vertebrae.CopyInformation(grid1)
    modic_image = sitk.GetImageFromArray(modic)
    modic_image.CopyInformation(grid1)
    return SyntheticStudy(
        study_id=study_id or f"synth{seed:04d}",
        t1=images[0],
        t2=images[1],
        vertebrae=vertebrae,
        modic_map=modic_image,
        transform=transform,
        t2_vertebrae=t2_truth[0],
        t2_modic_map=t2_truth[1],
        endplates=tuple(endplates),
        levels=tuple(levels),
        lesions=tuple(lesions),
    )
