"""--medmodel-report: report.json against its schema, report.md and JUnit carrying the same numbers,
a self-contained report.html, identical serial and distributed reports, and the page in a real browser."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from conftest import FORGET, Project, expect_lines

from pytest_medmodel.report.document import SCHEMA_PATH, build_report, without_timings
from pytest_medmodel.report.html import render_html
from pytest_medmodel.report.markdown import pct, points, render_markdown, three
from pytest_medmodel.report.summary import RunSummary

FLIPS = tuple(f"fa-{i:03d}" for i in range(0, 16, 2))
"""Eight right answers of 40 made wrong: a drop every gate of the facts suite should see."""


def _reported(project: Project, *args: str, subprocess: bool = False) -> tuple[pytest.RunResult, Path]:
    """Two suites recorded with the oracle, then a run that breaks eight facts, with the report on."""
    project.pytester.makeconftest(FORGET)
    project.suite("facts", 40, extra_yaml="gates:\n  ece: {}\n  brier: {}\n")
    project.suite("order", 12, prefix="or", extra_yaml="perturbations: [reverse_choices]\n")
    assert project.run("--snapshot-update").ret == 0
    out = project.path / "out"
    result = project.run(f"--medmodel-report={out}", *args, flips=FLIPS, subprocess=subprocess)
    return result, out


def _load(out: Path) -> dict[str, Any]:
    return json.loads((out / "report.json").read_text(encoding="utf-8"))


def _validate(report: dict[str, Any]) -> None:
    import jsonschema

    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(report)


class _References(HTMLParser):
    """Every attribute that can load something, every script and stylesheet link, and the CSS text."""

    LOADING = {"src", "href", "xlink:href", "srcset", "action", "formaction", "data", "poster", "background"}

    def __init__(self) -> None:
        super().__init__()
        self.references: list[str] = []
        self.tags: list[str] = []
        self.css: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self._in_style = tag == "style"
        for name, value in attrs:
            if name in self.LOADING and value is not None:
                self.references.append(value)
            if name == "style" and value:
                self.css.append(value)

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False if tag == "style" else self._in_style

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.css.append(data)


def _outside_references(html: str) -> list[str]:
    """What in the page would be fetched from outside the file (empty for a self-contained page)."""
    parser = _References()
    parser.feed(html)
    leaving = [r for r in parser.references if not r.startswith("#")]
    found = [u for css in parser.css for u in re.findall(r"url\(\s*['\"]?([^)'\"]*)", css)]
    urls = [u for u in found if not u.startswith(("#", "data:image/jpeg;base64,"))]  # thumbnails are inline
    imports = [css for css in parser.css if "@import" in css]
    tags = [t for t in parser.tags if t in ("script", "link", "iframe", "object", "embed", "img", "video", "audio")]
    return leaving + urls + imports + tags


def test_report_json_follows_its_schema_and_holds_every_prediction(project: Project) -> None:
    result, out = _reported(project, f"--junitxml={project.path / 'junit.xml'}")
    assert result.ret == 1, "eight regressions of forty fail the accuracy gate"
    expect_lines(result, ["report: *out/report.html (* KiB), report.md, report.json; written in * s"])
    report = _load(out)
    _validate(report)
    facts, order = report["suites"]
    assert (facts["name"], order["name"]) == ("facts", "order")
    assert facts["accuracy"] == {"value": 0.8, "low": 0.652427, "high": 0.895, "correct": 32, "n": 40}
    assert (facts["comparison"]["regressed"], facts["comparison"]["improved"]) == (8, 0)
    assert facts["comparison"]["delta"] == -0.2 and facts["comparison"]["p_value"] == 0.003906
    verdicts = {g["gate"]: g["status"] for g in facts["gates"]}
    assert verdicts == {
        "accuracy": "failed",
        "ece": "passed",
        "brier": "failed",
    }  # fewer right answers at the same confidence: nearer calibration
    accuracy_gate = next(g for g in facts["gates"] if g["gate"] == "accuracy")
    assert accuracy_gate["numbers"]["regressed"] == 8 and accuracy_gate["numbers"]["accuracy"] == 0.8
    assert {g["status"] for g in order["gates"]} == {"passed"}

    items = {i["key"]: i for i in facts["items"]}
    assert len(items) == 40
    lost = items["fa-002"]
    assert lost["outcome"] == "regressed" and lost["answer"] == "D" and lost["expected"] == "C"
    assert lost["baseline"] == {"answer": "C", "correct": True, "confidence": 0.5748, "text": None}
    assert lost["probs"] == [0.1417, 0.1417, 0.1417, 0.5748]
    assert "[fa-002] Which option is right?" in lost["prompt"] and "C. gamma" in lost["prompt"]
    assert items["fa-001"]["outcome"] == "passed" and items["fa-001"]["prompt"] is None
    assert {i["key"] for i in order["items"]} >= {"or-000", "or-000/reverse_choices"}
    assert order["robustness"][0]["family"] == "reverse_choices"
    assert [t["tag"] for t in facts["by_tag"]] == ["even", "odd"]
    assert facts["by_tag"][0] == {
        "tag": "even",
        "correct": 12,
        "n": 20,
        "accuracy": 0.6,
        "low": 0.386582,
        "high": 0.781193,
    }

    reliability = facts["calibration"]["reliability"]
    assert sum(p["n"] for p in reliability["current"]) == 40 and len(reliability["baseline"]) == 10
    assert report["model"]["fingerprint"] == "oracle:" + ",".join(sorted(FLIPS))
    assert facts["baseline"]["model_fingerprint"] == "oracle:" and facts["baseline"]["path"].endswith("facts.json")
    assert report["versions"]["pytest-medmodel"] and report["versions"]["python"]
    assert report["timings"]["requests_computed"] + report["timings"]["requests_cached"] > 0


def test_the_schema_rejects_a_report_that_breaks_it(project: Project) -> None:
    """The schema is a contract, not decoration: it fails on what a reader could not rely on."""
    import jsonschema

    _, out = _reported(project)
    report = _load(out)
    for damage in (
        lambda r: r["suites"][0]["accuracy"].update(value=1.5),
        lambda r: r["suites"][0]["items"][0].update(outcome="sideways"),
        lambda r: r["suites"][0]["gates"][0].pop("numbers"),
        lambda r: r.update(format="something-else"),
    ):
        broken = json.loads(json.dumps(report))
        damage(broken)
        with pytest.raises(jsonschema.ValidationError):
            _validate(broken)


def test_markdown_and_junit_carry_the_numbers_of_the_json(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    summary_file = project.path / "step-summary.md"
    summary_file.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary_file))
    result, out = _reported(project, f"--junitxml={project.path / 'junit.xml'}")
    report = _load(out)
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert summary_file.read_text().startswith("earlier step\n## pytest-medmodel: ❌ 2 gate(s) failed")
    expect_lines(result, [f"report: report.md appended to {summary_file}"])
    for suite in report["suites"]:
        acc, cmp, calib = suite["accuracy"], suite["comparison"], suite["calibration"]["metrics"]
        row = (
            f"| {suite['name']} | {acc['n']} | {pct(acc['value'])} [{pct(acc['low'])}, {pct(acc['high'])}] | "
            f"{pct(cmp['baseline_accuracy'])} | {points(cmp['delta'])} | {cmp['regressed']} / {cmp['improved']} | "
            f"{cmp['p_value']:.3g} | {three(calib['ece']['current'])} | {three(calib['brier']['current'])} |"
        )
        assert row in markdown
    assert "| facts | 40 | 80.0% [65.2%, 89.5%] | 100.0% | -20.0 | 8 / 0 | 0.00391 |" in markdown
    assert "- **facts** `accuracy`: accuracy dropped on suite facts" in markdown
    assert "- **facts** (8): `fa-000` A→B, `fa-002` C→D" in markdown

    root = ET.parse(project.path / "junit.xml").getroot()
    gates = {
        f"{case.get('classname')}::{case.get('name')}": {p.get("name"): p.get("value") for p in case.iter("property")}
        for case in root.iter("testcase")
        if "gate[" in (case.get("name") or "")
    }
    suites = {s["name"]: s for s in report["suites"]}
    assert len(gates) == sum(len(s["gates"]) for s in report["suites"])
    for name, properties in gates.items():
        suite = suites["facts" if "facts" in name else "order"]
        gate = next(g for g in suite["gates"] if f"gate[{g['gate']}]" in name)
        assert properties["medmodel.suite.accuracy"] == str(suite["accuracy"]["value"])
        assert properties["medmodel.suite.accuracy_low"] == str(suite["accuracy"]["low"])
        assert properties["medmodel.suite.n"] == str(suite["accuracy"]["n"])
        for key in ("paired", "baseline_accuracy", "delta", "regressed", "improved", "p_value"):
            assert properties[f"medmodel.suite.{key}"] == str(suite["comparison"][key]), (name, key)
        for key, value in suite["metrics"].items():
            assert properties[f"medmodel.suite.metric.{key}"] == str(value)
        for key, value in gate["numbers"].items():
            if value is None:  # a figure with no value (nothing detectable) is left out
                assert f"medmodel.{key}" not in properties, (name, key)
                continue
            assert properties[f"medmodel.{key}"] == str(value), (name, key)


def test_the_html_is_self_contained_and_lists_what_regressed(project: Project) -> None:
    _, out = _reported(project, "--medmodel-mutation-report=forget:every=2")
    html = (out / "report.html").read_text(encoding="utf-8")
    assert _outside_references(html) == []
    assert html.count('<section class="suite"') == 2 and html.count('<figure class="plot reliability">') == 2
    assert 'class="regressed-items">Regressed items (right in the baseline, wrong now): 8</h3>' in html
    assert "[fa-002] Which option is right?" in html
    report = _load(out)
    assert {(m["suite"], m["gate"], m["verdict"]) for m in report["mutations"]} >= {("facts", "accuracy", "caught")}
    assert "<h2>Mutation report</h2>" in html and "forget:every=2" in html


def test_the_check_for_outside_references_catches_each_kind() -> None:
    """The self-containment check itself can fail: each way a page can reach outside is caught."""
    assert _outside_references('<p style="color:red">x</p><svg><use xlink:href="#a"/></svg><a href="#s">s</a>') == []
    for leak in (
        '<img src="https://example.org/x.png">',
        "<script>alert(1)</script>",
        '<link rel="stylesheet" href="style.css">',
        "<style>body{background:url(//cdn.example.org/bg.png)}</style>",
        "<style>@import 'fonts.css';</style>",
        '<a href="file:///etc/passwd">x</a>',
        '<div style="background:url(http://example.org/a.png)"></div>',
    ):
        assert _outside_references(leak), leak


def test_without_matplotlib_every_table_is_there_and_the_page_says_what_to_install(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, out = _reported(project)
    report = _load(out)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if the extra were not installed
    html = render_html(report)
    assert "<svg" not in html and html.count('class="note plot-missing"') == 2
    assert "pip install &#x27;pytest-medmodel[report]&#x27;" in html
    assert html.count("<h3>Calibration</h3>") == 2 and html.count("<h3>Accuracy by tag</h3>") == 2
    assert "<h3>Robustness</h3>" in html and "[fa-002] Which option is right?" in html
    assert _outside_references(html) == []


@pytest.mark.slow
def test_reports_are_identical_serially_and_with_two_workers(project: Project) -> None:
    _, serial = _reported(project, subprocess=True)
    kept = project.path / "serial"
    shutil.copytree(serial, kept)
    project.run(f"--medmodel-report={project.path / 'parallel'}", "-n", "2", flips=FLIPS, subprocess=True)
    parallel = project.path / "parallel"
    assert without_timings(_load(kept)) == without_timings(_load(parallel))
    assert _load(kept)["suites"][0]["items"], "the comparison covers items, not an empty report"

    def untimed(path: Path, pattern: str) -> str:
        return re.sub(pattern, "", path.read_text(encoding="utf-8"))

    assert untimed(kept / "report.md", r"_timings:.*_") == untimed(parallel / "report.md", r"_timings:.*_")
    footer = r'<footer class="timings">.*</footer>'
    assert untimed(kept / "report.html", footer) == untimed(parallel / "report.html", footer)


def test_a_saved_report_renders_again_the_same(project: Project) -> None:
    _, out = _reported(project)
    again = project.path / "again"
    run = project.pytester.run(
        sys.executable, "-m", "pytest_medmodel", "report", str(out / "report.json"), "--out", str(again)
    )
    assert run.ret == 0
    assert (again / "report.html").read_text() == (out / "report.html").read_text()
    assert (again / "report.md").read_text() == (out / "report.md").read_text()
    broken = project.path / "broken.json"
    broken.write_text("{")
    run = project.pytester.run(sys.executable, "-m", "pytest_medmodel", "report", str(broken))
    assert run.ret == 2
    run.stdout.fnmatch_lines(["error: */broken.json is not a readable report.json (JSONDecodeError: *"])


def test_an_empty_run_still_writes_a_valid_report(tmp_path: Path) -> None:
    report = build_report(RunSummary(), {}, timings={})
    _validate(json.loads(json.dumps(report)))
    assert "No model ran." in render_markdown(report)
    assert "no suite ran" in render_html(report, plots=False)


CHROMIUM = os.environ.get("MEDMODEL_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("MEDMODEL_ARTIFACTS", Path(__file__).resolve().parents[1] / "build" / "artifacts"))


@pytest.mark.slow
def test_the_report_in_a_real_browser(project: Project) -> None:
    """Chromium (Debian's, driven by Playwright) loads the page with no console errors; every suite's table
    and plot is there and a regressed item is listed. The screenshot is kept as a build artifact."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"no browser at {CHROMIUM}: .ci/run installs Debian's chromium package; set MEDMODEL_CHROMIUM")
        pytest.skip(f"no browser at {CHROMIUM} (apt-get install chromium, or set MEDMODEL_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    _, out = _reported(project)
    report = _load(out)
    problems: list[str] = []
    flags = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=[*flags, "--disable-sync", "--no-first-run"]
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on(
                "console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None
            )
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on(
                "request", lambda r: problems.append(f"request: {r.url}") if not r.url.startswith("file:") else None
            )
            page.goto((out / "report.html").as_uri())
            page.wait_for_load_state("load")
            for index, suite in enumerate(report["suites"]):
                section = page.locator(f"#suite-{index}")
                assert section.get_attribute("data-suite") == suite["name"]
                assert section.locator("table").count() >= 4
                plot = section.locator("figure.reliability svg")
                assert plot.count() == 1 and plot.bounding_box()["width"] > 200, suite["name"]
            regressed = page.locator("#suite-0 h3.regressed-items")
            assert regressed.inner_text() == "Regressed items (right in the baseline, wrong now): 8"
            assert page.get_by_text("[fa-002] Which option is right?").count() == 1
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "report-top.png"))
            page.locator("#suite-0").screenshot(path=str(ARTIFACTS / "report-suite.png"))
        finally:
            browser.close()
    assert problems == []
    assert (ARTIFACTS / "report-suite.png").stat().st_size > 10_000


@pytest.mark.slow
def test_probe_groups_reach_the_report(project: Project) -> None:
    """A paired-probe suite answered "no" throughout: its figures, and the below-chance warning, are in every file."""
    project.paired_probes("pairs", 12)
    always_no = [f"pp-{i:02d}a" for i in range(12)]
    assert project.run("--snapshot-update", flips=always_no).ret == 0
    out = project.path / "out"
    assert project.run(f"--medmodel-report={out}", flips=always_no).ret == 0
    report = _load(out)
    _validate(report)
    groups = report["suites"][0]["groups"]
    assert (groups["groups"], groups["set_accuracy"], groups["confusion"]) == (12, 0.0, 1.0)
    assert groups["below_chance"] == [
        "set accuracy 0.0% < chance 25.0%",
        "confusion 100.0% > chance 50.0%",
        "yes/no F1 0.00 < chance 0.50",
    ]
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "<h3>Probe groups (12 groups)</h3>" in html
    assert "below chance: set accuracy 0.0% &lt; chance 25.0%" in html


def test_figures_are_rounded_once_as_the_terminal_rounds_them() -> None:
    """27 of 110 is 24.545%: the terminal says 24.5%, and so must the reports (4 stored decimals said 24.6%)."""
    from pytest_medmodel.report.summary import SuiteSummary
    from pytest_medmodel.report.terminal import summary_lines
    from pytest_medmodel.stats.paired import PairedStats

    row = SuiteSummary("suites/gm.suite.yaml", "gm", PairedStats(n=110, correct=27, has_baseline=False))
    summary = RunSummary(suites=[row])
    report = json.loads(json.dumps(build_report(summary, {}, timings={})))
    assert "| gm | 110 | 24.5% [17.5%, 33.4%] |" in render_markdown(report)
    assert any("24.5% [17.5%, 33.4%]" in line for line in summary_lines(summary))
    assert '<td class="num">24.5%</td>' in render_html(report, plots=False)


@pytest.mark.slow
def test_any_malformed_report_json_is_one_line_and_writes_nothing(
    project: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A number where a name belongs, a list for a key, a missing part: one ``error:`` line and exit status 2.
    With jsonschema installed every break of the schema is caught; without it, whatever the renderers
    cannot read is still one line."""
    from pytest_medmodel.cli import main

    _, out = _reported(project)
    capsys.readouterr()  # the run's own output
    report = _load(out)
    assert report["suites"][0]["items"] and report["suites"][0]["gates"] and report["errors"] == []
    damages = {
        "suite name 5": lambda r: r["suites"][0].update(name=5),
        "model name 5": lambda r: r["model"].update(name=5),
        "item key a list": lambda r: r["suites"][0]["items"][0].update(key=["fa", 0]),
        "gate message 5": lambda r: r["suites"][0]["gates"][0].update(message=5),
        "errors an object": lambda r: r.update(errors={"a": 1}),
        "suites a string": lambda r: r.update(suites="facts"),
        "accuracy missing": lambda r: r["suites"][0].pop("accuracy"),
        "model a list": lambda r: r.update(model=["oracle"]),
        "not an object": lambda r: r.clear(),
    }
    crash_without_schema = {"gate message 5", "suites a string", "accuracy missing", "model a list", "not an object"}

    def render(name: str, broken: dict[str, Any]) -> tuple[int, list[str], list[str]]:
        folder = project.path / "broken" / name.replace(" ", "-")
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        (folder / "report.json").write_text(json.dumps(broken if broken else []), encoding="utf-8")
        code = main(["report", str(folder / "report.json"), "--no-plots"])
        printed = capsys.readouterr()
        assert printed.err == "", name
        return code, printed.out.splitlines(), sorted(p.name for p in folder.iterdir())

    for name, damage in damages.items():
        broken = json.loads(json.dumps(report))
        damage(broken)
        code, lines, files = render(name, broken)
        assert (code, files) == (2, ["report.json"]), (name, lines)
        assert len(lines) == 1 and "is not a readable report.json (" in lines[0], lines
        assert lines[0].startswith("error: ") and "breaks the report schema at " in lines[0], lines
        with monkeypatch.context() as without:
            without.setitem(sys.modules, "jsonschema", None)  # as if the test extra were not installed
            code, lines, files = render(name, broken)
        if name in crash_without_schema:
            assert (code, files, len(lines)) == (2, ["report.json"], 1), (name, lines)
            assert lines[0].startswith("error: ") and "is not a readable report.json" in lines[0]
        else:  # str() of a number is a name to show: rendered, never a traceback
            assert (code, files) == (0, ["report.html", "report.json", "report.md"]), (name, lines)


def test_junit_properties_leave_out_what_has_no_value(project: Project) -> None:
    """A blind gate detects no drop: its JUnit property is left out, never the text "None"."""
    project.suite("facts", n=40, prefix="fa")
    at_chance = [f"fa-{i:03d}" for i in range(40) if i % 4]  # 10 of 40 right: 25%, chance for four options
    assert project.run("--snapshot-update", flips=at_chance).ret == 0
    junit = project.path / "junit.xml"
    result = project.run(f"--junitxml={junit}", flips=at_chance)
    expect_lines(result, ["facts*40*25.0%*25.0%*+0.0*0/0*1*blind*passed"])
    root = ET.parse(junit).getroot()
    (case,) = [c for c in root.iter("testcase") if c.get("name") == "gate[accuracy]"]
    gate = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert gate["medmodel.suite.accuracy"] == "0.25" and gate["medmodel.regressed"] == "0"
    assert gate["medmodel.suite.baseline_accuracy"] == "0.25" and gate["medmodel.suite.n"] == "40"
    assert "medmodel.detectable_drop" not in gate, "a blind gate detects no drop: nothing to report"
    properties = [(p.get("name"), p.get("value")) for p in root.iter("property")]
    assert len(properties) > len(gate) and [(k, v) for k, v in properties if v in ("None", "nan")] == []


def test_the_html_report_shows_a_suite_metric_as_it_was_registered() -> None:
    from pytest_medmodel.report.html_suite import _metric_row

    assert _metric_row("option_mass", 0.1234) == [
        "metric option mass",
        "12.3% (the probability the scored options hold, on average)",
    ]
    assert _metric_row("n", 110) == ["metric items", "110"]
    # A metric this process does not know (its conftest is not loaded): by name, as written.
    assert _metric_row("team_metric", 0.5) == ["metric team_metric", "0.5"]
