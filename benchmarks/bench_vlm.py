"""Image-suite scoring: the plugin's VLM adapter against a plain loop, and what the vision tower does.

One process, one model, the same requests (the plugin's own prompts with their
images), interleaved and repeated; ratios are the result. Measured:

* the adapter on the whole request list (batched, prefixes shared) vs one request
  per call (the same adapter, batch of one);
* a plain loop: one forward pass per item with its image over context + option
  row by row, full log-softmax, what a harness does (option texts are one row per
  option; single-token letters one row per item);
* vision-tower calls and picture rows vs distinct images (a forward hook);
* peak resident memory of the process (``ru_maxrss``) after each mode.

Usage:
    python benchmarks/bench_vlm.py --model demo-vlm --suite suites/modality_recognition.suite.yaml
    python benchmarks/bench_vlm.py --model path/to/llava --suite ... --repeats 3 --device cuda --dtype bfloat16

Writes benchmarks/results/vlm-<model>-<device>.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pytest_medmodel import load_suite  # noqa: E402
from pytest_medmodel.models.base import IMAGE_MARK, ChoiceRequest, ChoiceResult  # noqa: E402
from pytest_medmodel.models.specs import ModelOptions, load_adapter  # noqa: E402
from pytest_medmodel.scoring.base import SCORERS  # noqa: E402
from pytest_medmodel.suite.types import Suite, Variant  # noqa: E402


def build_requests(suite: Suite, adapter: Any, limit: int | None) -> list[ChoiceRequest]:
    """The requests the plugin sends for the suite's items (same scorer, prompts and images)."""
    scorer = SCORERS.get(suite.scoring.method)
    items = suite.items[:limit] if limit else suite.items
    return [scorer.request(suite, Variant.of(item), adapter.format_chat) for item in items]  # type: ignore[misc]


def plain_loop(adapter: Any, requests: list[ChoiceRequest]) -> list[ChoiceResult]:
    """One forward pass per row, full log-softmax: a row per item for one-token options, else per option."""
    import torch

    model, processor = adapter.model, adapter.processor
    token = processor.image_token
    out = []
    with torch.inference_mode():
        for request in requests:
            text = request.context.replace(IMAGE_MARK, token)
            images = [image.load() for image in request.images]
            lps = []
            for continuation in request.continuations:
                context = processor(text=[text], images=images or None, return_tensors="pt", add_special_tokens=False)
                full = processor(
                    text=[text + continuation], images=images or None, return_tensors="pt", add_special_tokens=False
                )
                n = context["input_ids"].shape[1]
                logits = model(**{k: v.to(model.device) for k, v in full.items()}).logits[0].float()
                logprobs = logits.log_softmax(-1)
                ids = full["input_ids"][0, n:].to(model.device)
                lps.append(float(logprobs[n - 1 : -1].gather(-1, ids[:, None]).sum()))
            out.append(ChoiceResult(tuple(lps)))
    return out


def tower_counter(model: Any) -> dict[str, int]:
    """Counts vision-tower forward calls and the picture rows they saw."""
    tower = getattr(getattr(model, "model", model), "vision_tower", None)
    counts = {"calls": 0, "rows": 0}
    if tower is None:
        return counts

    def hook(_module: Any, args: Any, kwargs: Any) -> None:
        pixels = kwargs.get("pixel_values", args[0] if args else None)
        counts["calls"] += 1
        counts["rows"] += int(pixels.shape[0]) if pixels is not None else 0

    tower.register_forward_pre_hook(hook, with_kwargs=True)
    return counts


def _timed(run: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = run()
    return time.perf_counter() - started, result


def _shown(path: Path) -> str:
    """The suite's path relative to the repository where it lies inside it (no local folders in results)."""
    resolved = path.resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else path.name


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="demo-vlm")
    parser.add_argument("--suite", type=Path, default=ROOT / "suites" / "modality_recognition.suite.yaml")
    parser.add_argument("--items", type=int, default=None, help="the suite's first N items (default: all)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()

    suite = load_suite(args.suite)
    adapter = load_adapter(args.model, ModelOptions(device=args.device, dtype=args.dtype))
    requests = build_requests(suite, adapter, args.items)
    counts = tower_counter(adapter.model)
    distinct = len({image.digest for r in requests for image in r.images})
    rss_loaded = _max_rss_mb()

    times: dict[str, list[float]] = {"batched": [], "one_at_a_time": [], "plain_loop": []}
    towers: dict[str, dict[str, int]] = {}
    results: dict[str, list[ChoiceResult]] = {}
    for _ in range(args.repeats):
        for mode, run in (
            ("batched", lambda: adapter.loglikelihood(requests)),
            ("one_at_a_time", lambda: [adapter.loglikelihood([r])[0] for r in requests]),
            ("plain_loop", lambda: plain_loop(adapter, requests)),
        ):
            counts.update(calls=0, rows=0)
            seconds, results[mode] = _timed(run)
            times[mode].append(seconds)
            towers[mode] = dict(counts)
    n = len(requests)
    diff = max(
        abs(a - b)
        for x, y in zip(results["batched"], results["plain_loop"], strict=True)
        for a, b in zip(x.logprobs, y.logprobs, strict=True)
    )
    rows = {mode: statistics.median(values) for mode, values in times.items()}
    report = {
        "model": args.model,
        "suite": _shown(args.suite),
        "device": str(adapter.device),
        "dtype": str(next(adapter.model.parameters()).dtype),
        "items": n,
        "distinct_images": distinct,
        "repeats": args.repeats,
        "seconds_median": rows,
        "items_per_second": {mode: round(n / seconds, 2) for mode, seconds in rows.items()},
        "ratio_plain_loop_over_batched": round(rows["plain_loop"] / rows["batched"], 2),
        "ratio_one_at_a_time_over_batched": round(rows["one_at_a_time"] / rows["batched"], 2),
        "vision_tower": towers,
        "max_abs_logprob_diff_batched_vs_plain": diff,
        "peak_rss_mb": {"after_load": round(rss_loaded), "after_all": round(_max_rss_mb())},
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, python {platform.python_version()}",
    }
    name = Path(args.model).name.replace(":", "-")
    output = args.output or ROOT / "benchmarks" / "results" / f"vlm-{name}-{adapter.device.type}.json"
    output.write_text(json.dumps(report, indent=2) + "\n")
    for mode in times:
        print(f"{mode:14s} {rows[mode]:8.2f} s  {n / rows[mode]:7.2f} items/s  tower {towers[mode]}")
    print(f"{n} items, {distinct} distinct images; plain loop / batched = {report['ratio_plain_loop_over_batched']}x")
    print(f"max |batched - plain| = {diff:.2e}; peak RSS {report['peak_rss_mb']} MB -> {output}")


if __name__ == "__main__":
    main()
