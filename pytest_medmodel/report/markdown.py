"""``report.md``: the report in a few lines of Markdown, fit for a CI job's step summary.

One table (a row per suite: accuracy with its interval, the paired change, the
calibration and every gate's verdict), then what failed and why, then the
regressed items. Rendered from the ``report.json`` document alone.

Every text that comes from outside (the model's name, suite names, item keys,
answers, gate messages, errors) is written literally, through
:func:`~pytest_medmodel.text_safety.markdown_text` or
:func:`~pytest_medmodel.text_safety.markdown_code`: the file is appended to
``$GITHUB_STEP_SUMMARY``, where a model's Markdown would render images, links
and HTML on the run page, and a line break would add a table row.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..text_safety import markdown_code, markdown_text
from .metric_lines import metric_lines

SHOWN_ITEMS = 10
"""Regressed items listed per suite before "(+N more)"."""
MARKS = {"passed": "✅", "failed": "❌", "skipped": "⏭️", "accepted": "☑️"}


def pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def points(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:+.1f}"


def three(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def render_markdown(report: Mapping[str, Any]) -> str:
    suites = report["suites"]
    failed = [(s, g) for s in suites for g in s["gates"] if g["status"] == "failed"]
    verdict = f"❌ {len(failed)} gate(s) failed" if failed else "✅ every gate passed"
    if report["errors"]:
        verdict += f"; {len(report['errors'])} test(s) hit an error"
    lines = [f"## pytest-medmodel: {verdict}", "", _model_line(report), ""]
    lines += _table(suites)
    if failed:
        lines += ["", "### Failed gates", ""]
        lines += [
            f"- **{markdown_text(s['name'])}** {markdown_code(g['gate'])}: "
            f"{markdown_text((g['message'].splitlines() or [''])[0])}"
            for s, g in failed
        ]
    lines += _metrics(suites)
    lines += _regressions(suites)
    lines += _pictured(suites)
    if report["errors"]:
        lines += ["", "### Errors", ""] + [f"- {markdown_text(e)}" for e in report["errors"]]
    lines += ["", timing_line(report["timings"])]
    return "\n".join(lines) + "\n"


def _model_line(report: Mapping[str, Any]) -> str:
    model = report["model"]
    if model is None:
        return "No model ran."
    fingerprint = markdown_code(model["fingerprint"]) if model["fingerprint"] else "none (not fingerprintable)"
    return (
        f"Model **{markdown_text(model['name'])}** (profile {markdown_code(model['profile'])}, "
        f"fingerprint {fingerprint})"
    )


def _table(suites: list[Mapping[str, Any]]) -> list[str]:
    head = (
        "| suite | items | accuracy (95% CI) | baseline | Δ points | regressed / improved | McNemar p "
        "| ECE | Brier | gates |"
    )
    lines = [head, "|---|--:|--:|--:|--:|--:|--:|--:|--:|---|"]
    for s in suites:
        acc, cmp = s["accuracy"], s["comparison"]
        ci = f"{pct(acc['value'])} [{pct(acc['low'])}, {pct(acc['high'])}]" if acc["n"] else "–"
        calib = (s["calibration"] or {}).get("metrics", {})
        gates = gate_cell(s["gates"])
        lines.append(
            f"| {markdown_text(s['name'])} | {acc['n']} | {ci} | {pct(cmp['baseline_accuracy'])} | "
            f"{points(cmp['delta'])} | "
            f"{cmp['regressed']} / {cmp['improved']} | {cmp['p_value']:.3g} | "
            f"{three((calib.get('ece') or {}).get('current'))} | {three((calib.get('brier') or {}).get('current'))} | "
            f"{gates} |"
        )
    return lines


def gate_counts(gates: list[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(status, text): the failed gates by name, then the others counted by status."""
    failed = [g["gate"] for g in gates if g["status"] == "failed"]
    parts = [("failed", f"{', '.join(failed)} failed")] if failed else []
    for status in ("passed", "accepted", "skipped"):
        count = sum(g["status"] == status for g in gates)
        parts += [(status, f"{count} {status}")] if count else []
    return parts


def gate_cell(gates: list[Mapping[str, Any]]) -> str:
    """``❌ accuracy failed ✅ 4 passed``."""
    return " ".join(f"{MARKS[status]} {markdown_text(text)}" for status, text in gate_counts(gates)) or "–"


def _metrics(suites: list[Mapping[str, Any]]) -> list[str]:
    """Each suite's metrics as registered (label, format, note): one bullet per line of them."""
    lines: list[str] = []
    for s in suites:
        for line in metric_lines(s["metrics"], s["accuracy"]["n"]):
            lines.append(f"- **{markdown_text(s['name'])}**: {markdown_text(line)}")
    return ["", "### Suite metrics", "", *lines] if lines else []


def _regressions(suites: list[Mapping[str, Any]]) -> list[str]:
    lines: list[str] = []
    for s in suites:
        lost = [i for i in s["items"] if i["outcome"] == "regressed"]
        if not lost:
            continue
        if not lines:
            lines += ["", "### Regressed items (baseline answer → current)", ""]
        shown = ", ".join(
            f"{markdown_code(i['key'])} {markdown_text(i['baseline']['answer'])}→{markdown_text(i['answer'])}"
            for i in lost[:SHOWN_ITEMS]
        )
        more = f" (+{len(lost) - SHOWN_ITEMS} more)" if len(lost) > SHOWN_ITEMS else ""
        lines.append(f"- **{markdown_text(s['name'])}** ({len(lost)}): {shown}{more}")
    return lines


def _pictured(suites: list[Mapping[str, Any]]) -> list[str]:
    """The items report.html shows with their pictures, by why they are shown."""
    lines: list[str] = []
    for s in suites:
        pictures = s.get("pictures")
        if not pictures or not pictures["items"]:
            continue
        if not lines:
            lines += ["", "### Items shown with their pictures in report.html", ""]
        left = f"; {pictures['left_out']} more left out (picture budget)" if pictures["left_out"] else ""
        lines.append(f"- **{markdown_text(s['name'])}** ({len(pictures['items'])}{left})")
        by_why: dict[str, list[str]] = {}
        for p in pictures["items"]:
            by_why.setdefault(p["why"], []).append(p["key"])
        for why, keys in by_why.items():
            more = f" (+{len(keys) - SHOWN_ITEMS} more)" if len(keys) > SHOWN_ITEMS else ""
            shown = ", ".join(markdown_code(k) for k in keys[:SHOWN_ITEMS])
            lines.append(f"  - {markdown_text(why)} ({len(keys)}): {shown}{more}")
    return lines


def timing_line(timings: Mapping[str, Any]) -> str:
    """The one line that differs between a serial and a distributed run."""
    if not timings:
        return "_timings: not recorded_"
    rate = timings.get("items_per_second")
    speed = f", {rate:g} items/s" if rate else ""
    return (
        f"_timings: model load {timings.get('model_load_seconds', 0):g} s; inference "
        f"{timings.get('inference_seconds', 0):g} s for {timings.get('requests_computed', 0)} computed and "
        f"{timings.get('requests_cached', 0)} cached requests{speed}; written {timings.get('generated_at', '?')}_"
    )
