"""Prompt rendering: the default template, placeholders, choice labels and chat templates.

The rendered prompt is the request's identity: it is part of the prediction
cache key, so two runs that send the model the same text share a prediction and
two that don't, don't.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..suite.types import FIXED_CHOICES, PromptSpec, Variant

ChatFormatter = Callable[[Sequence[dict[str, str]]], "str | None"]
"""Turns chat messages into the model's prompt text, or None if it has no chat template."""


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
    """Fill the suite's template for one variant (choices in presented order)."""
    labels = variant.shown_labels(prompt.labels)
    values = {
        "question": variant.question,
        "context": variant.context or "",
        "choices": "\n".join(f"{label}. {text}" for label, text in zip(labels, variant.choices, strict=True)),
        "labels": ", ".join(labels),
    }
    return (variant.template or prompt.template).format_map(values)


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
        messages = []
        if prompt.system:
            messages.append({"role": "system", "content": prompt.system})
        messages.append({"role": "user", "content": user})
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
