"""Load and save model bundles (``--model DIR``), never through pickle.

A bundle is one folder::

    modicmap.json            everything needed to rebuild and run the models
    vertebrae.safetensors    weights of the vertebral-body network   (optional)
    lesions.safetensors      weights of the lesion V-Net             (optional)

``modicmap.json`` has one section per stage (``"vertebrae"``, ``"lesions"``,
``"typing"``, ``"grading"``); each stage module owns the schema of its section
and turns it into a frozen dataclass. A training command writes a new bundle by
copying the default and replacing its own section and weights.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from modicmap import __version__, jsonio
from modicmap.errors import InputError

logger = logging.getLogger(__name__)

BUNDLE_JSON = "modicmap.json"


def default_bundle_dir() -> Path:
    """Folder of the default bundle shipped inside the package."""
    return Path(str(resources.files("modicmap.models") / "default"))


@dataclass(frozen=True)
class ModelBundle:
    """A model folder: its parsed JSON and where its weights lie."""

    folder: Path
    config: dict[str, Any] = field(repr=False)

    @property
    def bundle_id(self) -> str:
        return str(self.config.get("id", self.folder.name))

    def section(self, name: str) -> dict[str, Any]:
        """The JSON section of one stage; a clear error when the bundle lacks it."""
        if name not in self.config:
            raise InputError(self.folder / BUNDLE_JSON, f"model bundle has no {name!r} section")
        return dict(self.config[name])

    def has(self, name: str) -> bool:
        return name in self.config

    def load_weights(self, name: str) -> dict[str, Any]:
        """State dict of ``<name>.safetensors`` (torch tensors, CPU)."""
        from safetensors.torch import load_file

        path = self.folder / f"{name}.safetensors"
        if not path.is_file():
            raise InputError(path, "model weights file is missing")
        try:
            return load_file(str(path), device="cpu")
        except Exception as exc:  # safetensors raises several types for corrupt files
            raise InputError(path, f"cannot read weights ({exc})") from None


#: Suffix of the per-output-channel scale stored beside an int8-quantised weight.
SCALE_SUFFIX = ".__int8_scale__"
_QUANTISE_MIN_ELEMENTS = 4096


def compact_weights(state: dict[str, Any]) -> dict[str, Any]:
    """Weights for shipping: large float tensors as int8 with one scale per output channel
    (symmetric), the rest as float16. Hand-written because torch's quantisation APIs
    produce pickled modules, not plain tensors that safetensors can hold."""
    import torch

    out: dict[str, Any] = {}
    for key, value in state.items():
        if not value.is_floating_point():
            out[key] = value
        elif value.numel() >= _QUANTISE_MIN_ELEMENTS and value.dim() >= 2:
            flat = value.detach().float().reshape(value.shape[0], -1)
            scale = flat.abs().amax(dim=1).clamp_min(1e-12) / 127.0
            out[key] = torch.round(flat / scale[:, None]).to(torch.int8).reshape(value.shape)
            out[key + SCALE_SUFFIX] = scale.to(torch.float32)
        else:
            out[key] = value.detach().half()
    return out


def expand_weights(stored: dict[str, Any]) -> dict[str, Any]:
    """Float32 state dict from stored weights (int8 + scale, float16 or float32)."""
    state = {}
    for key, value in stored.items():
        if key.endswith(SCALE_SUFFIX):
            continue
        scale = stored.get(key + SCALE_SUFFIX)
        if scale is not None:
            shape = (-1,) + (1,) * (value.dim() - 1)
            state[key] = value.float() * scale.float().reshape(shape)
        else:
            state[key] = value.float() if value.is_floating_point() else value
    return state


def load_weights_into(bundle: ModelBundle, name: str, module: Any) -> Any:
    """Load ``<name>.safetensors`` into a torch module (compact storage back to float32)."""
    state = expand_weights(bundle.load_weights(name))
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        raise InputError(bundle.folder, f"{name} weights do not fit the network ({exc})") from None
    return module


def load_bundle(folder: Path | None = None) -> ModelBundle:
    """Read a bundle folder (the default bundle when ``folder`` is None)."""
    folder = default_bundle_dir() if folder is None else Path(folder)
    path = folder / BUNDLE_JSON
    if not folder.is_dir():
        raise InputError(folder, "model folder does not exist")
    if not path.is_file():
        raise InputError(folder, f"not a model bundle (no {BUNDLE_JSON})")
    try:
        config = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(path, f"cannot read model JSON ({exc})") from None
    if not isinstance(config, dict):
        raise InputError(path, "model JSON is not an object")
    return ModelBundle(folder=folder, config=config)


def save_bundle(
    folder: Path,
    sections: dict[str, dict[str, Any]],
    weights: dict[str, dict[str, Any]] | None = None,
    *,
    base: ModelBundle | None = None,
    drop: tuple[str, ...] = (),
) -> ModelBundle:
    """Write a bundle: ``base``'s sections and weights (except ``drop``), replaced by the
    given ones."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    config: dict[str, Any] = dict(base.config) if base is not None else {}
    for section in drop:
        config.pop(section, None)
    if base is not None:
        for section in config:
            src = base.folder / f"{section}.safetensors"
            if src.is_file() and section not in (weights or {}):
                shutil.copy2(src, folder / src.name)
    config.update(sections)
    config["package_version"] = __version__
    for name, state in (weights or {}).items():
        tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
        save_file(tensors, str(folder / f"{name}.safetensors"))
    (folder / BUNDLE_JSON).write_text(jsonio.dumps(config, indent=2, sort_keys=False) + "\n")
    logger.info("wrote model bundle %s", folder)
    return ModelBundle(folder=folder, config=config)
