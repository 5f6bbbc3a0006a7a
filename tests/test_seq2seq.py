"""Encoder-decoder (T5-style) checkpoints: choice scoring and generation, checked against plain references."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import Project

from pytest_medmodel import load_model
from pytest_medmodel.models.base import ChoiceRequest, GenerationRequest
from pytest_medmodel.models.hf.seq2seq import HFSeq2Seq


@pytest.fixture(scope="module")
def t5_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tiny_models import build_tiny_t5

    return build_tiny_t5(tmp_path_factory.mktemp("models") / "tiny-t5")


def test_a_t5_folder_loads_as_seq2seq(t5_dir: Path) -> None:
    adapter = load_model(str(t5_dir)).adapter
    assert isinstance(adapter, HFSeq2Seq) and "encoder-decoder" in adapter.describe()


def test_options_score_as_the_decoders_log_likelihood(t5_dir: Path) -> None:
    adapter = load_model(str(t5_dir)).adapter
    requests = [
        ChoiceRequest("Question: Which organ produces insulin? Answer:", (" A", " B", " C", " D")),
        ChoiceRequest("Does aspirin help? Answer:", (" yes", " no", " maybe")),
    ]
    results = adapter.loglikelihood(requests)
    model, tok = adapter.model, adapter.tokenizer
    for request, result in zip(requests, results, strict=True):
        source = torch.tensor([tok(request.context)["input_ids"]])
        for continuation, got in zip(request.continuations, result.logprobs, strict=True):
            labels = torch.tensor([tok(continuation, add_special_tokens=False)["input_ids"]])
            with torch.no_grad():
                loss = model(input_ids=source, labels=labels).loss  # mean negative log-likelihood per token
            assert got == pytest.approx(-float(loss) * labels.shape[1], abs=1e-4)
    assert len(set(results[0].logprobs)) > 1, "the options get different scores"


def test_generation_is_greedy_and_independent_of_batch_neighbours(t5_dir: Path) -> None:
    adapter = load_model(str(t5_dir)).adapter
    requests = [GenerationRequest(f"Question {i}: {'long ' * i}what?", max_new_tokens=5) for i in range(7)]
    together = adapter.generate(requests)
    alone = [adapter.generate([r])[0] for r in requests]
    assert together == alone == adapter.generate(list(reversed(requests)))[::-1]
    model, tok = adapter.model, adapter.tokenizer
    ids = torch.tensor([tok(requests[3].context)["input_ids"]])
    reference = model.generate(input_ids=ids, do_sample=False, max_new_tokens=5)[0, 1:].tolist()
    if tok.eos_token_id in reference:
        reference = reference[: reference.index(tok.eos_token_id)]
    assert together[3] == tok.decode(reference, skip_special_tokens=True)


def test_a_t5_runs_suites_through_the_plugin(project: Project, t5_dir: Path) -> None:
    project.suite("mc", 6)
    project.suite("gen", 4, prefix="ge", scoring="generate")
    result = project.pytester.runpytest("suites", f"--medmodel={t5_dir}", "--snapshot-update", "-p", "no:randomly")
    assert result.ret == 0
    baseline = json.loads((project.path / "baselines" / "tiny-t5" / "mc.json").read_text())
    assert len(baseline["items"]) == 6 and all(len(e["probs"]) == 4 for e in baseline["items"].values())
    generated = json.loads((project.path / "baselines" / "tiny-t5" / "gen.json").read_text())
    assert all("text" in e for e in generated["items"].values())
    assert project.pytester.runpytest("suites", f"--medmodel={t5_dir}", "-p", "no:randomly").ret == 0
