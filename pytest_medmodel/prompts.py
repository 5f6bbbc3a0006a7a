"""Prompt rendering: template placeholders, choice labels and chat templates.

The rendered prompt is the request's identity: it is part of the prediction
cache key, so two runs that send the model the same text share a prediction and
two that don't, don't.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .suite import Item, Suite

ChatFormatter = Callable[[Sequence[dict[str, str]]], "str | None"]
"""Turns chat messages into the model's prompt text, or None if it has no chat template."""


def render_user_message(suite: Suite, item: Item) -> str:
    """Fill the suite's template for one item."""
    prompt = suite.prompt
    labels = prompt.labels[: len(item.choices)]
    values = {
        "question": item.question,
        "context": item.context or "",
        "choices": "\n".join(f"{label}. {text}" for label, text in zip(labels, item.choices)),
        "labels": ", ".join(labels),
    }
    return prompt.template.format_map(values)


def render_context(suite: Suite, item: Item, chat: ChatFormatter | None) -> str:
    """The full text the model conditions on, ending just before the answer.

    With a chat template (``prompt.chat_template`` ``auto`` when the model has one,
    or ``always``), the rendered template is the user turn, the assistant turn is
    opened, and ``answer_prefix`` is written at its start. Without one the
    answer prefix follows on a new line, lm-evaluation-harness style.
    """
    prompt = suite.prompt
    user = render_user_message(suite, item)
    text = None
    if prompt.chat_template != "never" and chat is not None:
        messages = []
        if prompt.system:
            messages.append({"role": "system", "content": prompt.system})
        messages.append({"role": "user", "content": user})
        text = chat(messages)
        if text is None and prompt.chat_template == "always":
            raise ValueError("prompt.chat_template is 'always' but the model has no chat template")
        if text is not None:
            return text + prompt.answer_prefix
    elif prompt.chat_template == "always":
        raise ValueError("prompt.chat_template is 'always' but the model has no chat template")
    head = f"{prompt.system}\n\n" if prompt.system else ""
    return f"{head}{user}\n{prompt.answer_prefix}"


def continuations(suite: Suite, item: Item, context: str) -> tuple[str, ...]:
    """What is scored after the context: labels (letter) or choice texts (loglikelihood).

    A single space separates them from a context that ends in a non-space, like
    lm-evaluation-harness's ``target_delimiter``; after a newline (an empty
    ``answer_prefix`` in a chat turn) nothing is added.
    """
    delimiter = "" if not context or context[-1].isspace() else " "
    if suite.scoring.method == "letter":
        return tuple(delimiter + label for label in suite.prompt.labels[: len(item.choices)])
    return tuple(delimiter + choice for choice in item.choices)
