"""Modic lesions as analytic shapes in a vertebral body's own frame.

A lesion is a band along one endplate: it reaches ``depth_mm`` into the body at
its thickest, covers ``[s0, s1]`` of the endplate's anterior-posterior length and
a lateral range, with an irregular (smoothly wavy) deep edge. Its signal is given
in vertebral-body z-score space: every voxel takes (T1 z, T2 z) = centroid + spread
x a heterogeneous random field (smooth waves plus fine texture), so the painted
lesions reproduce the centroids and spreads of the paper (METHOD.md). Mixed
lesions (1/2, 2/3) split into two types along a smooth random boundary; each voxel's
label is its own type.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Paper centroids and spreads, (T1 z, T2 z) per Modic type (Gao et al., METHOD.md).
PAPER_MEANS = {1: (0.23, 1.20), 2: (1.04, 0.37), 3: (-0.53, -0.52)}
PAPER_SDS = {1: (0.73, 1.16), 2: (1.00, 0.85), 3: (0.41, 0.85)}


@dataclass(frozen=True)
class Waves:
    """A smooth random field: a sum of plane waves in body-frame millimetres."""

    vectors: np.ndarray  # (n, 3) wave vectors (rad/mm) over (s, t, w)
    phases: np.ndarray  # (n,)

    @classmethod
    def draw(
        cls, rng: np.random.Generator, n: int = 12, wavelength_mm: tuple[float, float] = (3.0, 12.0)
    ) -> Waves:
        directions = rng.normal(size=(n, 3))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        lengths = rng.uniform(*wavelength_mm, size=n)
        return cls(
            vectors=directions * (2 * np.pi / lengths)[:, None], phases=rng.uniform(0, 2 * np.pi, n)
        )

    def __call__(self, s: np.ndarray, t: np.ndarray, w: np.ndarray) -> np.ndarray:
        out = np.zeros(s.shape, np.float32)
        for (ks, kt, kw), phase in zip(self.vectors, self.phases, strict=True):
            out += np.cos(ks * s + kt * t + kw * w + phase).astype(np.float32)
        return out * np.float32(np.sqrt(2.0 / len(self.phases)))  # unit variance


@dataclass(frozen=True)
class LesionSpec:
    code: int  # VerSe code of the body
    superior: bool  # at the superior (True) or inferior endplate
    types: tuple[int, ...]  # one type, or two for a mixed lesion
    s_range: tuple[float, float]  # AP extent, fractions of the body depth (-0.5 .. 0.5)
    w_range: tuple[float, float]  # lateral extent, mm
    depth_mm: float  # maximum depth from the endplate
    edge: Waves  # irregularity of the deep edge
    mix: Waves  # boundary between the two types of a mixed lesion
    t1_field: Waves
    t2_field: Waves


MAX_DEPTH_MM = 12.0


def draw_lesion(
    rng: np.random.Generator,
    code: int,
    superior: bool,
    half_width: float,
    types_p: tuple[float, float, float],
) -> LesionSpec:
    kind = int(rng.choice([1, 2, 3], p=np.asarray(types_p) / np.sum(types_p)))
    types: tuple[int, ...] = (kind,)
    if rng.random() < 0.2:  # transitional lesions 1/2 and 2/3
        types = (kind, 2) if kind != 2 else (2, int(rng.choice([1, 3])))
    span = rng.uniform(0.2, 1.0)
    start = rng.uniform(-0.5, 0.5 - span)
    lateral = rng.uniform(0.3, 1.0) * half_width
    centre = (
        rng.uniform(-half_width + lateral, half_width - lateral) if lateral < half_width else 0.0
    )
    return LesionSpec(
        code=code,
        superior=superior,
        types=types,
        s_range=(start, start + span),
        w_range=(centre - lateral, centre + lateral),
        depth_mm=float(rng.uniform(3.0, MAX_DEPTH_MM)),
        edge=Waves.draw(rng, 6, (6.0, 20.0)),
        mix=Waves.draw(rng, 6, (8.0, 20.0)),
        t1_field=Waves.draw(rng),
        t2_field=Waves.draw(rng),
    )


def lesion_membership(
    spec: LesionSpec, s: np.ndarray, t: np.ndarray, w: np.ndarray, depth: float, height: float
) -> np.ndarray:
    """Boolean: points (body frame, mm) inside the lesion. ``depth``/``height`` of the body."""
    frac = s / depth
    s0, s1 = spec.s_range
    inside_s = (frac > s0) & (frac < s1)
    along = np.clip((frac - s0) / max(s1 - s0, 1e-6), 0, 1)
    w0, w1 = spec.w_range
    across = np.clip((w - w0) / max(w1 - w0, 1e-6), 0, 1)
    bump = np.sqrt(np.clip(np.sin(np.pi * along) * np.sin(np.pi * across), 0, None))
    reach = spec.depth_mm * bump * (1.0 + 0.25 * spec.edge(s, np.zeros_like(s), w))
    from_endplate = height / 2 - (t if spec.superior else -t)
    return (
        inside_s
        & (w > w0)
        & (w < w1)
        & (from_endplate >= 0)
        & (from_endplate <= np.minimum(reach, MAX_DEPTH_MM))
    )


def lesion_types(spec: LesionSpec, s: np.ndarray, t: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Modic type of each lesion point."""
    if len(spec.types) == 1:
        return np.full(s.shape, spec.types[0], np.uint8)
    return np.where(spec.mix(s, t, w) > 0, spec.types[0], spec.types[1]).astype(np.uint8)
