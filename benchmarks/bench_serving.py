"""Generation through an OpenAI-compatible server against the in-process adapter, on the same model.

Starts ``transformers serve`` on loopback with the demo model (SmolLM2-135M-Instruct,
converted from the GGUF the plugin already caches) or ``--model PATH``, asks
``--items`` questions of a shipped suite with generation scoring (the prompts
the plugin would send), and times: the in-process HF adapter (batched), and the
``openai:`` backend at each ``--concurrency``. Also checks that the texts agree.
Timings are interleaved over ``--repeats``; the ratios in one run are the result.

With ``--images``, the same for a vision-language model: a tiny LLaVA built from a
config (or ``--model`` a VLM folder), the first items of the image recognition
suite, served requests through ``/chat/completions`` with each picture as a PNG.

Usage:
    python benchmarks/bench_serving.py                       # demo model, 64 items, concurrency 1, 4, 16
    python benchmarks/bench_serving.py --images --items 32   # a tiny LLaVA, the recognition suite's pictures
    python benchmarks/bench_serving.py --model PATH --items 16 --repeats 1

Writes benchmarks/results/serving-<model>-cpu.json and prints the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pytest_medmodel import load_model, load_suite  # noqa: E402
from pytest_medmodel.models.openai.adapter import OpenAIEndpoint  # noqa: E402
from pytest_medmodel.scoring.base import SCORERS  # noqa: E402
from pytest_medmodel.suite.types import ScoringSpec, Variant  # noqa: E402


def demo_folder() -> Path:
    """The demo model as a safetensors folder (converted once from its GGUF, as the plugin does)."""
    from pytest_medmodel.models.fingerprint import file_digest
    from pytest_medmodel.models.hf.loading import converted_gguf, default_cache_dir
    from pytest_medmodel.models.specs import demo_gguf_path

    gguf = demo_gguf_path()
    root = default_cache_dir()
    return converted_gguf(gguf, root / "gguf" / file_digest(gguf, root)[:20])


def tiny_llava(folder: Path) -> Path:
    """A tiny LLaVA built from a config (random weights, a tokenizer trained here), as the tests build it."""
    sys.path.insert(0, str(ROOT / "tests"))
    from tiny_vision_models import build_llava

    return build_llava(folder / "tiny-llava")


def serve(server: str, model: Path, port: int, log: Path) -> subprocess.Popen:
    """``transformers serve`` with the folder, or llama.cpp's server with the demo's GGUF file."""
    if server == "llama":
        from pytest_medmodel.models.specs import demo_gguf_path

        python = os.environ.get("MEDMODEL_LLAMA_PYTHON") or str(ROOT / ".venv-llama" / "bin" / "python")
        command = [python, "-m", "llama_cpp.server", "--model", str(demo_gguf_path()), "--host", "127.0.0.1"]
        command += ["--port", str(port), "--n_ctx", "2048", "--logits_all", "true"]
    else:
        command = [str(Path(sys.executable).parent / "transformers"), "serve", str(model), "--host", "127.0.0.1"]
        command += ["--port", str(port), "--device", "cpu", "--log-level", "warning"]
    process = subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT)
    for _ in range(240):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=1).read()
            return process
        except OSError:
            if process.poll() is not None:
                raise SystemExit(f"transformers serve exited:\n{log.read_text()[-3000:]}") from None
            time.sleep(0.5)
    raise SystemExit("transformers serve did not come up in 120 s")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="a transformers folder (default: the demo model)")
    parser.add_argument("--suite", type=Path, default=None, help="default: general_medicine (--images: recognition)")
    parser.add_argument("--images", action="store_true", help="a vision-language model, pictures via chat")
    parser.add_argument("--items", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=8)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--server", choices=["transformers", "llama"], default="transformers")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    scratch = tempfile.TemporaryDirectory()
    model = args.model or (tiny_llava(Path(scratch.name)) if args.images else demo_folder())
    args.suite = args.suite or ROOT / "suites" / ("modality_recognition" if args.images else "general_medicine")
    args.suite = args.suite.with_suffix(".suite.yaml") if args.suite.suffix != ".yaml" else args.suite
    suite = load_suite(args.suite)
    suite = type(suite)(
        **{**suite.__dict__, "scoring": ScoringSpec("generate", {"max_new_tokens": args.max_new_tokens})}
    )
    scorer = SCORERS.get("generate")
    requests = [scorer.request(suite, Variant.of(item), None) for item in suite.items[: args.items]]
    local = load_model(str(model)).adapter
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    with tempfile.TemporaryDirectory() as tmp:
        server = serve(args.server, model, port, Path(tmp) / "serve.log")
        try:
            url = f"http://127.0.0.1:{port}/v1"
            served = {} if args.server == "llama" else {"model": str(model)}
            served |= {"images": "png"} if args.images else {}
            endpoints = {c: OpenAIEndpoint(url, {**served, "concurrency": str(c)}) for c in args.concurrency}
            times: dict[str, list[float]] = {"in-process": [], **{f"server c={c}": [] for c in args.concurrency}}
            texts: dict[str, list[str]] = {}
            for _ in range(args.repeats):
                start = time.perf_counter()
                texts["in-process"] = local.generate(requests)
                times["in-process"].append(time.perf_counter() - start)
                for c, endpoint in endpoints.items():
                    start = time.perf_counter()
                    texts[f"server c={c}"] = endpoint.generate(requests)
                    times[f"server c={c}"].append(time.perf_counter() - start)
            first = endpoints[args.concurrency[0]]
            offered = first.logprobs if first.chat is None else f"{first.logprobs}; chat: {first.chat.logprobs}"
        finally:
            server.terminate()
            server.wait(timeout=30)
    rows = {
        name: {
            "seconds": [round(t, 3) for t in spent],
            "items_per_second": round(len(requests) / statistics.median(spent), 2),
            "texts_equal_to_in_process": sum(a == b for a, b in zip(texts[name], texts["in-process"], strict=True)),
        }
        for name, spent in times.items()
    }
    result = {
        "model": str(model)
        if args.model
        else ("tiny LLaVA (random)" if args.images else "SmolLM2-135M-Instruct (demo)"),
        "suite": args.suite.name,
        "items": len(requests),
        "max_new_tokens": args.max_new_tokens,
        "server": "llama-cpp-python server (demo GGUF, Q4_1)"
        if args.server == "llama"
        else "transformers serve " + __import__("transformers").__version__,
        "server_logprobs": offered,
        "cpu_threads": os.cpu_count(),
        "rows": rows,
    }
    output = (
        args.output or ROOT / "benchmarks" / "results" / f"serving-{'demo' if not args.model else model.name}-cpu.json"
        if not args.images
        else args.output or ROOT / "benchmarks" / "results" / "serving-vlm-cpu.json"
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
