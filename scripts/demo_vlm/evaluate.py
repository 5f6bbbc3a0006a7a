"""Scoring the demo VLM on the recognition items the way the plugin's two choice scorers do.

Letter scoring (``scoring: letter``): the options are listed and the prediction is
the argmax of the next-token log-probabilities over their letters (`` A`` ... after
``Answer:``). Log-likelihood scoring (``scoring: loglikelihood``): only the question
is shown and each option's text is scored as the continuation; ``acc`` picks the
highest sum of log-probabilities, ``acc_norm`` divides by the option's length in
characters first. Ablations replace the image: a blank (all-gray) image, another
test image of a different modality, or the vision tower's weights set to zero.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from examples import Encoded, Prompts, item_prompt
from labels import LETTERS
from PIL import Image


def load_items(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def pixels(proc: Any, files: list[Path]) -> torch.Tensor:
    """The processor's pixel values for image files (what the model sees), in order."""
    images = [Image.open(f).convert("RGB") for f in files]
    return proc.image_processor(images=images, return_tensors="pt")["pixel_values"]


def blank(proc: Any) -> torch.Tensor:
    """Pixel values of an all-gray image."""
    size = proc.image_processor.crop_size["height"]
    gray = Image.new("RGB", (size, size), (128, 128, 128))
    return proc.image_processor(images=[gray], return_tensors="pt")["pixel_values"]


def swapped(items: list[dict[str, Any]]) -> list[int]:
    """For each item, the index of an item half the list away whose modality differs (deterministic)."""
    out = []
    for i, item in enumerate(items):
        j = (i + len(items) // 2) % len(items)
        while items[j]["modality"] == item["modality"]:
            j = (j + 1) % len(items)
        out.append(j)
    return out


def batch_inputs(encoded: list[Encoded], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids and attention mask for contexts followed by their targets."""
    rows = [e.context + e.target for e in encoded]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    return ids, mask


def hidden(model: Any, ids: torch.Tensor, mask: torch.Tensor, pix: torch.Tensor) -> torch.Tensor:
    """The language model's last hidden states (the LM head runs only where a token is scored)."""
    return model.model(input_ids=ids, attention_mask=mask, pixel_values=pix).last_hidden_state


@torch.no_grad()
def letter_scores(
    model: Any, prompts: Prompts, items: list[dict[str, Any]], pix: torch.Tensor, chat: bool, batch: int = 24
) -> list[bool]:
    """Per item: is the argmax over its option letters the answer? ``pix[i]`` is item i's image."""
    letters = prompts.letter_ids()
    encoded = [prompts.encode(i, prompts.context(item_prompt(it), chat), "") for i, it in enumerate(items)]
    order = sorted(range(len(items)), key=lambda i: len(encoded[i].context))
    correct = [False] * len(items)
    pad = prompts.tokenizer.pad_token_id
    for start in range(0, len(order), batch):
        chunk = order[start : start + batch]
        ids, mask = batch_inputs([encoded[i] for i in chunk], pad)
        states = hidden(model, ids, mask, pix[chunk])
        last = states[torch.arange(len(chunk)), mask.sum(1) - 1]
        logprobs = model.lm_head(last).float().log_softmax(-1)
        for row, i in enumerate(chunk):
            count = len(items[i]["choices"])
            choice = int(logprobs[row, letters[:count]].argmax())
            correct[i] = LETTERS[choice] == items[i]["answer"]
    return correct


@torch.no_grad()
def option_scores(
    model: Any, prompts: Prompts, items: list[dict[str, Any]], pix: torch.Tensor, chat: bool, batch: int = 32
) -> tuple[list[bool], list[bool]]:
    """Per item, (acc, acc_norm): is the option text with the highest log-likelihood the answer?"""
    pairs = []
    for i, item in enumerate(items):
        context = prompts.context(item_prompt(item, lists_choices=False), chat)
        pairs += [(i, k, prompts.encode(i, context, " " + text)) for k, text in enumerate(item["choices"])]
    pairs.sort(key=lambda p: len(p[2].context) + len(p[2].target))
    lls = [[0.0] * len(item["choices"]) for item in items]
    for start in range(0, len(pairs), batch):
        chunk = pairs[start : start + batch]
        ids, mask = batch_inputs([p[2] for p in chunk], prompts.tokenizer.pad_token_id)
        states = hidden(model, ids, mask, pix[[p[0] for p in chunk]])
        for row, (i, k, e) in enumerate(chunk):
            at = torch.arange(len(e.context) - 1, len(e.context) + len(e.target) - 1)
            logprobs = model.lm_head(states[row, at]).float().log_softmax(-1)
            lls[i][k] = float(logprobs[torch.arange(len(e.target)), torch.tensor(e.target)].sum())
    acc, norm = [], []
    for item, values in zip(items, lls, strict=True):
        answer = LETTERS.index(str(item["answer"]))
        scaled = [v / max(1, len(t)) for v, t in zip(values, item["choices"], strict=True)]
        acc.append(max(range(len(values)), key=values.__getitem__) == answer)
        norm.append(max(range(len(scaled)), key=scaled.__getitem__) == answer)
    return acc, norm


def score_all(model: Any, prompts: Prompts, items: list[dict[str, Any]], pix: torch.Tensor) -> dict[str, float]:
    """Letter accuracy and option-text accuracy (acc, acc_norm), with and without the chat template."""
    out = {}
    for chat in (True, False):
        tag = "chat" if chat else "plain"
        out[f"letter/{tag}"] = accuracy(letter_scores(model, prompts, items, pix, chat))
        acc, norm = option_scores(model, prompts, items, pix, chat)
        out[f"loglikelihood/{tag}"] = accuracy(acc)
        out[f"loglikelihood_norm/{tag}"] = accuracy(norm)
    return out


def accuracy(flags: list[bool]) -> float:
    return sum(flags) / max(len(flags), 1)


def ablations(
    model: Any, prompts: Prompts, proc: Any, items: list[dict[str, Any]], pix: torch.Tensor
) -> dict[str, dict[str, float]]:
    """Every score with the image, a blank image, a swapped image and a zeroed vision tower."""
    out = {
        "image": score_all(model, prompts, items, pix),
        "blank": score_all(model, prompts, items, blank(proc).expand(len(items), -1, -1, -1)),
        "swapped": score_all(model, prompts, items, pix[swapped(items)]),
    }
    saved = {k: v.clone() for k, v in model.model.vision_tower.state_dict().items()}
    with torch.no_grad():
        for p in model.model.vision_tower.parameters():
            p.zero_()
    out["zeroed tower"] = score_all(model, prompts, items, pix)
    model.model.vision_tower.load_state_dict(saved)
    return out
