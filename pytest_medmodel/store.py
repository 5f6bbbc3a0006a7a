"""The prediction cache's old import path, kept so ``from pytest_medmodel.store import SQLiteStore`` still works.

The stores live in :mod:`pytest_medmodel.execution.store`.
"""

from .execution.store import MemoryStore, SQLiteStore, StoreError

__all__ = ["MemoryStore", "SQLiteStore", "StoreError"]
