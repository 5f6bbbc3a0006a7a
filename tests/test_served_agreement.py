"""Served letter scoring agrees with in-process scoring on the same tiny LLaVA (issue 22).

The same 12 pictures and questions go through the plugin twice: the model folder
loaded in-process, and the same folder behind :class:`reference_vlm_server.ReferenceVLM`
(an OpenAI-compatible chat server: the picture travels as a PNG ``data:`` URI, the
server applies the processor's chat template). With ``answer_prefix: ""`` both
score the letter as the first token of the assistant turn, so they must agree:

* read from the letters' own token ids (vLLM's ``logprob_token_ids``): every
  option's probability within :data:`TOLERANCE` of the in-process one, every
  answer the same;
* read from the top 20: the same where every option is among the top 20; an
  option outside them has no number (probability 0), which is what the token-id
  path exists to fix. A random model never puts a letter among its top 20 of
  420 tokens, so the second model here is the same one taught to answer with
  letters (:func:`_answering_in_letters`), to compare the top-20 path on numbers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import Project
from test_image_reliance import _shades

TOLERANCE = 2e-3
"""Largest difference in an option's probability (baselines keep 4 decimals; float32 on CPU, batched in-process)."""
PROMPT = 'prompt:\n  answer_prefix: ""\n'


def _answering_in_letters(folder: Path, out: Path) -> Path:
    """The model with the LM-head rows of `` A`` and `` B`` copied from the two tokens it likes best after the
    first item's prompt: every prompt ends in the same assistant header, so the letters come out on top."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = AutoProcessor.from_pretrained(folder)
    model = AutoModelForImageTextToText.from_pretrained(folder, dtype=torch.float32).eval()
    text = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Dark or bright?"}]}],
        add_generation_prompt=True,
        tokenize=False,
    )
    from PIL import Image

    inputs = processor(text=text, images=[Image.new("RGB", (16, 16), (128, 128, 128))], return_tensors="pt")
    with torch.no_grad():
        favourite = model(**inputs).logits[0, -1].topk(2).indices.tolist()
        head = model.get_output_embeddings().weight
        for letter, row in zip((" A", " B"), favourite, strict=True):
            (token,) = processor.tokenizer(letter, add_special_tokens=False).input_ids
            head[token] = head[row].clone()
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def _baseline(project: Project, profile: str) -> dict[str, Any]:
    items: dict[str, Any] = json.loads((project.path / "baselines" / profile / "shades.json").read_text())["items"]
    return items


@pytest.mark.slow
def test_served_letters_agree_with_in_process_letters_on_the_same_tiny_llava(project: Project, tmp_path: Path) -> None:
    from reference_vlm_server import ReferenceVLM
    from tiny_vision_models import build_llava

    folder = build_llava(tmp_path / "tiny-llava")
    _shades(project, PROMPT, n=12)
    project.env.setenv("HF_HUB_OFFLINE", "1")
    base = ["suites", "-p", "no:randomly", "--snapshot-update"]
    local = project.pytester.runpytest_subprocess(*base, f"--medmodel={folder}", "--medmodel-profile=local")
    assert local.ret == 0, local.stdout.str()
    lettered = _answering_in_letters(folder, tmp_path / "lettered")
    again = project.pytester.runpytest_subprocess(*base, f"--medmodel={lettered}", "--medmodel-profile=lettered")
    assert again.ret == 0, again.stdout.str()
    for profile, token_ids, model in (("ids", True, folder), ("top", False, lettered)):
        server = ReferenceVLM(model, token_ids=token_ids)
        try:
            spec = f"--medmodel=openai:{server.url}#images=png&concurrency=2"
            served = project.pytester.runpytest(*base, spec, f"--medmodel-profile={profile}")
        finally:
            server.close()
        assert served.ret == 0, served.stdout.str()
    local_items, ids, lettered_items, top = (_baseline(project, p) for p in ("local", "ids", "lettered", "top"))
    assert len(local_items) == len(ids) == len(lettered_items) == len(top) == 12

    def gap(a: dict[str, Any], b: dict[str, Any]) -> float:
        return max(abs(x - y) for x, y in zip(a["probs"], b["probs"], strict=True))

    for item, expected in local_items.items():
        assert ids[item]["answer"] == expected["answer"], item
        assert gap(ids[item], expected) <= TOLERANCE, item
    complete = [i for i in top if all(p > 0 for p in top[i].get("probs", [0]))]  # no probs: every option outside
    assert len(complete) >= 10, top  # the lettered model puts both letters among its top 20 (nearly) everywhere
    for item in complete:  # every option among the top 20: the same numbers
        expected = lettered_items[item]
        assert top[item]["answer"] == expected["answer"], item
        assert gap(top[item], expected) <= TOLERANCE, item
    worst = max(gap(ids[i], local_items[i]) for i in ids), max(gap(top[i], lettered_items[i]) for i in complete)
    print(f"token ids: 12 of 12 agree, largest gap {worst[0]:.4f}; top 20: {len(complete)} of 12, {worst[1]:.4f}")
