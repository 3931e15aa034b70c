"""The numbers a job reports, flattened to dotted names for series, tables and comparisons."""

from __future__ import annotations

import math
from typing import Any


def numeric_metrics(values: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Flatten nested metrics ({"knn": {"k=20": {"top1": .9}}}) to {"knn.k=20.top1": .9};
    NaN and infinities are no measurement and are left out."""
    flat: dict[str, float] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(numeric_metrics(value, f"{prefix}{key}."))
        elif (isinstance(value, int | float) and not isinstance(value, bool)
              and math.isfinite(value)):
            flat[f"{prefix}{key}"] = float(value)
    return flat
