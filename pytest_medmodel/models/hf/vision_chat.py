"""A vision-language model's chat template, with the plugin's image mark where the template put each image.

The plugin renders prompts itself and asks the model only to apply its chat
template. For an image suite a user message's content is a list of parts
(``{"type": "image"}``, ``{"type": "text", "text": ...}``); the template renders
each image as the model's own text (LLaVA ``<image>``, Qwen2-VL
``<|vision_start|><|image_pad|><|vision_end|>``, Gemma 3 ``<start_of_image>``),
and the processor's placeholder in that text (``processor.image_token``) is
replaced by :data:`~pytest_medmodel.models.base.IMAGE_MARK`. Substituting the
placeholder back gives the template's output byte for byte, which is exactly
what :mod:`.vision_encoding` does before the processor expands it.

Text content (a str) is given to the template as one text part: a processor's
template iterates over parts, and a str would be iterated character by
character (some templates then drop the text without an error).

The template is applied by ``ProcessorMixin.apply_chat_template`` itself, not by
a processor's override: overrides exist for video (SmolVLM reads its video
processor there), which the image-only processors here do not have.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..base import AdapterError


def _as_parts(content: Any) -> Any:
    return [{"type": "text", "text": content}] if isinstance(content, str) else content


def _images_in(messages: Sequence[Mapping[str, Any]]) -> int:
    count = 0
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            count += sum(1 for part in content if isinstance(part, Mapping) and part.get("type") == "image")
    return count


def render_chat(
    processor: Any, messages: Sequence[Mapping[str, Any]], placeholder: str | None, mark: str, name: str
) -> str | None:
    """The rendered conversation with the assistant turn opened, or None when the model has no template."""
    from transformers import ProcessorMixin

    images = _images_in(messages)
    template = processor.chat_template if isinstance(processor, ProcessorMixin) else None
    if not template:
        tokenizer = getattr(processor, "tokenizer", processor)
        if images or not getattr(tokenizer, "chat_template", None):
            return None  # no template that can place an image: the plugin's own prompt format applies
        return str(tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True))
    conversation = [{**message, "content": _as_parts(message.get("content"))} for message in messages]
    text = ProcessorMixin.apply_chat_template(processor, conversation, tokenize=False, add_generation_prompt=True)
    text = str(text)
    if mark in text:
        raise AdapterError(f"{name}: a chat message contains the image mark {mark!r} as text")
    found = text.count(placeholder) if placeholder else 0
    if found != images:
        raise AdapterError(
            f"{name}: the chat template rendered {found} image placeholder(s) {placeholder!r} "
            f"for {images} image(s); it cannot place images where the prompt puts them"
        )
    return text.replace(placeholder, mark) if placeholder else text
