"""Where a NIfTI file stores NaN or infinite voxels.

ITK's NIfTI reader silently turns them into 0, which inside a spine image looks like
tissue-free background; the reader needs to know which voxels they were to say so and
treat them as every other format's (:func:`modicmap.io.validate.replace_non_finite`).
Read here from the raw voxel block of a NIfTI-1 file (float32/float64 only: integer types
cannot hold NaN); NIfTI-2 and other types give None.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

_FLOAT_TYPES = {16: "f4", 64: "f8"}  # NIfTI datatype codes


def non_finite_mask(path: Path) -> np.ndarray | None:
    """Boolean array (z, y, x), as ``sitk.GetArrayFromImage`` orders the voxels, True where the
    file holds NaN/inf; None when the file holds none or is not a float NIfTI-1 file."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as stream:  # type: ignore[operator]
        header = stream.read(348)
        if len(header) < 348:
            return None
        order = next((o for o in "<>" if struct.unpack(f"{o}i", header[:4])[0] == 348), None)
        if order is None:  # NIfTI-2 or not NIfTI
            return None
        dims = struct.unpack(f"{order}8h", header[40:56])
        kind = _FLOAT_TYPES.get(struct.unpack(f"{order}h", header[70:72])[0])
        if kind is None or not 1 <= dims[0] <= 7:
            return None
        offset = int(struct.unpack(f"{order}f", header[108:112])[0])
        stream.read(max(offset - 348, 0))
        shape = tuple(max(int(d), 1) for d in dims[1 : 1 + dims[0]])
        values = np.frombuffer(
            stream.read(int(np.prod(shape)) * np.dtype(kind).itemsize), dtype=f"{order}{kind}"
        )
    if values.size != int(np.prod(shape)):
        return None
    bad = ~np.isfinite(values)
    if not bad.any():
        return None
    return bad.reshape(shape[::-1])  # NIfTI: x fastest, as numpy's (..., z, y, x)
