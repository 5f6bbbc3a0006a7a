"""What each perturbation costs, relative to the unperturbed suite: tokens through the model and wall time.

For every perturbation family of the given suites, the requests of the original
items are scored alone and then together with that family's variants, in the
plugin's own shards (64 variants, an item's variants next to each other). The
extra tokens pushed through the model per variant, divided by the tokens of one
original prompt, is the cost of a variant in forward passes; with prefix sharing
on, a variant that only changes the options reruns only the options block and
the answer cue, not the question. The same is measured with prefix sharing off
(one full forward pass per variant) to show what the sharing saves. Timings are
interleaved and repeated; the ratios measured in one run are the result.

Usage:
    python benchmarks/bench_perturbations.py                       # shipped robustness suites, demo model
    python benchmarks/bench_perturbations.py --suite PATH --model PATH --repeats 3 --device cuda

Writes benchmarks/results/perturbations-<model>-<device>.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pytest_medmodel import load_suite  # noqa: E402
from pytest_medmodel.models.base import ChoiceRequest  # noqa: E402
from pytest_medmodel.models.specs import ModelOptions, load_adapter  # noqa: E402
from pytest_medmodel.perturb.base import variants_of  # noqa: E402
from pytest_medmodel.scoring.base import SCORERS  # noqa: E402
from pytest_medmodel.suite.types import ORIGINAL, Suite, Variant  # noqa: E402

SHIPPED = [f"suites/robustness/{name}.suite.yaml" for name in ("choice_order", "wording", "reading")]
SHARD = 64


def family_requests(suite: Suite, adapter) -> tuple[list[ChoiceRequest], dict[str, list[list[ChoiceRequest]]]]:  # noqa: ANN001
    """The original requests, and per family the requests of each item's variants (in item order)."""
    scorer = SCORERS.get(suite.scoring.method)
    chat = adapter.format_chat if suite.prompt.chat_template != "never" else None
    originals: list[ChoiceRequest] = []
    families: dict[str, list[list[ChoiceRequest]]] = {}
    for item in suite.items:
        variants = variants_of(suite, Variant.of(item))
        originals.append(scorer.request(suite, variants[0], chat))  # type: ignore[arg-type]
        per_family: dict[str, list[ChoiceRequest]] = {}
        for v in variants[1:]:
            per_family.setdefault(v.family or v.name, []).append(scorer.request(suite, v, chat))  # type: ignore[arg-type]
        for family, requests in per_family.items():
            families.setdefault(family, []).append(requests)
    return originals, families


def run(adapter, requests: list[ChoiceRequest], share: bool) -> tuple[int, float]:  # noqa: ANN001
    """Tokens through the model and seconds, scoring ``requests`` in the plugin's shards."""
    adapter.share_prefix = share
    adapter.tokens_run = 0
    start = time.perf_counter()
    for at in range(0, len(requests), SHARD):
        adapter.loglikelihood(requests[at : at + SHARD])
    return adapter.tokens_run, time.perf_counter() - start


def measure(adapter, originals, grouped, repeats: int) -> dict:  # noqa: ANN001
    combined = [r for original, variants in zip(originals, grouped, strict=True) for r in (original, *variants)]
    variants = sum(len(g) for g in grouped)
    row: dict = {"variants": variants, "variants_per_item": variants / len(originals)}
    for share in (True, False):
        base_times, all_times = [], []
        for _ in range(repeats):  # interleaved, so drift in machine load hits both
            base_tokens, t = run(adapter, originals, share)
            base_times.append(t)
            tokens, t = run(adapter, combined, share)
            all_times.append(t)
        key = "shared" if share else "unshared"
        per_pass = base_tokens / len(originals)
        row[key] = {
            "extra_passes_per_variant": (tokens - base_tokens) / per_pass / variants,
            "extra_wall_per_variant": (statistics.median(all_times) - statistics.median(base_times))
            / statistics.median(base_times)
            * len(originals)
            / variants,
            "wall_original_s": statistics.median(base_times),
            "wall_with_variants_s": statistics.median(all_times),
            "tokens_original": base_tokens,
            "tokens_with_variants": tokens,
        }
    return row


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", action="append", help="suite file (repeatable); default: shipped robustness suites")
    parser.add_argument("--model", default="demo")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    adapter = load_adapter(
        args.model, ModelOptions(device=args.device, dtype=args.dtype, log=lambda m: print(f"[load] {m}", flush=True))
    )
    results: dict = {"model": args.model, "device": adapter.device.type, "repeats": args.repeats, "rows": []}
    header = ("suite", "perturbation", "var/item", "passes/variant", "(unshared)", "wall/variant", "(unshared)")
    print("{:<14} {:<14} {:>8} {:>15} {:>11} {:>13} {:>11}".format(*header))
    for path in args.suite or [str(ROOT / p) for p in SHIPPED]:
        suite = load_suite(path)
        originals, families = family_requests(suite, adapter)
        run(adapter, originals[:2], True)  # warm-up
        together = [[r for rows in per_item for r in rows] for per_item in zip(*families.values(), strict=True)]
        for family, grouped in [*families.items(), ("(all)", together)]:
            if family == ORIGINAL:
                continue
            row = {"suite": suite.name, "perturbation": family, **measure(adapter, originals, grouped, args.repeats)}
            results["rows"].append(row)
            shared, unshared = row["shared"], row["unshared"]
            print(
                f"{suite.name:<14} {family:<14} {row['variants_per_item']:>8.1f} "
                f"{shared['extra_passes_per_variant']:>15.2f} {unshared['extra_passes_per_variant']:>11.2f} "
                f"{shared['extra_wall_per_variant']:>13.2f} {unshared['extra_wall_per_variant']:>11.2f}",
                flush=True,
            )
    device = adapter.device.type
    out = (
        args.output or ROOT / "benchmarks" / "results" / f"perturbations-{args.model.replace('/', '--')}-{device}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(
        f"passes/variant: extra tokens through the model per variant / tokens of one original prompt "
        f"(prefix sharing on; 'unshared' with it off). wall/variant: extra wall time per variant / "
        f"wall time per original item. Written to {out}"
    )
    return results


if __name__ == "__main__":
    main()
