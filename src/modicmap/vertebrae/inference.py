"""Segment and name the vertebral bodies of a canonical (PIR) image with a model bundle.

The network runs on sagittal slices resampled to the working spacing; its class
probabilities are upsampled to the image's own grid, and post-processing
(``postprocess.clean_instances``) turns them into one instance per body plus the sacrum.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from modicmap.labels import SACRUM_CODE
from modicmap.models.bundle import ModelBundle, load_weights_into
from modicmap.vertebrae.data import normalise
from modicmap.vertebrae.levels import MISSED_ABOVE_SACRUM, name_levels
from modicmap.vertebrae.network import FALLBACK, VertebraeNetSpec, build_network
from modicmap.vertebrae.postprocess import Instances, clean_instances
from modicmap.vertebrae.result import VertebraeResult

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClassProbabilities:
    """Softmax output of the network on the working grid (sagittal slices resampled)."""

    body: np.ndarray  # float32 arr[z, row, col]: probability of a vertebral body above S1
    sacrum: np.ndarray  # float32 arr[z, row, col]: probability of the sacrum
    spacing_zyx: tuple[float, float, float]  # of the working grid (z as in the image)
    native_shape: tuple[int, int, int]  # the image's own arr[z, y, x] shape

    @property
    def classes(self) -> np.ndarray:
        """Per-voxel argmax on the working grid: 0 background, 1 body, 2 sacrum."""
        return _argmax3(self.body, self.sacrum)


def _argmax3(body: np.ndarray, sacrum: np.ndarray) -> np.ndarray:
    background = 1.0 - body - sacrum
    classes = np.where(body > background, 1, 0).astype(np.uint8)
    classes[sacrum > np.maximum(body, background)] = 2
    return classes


def load_network(
    bundle: ModelBundle, device: str = "cpu", section: str = "vertebrae"
):  # -> (torch module, spec)
    spec = VertebraeNetSpec.from_json(bundle.section(section))
    model = load_weights_into(bundle, section, build_network(spec))
    return model.to(device).eval(), spec


def _resize(array: np.ndarray, shape: tuple[int, int], order: int) -> np.ndarray:
    zoom = [1.0] * (array.ndim - 2) + [shape[0] / array.shape[-2], shape[1] / array.shape[-1]]
    out = ndimage.zoom(array, zoom, order=order, grid_mode=True, mode="nearest")
    return out[..., : shape[0], : shape[1]]


#: input intensity variants, tried in this order while the result looks implausible (no
#: sacrum, a missing body, fewer than five bodies): the network was trained on percentile-
#: scaled images, but on dark, low-contrast T1 slices (fat far brighter than marrow) it
#: misses bodies that it finds after a gamma of 0.5 or histogram equalisation. Measured on
#: the 228 SPIDER dev slices: sacrum found 212 -> 223, slices with a missing body 14 -> 4.
INTENSITY_VARIANTS = ("percentile", "gamma-0.5", "equalised")


#: name of the attempt on the second sequence in :func:`segment_vertebrae`
SECOND_OPINION = "second sequence"


def _network_input(array: np.ndarray, variant: str) -> np.ndarray:
    scaled = normalise(array)
    if variant == "percentile":
        return scaled
    if variant == "gamma-0.5":
        return np.sqrt(scaled)
    if variant == "equalised":
        from skimage.exposure import equalize_hist

        return np.stack([equalize_hist(s) for s in scaled]).astype(np.float32)
    raise ValueError(f"unknown intensity variant {variant!r}; one of {INTENSITY_VARIANTS}")


def predict_probabilities(
    image: sitk.Image,
    bundle: ModelBundle,
    *,
    device: str = "cpu",
    batch_size: int = 8,
    variant: str = "percentile",
    network: tuple | None = None,
) -> ClassProbabilities:
    """Body and sacrum probabilities on the working grid of the image's sagittal slices.

    ``network``: a ``(model, spec)`` pair from :func:`load_network`, to load it only once.
    """
    import torch

    model, spec = network or load_network(bundle, device)
    array = _network_input(sitk.GetArrayFromImage(image).astype(np.float32), variant)
    sy, sx = image.GetSpacing()[1], image.GetSpacing()[0]
    rows = max(16, round(array.shape[1] * sy / spec.working_spacing_mm))
    cols = max(16, round(array.shape[2] * sx / spec.working_spacing_mm))
    small = _resize(array, (rows, cols), 1)
    # a multiple of 16 for the U-Net's four halvings, and at least 32 so that its
    # bottom keeps more than one pixel (instance norm needs that)
    padded = np.pad(
        small,
        (
            (0, 0),
            (0, max(32, rows + (-rows) % 16) - rows),
            (0, max(32, cols + (-cols) % 16) - cols),
        ),
    )
    probs = np.zeros((array.shape[0], 3, rows, cols), np.float32)
    with torch.no_grad():
        for start in range(0, len(padded), batch_size):
            x = torch.from_numpy(padded[start : start + batch_size, None]).to(device)
            p = torch.softmax(model(x), 1)[:, :, :rows, :cols]
            probs[start : start + batch_size] = p.cpu().numpy()
    spacing = (
        float(image.GetSpacing()[2]),
        array.shape[1] * sy / rows,
        array.shape[2] * sx / cols,
    )
    return ClassProbabilities(probs[:, 1], probs[:, 2], spacing, array.shape)  # type: ignore[arg-type]


#: body + sacrum probability above which a voxel of the image grid is bone
FOREGROUND_THRESHOLD = 0.5


def _upsample(labels: np.ndarray, probabilities: ClassProbabilities) -> np.ndarray:
    """Instance labels from the working grid onto the image's own grid.

    The foreground comes from the class probabilities upsampled bilinearly (smooth
    outlines, as ``ndimage.zoom(order=1, grid_mode=True)`` would give; torch does it
    several times faster); each foreground voxel takes the instance label of the nearest
    working-grid pixel, after the labels are grown by one pixel so that outline voxels
    between working-grid pixels are not lost.
    """
    import torch

    size = tuple(probabilities.native_shape[1:])
    fg = torch.nn.functional.interpolate(
        torch.from_numpy(np.stack([probabilities.body, probabilities.sacrum], 1)),
        size=size,
        mode="bilinear",
        align_corners=False,
    ).sum(1)
    grown = ndimage.grey_dilation(labels, size=(1, 3, 3))
    grown = np.where(labels > 0, labels, grown)
    near = torch.nn.functional.interpolate(
        torch.from_numpy(grown.astype(np.float32))[:, None], size=size, mode="nearest-exact"
    )[:, 0]
    return torch.where(fg > FOREGROUND_THRESHOLD, near, 0).numpy().astype(labels.dtype)


def predict_classes(
    image: sitk.Image, bundle: ModelBundle, *, device: str = "cpu", batch_size: int = 8
) -> np.ndarray:
    """Per-voxel class (0 background, 1 body, 2 sacrum) on the image's own grid."""
    probabilities = predict_probabilities(image, bundle, device=device, batch_size=batch_size)
    return _upsample(probabilities.classes, probabilities)


def vertebrae_from_probabilities(probabilities: ClassProbabilities) -> VertebraeResult:
    """Instances, sacrum and level names from the network's probabilities.

    Post-processing runs on the working grid (5-7x fewer voxels than a 512 x 512 slice at
    0.5 mm); the named bodies are then carried back to the image's own grid.
    """
    classes = probabilities.classes
    instances = clean_instances(
        classes == 1,
        classes == 2,
        probabilities.spacing_zyx,
        sacrum_probability=probabilities.sacrum,
    )
    n = int(instances.labels.max())
    combined = np.where(instances.sacrum, n + 1, instances.labels).astype(np.int32)
    native = _upsample(combined, probabilities)
    shape, (sz, sy, sx) = probabilities.native_shape, probabilities.spacing_zyx
    rows, cols = probabilities.body.shape[1:]
    native_spacing = (sz, sy * rows / shape[1], sx * cols / shape[2])
    return name_levels(
        Instances(
            labels=np.where(native > n, 0, native),
            sacrum=native > n,
            removed=instances.removed,
            notes=instances.notes,
        ),
        native_spacing,
    )


def plausibility(result: VertebraeResult, spacing_y_mm: float) -> tuple[bool, bool, bool]:
    """(sacrum found, no body missing between two found ones, at least five bodies).

    A body is taken as missing when two neighbours lie more than 1.6 times the median
    centre-to-centre distance apart, or the sacrum lies too far below the lowest body
    (``levels.missed_above_sacrum``). Tuples compare left to right: the sacrum counts most.
    """
    ys = [b.centroid_zyx[1] * spacing_y_mm for b in result.bodies if b.name != "S1"]
    steps = np.diff(ys)
    gap = len(steps) >= 2 and bool(steps.max() > 1.6 * np.median(steps))
    gap = gap or MISSED_ABOVE_SACRUM in result.warnings
    return result.has_sacrum, not gap, len(ys) >= 5


#: share of a body that the other sequence's bodies must cover for its name to be compared
MIN_CROSS_OVERLAP = 0.3


def name_offset(labels: np.ndarray, other: np.ndarray) -> int:
    """How many levels the bodies of ``other`` are named higher (+) or lower (-) than the
    same bodies in ``labels`` (VerSe codes, same grid): the median over the bodies above
    the sacrum of (the code covering most of it in ``other``) - (its own code); 0 when
    fewer than two bodies can be compared."""
    offsets = []
    for code in (int(c) for c in np.unique(labels) if 0 < c < SACRUM_CODE):
        inside = other[labels == code]
        counts = np.bincount(inside, minlength=SACRUM_CODE + 1)
        counts[0] = 0
        if counts.sum() >= MIN_CROSS_OVERLAP * inside.size:
            offsets.append(int(np.argmax(counts)) - code)
    return int(np.round(np.median(offsets))) if len(offsets) >= 2 else 0


#: sagittal slices of the second sequence that cross-check the names: those within this
#: distance of the middle slice (the bodies are all there; a full pass costs 0.8 s)
CROSS_CHECK_HALF_WIDTH_MM = 8.0


def _central_slices(image: sitk.Image) -> slice:
    n = image.GetSize()[2]
    half = int(CROSS_CHECK_HALF_WIDTH_MM // image.GetSpacing()[2])
    middle = n // 2
    return slice(max(0, middle - half), min(n, middle + half + 1))


def _shift(offset: int) -> str:
    """E.g. "1 level higher", "2 levels lower"."""
    levels = "level" if abs(offset) == 1 else "levels"
    return f"{abs(offset)} {levels} {'higher' if offset > 0 else 'lower'}"


def disagreement_note(offset: int) -> str:
    return (
        f"the registered second sequence names the same bodies {_shift(offset)} than the "
        "first (e.g. its L4 where the first has L5): a level name or the registration is off; "
        "check the level names on both sequences"
    )


def tie_break_note(offset: int) -> str:
    return (
        f"the registered second sequence named the bodies {_shift(offset)} than the main "
        "network did on the first; the bundle's fallback network agreed with the second, so "
        "its bodies and names are used: check the level names"
    )


def _plausible_fallback(
    image: sitk.Image, bundle: ModelBundle, device: str
) -> VertebraeResult | None:
    """The fallback network's first fully plausible result over the intensity variants."""
    if not bundle.has(FALLBACK):
        return None
    network = load_network(bundle, device, FALLBACK)
    for variant in INTENSITY_VARIANTS:
        probabilities = predict_probabilities(
            image, bundle, device=device, variant=variant, network=network
        )
        candidate = vertebrae_from_probabilities(probabilities)
        if all(plausibility(candidate, image.GetSpacing()[1])):
            return candidate
    return None


def segment_vertebrae(
    image: sitk.Image,
    bundle: ModelBundle,
    *,
    device: str = "cpu",
    second_opinion: sitk.Image | Callable[[], sitk.Image | None] | None = None,
) -> VertebraeResult:
    """Vertebral bodies of a canonical image, named from the sacrum (VerSe codes).

    ``second_opinion`` may be a function returning the image (or None): it is called only
    after the first sequence's own passes, so a caller can still be registering it then.

    The first, plain pass is kept unless it looks implausible (:func:`plausibility`);
    then the other intensity variants are tried, then ``second_opinion`` (the other
    sequence resampled onto ``image``'s grid, e.g. the registered T2), and the most
    plausible result is kept. When even that is implausible and the bundle has a
    ``vertebrae_fallback`` network, that network's first fully plausible result over the
    intensity variants replaces it.
    When the first sequence's result is kept, the second sequence's central slices
    cross-check the names, when its own result there is plausible. When the same bodies are
    named differently, the fallback network breaks the tie: its plausible result on the
    first sequence is used when it names the bodies as the second sequence does; otherwise
    the first result is kept with a warning (docs/benchmarks.md, "Vertebral bodies").
    """
    network = load_network(bundle, device)

    @functools.cache
    def second() -> sitk.Image | None:
        return second_opinion() if callable(second_opinion) else second_opinion

    def attempt(
        source: sitk.Image, variant: str
    ) -> tuple[tuple[bool, bool, bool], VertebraeResult, str]:
        probabilities = predict_probabilities(
            source, bundle, device=device, variant=variant, network=network
        )
        result = vertebrae_from_probabilities(probabilities)
        return plausibility(result, image.GetSpacing()[1]), result, variant

    @functools.cache
    def fallback() -> VertebraeResult | None:  # asked at most once, by either use below
        return _plausible_fallback(image, bundle, device)

    best = attempt(image, INTENSITY_VARIANTS[0])
    for variant in INTENSITY_VARIANTS[1:]:
        if all(best[0]):
            break
        tried = attempt(image, variant)
        if tried[0] > best[0]:
            best = tried
    if not all(best[0]) and (other := second()) is not None:
        tried = attempt(other, INTENSITY_VARIANTS[0])
        if tried[0] > best[0]:
            best = tried[0], tried[1], SECOND_OPINION
    if not all(best[0]):
        # only a fully plausible fallback result: a partial one with a "sacrum" took a
        # thoracic view's top for S1 (SPIDER 52 T1)
        candidate = fallback()
        if candidate is not None:
            best = (True, True, True), candidate, FALLBACK
    _score, result, variant = best
    notes: list[str] = []
    if variant == FALLBACK:
        logger.info("vertebrae: the fallback network gave the only plausible result")
        notes.append(
            "bodies found by the bundle's fallback vertebra network (the main network gave an "
            "implausible result): check the outlines and level names"
        )
    elif variant == SECOND_OPINION:
        logger.info("vertebrae: the second sequence gave the most plausible result")
        notes.append(
            "bodies found on the registered second sequence (the T1 gave an implausible "
            "result): check the outlines and level names"
        )
    else:
        if variant != INTENSITY_VARIANTS[0]:
            logger.info("vertebrae: input intensities %s gave the most plausible result", variant)
            notes.append(
                f"bodies found on {variant} input intensities (the plain input gave an "
                "implausible result): check the outlines and level names"
            )
        if (other := second()) is not None:
            central = _central_slices(other)
            checked = attempt(other[:, :, central], INTENSITY_VARIANTS[0])
            offset = (
                name_offset(result.labels[central], checked[1].labels) if all(checked[0]) else 0
            )
            if offset:
                logger.info("vertebrae: the second sequence names the bodies %+d levels", offset)
                tie_break = fallback()
                if tie_break is not None and name_offset(result.labels, tie_break.labels) == offset:
                    logger.info("vertebrae: the fallback network names them as the second does")
                    result, notes = tie_break, [tie_break_note(offset)]
                else:
                    notes.append(disagreement_note(offset))
    if notes:
        result = replace(result, warnings=(*result.warnings, *notes))
    logger.info("vertebrae: %s", ", ".join(b.name for b in result.bodies) or "none")
    return result
