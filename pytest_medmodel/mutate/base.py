"""Mutation testing for model suites: would a suite notice a broken export, a bad quantization?

A mutation is a registered factory, like a perturbation: its keyword arguments
are its settings (checked against their annotations, as a perturbation's are),
written in a spec as ``name:key=value,key=value`` (``noise:scale=0.05,seed=1``),
and it returns the function that changes a freshly loaded adapter (in place, or by returning a wrapper). Mutations are
deterministic: randomness comes only from the ``seed`` setting, so the same spec
gives the same weights bit for bit.

A mutated model is a different model: :func:`mutate_handle` gives it its own
fingerprint (the prediction cache never serves it the unmutated model's
answers) and keeps the unmutated model's profile, so by default it is gated
against the baselines the real model recorded.

Examples:
    A mutation that scales every weight (``--medmodel-mutate=scale:factor=0.9``)::

        @mutation("scale")
        def scale(factor: float = 0.9) -> Mutate:
            def apply(adapter):
                torch = torch_of(adapter, "scale")
                with torch.no_grad():
                    for parameter in adapter.model.parameters():
                        parameter.mul_(factor)
                return adapter
            return apply
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..factory_settings import settings_of
from ..models.base import IMAGES, AdapterError
from ..models.handle import ModelHandle
from ..registry import Registry, origin_of


class MutationError(AdapterError):
    """A mutation cannot apply to this model (a weight mutation of an adapter without weights).

    Every test of the run would hit it: the run stops at the first (see
    :meth:`pytest_medmodel.plugin.session.TestSession.stop`).
    """


Mutate = Callable[[Any], Any]
"""Takes the loaded adapter, returns the adapter to use (the same object, changed, or a wrapper)."""
Factory = Callable[..., Mutate]


@dataclass(frozen=True)
class Mutation:
    """A registered mutation factory."""

    name: str
    factory: Factory
    description: str
    vision: bool = False
    """Damages what only a vision-language model has (its tower, its projector, its images): applied to the
    run's model for images, never to a text-only one."""

    def defaults(self) -> dict[str, Any]:
        """The factory's settings with their default values."""
        return {
            p.name: p.default
            for p in inspect.signature(self.factory).parameters.values()
            if p.default is not inspect.Parameter.empty
        }


MUTATIONS: Registry[Mutation] = Registry(
    "mutation", builtins=tuple(f"pytest_medmodel.mutate.{name}" for name in ("chat", "layers", "vision", "weights"))
)


def mutation(name: str, *, vision: bool = False) -> Callable[[Factory], Factory]:
    """Register the decorated factory as mutation ``name`` (its docstring's first line describes it).

    ``vision``: it damages a vision-language model's own parts, so it applies to the model
    that answers image suites (:attr:`~pytest_medmodel.models.handle.ModelHandle.for_images`)
    and leaves a text-only model of the same run as it is.
    """

    def register(factory: Factory) -> Factory:
        doc = (inspect.getdoc(factory) or name).splitlines()[0]
        MUTATIONS.register(name, Mutation(name, factory, doc, vision), origin_of(factory))
        return factory

    return register


@dataclass(frozen=True)
class MutationSpec:
    """A mutation name with its settings (defaults filled in), parsed from ``name:key=value,...``."""

    name: str
    params: Mapping[str, Any]

    @property
    def label(self) -> str:
        """Canonical text: every setting, defaults included, sorted; part of the fingerprint."""
        settings = ",".join(f"{key}={_text(value)}" for key, value in sorted(self.params.items()))
        return f"{self.name}:{settings}" if settings else self.name


def parse_mutation(text: str) -> MutationSpec:
    """``noise:scale=0.1,seed=2`` -> MutationSpec; raises :class:`AdapterError` with the fix."""
    name, _, rest = text.strip().partition(":")
    if not name:
        raise AdapterError(f"--medmodel-mutate={text!r}: write name[:key=value,...], e.g. noise:scale=0.05")
    entry = _lookup(name)
    given: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise AdapterError(f"--medmodel-mutate={text}: '{part}' is not key=value")
        given[key.strip()] = _value(value.strip())
    known = settings_of(entry.factory)  # what each setting accepts, from the factory's annotations
    for key, value in given.items():
        if key not in known:
            takes = ", ".join(known) or "no settings"
            raise AdapterError(f"--medmodel-mutate={text}: {key}: unknown setting; {name} takes {takes}")
        problem = known[key].problem(value)
        if problem:
            raise AdapterError(
                f"--medmodel-mutate={text}: {key}={_text(value)}: {problem}; write {known[key].expected}"
            )
    defaults = entry.defaults()
    params = {**defaults, **given}
    try:
        inspect.signature(entry.factory).bind(**params)
    except TypeError as exc:
        shown = ", ".join(f"{k}={_text(v)}" for k, v in entry.defaults().items()) or "none"
        raise AdapterError(f"--medmodel-mutate={text}: {exc}; settings of '{name}': {shown}") from None
    return MutationSpec(name, params)


def checked(text: str) -> str:
    """The canonical label of ``text`` once its name, settings and values are known good (the factory
    is called, so a value it refuses is found at startup, not in every test); raises :class:`AdapterError`."""
    spec = parse_mutation(text)
    build(spec)
    return spec.label


def build(spec: MutationSpec) -> Mutate:
    """The mutation function for ``spec``; a factory's ValueError becomes a one-line AdapterError."""
    try:
        return _lookup(spec.name).factory(**spec.params)
    except (TypeError, ValueError) as exc:
        raise AdapterError(f"--medmodel-mutate={spec.label}: {exc}") from None


def mutate_handle(handle: ModelHandle, spec: MutationSpec | str) -> ModelHandle:
    """A handle whose adapter is ``handle``'s, mutated on load; its own fingerprint, the same profile.

    The model for images (``handle.for_images``) is mutated too. A vision mutation
    leaves a text-only model as it is (its suites are the unmutated model's), and is
    refused when neither model takes images.

    The base handle must not have been loaded through another path: the mutation
    changes the adapter in place, so the unmutated model is not available
    afterwards in this process.
    """
    spec = parse_mutation(spec) if isinstance(spec, str) else spec
    vision = _lookup(spec.name).vision
    companion = handle.for_images
    if vision and IMAGES not in handle.capabilities and (companion is None or IMAGES not in companion.capabilities):
        raise AdapterError(
            f"--medmodel-mutate={spec.label}: mutation '{spec.name}' damages a vision-language model; "
            f"{handle.name} takes no images (give one with --medmodel-vision, or a VLM with --medmodel)"
        )
    mutated = handle if vision and IMAGES not in handle.capabilities else _mutated(handle, spec)
    if companion is not None:
        mutated.for_images = _mutated(companion, spec)
    return mutated


def _mutated(handle: ModelHandle, spec: MutationSpec) -> ModelHandle:
    apply = build(spec)  # settings are checked now, not after a minute of loading

    def load() -> Any:
        adapter = handle.adapter  # the model's own loading errors stay what they are
        try:
            mutated = apply(adapter)
        except AdapterError as exc:  # e.g. torch_model(): the adapter has no weights to change
            raise MutationError(f"--medmodel-mutate={spec.label}: {exc}") from None
        except ValueError as exc:  # e.g. a vision mutation that finds no projector in this model
            raise MutationError(f"--medmodel-mutate={spec.label}: {exc}") from None
        if mutated is None:
            raise MutationError(
                f"--medmodel-mutate={spec.label}: mutation '{spec.name}' returned None; "
                "return the adapter (changed or wrapped)"
            )
        return mutated

    fingerprint = None if handle.fingerprint is None else f"{handle.fingerprint}|mutate:{spec.label}"
    mutated_handle = ModelHandle(
        name=f"{handle.name} [mutated: {spec.label}]",
        fingerprint=fingerprint,
        profile=handle.profile,
        capabilities=handle.capabilities,
        load=load,
        description=f"{handle.describe() if handle.loaded else handle.name} [mutated: {spec.label}]",
        mutation=spec.label,
    )
    mutated_handle.image_capabilities = handle.image_capabilities
    return mutated_handle


def torch_model(adapter: Any, mutation_name: str) -> Any:
    """The adapter's ``torch.nn.Module`` (``adapter.model``), or a one-line error naming what is missing."""
    model = getattr(adapter, "model", None)
    if model is None or not hasattr(model, "named_parameters"):
        raise AdapterError(
            f"mutation '{mutation_name}' changes weights and needs an in-process torch model "
            f"(adapter.model); {type(adapter).__name__} has none"
        )
    return model


def _lookup(name: str) -> Mutation:
    try:
        return MUTATIONS.get(name)
    except LookupError as exc:
        raise AdapterError(f"--medmodel-mutate: {exc}") from None


def _value(text: str) -> Any:
    """``3`` -> 3, ``0.1`` -> 0.1, ``true`` -> True; anything else stays text."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
