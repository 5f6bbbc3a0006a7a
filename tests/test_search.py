"""``--medmodel-search``: finds, shrinks, replays; deterministic and batched."""

from __future__ import annotations

import pytest
from conftest import Project

from pytest_medmodel.search.edits import Edit, apply_edits, readable_diff
from pytest_medmodel.search.engine import draw_candidates
from pytest_medmodel.suite.types import Variant

PLANTED = """
import json, os, re
from pathlib import Path
from pytest_medmodel import ChoiceResult

TEXTS = json.loads((Path(__file__).parent / "answer_texts.json").read_text())

class Planted:
    \"\"\"Reads the options and answers by content, right unless the word 'organ' is misspelt.

    Its case and the spacing around it do not matter, nor does the options' order.
    \"\"\"
    name = "planted"

    def __init__(self):
        self.word = os.environ.get("PLANTED_WORD", "organ")
        self.trap = os.environ.get("PLANTED_TRAP", "")
        self.need = os.environ.get("PLANTED_NEED", "")
        self.fingerprint = "planted:" + self.word + ":" + self.trap + ":" + self.need

    def loglikelihood(self, requests):
        word = self.word
        with open(Path(__file__).parent / "planted.log", "a") as log:
            log.write(f"{len(requests)}\\n")
        out = []
        for r in requests:
            listed = dict(re.findall(r"^(\\w+)\\. (.*)$", r.context, flags=re.M))
            right = TEXTS[r.meta["item"]]
            intact = word in r.context.lower() and not (self.trap and self.trap in r.context.lower())
            intact = intact and self.need in r.context
            scores = [(-0.1 if (listed.get(c.strip()) == right) == intact else -3.0) for c in r.continuations]
            out.append(ChoiceResult(tuple(scores)))
        return out

def make():
    return Planted()
"""


def _project(project: Project, question: str = "Which organ makes insulin, item {i}?") -> None:
    rows = [
        {"id": f"fl-{i:02d}", "question": question.format(i=i), "choices": ["a", "b", "c"], "answer": i % 3}
        for i in range(6)
    ]
    project.suite("flip", rows=rows)
    for i in range(6):
        project.texts[f"fl-{i:02d}"] = "abc"[i % 3]
    project._write_key()
    (project.path / "planted.py").write_text(PLANTED)


def _search(project: Project, *args: str) -> list[str]:
    result = project.pytester.runpytest(
        "suites", "--medmodel=py:planted:make", "-p", "no:randomly", "--medmodel-search=24", *args
    )
    start = result.stdout.lines.index(next(line for line in result.stdout.lines if "medmodel search" in line))
    return [line for line in result.stdout.lines[start + 1 :] if line.startswith("flip")]


def test_the_search_finds_and_shrinks_a_planted_flip_to_the_misspelt_word(project: Project) -> None:
    _project(project)
    assert project.pytester.runpytest("suites", "--medmodel=py:planted:make", "--snapshot-update").ret == 0
    (project.path / "planted.log").unlink()
    lines = _search(project, "--medmodel-search-items=4")
    found = [line for line in lines if "edit(s) flip it" in line]
    assert len(found) == 4, lines  # every searched item has the weakness
    for line in found:
        assert ": 1 edit(s) flip it to " in line and "in 'organ'" in line, line  # shrunk to the one edit that matters
        assert "[-organ-]" in line and "makes insulin" in line, line  # the readable diff of the prompt
    assert lines[-1].startswith("flip: 4 of 4 right answers flipped by a small change;")
    calls = [int(n) for n in (project.path / "planted.log").read_text().split()]
    assert max(calls) > 40 and len(calls) < 10, calls  # candidates of all items go in a few large batches

    again = _search(project, "--medmodel-search-items=4")
    assert all("replayed from an earlier run" in line and "; 1 request(s)" in line for line in again[:-1]), again
    assert [line.split("(")[0] for line in again[:-1]] == [line.split("(")[0] for line in found]


def test_the_search_is_deterministic_and_reports_nothing_where_nothing_flips(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    _project(project)
    first = _search(project, "--medmodel-search-items=2")
    for path in (project.path / ".pytest_cache").rglob("search/*.json"):
        path.unlink()
    second = _search(project, "--medmodel-search-items=2")
    assert first == second
    monkeypatch.setenv("PLANTED_WORD", "")  # "" is in every prompt: never flips
    for path in (project.path / ".pytest_cache").rglob("search/*.json"):
        path.unlink()
    robust = project.pytester.runpytest(
        "suites", "--medmodel=py:planted:make", "--medmodel-search=8", "--medmodel-no-cache", "-p", "no:randomly"
    )
    robust.stdout.fnmatch_lines(["flip: 0 of 6 right answers flipped by a small change; *"])


def test_edits_and_candidates_are_deterministic_and_readable() -> None:
    variant = Variant("x", "Which organ makes insulin?", ("a", "b", "c"), 0, (0, 1, 2))
    assert draw_candidates(variant, 20, rotate=True) == draw_candidates(variant, 20, rotate=True)
    edits = [Edit("typo", 1, 0), Edit("space", 2)]
    changed = apply_edits(variant, edits)
    assert changed.question == "Which oran makes  insulin?"  # the middle letter dropped, a doubled space
    assert apply_edits(variant, list(reversed(edits))) == changed  # order of edits does not matter
    assert readable_diff(variant.question, changed.question) == "Which [-organ-] {+oran+} [-makes-] {+makes␣+} insulin?"
    rotated = apply_edits(variant, [Edit("rotate", 1)])
    assert rotated.choices[rotated.answer] == "a" and rotated.answer == 2


def test_the_search_composes_the_suites_own_perturbations_and_runs_when_the_suite_asks(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the suite's paraphrase (a registered perturbation) flips these answers; the suite's search: key turns it on."""
    _project(project)
    extra = (
        "perturbations:\n"
        '  - {name: paraphrase_instructions, id: para, templates: ["Q: {question}\\n{choices}\\nReply with a letter."]}\n'
        "search: {candidates: 16, items: 2}\n"
    )
    path = project.path / "suites" / "flip.suite.yaml"
    path.write_text(path.read_text() + extra)
    monkeypatch.setenv("PLANTED_TRAP", "reply with")
    monkeypatch.setenv("PLANTED_WORD", "")  # typos no longer matter
    result = project.pytester.runpytest("suites", "--medmodel=py:planted:make", "-p", "no:randomly")
    lines = [line for line in result.stdout.lines if line.startswith("flip")]
    flips = [line for line in lines if "edit(s) flip it" in line]
    assert len(flips) == 2, result.stdout.str()
    for line in flips:
        assert ": 1 edit(s) flip it" in line and "(para, seed " in line, line
        assert "{+Reply+}" in line, line  # the diff shows the reworded prompt
    assert lines[-1].startswith("flip: 2 of 2 right answers flipped")


def test_the_search_varies_a_perturbations_strength_and_shrinks_to_the_mildest_that_flips(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Truncating the question flips these answers once the comma after 'insulin' is cut: keeping 40% of the words.

    The suite keeps 90% (harmless); the search draws strengths from 80% down to 20%
    and reports the mildest that still flips, not the strongest it happened to draw.
    (The item number leads, so truncated prompts of different items still differ.)
    """
    _project(project, "Case {i}. Which organ makes insulin, says the examiner?")
    extra = "perturbations:\n  - {name: truncate, field: question, fraction: 0.9}\nsearch: {candidates: 24, items: 2}\n"
    path = project.path / "suites" / "flip.suite.yaml"
    path.write_text(path.read_text() + extra)
    monkeypatch.setenv("PLANTED_WORD", "")  # typos no longer matter
    monkeypatch.setenv("PLANTED_NEED", ",")  # only a cut before the comma flips
    assert project.pytester.runpytest("suites", "--medmodel=py:planted:make", "--snapshot-update").ret == 0
    result = project.pytester.runpytest("suites", "--medmodel=py:planted:make", "-p", "no:randomly")
    assert result.ret == 0, result.stdout.str()  # the suite's own 90% truncation changes nothing
    lines = [line for line in result.stdout.lines if line.startswith("flip")]
    flips = [line for line in lines if "edit(s) flip it" in line]
    assert len(flips) == 2, result.stdout.str()
    for line in flips:
        assert ": 1 edit(s) flip it" in line and "truncate (field=question, fraction=0.4), seed" in line, line
        assert "Which [-organ-] {+organ⏎+}" in line and "[-insulin,-]" in line, line  # cut after "organ"
