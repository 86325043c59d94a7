"""A random but plausible lumbar spine (T11 to the sacrum) in patient millimetres.

Coordinates: ``u`` anterior -> posterior, ``v`` superior -> inferior, ``w`` right
(as the canonical image axes x, y, z). The spine is built upward from the top of
the sacrum: the S1 endplate is tilted by the sacral slope and every segment above
turns the spine axis back by a share of the lumbar lordosis, so the axis is near
vertical at L1-L2 and slightly kyphotic at T11-T12.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from modicmap.labels import SACRUM_CODE, VERTEBRA_CODES


@dataclass(frozen=True)
class Body:
    """A vertebral body: a rounded box tilted in the sagittal plane."""

    code: int
    center_uv: tuple[float, float]
    angle: float  # radians; 0 = endplates horizontal; > 0 = axis leans anteriorly going up
    height: float  # mm, superior-inferior
    depth: float  # mm, anterior-posterior
    half_width: float  # mm, left-right


@dataclass(frozen=True)
class Disc:
    center_uv: tuple[float, float]
    angle: float
    height: float
    depth: float
    half_width: float
    degeneration: float  # 0 healthy (bright nucleus on T2) .. 1 desiccated, dark


@dataclass(frozen=True)
class SpineAnatomy:
    bodies: tuple[Body, ...]  # superior -> inferior, sacrum last
    discs: tuple[Disc, ...]  # superior -> inferior
    canal: tuple[tuple[float, float], ...]  # canal centre line, superior -> inferior
    canal_radius: float  # mm (anterior-posterior half size)
    canal_half_width: float  # mm (left-right)
    skin_u: float  # posterior skin line at the level of L3 (mm)
    fat_thickness: float  # subcutaneous fat (mm)
    cord_end_v: float  # conus medullaris level (mm)
    vessel_u: float  # anterior vessel (aorta) centre offset in front of the bodies (mm)


def random_anatomy(
    rng: np.random.Generator, *, origin_uv: tuple[float, float] = (0.0, 0.0)
) -> SpineAnatomy:
    """Draw a spine; ``origin_uv`` is where the centre of the S1 endplate lies."""
    names = ["T11", "T12", "L1", "L2", "L3", "L4", "L5"]
    lordosis = math.radians(rng.uniform(45, 65))
    sacral_slope = math.radians(rng.uniform(32, 45))
    # share of the lordosis taken by each level from L5-S1 upward (L5-S1 and L4-L5 take most)
    shares = np.array([0.32, 0.25, 0.18, 0.13, 0.08, 0.04, 0.0])
    disc_heights = {"L5": 9.0, "L4": 11.0, "L3": 10.5, "L2": 9.5, "L1": 8.5, "T12": 7.0, "T11": 6.5}
    scale = rng.uniform(0.9, 1.1)
    angle = sacral_slope
    point = np.asarray(origin_uv, dtype=float)
    bodies: list[Body] = []
    discs: list[Disc] = []
    for i, name in enumerate(reversed(names)):  # L5 first, going up
        lumbar = name.startswith("L")
        height = scale * (rng.uniform(25, 29) if lumbar else rng.uniform(21, 24))
        depth = scale * (rng.uniform(33, 38) if lumbar else rng.uniform(27, 31))
        half_width = scale * (rng.uniform(21, 25) if lumbar else rng.uniform(16, 19))
        degeneration = float(
            np.clip(rng.beta(1.2, 2.0) + (0.25 if name in ("L4", "L5") else 0), 0, 1)
        )
        disc_h = scale * disc_heights[name] * (1 - 0.45 * degeneration)
        disc_angle = angle - lordosis * shares[i] / 2
        axis = np.array([-math.sin(disc_angle), -math.cos(disc_angle)])  # points superior
        disc_center = point + axis * disc_h / 2
        discs.append(
            Disc(
                tuple(disc_center),
                disc_angle,
                disc_h,
                depth * 0.98,
                half_width * 0.95,
                degeneration,
            )
        )
        angle = angle - lordosis * shares[i]
        axis = np.array([-math.sin(angle), -math.cos(angle)])
        center = (
            point
            + np.array([-math.sin(disc_angle), -math.cos(disc_angle)]) * disc_h
            + axis * height / 2
        )
        bodies.append(Body(VERTEBRA_CODES[name], tuple(center), angle, height, depth, half_width))
        point = center + axis * height / 2
        if name == "L1":
            angle -= math.radians(rng.uniform(3, 8))  # thoracolumbar kyphosis starts
    s1_axis = np.array([-math.sin(sacral_slope), -math.cos(sacral_slope)])
    s1_height = scale * rng.uniform(28, 34)
    sacrum = Body(
        SACRUM_CODE,
        tuple(np.asarray(origin_uv) - s1_axis * s1_height / 2),
        sacral_slope,
        s1_height,
        scale * rng.uniform(38, 44),
        scale * rng.uniform(24, 28),
    )
    bodies = [*reversed(bodies), sacrum]
    discs = list(reversed(discs))
    canal = []
    canal_radius = scale * rng.uniform(6.5, 8.5)
    for body in bodies:
        normal = np.array([math.cos(body.angle), -math.sin(body.angle)])  # points posterior
        canal.append(
            tuple(np.asarray(body.center_uv) + normal * (body.depth / 2 + 2.0 + canal_radius))
        )
    first = np.asarray(canal[0]) + np.array([0.0, -40.0])
    last = np.asarray(canal[-1]) + np.array([25.0, 35.0])
    canal = [tuple(first), *canal, tuple(last)]
    l3 = bodies[names.index("L3")]
    return SpineAnatomy(
        bodies=tuple(bodies),
        discs=tuple(discs),
        canal=tuple(canal),
        canal_radius=canal_radius,
        canal_half_width=scale * rng.uniform(9, 11),
        skin_u=l3.center_uv[0] + l3.depth / 2 + scale * rng.uniform(75, 95),
        fat_thickness=rng.uniform(8, 30),
        cord_end_v=bodies[names.index("L1")].center_uv[1] + rng.uniform(0, 20),
        vessel_u=rng.uniform(4, 9),
    )
