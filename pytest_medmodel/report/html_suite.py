"""One suite's section of ``report.html``: figures, gates, calibration and its plot, tags, robustness,
probe groups, and the items that changed, with their prompts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..metrics.base import METRICS
from ..text_safety import html_text
from .html_parts import num, status, table
from .html_pictures import pictures_section
from .markdown import pct, points, three
from .plots import EXTRA, reliability_svg, robustness_svg

CALIBRATION_ORDER = (
    "ece",
    "ece_width",
    "mce",
    "brier",
    "selective_accuracy",
    "aurc",
    "auroc",
    "ece_scaled",
    "ece_baseline_t",
)
"""How the calibration table lists metrics (report.json keeps them sorted by name); others follow."""
SHOWN_ITEMS = 50
"""Regressed or improved items shown in full (prompt and answers) per suite."""


def suite_section(s: Mapping[str, Any], draw: bool, index: int) -> str:
    acc, cmp = s["accuracy"], s["comparison"]
    facts = [
        [
            "accuracy",
            f"{pct(acc['value'])} ({acc['correct']} of {acc['n']}), 95% CI {pct(acc['low'])} – {pct(acc['high'])}",
        ],
        [
            "baseline (paired items)",
            f"{pct(cmp['baseline_accuracy'])} on {cmp['paired']} paired items"
            if cmp["paired"]
            else "no baseline to compare with",
        ],
        [
            "change",
            f"{points(cmp['delta'])} points; {cmp['regressed']} regressed, {cmp['improved']} improved; "
            f"one-sided McNemar p = {cmp['p_value']:.3g}",
        ],
        [
            "accuracy gate detects",
            f"drops of {pct(s['detectable_drop'])} or more (80% power)"
            if s["detectable_drop"] is not None
            else "no drop (see below)",
        ],
        ["scoring", s["scoring"] or "–"],
        ["suite fingerprint", s["fingerprint"] or "–"],
        ["baseline", _baseline(s["baseline"])],
    ]
    facts += [_metric_row(k, v) for k, v in s["metrics"].items()]
    parts = [
        f'<section class="suite" id="suite-{index}" data-suite="{html_text(s["name"])}">',
        f'<h2>{html_text(s["name"])} <span class="muted">{html_text(s["key"])}</span></h2>',
        table(["", ""], [[html_text(k), html_text(v)] for k, v in facts], header=False),
        f'<p class="note">{html_text(s["blind"])}</p>' if s["blind"] else "",
        *(f'<p class="note">{html_text(w)}</p>' for w in cmp["warnings"]),
        _gates(s["gates"]),
        _calibration(s, draw, index),
        _tags(s["by_tag"]),
        _robustness(s["robustness"], draw, index),
        _groups(s["groups"]),
        _changed(s["items"], "regressed", "Regressed items (right in the baseline, wrong now)"),
        _changed(s["items"], "improved", "Improved items (wrong in the baseline, right now)"),
        pictures_section(s, index),
        _all_items(s["items"]),
        "</section>",
    ]
    return "\n".join(p for p in parts if p)


def _baseline(b: Mapping[str, Any] | None) -> str:
    if b is None:
        return "–"
    if not b["exists"]:
        return f"{b['path']} (none yet: record it with --snapshot-update)"
    return f"{b['path']} (model {b['model_fingerprint'] or '–'}, suite {b['suite_fingerprint'] or '–'})"


def _gates(gates: list[Mapping[str, Any]]) -> str:
    if not gates:
        return ""
    rows = [
        [
            f"<code>{html_text(g['gate'])}</code>",
            status(g["status"]),
            f"<pre>{html_text(g['message'])}</pre>" if g["message"] else "",
            html_text(", ".join(f"{k} {v}" for k, v in g["numbers"].items())),
        ]
        for g in gates
    ]
    return "<h3>Gates</h3>\n" + table(["gate", "verdict", "says", "numbers"], rows)


def _calibration(s: Mapping[str, Any], draw: bool, index: int) -> str:
    c = s["calibration"]
    if not c:
        return ""
    rows = []
    order = {name: i for i, name in enumerate(CALIBRATION_ORDER)}
    for name, m in sorted(c["metrics"].items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])):
        low, high = m["interval"]
        delta = (
            "–"
            if m.get("delta") is None
            else f"{m['delta']:+.3f} [{three(m['delta_interval'][0])}, {three(m['delta_interval'][1])}]"
        )
        rows.append(
            [
                f"<code>{html_text(name)}</code>",
                num(f"{three(m['current'])} [{three(low)}, {three(high)}]"),
                num(three(m.get("baseline"))),
                num(delta),
            ]
        )
    scaled = f"fitted temperature {c['temperature']:g}" + (
        f" (baseline {c['baseline_temperature']:g})" if c["baseline_temperature"] is not None else ""
    )
    paired = ", paired with the baseline" if c["paired"] else ""
    intro = (
        f'<p class="muted">{c["n"]} items, {c["bins"]} equal-mass bins, 95% bootstrap intervals{paired}; {scaled}.</p>'
    )
    warning = f'<p class="note">{html_text(c["warning"])}</p>' if c["warning"] else ""
    tab = table(["metric", "this run [95% CI]", "baseline", "change [95% CI]"], rows)
    if draw:
        svg = reliability_svg(c["reliability"]["current"], c["reliability"]["baseline"], prefix=f"s{index}")
        caption = f"<figcaption>Reliability diagram: {html_text(s['name'])}</figcaption>"
        plot = f'<figure class="plot reliability">{svg}{caption}</figure>'
    else:
        plot = (
            f'<p class="note plot-missing">Reliability diagram: needs matplotlib (<code>{html_text(EXTRA)}</code>).</p>'
        )
    return f'<h3>Calibration</h3>\n{intro}{warning}<div class="flex"><div>{tab}</div>{plot}</div>'


def _tags(by_tag: list[Mapping[str, Any]]) -> str:
    if not by_tag:
        return ""
    rows = [
        [
            html_text(t["tag"]),
            num(t["n"]),
            f'<td><span class="bar" style="width:{round((t["accuracy"] or 0) * 120)}px"></span>'
            f"{pct(t['accuracy'])}</td>",
            num(f"{pct(t['low'])} – {pct(t['high'])}"),
        ]
        for t in by_tag
    ]
    return "<h3>Accuracy by tag</h3>\n" + table(["tag", "items", "accuracy", "95% CI"], rows)


def _robustness(rows: list[Mapping[str, Any]], draw: bool, index: int) -> str:
    if not rows:
        return ""
    body = [
        [
            f"<code>{html_text(r['family'])}</code>" + (" (ablation)" if r.get("ablation") else ""),
            num(r["n"]),
            num(pct(r.get("original_accuracy"))),
            num(pct(r.get("accuracy"))),
            num(pct(r.get("baseline_accuracy"))),
            num(pct(r.get("consistency"))),
            num(pct(r.get("worst_case"))),
            num(three(r.get("robustness"))),
        ]
        for r in rows
    ]
    head = ["perturbation", "items", "original acc", "perturbed acc", "baseline", "consistency", "worst case"]
    tab = table([*head, "robustness"], body)
    if not draw:
        return "<h3>Robustness</h3>\n" + tab
    svg = robustness_svg(rows, prefix=f"r{index}")
    plot = f'<figure class="plot robustness">{svg}<figcaption>Accuracy under each change</figcaption></figure>'
    return f'<h3>Robustness</h3>\n<div class="flex"><div>{tab}</div>{plot}</div>'


def _groups(g: Mapping[str, Any] | None) -> str:
    if not g:
        return ""
    rows = [
        ["set accuracy (every probe of a group right)", num(pct(g["set_accuracy"])), num(pct(g["set_chance"]))],
        ["confusion", num(pct(g.get("confusion"))), num(pct(g.get("confusion_chance")))],
        ["yes/no F1", num(three(g.get("f1"))), num(three(g.get("f1_chance")))],
        ["yes-ratio (the model's answers)", num(pct(g.get("yes_ratio"))), num(_half_if(g.get("yes_ratio")))],
        ["precision of yes", num(pct(g.get("precision"))), num(pct(g.get("prevalence")))],
        ["recall of yes", num(pct(g.get("recall"))), num(_half_if(g.get("recall")))],
    ]
    below = "".join(f'<p class="note">below chance: {html_text(b)}</p>' for b in g.get("below_chance") or [])
    return f"<h3>Probe groups ({g['groups']} groups)</h3>\n" + table(["figure", "this run", "chance"], rows) + below


def _half_if(figure: float | None) -> str:
    """Random yes/no answers' level (50%) beside a figure that exists."""
    return pct(None if figure is None else 0.5)


def _changed(items: list[Mapping[str, Any]], outcome: str, title: str) -> str:
    mine = [i for i in items if i["outcome"] == outcome]
    if not mine:
        return ""
    rows = [
        [
            f"<code>{html_text(i['key'])}</code>",
            f"<pre>{html_text(i['prompt'])}</pre>"
            if i["prompt"]
            else '<span class="muted">(prompt not available)</span>',
            _then(i["baseline"]),
            _answer(i),
            html_text(i["expected"]),
        ]
        for i in mine[:SHOWN_ITEMS]
    ]
    more = f'<p class="muted">+{len(mine) - SHOWN_ITEMS} more in report.json</p>' if len(mine) > SHOWN_ITEMS else ""
    head = ["item", "prompt", "baseline answer (confidence)", "answer now (confidence)", "key"]
    return f'<h3 class="{outcome}-items">{html_text(title)}: {len(mine)}</h3>\n' + table(head, rows) + more


def _then(then: Mapping[str, Any] | None) -> str:
    """The baseline's answer with its confidence; its generated text below it."""
    if then is None:
        return "–"
    text = f"<pre>{html_text(then['text'])}</pre>" if then.get("text") else ""
    return html_text(f"{then['answer']} ({three(then['confidence'])})") + text


def _answer(item: Mapping[str, Any]) -> str:
    """The answer now with its confidence, red when wrong; a generated text below it."""
    shown = html_text(f"{item['answer']} ({three(item['confidence'])})")
    text = f"<pre>{html_text(item['text'])}</pre>" if item.get("text") else ""
    return f'<span class="{"passed" if item["correct"] else "failed"}">{shown}</span>{text}'


def _all_items(items: list[Mapping[str, Any]]) -> str:
    if not items:
        return ""
    rows = [
        [
            f"<code>{html_text(i['key'])}</code>",
            html_text(i["answer"]),
            html_text(i["expected"]),
            html_text(three(i["confidence"])),
            html_text(i["baseline"]["answer"] if i["baseline"] else "–"),
            html_text(i["outcome"] or "–"),
        ]
        for i in items
    ]
    head = ["item", "answer", "key", "confidence", "baseline answer", "outcome"]
    return f"<details><summary>Every item ({len(items)})</summary>\n" + table(head, rows) + "</details>"


def _metric_row(name: str, value: Any) -> list[str]:
    """A suite metric as registered (its label, format and note); by name and as written when this process does
    not know it (a report re-rendered without the conftest that registered it)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and name in METRICS:
        entry = METRICS.get(name)
        return [f"metric {entry.label}", entry.shown(value) + (f" ({entry.note})" if entry.note else "")]
    return [f"metric {name}", str(value)]
