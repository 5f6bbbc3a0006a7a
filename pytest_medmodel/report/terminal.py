"""The terminal summary: one row per suite, what needs a look, what the run did and wrote, and what to do next.

A healthy run ends short: the table, the warnings, and one line that says what
to do next. Each suite's detail lines (metrics beside accuracy, accuracy by tag,
calibration with intervals, robustness, probe groups) are shown with ``-v``, and
always for a suite with a failed (or accepted) gate, where they explain it. Lines
longer than :data:`WIDTH` are folded, never cut: every number stays.
"""

from __future__ import annotations

import textwrap
from typing import Any

from ..stats.significance import wilson_interval
from .metric_lines import metric_lines
from .summary import RunSummary, SuiteSummary

LOW_OPTION_MASS = 0.5
"""Below this mean probability on the scored options, accuracy says more about the
prompt format than about medical knowledge."""
WIDTH = 120
"""Lines longer than this are folded (the table is not)."""
LOW_MASS_HINT = "the model rarely answers in the scored form, check the prompt's labels and answer_prefix"

HEADER = ("suite", "n", "accuracy [95% CI]", "baseline", "delta", "regr/impr", "p", "detects", "ECE", "Brier", "gate")
"""``detects``: the smallest true accuracy drop (points) the accuracy gate catches with 80% power.
``ECE`` (equal-mass bins) and ``Brier``: calibration of this run ("-" without probabilities)."""


def summary_lines(summary: RunSummary, *, detail: bool = False, update: bool = False) -> list[str]:
    """The lines under ``medmodel summary`` (none when nothing ran).

    ``detail``: every suite's detail lines (``-v``); ``update``: the run was ``--snapshot-update``.
    """
    if not summary.suites and not summary.updates and not summary.errors:
        return []
    notes: list[str] = []
    for suite in summary.suites:
        notes.extend(_suite_notes(suite) if detail or _needs_look(suite) else _warnings(suite))
    brief = [s for s in summary.suites if not detail and not _needs_look(s)]
    notes.extend(_grouped_warnings(brief))
    if summary.model is not None and summary.suites and all(s.answered_by for s in summary.suites):
        notes.append(f"model: {summary.model.name} (not used: every suite here has images)")
    elif summary.model is not None:
        notes.append(f"model: {summary.model.description}; profile {summary.model.profile}")
    for other in {s.answered_by.profile: s.answered_by for s in summary.suites if s.answered_by}.values():
        names = ", ".join(s.name for s in summary.suites if s.answered_by == other)
        notes.append(f"model for images: {other.description}; profile {other.profile} (suites {names})")
    if summary.inference.shards_computed or summary.inference.requests_cached:
        notes.append(_inference_line(summary))
    ending = []
    if brief and any(_has_details(s) for s in brief):
        ending.append("details: -v adds each suite's metrics, tags, calibration and robustness lines")
    step = next_step(summary, update)
    ending.extend([step] if step else [])
    folded = [part for line in notes for part in fold(line)]
    return _table(summary.suites) + folded + summary.updates + ending  # an update line names a file: kept whole


def fold(line: str, width: int = WIDTH) -> list[str]:
    """``line`` as lines of at most ``width`` characters (broken at spaces, continued indented); nothing is cut."""
    if len(line) <= width:
        return [line]
    return textwrap.wrap(line, width, subsequent_indent="    ", break_long_words=False, break_on_hyphens=False)


def next_step(summary: RunSummary, update: bool) -> str | None:
    """One line that says what to do after this run."""
    if not summary.suites:
        return None
    if summary.errors:
        return "next: fix the error above (each test that hit one says why), then run again"
    if not update and any(not s.stats.has_baseline for s in summary.suites):
        return (
            "next: record this model's answers as baselines with --snapshot-update and commit them; "
            "later runs gate against them"
        )
    if any(g.status == "failed" for s in summary.suites for g in s.gates):
        return (
            "next: each failed gate says why above; an intended change is recorded with --snapshot-update (commit it)"
        )
    if update:
        return "next: commit the baseline files written above; runs without --snapshot-update now gate against them"
    if summary.model is not None and summary.model.profile == "demo":
        own = "--medmodel=path/to/checkpoint --snapshot-update"
        return f"next: gate your own model with {own} (README: Testing your own model)"
    return "next: see which damage these suites would catch with --medmodel-mutation-report (README: Mutation testing)"


def _table(suites: list[SuiteSummary]) -> list[str]:
    if not suites:
        return []
    rows = [HEADER]
    for suite in suites:
        s = suite.stats
        low, high = wilson_interval(s.correct, s.n) if s.n else (0.0, 1.0)
        accuracy = f"{_pct(s.accuracy)} [{_pct(low)}, {_pct(high)}]" if s.n else "n/a"
        if s.paired:
            baseline, delta = _pct(s.baseline_accuracy), f"{(s.delta or 0.0) * 100:+.1f}"
            flips, p = f"{s.regressed}/{s.improved}", f"{s.p_value:.3g}"
        else:
            baseline = "none" if not s.has_baseline else "no overlap"
            delta = flips = p = "-"
        detects = (
            "blind" if suite.blind else "-" if suite.detectable_drop is None else f"{suite.detectable_drop * 100:.1f}"
        )
        ece, brier = (_calibration_cell(suite, name) for name in ("ece", "brier"))
        rows.append((suite.name, str(s.n), accuracy, baseline, delta, flips, p, detects, ece, brier, _gates(suite)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]


def _calibration_cell(suite: SuiteSummary, name: str) -> str:
    metric = (suite.calibration or {}).get("metrics", {}).get(name)
    return "-" if not metric or metric.get("current") is None else f"{metric['current']:.3f}"


def _calibration_lines(name: str, c: dict[str, Any]) -> list[str]:
    """One line of every calibration metric with its interval, and the paired changes when any moved."""
    from ..calibration.compare import SPECS  # numpy: only for a suite that has calibration figures

    settings = {
        "bins": c["bins"],
        "temperature": _temperature(c["temperature"]),
        "baseline_temperature": _temperature(c.get("baseline_temperature") or 1.0),
    }
    parts, changes, moved = [], [], False
    for key, spec in SPECS.items():
        m = c["metrics"].get(key)
        if not m or m.get("current") is None:
            continue
        low, high = m["interval"]
        parts.append(f"{spec.title(settings)} {m['current']:.3f} [{_num(low)}, {_num(high)}]")
        if m.get("delta") is not None:
            dlow, dhigh = m["delta_interval"]
            changes.append(f"{spec.change_name} {_signed(m['delta'])} [{_signed(dlow)}, {_signed(dhigh)}]")
            moved = moved or round(m["delta"], 3) != 0
    lines = [f"{name}: calibration on {c['n']} items (95% bootstrap intervals): " + ", ".join(parts)]
    if moved:  # an unchanged model's all-zero changes would only be noise
        lines.append(f"{name}: calibration change against the baseline (paired by item): " + ", ".join(changes))
    if c.get("warning"):
        lines.append(f"{name}: {c['warning']}")
    return lines


def _temperature(t: float) -> str:
    return "T at its bound 20: no confidence is warranted" if t >= 19.99 else f"T {t:.2f}"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _signed(value: float | None) -> str:
    return "n/a" if value is None else f"{round(value, 3) + 0.0:+.3f}"  # no "-0.000"


def _gates(suite: SuiteSummary) -> str:
    """One gate: its status. Several: how many passed, and the others by name (they need a look)."""
    if not suite.gates:
        return "not run"
    if len(suite.gates) == 1:
        return suite.gates[0].status
    passed = sum(g.status == "passed" for g in suite.gates)
    others: dict[str, list[str]] = {}
    for g in suite.gates:
        if g.status != "passed":
            others.setdefault(g.status, []).append(g.gate)
    parts = [f"{len(names)} {status} ({', '.join(names)})" for status, names in others.items()]
    return ", ".join([*parts, f"{passed} passed"] if passed else parts)


def _needs_look(suite: SuiteSummary) -> bool:
    """A suite whose detail lines explain a gate that failed (or a failure an update accepted)."""
    return any(g.status in ("failed", "accepted") for g in suite.gates)


def _has_details(suite: SuiteSummary) -> bool:
    return bool(suite.metrics or suite.by_tag or suite.calibration or suite.groups or suite.robustness)


def _suite_notes(suite: SuiteSummary) -> list[str]:
    """Every line about one suite: its details and its warnings."""
    lines = [f"{suite.name}: {line}" for line in metric_lines(suite.metrics, suite.stats.n)]
    mass = suite.metrics.get("option_mass")
    if mass is not None and mass < LOW_OPTION_MASS:
        lines.append(f"{suite.name}: low option mass: {LOW_MASS_HINT}")
    lines.extend(_nothing_gated(suite))
    if suite.by_tag:
        tags = ", ".join(f"{tag} {_pct(c / n)} ({n})" for tag, (c, n) in suite.by_tag.items())
        lines.append(f"{suite.name}: accuracy by tag (items): {tags}")
    lines.extend(_too_small_tags(suite))
    if suite.blind:
        lines.append(f"{suite.name}: {suite.blind}")
    lines.extend(_levels_line(suite))
    if suite.calibration:
        lines.extend(_calibration_lines(suite.name, suite.calibration))
    if suite.groups:
        lines.extend(_group_lines(suite.name, suite.groups))
    for r in suite.robustness:
        robust = "n/a" if r["robustness"] is None else f"{r['robustness']:.2f}"
        lines.append(
            f"{suite.name}: under {r['family']}: accuracy {_pct(r['accuracy'])} (original "
            f"{_pct(r['original_accuracy'])}), consistency {_pct(r['consistency'])}, worst case "
            f"{_pct(r['worst_case'])}, robustness {robust} (chance {_pct(r['chance'])}, {r['n']} items)"
        )
    return lines + _changes(suite)


def _levels_line(suite: SuiteSummary) -> list[str]:
    """The level each statistical gate was tested at (the suite's alpha shared through Holm)."""
    levels = [(g.gate, g.numbers.get("level")) for g in suite.gates if g.numbers.get("level") is not None]
    if not levels:
        return []
    shown = ", ".join(f"{gate} {level:.2g}" for gate, level in levels)
    return [f"{suite.name}: levels the gates were tested at (the suite's alpha shared through Holm): {shown}"]


def _warnings(suite: SuiteSummary) -> list[str]:
    """What needs a look even in a healthy run (blind gates and low option mass are grouped after all suites)."""
    lines = _unread_line(suite) + _nothing_gated(suite)
    below = (suite.groups or {}).get("below_chance") or []
    lines += [f"{suite.name}: BELOW CHANCE: {what}" for what in below]
    warning = (suite.calibration or {}).get("warning")
    lines += [f"{suite.name}: {warning}"] if warning else []
    return lines + _too_small_tags(suite) + _changes(suite)


def _too_small_tags(suite: SuiteSummary) -> list[str]:
    """The tags ``gate[accuracy_by_tag]`` could not gate, said in every run (a healthy one too)."""
    small = next((g.numbers.get("too_small") for g in suite.gates if g.gate == "accuracy_by_tag"), None)
    return [f"{suite.name}: tags too small to gate (gate[accuracy_by_tag], items paired): {small}"] if small else []


def _grouped_warnings(suites: list[SuiteSummary]) -> list[str]:
    """Blind gates and low option mass, one line each for all these suites."""
    lines = []
    blind = [s.name for s in suites if s.blind]
    if blind:
        lines.append(
            "blind gates (they cannot catch a damaged model: a baseline at chance, or too few items; -v says which): "
            + ", ".join(blind)
        )
    low = [
        f"{s.name} {_pct(s.metrics['option_mass'])}"
        for s in suites
        if s.metrics.get("option_mass") is not None and s.metrics["option_mass"] < LOW_OPTION_MASS
    ]
    if low:
        lines.append(f"low option mass (probability on the scored options): {', '.join(low)}: {LOW_MASS_HINT}")
    return lines


def _unread_line(suite: SuiteSummary) -> list[str]:
    if suite.metrics.get("invalid") is None:
        return []
    unread = round(suite.metrics["invalid"] * suite.stats.n)
    if not unread:
        return []
    return [
        f"{suite.name}: generated answers: {unread} of {suite.stats.n} could not be read out of the text "
        "(invalid, counted wrong)"
    ]


def _nothing_gated(suite: SuiteSummary) -> list[str]:
    if suite.gates or not suite.stats.n:
        return []
    return [
        f"{suite.name}: warning: {suite.stats.n} item(s) ran but no gate of this suite did, so nothing was "
        "gated; an expression deselected gate[...] (e.g. -m 'not medmodel_gate')"
    ]


def _changes(suite: SuiteSummary) -> list[str]:
    """The items that regressed or improved, and the comparison's warnings."""
    lines = []
    for kind, ids, count in (
        ("regressed", suite.stats.regressed_ids, suite.stats.regressed),
        ("improved", suite.stats.improved_ids, suite.stats.improved),
    ):
        if ids:
            more = f" (+{count - len(ids)} more)" if count > len(ids) else ""
            lines.append(f"{suite.name}: {kind} (baseline->current): {', '.join(ids)}{more}")
    return lines + [f"{suite.name}: {warning}" for warning in suite.stats.warnings]


def _group_lines(name: str, g: dict[str, Any]) -> list[str]:
    line = f"{name}: probe groups: set accuracy {_pct(g['set_accuracy'])} "
    line += f"(chance {_pct(g['set_chance'])}, {g['groups']} groups)"
    if g.get("confusion") is not None:
        line += f", confusion {_pct(g['confusion'])} (chance {_pct(g['confusion_chance'])})"
    if g.get("yes_ratio") is not None:
        line += f", yes-ratio {_pct(g['yes_ratio'])}"
    if g.get("f1") is not None:
        line += f", F1 {g['f1']:.2f} (chance {g['f1_chance']:.2f})"
    if g.get("precision") is not None and g.get("prevalence") is not None:
        line += f", precision {_pct(g['precision'])} (chance {_pct(g['prevalence'])})"
    if g.get("recall") is not None:
        line += f", recall {_pct(g['recall'])} (chance 50.0%)"
    if g.get("invalid"):
        line += f", {g['invalid']} invalid answer(s)"
    return [line] + [f"{name}: BELOW CHANCE: {what}" for what in g.get("below_chance") or []]


def _inference_line(summary: RunSummary) -> str:
    stats = summary.inference
    computed = stats.requests_computed
    wall = stats.wall_seconds
    rate = f" ({computed / wall:.1f} items/s)" if computed and wall > 0 else ""
    line = (
        f"inference: {stats.shards_computed} shard(s), {computed} item(s) computed in {wall:.1f} s{rate}; "
        f"{stats.requests_cached} read from the prediction cache"
    )
    if summary.model_seconds >= 0.1:
        line += f"; model load {summary.model_seconds:.1f} s"
    if stats.oom_backoffs:
        line += f"; {stats.oom_backoffs} out-of-memory back-off(s)"
    return line


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"
