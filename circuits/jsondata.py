"""Plain JSON data from results: the one conversion that results, run folders and command lines
share (a module of its own, so that what a result depends on does not include the run-folder
code)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np


def json_safe(obj: Any) -> Any:
    """Plain (strict) JSON data: NumPy scalars and arrays as Python numbers and lists, non-finite
    floats as ``None``, tuples as lists, mapping keys as strings, recursively."""
    if isinstance(obj, np.ndarray):
        obj = obj.tolist()
    elif isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    return obj
