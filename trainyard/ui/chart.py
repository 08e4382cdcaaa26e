"""Chart payloads: a series cut to an x range and reduced to at most ``max_points`` (pure).

Reduction keeps the minimum and the maximum of each bucket in their original order, so spikes survive
(a plain stride would drop them) and a zoomed-in range can be asked again at full resolution.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

from ..metrics import Series

MAX_POINTS = 2000


def compute_chart(series: Series, max_points: int = MAX_POINTS, x0: float | None = None,
                  x1: float | None = None, x: str = "step") -> dict:
    """``{"x", "y", "t", "total", "in_range", "downsampled"}`` for one series: x is the step (or the
    time logged, with ``x="time"``), limited to ``[x0, x1]`` and at most ``max_points`` long."""
    xs = series.times if x == "time" else series.steps
    ys, ts = series.values, series.times
    lo, hi = _range(xs, x0, x1)
    xs, ys, ts = xs[lo:hi], ys[lo:hi], ts[lo:hi]
    keep = compute_min_max_indices(ys, max(2, max_points))
    return {"x": [xs[i] for i in keep], "y": [ys[i] for i in keep], "t": [ts[i] for i in keep],
            "total": len(series.values), "in_range": len(ys), "downsampled": len(keep) < len(ys)}


def compute_min_max_indices(values: list[float], max_points: int) -> list[int]:
    """Indices to keep: all of them if they fit, else the min and max of ``max_points // 2`` buckets."""
    n = len(values)
    if n <= max_points:
        return list(range(n))
    buckets = max_points // 2
    keep: list[int] = []
    for b in range(buckets):
        start, end = b * n // buckets, (b + 1) * n // buckets
        chunk = values[start:end]
        i_min = start + chunk.index(min(chunk))
        i_max = start + chunk.index(max(chunk))
        keep += sorted({i_min, i_max})
    return keep


def _range(xs: list[float], x0: float | None, x1: float | None) -> tuple[int, int]:
    if x0 is None and x1 is None:
        return 0, len(xs)
    if all(a <= b for a, b in zip(xs, xs[1:], strict=False)):  # sorted: bisect
        return (bisect_left(xs, x0) if x0 is not None else 0, bisect_right(xs, x1) if x1 is not None else len(xs))
    inside = [i for i, v in enumerate(xs) if (x0 is None or v >= x0) and (x1 is None or v <= x1)]
    return (inside[0], inside[-1] + 1) if inside else (0, 0)
