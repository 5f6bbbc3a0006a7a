"""The terminal summary: one row per suite, then what the run did and wrote."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .stats import wilson_interval

if TYPE_CHECKING:
    from .session import MedModelSession


LOW_OPTION_MASS = 0.5
"""Below this mean probability on the scored options, accuracy says more about the
prompt format than about medical knowledge."""


def summary_lines(session: MedModelSession) -> list[str]:
    rows = session.comparisons()
    if not rows and not session.update_outcomes and not session.errors:
        return []
    lines: list[str] = []
    table = [("suite", "n", "accuracy [95% CI]", "baseline", "delta", "regr/impr", "p", "gate")]
    for _, c, status in rows:
        low, high = wilson_interval(c.correct, c.n) if c.n else (0.0, 1.0)
        accuracy = f"{_pct(c.accuracy)} [{_pct(low)}, {_pct(high)}]" if c.n else "n/a"
        if c.paired:
            baseline = _pct(c.baseline_accuracy)
            delta = f"{(c.delta or 0.0) * 100:+.1f}"
            flips = f"{len(c.regressed)}/{len(c.improved)}"
            p = f"{c.p_value:.3g}"
        else:
            baseline = "none" if not c.has_baseline else "no overlap"
            delta = flips = p = "-"
        table.append((c.suite, str(c.n), accuracy, baseline, delta, flips, p, status))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table if rows else []:
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    for suite_key, c, _ in rows:
        records = session.records.get(suite_key, {})
        if records and all("acc_norm" in r for r in records.values()):
            acc = sum(1 for r in records.values() if r["acc"]) / len(records)
            norm = sum(1 for r in records.values() if r["acc_norm"]) / len(records)
            lines.append(f"{c.suite}: acc {_pct(acc)}, acc_norm {_pct(norm)} on {len(records)} items (lm-evaluation-harness definitions)")
        masses = list(session.option_mass.get(suite_key, {}).values())
        if masses:
            mean = sum(masses) / len(masses)
            hint = "; low: the model rarely answers in the scored form, check the prompt's labels and answer_prefix" if mean < LOW_OPTION_MASS else ""
            lines.append(f"{c.suite}: the scored options hold {_pct(mean)} of the model's probability on average{hint}")
        for warning in c.warnings:
            lines.append(f"{c.suite}: {warning}")
    model = session.reporting_model()
    if model:
        lines.append(f"model: {model['description']}; profile {model['profile']}")
    stats: dict[str, Any] = session.stats
    if stats:
        computed = int(stats.get("requests_computed", 0))
        seconds = float(stats.get("seconds", 0.0))
        rate = f" ({computed / seconds:.1f} items/s)" if computed and seconds > 0 else ""
        line = (
            f"inference: {stats.get('shards_computed', 0)} shard(s), {computed} item(s) computed in {seconds:.1f} s{rate}; "
            f"{stats.get('requests_cached', 0)} read from the prediction cache"
        )
        if session.model_seconds >= 0.1:
            line += f"; model load {session.model_seconds:.1f} s"
        if stats.get("oom_backoffs"):
            line += f"; {stats['oom_backoffs']} out-of-memory back-off(s)"
        lines.append(line)
    lines.extend(session.update_outcomes)
    return lines


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"
