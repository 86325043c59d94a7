"""The interactive viewer and review table of ``report.html``.

NiiVue (vendored, BSD-2, ``vendor/``) draws the volumes: every sagittal slice of the T1
and the registered T2 side by side, with the Modic map and the bodies' outlines as label
overlays. The volumes travel inside the page as gzipped NIfTI in base64, cropped to the
lumbar region and scaled to 8 bits, so the report stays one file that opens offline.
The page's own code (``viewer.js``, ``review.js``) only wires NiiVue to the controls and
keeps the review table; no pixel is drawn by hand.
"""

from __future__ import annotations

import base64
import gzip
import json
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage

from modicmap.grading.tables import LevelGrade
from modicmap.labels import VERTEBRA_CODES, VERTEBRA_NAMES, vertebra_code
from modicmap.review.table import machine_rows

NIIVUE_VERSION = "0.69.0"
#: margin kept around the lumbar bodies (L1-S1) when cropping the volumes
CROP_MARGIN_MM = 20.0
#: the viewer's volumes are resampled so that neither in-plane side of the crop exceeds this
#: many pixels (never upsampled): NiiVue's cost to open a volume grows with its voxels, and
#: without a GPU (SwiftShader) a 15 x 435 x 204 crop of a 512-matrix study alone takes ~0.8 s
#: to appear; 320 px keeps 0.8 mm pixels on a 25 cm lumbar crop, about what is acquired
#: (512 matrices are usually interpolated). The NIfTI outputs keep the full grid.
VIEWER_MAX_PIXELS = 320
#: depth of an endplate's region into its body, as in the grading (8 mm)
ENDPLATE_DEPTH_MM = 8.0
#: the canonical grid (PIR): array x -> posterior, y -> inferior, z -> right (ITK's LPS world)
_PIR_DIRECTION = (0.0, 0.0, -1.0, 1.0, 0.0, 0.0, 0.0, -1.0, 0.0)


@dataclass(frozen=True)
class Target:
    """Where a review row is best seen: voxel (x, y, z) of the cropped volumes."""

    level: str
    endplate: str  # "level", "upper", "lower"
    voxel: tuple[int, int, int]


@dataclass(frozen=True)
class ViewerData:
    study_id: str
    volumes: dict[str, str]  # name -> base64 of a .nii.gz
    vertebra_names: dict[int, str]  # outline label code -> name
    name_points: dict[str, tuple[int, int, int]]  # body name -> its centre voxel (x, y, z)
    targets: tuple[Target, ...]
    rows: tuple[dict[str, Any], ...]  # review.csv rows with the machine's grades
    slices: int
    spacing_zyx: tuple[float, float, float]

    def to_json(self) -> str:
        """JSON for an inline ``<script type="application/json">`` (``</`` escaped)."""
        data = asdict(self)
        return json.dumps(data, separators=(",", ":")).replace("</", "<\\/")


def lumbar_crop(
    vertebrae: np.ndarray,
    spacing_zyx: tuple[float, float, float],
    names: Sequence[str] = (),
) -> tuple[slice, slice]:
    """Rows and columns around L1-S1 and every body in ``names`` (the bodies of the
    reported levels: a graded T11-T12 must be in view), or every body when none of those
    is found, with a margin."""
    codes = [VERTEBRA_CODES[n] for n in names if n in VERTEBRA_CODES]
    lumbar = (vertebrae >= VERTEBRA_CODES["L1"]) & (vertebrae <= VERTEBRA_CODES["S1"])
    if codes:
        lumbar |= np.isin(vertebrae, codes)
    mask = lumbar if lumbar.any() else vertebrae > 0
    if not mask.any():
        return slice(0, vertebrae.shape[1]), slice(0, vertebrae.shape[2])
    ys, xs = np.nonzero(mask.any(axis=0))
    my = round(float(CROP_MARGIN_MM / spacing_zyx[1]))
    mx = round(float(CROP_MARGIN_MM / spacing_zyx[2]))
    return (
        slice(max(0, ys.min() - my), min(vertebrae.shape[1], ys.max() + my + 1)),
        slice(max(0, xs.min() - mx), min(vertebrae.shape[2], xs.max() + mx + 1)),
    )


def level_bodies(levels: Sequence[LevelGrade]) -> tuple[str, ...]:
    return tuple(n for r in levels for n in (r.upper_vertebra, r.lower_vertebra))


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Scale to 0-255 between the 0.5th and 99.8th percentiles: 256 grey levels are enough
    to read on, and a quarter of int16's bytes. Window/level still works in the viewer."""
    low, high = np.percentile(image, (0.5, 99.8))
    scaled = (image.astype(np.float32) - low) / max(float(high - low), 1e-6)
    return np.clip(np.rint(scaled * 255), 0, 255).astype(np.uint8)


def viewer_zoom(shape_yx: tuple[int, int], max_pixels: int = VIEWER_MAX_PIXELS) -> float:
    """The in-plane zoom (<= 1) that brings the longer side of ``shape_yx`` to ``max_pixels``."""
    return min(1.0, max_pixels / max(shape_yx))


def _resample(array: np.ndarray, zoom: float, *, labels: bool) -> np.ndarray:
    """In-plane only (slices stay as acquired): nearest for labels, Pillow's antialiased
    bilinear for 8-bit images (fast; averages over the pixels each new one covers)."""
    if zoom >= 1.0:
        return array
    rows, cols = (max(1, round(n * zoom)) for n in array.shape[1:])
    method = Image.Resampling.NEAREST if labels else Image.Resampling.BILINEAR
    return np.stack(
        [np.asarray(Image.fromarray(plane).resize((cols, rows), method)) for plane in array]
    )


def outlines(vertebrae: np.ndarray) -> np.ndarray:
    """Each body's boundary on each sagittal slice, keeping its label code."""
    inner = np.zeros_like(vertebrae)
    for code in (int(c) for c in np.unique(vertebrae) if c):
        body = vertebrae == code
        inner[ndimage.binary_erosion(body, structure=np.ones((1, 3, 3), bool))] = code
    return np.where(inner == 0, vertebrae, 0).astype(np.uint8)


def nifti_base64(array: np.ndarray, spacing_zyx: tuple[float, float, float]) -> str:
    """``array[z, y, x]`` on the canonical grid as a gzipped NIfTI, base64 (SimpleITK writes
    the header, so NiiVue shows the slices sagittally, superior up, anterior left)."""
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(np.ascontiguousarray(array))
    image.SetSpacing(tuple(float(s) for s in spacing_zyx[::-1]))
    image.SetDirection(_PIR_DIRECTION)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "volume.nii.gz"
        sitk.WriteImage(image, str(path), useCompression=True)
        return base64.b64encode(path.read_bytes()).decode("ascii")


def _endplate_region(body: np.ndarray, side: str, depth_px: int) -> np.ndarray:
    """The body's voxels within ``depth_px`` rows of its superior or inferior edge, per
    slice and column (rows grow inferiorly on the canonical grid)."""
    rows = np.arange(body.shape[1])[None, :, None]
    if side == "inferior":
        edge = np.where(body, rows, -1).max(axis=1, keepdims=True)
        return body & (rows > edge - depth_px)
    edge = np.where(body, rows, body.shape[1]).min(axis=1, keepdims=True)
    return body & (rows < edge + depth_px)


def _best_voxel(region: np.ndarray, lesions: np.ndarray) -> tuple[int, int, int] | None:
    """(x, y, z) of the region's centre on the slice with most lesion voxels in it (or, with
    none, the slice where the region is largest)."""
    if not region.any():
        return None
    counts = (region & lesions).sum(axis=(1, 2))
    k = int(np.argmax(counts)) if counts.max() > 0 else int(np.argmax(region.sum(axis=(1, 2))))
    cy, cx = ndimage.center_of_mass(region[k])
    return round(float(cx)), round(float(cy)), k


def review_targets(
    levels: list[LevelGrade],
    vertebrae: np.ndarray,
    modic: np.ndarray,
    spacing_zyx: tuple[float, float, float],
) -> tuple[Target, ...]:
    """The slice and point each level and endplate row of the review jumps to."""
    depth = max(1, round(float(ENDPLATE_DEPTH_MM / spacing_zyx[1])))
    lesions = modic > 0
    targets = []
    for level in levels:
        upper = _endplate_region(
            vertebrae == vertebra_code(level.upper_vertebra), "inferior", depth
        )
        lower = _endplate_region(
            vertebrae == vertebra_code(level.lower_vertebra), "superior", depth
        )
        points = {"upper": _best_voxel(upper, lesions), "lower": _best_voxel(lower, lesions)}
        both = _best_voxel(upper | lower, lesions)
        if both is not None:
            points["level"] = both
        for endplate, voxel in points.items():
            if voxel is not None:
                targets.append(Target(level.level, endplate, voxel))
    return tuple(targets)


def viewer_data(
    *,
    study_id: str,
    t1: np.ndarray,
    t2: np.ndarray,
    modic: np.ndarray,
    vertebrae: np.ndarray,
    levels: list[LevelGrade],
    spacing_zyx: tuple[float, float, float],
) -> ViewerData:
    rows, cols = lumbar_crop(vertebrae, spacing_zyx, level_bodies(levels))
    crop = (slice(None), rows, cols)
    zoom = viewer_zoom(vertebrae[crop].shape[1:])
    vertebrae = _resample(vertebrae[crop].astype(np.uint8), zoom, labels=True)
    modic = _resample(modic[crop].astype(np.uint8), zoom, labels=True)
    cropped_yx = (rows.stop - rows.start, cols.stop - cols.start)
    spacing_zyx = (
        float(spacing_zyx[0]),
        float(spacing_zyx[1]) * cropped_yx[0] / vertebrae.shape[1],
        float(spacing_zyx[2]) * cropped_yx[1] / vertebrae.shape[2],
    )
    volumes = {
        "t1": nifti_base64(_resample(to_uint8(t1[crop]), zoom, labels=False), spacing_zyx),
        "t2": nifti_base64(_resample(to_uint8(t2[crop]), zoom, labels=False), spacing_zyx),
        "modic": nifti_base64(modic, spacing_zyx),
        "outlines": nifti_base64(outlines(vertebrae), spacing_zyx),
    }
    present = [int(c) for c in np.unique(vertebrae) if c]
    name_points = {}
    for code in present:
        body = vertebrae == code
        k = int(np.argmax(body.sum(axis=(1, 2))))
        cy, cx = ndimage.center_of_mass(body[k])
        name_points[VERTEBRA_NAMES[code]] = (round(float(cx)), round(float(cy)), k)
    return ViewerData(
        study_id=study_id,
        volumes=volumes,
        vertebra_names={code: VERTEBRA_NAMES[code] for code in present},
        name_points=name_points,
        targets=review_targets(levels, vertebrae, modic, spacing_zyx),
        rows=tuple(asdict(r) for r in machine_rows(study_id, levels)),
        slices=int(t1.shape[0]),
        spacing_zyx=tuple(float(s) for s in spacing_zyx),  # type: ignore[arg-type]
    )


def _asset(name: str) -> str:
    return resources.files("modicmap.report").joinpath(name).read_text(encoding="utf-8")


def niivue_script() -> str:
    """NiiVue's UMD bundle, unzipped, ready to inline (``window.niivue``)."""
    packed = resources.files("modicmap.report").joinpath("vendor/niivue.umd.js.gz").read_bytes()
    code = gzip.decompress(packed).decode("utf-8")
    return code.replace("</script", "<\\/script")


def viewer_section(data: ViewerData) -> str:
    """The viewer and review HTML: controls, two canvases, the review table, and scripts."""
    return Template(_asset("viewer.html")).substitute(
        slices=data.slices,
        data=data.to_json(),
        niivue=niivue_script(),
        viewer_js=_asset("viewer.js"),
        review_js=_asset("review.js"),
    )


def viewer_css() -> str:
    return _asset("viewer.css")
