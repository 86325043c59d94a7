"""JSON that every reader accepts: NaN and infinities become ``null``.

Python's ``json`` writes ``NaN``, which is not JSON (JavaScript's ``JSON.parse``,
``jq`` and many R readers reject the whole file); a metric that is undefined, such as
a sensitivity without positives, is written as ``null`` instead.
"""

from __future__ import annotations

import json
import math
from typing import Any


def finite(value: Any) -> Any:
    """``value`` with every non-finite float (also inside lists and dicts) replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def dumps(value: Any, **kwargs: Any) -> str:
    """``json.dumps`` of :func:`finite` (raises rather than write NaN)."""
    return json.dumps(finite(value), allow_nan=False, **kwargs)
