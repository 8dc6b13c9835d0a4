"""Turn metrics (numpy scalars, arrays, tensors, infinities) into strict JSON values."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def _float(x: float) -> float | str:
    # Strict JSON has no Infinity/NaN; an infinite VIF must survive the round trip.
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def jsonable(obj: Any) -> Any:
    """Recursively convert ``obj`` to plain JSON types."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, np.integer)) and not isinstance(obj, bool):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, (float, np.floating)):
        return _float(float(obj))
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if hasattr(obj, "detach") and hasattr(obj, "cpu"):  # torch tensor, without importing torch
        return jsonable(obj.detach().cpu().numpy())
    if hasattr(obj, "item"):
        return jsonable(obj.item())
    return str(obj)
