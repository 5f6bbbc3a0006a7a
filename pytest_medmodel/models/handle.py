"""The model under test as the runner sees it: identity up front, weights on first use.

A rerun whose predictions are all in the cache should not pay for loading a model
it never calls (for the demo that was 4 s of a 10 s rerun). So a spec resolves to
a :class:`ModelHandle` that knows the model's name, fingerprint, profile and
capabilities without loading anything; the adapter is built the first time the
runner actually needs the model.

A handle also wraps adapters that are already built (a ``py:`` factory, a
``medmodel`` fixture) without touching them: frozen or slotted adapter classes
work, and a missing ``name`` or ``fingerprint`` attribute is read as a default.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .base import CAPABILITIES, IMAGES, AdapterError, capabilities_of


@dataclass(frozen=True)
class ModelOptions:
    """What the command line says about how to run a model; passed to ``py:`` factories that accept it."""

    device: str = "auto"
    dtype: str = "auto"
    batch_size: int | None = None
    cache_dir: Path | None = None
    """Where converted GGUF checkpoints and file digests are kept."""
    log: Callable[[str], None] | None = None
    prepare: Callable[[], None] | None = None
    """Called once, just before a model is built (the plugin splits CPU threads between xdist workers)."""
    trust_remote_code: bool = False
    """Let a checkpoint run its own Python code (``auto_map``); off, such a checkpoint is refused."""
    root: Path | None = None
    """The project's root folder: ``py:`` modules are also looked up there, as pytest finds conftest files."""
    device_map: str | None = None
    """accelerate's ``device_map`` (``auto``: spread over every visible GPU); None: the whole model on ``device``."""


PROFILE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
"""A profile is a folder under the baseline folder: one plain path segment, never ``..`` or a slash."""


class ModelHandle:
    """A model's identity plus a way to build its adapter once, when first needed.

    Args:
        name: shown in reports.
        fingerprint: identity of weights, tokenizer, dtype and device kind for the
            prediction cache; None means predictions are shared only within a run.
        profile: default baseline profile (``--medmodel-profile`` overrides it).
        capabilities: what the adapter will be able to do (see
            :data:`~pytest_medmodel.models.base.CAPABILITIES`).
        load: builds the adapter; called at most once.
        description: one line for reports while the model is not loaded.
        mutation: the mutation applied on load (see :mod:`pytest_medmodel.mutate.base`), if any.
    """

    def __init__(
        self,
        *,
        name: str,
        fingerprint: str | None,
        profile: str,
        capabilities: frozenset[str],
        load: Callable[[], Any],
        description: str = "",
        mutation: str | None = None,
    ) -> None:
        unknown = set(capabilities) - set(CAPABILITIES)
        if unknown:
            raise AdapterError(f"{name}: unknown capabilities {sorted(unknown)}; use {', '.join(CAPABILITIES)}")
        if not PROFILE_NAME.match(profile):
            raise AdapterError(f"{name}: profile '{profile}' is not a usable folder name; use letters, digits, _ . -")
        self.name = name
        self.fingerprint = fingerprint
        self.profile = profile
        self.capabilities = frozenset(capabilities)
        self._load = load
        self._adapter: Any = None
        self._description = description or name
        self.mutation = mutation
        self.load_seconds = 0.0
        self.for_images: ModelHandle | None = None
        """The model that answers suites whose items have images, when this one takes none
        (``--medmodel-vision``; the text demo pairs itself with the demo VLM). Built, never loaded, until used."""
        self.image_capabilities: frozenset[str] | None = None
        """What the model can do for suites with images, when that differs (a served model answers them through
        /chat/completions); None: :attr:`capabilities`."""
        self.chat_note: str | None = None
        """Why suites that ask for the model's chat template get none (a served model behind /completions)."""

    @classmethod
    def wrap(cls, adapter: Any, *, profile: str, where: str) -> ModelHandle:
        """A handle around an adapter that already exists; checks it, never modifies it."""
        capabilities = capabilities_of(adapter)
        if not capabilities & set(CAPABILITIES):
            raise AdapterError(
                f"{where} returned {type(adapter).__name__}, which has neither loglikelihood(requests) nor "
                "generate(requests); see pytest_medmodel.models.base.ModelAdapter"
            )
        name = str(getattr(adapter, "name", None) or type(adapter).__name__)
        handle = cls(
            name=name,
            fingerprint=getattr(adapter, "fingerprint", None),
            profile=str(getattr(adapter, "profile", None) or profile),
            capabilities=capabilities,
            load=lambda: adapter,
        )
        handle._adapter = adapter
        pictured = getattr(adapter, "image_capabilities", None)
        if pictured is not None:
            handle.image_capabilities = frozenset(str(c) for c in pictured) & frozenset(CAPABILITIES)
        return handle

    def capabilities_for(self, has_images: bool) -> frozenset[str]:
        """What the model can do for a suite with (or without) images."""
        return self.image_capabilities if has_images and self.image_capabilities is not None else self.capabilities

    def answering(self, has_images: bool) -> ModelHandle:
        """The model that answers a suite: this one, or for a suite with images its model for images
        when this one takes none (:attr:`for_images`)."""
        if has_images and self.for_images is not None and IMAGES not in self.capabilities:
            return self.for_images
        return self

    @property
    def loaded(self) -> bool:
        return self._adapter is not None

    @property
    def adapter(self) -> Any:
        """The adapter, built on first access (its load time is kept in ``load_seconds``)."""
        if self._adapter is None:
            started = time.perf_counter()
            self._adapter = self._load()
            self.load_seconds = time.perf_counter() - started
        return self._adapter

    def format_chat(self, messages: Sequence[dict[str, str]]) -> str | None:
        """The adapter's chat template applied to ``messages`` (None when it has none)."""
        formatter = getattr(self.adapter, "format_chat", None)
        return formatter(messages) if callable(formatter) else None

    def describe(self) -> str:
        """One line for reports; says so when the weights were never needed."""
        if self._adapter is None:
            return f"{self._description}; not loaded: every prediction came from the cache"
        describe = getattr(self._adapter, "describe", None)
        text = str(describe()) if callable(describe) else self.name
        return f"{text} [mutated: {self.mutation}]" if self.mutation and self.mutation not in text else text

    def close(self) -> None:
        close = getattr(self._adapter, "close", None)
        if callable(close):
            close()
