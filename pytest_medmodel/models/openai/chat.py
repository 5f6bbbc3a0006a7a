"""Requests with images for a served model: ``/chat/completions`` with the pictures as ``data:`` URIs.

``/completions`` takes text only, so a request that carries images goes to
``/chat/completions`` as one user message whose parts follow the prompt: the
text between the plugin's image marks, and each picture where its mark was, as
a PNG (lossless, the default) or a JPEG at a stated quality (smaller; what the
model then sees is not the pixels the other adapters see). The encoding is part
of the model's fingerprint. The server applies its own chat template, as it
does for every chat request.

What comes back is probed once, with text-only chat requests:

* the server tokenizes and returns the log-probabilities of named token ids
  (vLLM's ``logprob_token_ids``, :mod:`.token_ids`): every letter is scored from
  its own token's number (``ids``);
* it returns the first token's top log-probabilities (vLLM, SGLang, llama.cpp):
  letters are scored from them (``top``), a letter outside the top k gets ``-inf``;
* neither (``transformers serve`` drops them): image suites are scored by
  generation, and the run summary says so per suite.

A server's answer is checked before anything is read from it; an answer without
choices, without a message text, or without the log-probabilities the probe
found is one line naming the URL, and nothing is scored.
"""

from __future__ import annotations

import base64
import io
import json
import math
from collections.abc import Callable, Sequence
from typing import Any

from ..base import AdapterError, ChoiceRequest, ChoiceResult, GenerationRequest
from ..hf.generate import cut_at_stops
from ..turns import turn_pieces
from .http import JsonClient
from .token_ids import PROBE_LABELS, TokenIds, by_form, request_fields

FORMATS = ("png", "jpeg")
"""How pictures travel (``#images=png`` or ``#images=jpeg&jpeg_quality=90``)."""
DEFAULT_JPEG_QUALITY = 90
TOP_K = 20
PROBE = "The capital of France is"


class ChatImages:
    """The ``/chat/completions`` side of a served model: image requests, encoded and scored."""

    def __init__(self, client: JsonClient, base_url: str, model: str, encoding: str, quality: int) -> None:
        self.client = client
        self.url = f"{base_url}/chat/completions"
        self.model = model
        self.encoding = encoding
        self.quality = quality
        self.token_ids = TokenIds(client, base_url, model)
        self.logprobs = self._probe()
        """``ids`` (log-probabilities of named token ids), ``top`` (the first token's top k) or ``none``."""

    @property
    def identity(self) -> str:
        """What the fingerprint says about how pictures are sent (and letters read, when not from the top k)."""
        encoding = "png" if self.encoding == "png" else f"jpeg q{self.quality}"
        return encoding + (", letters from their token ids" if self.logprobs == "ids" else "")

    def _probe(self) -> str:
        body = {**self._body([{"role": "user", "content": PROBE}], 1), "logprobs": True, "top_logprobs": 5}
        try:
            answer = self.client.post("/chat/completions", body)
        except AdapterError:  # a server that refuses the log-probability fields: ask again without them
            self._text(self.client.post("/chat/completions", self._body([{"role": "user", "content": PROBE}], 1)))
            return "none"
        self._text(answer)
        if not _top_logprobs(answer):
            return "none"
        return "ids" if self._probe_ids() else "top"

    def _probe_ids(self) -> bool:
        """Whether the server tokenizes letters and returns the log-probabilities of their ids, all of them."""
        try:
            ids = self.token_ids.forms(PROBE_LABELS)
            if not ids:  # no letter is one token (or the tokenizer answered none): nothing to ask for
                return False
            body = {**self._body([{"role": "user", "content": PROBE}], 1), **request_fields(ids)}
            answer = self.client.post("/chat/completions", body)
        except AdapterError:  # no /tokenize (404), or the field refused (400): the top k it is
            return False
        top = _top_logprobs(answer)
        return top is not None and by_form(top, ids) is not None

    def _body(self, messages: list[dict[str, Any]], max_tokens: int) -> dict[str, Any]:
        return {"model": self.model, "messages": messages, "max_tokens": max_tokens, "temperature": 0}

    def message(self, context: str, images: Sequence[Any]) -> list[dict[str, Any]]:
        """One user message: the text around each image mark (as :func:`~..turns.turn_pieces` cuts it: the
        server's chat template sets the picture off, as in-process), and each picture where its mark was."""
        try:
            pieces = turn_pieces(context, len(images))
        except ValueError as exc:
            raise AdapterError(f"{self.url}: {exc} in a request") from None
        parts: list[dict[str, Any]] = []
        for index, piece in enumerate(pieces):
            if piece:
                parts.append({"type": "text", "text": piece})
            if index < len(images):
                parts.append({"type": "image_url", "image_url": {"url": self.data_uri(images[index])}})
        return [{"role": "user", "content": parts}]

    def data_uri(self, image: Any) -> str:
        """The picture the model is to see (``ImageRef.load()``), encoded as the spec asks."""
        buffer = io.BytesIO()
        picture = image.load()
        if self.encoding == "png":
            picture.save(buffer, format="PNG")
        else:
            picture.save(buffer, format="JPEG", quality=self.quality)
        return f"data:image/{self.encoding};base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}"

    def generate(self, requests: Sequence[GenerationRequest]) -> list[str]:
        # No ``stop`` field: transformers serve 5.25 answers HTTP 500 to one on a vision model ("'LlavaProcessor'
        # object has no attribute 'get_vocab'"); the text is cut at the stops here instead.
        bodies = [self._body(self.message(r.context, r.images), r.max_new_tokens) for r in requests]
        answers = self.client.post_many("/chat/completions", bodies)
        return [cut_at_stops(self._text(a), r.stop) for a, r in zip(answers, requests, strict=True)]

    def letters(
        self, requests: Sequence[ChoiceRequest], best: Callable[[dict[str, float], str], float]
    ) -> list[ChoiceResult]:
        """Each continuation's log-probability as the first answer token: from its token id, or the top ``TOP_K``."""
        if self.logprobs == "none":
            raise AdapterError(f"{self.url}: the server returns no log-probabilities for chat; use scoring: generate")
        by_ids = self.logprobs == "ids"
        ids = [self.token_ids.forms(r.continuations) if by_ids else {} for r in requests]
        if by_ids and not all(ids):
            raise AdapterError(f"{self.token_ids.url}: no option of a request is one token; use scoring: generate")
        asked = [request_fields(i) if by_ids else {"logprobs": True, "top_logprobs": TOP_K} for i in ids]
        bodies = [
            {**self._body(self.message(r.context, r.images), 1), **a} for r, a in zip(requests, asked, strict=True)
        ]
        out = []
        answers = self.client.post_many("/chat/completions", bodies)
        for request, answer, wanted in zip(requests, answers, ids, strict=True):
            self._text(answer)
            top = _top_logprobs(answer)
            if top is not None and by_ids:
                top = by_form(top, wanted)
            if top is None:
                what = "the token ids asked for" if by_ids else "logprobs.content[0].top_logprobs"
                raise AdapterError(
                    f"{self.url}: the answer lacks {what} although the probe found them; "
                    "the server changed its answers since (restarted with other settings?)"
                )
            out.append(ChoiceResult(tuple(best(top, c) for c in request.continuations)))
        return out

    def _text(self, answer: dict[str, Any]) -> str:
        """The first choice's message text; one line naming the URL when the answer is not a chat completion."""
        choices = answer.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            shown = "none" if choices is None else self.client.shown(json.dumps(choices))[:60]
            raise AdapterError(
                f"{self.url}: the answer's 'choices' is {shown}: not a chat completion; nothing was scored"
            )
        message = choices[0].get("message")
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, str):
            raise AdapterError(f"{self.url}: the answer's first choice has no message text; nothing was scored")
        return content


def split_by_images(
    requests: Sequence[Any], text: Callable[..., list[Any]], images: Callable[..., list[Any]]
) -> list[Any]:
    """Requests without images through ``text``, those with images through ``images``; results in request order."""
    out: list[Any] = [None] * len(requests)
    for wanted, run in ((False, text), (True, images)):
        indices = [i for i, r in enumerate(requests) if bool(r.images) == wanted]
        if indices:
            for i, result in zip(indices, run([requests[i] for i in indices]), strict=True):
                out[i] = result
    return out


def _top_logprobs(answer: dict[str, Any]) -> dict[str, float] | None:
    """``{token: logprob}`` of the first generated token, or None when the answer carries none (or malformed)."""
    try:
        first = answer["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
    except (KeyError, IndexError, TypeError):
        return None
    if not isinstance(first, list) or not first:
        return None
    out: dict[str, float] = {}
    for entry in first:
        token, value = (entry.get("token"), entry.get("logprob")) if isinstance(entry, dict) else (None, None)
        if not isinstance(token, str) or isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        if math.isnan(value):
            return None
        out.setdefault(token, float(value))
    return out
