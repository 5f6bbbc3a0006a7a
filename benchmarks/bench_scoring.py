"""Scoring throughput: pytest-medmodel's adapter versus a plain batched forward loop.

Both run in one process, on the same model, the same prompts and the same
continuations, interleaved and repeated; the ratio is the result (absolute
items/s on a shared 2-core machine are noise). The plain loop is what an
evaluation harness does by default: one row per (prompt, option) pair, the full
sequence through the model, logits and log-softmax over the vocabulary at every
position. For single-token continuations it dedupes to one row per prompt, like
lm-evaluation-harness's one-token "logits cache", so letter scoring is compared
fairly.

Usage:
    python benchmarks/bench_scoring.py                   # demo model, 48 items per workload
    python benchmarks/bench_scoring.py --model PATH --items 96 --repeats 5 --device cuda

Writes benchmarks/results/scoring-<model>-<device>.json and prints a table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pytest_medmodel import load_suite  # noqa: E402
from pytest_medmodel.models.base import ChoiceRequest, ChoiceResult  # noqa: E402
from pytest_medmodel.models.specs import ModelOptions, load_adapter  # noqa: E402
from pytest_medmodel.scoring.base import SCORERS  # noqa: E402
from pytest_medmodel.scoring.prompts import default_template  # noqa: E402
from pytest_medmodel.suite.types import Item, ScoringSpec, Suite, Variant  # noqa: E402


def build_requests(suite: Suite, items: tuple[Item, ...], adapter) -> list[ChoiceRequest]:  # noqa: ANN001
    """The requests the plugin would send for these items (same scorer, same prompts)."""
    scorer = SCORERS.get(suite.scoring.method)
    chat = getattr(adapter, "format_chat", None)
    return [scorer.request(suite, Variant.of(item), chat) for item in items]  # type: ignore[misc]


def plain_loop(adapter, requests: list[ChoiceRequest], batch_size: int) -> list[ChoiceResult]:  # noqa: ANN001
    """Reference implementation: full forward + full log-softmax per (context, continuation) row."""
    import torch

    model = adapter.model
    rows: list[tuple[int, int, list[int], list[int]]] = []
    for r_index, request in enumerate(requests):
        encoded = adapter._encode([request])[0]  # same tokenisation as the adapter: compare compute, not tokenisers
        if all(len(c) == 1 for c in encoded.continuations):
            rows.append((r_index, -1, encoded.context, [c[0] for c in encoded.continuations]))
        else:
            for k, cont in enumerate(encoded.continuations):
                rows.append((r_index, k, encoded.context + cont[:-1], cont))
    out = [[0.0] * len(r.continuations) for r in requests]
    with torch.inference_mode():
        for start in range(0, len(rows), batch_size):
            batch = rows[start : start + batch_size]
            width = max(len(r[2]) for r in batch)
            ids = torch.full((len(batch), width), adapter.pad_id, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for i, (_, _, seq, _) in enumerate(batch):
                ids[i, width - len(seq) :] = torch.tensor(seq)
                mask[i, width - len(seq) :] = 1
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            logprobs = (
                model(
                    input_ids=ids.to(adapter.device),
                    attention_mask=mask.to(adapter.device),
                    position_ids=positions.to(adapter.device),
                )
                .logits.float()
                .log_softmax(-1)
            )
            for i, (r_index, k, _, cont) in enumerate(batch):
                if k == -1:  # one row scores every single-token option at the last position
                    for j, token in enumerate(cont):
                        out[r_index][j] = logprobs[i, -1, token].item()
                else:
                    n = len(cont)
                    out[r_index][k] = sum(
                        logprobs[i, width - n + j, token].item() for j, token in enumerate(cont)
                    )  # c_j is predicted at width-n+j
    return [ChoiceResult(tuple(v)) for v in out]


def workloads(adapter, n_items: int) -> dict[str, list[ChoiceRequest]]:  # noqa: ANN001
    general = load_suite(ROOT / "suites" / "general_medicine.suite.yaml")
    pubmed = load_suite(ROOT / "suites" / "pubmedqa_style.suite.yaml")
    as_text = dataclasses.replace(
        general,
        scoring=ScoringSpec("loglikelihood"),
        prompt=dataclasses.replace(general.prompt, template=default_template("multiple_choice", False, False)),
    )
    return {
        "letter (general_medicine, 4 labels)": build_requests(general, general.items[:n_items], adapter),
        "loglikelihood, option texts (general_medicine, 4 multi-token options)": build_requests(
            as_text, general.items[:n_items], adapter
        ),
        "loglikelihood, yes/no/maybe (pubmedqa_style)": build_requests(pubmed, pubmed.items[:n_items], adapter),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="demo")
    parser.add_argument("--items", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--plain-batch-size", type=int, default=8, help="rows per forward pass of the plain loop")
    parser.add_argument("--output", type=Path, default=None, help="result file (default benchmarks/results/...)")
    args = parser.parse_args(argv)

    import torch

    adapter = load_adapter(
        args.model, ModelOptions(device=args.device, dtype=args.dtype, log=lambda m: print(f"[load] {m}", flush=True))
    )
    print(f"model: {adapter.describe()}; torch threads {torch.get_num_threads()}", flush=True)
    report = {
        "model": adapter.describe(),
        "machine": platform.platform(),
        "threads": torch.get_num_threads(),
        "items": args.items,
        "repeats": args.repeats,
        "workloads": {},
    }
    for name, requests in workloads(adapter, args.items).items():
        adapter.loglikelihood(requests[:2])  # warm-up
        plain_loop(adapter, requests[:2], args.plain_batch_size)
        ours_t, plain_t = [], []
        ours = plain = None
        for _ in range(args.repeats):  # interleaved, so drift in machine load hits both
            started = time.perf_counter()
            ours = adapter.loglikelihood(requests)
            ours_t.append(time.perf_counter() - started)
            started = time.perf_counter()
            plain = plain_loop(adapter, requests, args.plain_batch_size)
            plain_t.append(time.perf_counter() - started)
        pairs = zip(ours, plain, strict=True)
        diff = max(abs(a - b) for o, p in pairs for a, b in zip(o.logprobs, p.logprobs, strict=True))
        flips = sum(
            1
            for o, p in zip(ours, plain, strict=True)
            if max(range(len(o.logprobs)), key=o.logprobs.__getitem__)
            != max(range(len(p.logprobs)), key=p.logprobs.__getitem__)
        )
        tokens = sum(len(adapter._encode([r])[0].context) for r in requests) / len(requests)
        row = {
            "items": len(requests),
            "mean_context_tokens": round(tokens, 1),
            "ours_items_per_s": round(len(requests) / statistics.median(ours_t), 2),
            "plain_items_per_s": round(len(requests) / statistics.median(plain_t), 2),
            "speedup": round(statistics.median(plain_t) / statistics.median(ours_t), 2),
            "ours_seconds": [round(t, 2) for t in ours_t],
            "plain_seconds": [round(t, 2) for t in plain_t],
            "max_abs_logprob_diff": diff,
            "answer_flips": flips,
        }
        report["workloads"][name] = row
        print(
            f"{name}: ours {row['ours_items_per_s']} items/s, plain {row['plain_items_per_s']} items/s, "
            f"speedup x{row['speedup']} (max |dlogp| {diff:.1e}, {flips} answer flips)",
            flush=True,
        )
    name = Path(args.model).name if Path(args.model).exists() else args.model.replace("/", "--")
    out = args.output or ROOT / "benchmarks" / "results" / f"scoring-{name}-{adapter.device.type}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return report


if __name__ == "__main__":
    main()
