"""The settings of a registered factory (a perturbation, a mutation), read from its signature.

A factory's keyword arguments are its settings; their annotations say what each
accepts (``float``, ``int``, ``str``, ``bool``, a list of one of them, or a union of
these), and an unannotated setting accepts values of its default's type. Checking
a spec against them before the factory runs gives one line naming the setting
(``rate: expected a number, got str``) where a call would give Python's
``TypeError`` from deep inside, or fail later on the first item.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_SCALARS: dict[type, tuple[tuple[type, ...], str]] = {
    bool: ((bool,), "true or false"),
    int: ((int,), "a whole number"),
    float: ((int, float), "a number"),
    str: ((str,), "a text"),
}
_PLURAL = {str: "texts", int: "whole numbers", float: "numbers", bool: "true/false values"}


@dataclass(frozen=True)
class Setting:
    """What one setting accepts, read from the factory's annotation (or its default's type)."""

    types: tuple[type, ...]
    expected: str
    items: type | None = None
    """For a list: the type of each element."""
    default: Any = None

    @classmethod
    def of(cls, hint: Any, default: Any) -> Setting:
        if hint is None and type(default) in _SCALARS:
            hint = type(default)
        if hint in _SCALARS:
            accepted, expected = _SCALARS[hint]
            return cls(accepted, expected, default=default)
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if origin in (list, tuple, Sequence) and args and args[0] in _PLURAL:
            return cls((list, tuple), f"a list of {_PLURAL[args[0]]}", args[0], default)
        members = [a for a in args if a is not type(None)]
        union = origin in (typing.Union, types.UnionType)
        if union and len(members) == 1 and len(args) == 2:  # Optional[X]: X, or nothing written
            inner = cls.of(members[0], default)
            return cls((*inner.types, type(None)), inner.expected, inner.items, default)
        if union and members and all(a in _SCALARS for a in members):
            accepted = tuple(t for a in members for t in _SCALARS[a][0])
            return cls(accepted, " or ".join(_SCALARS[a][1] for a in members), default=default)
        return cls((object,), "a value", default=default)

    def problem(self, value: Any) -> str | None:
        """Why ``value`` cannot stand for this setting (None: it can)."""
        if isinstance(value, bool) and bool not in self.types:
            return f"expected {self.expected}, got a boolean"
        if not isinstance(value, self.types):
            return f"expected {self.expected}, got {type(value).__name__}"
        if self.items is not None and isinstance(value, (list, tuple)):
            wanted = (int, float) if self.items is float else (self.items,)
            if any(isinstance(v, bool) != (self.items is bool) or not isinstance(v, wanted) for v in value):
                return f"expected {self.expected}"
        return None


def settings_of(factory: Callable[..., Any]) -> dict[str, Setting]:
    """Each setting ``factory`` takes, with what it accepts and its default (None when it has none)."""
    try:
        hints = typing.get_type_hints(factory)
    except Exception:  # noqa: BLE001 - an annotation that does not resolve: judge by the defaults
        hints = {}
    out = {}
    for name, parameter in inspect.signature(factory).parameters.items():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        default = None if parameter.default is parameter.empty else parameter.default
        out[name] = Setting.of(hints.get(name), default)
    return out


def first_problem(
    name: str, kind: str, factory: Callable[..., Any], params: Mapping[str, Any]
) -> tuple[str, str, str] | None:
    """The first problem with ``params`` for ``factory`` (registered as ``name``, a ``kind``) as
    ``(setting, problem, fix)``, or None.

    Unknown names and wrong types come from the signature; a value the factory itself
    refuses (a rate above 1, an unknown mode) is found by calling it once, so a spec
    fails at load with a line naming the setting instead of on its first use.
    """
    known = settings_of(factory)
    for key, value in params.items():
        if key not in known:
            return key, "unknown setting", f"{name} takes {', '.join(known) or 'no settings'}"
        problem = known[key].problem(value)
        if problem is not None:
            return key, problem, f"write {known[key].expected}"
    missing = [key for key, setting in known.items() if key not in params and _required(factory, key)]
    if missing:
        return missing[0], "missing setting", f"{name} needs {', '.join(missing)}"
    try:
        factory(**params)
    except (TypeError, ValueError) as exc:
        return "", str(exc), f"see the {name} {kind}'s settings"
    return None


def _required(factory: Callable[..., Any], key: str) -> bool:
    return inspect.signature(factory).parameters[key].default is inspect.Parameter.empty
