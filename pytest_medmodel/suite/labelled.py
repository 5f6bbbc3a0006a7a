"""``data.strip_choice_labels``: option cells that carry their own label, as PMC-VQA writes them.

PMC-VQA's ``Choice A`` column holds ``A:Diffuse uptake pattern``. Read as is,
the option's text would include its label, so a shuffled or relabelled variant
would show ``C. A:Diffuse ...`` and an answer naming the option's text would
never match. With the setting, each cell must start with its own label and a
``:`` or ``.``; that prefix is removed (the prompt can write it back with
``prompt.choice_format: "{label}:{choice}"``). A cell without its label is
refused in one line: a file whose options are not labelled that way is not the
layout the suite expects.
"""

from __future__ import annotations

from .schema import Checker


def strip_labels(
    checker: Checker, where: str, columns: tuple[str, ...], choices: tuple[str, ...], labels: tuple[str, ...]
) -> tuple[str, ...]:
    """Each choice without its leading ``<label>:`` (or ``<label>.``), in the order of ``labels``."""
    out = []
    for column, label, text in zip(columns, labels, choices, strict=False):
        for mark in (":", "."):
            if text.startswith(label + mark):
                out.append(text[len(label) + 1 :].strip())
                break
        else:
            problem = f"option '{text}' does not start with its label '{label}:'"
            fix = "remove data.strip_choice_labels, or fix the cell"
            raise checker.error(f"{where}: {column}", problem, fix)
    return tuple(out)
