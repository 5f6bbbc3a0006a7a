"""A model behind an OpenAI-compatible server (vLLM, SGLang, TGI, llama.cpp, ``transformers serve``).

Spec: ``--medmodel=openai:<base-url>#model=<served name>&revision=<rev>&concurrency=4&timeout=60&retries=3``
(everything after ``#`` optional; ``model`` defaults to the server's only model). ``tokenizer=<folder
or hub id>`` applies that tokenizer's chat template on this side, so a suite with a chat template
sends the server the same text the in-process adapter would (``/completions`` applies none).
The API key, when the server wants one, comes from ``MEDMODEL_OPENAI_API_KEY``
(else ``OPENAI_API_KEY``) and is sent only as a header: never in a name,
fingerprint, baseline, report or message.

What the server can do is asked once, when the model is resolved, with one
tiny ``/completions`` request that asks for log-probabilities and echo:

* prompt log-probabilities come back (``echo``): every continuation is scored
  as the log-probability of its tokens after the context, so option-text and
  letter scoring both work (``choice_logprobs``);
* only the next token's top log-probabilities: letters are scored from them,
  and a letter outside the top k gets ``-inf``, said as such (``topk_logprobs``);
* none (``transformers serve`` 5.x ignores ``logprobs`` and ``echo``): only
  generation, and suites scored by log-likelihood are skipped with that reason.

The fingerprint is the served model's name plus the revision the user gives;
without a revision nobody can tell whether the weights behind the name changed,
so predictions are shared only within a run and the model line says why.
"""

from __future__ import annotations

import math
import os
import re
import urllib.parse
from collections.abc import Sequence
from typing import Any

from .base import CHOICE_LOGPROBS, GENERATE, TOPK_LOGPROBS, AdapterError, ChoiceRequest, ChoiceResult, GenerationRequest
from .hf_generate import cut_at_stops
from .http_client import JsonClient

KEY_VARIABLES = ("MEDMODEL_OPENAI_API_KEY", "OPENAI_API_KEY")
PROBE = "The capital of France is"
"""The probe's prompt: any text works; the check compares the server with itself."""
ECHO_TOLERANCE = 0.05
"""Largest difference (nats) between a token's echoed and generated log-probability taken as agreement."""
TOP_K = 20
"""Top log-probabilities asked for when only those are offered (the OpenAI API's maximum)."""
OPTIONS = {"model", "revision", "concurrency", "timeout", "retries", "tokenizer"}


def parse_spec(spec: str) -> tuple[str, dict[str, str]]:
    """``openai:URL#k=v&...`` -> (base URL, options); a one-line error for anything else."""
    url, _, fragment = spec[len("openai:") :].partition("#")
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise AdapterError(f"--medmodel={spec}: write openai:http://host:port/v1 (the server's base URL)")
    options = dict(urllib.parse.parse_qsl(fragment, keep_blank_values=True))
    unknown = sorted(set(options) - OPTIONS)
    if unknown:
        raise AdapterError(
            f"--medmodel={spec}: unknown setting(s) {', '.join(unknown)}; use {', '.join(sorted(OPTIONS))}"
        )
    for name in ("concurrency", "retries"):
        if name in options and not options[name].isdigit():
            raise AdapterError(f"--medmodel={spec}: {name} must be a whole number, got {options[name]!r}")
    timeout = options.get("timeout")
    if timeout is not None and (not re.fullmatch(r"\d+(\.\d+)?", timeout) or float(timeout) <= 0):
        raise AdapterError(f"--medmodel={spec}: timeout must be a positive number of seconds, got {timeout!r}")
    return url.rstrip("/"), options


class OpenAIEndpoint:
    """The adapter: ``generate`` always; ``loglikelihood`` from whatever log-probabilities the server returns."""

    def __init__(self, base_url: str, options: dict[str, str]) -> None:
        key = next((os.environ[v] for v in KEY_VARIABLES if os.environ.get(v)), None)
        self.client = JsonClient(
            base_url,
            headers={"Authorization": f"Bearer {key}"} if key else {},
            timeout=float(options.get("timeout", 60)),
            retries=int(options.get("retries", 3)),
            concurrency=max(1, int(options.get("concurrency", 4))),
        )
        self.base_url = base_url
        self.model = options.get("model") or self._only_model()
        self.revision = options.get("revision")
        self.tokenizer_source = options.get("tokenizer")
        self._tokenizer: Any = None
        self.echo_problem: str | None = None
        """Why echoed prompt log-probabilities are not used, when the server returns some that fail the probe."""
        self.logprobs = self._probe()
        """``echo`` (prompt log-probabilities), ``top`` (next-token top-k only) or ``none``."""
        self.name = f"{self.model} via {urllib.parse.urlparse(base_url).netloc}"
        self.fingerprint = f"openai:{self.model}@{self.revision}" if self.revision else None
        kinds = {"echo": {CHOICE_LOGPROBS, GENERATE}, "top": {TOPK_LOGPROBS, GENERATE}, "none": {GENERATE}}
        self.capabilities = frozenset(kinds[self.logprobs])

    def describe(self) -> str:
        offered = {
            "echo": "prompt log-probabilities",
            "top": f"top-{TOP_K} next-token log-probabilities only",
            "none": "no log-probabilities (generation only)",
        }
        caching = "" if self.revision else "; no revision given (#revision=...): cross-run caching off"
        problem = f"; {self.echo_problem}" if self.echo_problem else ""
        problem += f"; chat template from {self.tokenizer_source}" if self.tokenizer_source else ""
        concurrency = f"concurrency {self.client.concurrency}"
        return f"{self.name}, OpenAI-compatible, {offered[self.logprobs]}, {concurrency}{caching}{problem}"

    def format_chat(self, messages: Sequence[dict[str, str]]) -> str | None:
        """The ``tokenizer`` option's chat template applied here (None without the option, or without a template)."""
        if not self.tokenizer_source:
            return None
        if self._tokenizer is None:
            from transformers import AutoTokenizer  # only when a served model's suites use a chat template

            try:
                self._tokenizer = AutoTokenizer.from_pretrained(self.tokenizer_source)
            except (OSError, ValueError) as exc:
                raise AdapterError(
                    f"{self.name}: tokenizer={self.tokenizer_source}: {str(exc).splitlines()[0]}"
                ) from exc
        if not getattr(self._tokenizer, "chat_template", None):
            return None
        return str(self._tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True))

    def _only_model(self) -> str:
        models = [str(m.get("id")) for m in self.client.get("/models").get("data") or []]
        if len(models) != 1:
            listed = ", ".join(models) or "none"
            raise AdapterError(f"{self.base_url}: serves {listed}; name one with #model=<name>")
        return models[0]

    def _probe(self) -> str:
        """``echo``, ``top`` or ``none``: what the server's log-probabilities can be trusted for.

        Echoed prompt log-probabilities are used only when they agree with the next-token
        ones: the probe generates one token, then echoes the prompt with that token
        appended, and the token's echoed log-probability must equal the one it was
        generated with. (llama-cpp-python 0.3.36 fails this: its echoed values are
        shifted by one token, each token scored by the distribution that follows it.)
        """
        plain = self._first(self.client.post("/completions", {**self._probe_body(PROBE), "logprobs": 5}))
        logprobs = plain.get("logprobs") or {}
        has_top = bool((logprobs.get("top_logprobs") or [None])[0])
        generated, values = str(plain.get("text") or ""), logprobs.get("token_logprobs") or []
        if not generated or not values or values[0] is None:
            return "top" if has_top else "none"
        body = {**self._probe_body(PROBE + generated), "logprobs": 1, "echo": True}
        echoed = self._first(self.client.post("/completions", body)).get("logprobs") or {}
        at = dict(zip(echoed.get("text_offset") or [], echoed.get("token_logprobs") or [], strict=False))
        value = at.get(len(PROBE))
        if isinstance(value, (int, float)) and abs(float(value) - float(values[0])) < ECHO_TOLERANCE:
            return "echo"
        self.echo_problem = (
            f"echoed prompt log-probabilities disagree with the next-token ones ({generated!r}: {value} echoed, "
            f"{float(values[0]):.4f} generated), so they are not used"
        )
        return "top" if has_top else "none"

    def _probe_body(self, prompt: str) -> dict[str, Any]:
        return {"model": self.model, "prompt": prompt, "max_tokens": 1, "temperature": 0}

    @staticmethod
    def _first(answer: dict[str, Any]) -> dict[str, Any]:
        return dict((answer.get("choices") or [{}])[0] or {})

    # ------------------------------------------------------------------ generation

    def generate(self, requests: Sequence[GenerationRequest]) -> list[str]:
        bodies = [
            {
                "model": self.model,
                "prompt": r.context,
                "max_tokens": r.max_new_tokens,
                "temperature": 0,
                **({"stop": list(r.stop)[:4]} if r.stop else {}),
            }
            for r in requests
        ]
        answers = self.client.post_many("/completions", bodies)
        texts = [str((a.get("choices") or [{}])[0].get("text") or "") for a in answers]
        return [cut_at_stops(t, r.stop) for t, r in zip(texts, requests, strict=True)]

    # ------------------------------------------------------------------ log-likelihood

    def loglikelihood(self, requests: Sequence[ChoiceRequest]) -> list[ChoiceResult]:
        if self.logprobs == "echo":
            return self._echoed(requests)
        if self.logprobs == "top":
            return self._top(requests)
        raise AdapterError(f"{self.name}: the server returns no log-probabilities; use scoring: generate")

    def _echoed(self, requests: Sequence[ChoiceRequest]) -> list[ChoiceResult]:
        pairs = [(r.context, c) for r in requests for c in r.continuations]
        bodies = [
            {"model": self.model, "prompt": ctx + cont, "max_tokens": 1, "temperature": 0, "logprobs": 1, "echo": True}
            for ctx, cont in pairs
        ]
        answers = self.client.post_many("/completions", bodies)
        sums = [
            _continuation_logprob(a, len(ctx), len(ctx + cont)) for a, (ctx, cont) in zip(answers, pairs, strict=True)
        ]
        out, at = [], 0
        for r in requests:
            out.append(ChoiceResult(tuple(sums[at : at + len(r.continuations)])))
            at += len(r.continuations)
        return out

    def _top(self, requests: Sequence[ChoiceRequest]) -> list[ChoiceResult]:
        bodies = [
            {"model": self.model, "prompt": r.context, "max_tokens": 1, "temperature": 0, "logprobs": TOP_K}
            for r in requests
        ]
        answers = self.client.post_many("/completions", bodies)
        out = []
        for request, answer in zip(requests, answers, strict=True):
            top = ((answer.get("choices") or [{}])[0].get("logprobs") or {}).get("top_logprobs") or [{}]
            first: dict[str, float] = top[0] or {}
            # A continuation outside the top k has no number: -inf, which scoring treats as "never chosen".
            out.append(ChoiceResult(tuple(_best_match(first, c) for c in request.continuations)))
        return out


def _continuation_logprob(answer: dict[str, Any], start: int, end: int) -> float:
    """Sum of the echoed prompt tokens' log-probabilities from character ``start`` (the continuation)."""
    logprobs = (answer.get("choices") or [{}])[0].get("logprobs") or {}
    offsets = logprobs.get("text_offset") or []
    values = logprobs.get("token_logprobs") or []
    total, found = 0.0, False
    for offset, value in zip(offsets, values, strict=False):
        if start <= offset < end:
            if value is None:
                raise AdapterError("the server echoed a continuation token without a log-probability")
            total, found = total + float(value), True
    if not found:
        raise AdapterError("the server's echo did not cover the continuation (no text_offset at or after it)")
    return total


def _best_match(top: dict[str, float], continuation: str) -> float:
    """The continuation's log-probability among the top tokens (exact, else the same text stripped); -inf if absent."""
    if continuation in top:
        return float(top[continuation])
    stripped = [v for token, v in top.items() if token.strip() == continuation.strip()]
    return float(max(stripped)) if stripped else -math.inf
