"""Tissue classes of the synthetic anatomy and their T1/T2 TSE-like signal."""

from __future__ import annotations

from enum import IntEnum


class Tissue(IntEnum):
    AIR = 0
    FAT = 1
    MUSCLE = 2
    VISCERA = 3
    MARROW = 4  # vertebral-body marrow
    CORTEX = 5  # cortical bone and endplates
    NUCLEUS = 6
    ANNULUS = 7
    CSF = 8
    CORD = 9
    VESSEL = 10  # flow void
    ARCH_MARROW = 11  # posterior elements
    BOWEL = 12


#: (T1, T2) mean signal on a 0..1 scale, and texture amplitude. Adult lumbar marrow is
#: partly fatty: brighter than muscle on T1, intermediate on T2; CSF dark on T1 and
#: the brightest tissue on T2; subcutaneous fat bright on both TSE sequences.
SIGNAL: dict[Tissue, tuple[float, float, float]] = {
    Tissue.AIR: (0.0, 0.0, 0.0),
    Tissue.FAT: (0.92, 0.78, 0.04),
    Tissue.MUSCLE: (0.34, 0.22, 0.05),
    Tissue.VISCERA: (0.40, 0.40, 0.05),
    Tissue.MARROW: (0.62, 0.42, 0.06),
    Tissue.CORTEX: (0.08, 0.06, 0.02),
    Tissue.NUCLEUS: (0.36, 0.88, 0.05),
    Tissue.ANNULUS: (0.30, 0.16, 0.04),
    Tissue.CSF: (0.14, 1.00, 0.02),
    Tissue.CORD: (0.40, 0.48, 0.03),
    Tissue.VESSEL: (0.05, 0.05, 0.02),
    Tissue.ARCH_MARROW: (0.58, 0.40, 0.06),
    Tissue.BOWEL: (0.32, 0.55, 0.08),
}
