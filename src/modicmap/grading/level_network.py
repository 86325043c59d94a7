"""The level network: a small CNN reading one level's patch (disc and both endplates).

Input: the patches of :mod:`modicmap.grading.level_crops` (T1 and T2 relative to marrow).
Output per patch: a logit of "any Modic change at this level" and an estimate of the
disc's Pfirrmann grade (an auxiliary target during training: SPIDER's readers graded both,
and the disc's degeneration is the strongest single cue to Modic changes in those
gradings). A network may have more outputs, one per ``aux_targets`` column of the gradings
(SPIDER's endplate changes, herniation, narrowing, bulging, spondylolisthesis): learned in
training only, to give a few hundred levels more to learn the anatomy from; `run` reads the
first two. On a stack, a level's outputs are the means over its central slices' patches.

It is one input of the level model (:mod:`modicmap.grading.level_model`), beside the V-Net's
marrow evidence, the disc ratios, the endplate-band z-scores and the level; the voxel maps
and endplate rows never use it. Plain torch layers (four double-convolution blocks with
batch norm and max pooling, global average pooling, dropout, one linear layer): MONAI's
``Classifier`` flattens its last feature map into a linear layer, which for ~600 training
levels has far more weights than the data can fit.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from modicmap.grading.level_crops import ACROSS, ALONG, SIZE, LevelPatches, PatchGeometry
from modicmap.models.bundle import ModelBundle, load_weights_into

#: bundle section and weights file
SECTION = "level_network"
#: Pfirrmann grades are learned as (grade - PFIRRMANN_CENTRE)
PFIRRMANN_CENTRE = 3.0


@dataclass(frozen=True)
class LevelNetSpec:
    widths: tuple[int, ...] = (16, 32, 48, 64)
    dropout: float = 0.3
    size: int = SIZE
    along: float = ALONG
    across: float = ACROSS
    aux_targets: tuple[str, ...] = ()  # gradings columns learned as extra outputs (training)

    def __post_init__(self) -> None:
        PatchGeometry(self.size, self.along, self.across)  # raises ValueError when implausible

    def to_json(self) -> dict[str, Any]:
        return {"architecture": "modicmap.grading.level_network", **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LevelNetSpec:
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if "widths" in fields:
            fields["widths"] = tuple(int(w) for w in fields["widths"])
        if "aux_targets" in fields:
            fields["aux_targets"] = tuple(str(t) for t in fields["aux_targets"])
        return cls(**fields)

    @property
    def geometry(self) -> PatchGeometry:
        """The patches it reads."""
        return PatchGeometry(self.size, self.along, self.across)


def build_level_network(spec: LevelNetSpec):  # -> torch.nn.Module (torch imported lazily)
    from torch import nn

    def block(inputs: int, outputs: int) -> nn.Module:
        return nn.Sequential(
            nn.Conv2d(inputs, outputs, 3, padding=1),
            nn.BatchNorm2d(outputs),
            nn.ReLU(),
            nn.Conv2d(outputs, outputs, 3, padding=1),
            nn.BatchNorm2d(outputs),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )

    widths = (2, *spec.widths)
    return nn.Sequential(
        *(block(a, b) for a, b in itertools.pairwise(widths)),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Dropout(spec.dropout),
        nn.Linear(widths[-1], 2 + len(spec.aux_targets)),
    )


@dataclass(frozen=True)
class LevelNetScore:
    """The level network's outputs for one level (means over its patches)."""

    logit: float  # of "any Modic change at this level"
    pfirrmann: float  # estimated Pfirrmann grade of the disc (1-5 scale, not rounded)


def load_level_network(bundle: ModelBundle, device: str = "cpu"):  # -> (module, spec)
    spec = LevelNetSpec.from_json(bundle.section(SECTION))
    model = load_weights_into(bundle, SECTION, build_level_network(spec))
    return model.to(device).eval(), spec


def network_outputs(model: Any, patches: np.ndarray, device: str = "cpu") -> np.ndarray:
    """Outputs (logit, centred Pfirrmann) of every patch, arr[n, 2] (training-only
    auxiliary outputs left out)."""
    import torch

    if len(patches) == 0:
        return np.zeros((0, 2), np.float32)
    with torch.no_grad():
        x = torch.from_numpy(np.ascontiguousarray(patches, np.float32)).to(device)
        return model(x)[:, :2].float().cpu().numpy()


def score_patches(
    model: Any, levels: dict[tuple[int, int], LevelPatches], device: str = "cpu"
) -> dict[tuple[int, int], LevelNetScore]:
    """A loaded level network's score of every level (means over its patches)."""
    if not levels:
        return {}
    keys = list(levels)
    outputs = network_outputs(model, np.concatenate([levels[k].patches for k in keys]), device)
    scores, start = {}, 0
    for key in keys:
        n = len(levels[key].patches)
        mean = outputs[start : start + n].mean(axis=0)
        scores[key] = LevelNetScore(
            logit=float(mean[0]), pfirrmann=float(mean[1] + PFIRRMANN_CENTRE)
        )
        start += n
    return scores
