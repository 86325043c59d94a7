"""What a registration returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import SimpleITK as sitk


@dataclass(frozen=True)
class RegistrationSettings:
    """Optimiser schedule; defaults were tuned on the lumbar-vb DzZ pair (docs/benchmarks.md)."""

    histogram_bins: int = 32
    sampling_fraction: float = 0.1
    max_samples: int = 60_000
    #: in-plane spacing of each pyramid level (slices are never shrunk) and its smoothing
    level_spacings_mm: tuple[float, ...] = (4.0, 2.0, 1.0)
    smoothing_sigmas_mm: tuple[float, ...] = (2.0, 1.0, 0.5)
    max_iterations: int = 200
    #: regular-step gradient descent: first step and minimum step, in units of the level spacing
    learning_rate: float = 1.0
    min_step: float = 1e-3
    seed: int = 7
    #: bounds beyond which the result is flagged as suspicious
    max_rotation_deg: float = 20.0
    max_translation_mm: float = 60.0
    scale_range: tuple[float, float] = (0.7, 1.4)


@dataclass(frozen=True)
class RegistrationResult:
    """T2 -> T1 registration. ``transform`` maps FIXED physical points to MOVING points (ITK)."""

    transform: sitk.Transform = field(repr=False)
    dimension: int  # 3: Euler rigid; 2: single-slice similarity (rotation, translation, scale)
    metric_initial: float
    metric_final: float
    rotation_deg: tuple[float, ...]
    translation_mm: tuple[float, ...]
    scale: float
    iterations: int
    stop_condition: str
    seconds: float
    warnings: tuple[str, ...] = ()
    #: correlation of the T1's and the registered T2's edges (None: not measured)
    edge_correlation: float | None = None
    #: the moving image resampled (linear, float32) onto the fixed grid, as
    #: ``rigid.resample_to_fixed`` gives it: made for the edge check, kept so that it is
    #: not resampled twice (None when not made)
    moved: sitk.Image | None = field(default=None, repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "dimension": self.dimension,
            "transform_type": "Euler3D" if self.dimension == 3 else "Similarity2D (as 3-D affine)",
            "metric": "Mattes mutual information (negative: lower is better)",
            "metric_initial": self.metric_initial,
            "metric_final": self.metric_final,
            "rotation_deg": list(self.rotation_deg),
            "translation_mm": list(self.translation_mm),
            "scale": self.scale,
            "iterations": self.iterations,
            "stop_condition": self.stop_condition,
            "seconds": round(self.seconds, 3),
            "edge_correlation": None
            if self.edge_correlation is None
            else round(self.edge_correlation, 4),
            "warnings": list(self.warnings),
        }
