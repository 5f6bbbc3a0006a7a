"""How long each vision recipe takes to load its sample rows: ``load_suite`` from the files, as collection does.

Each recipe in ``recipes/`` with sample rows under ``tests/recipe_samples/`` (the
benchmark's own file layout: Parquet, JSON, CSV, JSONL, a VLMEvalKit TSV with
base64 pictures) is copied with its samples into a fresh folder and loaded
``--repeats`` times; the first load of the process (imports) is run and left out.
Pictures are read for their digests as collection reads them; nothing is
inferred.

Usage:
    python benchmarks/bench_recipe_loading.py                 # every vision recipe, 5 repeats
    python benchmarks/bench_recipe_loading.py --recipes probmed mediconfusion --repeats 9

Writes benchmarks/results/recipe-loading.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pytest_medmodel import load_suite  # noqa: E402

SAMPLES = ROOT / "tests" / "recipe_samples"


def recipes_with_samples() -> list[str]:
    """Recipes whose data path starts with a folder or file that ``tests/recipe_samples`` holds."""
    import yaml

    names = []
    for recipe in sorted((ROOT / "recipes").glob("*.suite.yaml")):
        path = yaml.safe_load(recipe.read_text())["data"].get("path")  # a hub dataset has none
        if path and (SAMPLES / Path(path).parts[0]).is_dir():
            names.append(recipe.name.removesuffix(".suite.yaml"))
    return names


def copied(name: str, folder: Path) -> Path:
    """The recipe beside a copy of its sample folder, as a user lays it out."""
    import yaml

    recipe = ROOT / "recipes" / f"{name}.suite.yaml"
    top = Path(yaml.safe_load(recipe.read_text())["data"]["path"]).parts[0]
    shutil.copytree(SAMPLES / top, folder / top)
    return Path(shutil.copy(recipe, folder / recipe.name))


def measure(name: str, repeats: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        path = copied(name, folder)
        times, items = [], 0
        for _ in range(repeats):
            started = time.perf_counter()
            suite = load_suite(path, root=folder)
            times.append(time.perf_counter() - started)
            items = len(suite.items)
    return {
        "items": items,
        "median_ms": round(statistics.median(times) * 1000, 2),
        "runs_ms": [round(t * 1000, 2) for t in times],
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", nargs="*", help="recipe names (default: every one with sample rows)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "recipe-loading.json")
    args = parser.parse_args(argv)
    names = args.recipes or recipes_with_samples()
    measure(names[0], 1)  # imports (pyarrow, PIL, the loaders) out of the first figure
    rows = {name: measure(name, args.repeats) for name in names}
    report = {"machine": platform.platform(), "python": platform.python_version(), "repeats": args.repeats}
    report["recipes"] = rows
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'recipe':22} {'items':>5} {'median ms':>10}")
    for name, row in rows.items():
        print(f"{name:22} {row['items']:>5} {row['median_ms']:>10.1f}")
    return report


if __name__ == "__main__":
    main()
