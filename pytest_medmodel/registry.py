"""One registry type for the six extension points: scorers, metrics, gates, perturbations, mutations, model specs.

Each kind has one typed instance, kept next to the protocol its entries follow
(``SCORERS`` in :mod:`pytest_medmodel.scoring.base`, ``METRICS`` in
:mod:`pytest_medmodel.metrics.base`, ``GATES`` in :mod:`pytest_medmodel.gates.base`,
``PERTURBATIONS`` in :mod:`pytest_medmodel.perturb.base`, ``MUTATIONS`` in
:mod:`pytest_medmodel.mutate.base`, ``RESOLVERS`` in :mod:`pytest_medmodel.models.specs`).
Entries are registered by name with a decorator in the module that defines them,
so adding one is one function or class in one file.

The built-in entries are loaded the same way, on first use: each registry names the
modules that define its built-ins, and the first lookup or registration imports
them. Importing the package (which pytest does in every run of every project where
it is installed) therefore registers nothing and imports almost nothing.

Third-party packages add entries through the ``pytest_medmodel`` entry-point group:
each entry point names a module (or callable) that registers entries when loaded.
Entry points are loaded once, the first time a lookup misses (inspect-ai's
approach), so an installed pack costs nothing until a suite names one of its entries.

Registering a name twice is an error unless both registrations come from the same
function or class (same module and qualified name): pytester re-imports conftest
files for every in-process run, and that must not fail.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")

ENTRY_POINT_GROUP = "pytest_medmodel"

_entry_points_loaded = False
_REGISTRIES: list[Registry[Any]] = []
_entry_point_errors: list[str] = []
"""Installed packs that failed to load, named in every "unknown name" message."""


class RegistryError(LookupError):
    """A name that is not registered, or registered twice by different code."""


def origin_of(obj: object) -> str:
    """``module.qualname`` of a function or class (what makes two registrations "the same")."""
    target = getattr(obj, "__wrapped__", obj)
    module = getattr(target, "__module__", None) or type(target).__module__
    qualname = getattr(target, "__qualname__", None) or type(target).__qualname__
    return f"{module}.{qualname}"


class Registry(Generic[T]):
    """Named entries of one kind, in registration order."""

    def __init__(self, kind: str, builtins: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self.builtins = builtins
        """Modules (dotted names) that register the built-in entries when imported."""
        self._builtins_loaded = not builtins
        self._entries: dict[str, tuple[T, str]] = {}
        _REGISTRIES.append(self)

    def load_builtins(self) -> None:
        """Import the modules that define the built-in entries, once (they register themselves)."""
        if self._builtins_loaded:
            return
        self._builtins_loaded = True  # first: each module registers through this registry
        for module in self.builtins:
            importlib.import_module(module)

    def register(self, name: str, entry: T, origin: str) -> T:
        """Add ``entry`` under ``name``; ``origin`` is the defining function or class (see :func:`origin_of`)."""
        self.load_builtins()  # a built-in name taken by other code is refused, whatever the import order
        if not name or not name.replace("_", "").replace("-", "").replace(".", "").isalnum():
            raise RegistryError(f"{self.kind} name '{name}' must use letters, digits, '_', '-' or '.'")
        current = self._entries.get(name)
        if current is not None and current[1] != origin:
            raise RegistryError(f"{self.kind} '{name}' is already registered by {current[1]}; pick another name")
        self._entries[name] = (entry, origin)
        return entry

    def get(self, name: str) -> T:
        """The entry called ``name``; loads installed packs once on a miss."""
        self.load_builtins()
        if name not in self._entries:
            load_entry_points()
        try:
            return self._entries[name][0]
        except KeyError:
            raise RegistryError(self.unknown(name)) from None

    def unknown(self, name: str) -> str:
        """One line: the name is unknown, with a did-you-mean or the known names."""
        known = self.names()
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
        hint = f"did you mean '{close[0]}'?" if close else f"use one of {', '.join(known)}"
        broken = f" (an installed pack failed to load: {'; '.join(_entry_point_errors)})" if _entry_point_errors else ""
        return f"unknown {self.kind} '{name}'{broken}; {hint}"

    def is_builtin(self, name: str) -> bool:
        """Whether ``name`` is one of the package's own entries (not a project's or an installed pack's)."""
        self.load_builtins()
        entry = self._entries.get(name)
        return entry is not None and entry[1].startswith("pytest_medmodel.")

    def names(self) -> tuple[str, ...]:
        self.load_builtins()
        load_entry_points()
        return tuple(self._entries)

    def __contains__(self, name: object) -> bool:
        self.load_builtins()
        if name not in self._entries:
            load_entry_points()
        return name in self._entries

    def __iter__(self) -> Iterator[T]:
        self.load_builtins()
        load_entry_points()
        return iter([entry for entry, _ in self._entries.values()])


def snapshot() -> list[dict[str, Any]]:
    """The entries of every registry, for :func:`restore` (tests that register throwaway entries)."""
    for registry in _REGISTRIES:
        registry.load_builtins()
    return [dict(r._entries) for r in _REGISTRIES]


def restore(saved: list[dict[str, Any]]) -> None:
    for registry, entries in zip(_REGISTRIES, saved, strict=False):
        registry._entries = dict(entries)


def load_entry_points() -> None:
    """Import every ``pytest_medmodel`` entry point once (they register on import)."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    import importlib.metadata  # not at module level: it costs more than the rest of the package's imports

    for point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = point.load()
            if callable(loaded) and not isinstance(loaded, type):
                loaded()  # an entry point may name a function that registers its entries
        except Exception as exc:  # noqa: BLE001 - one broken pack must not break the others
            package = point.dist.name if point.dist is not None else "?"
            _entry_point_errors.append(f"{point.name} = {point.value} from {package}: {type(exc).__name__}: {exc}")
