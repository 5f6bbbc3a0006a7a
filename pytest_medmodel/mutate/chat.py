"""Built-in prompt-side mutation: the chat template removed (a tokenizer exported without it)."""

from __future__ import annotations

from typing import Any

from .base import Mutate, mutation


class WithoutChatTemplate:
    """Delegates everything to the wrapped adapter except ``format_chat``, which finds no template."""

    def __init__(self, adapter: Any) -> None:
        self._inner = adapter

    def format_chat(self, messages: Any) -> None:
        return None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@mutation("no_chat_template")
def no_chat_template() -> Mutate:
    """Prompts go out as plain text, as if the tokenizer had been saved without its chat template."""

    def apply(adapter: Any) -> Any:
        return WithoutChatTemplate(adapter)

    return apply
