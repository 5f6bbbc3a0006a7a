"""Before and after, side by side: two ``bench_gate_audit.py`` result files as one markdown table.

    python benchmarks/gate_audit_compare.py benchmarks/results/gate-audit-before.json \\
        benchmarks/results/gate-audit-after.json

One row per (suite kind and size, scenario, gate), plus ``any gate`` (the suite failed): the
failure rate with its 95% Wilson interval and the count, in each file where the cell was run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _cells(path: Path) -> dict[tuple[str, int], dict[str, Any]]:
    data = json.loads(path.read_text())
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for cell in data["cells"]:  # a kind and size may come in several cells (scenario batches): merge
        out.setdefault((cell["kind"], cell["items"]), {}).update(cell["scenarios"])
    return out


def _rate(entry: dict[str, Any] | None) -> str:
    if not entry or not entry.get("n"):
        return ""
    low, high = entry["ci95"]
    return f"{entry['rate'] * 100:.1f}% [{low * 100:.1f}, {high * 100:.1f}] ({entry['failed']}/{entry['n']})"


def table(before: Path, after: Path) -> str:
    old, new = _cells(before), _cells(after)
    rows = ["| suite | scenario | gate | before | after |", "|---|---|---|---|---|"]
    for key in sorted(set(old) | set(new), key=lambda k: (k[0], k[1])):
        scenarios = list(dict.fromkeys([*old.get(key, {}), *new.get(key, {})]))
        for scenario in scenarios:
            then, now = old.get(key, {}).get(scenario, {}), new.get(key, {}).get(scenario, {})
            gates = list(dict.fromkeys([*then.get("gates", {}), *now.get("gates", {})]))
            for gate in [*gates, "any gate"]:
                a = then.get("any_gate") if gate == "any gate" else then.get("gates", {}).get(gate)
                b = now.get("any_gate") if gate == "any gate" else now.get("gates", {}).get(gate)
                if not any(e and e.get("failed") for e in (a, b)) and gate != "any gate":
                    continue  # a gate that never failed in either file: the "any gate" row covers it
                rows.append(f"| {key[0]}@{key[1]} | {scenario} | {gate} | {_rate(a)} | {_rate(b)} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(table(Path(sys.argv[1]), Path(sys.argv[2])))
