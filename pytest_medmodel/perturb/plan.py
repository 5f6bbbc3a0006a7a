"""A suite's variants: what its tests present, and every key its baseline may hold.

Tests cover the first ``limit`` items (``--medmodel-limit``); stale-entry checks
need every item's variant keys, so items past the limit are built too, on
demand. Each item's variants come from the suite's perturbations, then from a
``modify`` callback (the plugin's ``pytest_medmodel_modify_variants`` hook);
anything that fails in either is one :class:`SuiteError` line naming the item.
"""

from __future__ import annotations

from collections.abc import Callable

from ..suite.types import Item, Suite, SuiteError, Variant
from .base import check_variants, variants_of

Modify = Callable[[Suite, Item, list[Variant]], None]


class SuiteVariants:
    """The variants of one suite, built once."""

    def __init__(self, suite: Suite, limit: int | None = None, modify: Modify | None = None) -> None:
        self.suite = suite
        self.limit = limit
        self.modify = modify
        self._selected: dict[str, Variant] | None = None
        self._all_keys: list[str] | None = None

    def selected(self) -> dict[str, Variant]:
        """The variants tests present, by key, for the first ``limit`` items."""
        if self._selected is None:
            items = self.suite.items[: self.limit] if self.limit else self.suite.items
            self._selected = {v.key: v for it in items for v in self.of(it)}
        return self._selected

    def all_keys(self) -> list[str]:
        """Every key the suite defines now (baseline entries with other keys are stale)."""
        if self._all_keys is None:
            keys = dict.fromkeys(self.selected())
            for it in self.suite.items[self.limit :] if self.limit else ():
                keys.update(dict.fromkeys(v.key for v in self.of(it)))
            self._all_keys = list(keys)
        return self._all_keys

    def of(self, item: Item) -> list[Variant]:
        """One item's variants, checked (the original first)."""
        stage = "perturbations"
        try:
            variants = variants_of(self.suite, Variant.of(item))
            stage = "pytest_medmodel_modify_variants"
            if self.modify is not None:
                self.modify(self.suite, item, variants)
        except SuiteError:
            raise
        except Exception as exc:  # noqa: BLE001 - user code: report it as one line about the suite
            problem = f"failed on item {item.id} ({type(exc).__name__}: {exc})"
            raise SuiteError(
                self.suite.path, stage, problem, "fix the perturbation or the hook implementation"
            ) from exc
        check_variants(self.suite, item.id, variants)
        return variants
