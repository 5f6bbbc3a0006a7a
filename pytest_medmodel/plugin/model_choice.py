"""Which model a test process runs: the spec's, or what a ``medmodel`` fixture returned.

Resolving a spec may take time (a served model is asked what it offers) and may
fail for reasons no test can fix: a typo in a folder name, a stopped server, no
spec at all. Every such failure is one :class:`ModelUnusable` line; the test
session turns it into one failed test and an early end of the run, never one
traceback per test.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ..credentials import shown
from ..execution.calls import AdapterRaised, ModelTimeout, said, within
from ..models.base import AdapterError, ModelUnusable
from ..models.handle import ModelHandle
from ..models.specs import ModelOptions, as_model, profile_for_spec
from ..mutate.base import mutate_handle
from ..text_safety import inert
from .settings import Settings


class ModelChoice:
    """Builds the run's model once per distinct ``medmodel`` value and checks that a run uses one model."""

    def __init__(self, config: pytest.Config, settings: Settings, say: Callable[[str], None]) -> None:
        self.config = config
        self.settings = settings
        self.say = say
        self._handles: dict[int, ModelHandle] = {}
        self.current: ModelHandle | None = None

    def options(self) -> ModelOptions:
        from .gpu import limit_cpu_threads

        s = self.settings
        return ModelOptions(
            s.device,
            s.dtype,
            s.batch_size,
            s.cache_dir,
            self.say,
            lambda: limit_cpu_threads(self.config, s.device),
            s.trust_remote_code,
            Path(self.config.rootpath),
            s.device_map,
        )

    def default(self) -> ModelHandle:
        """The spec's model, built now by the first ``pytest_medmodel_make_adapter`` hook that can.

        Each call builds a new handle (the mutation report damages a fresh copy per mutation).
        Resolving runs under ``--medmodel-timeout`` like every model call: it may ask a server.
        """
        spec = self.settings.spec
        if not spec:
            raise ModelUnusable(
                "no model given: pass --medmodel=SPEC, set the 'medmodel' ini key, or define a 'medmodel' fixture"
            )
        where = f"--medmodel={shown(spec)}"
        try:
            handle: ModelHandle = within(self.settings.timeout, where, lambda: self._with_vision(self._from_spec(spec)))
        except (AdapterError, ModelTimeout) as exc:
            raise ModelUnusable(str(exc)) from None
        except Exception as exc:  # a resolver or pytest_medmodel_make_adapter hook of the user's raised
            raise ModelUnusable(f"{where}: {said(AdapterRaised(exc))}") from exc
        return handle

    def use(self, value: Any) -> ModelHandle:
        """What the ``medmodel`` fixture returned (a handle, an adapter or a spec), mutated and profiled as asked."""
        key = id(value)
        if key not in self._handles:
            try:
                handle = (
                    self._from_spec(value) if isinstance(value, str) else as_model(value, where="the medmodel fixture")
                )
                if handle.for_images is None:  # a fixture's model (a spec's got it when it was built)
                    handle = self._with_vision(handle)
                if self.settings.mutate:
                    handle = mutate_handle(handle, self.settings.mutate)
            except AdapterError as exc:
                raise ModelUnusable(str(exc)) from None
            if self.settings.profile:
                handle.profile = self.settings.profile
            first = self.current
            if first is not None and (first.name, first.fingerprint, first.profile) != (
                handle.name,
                handle.fingerprint,
                handle.profile,
            ):
                raise pytest.fail.Exception(
                    inert(
                        f"this run uses two models, {first.name} (profile {first.profile}) and {handle.name} "
                        f"(profile {handle.profile}), from different medmodel fixtures; a run gates one model: "
                        "run each model's suites in a run of their own"
                    ),
                    pytrace=False,
                )
            self._handles[key] = handle
            self.current = handle
        return self._handles[key]

    def _with_vision(self, handle: ModelHandle) -> ModelHandle:
        """``handle`` with the run's model for images (``--medmodel-vision``), when one is given."""
        if self.settings.vision_spec:
            handle.for_images = self._from_spec(self.settings.vision_spec)
        return handle

    def _from_spec(self, spec: str) -> ModelHandle:
        model = self.config.hook.pytest_medmodel_make_adapter(config=self.config, spec=spec, options=self.options())
        if model is None:
            raise AdapterError(f"--medmodel={shown(spec)}: no pytest_medmodel_make_adapter implementation built it")
        if isinstance(model, ModelHandle):
            return model
        return ModelHandle.wrap(model, profile=profile_for_spec(spec), where=f"--medmodel={shown(spec)}")

    def close(self) -> None:
        for handle in self._handles.values():
            handle.close()
