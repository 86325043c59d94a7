"""Evaluate the synthetic anatomy at arbitrary points: tissue class, body code, lesion type.

Written by hand because no library draws spines: every structure is an analytic
shape (rounded boxes for bodies and discs, a tube for the canal, slabs for fat and
muscle), evaluated only near where it can be (a cheap bounding test first).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from modicmap.labels import SACRUM_CODE
from modicmap.synth.anatomy import Body, Disc, SpineAnatomy
from modicmap.synth.lesions import LesionSpec, lesion_membership, lesion_types
from modicmap.synth.tissue import Tissue

CORTEX_MM = 1.3


@dataclass(frozen=True)
class Rendered:
    tissue: np.ndarray  # uint8 Tissue per point
    codes: np.ndarray  # uint8 VerSe code of the vertebral body per point (0 elsewhere)
    lesion: np.ndarray  # uint8 Modic type per point (0 elsewhere)
    lesion_index: np.ndarray  # int16 index into the lesion list (-1 elsewhere)
    local: dict[
        int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    ]  # lesion -> (idx, s, t, w)


def _frame(
    u: np.ndarray, v: np.ndarray, center: tuple[float, float], angle: float
) -> tuple[np.ndarray, np.ndarray]:
    """Body-frame coordinates: s (posterior +) and t (superior +)."""
    du, dv = u - center[0], v - center[1]
    s = du * math.cos(angle) - dv * math.sin(angle)
    t = -du * math.sin(angle) - dv * math.cos(angle)
    return s, t


def _superellipse(
    s: np.ndarray, t: np.ndarray, half_s: np.ndarray | float, half_t: float, power: float
) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.abs(s / half_s) ** power + np.abs(t / half_t) ** power
    return np.nan_to_num(value, nan=np.inf, posinf=np.inf)


def _near(u: np.ndarray, v: np.ndarray, center: tuple[float, float], radius: float) -> np.ndarray:
    return np.flatnonzero((np.abs(u - center[0]) < radius) & (np.abs(v - center[1]) < radius))


def _lateral_depth(w: np.ndarray, depth: float, half_width: float) -> np.ndarray:
    """Anterior-posterior half size at lateral position w (oval axial cross-section)."""
    return 0.5 * depth * np.sqrt(np.clip(1.0 - (w / half_width) ** 2, 0.0, 1.0))


def _draw_body(body: Body, u, v, w, tissue, codes) -> None:
    idx = _near(u, v, body.center_uv, 0.75 * max(body.depth, body.height) + 2)
    if idx.size == 0:
        return
    s, t = _frame(u[idx], v[idx], body.center_uv, body.angle)
    half_s = _lateral_depth(w[idx], body.depth, body.half_width)
    if body.code == SACRUM_CODE:  # S1 narrows towards its lower end
        half_s = half_s * (0.85 + 0.15 * np.clip(t / (body.height / 2), -1, 1))
    outer = _superellipse(s, t, half_s, body.height / 2, 6.0) <= 1.0
    inner = (
        _superellipse(s, t, np.maximum(half_s - CORTEX_MM, 1e-3), body.height / 2 - CORTEX_MM, 6.0)
        <= 1.0
    )
    sel = idx[outer]
    tissue[sel] = Tissue.CORTEX
    tissue[idx[outer & inner]] = Tissue.MARROW
    codes[sel] = body.code


def _draw_lower_sacrum(s1: Body, u, v, w, tissue) -> None:
    """S2 and S3: smaller segments curving backwards below S1 (bone, not a labelled body)."""
    angle, center = s1.angle, np.asarray(s1.center_uv)
    height, depth = s1.height, s1.depth
    for _ in range(2):
        axis_down = np.array([math.sin(angle), math.cos(angle)])
        next_angle = angle + math.radians(18)
        next_axis = np.array([math.sin(next_angle), math.cos(next_angle)])
        center = center + axis_down * (height / 2 + 1.5) + next_axis * (0.75 * height / 2)
        angle, height, depth = next_angle, 0.75 * height, 0.8 * depth
        segment = Body(0, tuple(center), angle, height, depth, 0.85 * s1.half_width)
        idx = _near(u, v, segment.center_uv, 0.75 * max(depth, height) + 2)
        s, t = _frame(u[idx], v[idx], segment.center_uv, segment.angle)
        half_s = _lateral_depth(w[idx], depth, segment.half_width)
        outer = _superellipse(s, t, half_s, height / 2, 4.0) <= 1.0
        inner = (
            _superellipse(s, t, np.maximum(half_s - CORTEX_MM, 1e-3), height / 2 - CORTEX_MM, 4.0)
            <= 1.0
        )
        tissue[idx[outer]] = Tissue.CORTEX
        tissue[idx[outer & inner]] = Tissue.ARCH_MARROW


def _draw_disc(disc: Disc, u, v, w, tissue) -> None:
    idx = _near(u, v, disc.center_uv, 0.6 * disc.depth + 4)
    s, t = _frame(u[idx], v[idx], disc.center_uv, disc.angle)
    half_s = _lateral_depth(w[idx], disc.depth, disc.half_width)
    bulge = 1.0 + 0.5 * disc.degeneration  # degenerated discs bulge
    inside = _superellipse(s, t, half_s * (1 + 0.04 * bulge), disc.height / 2 + 0.8, 4.0) <= 1.0
    tissue[idx[inside]] = Tissue.ANNULUS
    nucleus = _superellipse(s - 0.08 * disc.depth, t, 0.55 * half_s, 0.38 * disc.height, 2.0) <= 1.0
    if disc.degeneration < 0.75:
        tissue[idx[inside & nucleus]] = Tissue.NUCLEUS


def _distance_to_polyline(
    u: np.ndarray, v: np.ndarray, line: tuple[tuple[float, float], ...]
) -> np.ndarray:
    best = np.full(u.shape, np.inf, np.float32)
    for (u0, v0), (u1, v1) in itertools.pairwise(line):
        du, dv = u1 - u0, v1 - v0
        length2 = du * du + dv * dv
        h = np.clip(((u - u0) * du + (v - v0) * dv) / length2, 0, 1)
        best = np.minimum(best, np.hypot(u - u0 - h * du, v - v0 - h * dv))
    return best


def _front_and_back(anatomy: SpineAnatomy, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Anterior edge of the column and posterior edge of the arches, as functions of v."""
    vs = np.array([b.center_uv[1] for b in anatomy.bodies])
    front = np.array([b.center_uv[0] - b.depth / 2 for b in anatomy.bodies])
    canal_v = np.array([p[1] for p in anatomy.canal])
    back = np.array([p[0] for p in anatomy.canal]) + anatomy.canal_radius + 10.0
    return np.interp(v, vs, front), np.interp(v, canal_v, back)


def render(
    anatomy: SpineAnatomy,
    lesions: list[LesionSpec],
    u: np.ndarray,
    v: np.ndarray,
    w: np.ndarray,
    texture_seed: int,
) -> Rendered:
    """Tissue, body code and lesion type at points (u, v, w) in mm (flat arrays)."""
    n = u.size
    tissue = np.full(n, Tissue.MUSCLE, np.uint8)
    codes = np.zeros(n, np.uint8)
    front, back = _front_and_back(anatomy, v)
    # anterior: viscera with bowel loops and mesenteric fat; psoas lateral to the column
    anterior = u < front - 1.0
    rng = np.random.default_rng(texture_seed)
    from modicmap.synth.lesions import Waves

    bowel = Waves.draw(rng, 10, (40.0, 90.0))(u, v, w)
    tissue[anterior] = Tissue.VISCERA
    tissue[anterior & (bowel > 1.2)] = Tissue.BOWEL
    tissue[anterior & (bowel < -1.4)] = Tissue.FAT
    tissue[anterior & (np.abs(w) > 20) & (u > front - 35)] = Tissue.MUSCLE
    # posterior: muscle, then subcutaneous fat, then air behind the skin
    skin = anatomy.skin_u + 0.12 * (v - anatomy.bodies[4].center_uv[1])
    tissue[(u > skin - anatomy.fat_thickness)] = Tissue.FAT
    tissue[u > skin] = Tissue.AIR
    # great vessel (flow void) in front of the column, left of the midline, above L4
    vessel_v_end = anatomy.bodies[-3].center_uv[1]
    vessel = (
        (np.abs(u - (front - anatomy.vessel_u - 9)) < 9) & (np.abs(w + 18) < 9) & (v < vessel_v_end)
    )
    tissue[vessel] = Tissue.VESSEL
    del back
    for disc in anatomy.discs:
        _draw_disc(disc, u, v, w, tissue)
    for body in anatomy.bodies:
        _draw_body(body, u, v, w, tissue, codes)
    _draw_lower_sacrum(anatomy.bodies[-1], u, v, w, tissue)
    # posterior elements (pedicles, arch, spinous process) in each body's frame
    for body in anatomy.bodies[:-1]:
        idx = _near(u, v, body.center_uv, body.depth + 45)
        s, t = _frame(u[idx], v[idx], body.center_uv, body.angle)
        ww = np.abs(w[idx])
        canal_front = body.depth / 2 + 2.0
        canal_back = canal_front + 2 * anatomy.canal_radius
        pedicle = (
            (s > body.depth / 2 - 2)
            & (s < canal_back)
            & (np.abs(t - 0.1 * body.height) < 0.2 * body.height)
            & (ww > 8)
            & (ww < 16)
        )
        arch = (s > canal_back) & (s < canal_back + 8) & (np.abs(t) < 0.3 * body.height) & (ww < 22)
        spinous = (
            (s > canal_back)
            & (s < canal_back + 32)
            & (t > -0.4 * body.height)
            & (t < 0.12 * body.height)
            & (ww < 4)
        )
        tissue[idx[pedicle | arch | spinous]] = Tissue.ARCH_MARROW
    # spinal canal: CSF with the cord above the conus
    near = np.flatnonzero(np.abs(w) < anatomy.canal_half_width)
    canal_d = _distance_to_polyline(u[near], v[near], anatomy.canal)
    ellipse = (canal_d / anatomy.canal_radius) ** 2 + (w[near] / anatomy.canal_half_width) ** 2
    in_canal = ellipse <= 1.0
    tissue[near[in_canal]] = Tissue.CSF
    tissue[near[in_canal & (ellipse <= 0.25) & (v[near] < anatomy.cord_end_v)]] = Tissue.CORD
    codes[near[in_canal]] = 0
    lesion = np.zeros(n, np.uint8)
    lesion_index = np.full(n, -1, np.int16)
    local: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
    bodies = {b.code: b for b in anatomy.bodies}
    for i, spec in enumerate(lesions):
        body = bodies[spec.code]
        idx = np.flatnonzero(codes == spec.code)
        s, t = _frame(u[idx], v[idx], body.center_uv, body.angle)
        inside = lesion_membership(spec, s, t, w[idx], body.depth, body.height) & (
            tissue[idx] == Tissue.MARROW
        )
        sel = idx[inside]
        lesion[sel] = lesion_types(spec, s[inside], t[inside], w[idx][inside])
        lesion_index[sel] = i
        local[i] = (sel, s[inside], t[inside], w[idx][inside])
    return Rendered(
        tissue=tissue, codes=codes, lesion=lesion, lesion_index=lesion_index, local=local
    )
