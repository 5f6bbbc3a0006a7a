"""Calling an adapter: one call per request kind, under a time limit, results checked before caching.

An adapter is user code. What it returns is checked here, before anything is
stored, and every way it can be wrong (None, the wrong count, the wrong type, a
NaN, positive infinity) is an :class:`AdapterFault`: one line naming the adapter,
the batch, what came back and what was expected. Numbers that are not Python
floats (numpy or torch scalars) are simply converted; text that reads as a
number (``"-0.5"``) is refused, never converted.

An adapter that never returns would hang CI forever, so each call runs under a
time limit (``--medmodel-timeout``). A call that runs over leaves its thread
behind (Python cannot stop it); the model is then considered stuck and every
later call fails at once with the same explanation instead of waiting again.
"""

from __future__ import annotations

import inspect
import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..models.base import AdapterError, ChoiceRequest, ChoiceResult, GenerationRequest
from ..text_safety import well_formed

Say = Callable[[str], None]


class AdapterFault(RuntimeError):
    """The adapter returned something unusable (reported in one line, never cached)."""


class ModelTimeout(RuntimeError):
    """The adapter did not answer within the time limit."""


class AdapterRaised(RuntimeError):
    """The adapter's own code raised: its exception, said in one line with where it was raised.

    The original exception is ``__cause__``, for ``-v`` / ``--tb`` runs that want its traceback.
    """

    def __init__(self, error: BaseException) -> None:
        super().__init__(f"{type(error).__name__}: {_first_line(error)}{_raised_at(error)}")
        self.error = error


class AdapterCaller:
    """Calls one adapter's methods, each call bounded by ``timeout`` seconds (None: no limit)."""

    def __init__(self, timeout: float | None = None, say: Say | None = None) -> None:
        self.timeout = timeout
        self.say = say
        self._stuck: str | None = None

    def loglikelihood(self, adapter: Any, name: str, requests: list[ChoiceRequest], label: str) -> list[ChoiceResult]:
        method = getattr(adapter, "loglikelihood", None)
        if not callable(method):
            raise AdapterFault(f"{name}: {label}: choice scoring needs a loglikelihood(requests) method")
        kwargs = {"progress": self._progress(label)} if self.say is not None and _accepts_progress(method) else {}
        returned = self._bounded(name, label, lambda: method(requests, **kwargs))
        return checked_choice_results(name, label, requests, returned)

    def generate(self, adapter: Any, name: str, requests: list[GenerationRequest], label: str) -> list[str]:
        method = getattr(adapter, "generate", None)
        if not callable(method):
            raise AdapterFault(f"{name}: {label}: generation needs a generate(requests) method")
        texts = _as_list(name, label, "generate", self._bounded(name, label, lambda: method(requests)), len(requests))
        bad = next((t for t in texts if not isinstance(t, str)), None)
        if bad is not None:
            problem = f"generate returned a {type(bad).__name__} ({bad!r:.60}); expected one str per request"
            raise AdapterFault(f"{name}: {label}: {problem}")
        return [well_formed(t) for t in texts]  # a lone surrogate (JSON "\\udce9") fits no UTF-8 file

    def _bounded(self, name: str, label: str, call: Callable[[], Any]) -> Any:
        if self._stuck is not None:
            raise ModelTimeout(f"{name}: {label}: not called, the model is still stuck on {self._stuck}")
        try:
            return within(self.timeout, f"{name}: {label}", call)
        except ModelTimeout:
            self._stuck = label
            raise
        except _OURS:
            raise
        except Exception as exc:
            raise AdapterRaised(exc) from exc

    def _progress(self, label: str) -> Callable[[int, int], None]:
        started = last = time.perf_counter()

        def report(done: int, total: int) -> None:
            nonlocal last
            now = time.perf_counter()
            if now - last >= 5.0 and done < total and self.say is not None:
                last = now
                self.say(f"  {label}: {done}/{total} items, {now - started:.0f} s")

        return report


def said(error: BaseException) -> str:
    """An error as one line: ``Type: message`` (an :class:`AdapterRaised` already reads that way)."""
    return str(error) if isinstance(error, AdapterRaised) else f"{type(error).__name__}: {error}"


def within(timeout: float | None, what: str, call: Callable[[], Any]) -> Any:
    """``call()``'s result, or :class:`ModelTimeout` after ``timeout`` seconds (None: no limit).

    The call runs in a thread of its own; one that runs over is left behind (Python
    cannot stop a thread), which is why a caller treats the model as stuck afterwards.
    """
    if timeout is None:
        return call()
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
            box["error"] = exc

    thread = threading.Thread(target=run, name=f"medmodel {what}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise ModelTimeout(
            f"{what}: no answer within {timeout:g} s; raise --medmodel-timeout "
            "(or set it to 0 for no limit) if the model is just slow"
        )
    if "error" in box:
        raise box["error"]
    return box.get("value")


def checked_choice_results(
    name: str, label: str, requests: Sequence[ChoiceRequest], returned: Any
) -> list[ChoiceResult]:
    """The adapter's results as clean :class:`ChoiceResult` objects, or an :class:`AdapterFault`."""
    results = _as_list(name, label, "loglikelihood", returned, len(requests))
    clean = []
    for request, result in zip(requests, results, strict=True):
        where = f"{name}: {label}: item {request.meta.get('item', '?')}"
        if not isinstance(result, ChoiceResult):
            problem = f"loglikelihood returned a {type(result).__name__}; expected ChoiceResult(logprobs=(...))"
            raise AdapterFault(f"{where}: {problem}")
        try:
            logprobs = tuple(_number(v) for v in result.logprobs)
        except (TypeError, ValueError):
            raise AdapterFault(f"{where}: log-likelihoods {result.logprobs!r:.80} are not numbers") from None
        if len(logprobs) != len(request.continuations):
            count = f"{len(logprobs)} scores for {len(request.continuations)} continuations"
            raise AdapterFault(f"{where}: {count}; expected one log-likelihood per continuation")
        if any(math.isnan(v) or v == math.inf for v in logprobs):
            got = list(logprobs)
            raise AdapterFault(f"{where}: log-likelihoods must be numbers up to 0 or -inf, got {got}")
        clean.append(ChoiceResult(logprobs, tuple(result.num_tokens), tuple(result.is_greedy)))
    return clean


def _number(value: Any) -> float:
    """A score as a float. numpy and torch scalars convert; text is refused even when float() could read it
    (``"-0.5"``): an adapter that returns text has a bug that a silent conversion would hide."""
    if isinstance(value, (str, bytes, bytearray)):
        raise TypeError(f"{value!r} is text")
    return float(value)


def _as_list(name: str, label: str, method: str, returned: Any, expected: int) -> list[Any]:
    if returned is None or isinstance(returned, (str, bytes)) or not hasattr(returned, "__iter__"):
        raise AdapterFault(
            f"{name}: {label}: {method} returned {returned!r:.60}; expected a list, one result per request"
        )
    results = list(returned)
    if len(results) != expected:
        raise AdapterFault(f"{name}: {label}: {method} returned {len(results)} results for {expected} requests")
    return results


def _accepts_progress(method: Callable[..., Any]) -> bool:
    try:
        return "progress" in inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False


_OURS = (AdapterFault, ModelTimeout, AdapterError)
"""Failures that already say what happened in one line (raised by the plugin or its own adapters)."""


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else "(no message)"


def _raised_at(error: BaseException) -> str:
    """`` (raised in file.py:31, in method)``: the innermost frame of the traceback, for a one-line report."""
    tb = error.__traceback__
    if tb is None:
        return ""
    while tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code
    return f" (raised at {os.path.basename(code.co_filename)}:{tb.tb_lineno}, in {code.co_name})"
