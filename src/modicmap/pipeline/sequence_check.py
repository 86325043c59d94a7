"""Were T1 and T2 given the other way round? A check on the spinal canal behind the bodies.

Cerebrospinal fluid is dark on T1 and bright on T2, so the canal right behind the lumbar
bodies is, relative to the bodies' marrow, much brighter on a T2 than on a T1. NIfTI, MHA
and NRRD files carry no sequence parameters, and a swapped pair runs without error but
types and grades nonsense, so `run` warns when the "T1" canal is the brighter one.

Measured on the 114 SPIDER dev pairs (the pipeline's bodies, the registered T2): the
ratio (T2 canal / marrow) / (T1 canal / marrow) is 0.96-7.9 (median 3.5; below 1.1 only
in 2 pairs), so a warning below ``SWAP_RATIO`` = 0.8 fires on no correctly given pair
and on a swapped pair whenever the ratio would have exceeded 1.25 (111 of 114).
Written here: no library checks the contrast of a sagittal spine series.

DICOM inputs also carry their timing (TR, TE, TI) and description, so a series given as
``--t2`` that its header calls inversion recovery (STIR/TIRM: fat is dark, so the fatty
marrow of type 2 does not show) or T1-weighted, and the like for ``--t1``, is warned about
(:func:`header_warnings`; the rule is the folder chooser's, :func:`weighting`).
"""

from __future__ import annotations

import numpy as np

from modicmap.grading.discs import central_slices
from modicmap.io.dicom_series import weighting
from modicmap.io.image import LoadedImage
from modicmap.labels import vertebra_code

#: the canal strip starts this far behind a body's posterior edge and ends at the second
CANAL_MM = (3.0, 12.0)
#: warn when (T2 canal / marrow) / (T1 canal / marrow) falls below this
SWAP_RATIO = 0.8
_LUMBAR = tuple(vertebra_code(f"L{i}") for i in range(1, 6))


def canal_to_marrow(
    image: np.ndarray, labels: np.ndarray, spacing_zyx: tuple[float, float, float]
) -> float | None:
    """75th percentile of the strip behind the lumbar bodies (middle half of each body's
    rows, slices near the bodies' centre) over the median of all body marrow there;
    None without lumbar bodies or marrow signal."""
    lumbar = np.isin(labels, _LUMBAR)
    slices = np.flatnonzero(lumbar.any(axis=(1, 2)))
    if slices.size == 0:
        return None
    centre = float(np.average(slices, weights=lumbar.sum(axis=(1, 2))[slices]))
    near, far = (round(mm / spacing_zyx[2]) for mm in CANAL_MM)
    strip, marrow = [], []
    for z in central_slices(slices, centre, spacing_zyx[0]):
        marrow.append(image[z][labels[z] > 0])
        for code in _LUMBAR:
            body = labels[z] == code
            rows = np.flatnonzero(body.any(axis=1))
            if rows.size < 4:
                continue
            for row in rows[rows.size // 4 : 3 * rows.size // 4]:
                edge = int(np.flatnonzero(body[row]).max())
                strip.append(image[z, row, edge + near : edge + far])
    values = np.concatenate(strip) if strip else np.empty(0)
    reference = float(np.median(np.concatenate(marrow))) if marrow else 0.0
    if values.size == 0 or reference <= 0:
        return None
    return float(np.percentile(values, 75)) / reference


def swapped_warning(
    t1: np.ndarray,
    t2_on_t1: np.ndarray,
    labels: np.ndarray,
    spacing_zyx: tuple[float, float, float],
) -> str | None:
    """A warning when the canal says the "T1" is the T2 (arrays ``[z, y, x]`` on the T1
    grid, canonical PIR: x runs posterior)."""
    a = canal_to_marrow(t1, labels, spacing_zyx)
    b = canal_to_marrow(t2_on_t1, labels, spacing_zyx)
    if a is None or b is None or a <= 0:
        return None
    ratio = b / a
    if ratio >= SWAP_RATIO:
        return None
    return (
        f"the spinal canal is brighter (relative to the marrow) on the T1 input than on the "
        f"T2 input ({a:.2f} vs {b:.2f}): were T1 and T2 swapped? Types and grades assume "
        "--t1 is T1-weighted and --t2 T2-weighted"
    )


_WHAT = {
    "t1": "T1-weighted",
    "t2": "T2-weighted",
    "ir": "inversion recovery (STIR/TIRM: fat is dark, so fatty type-2 marrow does not show)",
}


def header_warnings(t1: LoadedImage, t2: LoadedImage) -> list[str]:
    """Warnings when a DICOM input's header says it is another weighting than its role's
    (an input without a DICOM header, or whose header does not tell, is not judged)."""
    warnings = []
    for role, image in (("t1", t1), ("t2", t2)):
        if image.dicom is None:
            continue
        found = weighting(image.dicom)
        if found in _WHAT and found != role:
            info = image.dicom
            timing = ", ".join(
                f"{name}={value:g} ms"
                for name, value in (
                    ("TR", info.repetition_time_ms),
                    ("TE", info.echo_time_ms),
                    ("TI", info.inversion_time_ms),
                )
                if value
            )
            warnings.append(
                f"the --{role} series '{info.series_description}' ({timing}) is "
                f"{_WHAT[found]} by its DICOM header; typing and grading assume a "
                f"{_WHAT[role]} --{role}"
            )
    return warnings
