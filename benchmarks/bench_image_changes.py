"""What each image perturbation and ablation costs: wall time and vision-tower work against the originals.

One process, one model. For the suite's originals and for each of its image
perturbations and ablations, the plugin's own requests for that family alone go
to the adapter in one call, families interleaved within each repeat; the decoded
picture cache is emptied before each call, so a perturbation's pixel work
(decoding, then noise, blur, JPEG...) is in its time. Counted with a forward
hook: vision-tower calls and the picture rows they saw, against the distinct
pictures in the requests.

Usage:
    python benchmarks/bench_image_changes.py                      # demo-vlm, image_changes, 3 repeats
    python benchmarks/bench_image_changes.py --model path/to/llava --device cuda --dtype bfloat16

Writes benchmarks/results/image-changes-<model>-<device>.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_vlm import tower_counter  # noqa: E402

from pytest_medmodel import load_suite  # noqa: E402
from pytest_medmodel.images import ref as image_ref  # noqa: E402
from pytest_medmodel.models.specs import ModelOptions, load_adapter  # noqa: E402
from pytest_medmodel.perturb.plan import SuiteVariants  # noqa: E402
from pytest_medmodel.scoring.base import SCORERS  # noqa: E402
from pytest_medmodel.suite.types import ORIGINAL, Variant  # noqa: E402

ORIGINALS = "(originals)"


def families(variants: dict[str, Variant]) -> dict[str, list[Variant]]:
    """The variants by perturbation label, the originals first."""
    out: dict[str, list[Variant]] = {ORIGINALS: []}
    for variant in variants.values():
        out.setdefault(ORIGINALS if variant.family == ORIGINAL else variant.family, []).append(variant)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="demo-vlm")
    parser.add_argument("--suite", type=Path, default=ROOT / "suites" / "robustness" / "image_changes.suite.yaml")
    parser.add_argument("--items", type=int, default=None, help="the suite's first N items (default: all)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)

    suite = load_suite(args.suite)
    adapter = load_adapter(args.model, ModelOptions(device=args.device, dtype=args.dtype))
    scorer = SCORERS.get(suite.scoring.method)
    groups = families(SuiteVariants(suite, args.items).selected())
    requests = {
        label: [scorer.request(suite, v, adapter.format_chat) for v in group] for label, group in groups.items()
    }
    counts = tower_counter(adapter.model)
    times: dict[str, list[float]] = {label: [] for label in groups}
    towers: dict[str, dict[str, int]] = {}
    right: dict[str, float] = {}
    for repeat in range(args.repeats):
        for label, batch in requests.items():
            image_ref._decoded.cache_clear()  # the pixel work is part of each family's cost
            counts.update(calls=0, rows=0)
            started = time.perf_counter()
            results = adapter.loglikelihood(batch)
            times[label].append(time.perf_counter() - started)
            towers[label] = dict(counts)
            if repeat == 0:
                scores = [scorer.score(suite, v, r) for v, r in zip(groups[label], results, strict=True)]
                right[label] = sum(s.correct for s in scores) / len(scores)
            print(f"repeat {repeat + 1}: {label} {times[label][-1]:.2f} s", file=sys.stderr)
    base = statistics.median(times[ORIGINALS])
    rows: dict[str, Any] = {}
    for label, group in groups.items():
        seconds = statistics.median(times[label])
        rows[label] = {
            "items": len(group),
            "distinct_images": len({image.digest for v in group for image in v.images}),
            "seconds_median": round(seconds, 3),
            "time_over_originals": round(seconds / base, 2),
            "vision_tower": towers[label],
            "accuracy": round(right[label], 4),
        }
    report = {
        "model": args.model,
        "suite": str(args.suite.resolve().relative_to(ROOT)) if args.suite.resolve().is_relative_to(ROOT) else "",
        "device": str(adapter.device),
        "dtype": str(next(adapter.model.parameters()).dtype),
        "repeats": args.repeats,
        "families": rows,
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, python {platform.python_version()}",
    }
    name = Path(args.model).name.replace(":", "-")
    output = args.output or ROOT / "benchmarks" / "results" / f"image-changes-{name}-{adapter.device.type}.json"
    output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'family':14s} {'items':>5s} {'images':>6s} {'seconds':>8s} {'x orig':>6s} {'tower':>14s} {'acc':>6s}")
    for label, row in rows.items():
        tower = f"{row['vision_tower']['calls']} / {row['vision_tower']['rows']}"
        print(
            f"{label:14s} {row['items']:5d} {row['distinct_images']:6d} {row['seconds_median']:8.2f} "
            f"{row['time_over_originals']:6.2f} {tower:>14s} {row['accuracy']:6.1%}"
        )
    print(f"-> {output}")
    return report


if __name__ == "__main__":
    main()
