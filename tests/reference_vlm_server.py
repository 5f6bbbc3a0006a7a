"""A loopback OpenAI-compatible chat server in front of a real Hugging Face vision-language model.

No server that returns chat log-probabilities for images runs here (``transformers
serve`` drops them; vLLM needs a GPU), so the tests of served letter scoring
against in-process scoring use this one: it loads the model folder with
``AutoProcessor`` and ``AutoModelForImageTextToText``, applies the processor's
chat template to the request's messages (``image_url`` parts decoded from their
``data:`` URIs into ``{"type": "image"}`` parts), runs one forward pass and
answers the way vLLM does:

* ``logprobs`` with ``top_logprobs``: the first token's top k (``top=True``);
* ``logprob_token_ids``: the sampled token and each id asked for, named
  ``token_id:<id>`` under ``return_tokens_as_token_ids`` (``token_ids=True``; with
  ``False`` the field is ignored, as an older vLLM does);
* ``POST /tokenize`` at the root (``token_ids=True``; else 404).

Generation is greedy, up to ``max_tokens``. ``/completions`` answers text only.
"""

from __future__ import annotations

import base64
import io
import threading
from pathlib import Path
from typing import Any

from loopback import JsonHandler, serve


class ReferenceVLM:
    """The server; ``url`` is its ``/v1`` base URL, ``close()`` stops it."""

    def __init__(self, folder: Path, *, top: bool = True, token_ids: bool = True) -> None:
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        self.processor = AutoProcessor.from_pretrained(folder)
        self.model = AutoModelForImageTextToText.from_pretrained(folder, dtype=torch.float32).eval()
        self.name = str(folder)
        self.top, self.token_ids = top, token_ids
        self.lock = threading.Lock()
        server = self

        class Handler(JsonHandler):
            def do_GET(self) -> None:  # noqa: N802
                self.send_json(200, {"data": [{"id": server.name}]})

            def do_POST(self) -> None:  # noqa: N802
                body = self.read_json()
                if self.path == "/tokenize" and server.token_ids:
                    ids = server.processor.tokenizer(body["prompt"], add_special_tokens=False).input_ids
                    self.send_json(200, {"tokens": ids, "count": len(ids)})
                elif self.path == "/v1/chat/completions":
                    with server.lock:
                        self.send_json(200, server.chat(body))
                elif self.path == "/v1/completions":
                    self.send_json(200, {"choices": [{"text": " Paris", "logprobs": None}]})
                else:
                    self.send_json(404, {"error": "not found"})

        self.server, self.url = serve(Handler)

    def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        import torch

        messages, images = _messages(body["messages"])
        text = self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        inputs = self.processor(text=text, images=images or None, return_tensors="pt")
        tokenizer = self.processor.tokenizer
        wanted = int(body.get("max_tokens", 16))
        with torch.no_grad():
            first = torch.log_softmax(self.model(**inputs).logits[0, -1].float(), dim=-1)
            if wanted > 1:  # one token (every scoring request) is the first pass's argmax: no second pass
                generated = self.model.generate(**inputs, max_new_tokens=wanted, do_sample=False)
        new = generated[0, inputs["input_ids"].shape[1] :].tolist() if wanted > 1 else [int(first.argmax())]
        choice: dict[str, Any] = {"message": {"role": "assistant", "content": tokenizer.decode(new)}}
        if body.get("logprobs") and self.top:
            sampled = int(first.argmax())
            named_ids = body.get("logprob_token_ids") if self.token_ids else None
            ids = (
                [sampled, *named_ids] if named_ids else first.topk(int(body.get("top_logprobs") or 1)).indices.tolist()
            )

            def named(i: int) -> str:
                return f"token_id:{i}" if body.get("return_tokens_as_token_ids") else tokenizer.decode([i])

            top = [{"token": named(i), "logprob": float(first[i])} for i in dict.fromkeys(ids)]
            choice["logprobs"] = {"content": [{**top[0], "top_logprobs": top}]}
        return {"choices": [choice]}

    def close(self) -> None:
        self.server.shutdown()


def _messages(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[Any]]:
    """The chat messages as the processor's template takes them, and the pictures in order."""
    from PIL import Image

    out, images = [], []
    for message in messages:
        content = message["content"]
        if isinstance(content, str):
            out.append({"role": message["role"], "content": [{"type": "text", "text": content}]})
            continue
        parts = []
        for part in content:
            if part["type"] == "image_url":
                data = base64.b64decode(part["image_url"]["url"].split(",", 1)[1])
                images.append(Image.open(io.BytesIO(data)).convert("RGB"))
                parts.append({"type": "image"})
            else:
                parts.append({"type": "text", "text": part["text"]})
        out.append({"role": message["role"], "content": parts})
    return out, images
