"""Options that carry their labels: in each cell (PMC-VQA), or as the keys of one object (MedXpertQA).

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

from typing import Any

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


def options_by_label(checker: Checker, where: str, value: dict[str, Any], labels: tuple[str, ...]) -> list[Any]:
    """A choices cell that is an object keyed by label (MedXpertQA's ``options``: ``{"A": ..., "E": ...}``), as
    the list of its values in label order. Its keys must be the first labels, each once: a key outside them
    (``"a"``, ``"F"`` with no ``"E"``) would otherwise drop or reorder an option without a word."""
    keys = [str(key) for key in value]
    expected = list(labels[: len(keys)])
    if sorted(keys, key=lambda k: labels.index(k) if k in labels else len(labels)) != expected:
        problem = f"options are keyed {keys}, not by the labels {expected}"
        raise checker.error(where, problem, "key the options A, B, C, ... (or set prompt.labels to their keys)")
    return [value[label] for label in expected]
