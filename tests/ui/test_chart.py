"""Chart payloads: downsampling that keeps spikes, full resolution for a zoomed range."""

from __future__ import annotations

import math

from trainyard.metrics import Series
from trainyard.ui.chart import compute_chart


def wave(n: int) -> Series:
    values = [math.sin(i / 500) for i in range(n)]
    values[73_311] = 40.0  # one spike a stride would drop
    values[12_345] = -40.0
    return Series(list(range(n)), values, [1e9 + i for i in range(n)])


def test_downsampled_to_at_most_2000_points_spikes_kept():
    """100,000 points become at most 2,000, in x order, still holding the global max and min."""
    chart = compute_chart(wave(100_000))
    assert len(chart["x"]) <= 2000 and chart["downsampled"] and chart["total"] == 100_000
    assert max(chart["y"]) == 40.0 and min(chart["y"]) == -40.0
    assert chart["x"] == sorted(chart["x"])


def test_range_comes_back_at_full_resolution():
    """A zoomed range with fewer than 2,000 points is returned whole."""
    chart = compute_chart(wave(100_000), x0=50_000, x1=51_499)
    assert chart["x"] == list(range(50_000, 51_500)) and not chart["downsampled"]


def test_time_axis():
    """x="time" puts the logging time on the x-axis."""
    chart = compute_chart(Series([0, 1, 2], [1.0, 2.0, 3.0], [10.0, 20.0, 30.0]), x="time", x0=15)
    assert chart["x"] == [20.0, 30.0] and chart["y"] == [2.0, 3.0]


def test_small_series_untouched():
    """A series under the limit is returned as logged."""
    s = Series([0, 1, 2], [0.5, 0.25, 0.125], [0.0, 1.0, 2.0])
    assert compute_chart(s)["y"] == [0.5, 0.25, 0.125]
