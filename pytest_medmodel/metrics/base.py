"""Metrics, each split into a per-item value and a suite-level aggregation (HELM's Stat idea).

The per-item part reads one scored entry (a current :class:`~pytest_medmodel.records.ItemScore`
or a committed baseline entry), so the same metric means the same thing for the
run and for the baseline. The aggregation folds the item values of a suite;
computing from item values (never from other aggregates) keeps xdist workers,
baselines and reports in agreement.

Examples:
    A metric is one registered function::

        @metric("mean_confidence_when_wrong")
        def mean_confidence_when_wrong(entry: Scored) -> float | None:
            return None if entry.correct else entry.confidence
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..registry import Registry, origin_of


class Scored(Protocol):
    """What every metric may read from an entry (current score or baseline line)."""

    @property
    def correct(self) -> bool: ...

    @property
    def confidence(self) -> float | None: ...

    @property
    def values(self) -> Mapping[str, Any]: ...


ItemValue = Callable[[Any], "float | None"]
"""``entry -> value``; None: the metric does not apply to this entry."""


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


@dataclass(frozen=True)
class Metric:
    """A registered metric."""

    name: str
    item: ItemValue
    aggregate: Callable[[Sequence[float]], float | int | None] = mean
    require_all: bool = False
    """Aggregate only when every entry has a value (a metric of the whole suite or nothing)."""
    always: bool = False
    """Report the metric even for no entries (``n = 0``, ``accuracy = None``)."""
    recorded: bool = False
    """Part of the ``metrics`` block of baseline files."""


METRICS: Registry[Metric] = Registry(
    "metric", builtins=("pytest_medmodel.metrics.accuracy", "pytest_medmodel.scoring.generate")
)


def metric(
    name: str,
    *,
    aggregate: Callable[[Sequence[float]], float | int | None] = mean,
    require_all: bool = False,
    always: bool = False,
    recorded: bool = False,
) -> Callable[[ItemValue], ItemValue]:
    """Register the decorated ``entry -> float | None`` function as metric ``name``."""

    def register(item: ItemValue) -> ItemValue:
        METRICS.register(name, Metric(name, item, aggregate, require_all, always, recorded), origin_of(item))
        return item

    return register


def compute(entries: Iterable[Any], names: Sequence[str] | None = None) -> dict[str, Any]:
    """Aggregate metrics over ``entries``: the named ones, or every registered metric."""
    entries = list(entries)
    selected = [METRICS.get(n) for n in names] if names is not None else list(METRICS)
    out: dict[str, Any] = {}
    for m in selected:
        values = [v for v in (m.item(e) for e in entries) if v is not None]
        if not values and not m.always:
            continue
        if m.require_all and len(values) != len(entries):
            continue
        out[m.name] = m.aggregate([float(v) for v in values])
    return out


def recorded(entries: Iterable[Any]) -> dict[str, Any]:
    """The metrics block of a baseline file: every metric marked ``recorded``."""
    return compute(entries, [m.name for m in METRICS if m.recorded])
