"""Prompt rendering: the default template, placeholders, choice labels and chat templates.

The rendered prompt is the request's identity: it is part of the prediction
cache key, so two runs that send the model the same text share a prediction and
two that don't, don't.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..images.ref import ImageRef
from ..models.base import IMAGE_MARK
from ..models.turns import turn_pieces
from ..suite.images import image_numbers
from ..suite.schema import IMAGE_FIELDS
from ..suite.types import FIXED_CHOICES, PromptSpec, Variant

ChatFormatter = Callable[[Sequence[dict[str, Any]]], "str | None"]
"""Turns chat messages into the model's prompt text, or None if it has no chat template. A message's
content is a str, or for a prompt with images a list of ``{"type": "text"|"image"}`` parts; the
returned text then holds an :data:`~pytest_medmodel.models.base.IMAGE_MARK` where each image went."""


def default_template(task: str, lists_choices: bool, has_context: bool) -> str:
    """The prompt used when a suite does not write its own.

    ``lists_choices``: the scorer needs the labelled options in the prompt (letter
    scoring). Otherwise the option text itself is the scored continuation
    (lm-evaluation-harness ARC style) and only the question is shown.
    """
    head = "Context: {context}\n" if has_context else ""
    if lists_choices:
        return head + "Question: {question}\n{choices}\nAnswer with the letter of the correct option."
    if task not in FIXED_CHOICES:
        return head + "Question: {question}"
    words = "yes, no or maybe" if task == "yes_no_maybe" else "yes or no"
    return head + f"Question: {{question}}\nAnswer {words}."


def render_user_message(prompt: PromptSpec, variant: Variant) -> str:
    """Fill the suite's template for one variant (choices in presented order).

    Each image is an :data:`~pytest_medmodel.models.base.IMAGE_MARK`: at its
    ``{image}``/``{imageN}`` placeholder, or on a line of its own before (or after)
    the text when the template has none (``prompt.image_position``); the marks are
    in the order of :func:`prompt_images`.
    """
    labels = variant.shown_labels(prompt.labels)
    values = {
        "question": variant.question,
        "context": variant.context or "",
        "choices": "\n".join(
            prompt.choice_format.format(label=label, choice=text)
            for label, text in zip(labels, variant.choices, strict=True)
        ),
        "labels": ", ".join(labels),
        **dict.fromkeys(IMAGE_FIELDS, IMAGE_MARK if variant.images else ""),  # no_image: placeholders left empty
    }
    template = variant.template or prompt.template
    text = template.format_map(values)
    if not variant.images or image_numbers(template):
        return text
    marks = "\n".join(IMAGE_MARK for _ in variant.images)
    return f"{marks}\n{text}" if prompt.image_position == "before" else f"{text}\n{marks}"


def prompt_images(prompt: PromptSpec, variant: Variant) -> tuple[ImageRef, ...]:
    """The variant's images in the order their marks appear in its rendered prompt."""
    placed = image_numbers(variant.template or prompt.template)
    if not variant.images or not placed:
        return variant.images
    return tuple(variant.images[number - 1] for number in placed)


def user_content(text: str, images: Sequence[ImageRef]) -> str | list[dict[str, str]]:
    """A chat message's content: the text, or with images, typed parts (``{"type": "image"}`` where each goes).

    The newline that sets an image off from the text in a plain prompt is left to the
    model's chat template here (most put the image on its own line themselves).
    """
    if not images:
        return text
    parts: list[dict[str, str]] = []
    for number, piece in enumerate(turn_pieces(text, len(images))):
        if number:
            parts.append({"type": "image"})
        if piece:
            parts.append({"type": "text", "text": piece})
    return parts


def render_context(prompt: PromptSpec, variant: Variant, chat: ChatFormatter | None, shots: str = "") -> str:
    """The full text the model conditions on, ending just before the answer.

    With a chat template (``prompt.chat_template`` ``auto`` when the model has one,
    or ``always``), the rendered template is the user turn, the assistant turn is
    opened, and ``answer_prefix`` is written at its start. Without one the
    answer prefix follows on a new line, lm-evaluation-harness style; an empty
    ``answer_prefix`` makes the answer continue the template's text directly
    (cloze suites: ``Insulin is made by the`` -> `` pancreas``). ``shots``: solved
    examples put before the item, in the same user turn (:mod:`pytest_medmodel.scoring.fewshot`).
    """
    user = shots + render_user_message(prompt, variant)
    if prompt.chat_template != "never" and chat is not None:
        messages: list[dict[str, Any]] = []
        if prompt.system:
            messages.append({"role": "system", "content": prompt.system})
        messages.append({"role": "user", "content": user_content(user, variant.images)})
        text = chat(messages)
        if text is not None:
            return text + prompt.answer_prefix
    if prompt.chat_template == "always":
        raise ValueError("prompt.chat_template is 'always' but the model has no chat template")
    head = f"{prompt.system}\n\n" if prompt.system else ""
    if not prompt.answer_prefix:  # a cloze stem: the answer continues the template's own sentence
        return f"{head}{user}"
    return f"{head}{user}\n{prompt.answer_prefix}"


def after(context: str, texts: Sequence[str]) -> tuple[str, ...]:
    """Continuations as scored after ``context``.

    A single space separates them from a context that ends in a non-space, like
    lm-evaluation-harness's ``target_delimiter``; after a newline (an empty
    ``answer_prefix`` in a chat turn) nothing is added.
    """
    delimiter = "" if not context or context[-1].isspace() else " "
    return tuple(delimiter + text for text in texts)
