"""Log-probabilities of the options' own tokens: vLLM's ``logprob_token_ids``.

A server that only returns the first answer token's top k log-probabilities
leaves an option outside the top k without a number (``-inf``): a model that
puts 0.1% on the right letter and one that puts nothing on it read alike, and
the option's probability, which calibration reads, is lost. vLLM (the chat and
completion routes, since pull request 43463) returns the log-probability of
any token ids the request names in ``logprob_token_ids``, beside the sampled
token, so every option gets its number.

Two things are needed from the server, and both are probed before use:

* the ids: ``POST /tokenize`` at the server's root (vLLM's route is beside
  ``/v1``, not under it), ``{"prompt": "A", "add_special_tokens": false}``
  answered with ``{"tokens": [id]}``. An option is looked up as written, stripped,
  and after one space, since a chat model may start its answer with ``A`` or
  `` A``; only forms that are one token are asked for;
* the log-probabilities: with ``return_tokens_as_token_ids`` the entries of
  ``logprobs.content[0].top_logprobs`` are named ``token_id:<id>``, so each is
  matched to the id asked for, never to a decoded string that could be spelled
  two ways. A server that ignores the field (an older vLLM, another server)
  returns its own top tokens, which lack some of the ids: the probe asks for more
  ids than it lets the top k hold, so such a server is found out there, and a
  later answer lacking an id is an error, never a ``-inf``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from ..base import AdapterError
from .http import JsonClient

PREFIX = "token_id:"
"""How a token is named in an answer to a request with ``return_tokens_as_token_ids``."""
PROBE_LABELS = ("A", "B", "C", "D", "E")
"""What the probe asks log-probabilities for: more ids than the one top token it lets the server return."""


class TokenIds:
    """A served model's token ids for the texts that start answers, from its ``/tokenize``."""

    def __init__(self, client: JsonClient, base_url: str, model: str) -> None:
        root = base_url[: -len("/v1")] if base_url.endswith("/v1") else base_url
        self.client = dataclasses.replace(client, base_url=root)
        self.url = f"{root}/tokenize"
        self.model = model
        self._ids: dict[str, int | None] = {}

    def forms(self, continuations: Iterable[str]) -> dict[str, int]:
        """``{form: id}`` for each continuation's forms (as written, stripped, after a space) that are one token."""
        out: dict[str, int] = {}
        for continuation in continuations:
            core = continuation.strip()
            for form in dict.fromkeys((continuation, core, " " + core)):
                token = self.token_id(form) if core else None
                if token is not None:
                    out[form] = token
        return out

    def token_id(self, text: str) -> int | None:
        """The one token ``text`` is, or None when it is several (looked up once)."""
        if text not in self._ids:
            body = {"model": self.model, "prompt": text, "add_special_tokens": False}
            tokens = self.client.post("/tokenize", body).get("tokens")
            if not isinstance(tokens, list) or not all(_is_id(t) for t in tokens):
                raise AdapterError(f"{self.url}: the answer's 'tokens' is not a list of token ids")
            self._ids[text] = tokens[0] if len(tokens) == 1 else None
        return self._ids[text]


def request_fields(ids: Mapping[str, int]) -> dict[str, Any]:
    """What a chat or completion request adds to get the log-probabilities of these ids."""
    return {
        "logprobs": True,
        "top_logprobs": 1,
        "logprob_token_ids": sorted(set(ids.values())),
        "return_tokens_as_token_ids": True,
    }


def by_form(top: Mapping[str, float], ids: Mapping[str, int]) -> dict[str, float] | None:
    """``{form: log-probability}`` read from the first token's entries (``{"token_id:<id>": value}``).

    None when an id asked for is not among them: the server did not honour
    ``logprob_token_ids``, and a missing number must not become ``-inf``.
    """
    values: dict[int, float] = {}
    for token, value in top.items():
        if token.startswith(PREFIX) and token[len(PREFIX) :].isdigit():
            values[int(token[len(PREFIX) :])] = value
    if not all(i in values for i in ids.values()):
        return None
    return {form: values[i] for form, i in ids.items()}


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
