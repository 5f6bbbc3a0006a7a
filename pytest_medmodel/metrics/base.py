"""Metrics, each split into a per-item value and a suite-level aggregation (HELM's Stat idea).

The per-item part reads one scored entry (a current :class:`~pytest_medmodel.records.ItemScore`
or a committed baseline entry), so the same metric means the same thing for the
run and for the baseline. The aggregation folds the item values of a suite;
computing from item values (never from other aggregates) keeps xdist workers,
baselines and reports in agreement.

A metric that is not a mean of item values (an ECE, a rank correlation) reads
every entry at once instead: ``whole=True``. Each metric also says how reports
show it (``label``, ``format``), so a new one is one function in one file.

Examples:
    A metric is one registered function::

        @metric("mean_confidence_when_wrong", label="confidence when wrong", format="percent")
        def mean_confidence_when_wrong(entry: Scored) -> float | None:
            return None if entry.correct else entry.confidence

    and one over the whole vector::

        @metric("overconfidence", whole=True, label="overconfidence", format="percent")
        def overconfidence(entries: Sequence[Scored]) -> float | None:
            sure = [e for e in entries if e.confidence is not None]
            return sum(e.confidence - e.correct for e in sure) / len(sure) if sure else None
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
WholeValue = Callable[[Sequence[Any]], "float | None"]
"""``entries -> value`` for a metric of the whole vector; None: it does not apply to these entries."""
FORMATS = ("percent", "number", "count")
"""How a report shows a metric's value: ``48.2%``, ``0.132``, ``110``."""


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
    label: str = ""
    """What reports call it (default: its name)."""
    format: str = "number"
    """One of :data:`FORMATS`."""
    whole: WholeValue | None = None
    """For a metric of the whole vector (``whole=True``): the function of every entry; ``item`` is then unused."""
    note: str = ""
    """What reports say after the value, in parentheses: where the definition comes from, or how to read it."""

    @property
    def kind(self) -> str:
        """``mean`` (an aggregation of per-item values) or ``whole`` (computed over every entry at once)."""
        return "whole" if self.whole is not None else "mean"

    def shown(self, value: float | int | None) -> str:
        """The value as reports print it."""
        if value is None:
            return "n/a"
        if self.format == "percent":
            return f"{100 * value:.1f}%"
        if self.format == "count":
            return str(int(value))
        return f"{value:.3f}"


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
    label: str | None = None,
    format: str = "number",
    whole: bool = False,
    note: str = "",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated function as metric ``name``.

    The function reads one entry (``entry -> float | None``, aggregated with
    ``aggregate``), or with ``whole=True`` every entry of the suite at once
    (``entries -> float | None``). ``label`` and ``format`` (:data:`FORMATS`) say how
    reports show it; ``note`` is said after it, and metrics with the same note share
    a line (``acc 48.2%, acc_norm 50.0% on 110 items (lm-evaluation-harness definitions)``).
    """
    if format not in FORMATS:
        raise ValueError(f"metric '{name}': format must be one of {', '.join(FORMATS)}, not {format!r}")

    def register(function: Callable[..., Any]) -> Callable[..., Any]:
        item: ItemValue = _no_item if whole else function
        entry = Metric(
            name,
            item,
            aggregate,
            require_all,
            always,
            recorded,
            label or name,
            format,
            function if whole else None,
            note,
        )
        METRICS.register(name, entry, origin_of(function))
        return function

    return register


def _no_item(entry: Any) -> float | None:
    return None


def compute(entries: Iterable[Any], names: Sequence[str] | None = None) -> dict[str, Any]:
    """Aggregate metrics over ``entries``: the named ones, or every registered metric."""
    entries = list(entries)
    selected = [METRICS.get(n) for n in names] if names is not None else list(METRICS)
    out: dict[str, Any] = {}
    for m in selected:
        if m.whole is not None:
            value = m.whole(entries)
            if value is not None or m.always:
                out[m.name] = value
            continue
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
