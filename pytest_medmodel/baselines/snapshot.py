"""The baseline format as a syrupy extension, for asserting on baselines with syrupy's ``snapshot`` fixture.

The plugin writes baseline files itself (see :mod:`pytest_medmodel.baselines.format` for
why it does not let syrupy decide *when*); this extension offers the same
review-friendly layout to anyone using ``snapshot.use_extension(BaselineExtension)``.
"""

from __future__ import annotations

from typing import Any

from syrupy.extensions.json import JSONSnapshotExtension

from .format import Baseline, dumps_baseline


class BaselineExtension(JSONSnapshotExtension):
    """syrupy extension that writes the baseline layout; ``serialize`` accepts a :class:`Baseline` or its JSON."""

    file_extension = "json"

    def serialize(self, data: Any, **kwargs: Any) -> str:
        return dumps_baseline(data.to_json() if isinstance(data, Baseline) else data)
