"""What the plugin costs a project that has no suites: modules, import time, objects, files touched.

pytest imports every installed plugin in every run, so a project that never
uses a suite still pays for this package. This builds a throwaway project with
one plain test (and a ``baselines/`` folder holding a user's ``.tmp`` files),
runs ``pytest`` in it with the plugin and with ``-p no:medmodel``, and reports:

- how many ``pytest_medmodel`` modules are imported, of how many;
- which of the plugin's objects were registered with pytest;
- whether the user's ``.tmp`` files survived;
- the median wall time of the whole ``pytest`` process, with and without the
  plugin, over ``--repeats`` alternating runs, and their ratio.

Usage:
    python benchmarks/bench_plugin_load.py                       # this checkout
    python benchmarks/bench_plugin_load.py --root OTHER_CHECKOUT  # another (e.g. an older commit's worktree)

Prints one JSON object; ``--out FILE`` also writes it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CONFTEST = """
import json, os, sys

def pytest_sessionfinish(session):
    names = sorted(m for m in sys.modules if m == "pytest_medmodel" or m.startswith("pytest_medmodel."))
    plugins = sorted(n for n, p in session.config.pluginmanager.list_name_plugin() if n and n.startswith("medmodel"))
    with open(os.environ["BENCH_OUT"], "w") as f:
        json.dump({"modules": names, "plugins": plugins}, f)
"""


def package_modules(root: Path) -> int:
    return sum(1 for _ in (root / "pytest_medmodel").rglob("*.py"))


def modules_by_folder(root: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for path in (root / "pytest_medmodel").rglob("*.py"):
        folder = str(path.parent.relative_to(root))
        counts[folder] = counts.get(folder, 0) + 1
    return dict(sorted(counts.items()))


def run_pytest(project: Path, env: dict[str, str], *extra: str) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"pytest failed in {project}:\n{done.stdout}\n{done.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout to measure (default: this one)")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    root = args.root.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        (project / "test_plain.py").write_text("def test_plain():\n    assert 1 + 1 == 2\n")
        (project / "conftest.py").write_text(CONFTEST)
        keep = project / "baselines" / "keep"
        keep.mkdir(parents=True)
        user_files = [project / "baselines" / ".notes.tmp", keep / ".editor-swap.tmp"]
        for path in user_files:
            path.write_text("a user's file")
        env = {**os.environ, "PYTHONPATH": str(root), "BENCH_OUT": str(project / "seen.json")}
        run_pytest(project, env)
        seen = json.loads((project / "seen.json").read_text())
        survived = [p.exists() for p in user_files]
        (project / "conftest.py").unlink()
        run_pytest(project, env)  # warm the file system cache for both commands
        run_pytest(project, env, "-p", "no:medmodel")
        with_plugin, without = [], []
        for _ in range(args.repeats):
            with_plugin.append(run_pytest(project, env))
            without.append(run_pytest(project, env, "-p", "no:medmodel"))
    ratios = [a / b for a, b in zip(with_plugin, without, strict=True)]
    result = {
        "root": root.name,
        "package_modules": package_modules(root),
        "modules_by_folder": modules_by_folder(root),
        "imported_modules": len(seen["modules"]),
        "registered_plugins": seen["plugins"],
        "user_tmp_files_kept": f"{sum(survived)} of {len(survived)}",
        "repeats": args.repeats,
        "pytest_seconds_with_plugin_median": round(statistics.median(with_plugin), 3),
        "pytest_seconds_without_plugin_median": round(statistics.median(without), 3),
        "ratio_with_over_without_median": round(statistics.median(ratios), 3),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
