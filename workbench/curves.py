"""Metric curves cut to a size a browser draws at once: pure functions over (step, value) points.

A run with 10,000 steps per metric, ten runs overlaid, is 100,000 points per chart; a chart a few
hundred pixels wide shows no more than ~1000 of them. Downsampling keeps each bucket's lowest and
highest point (so spikes and the best value stay visible) and the curve's first and last point.
"""

from __future__ import annotations

from collections.abc import Sequence

from workbench.errors import ConfigError

Point = tuple[int, float]  # (step, value)


def downsample(points: Sequence[Point], max_points: int) -> list[Point]:
    """At most `max_points` of `points` (in step order): first, last, and per bucket its min
    and max, in the order they occur. Curves already short enough come back unchanged."""
    if max_points < 4:
        raise ConfigError(f"max_points must be at least 4 (first, last, one bucket's min and "
                          f"max), got {max_points}")
    if len(points) <= max_points:
        return list(points)
    inner = points[1:-1]
    buckets = (max_points - 2) // 2
    kept: list[Point] = [points[0]]
    for index in range(buckets):
        bucket = inner[index * len(inner) // buckets:(index + 1) * len(inner) // buckets]
        if not bucket:
            continue
        low = min(range(len(bucket)), key=lambda i: bucket[i][1])
        high = max(range(len(bucket)), key=lambda i: bucket[i][1])
        kept.extend(bucket[i] for i in sorted({low, high}))
    kept.append(points[-1])
    return kept
