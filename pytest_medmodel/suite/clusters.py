"""Which items a suite's statistics must treat as one: those sharing a probe group or an image.

Paired tests, intervals and power figures count clusters, not items, where items
are not independent (:meth:`~.types.Suite.cluster_by_item`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, Protocol


class Clustered(Protocol):
    """What clustering reads of an item (an :class:`~.types.Item`)."""

    @property
    def id(self) -> str: ...

    @property
    def group(self) -> str | None: ...

    @property
    def images(self) -> tuple[Any, ...]: ...


def clusters_of(items: Sequence[Clustered]) -> dict[str, str]:
    """Union of items linked by a probe group or an image digest; each cluster named by its first link."""
    parent = {item.id: item.id for item in items}
    first_owner: dict[str, str] = {}
    name: dict[str, str] = {}

    def root(item_id: str) -> str:
        while parent[item_id] != item_id:
            item_id = parent[item_id] = parent[parent[item_id]]
        return item_id

    for item in items:
        links = [f"group:{item.group}"] if item.group else []
        links += [f"image:{image.digest}" for image in item.images]
        for link in links:
            owner = root(first_owner.setdefault(link, item.id))
            mine = root(item.id)
            name.setdefault(owner, link)
            if mine != owner:  # the earlier cluster absorbs this one and keeps its name
                parent[mine] = owner
    roots = {item.id: root(item.id) for item in items}
    size = Counter(roots.values())

    def named(item_id: str) -> str:
        link = name.get(roots[item_id], "")
        return link if link.startswith("group:") or (link and size[roots[item_id]] > 1) else f"item:{item_id}"

    return {item.id: named(item.id) for item in items}
