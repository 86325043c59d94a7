"""Sample studies shipped with the package (see README.md here for sources and licences)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path


@dataclass(frozen=True)
class SampleStudy:
    name: str
    t1: Path
    t2: Path
    description: str


def bundled_samples() -> tuple[SampleStudy, ...]:
    """The real sample pairs inside the package."""
    root = Path(str(resources.files("modicmap.samples")))
    return (
        SampleStudy(
            name="spider-2",
            t1=root / "spider-2" / "t1.nii.gz",
            t2=root / "spider-2" / "t2.nii.gz",
            description="SPIDER patient 2, mid-sagittal T1/T2 (CC BY 4.0, van der Graaf 2024)",
        ),
    )
