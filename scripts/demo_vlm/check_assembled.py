"""Assemble the demo VLM from the shipped weights and score it through AutoProcessor, as a user would.

    HF_HUB_OFFLINE=1 python scripts/demo_vlm/check_assembled.py [--out build/demo_vlm/assembled]

Loads the assembled folder with ``AutoProcessor`` and ``AutoModelForImageTextToText``
(nothing from the training code), renders each recognition item with the
processor's chat template (an image part, then the text) or the plain prompt,
lets the processor expand ``<image>``, and scores letters and option texts. The
numbers must equal the ones training printed for the shipped (half-precision) weights.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from pytest_medmodel.models.hf.checkpoints import gguf_folder
from pytest_medmodel.models.hf.demo_vlm import assemble, load_spec
from pytest_medmodel.models.specs import demo_gguf_path

ROOT = Path(__file__).resolve().parents[2]
ITEMS = ROOT / "suites" / "data" / "modality_recognition.jsonl"
LETTERS = "ABCDE"


def context(proc: Any, user: str, chat: bool) -> str:
    if not chat:
        return load_spec()["plain_prompt"].format(user=user)
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": user}]}]
    return proc.apply_chat_template(messages, add_generation_prompt=True) + "Answer:"


def logprob_of(model: Any, proc: Any, image: Image.Image, prefix: str, continuation: str) -> float:
    """log p(continuation | image, prefix), both sides processed with the image (same expansion)."""
    short = proc(text=[prefix], images=[image], return_tensors="pt")
    whole = proc(text=[prefix + continuation], images=[image], return_tensors="pt")
    head, ids = short["input_ids"][0], whole["input_ids"][0]
    assert torch.equal(ids[: len(head)], head), "the continuation changed the prompt's tokens"
    logits = model(**whole).logits[0].float().log_softmax(-1)
    at = torch.arange(len(head) - 1, len(ids) - 1)
    return float(logits[at, ids[len(head) :]].sum())


@torch.no_grad()
def score(model: Any, proc: Any, items: list[dict[str, Any]], chat: bool) -> dict[str, list[bool]]:
    """Per item: right with letter scoring, right with option-text scoring."""
    out: dict[str, list[bool]] = {"letter": [], "loglikelihood": []}
    for item in items:
        image = Image.open(ITEMS.parent / item["image"]).convert("RGB")
        listed = "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(item["choices"]))
        user = f"Question: {item['question']}\n{listed}\nAnswer with the letter of the correct option."
        prefix = context(proc, user, chat)
        inputs = proc(text=[prefix], images=[image], return_tensors="pt")
        last = model(**inputs).logits[0, -1].float().log_softmax(-1)
        letter_ids = [proc.tokenizer(prefix + " " + L)["input_ids"][-1] for L in LETTERS[: len(item["choices"])]]
        out["letter"].append(LETTERS[int(last[letter_ids].argmax())] == item["answer"])
        prefix = context(proc, f"Question: {item['question']}", chat)
        lls = [logprob_of(model, proc, image, prefix, " " + c) for c in item["choices"]]
        out["loglikelihood"].append(LETTERS[max(range(len(lls)), key=lls.__getitem__)] == item["answer"])
    return out


def summary(items: list[dict[str, Any]], flags: list[bool]) -> dict[str, float]:
    """Accuracy over all items and per question kind (modality, region)."""
    out = {"all": round(sum(flags) / len(flags), 4)}
    for kind in ("modality", "region"):
        picked = [f for f, i in zip(flags, items, strict=True) if i["asks"] == kind]
        out[kind] = round(sum(picked) / max(len(picked), 1), 4)
    return out


def main() -> None:
    from transformers import AutoModelForImageTextToText, AutoProcessor

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "demo_vlm" / "assembled")
    args = parser.parse_args()
    began = time.perf_counter()
    folder = assemble(gguf_folder(demo_gguf_path()), args.out, log=print)
    print(f"assembled in {time.perf_counter() - began:.0f}s: {sorted(p.name for p in folder.iterdir())}", flush=True)
    proc = AutoProcessor.from_pretrained(folder)
    model = AutoModelForImageTextToText.from_pretrained(folder).eval()
    print(type(proc).__name__, type(proc.image_processor).__name__, type(model).__name__)
    items = [json.loads(line) for line in ITEMS.read_text(encoding="utf-8").splitlines()]
    result: dict[str, Any] = {}
    for chat in (True, False):
        for scorer, flags in score(model, proc, items, chat).items():
            result[f"{scorer}/{'chat' if chat else 'plain'}"] = summary(items, flags)
    result["seconds"] = round(time.perf_counter() - began, 1)
    (args.out.parent / "assembled_results.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
