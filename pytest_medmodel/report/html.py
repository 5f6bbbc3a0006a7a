"""``report.html``: one self-contained page a reviewer opens from a CI artifact.

No scripts, no stylesheets, fonts or images from elsewhere: the style is inline,
the plots are inline SVG (:mod:`.plots`), so the file opens offline, from an
e-mail or an artifact store, exactly as it was written. Rendered from the
``report.json`` document alone; without matplotlib every table is still there
and each plot's place says how to get it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..text_safety import html_text
from .html_parts import num, table
from .html_pictures import search_pictures_section
from .html_suite import suite_section
from .markdown import gate_counts, pct, points, three, timing_line
from .plots import EXTRA, plotting_available

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d0d7de}
h3{font-size:15px;margin:18px 0 6px}
section.suite{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:4px 18px 14px;margin:18px 0}
table{border-collapse:collapse;margin:6px 0 10px;background:#fff}
th,td{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums}
.failed{color:#cf222e;font-weight:600}.passed{color:#1a7f37}.skipped,.muted{color:#656d76}
.accepted{color:#9a6700}.verdict{font-size:16px;margin:6px 0 14px}
.bar{display:inline-block;height:10px;background:#1f6feb;vertical-align:middle;margin-right:6px}
.ci{color:#656d76;font-size:12px}
pre{white-space:pre-wrap;background:#f6f8fa;border:1px solid #d0d7de;padding:6px;margin:4px 0;max-width:760px}
.flex{display:flex;gap:24px;flex-wrap:wrap;align-items:flex-start}figure{margin:0}
figcaption{font-size:12px;color:#656d76}.note{background:#fff8c5;border:1px solid #d4a72c;padding:6px 10px}
code{font-size:12px}details{margin:6px 0}footer{color:#656d76;font-size:12px;margin-top:24px}
"""


def render_html(report: Mapping[str, Any], plots: bool | None = None) -> str:
    """The page; ``plots`` None: draw them when matplotlib is installed."""
    draw = plotting_available() if plots is None else plots
    suites = report["suites"]
    failed = sum(g["status"] == "failed" for s in suites for g in s["gates"])
    verdict = (
        f'<span class="failed">{failed} gate(s) failed</span>'
        if failed
        else ('<span class="passed">every gate passed</span>' if suites else '<span class="muted">no suite ran</span>')
    )
    body = [
        "<h1>pytest-medmodel report</h1>",
        f'<p class="verdict">{verdict}{_errors_count(report)}</p>',
        _model(report),
        "" if draw or not suites else f'<p class="note">The plots need matplotlib: <code>{html_text(EXTRA)}</code></p>',
        _overview(suites),
        *(suite_section(s, draw, i) for i, s in enumerate(suites)),
        _mutations(report["mutations"]),
        _lines("Search: smallest changes that flip a right answer", report["search"]),
        search_pictures_section(report.get("search_pictures")),
        _lines("Errors", report["errors"]),
        _lines("Baseline updates and notes", report["updates"]),
        _versions(report["versions"]),
        f'<footer class="timings">{html_text(timing_line(report["timings"]).strip("_"))}</footer>',
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>pytest-medmodel report{': ' + str(failed) + ' gate(s) failed' if failed else ''}</title>\n"
        f"<style>{STYLE}</style>\n</head>\n<body>\n<main>\n"
        + "\n".join(b for b in body if b)
        + "\n</main>\n</body>\n</html>\n"
    )


def _errors_count(report: Mapping[str, Any]) -> str:
    n = len(report["errors"])
    return f'; <span class="failed">{n} test(s) hit an error</span>' if n else ""


def _model(report: Mapping[str, Any]) -> str:
    model = report["model"]
    if model is None:
        return '<p class="muted">No model ran.</p>'
    rows = [
        ("model", model["name"]),
        ("profile", model["profile"]),
        ("fingerprint", model["fingerprint"] or "none (not fingerprintable: cross-run caching off)"),
        ("description", model["description"]),
    ]
    return table(["", ""], [[f"<b>{html_text(k)}</b>", f"<code>{html_text(v)}</code>"] for k, v in rows], header=False)


def _overview(suites: list[Mapping[str, Any]]) -> str:
    if not suites:
        return ""
    head = [
        "suite",
        "items",
        "accuracy",
        "95% CI",
        "baseline",
        "Δ points",
        "regr / impr",
        "McNemar p",
        "ECE",
        "Brier",
        "gates",
    ]
    rows = []
    for i, s in enumerate(suites):
        acc, cmp = s["accuracy"], s["comparison"]
        calib = (s["calibration"] or {}).get("metrics", {})
        rows.append(
            [
                f'<a href="#suite-{i}">{html_text(s["name"])}</a>',
                num(acc["n"]),
                num(pct(acc["value"])),
                num(f"{pct(acc['low'])} – {pct(acc['high'])}" if acc["n"] else "–"),
                num(pct(cmp["baseline_accuracy"])),
                num(points(cmp["delta"])),
                num(f"{cmp['regressed']} / {cmp['improved']}"),
                num(f"{cmp['p_value']:.3g}"),
                num(three((calib.get("ece") or {}).get("current"))),
                num(three((calib.get("brier") or {}).get("current"))),
                " ".join(f'<span class="{st}">{html_text(text)}</span>' for st, text in gate_counts(s["gates"])) or "–",
            ]
        )
    return "<h2>Suites</h2>\n" + table(head, rows)


VERDICT_CLASS = {"missed": "failed", "caught": "passed"}
"""A mutation a gate missed is the problem the table exists to show."""


def _mutations(rows: list[Mapping[str, Any]]) -> str:
    if not rows:
        return ""
    body = [
        [
            html_text(r["mutation"]),
            html_text(r["suite"]),
            html_text(r["gate"]),
            f'<span class="{VERDICT_CLASS.get(r["verdict"], "muted")}">{html_text(r["verdict"])}</span>',
            num(points(r.get("delta"))),
            html_text(r.get("message", "").splitlines()[0] if r.get("message") else ""),
        ]
        for r in rows
    ]
    intro = '<p class="muted">caught: the gate failed on the damaged model, as it should; missed: it passed it.</p>'
    return (
        "<h2>Mutation report</h2>\n"
        + intro
        + table(["mutation", "suite", "gate", "verdict", "Δ points", "gate says"], body)
    )


def _lines(title: str, lines: list[str]) -> str:
    if not lines:
        return ""
    return f"<h2>{html_text(title)}</h2>\n<ul>" + "".join(f"<li>{html_text(line)}</li>" for line in lines) + "</ul>"


def _versions(versions: Mapping[str, str | None]) -> str:
    rows = [[html_text(k), html_text(v or "not installed")] for k, v in versions.items()]
    return "<h2>Versions</h2>\n" + table(["library", "version"], rows)
