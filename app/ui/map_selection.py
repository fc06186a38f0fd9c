"""Which map points a lasso or a rectangle encloses (pure numpy, no Qt)."""

from __future__ import annotations

import numpy as np


def inside_polygon(x: np.ndarray, y: np.ndarray, polygon: list[tuple[float, float]]) -> np.ndarray:
    """Boolean mask of the points (x, y) inside a closed polygon (even-odd rule, vectorised)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    inside = np.zeros(x.shape, dtype=bool)
    if len(polygon) < 3:
        return inside
    px = np.array([p[0] for p in polygon], dtype=np.float64)
    py = np.array([p[1] for p in polygon], dtype=np.float64)
    qx, qy = np.roll(px, -1), np.roll(py, -1)
    for x0, y0, x1, y1 in zip(px, py, qx, qy):
        crosses = (y0 > y) != (y1 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            at = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (x < at)
    return inside


def inside_rectangle(x: np.ndarray, y: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    left, right, bottom, top = min(x0, x1), max(x0, x1), min(y0, y1), max(y0, y1)
    return (x >= left) & (x <= right) & (y >= bottom) & (y <= top)
