"""Median and spread of repeated measurements."""

from __future__ import annotations

import statistics
from typing import Dict, Iterable, List, Optional


def spread(values: Iterable[Optional[float]]) -> Dict[str, float]:
    """``{"median", "min", "max", "n"}`` of the values that are not ``None`` (empty dict if none)."""
    present: List[float] = [float(v) for v in values if v is not None]
    if not present:
        return {}
    return {"median": statistics.median(present), "min": min(present), "max": max(present), "n": len(present)}


def ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    """``a / b``, or ``None`` when either is missing or ``b`` is 0."""
    if a is None or b is None or b == 0:
        return None
    return a / b
