"""A short summary of recent waits (a queue's, a lane's), for the status a serving check reads."""

from __future__ import annotations


def spread(values: list[float], counted: str = "count") -> dict[str, float] | None:
    """``{counted: how many, "p50", "p95", "max"}`` of ``values`` (seconds, rounded to 0.1 ms);
    None when there are none."""
    if not values:
        return None
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 4)

    return {counted: len(ordered), "p50": at(0.5), "p95": at(0.95), "max": at(1.0)}
