"""What inference did in a run, mergeable across xdist workers.

Throughput is items per *wall-clock* second: the union of the time spans in
which any process was inferring. Summing each worker's seconds would count two
workers busy at once as twice the time and halve the reported rate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RunStats:
    """Counts and time spans of model calls (plain data)."""

    shards_computed: int = 0
    requests_computed: int = 0
    requests_cached: int = 0
    oom_backoffs: int = 0
    intervals: list[tuple[float, float]] = field(default_factory=list)
    """(start, end) wall-clock times (``time.time()``) of each model call."""

    def add_interval(self, start: float, end: float) -> None:
        self.intervals.append((start, end))

    @property
    def busy_seconds(self) -> float:
        """Seconds of inference summed over processes (worker-seconds)."""
        return sum(end - start for start, end in self.intervals)

    @property
    def wall_seconds(self) -> float:
        """Seconds in which at least one process was inferring (the union of the spans)."""
        total = 0.0
        current_start = current_end = None
        for start, end in sorted(self.intervals):
            if current_end is None or start > current_end:
                if current_end is not None and current_start is not None:
                    total += current_end - current_start
                current_start, current_end = start, end
            else:
                current_end = max(current_end, end)
        if current_end is not None and current_start is not None:
            total += current_end - current_start
        return total

    def merge(self, other: Mapping[str, Any]) -> None:
        for name in ("shards_computed", "requests_computed", "requests_cached", "oom_backoffs"):
            setattr(self, name, getattr(self, name) + int(other.get(name, 0)))
        self.intervals.extend((float(a), float(b)) for a, b in other.get("intervals", ()))

    def to_json(self) -> dict[str, Any]:
        return {
            "shards_computed": self.shards_computed,
            "requests_computed": self.requests_computed,
            "requests_cached": self.requests_cached,
            "oom_backoffs": self.oom_backoffs,
            "intervals": [[round(a, 3), round(b, 3)] for a, b in self.intervals],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunStats:
        stats = cls()
        stats.merge(data)
        return stats
