"""Before and after, side by side: ``bench_gate_audit.py`` result files as one markdown table.

    python benchmarks/gate_audit_compare.py --before benchmarks/results/gate-audit-before.json \\
        --after benchmarks/results/gate-audit-after.json benchmarks/results/gate-audit-after-more.json

One row per (suite kind and size, scenario, gate), plus ``any gate`` (the suite failed): the
failure rate with its 95% Wilson interval and the count. Files on one side are pooled (their
replicates must differ: ``--first-replicate``); a gate that never failed on either side is left
to the ``any gate`` row.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pytest_medmodel.stats.significance import wilson_interval  # noqa: E402

Counts = dict[tuple[str, int, str, str], list[int]]
"""(kind, items, scenario, gate or "any gate") -> [failed, replicates]."""


def pooled(paths: list[Path]) -> Counts:
    counts: Counts = defaultdict(lambda: [0, 0])
    for path in paths:
        for cell in json.loads(path.read_text())["cells"]:
            for scenario, result in cell["scenarios"].items():
                entries = {**result.get("gates", {}), "any gate": result.get("any_gate") or {}}
                for gate, entry in entries.items():
                    if entry.get("n"):
                        total = counts[(cell["kind"], cell["items"], scenario, gate)]
                        total[0] += entry["failed"]
                        total[1] += entry["n"]
    return counts


def _rate(count: list[int] | None) -> str:
    if not count or not count[1]:
        return ""
    failed, n = count
    low, high = wilson_interval(failed, n)
    return f"{failed / n * 100:.1f}% [{low * 100:.1f}, {high * 100:.1f}] ({failed}/{n})"


def table(before: Counts, after: Counts) -> str:
    rows = ["| suite | scenario | gate | before | after |", "|---|---|---|---|---|"]
    keys = list(dict.fromkeys([*before, *after]))
    cells = list(dict.fromkeys((k[0], k[1], k[2]) for k in keys))
    for kind, items, scenario in sorted(cells, key=lambda c: (c[0], c[1])):
        gates = [k[3] for k in keys if k[:3] == (kind, items, scenario) and k[3] != "any gate"]
        for gate in [*dict.fromkeys(gates), "any gate"]:
            key = (kind, items, scenario, gate)
            a, b = before.get(key), after.get(key)
            if gate != "any gate" and not ((a and a[0]) or (b and b[0])):
                continue
            rows.append(f"| {kind}@{items} | {scenario} | {gate} | {_rate(a)} | {_rate(b)} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, nargs="+", required=True)
    parser.add_argument("--after", type=Path, nargs="+", required=True)
    args = parser.parse_args()
    print(table(pooled(args.before), pooled(args.after)))


if __name__ == "__main__":
    main()
