"""False-alarm rate and power of the gates, measured through the plugin itself.

Unlike ``bench_gate_power.py``, which calls the decision functions, this
benchmark runs pytest: it writes throwaway projects of generated suites, records
baselines with ``--snapshot-update`` from a planted base model, then runs the
gated suites against candidate models in subprocesses and reads every verdict
from the plugin's ``pytest_medmodel_gate_result`` hook.

The planted model and its ground truth live in ``gate_audit_model.py`` (next to
this file): 4-option letter-scored items with per-item accuracy
``q ~ Beta(0.219, 0.094)`` (mean 0.70, 10% of items change correctness between
equivalent runs), Gumbel-max answers and probabilities reported at temperature 2.

Scenarios (the candidate against the base model's baseline):

* ``same``: identical answers (sanity: nothing may fail);
* ``redraw``: an independent run of the same model (no true change, 10% churn);
* ``flatter`` / ``sharper``: a redraw reported at temperature 2*1.5 / 2/1.5;
* ``shift:D``: a redraw with the key's logit lowered on every item by the amount
  whose expected accuracy loss over the suite's items is exactly D points;
* ``improve:D``: the same, raised.

Suite kinds, each one function returning its YAML (see :data:`KINDS`):
``core`` (accuracy, agreement, ece, brier, selective_accuracy), ``choice_order``
(accuracy plus five option perturbations, 11 gates), ``clustered`` (the core
gates on items in clusters of 4 sharing a ``group`` and their noise).

Examples::

    python benchmarks/bench_gate_audit.py --quick
    python benchmarks/bench_gate_audit.py --replicates 40 --sizes 100 500 --kinds core \\
        --scenarios redraw flatter sharper shift:3 --out benchmarks/results/mine.json
    python benchmarks/bench_gate_audit.py --cell core:100:40:redraw,shift:3 --cell choice_order:100:40:redraw
    python benchmarks/bench_gate_audit.py --quick --extra-gate 'core=right_answer_probability'
    python benchmarks/bench_gate_audit.py --quick --extra-gate 'core=accuracy:{"max_drop": 0.02}'

Runs are sequential (one pytest process at a time). Results are written after
every chunk, so an interrupted run keeps what it measured.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import gate_audit_model as model  # noqa: E402

# --------------------------------------------------------------------------- suite kinds

CORE_GATES: dict[str, dict[str, Any]] = {
    "accuracy": {},
    "agreement": {},
    "ece": {},
    "brier": {},
    "selective_accuracy": {},
}
"""The core kind's gates, each with its settings ({}: the plugin's defaults). Add a gate here or with --extra-gate."""

CHOICE_ORDER_GATES: dict[str, dict[str, Any]] = {"accuracy": {}}

CHOICE_ORDER_PERTURBATIONS: list[dict[str, Any]] = [
    {"name": "shuffle_choices", "id": "shuffle"},
    {"name": "reverse_choices", "id": "reverse"},
    {"name": "rotate_choices", "id": "rotate"},
    {"name": "relabel_choices", "id": "numbers"},
    {"name": "add_distractor", "id": "none_above", "text": "None of the above"},
]
"""As in suites/robustness/choice_order.suite.yaml: each adds an accuracy/<id> and a consistency/<id> gate."""


def _flow(value: Any) -> str:
    """A YAML flow value (JSON is valid YAML)."""
    return json.dumps(value)


def _gates_yaml(gates: Mapping[str, Mapping[str, Any]]) -> str:
    if not gates:
        return ""
    return "gates:\n" + "".join(f"  {name}: {_flow(dict(settings))}\n" for name, settings in gates.items())


def _head(name: str, description: str, group: bool = False) -> str:
    fields = "  fields:\n    group: group\n" if group else ""
    return (
        f"description: {_flow(description)}\n"
        "task: multiple_choice\n"
        f"data:\n  path: data/{name}.jsonl\n{fields}"
        "scoring: letter\n"
    )


def core_yaml(name: str, gates: Mapping[str, Mapping[str, Any]]) -> str:
    return _head(name, "gate audit: core gates") + _gates_yaml(gates)


def choice_order_yaml(name: str, gates: Mapping[str, Mapping[str, Any]]) -> str:
    perturbations = "perturbations:\n" + "".join(f"  - {_flow(p)}\n" for p in CHOICE_ORDER_PERTURBATIONS)
    return _head(name, "gate audit: option order, labels and an added distractor") + _gates_yaml(gates) + perturbations


def clustered_yaml(name: str, gates: Mapping[str, Mapping[str, Any]]) -> str:
    return _head(name, "gate audit: core gates on clusters of 4 items", group=True) + _gates_yaml(gates)


@dataclass
class Kind:
    yaml: Callable[[str, Mapping[str, Mapping[str, Any]]], str]
    gates: dict[str, dict[str, Any]]
    chunk: Callable[[int], int]
    """Replicates per project for a suite size (bigger suites: fewer per project)."""


def _chunk_for(items: int) -> int:
    return 40 if items <= 100 else 20 if items <= 500 else 10


KINDS: dict[str, Kind] = {
    "core": Kind(core_yaml, CORE_GATES, _chunk_for),
    "choice_order": Kind(choice_order_yaml, CHOICE_ORDER_GATES, lambda items: min(_chunk_for(items), 20)),
    "clustered": Kind(clustered_yaml, CORE_GATES, _chunk_for),
}


def add_extra_gate(text: str) -> None:
    """``KIND=GATE`` or ``KIND=GATE:{json settings}``: add (or re-set) a gate of a suite kind."""
    kind, sep, rest = text.partition("=")
    if not sep or kind not in KINDS:
        raise SystemExit(f"--extra-gate {text}: write KIND=GATE[:{{json}}] with KIND one of {', '.join(KINDS)}")
    name, _, settings = rest.partition(":")
    try:
        parsed = json.loads(settings) if settings else {}
    except json.JSONDecodeError as exc:
        raise SystemExit(f"--extra-gate {text}: settings are not JSON ({exc})") from None
    # a copy, so that kinds sharing a dict (core and clustered) are changed one at a time
    KINDS[kind].gates = {**KINDS[kind].gates, name.strip(): parsed}


# --------------------------------------------------------------------------- statistics


def wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """95% Wilson score interval for k successes out of n."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def rate(k: int, n: int) -> dict[str, Any]:
    lo, hi = wilson(k, n)
    return {"failed": k, "n": n, "rate": (k / n) if n else None, "ci95": [round(lo, 4), round(hi, 4)]}


# --------------------------------------------------------------------------- projects and runs

CONFTEST = '''
"""Writes one JSON line per gate verdict to $GATE_AUDIT_VERDICTS."""
import json, os

def pytest_medmodel_gate_result(config, suite, result):
    path = os.environ.get("GATE_AUDIT_VERDICTS")
    if not path:
        return
    numbers = {}
    for key, value in dict(result.numbers).items():
        numbers[key] = value if value is None or isinstance(value, (int, float, str)) else str(value)
    line = {"suite": suite.name, "gate": result.gate, "status": result.status, "numbers": numbers,
            "message": str(result.message)[:2000]}
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(line, default=str) + "\\n")
'''

PYTEST_FLAGS = ("-p", "no:cacheprovider", "--medmodel-no-cache", "--tb=no", "-q", "-p", "no:randomly")
GATED_ONLY = ("-k", "gate")
"""Gated runs select only the gate tests: a gate still scores and pairs every item of its suite
(selection narrows the items only when it names items), and skipping thousands of item tests makes
a run several times faster."""
SPEC = "--medmodel=py:gate_audit_model:make"


def canonical_scenario(text: str) -> str:
    """``shift3``, ``shift_3``, ``shift:3`` -> ``shift:3``; checked against the model."""
    for prefix in ("shift", "improve"):
        if text.startswith(prefix) and text != prefix:
            rest = text[len(prefix) :].lstrip(":_- ")
            text = f"{prefix}:{rest}"
    model.scenario_run(text)  # raises for an unknown one
    return text


@dataclass
class RunOutcome:
    scenario: str
    returncode: int
    wall: float
    cpu: float
    verdicts: list[dict[str, Any]]
    log: str


def _cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_pytest(project: Path, scenario: str, tag: str, extra: Sequence[str] = (), timeout: float = 3600) -> RunOutcome:
    verdict_file = project / f"verdicts-{tag}.jsonl"
    log_file = project / f"log-{tag}.txt"
    verdict_file.unlink(missing_ok=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(HERE), *filter(None, [os.environ.get("PYTHONPATH")])])
    env[model.SCENARIO_ENV] = scenario
    env["GATE_AUDIT_VERDICTS"] = str(verdict_file)
    env.pop("PYTEST_ADDOPTS", None)
    env.pop("CI", None)
    command = [sys.executable, "-m", "pytest", "suites", SPEC, *PYTEST_FLAGS, "--medmodel-progress=never", *extra]
    cpu0, t0 = _cpu_children(), time.perf_counter()
    with log_file.open("w") as log:
        proc = subprocess.run(command, cwd=project, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=timeout)
    wall, cpu = time.perf_counter() - t0, _cpu_children() - cpu0
    verdicts = []
    if verdict_file.exists():
        verdicts = [json.loads(line) for line in verdict_file.read_text().splitlines() if line.strip()]
    return RunOutcome(scenario, proc.returncode, wall, cpu, verdicts, log_file.read_text(errors="replace"))


def write_project(path: Path, kind: str, items: int, replicates: Iterable[int], seed: int) -> list[str]:
    """A throwaway project with one suite per replicate; returns the suite names."""
    (path / "suites" / "data").mkdir(parents=True)
    (path / "pytest.ini").write_text("[pytest]\n")
    (path / "conftest.py").write_text(CONFTEST)
    suites: dict[str, Any] = {}
    for replicate in replicates:
        name = model.suite_name(kind, items, replicate)
        spec = model.SuiteSpec(name, kind, items, replicate, seed)
        rows = model.data_rows(model.suite_truth(spec))
        (path / "suites" / "data" / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        (path / "suites" / f"{name}.suite.yaml").write_text(KINDS[kind].yaml(name, KINDS[kind].gates))
        suites[name] = spec.to_json()
    (path / model.PROJECT_FILE).write_text(json.dumps({"seed": seed, "suites": suites}, indent=1))
    return list(suites)


def ground_truth(kind: str, items: int, replicate: int, seed: int, scenarios: Sequence[str]) -> dict[str, Any]:
    """What the truth says about one replicate, computed without the plugin (for the record)."""
    spec = model.SuiteSpec(model.suite_name(kind, items, replicate), kind, items, replicate, seed)
    base = model.SuiteRun(spec, model.scenario_run("base"))
    qs = [item.q for item in base.items.values()]
    out: dict[str, Any] = {"expected_accuracy": sum(qs) / len(qs)}
    redraw = model.SuiteRun(spec, model.scenario_run("redraw"))
    before = [base.correct(i) for i in base.items]
    after = [redraw.correct(i) for i in base.items]
    flips = [float(a != b) for a, b in zip(before, after, strict=True)]
    out["base_accuracy"] = sum(before) / len(before)
    out["redraw_churn"] = sum(flips) / len(flips)
    clusters = defaultdict(list)
    for item, flip in zip(base.items.values(), flips, strict=True):
        if item.cluster is not None:
            clusters[item.cluster].append(flip)
    if clusters:
        out["within_cluster_flip_correlation"] = _pair_correlation(list(clusters.values()))
    for scenario in scenarios:
        run = model.scenario_run(scenario)
        if run.points:
            out[f"logit_shift[{scenario}]"] = model.logit_shift(qs, run.points)
    return out


def _pair_correlation(groups: Sequence[Sequence[float]]) -> float | None:
    """Pearson correlation of a flip indicator between two different members of the same cluster."""
    xs, ys = [], []
    for members in groups:
        for i, a in enumerate(members):
            for j, b in enumerate(members):
                if i != j:
                    xs.append(a)
                    ys.append(b)
    n = len(xs)
    if n == 0:
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    return sxy / math.sqrt(sxx * syy) if sxx and syy else None


# --------------------------------------------------------------------------- one cell


@dataclass
class Cell:
    kind: str
    items: int
    replicates: int
    scenarios: list[str]
    first_replicate: int = 0

    @property
    def label(self) -> str:
        return f"{self.kind}@{self.items}"


@dataclass
class CellResult:
    cell: Cell
    verdicts: dict[str, dict[str, dict[str, str]]] = field(default_factory=lambda: defaultdict(dict))
    """scenario -> suite -> gate -> status."""
    numbers: dict[str, dict[str, dict[str, dict[str, Any]]]] = field(default_factory=lambda: defaultdict(dict))
    """scenario -> suite -> gate -> numbers."""
    evidence: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    baseline_wall: float = 0.0
    baseline_cpu: float = 0.0
    gated_wall: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    gated_cpu: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    done: int = 0
    truth: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _evidence(message: str) -> str | None:
    """The line a failed gate gives as its evidence, when it names one (accuracy: which test fired)."""
    for line in message.splitlines():
        if line.lower().startswith("evidence"):
            return line.strip()
    return None


def run_chunk(
    result: CellResult,
    replicates: list[int],
    seed: int,
    workdir: Path | None,
    keep: bool,
    raw: Any,
    log: Callable[[str], None],
) -> None:
    cell = result.cell
    project = Path(tempfile.mkdtemp(prefix=f"gate-audit-{cell.kind}{cell.items}-", dir=workdir))
    try:
        names = write_project(project, cell.kind, cell.items, replicates, seed)
        base = run_pytest(project, "base", "base", ["--snapshot-update"])
        result.baseline_wall += base.wall
        result.baseline_cpu += base.cpu
        if base.returncode != 0:
            raise RuntimeError(f"{cell.label}: --snapshot-update exited {base.returncode}:\n{base.log[-4000:]}")
        recorded = list((project / "baselines").rglob("*.json"))
        if len(recorded) < len(names):
            raise RuntimeError(
                f"{cell.label}: {len(recorded)} baseline files for {len(names)} suites:\n{base.log[-3000:]}"
            )
        log(f"  {cell.label} replicates {replicates[0]}-{replicates[-1]}: baseline {base.wall:.1f}s")
        for scenario in cell.scenarios:
            outcome = run_pytest(project, scenario, scenario.replace(":", "_"), GATED_ONLY)
            result.gated_wall[scenario] += outcome.wall
            result.gated_cpu[scenario] += outcome.cpu
            if outcome.returncode not in (0, 1):
                raise RuntimeError(
                    f"{cell.label} {scenario}: pytest exited {outcome.returncode}:\n{outcome.log[-4000:]}"
                )
            seen: dict[str, dict[str, str]] = defaultdict(dict)
            for verdict in outcome.verdicts:
                suite, gate = verdict["suite"], verdict["gate"]
                if gate in seen[suite]:
                    result.problems.append(f"{scenario} {suite}: gate {gate} reported twice")
                seen[suite][gate] = verdict["status"]
                result.numbers[scenario].setdefault(suite, {})[gate] = verdict["numbers"]
                if verdict["status"] == "failed":
                    evidence = _evidence(verdict.get("message", ""))
                    if evidence:
                        result.evidence[f"{scenario}|{gate}"][evidence] += 1
                if raw is not None:
                    raw.write(json.dumps({"cell": cell.label, "scenario": scenario, **verdict}) + "\n")
            missing = [name for name in names if name not in seen]
            if missing:
                raise RuntimeError(
                    f"{cell.label} {scenario}: no gate verdicts for {missing[:3]}...:\n{outcome.log[-3000:]}"
                )
            result.verdicts[scenario].update(seen)
            failed = sum(1 for gates in seen.values() if "failed" in gates.values())
            if outcome.returncode == 0 and failed:
                result.problems.append(f"{scenario}: pytest exited 0 but {failed} suites had a failed gate")
            if outcome.returncode == 1 and not failed:
                result.problems.append(f"{scenario}: pytest exited 1 with no failed gate ({outcome.log[-300:]!r})")
            log(f"    {scenario:<10} {outcome.wall:6.1f}s  suites with a failed gate {failed}/{len(names)}")
        result.truth.extend(
            ground_truth(cell.kind, cell.items, r, seed, cell.scenarios) | {"replicate": r} for r in replicates
        )
        result.done += len(replicates)
    finally:
        if keep:
            log(f"  kept {project}")
        else:
            shutil.rmtree(project, ignore_errors=True)


def summarise(result: CellResult) -> dict[str, Any]:
    cell = result.cell
    scenarios: dict[str, Any] = {}
    gated_suites = 0
    for scenario in cell.scenarios:
        suites = result.verdicts.get(scenario, {})
        gates = sorted({g for per in suites.values() for g in per})
        per_gate = {}
        for gate in gates:
            statuses = [per[gate] for per in suites.values() if gate in per]
            counted = [s for s in statuses if s != "skipped"]
            entry = rate(sum(s == "failed" for s in counted), len(counted))
            entry["skipped"] = len(statuses) - len(counted)
            means = _means(result.numbers.get(scenario, {}), gate)
            if means:
                entry["mean_numbers"] = means
            per_gate[gate] = entry
        any_failed = sum(1 for per in suites.values() if "failed" in per.values())
        scenarios[scenario] = {
            "replicates": len(suites),
            "gates": per_gate,
            "any_gate": rate(any_failed, len(suites)),
            "failed_gates_per_replicate": {
                suite: sorted(g for g, s in per.items() if s == "failed") for suite, per in sorted(suites.items())
            },
            "evidence_of_failures": {
                key.split("|", 1)[1]: dict(counter)
                for key, counter in result.evidence.items()
                if key.split("|", 1)[0] == scenario
            },
        }
        gated_suites += len(suites)
    truth = result.truth
    n = max(1, result.done)
    return {
        "kind": cell.kind,
        "items": cell.items,
        "replicates": result.done,
        "gates_configured": KINDS[cell.kind].gates,
        "suite_yaml_example": KINDS[cell.kind].yaml(model.suite_name(cell.kind, cell.items, 0), KINDS[cell.kind].gates),
        "scenarios": scenarios,
        "timing": {
            "baseline_wall_s": round(result.baseline_wall, 2),
            "baseline_cpu_s": round(result.baseline_cpu, 2),
            "baseline_wall_s_per_replicate": round(result.baseline_wall / n, 3),
            "gated_wall_s": {s: round(v, 2) for s, v in result.gated_wall.items()},
            "gated_cpu_s": {s: round(v, 2) for s, v in result.gated_cpu.items()},
            "gated_wall_s_per_replicate": round(sum(result.gated_wall.values()) / max(1, gated_suites), 3),
        },
        "truth": {
            "mean_expected_accuracy": round(sum(t["expected_accuracy"] for t in truth) / len(truth), 4)
            if truth
            else None,
            **{
                f"mean_{key}": _mean_of(truth, key)
                for key in ("base_accuracy", "redraw_churn", "within_cluster_flip_correlation")
            },
            "per_replicate": truth,
        },
        "problems": result.problems,
    }


def _mean_of(rows: Sequence[Mapping[str, Any]], key: str) -> float | None:
    values = [row[key] for row in rows if row.get(key) is not None]
    return round(sum(values) / len(values), 4) if values else None


def _means(numbers: Mapping[str, Mapping[str, Mapping[str, Any]]], gate: str) -> dict[str, float]:
    sums: dict[str, list[float]] = defaultdict(list)
    for per in numbers.values():
        for key, value in per.get(gate, {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                sums[key].append(float(value))
    return {k: round(sum(v) / len(v), 5) for k, v in sums.items()}


# --------------------------------------------------------------------------- output


def _pct(entry: Mapping[str, Any]) -> str:
    if not entry["n"]:
        return "n/a"
    lo, hi = entry["ci95"]
    return f"{100 * entry['rate']:5.1f}% [{100 * lo:4.1f}, {100 * hi:5.1f}] ({entry['failed']}/{entry['n']})"


def table(cells: Sequence[Mapping[str, Any]]) -> str:
    lines = []
    for cell in cells:
        for scenario, data in cell["scenarios"].items():
            if not data["replicates"]:
                continue
            lines.append(f"{cell['kind']} @ {cell['items']} items, {scenario}: {data['replicates']} replicates")
            for gate, entry in data["gates"].items():
                skipped = f"  skipped {entry['skipped']}" if entry.get("skipped") else ""
                lines.append(f"    {gate:<28} {_pct(entry)}{skipped}")
            lines.append(f"    {'(any gate: suite fails)':<28} {_pct(data['any_gate'])}")
    return "\n".join(lines)


def git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def plugin_location() -> str:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    code = "import pytest_medmodel, os; print(os.path.dirname(pytest_medmodel.__file__))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    return out.stdout.strip() or out.stderr.strip()[-300:]


# --------------------------------------------------------------------------- command line

QUICK_REPLICATES = 4
QUICK_SIZES = (100,)
QUICK_KINDS = ("core", "choice_order", "clustered")
QUICK_SCENARIOS = ("same", "redraw", "shift:5")


def parse_cell(text: str) -> Cell:
    """``KIND:ITEMS:REPLICATES:SCEN,SCEN,...`` (scenario arguments written shift3 or shift:3)."""
    parts = text.split(":", 3)
    if len(parts) != 4 or parts[0] not in KINDS:
        raise SystemExit(
            f"--cell {text}: write KIND:ITEMS:REPLICATES:SCENARIO,SCENARIO (KIND one of {', '.join(KINDS)})"
        )
    scenarios = [canonical_scenario(s.strip()) for s in parts[3].split(",") if s.strip()]
    return Cell(parts[0], int(parts[1]), int(parts[2]), scenarios)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--replicates", type=int, default=20, help="replicate suites per kind and size")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 500], help="items per suite")
    parser.add_argument("--kinds", nargs="+", default=["core"], choices=list(KINDS))
    parser.add_argument("--scenarios", nargs="+", default=["same", "redraw", "flatter", "sharper", "shift:3"])
    parser.add_argument(
        "--cell",
        action="append",
        default=[],
        metavar="KIND:ITEMS:REPS:SCEN,...",
        help="run this cell (repeatable); replaces the --kinds x --sizes product",
    )
    parser.add_argument(
        "--extra-gate",
        action="append",
        default=[],
        metavar="KIND=GATE[:{json}]",
        help="add a gate (with settings) to a suite kind, e.g. core=right_answer_probability",
    )
    parser.add_argument("--chunk", type=int, default=None, help="replicates per throwaway project (default by size)")
    parser.add_argument("--seed", type=int, default=20260101, help="master seed of the ground truth")
    parser.add_argument("--first-replicate", type=int, default=0, help="replicate numbers start here")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 4 replicates of 100 items, every kind")
    parser.add_argument("--out", type=Path, default=None, help="JSON results (default: none)")
    parser.add_argument("--raw", type=Path, default=None, help="every verdict with its message, gzipped JSON lines")
    parser.add_argument("--workdir", type=Path, default=None, help="where throwaway projects go (default: temp)")
    parser.add_argument("--keep", action="store_true", help="keep the throwaway projects")
    parser.add_argument("--budget", type=float, default=None, help="stop starting new chunks after this many seconds")
    args = parser.parse_args(argv)

    for text in args.extra_gate:
        add_extra_gate(text)
    if args.quick:
        cells = [Cell(k, s, QUICK_REPLICATES, list(QUICK_SCENARIOS)) for k in QUICK_KINDS for s in QUICK_SIZES]
    elif args.cell:
        cells = [parse_cell(text) for text in args.cell]
    else:
        scenarios = [canonical_scenario(s) for s in args.scenarios]
        cells = [Cell(k, s, args.replicates, scenarios) for k in args.kinds for s in args.sizes]
    for cell in cells:
        cell.first_replicate = args.first_replicate

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    started = time.perf_counter()
    cpu_started = _cpu_children()
    report: dict[str, Any] = {
        "benchmark": "bench_gate_audit",
        "commit": git("rev-parse", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "plugin": plugin_location(),
        "python": sys.version.split()[0],
        "argv": list(sys.argv[1:] if argv is None else argv),
        "seed": args.seed,
        "model": {
            "beta": [model.BETA_A, model.BETA_B],
            "dirichlet": model.DIRICHLET,
            "base_temperature": model.BASE_TEMPERATURE,
            "temperature_factor": model.TEMPERATURE_FACTOR,
            "variant_rho": model.VARIANT_RHO,
            "cluster_rho": model.CLUSTER_RHO,
            "cluster_size": model.CLUSTER_SIZE,
            "added_option_mass": model.ADDED_OPTION_MASS,
        },
        "pytest_flags": [SPEC, *PYTEST_FLAGS, "--medmodel-progress=never"],
        "gated_run_flags": list(GATED_ONLY),
        "cells": [],
    }
    results = [CellResult(cell) for cell in cells]
    raw = gzip.open(args.raw, "wt") if args.raw else None
    stopped_early = False

    def save() -> None:
        report["cells"] = [summarise(r) for r in results if r.done]
        report["wall_seconds"] = round(time.perf_counter() - started, 1)
        report["cpu_seconds_children"] = round(_cpu_children() - cpu_started, 1)
        report["stopped_early"] = stopped_early
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(report, indent=1) + "\n")

    with contextlib.ExitStack() as stack:
        if raw is not None:
            stack.enter_context(raw)
        for result in results:
            cell = result.cell
            chunk = args.chunk or KINDS[cell.kind].chunk(cell.items)
            reps = list(range(cell.first_replicate, cell.first_replicate + cell.replicates))
            log(
                f"{cell.label}: {cell.replicates} replicates in chunks of {chunk}; "
                f"scenarios {', '.join(cell.scenarios)}"
            )
            for at in range(0, len(reps), chunk):
                if args.budget is not None and time.perf_counter() - started > args.budget:
                    stopped_early = True
                    log(f"  budget of {args.budget:.0f}s spent: stopping before replicate {reps[at]}")
                    break
                run_chunk(result, reps[at : at + chunk], args.seed, args.workdir, args.keep, raw, log)
                save()
                log(
                    f"  {cell.label}: {result.done}/{cell.replicates} replicates, "
                    f"{time.perf_counter() - started:.0f}s so far"
                )
            if stopped_early:
                break
    save()
    print(table(report["cells"]))
    print(
        f"\nwall {report['wall_seconds']}s, child CPU {report['cpu_seconds_children']}s, commit {report['commit'][:10]}"
        + (" (dirty)" if report["dirty"] else "")
    )
    for cell in report["cells"]:
        for problem in cell["problems"]:
            print(f"PROBLEM {cell['kind']}@{cell['items']}: {problem}")
    return report


if __name__ == "__main__":
    main()
