"""Text that comes from outside (a model's name and answers, a committed baseline, an error body) is shown
inert everywhere: no Markdown or HTML in report.md, no terminal control in the summary or the diff, no bidi
override in report.html; and a lone surrogate from a model or a suite's data never crashes the end of a run."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Project

from pytest_medmodel.text_safety import html_text, inert, markdown_code, markdown_text, well_formed

ANSWER = "![x](http://e.example/p.png)[c](http://e.example)<img src=x>\x1b[31m\rRED\u202eevil"
"""One line of hostile answer: an image, a link, raw HTML, an ANSI escape, a carriage return and U+202E."""
NAME = "hostile ![pixel](http://e.example/p.png) [click](http://e.example) <img src=x>\n| forged | row |\x1b[2J\u202e"
ACTIVE = ("\x1b", "\r", "\u202e")
"""Characters that act on a terminal or on the reading order, and must never be shown as they are."""

HOSTILE = '''
"""A generating adapter named with markup; it answers right when recording, then hostile text, and fails on
suite boom with an error whose text is hostile too."""
import os
from pytest_medmodel.execution.calls import AdapterFault

RIGHT = {"op-0": "insulin", "op-1": "pancreas", "op-2": "glucagon", "op-3": "thyroxine"}

class Hostile:
    name = NAME
    def __init__(self):
        self.fingerprint = "hostile-" + os.environ.get("HOSTILE", "right")

    def generate(self, requests):
        if any(r.meta["suite"] == "boom" for r in requests):
            raise AdapterFault("server said: " + ANSWER)
        if os.environ.get("HOSTILE") == "evil":
            return [ANSWER + "\\n| second | line |" for r in requests]
        if os.environ.get("HOSTILE") == "surrogate":
            return ["\\udce9 " + RIGHT[r.meta["item"]] for r in requests]
        return [RIGHT[r.meta["item"]] for r in requests]

def make():
    return Hostile()
'''


def _hostile_project(project: Project) -> None:
    rows = [
        {"id": "op-0", "question": "Which hormone lowers blood glucose?", "answer": "insulin"},
        {"id": "op-1", "question": "Which organ makes insulin?", "answer": "pancreas"},
        {"id": "op-2", "question": "Which hormone raises blood glucose?", "answer": "glucagon"},
        {"id": "op-3", "question": "Which hormone does the thyroid make?", "answer": "thyroxine"},
    ]
    project.suite("open", rows=rows, task="open", scoring="generate")
    adapter = f"NAME = {NAME!r}\nANSWER = {ANSWER!r}\n" + HOSTILE
    (project.path / "hostile.py").write_text(adapter, encoding="utf-8")


def _run(project: Project, mode: str, *args: str) -> pytest.RunResult:
    project.env.setenv("HOSTILE", mode)
    return project.pytester.runpytest("suites", "--medmodel=py:hostile:make", "-p", "no:randomly", *args)


def _active_markdown(markdown: str) -> list[str]:
    """What GitHub would render as markup: images, links, raw HTML (CommonMark with GFM tables)."""
    found = [m.group() for m in re.finditer(r"(?<!\\)(!?\[[^\]]*(?<!\\)\]\(|<img|<a\s|<script)", markdown)]
    try:
        from markdown_it import MarkdownIt
    except ImportError:  # markdown-it-py comes with rich; the pattern above still holds
        return found
    rendered = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(markdown)
    return found + re.findall(r"<img|<a |<script", rendered)


def test_outside_text_is_inert_in_reports_terminal_and_diff(project: Project) -> None:
    _hostile_project(project)
    assert _run(project, "right", "--snapshot-update").ret == 0
    path = project.path / "baselines" / "hostile-make" / "open.json"
    recorded = path.read_text(encoding="utf-8")
    old = project.path / "old.json"
    baseline = json.loads(recorded)
    baseline["items"]["op-3"]["answer"] = "[phish](http://e.example) <b>bold</b>\x1b[1m\r\u202e"
    old.write_text(json.dumps(baseline), encoding="utf-8")  # a committed baseline's answer, hostile too
    path.write_text(old.read_text(encoding="utf-8"), encoding="utf-8")
    boom = project.suite("boom", rows=[{"id": "bo-0", "question": "q?", "answer": "x"}], task="open")
    boom.write_text(boom.read_text().replace("scoring: letter", "scoring: generate"))

    out = project.path / "out"
    result = _run(project, "evil", "-rA", f"--medmodel-report={out}", f"--junitxml={project.path / 'junit.xml'}")
    text = result.stdout.str()
    assert "medmodel summary" in text and "regressed" in text
    assert [c for c in ACTIVE if c in text] == [], "the terminal shows each as its escape"
    assert "\\x1b[31m\\rRED\\u202eevil" in text  # shown, not acted on (pytester's lines split at a real CR)

    junit = (project.path / "junit.xml").read_text(encoding="utf-8")
    assert "\u202e" not in junit and "#x1B" not in junit  # pytest writes a raw ESC as #x1B
    assert (
        'name="medmodel.answer" value="![x](http://e.example/p.png)[c](http://e.example)&lt;img src=x&gt;\\x1b[31m\\rRED'
        in junit
    )

    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert [c for c in ACTIVE if c in markdown] == []
    assert _active_markdown(markdown) == []
    assert "| forged |" not in markdown, "a name with a line break adds no table row"
    assert len([line for line in markdown.splitlines() if line.startswith("|")]) == 3  # head, rule, open (boom erred)
    assert "### Errors" in markdown and "server said" in markdown
    assert "Model **hostile" in markdown and "\\[click\\]" in markdown  # the name is there, as text

    html = (out / "report.html").read_text(encoding="utf-8")
    assert [c for c in ACTIVE if c in html] == []
    assert "<img" not in html and "&lt;img src=x&gt;" in html and "\\u202e" in html

    evil_model = json.loads(recorded)
    evil_model["model"] = {"name": NAME, "fingerprint": "hostile-other"}
    evil_model["items"]["op-0"]["answer"] = ANSWER
    new = project.path / "new.json"
    new.write_text(json.dumps(evil_model), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "pytest_medmodel", "diff", str(old), str(new)], cwd=project.path, capture_output=True
    )
    shown = done.stdout.decode("utf-8")  # bytes: text mode would turn a carriage return into a line break
    assert done.returncode == 0, shown + done.stderr.decode()
    assert "op-0: insulin -> ![x](http://e.example/p.png)[c](http://e.example)<img src=x>\\x1b[31m\\rRED" in shown
    assert [c for c in ACTIVE if c in shown] == []
    assert "\n| forged" not in shown and "<img src=x> | forged | row |\\x1b[2J\\u202e" in shown


def test_the_neutralising_functions() -> None:
    hostile = "a ![i](http://e/p.png) [l](http://e) <img src=x> & b|c\nd\r\ne\x1b[0m\x9b\x7f\u202e\u2066 www.e.org me@e.org `x` $m$"
    assert inert(hostile) == (
        "a ![i](http://e/p.png) [l](http://e) <img src=x> & b|c d e\\x1b[0m\\x9b\\x7f\\u202e\\u2066 www.e.org "
        "me@e.org `x` $m$"
    )
    assert inert("a\r\nb\rc\td\u2028e", lines=True) == "a\nb\\rc\td\ne" and inert("a\tb\rc") == "a b\\rc"
    assert markdown_text(hostile) == (
        "a !\\[i\\](http\\://e/p.png) \\[l\\](http\\://e) &lt;img src=x&gt; &amp; b\\|c d e\\\\x1b\\[0m\\\\x9b"
        "\\\\x7f\\\\u202e\\\\u2066 www\\.e.org me\\@e.org \\`x\\` \\$m\\$"
    )
    assert markdown_code("a`b") == "``a`b``" and markdown_code("`x") == "`` `x ``" and markdown_code("k-1") == "`k-1`"
    assert html_text("<b>\u202e\n") == "&lt;b&gt;\\u202e\n"
    assert well_formed("a\udce9b") == "a\ufffdb" and well_formed("\ud83d\ude00") == "\U0001f600"
    assert well_formed("plain é") == "plain é"


def test_the_markdown_check_sees_markup(tmp_path: Path) -> None:
    """The check above can fail: it finds each kind of active Markdown."""
    for active in ("![x](http://e/p.png)", "[c](http://e)", "<img src=x>", "a <a href=x>b</a>"):
        assert _active_markdown(active), active
    assert _active_markdown("\\[c\\](http\\://e) &lt;img src=x&gt;") == []


def test_a_lone_surrogate_from_the_model_ends_the_run_with_its_summary_and_report(project: Project) -> None:
    """Valid JSON ``"\\udce9"`` from a server, or a py adapter, is a str no UTF-8 file can hold: it becomes U+FFFD."""
    _hostile_project(project)
    assert _run(project, "right", "--snapshot-update").ret == 0
    out = project.path / "out"
    result = _run(project, "surrogate", f"--medmodel-report={out}", "--snapshot-update")
    text = result.stdout.str()
    assert result.ret == 0, text
    assert "Traceback" not in text and "medmodel summary" in text and "report: " in text
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    item = next(i for i in report["suites"][0]["items"] if i["key"] == "op-0")
    assert item["text"] == "\ufffd insulin" and item["correct"] is True
    baseline = json.loads((project.path / "baselines" / "hostile-make" / "open.json").read_text(encoding="utf-8"))
    assert baseline["items"]["op-0"]["text"] == "\ufffd insulin"


def test_a_lone_surrogate_in_suite_data_ends_the_run_with_its_summary_and_report(project: Project) -> None:
    _hostile_project(project)
    data = project.path / "suites" / "data" / "open.jsonl"
    data.write_text(data.read_text().replace("Which organ", "Which \\udce9 organ"), encoding="utf-8")
    out = project.path / "out"
    result = _run(project, "right", f"--medmodel-report={out}", "--snapshot-update")
    text = result.stdout.str()
    assert result.ret == 0, text
    assert "Traceback" not in text and "medmodel summary" in text and "report: " in text
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["suites"][0]["accuracy"]["n"] == 4
    assert (project.path / "baselines" / "hostile-make" / "open.json").is_file()
