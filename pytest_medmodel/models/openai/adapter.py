"""A model behind an OpenAI-compatible server (vLLM, SGLang, TGI, llama.cpp, ``transformers serve``).

Spec: ``--medmodel=openai:<base-url>#model=<served name>&revision=<rev>&concurrency=4&timeout=60&retries=3``
(everything after ``#`` optional; ``model`` defaults to the server's only model). ``images=png`` (or
``images=jpeg&jpeg_quality=90``) says the served model takes images: requests with images then go to
``/chat/completions`` (:mod:`.chat`), the rest to ``/completions`` as before. ``tokenizer=<folder
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

The fingerprint is the served model's name plus the revision the user gives,
the server's address, and the chat template applied on this side (everything
that changes what the model receives or who answers). Without a revision nobody
can tell whether the weights behind the name changed, so predictions are shared
only within a run and the model line says why.

A server is not trusted: every answer's shape is checked before anything is
scored, and an answer without ``choices``, without text or without the
log-probabilities the probe found is an error naming the URL, never a model that
"said nothing". Credentials in the base URL (``http://user:password@host/v1``)
are sent as an HTTP Basic header and shown nowhere.
"""

from __future__ import annotations

import hashlib
import json
import math
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

from ...credentials import Secret
from ..base import (
    CHOICE_LOGPROBS,
    GENERATE,
    IMAGES,
    TOPK_LOGPROBS,
    AdapterError,
    ChoiceRequest,
    ChoiceResult,
    GenerationRequest,
)
from ..hf.generate import cut_at_stops
from .chat import DEFAULT_JPEG_QUALITY, ChatImages, split_by_images
from .http import JsonClient
from .spec import api_key

PROBE = "The capital of France is"
"""The probe's prompt: any text works; the check compares the server with itself."""
ECHO_TOLERANCE = 0.05
"""Largest difference (nats) between a token's echoed and generated log-probability taken as agreement."""
TOP_K = 20
"""Top log-probabilities asked for when only those are offered (the OpenAI API's maximum)."""


class OpenAIEndpoint:
    """The adapter: ``generate`` always; ``loglikelihood`` from whatever log-probabilities the server returns."""

    def __init__(self, base_url: str, options: dict[str, str], credentials: Secret | None = None) -> None:
        self.client = JsonClient(
            base_url,
            authorization=api_key() or credentials,
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
        self.chat = (
            ChatImages(
                self.client, base_url, self.model, encoding, int(options.get("jpeg_quality", DEFAULT_JPEG_QUALITY))
            )
            if (encoding := options.get("images"))
            else None
        )
        """Requests with images, through ``/chat/completions`` (None: the served model takes no images)."""
        address = urllib.parse.urlsplit(base_url)
        self.name = f"{self.model} via {address.hostname}" + (f":{address.port}" if address.port else "")
        template = self._template_identity() if self.tokenizer_source else "none applied"
        pictures = f"; images as {self.chat.identity} via /chat/completions" if self.chat else ""
        self.fingerprint = (
            f"openai:{self.model}@{self.revision} at {base_url}; chat template {template}{pictures}"
            if self.revision
            else None
        )
        self.chat_note = (
            None
            if self.tokenizer_source
            else (
                "the server's /completions applies no chat template, so prompts go without one; pass "
                "#tokenizer=<the served model's folder or hub id> to apply its template on this side"
            )
        )
        """Why a suite that asks for the model's chat template gets none (None: it gets one)."""
        kinds = {
            "echo": {CHOICE_LOGPROBS, GENERATE},
            "top": {TOPK_LOGPROBS, GENERATE},
            "ids": {TOPK_LOGPROBS, GENERATE},  # the first token only, but every option's: letters, never option texts
            "none": {GENERATE},
        }
        self.capabilities = frozenset(kinds[self.logprobs] | ({IMAGES} if self.chat else set()))
        self.image_capabilities = frozenset({IMAGES} | kinds[self.chat.logprobs]) if self.chat is not None else None
        """What requests with images can get: top-k letters or generation, whatever ``/completions`` offers."""

    def describe(self) -> str:
        offered = {
            "echo": "prompt log-probabilities",
            "top": f"top-{TOP_K} next-token log-probabilities only",
            "ids": "log-probabilities of each option's own token (logprob_token_ids)",
            "none": "no log-probabilities (generation only)",
        }
        caching = "" if self.revision else "; no revision given (#revision=...): cross-run caching off"
        problem = f"; {self.echo_problem}" if self.echo_problem else ""
        problem += f"; chat template from {self.tokenizer_source}" if self.tokenizer_source else ""
        text = f"/completions: {offered[self.logprobs]}, concurrency {self.client.concurrency}"
        if self.chat is not None:
            problem += f"; images as {self.chat.identity} via /chat/completions, {offered[self.chat.logprobs]}"
        return f"{self.name}, OpenAI-compatible, {text}{caching}{problem}"

    def format_chat(self, messages: Sequence[dict[str, str]]) -> str | None:
        """The ``tokenizer`` option's chat template applied here (None without the option, or without a template)."""
        if any(isinstance(m.get("content"), list) for m in messages):
            return None  # a turn with a picture goes to /chat/completions, where the server applies its template
        tokenizer = self._chat_tokenizer()
        if tokenizer is None or not getattr(tokenizer, "chat_template", None):
            return None
        return str(tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True))

    def _chat_tokenizer(self) -> Any:
        if not self.tokenizer_source:
            return None
        if self._tokenizer is None:
            from transformers import AutoTokenizer  # only when a served model's suites use a chat template

            try:
                self._tokenizer = AutoTokenizer.from_pretrained(self.tokenizer_source)
            except (OSError, ValueError) as exc:
                raise AdapterError(
                    f"{self.base_url}: tokenizer={self.tokenizer_source}: {str(exc).splitlines()[0]}"
                ) from None
        return self._tokenizer

    def _template_identity(self) -> str:
        """What the ``tokenizer`` option makes of prompts, as a digest (part of the fingerprint)."""
        template = getattr(self._chat_tokenizer(), "chat_template", None)
        if not template:
            return f"none ({self.tokenizer_source} has none)"
        text = json.dumps(template, sort_keys=True)
        return f"sha256:{hashlib.sha256(text.encode('utf-8')).hexdigest()[:16]}"

    def _only_model(self) -> str:
        url = f"{self.base_url}/models"
        data = self.client.get("/models").get("data")
        if not isinstance(data, list) or not all(isinstance(m, dict) for m in data):
            raise AdapterError(f"{url}: the answer has no list of models under 'data'; name one with #model=<name>")
        models = [self.client.shown(str(m.get("id"))) for m in data]
        if len(models) != 1:
            listed = ", ".join(models)[:300] or "none"
            raise AdapterError(f"{url}: serves {listed}; name one with #model=<name>")
        return models[0]

    def _probe(self) -> str:
        """``echo``, ``top`` or ``none``: what the server's log-probabilities can be trusted for.

        Echoed prompt log-probabilities are used only when they agree with the next-token
        ones: the probe generates one token, then echoes the prompt with that token
        appended, and the token's echoed log-probability must equal the one it was
        generated with. (llama-cpp-python 0.3.36 fails this: its echoed values are
        shifted by one token, each token scored by the distribution that follows it.)
        """
        plain = self._complete({**self._probe_body(PROBE), "logprobs": 5})
        logprobs = plain.logprobs or {}
        top = logprobs.get("top_logprobs")
        has_top = isinstance(top, list) and bool(top) and isinstance(top[0], dict) and bool(top[0])
        values = logprobs.get("token_logprobs")
        first = values[0] if isinstance(values, list) and values else None
        if not plain.text or not _is_number(first):
            return "top" if has_top else "none"
        body = {**self._probe_body(PROBE + plain.text), "logprobs": 1, "echo": True}
        echoed = self._complete(body).logprobs or {}
        offsets, echoed_values = echoed.get("text_offset"), echoed.get("token_logprobs")
        value = None
        if isinstance(offsets, list) and isinstance(echoed_values, list):
            value = dict(zip(offsets, echoed_values, strict=False)).get(len(PROBE))
        if _is_number(value) and abs(float(value) - float(first)) < ECHO_TOLERANCE:
            return "echo"
        self.echo_problem = (
            f"echoed prompt log-probabilities disagree with the next-token ones ({plain.text!r}: {value} echoed, "
            f"{float(first):.4f} generated), so they are not used"
        )
        return "top" if has_top else "none"

    def _probe_body(self, prompt: str) -> dict[str, Any]:
        return {"model": self.model, "prompt": prompt, "max_tokens": 1, "temperature": 0}

    def _complete(self, body: dict[str, Any]) -> Completion:
        """One ``/completions`` request's first choice, its shape checked."""
        return self._choice(self.client.post("/completions", body))

    def _choice(self, answer: dict[str, Any]) -> Completion:
        """The first choice of a ``/completions`` answer; an error naming the URL when it is not one."""
        url = f"{self.base_url}/completions"
        choices = answer.get("choices")
        if not isinstance(choices, list) or not choices:
            got = (
                " has no 'choices'"
                if choices is None
                else f"'s 'choices' is {self.client.shown(json.dumps(choices))[:60]}"
            )
            raise AdapterError(f"{url}: the answer{got}: not a completion; nothing was scored")
        choice = choices[0]
        if not isinstance(choice, dict) or not isinstance(choice.get("text"), str):
            raise AdapterError(f"{url}: the answer's first choice has no text: not a completion; nothing was scored")
        logprobs = choice.get("logprobs")
        if logprobs is not None and not isinstance(logprobs, dict):
            raise AdapterError(f"{url}: the answer's 'logprobs' is not an object")
        return Completion(choice["text"], logprobs)

    def _logprobs(self, completion: Completion, *names: str) -> dict[str, list[Any]]:
        """The named lists of a completion's log-probabilities; an error when the server left them out."""
        found = {name: (completion.logprobs or {}).get(name) for name in names}
        missing = [name for name, value in found.items() if not isinstance(value, list)]
        if missing:
            raise AdapterError(
                f"{self.base_url}/completions: the answer has no logprobs.{missing[0]} although the probe found "
                "log-probabilities; the server changed its answers since (restarted with other settings?)"
            )
        return {name: list(value) for name, value in found.items() if isinstance(value, list)}

    # ------------------------------------------------------------------ generation

    def generate(self, requests: Sequence[GenerationRequest]) -> list[str]:
        return split_by_images(requests, self._generate, lambda rs: self._images().generate(rs))

    def _images(self) -> ChatImages:
        if self.chat is None:
            raise AdapterError(f"{self.name}: a request with images, but the spec has no images=png (or jpeg)")
        return self.chat

    def _generate(self, requests: Sequence[GenerationRequest]) -> list[str]:
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
        answers = [self._choice(a) for a in self.client.post_many("/completions", bodies)]
        return [cut_at_stops(a.text, r.stop) for a, r in zip(answers, requests, strict=True)]

    # ------------------------------------------------------------------ log-likelihood

    def loglikelihood(self, requests: Sequence[ChoiceRequest]) -> list[ChoiceResult]:
        return split_by_images(requests, self._text_loglikelihood, lambda rs: self._images().letters(rs, _best_match))

    def _text_loglikelihood(self, requests: Sequence[ChoiceRequest]) -> list[ChoiceResult]:
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
        answers = [self._choice(a) for a in self.client.post_many("/completions", bodies)]
        sums = [
            self._continuation_logprob(a, len(ctx), len(ctx + cont))
            for a, (ctx, cont) in zip(answers, pairs, strict=True)
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
        answers = [self._choice(a) for a in self.client.post_many("/completions", bodies)]
        out = []
        for request, answer in zip(requests, answers, strict=True):
            top = self._logprobs(answer, "top_logprobs")["top_logprobs"]
            first = top[0] if top else {}
            if not isinstance(first, dict) or not all(_is_number(v) for v in first.values()):
                raise AdapterError(f"{self.base_url}/completions: logprobs.top_logprobs[0] is not tokens with numbers")
            # A continuation outside the top k has no number: -inf, which scoring treats as "never chosen".
            out.append(ChoiceResult(tuple(_best_match(first, c) for c in request.continuations)))
        return out

    def _continuation_logprob(self, answer: Completion, start: int, end: int) -> float:
        """Sum of the echoed prompt tokens' log-probabilities from character ``start`` (the continuation)."""
        found = self._logprobs(answer, "text_offset", "token_logprobs")
        total, covered = 0.0, False
        for offset, value in zip(found["text_offset"], found["token_logprobs"], strict=False):
            if _is_number(offset) and start <= offset < end:
                if not _is_number(value):
                    raise AdapterError(
                        f"{self.base_url}/completions: the server echoed a continuation token without a "
                        f"log-probability ({self.client.shown(repr(value))[:40]})"
                    )
                total, covered = total + float(value), True
        if not covered:
            raise AdapterError(
                f"{self.base_url}/completions: the server's echo did not cover the continuation "
                "(no text_offset at or after it)"
            )
        return total


@dataclass(frozen=True)
class Completion:
    """The first choice of a ``/completions`` answer, its shape checked."""

    text: str
    logprobs: dict[str, Any] | None


def _is_number(value: Any) -> TypeGuard[float]:
    """A JSON number a log-probability can be (not a bool, not NaN)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)


def _best_match(top: dict[str, float], continuation: str) -> float:
    """The continuation's log-probability among the top tokens (exact, else the same text stripped); -inf if absent."""
    if continuation in top:
        return float(top[continuation])
    stripped = [v for token, v in top.items() if token.strip() == continuation.strip()]
    return float(max(stripped)) if stripped else -math.inf
