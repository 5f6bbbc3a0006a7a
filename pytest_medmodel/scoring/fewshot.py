"""Few-shot prompting: solved examples shown before each item, never the item itself.

The examples come from the suite's ``few_shot.from`` source (a training split or
a file, read with the suite's own field mapping) or, without one, from the
suite's own items. They are chosen per item, deterministically:

* ``first``: the pool in order;
* ``random``: a sample seeded by ``seed``, the suite name and the item id (the
  same on every machine, serially and under ``-n``);
* ``balanced``: cycling through the answers (first an example whose key is the
  first option, then the second, ...), so the examples do not teach one letter.

An example is never the item itself: the same id or the same question text is
skipped. A perturbed variant skips what its original skips too (the original's
question, not only its own altered one): a pool that overlaps the test items
would otherwise show a ``typos`` variant its own question, solved.

Each example is rendered with the suite's template, followed by the answer in
the form the scoring expects (the label when the prompt lists labelled options,
else the option's text or the word), and the examples are joined by blank lines
before the item's own prompt (lm-evaluation-harness's layout). The pool, ``k``,
``pick`` and ``seed`` are part of the suite fingerprint.
"""

from __future__ import annotations

import hashlib
import random

from ..suite.types import FewShot, Item, Suite, Variant
from .prompts import render_user_message


def examples(few_shot: FewShot, suite_name: str, variant: Variant, original: Item | None = None) -> list[Item]:
    """The examples shown before ``variant`` (its ``shots`` overrides ``few_shot.k``).

    ``original`` is the item ``variant`` was made from: its id and question are skipped as well.
    """
    k = few_shot.k if variant.shots is None else variant.shots
    if k <= 0:
        return []
    ids = {variant.item_id} | ({original.id} if original else set())
    questions = {variant.question} | ({original.question} if original else set())
    candidates = [it for it in few_shot.pool if it.id not in ids and it.question not in questions]
    if few_shot.pick == "first":
        return candidates[:k]
    seed = int(hashlib.sha256(f"{few_shot.seed}:{suite_name}:{variant.item_id}".encode()).hexdigest()[:16], 16)
    order = random.Random(seed).sample(candidates, len(candidates))
    if few_shot.pick == "random":
        return order[:k]
    return _balanced(order, k)


def _balanced(order: list[Item], k: int) -> list[Item]:
    """Round-robin over the answer keys present, each key's examples in ``order``."""
    by_answer: dict[int, list[Item]] = {}
    for item in order:
        by_answer.setdefault(item.answer, []).append(item)
    keys = sorted(by_answer)
    chosen: list[Item] = []
    while len(chosen) < k and any(by_answer.values()):
        for key in keys:
            if by_answer[key] and len(chosen) < k:
                chosen.append(by_answer[key].pop(0))
    return chosen


def shot_text(suite: Suite, item: Item, labelled: bool) -> str:
    """One solved example: the rendered prompt, the answer prefix, the answer."""
    variant = Variant.of(item)
    answer = suite.prompt.labels[item.answer] if labelled else item.choices[item.answer]
    user = render_user_message(suite.prompt, variant)
    prefix = suite.prompt.answer_prefix
    return f"{user}\n{prefix} {answer}" if prefix else f"{user} {answer}"


def shots_before(suite: Suite, variant: Variant, labelled: bool) -> str:
    """The examples' text to put before ``variant``'s prompt ("" without few-shot)."""
    if suite.few_shot is None:
        return ""
    try:
        original: Item | None = suite.item(variant.item_id)
    except KeyError:  # a variant built by hand through the API, of no item of this suite
        original = None
    chosen = examples(suite.few_shot, suite.name, variant, original)
    return "".join(shot_text(suite, item, labelled) + "\n\n" for item in chosen)
