"""``--medmodel-log-prompts=FILE``: every request the model receives, verbatim, one JSON line each.

Reproducing a published number starts with checking the prompt byte for byte:
the rendered template, the chat template applied, the answer prefix, the exact
continuations scored. An image shows as its mark in the context and, in
``images``, its digest and where it came from; never its pixels. The log holds the request as the runner hands it to the
adapter (also when its prediction comes from the cache), with where it comes from
(suite, item, variant). Test processes append under a lock on the log file itself,
so a run with ``-n`` writes one file and leaves nothing else behind; lines are in
the order shards were computed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..locks import append_locked
from ..models.base import ChoiceRequest, Request


def request_record(request: Request) -> dict[str, Any]:
    """The request as plain JSON data: its origin, then exactly what the model is given."""
    record: dict[str, Any] = {**dict(request.meta), "kind": request.kind, "context": request.context}
    if request.images:  # each mark in the context is one of these, in order: never the pixels
        record["images"] = [{"digest": image.digest, "source": image.shown} for image in request.images]
    if isinstance(request, ChoiceRequest):
        record["continuations"] = list(request.continuations)
    else:
        record["max_new_tokens"] = request.max_new_tokens
        record["stop"] = list(request.stop)
    return record


class PromptLog:
    """Appends requests to ``path`` (created on first write; :meth:`start` empties it for a new run)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("", encoding="utf-8")

    def __call__(self, requests: Sequence[Request]) -> None:
        lines = "".join(json.dumps(request_record(r), ensure_ascii=False) + "\n" for r in requests)
        append_locked(self.path, lines.encode("utf-8"))  # the log itself is locked: no FILE.lock left behind
