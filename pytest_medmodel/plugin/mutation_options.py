"""The mutation options' values, checked when pytest starts (an unknown name or setting is a usage error)."""

from __future__ import annotations

import pytest


def mutation_list(text: str | None, flag: str) -> tuple[str, ...] | None:
    if text is None:
        return None
    from ..models.base import AdapterError
    from ..mutate.matrix import parse_mutation_list

    try:
        return tuple(parse_mutation_list(text))
    except AdapterError as exc:
        raise pytest.UsageError(str(exc).replace("--medmodel-mutate", flag)) from None


def mutation(text: str | None, update: bool, profile: str | None, flag: str, profile_flag: str) -> str | None:
    """The mutation spec, checked now (an unknown name or setting is a usage error, before any loading)."""
    if not text:
        return None
    from ..models.base import AdapterError
    from ..mutate.base import checked

    try:
        label = checked(text)
    except AdapterError as exc:
        raise pytest.UsageError(str(exc)) from None
    if update and not profile:
        raise pytest.UsageError(
            f"{flag}={text} with --snapshot-update would record the mutated model's answers as the real "
            f"model's baselines; to record a mutated model on purpose, name its own profile with {profile_flag}=NAME"
        )
    return label
