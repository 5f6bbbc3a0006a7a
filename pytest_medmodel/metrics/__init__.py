"""Metrics: a per-item value and a suite aggregation each (see :mod:`.base`)."""

from .base import METRICS, Metric, compute, metric, recorded

__all__ = ["METRICS", "Metric", "compute", "metric", "recorded"]
