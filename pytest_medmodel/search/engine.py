"""Find, per item, the smallest change that flips a right answer; batched, deterministic, replayable.

Generation: Hypothesis draws ``candidates`` lists of edits per item from
:func:`~.edits.edit_strategy`, derandomized (a fixed seed, no example database),
so CI sees the same candidates every run. All candidates of all items go to the
model in one batch through the runner (its cache serves any seen before).
Shrinking: among an item's flipping candidates the shortest is kept, then edits
are removed one at a time while the answer stays flipped; each round tries every
removal of every item in one batch (Hypothesis's own shrinker would ask the model
one example at a time). Found flips are kept in a JSON file and replayed first
on the next run, so a known weakness is confirmed at the cost of one request.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..execution.runner import Runner
from ..models.handle import ModelHandle
from ..scoring.base import SCORERS
from ..scoring.prompts import render_user_message
from ..suite.types import PerturbationUse, Suite, Variant
from .edits import Edit, apply_edits, edit_strategy, readable_diff, searchable

UNCHANGED_TEXT = "the text is unchanged: the change is in the picture"
"""What a flip's diff says when only its image changed (the whole prompt would say nothing)."""


@dataclass
class Finding:
    """The smallest flipping change found for one item (or that none was found)."""

    item_id: str
    edits: list[Edit] = field(default_factory=list)
    diff: str = ""
    answer: str = ""
    """The answer the changed prompt got (the original answer was right)."""
    requests: int = 0
    """Model requests this item's search sent (cache hits included)."""
    replayed: bool = False

    @property
    def flipped(self) -> bool:
        return bool(self.edits)


def draw_candidates(
    variant: Variant, count: int, rotate: bool, perturbations: Sequence[PerturbationUse] = ()
) -> list[list[Edit]]:
    """``count`` edit lists for ``variant``, the same every run (derandomized Hypothesis, no database)."""
    from hypothesis import HealthCheck, Phase, given, settings

    drawn: list[list[Edit]] = []

    @settings(
        derandomize=True,
        database=None,
        max_examples=count,
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(edit_strategy(variant, rotate, perturbations))
    def collect(edits: list[Edit]) -> None:
        drawn.append(edits)

    collect()
    unique = {tuple(sorted(set(e))): None for e in drawn}
    return [list(key) for key in unique]


class Search:
    """Searches the right answers of one suite for flips, with one model and one runner."""

    def __init__(self, suite: Suite, model: ModelHandle, runner: Runner) -> None:
        self.suite = suite
        self.model = model
        self.runner = runner
        self.scorer = SCORERS.get(suite.scoring.method)
        self.rotate = self.scorer.lists_choices  # reordering matters only where the prompt lists the options
        self.uses = searchable(suite.perturbations)

    def flipped(self, pairs: Sequence[tuple[Variant, Sequence[Edit]]]) -> list[tuple[bool, str]]:
        """For each (original variant, edits): whether the edited item is answered wrong, and the answer shown."""
        chat = self.runner.chat(self.model) if self.suite.prompt.chat_template != "never" else None
        changed = [apply_edits(v, e, self.uses) for v, e in pairs]
        requests = [self.scorer.request(self.suite, v, chat) for v in changed]
        if chat is not None:
            chat.flush()
        results = self.runner.execute(requests, self.model, label=f"{self.suite.name} search", detail="candidates")
        scores = [self.scorer.score(self.suite, v, r) for v, r in zip(changed, results, strict=True)]
        return [(not s.correct, s.shown) for s in scores]

    def run(
        self, variants: Mapping[str, Variant], candidates: int, known: Mapping[str, list[Edit]]
    ) -> dict[str, Finding]:
        findings = {item_id: Finding(item_id) for item_id in variants}
        replay = [(i, known[i]) for i in variants if i in known]
        for (item_id, edits), (flip, shown) in zip(
            replay, self.flipped([(variants[i], e) for i, e in replay]), strict=True
        ):
            findings[item_id].requests += 1
            if flip:
                findings[item_id] = Finding(item_id, edits, answer=shown, requests=1, replayed=True)
        todo = [i for i in variants if not findings[i].flipped]
        uses = self.uses
        drawn = {i: draw_candidates(variants[i], candidates, self.rotate, uses) for i in todo}
        flat = [(i, e) for i in todo for e in drawn[i]]
        for (item_id, edits), (flip, shown) in zip(
            flat, self.flipped([(variants[i], e) for i, e in flat]), strict=True
        ):
            finding = findings[item_id]
            finding.requests += 1
            if flip and (not finding.flipped or (size(edits), edits) < (size(finding.edits), finding.edits)):
                finding.edits, finding.answer = list(edits), shown
        self._shrink(variants, findings)
        for finding in findings.values():
            if finding.flipped:
                original = variants[finding.item_id]
                changed = apply_edits(original, finding.edits, self.uses)
                before = render_user_message(self.suite.prompt, original)
                after = render_user_message(self.suite.prompt, changed)
                finding.diff = readable_diff(before, after) if after != before else UNCHANGED_TEXT
        return findings

    def _shrink(self, variants: Mapping[str, Variant], findings: dict[str, Finding]) -> None:
        """Remove edits, and weaken strong ones, while the answer stays flipped; one batch per round."""
        while True:
            trials = [(f.item_id, smaller) for f in findings.values() for smaller in _smaller(f.edits)]
            if not trials:
                return
            outcomes = self.flipped([(variants[i], e) for i, e in trials])
            progressed = False
            for (item_id, edits), (flip, shown) in zip(trials, outcomes, strict=True):
                finding = findings[item_id]
                finding.requests += 1
                if flip and size(edits) < size(finding.edits):
                    finding.edits, finding.answer = edits, shown
                    progressed = True
            if not progressed:
                return


def size(edits: Sequence[Edit]) -> tuple[int, int]:
    """How big a change is: fewer edits first, then milder strengths."""
    return len(edits), sum(e.level for e in edits)


def _smaller(edits: Sequence[Edit]) -> list[list[Edit]]:
    """Every list one step smaller: one edit removed (when more than one), or one edit a level milder."""
    out = [[e for e in edits if e != drop] for drop in edits] if len(edits) > 1 else []
    for weaken in edits:
        if weaken.level > 1:
            milder = replace(weaken, level=weaken.level - 1)
            out.append(sorted({milder if e == weaken else e for e in edits}))
    return out


def read_known(path: Path) -> dict[str, list[Edit]]:
    """Flips recorded by earlier runs (an unreadable file is ignored: the search finds them again)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {str(k): [Edit(str(e[0]), *(int(x) for x in e[1:4])) for e in v] for k, v in data.items()}
    except (OSError, ValueError, TypeError):
        return {}


def write_known(path: Path, findings: Mapping[str, Finding], earlier: Mapping[str, list[Edit]]) -> None:
    """Keep the flips found (and earlier ones not re-searched) for the next run to replay first."""
    data: dict[str, Any] = {k: [e.to_json() for e in v] for k, v in earlier.items() if k not in findings}
    data.update({k: [e.to_json() for e in f.edits] for k, f in findings.items() if f.flipped})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, sort_keys=True, indent=1) + "\n", encoding="utf-8")


def change_text(
    finding: Finding, words: Callable[[str], list[str]], perturbations: Sequence[PerturbationUse] = ()
) -> str:
    """The edits of a flip as a reader names them (``image_noise (sigma=0.14), seed 473``)."""
    return "; ".join(e.describe(words(finding.item_id), perturbations) for e in finding.edits)


def report_lines(
    suite: str,
    findings: Mapping[str, Finding],
    words: Callable[[str], list[str]],
    perturbations: Sequence[PerturbationUse] = (),
) -> list[str]:
    """What the search found, one line per flipped item, then a count."""
    lines = []
    for finding in sorted(findings.values(), key=lambda f: f.item_id):
        if not finding.flipped:
            continue
        what = change_text(finding, words, perturbations)
        again = ", replayed from an earlier run" if finding.replayed else ""
        lines.append(
            f"{suite}::{finding.item_id}: {len(finding.edits)} edit(s) flip it to {finding.answer} "
            f"({what}; {finding.requests} request(s){again}): {finding.diff}"
        )
    flipped = sum(f.flipped for f in findings.values())
    requests = sum(f.requests for f in findings.values())
    lines.append(
        f"{suite}: {flipped} of {len(findings)} right answers flipped by a small change; "
        f"{requests / max(1, len(findings)):.1f} requests per item"
    )
    return lines
