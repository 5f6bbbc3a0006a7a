"""Training and test prompts for the demo VLM, in exactly the plugin's formats, as token ids.

Chat: the user turn holds the image, then the message; the assistant turn is
opened and ``Answer:`` written; the target follows (`` C`` for letter scoring, the
option's text such as `` CT`` for log-likelihood scoring). Plain (no chat
template): ``<image>`` and a newline, the message, a newline, ``Answer:`` and the
target. The ``<image>`` token is expanded to the image's 16 tokens, as the processor
does. Training prompts vary the question's wording and, for letters, the number
and order of the options.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from labels import (
    ANSWER_PREFIX,
    LETTERS,
    MODALITY_SHORT,
    TRAIN_QUESTIONS,
    distractor_pool,
    option_texts,
    question_message,
    user_message,
)

LETTER = 0.25
"""Share of training prompts in the letter format (the rest answer in words)."""
SHORT = 0.15
"""Share of worded answers given in a shorter form (`` X-ray`` for `` X-ray radiograph``)."""
CHAT = 0.6
"""Share of training prompts rendered with the chat template (the rest without)."""
REGION = 0.45
"""Share of prompts about the body region, for images whose region is documented."""


@dataclass
class Encoded:
    """One prompt as token ids: the context (image tokens expanded) and the scored continuation."""

    image: int
    """Index of the image in the split's pixel tensor."""
    context: list[int]
    target: list[int]


class Prompts:
    """Renders and tokenises prompts for one tokenizer, chat template and image-token count."""

    def __init__(self, tokenizer: Any, image_token: str, image_tokens: int) -> None:
        self.tokenizer = tokenizer
        self.image_token = image_token
        self.image_id = tokenizer.convert_tokens_to_ids(image_token)
        self.image_tokens = image_tokens

    def context(self, user: str, chat: bool) -> str:
        """The text before the answer, the way the plugin renders it (image first in the user turn)."""
        if not chat:
            return f"{self.image_token}\n{user}\n{ANSWER_PREFIX}"
        parts = [{"type": "image"}, {"type": "text", "text": user}]
        messages = [{"role": "user", "content": parts}]
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return text + ANSWER_PREFIX

    def encode(self, image: int, context: str, continuation: str) -> Encoded:
        """Token ids; the continuation is the tail of ``context + continuation`` (the plugin's rule)."""
        ctx = self.tokenizer(context, add_special_tokens=False)["input_ids"]
        whole = self.tokenizer(context + continuation, add_special_tokens=False)["input_ids"]
        if whole[: len(ctx)] != ctx:
            raise ValueError(f"{continuation!r} changes the context's tokens")
        return Encoded(image, self.expand(ctx), whole[len(ctx) :])

    def expand(self, ids: list[int]) -> list[int]:
        out: list[int] = []
        for token in ids:
            out.extend([token] * self.image_tokens if token == self.image_id else [token])
        return out

    def letter_ids(self) -> list[int]:
        """The token of `` A``, `` B``, ... after ``Answer:`` (one token each, or scoring would be unfair)."""
        ids = []
        for letter in LETTERS:
            tail = self.encode(0, ANSWER_PREFIX, " " + letter).target
            if len(tail) != 1:
                raise ValueError(f"' {letter}' is {len(tail)} tokens after {ANSWER_PREFIX!r}")
            ids.append(tail[0])
        return ids


def training_prompt(row: dict[str, Any], rng: random.Random) -> tuple[str, str, bool]:
    """(user message, continuation, chat?) for one training image, drawn with ``rng``."""
    kind = "region" if row["region"] and rng.random() < REGION else "modality"
    chat = rng.random() < CHAT
    question = rng.choice(TRAIN_QUESTIONS[kind])
    answer = str(row[kind])
    texts = option_texts(kind)
    if rng.random() >= LETTER:
        short = kind == "modality" and rng.random() < SHORT
        return question_message(question), " " + (MODALITY_SHORT[answer] if short else texts[answer]), chat
    pool = distractor_pool(kind, answer)
    count = rng.randint(3, min(5, len(pool) + 1))
    keys = rng.sample(pool, count - 1)
    position = rng.randrange(count)
    keys.insert(position, answer)
    return user_message(question, [texts[k] for k in keys]), " " + LETTERS[position], chat


def item_prompt(item: dict[str, Any], lists_choices: bool = True) -> str:
    """The user message of a shipped recognition item (letter scoring lists the options)."""
    if not lists_choices:
        return question_message(str(item["question"]))
    return user_message(str(item["question"]), list(item["choices"]))
