"""The adapter protocol: what a model must do to be tested.

An adapter answers *batches* of requests. The plugin never calls a model once per
test: it plans shards of items and hands each shard's requests to the adapter in
one call, so an adapter is free to sort, pad, batch and cache however suits it.

Only :meth:`ModelAdapter.loglikelihood` is required. Everything else is optional
and discovered with ``getattr``; this keeps a black-box adapter (an HTTP
endpoint, an ensemble) a dozen lines long.

Examples:
    A minimal adapter over any scoring function::

        class MyEndpoint:
            name = "my-endpoint-v3"
            fingerprint = "my-endpoint-v3@2026-11-01"  # or None: no cross-run cache

            def loglikelihood(self, requests):
                out = []
                for req in requests:
                    lps = [call_my_api(req.context, cont) for cont in req.continuations]
                    out.append(ChoiceResult(logprobs=tuple(lps)))
                return out

        def make():  # --medmodel=py:my_package.adapters:make
            return MyEndpoint()
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class ChoiceRequest:
    """Score several continuations of one context.

    Grouping continuations by context is what lets an adapter run the context once
    and reuse it for every option (the plugin's HF adapter does, through the KV cache).
    """

    context: str
    """Everything the model conditions on, already rendered (chat template applied)."""
    continuations: tuple[str, ...]
    """Candidate answers, e.g. ``(" A", " B", " C", " D")`` or ``(" yes", " no", " maybe")``."""


@dataclass(frozen=True)
class ChoiceResult:
    """Scores of one :class:`ChoiceRequest`, one entry per continuation."""

    logprobs: tuple[float, ...]
    """Sum of log p(token | context, previous tokens) over each continuation's tokens."""
    num_tokens: tuple[int, ...] = ()
    """Token count of each continuation (informational)."""
    is_greedy: tuple[bool, ...] = ()
    """Whether greedy decoding would have produced each continuation exactly."""

    def to_json(self) -> dict:
        return {"logprobs": list(self.logprobs), "num_tokens": list(self.num_tokens), "is_greedy": list(self.is_greedy)}

    @classmethod
    def from_json(cls, data: dict) -> ChoiceResult:
        return cls(tuple(data["logprobs"]), tuple(data.get("num_tokens", ())), tuple(data.get("is_greedy", ())))


@dataclass(frozen=True)
class GenerationRequest:
    """Greedy generation from a context (used by generation scoring)."""

    context: str
    max_new_tokens: int = 64
    stop: tuple[str, ...] = ()


ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(done, total)`` while an adapter works through a call."""


@runtime_checkable
class ModelAdapter(Protocol):
    """What the plugin needs from a model.

    Attributes:
        name: shown in reports and used to derive the default baseline profile.
        fingerprint: identity of the weights (and tokenizer) for the prediction
            cache. Two adapters with the same fingerprint must give the same
            scores. ``None`` means "unknown": predictions are then shared only
            within one test run, never across runs.

    Optional methods, used when present:
        ``format_chat(messages) -> str | None``: apply the model's chat template
            with the assistant turn opened; ``None`` when there is none.
        ``generate(requests) -> list[str]``: greedy generations.
        ``loglikelihood(requests, progress=callback)``: if the method accepts a
            ``progress`` keyword, it is passed a :data:`ProgressCallback`.
        ``describe() -> str``: one line for the report header (device, dtype).
        ``close()``: release memory at the end of the session.
    """

    name: str
    fingerprint: str | None

    def loglikelihood(self, requests: Sequence[ChoiceRequest]) -> list[ChoiceResult]:
        """Score every continuation of every request; results in request order."""
        ...


class AdapterError(RuntimeError):
    """A model that cannot be built or used, with the reason and the fix."""
