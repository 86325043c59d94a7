"""Writing a registration's files (``modicmap register`` and ``run`` share them)."""

from __future__ import annotations

import json
from pathlib import Path

import SimpleITK as sitk

from modicmap.registration.result import RegistrationResult


def write_transform(result: RegistrationResult, path: Path) -> Path:
    """ITK transform file mapping FIXED points to MOVING points (``sitk.ReadTransform``)."""
    sitk.WriteTransform(result.transform, str(path))
    return path


def write_registration_json(result: RegistrationResult, path: Path, **extra: object) -> Path:
    path.write_text(json.dumps({**extra, **result.to_json()}, indent=2) + "\n")
    return path
