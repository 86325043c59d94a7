"""Written JSON stays strict JSON: undefined metrics are null, never NaN."""

from __future__ import annotations

import json
import math

import numpy as np

from modicmap import jsonio


def test_non_finite_floats_become_null_at_any_depth() -> None:
    value = {"kappa": float("nan"), "rows": [1.5, float("inf"), {"auc": -math.inf}], "n": 3}
    text = jsonio.dumps(value)
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"kappa": None, "rows": [1.5, None, {"auc": None}], "n": 3}


def test_numpy_nan_from_a_metric_is_null() -> None:
    sensitivity = float(np.float64(np.nan))
    assert json.loads(jsonio.dumps({"sensitivity": sensitivity})) == {"sensitivity": None}
