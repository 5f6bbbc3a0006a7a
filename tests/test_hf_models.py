"""Real transformers models (tiny, random, built here) through the real loading path."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch
from conftest import Project, outcomes
from transformers import AutoModelForCausalLM, AutoTokenizer

from pytest_medmodel.models.base import AdapterError, ChoiceRequest
from pytest_medmodel.models.hf.adapter import HFCausalLM
from pytest_medmodel.models.hf.prefix import shared_length
from pytest_medmodel.models.specs import ModelOptions, load_adapter, profile_for_spec


def _load(folder: Path) -> tuple[object, object]:
    return AutoModelForCausalLM.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)


def _continuation_ids(tok: object, context: str, continuation: str) -> tuple[list[int], list[int]]:
    ctx = tok(context)["input_ids"]
    whole = tok(context + continuation)["input_ids"]
    assert whole[: len(ctx)] == ctx
    return ctx, whole[len(ctx) :]


def _naive_loglikelihood(model: object, tok: object, context: str, continuation: str) -> float:
    """lm-evaluation-harness's way: one full forward pass over context+continuation."""
    ctx, cont = _continuation_ids(tok, context, continuation)
    with torch.no_grad():
        logprobs = model(torch.tensor([ctx + cont])).logits[0].float().log_softmax(-1)
    return sum(logprobs[len(ctx) - 1 + j, token].item() for j, token in enumerate(cont))


def _softmax(values: list[float]) -> list[float]:
    top = max(values)
    exps = [math.exp(v - top) for v in values]
    return [e / sum(exps) for e in exps]


def _chat(tok: object, user: str) -> str:
    return (
        tok.apply_chat_template([{"role": "user", "content": user}], tokenize=False, add_generation_prompt=True)
        + "Answer:"
    )


@pytest.mark.slow
def test_letter_scoring_agrees_with_a_direct_forward_pass(project: Project, tiny_llama_dir: Path) -> None:
    words = [
        "pancreas",
        "liver",
        "kidney",
        "heart",
        "aspirin",
        "metformin",
        "warfarin",
        "insulin",
        "platelets",
        "glucose",
        "trial",
        "mortality",
    ]
    rows = [
        {
            "id": f"mi-{i:03d}",
            "question": f"Which one is linked to {words[i]} and {words[(i * 5) % 12]}?",
            "choices": [words[(i + k * 3) % 12] for k in range(4)],
            "answer": "ABCD"[i % 4],
        }
        for i in range(12)
    ]
    project.suite("mini", rows=rows)
    result = project.pytester.runpytest("suites", f"--medmodel={tiny_llama_dir}", "--snapshot-update")
    assert result.ret == 0, result.stdout.str()
    baseline = project.baseline("mini", profile="tiny-llama")
    assert baseline["model"]["fingerprint"].startswith("folder:")
    model, tok = _load(tiny_llama_dir)
    rows = [json.loads(line) for line in (project.path / "suites" / "data" / "mini.jsonl").read_text().splitlines()]
    answers = set()
    for row in rows:
        choices = "\n".join(f"{label}. {text}" for label, text in zip("ABCD", row["choices"], strict=True))
        context = _chat(tok, f"Question: {row['question']}\n{choices}\nAnswer with the letter of the correct option.")
        ctx = tok(context)["input_ids"]
        labels = []
        for letter in "ABCD":
            _, cont = _continuation_ids(tok, context, " " + letter)
            assert len(cont) == 1, "the tiny tokenizer keeps ' A'..' D' single tokens"
            labels.append(cont[0])
        with torch.no_grad():
            last = model(torch.tensor([ctx])).logits[0, -1].float().log_softmax(-1)
        probs = _softmax([last[t].item() for t in labels])
        best = max(range(4), key=lambda i: probs[i])
        entry = baseline["items"][row["id"]]
        assert entry["answer"] == "ABCD"[best]
        assert entry["confidence"] == pytest.approx(probs[best], abs=6e-5)
        assert entry["correct"] == ("ABCD"[best] == row["answer"])
        answers.add(entry["answer"])
    assert len(answers) > 1, "a degenerate model answering one letter would not test much"
    again = project.pytester.runpytest("suites", f"--medmodel={tiny_llama_dir}")
    assert again.ret == 0
    assert outcomes(again)["passed"] == 1 + sum(1 for e in baseline["items"].values() if e["correct"])


@pytest.mark.parametrize("which", ["llama", "gpt2"])
@pytest.mark.slow
def test_loglikelihood_scoring_agrees_with_naive_full_forward(
    project: Project, which: str, tiny_llama_dir: Path, tiny_gpt2_dir: Path
) -> None:
    folder = tiny_llama_dir if which == "llama" else tiny_gpt2_dir
    project.suite("ynm", 9, task="yes_no_maybe", scoring="loglikelihood")
    result = project.pytester.runpytest(
        "suites", f"--medmodel={folder}", "--snapshot-update", "--medmodel-batch-size", "4"
    )
    assert result.ret == 0, result.stdout.str()
    baseline = project.baseline("ynm", profile=folder.name)
    model, tok = _load(folder)
    for line in (project.path / "suites" / "data" / "ynm.jsonl").read_text().splitlines():
        row = json.loads(line)
        user = f"Context: {row['context']}\nQuestion: {row['question']}\nAnswer yes, no or maybe."
        context = _chat(tok, user) if which == "llama" else f"{user}\nAnswer:"
        words = ["yes", "no", "maybe"]
        lls = [_naive_loglikelihood(model, tok, context, " " + w) for w in words]
        key = words.index(row["answer"])
        acc = max(range(3), key=lambda i: lls[i])
        acc_norm = max(range(3), key=lambda i: lls[i] / len(words[i]))
        entry = baseline["items"][row["id"]]
        assert entry["answer"] == words[acc]
        assert entry["acc"] == (acc == key) and entry["acc_norm"] == (acc_norm == key)
        assert entry["confidence"] == pytest.approx(_softmax(lls)[acc], abs=6e-5)


@pytest.mark.parametrize("which", ["llama", "gpt2"])
@pytest.mark.slow
def test_shared_prompt_kv_scoring_matches_naive_forward(which: str, tiny_llama_dir: Path, tiny_gpt2_dir: Path) -> None:
    folder = tiny_llama_dir if which == "llama" else tiny_gpt2_dir
    model, tok = _load(folder)
    adapter = HFCausalLM(model, tok, name=which, fingerprint=None, batch_size=3)
    requests = [
        ChoiceRequest("Question: Which organ produces insulin?\nA. liver\nB. pancreas\nAnswer:", (" A", " B", " C")),
        ChoiceRequest("Context: a trial of aspirin.\nQuestion: Does it help?\nAnswer:", (" yes", " no", " maybe")),
        ChoiceRequest("Which organ?\nAnswer:", (" the pancreas", " liver disease of the heart", " kidney")),
        ChoiceRequest("Metformin lowers glucose and", (" aspirin inhibits platelets", " warfarin", " no")),
        ChoiceRequest("x", (" y", " z z z z z")),
    ]
    results = adapter.loglikelihood(requests)
    for request, result in zip(requests, results, strict=True):
        for continuation, value in zip(request.continuations, result.logprobs, strict=True):
            assert value == pytest.approx(_naive_loglikelihood(model, tok, request.context, continuation), abs=1e-4)
        assert len(result.num_tokens) == len(request.continuations)


@pytest.mark.parametrize("which", ["llama", "gpt2"])
@pytest.mark.parametrize(
    "continuations",
    [(" A", " B", " C"), (" the pancreas", " liver disease of the heart", " no")],
    ids=["labels", "texts"],
)
@pytest.mark.slow
def test_shared_prompt_prefix_runs_once_and_matches_naive_forward(
    which: str, continuations: tuple[str, ...], tiny_llama_dir: Path, tiny_gpt2_dir: Path
) -> None:
    folder = tiny_llama_dir if which == "llama" else tiny_gpt2_dir
    model, tok = _load(folder)
    head = "System: You are a careful clinician answering board questions about medicine.\nQuestion: "
    questions = [
        "Which organ produces insulin?",
        "Does aspirin inhibit platelets in most patients today?",
        "x",
        "Metformin lowers glucose and what else",
    ]
    requests = [ChoiceRequest(head + q + "\nAnswer:", continuations) for q in questions]
    adapter = HFCausalLM(model, tok, name=which, fingerprint=None, batch_size=3)
    assert shared_length(adapter._encode(requests)) >= len(tok(head)["input_ids"]) - 1
    for request, result in zip(requests, adapter.loglikelihood(requests), strict=True):
        for continuation, value in zip(request.continuations, result.logprobs, strict=True):
            assert value == pytest.approx(_naive_loglikelihood(model, tok, request.context, continuation), abs=1e-4)


@pytest.mark.slow
def test_out_of_memory_halves_the_batch_instead_of_failing(tiny_llama_dir: Path) -> None:
    model, tok = _load(tiny_llama_dir)

    class SmallDevice(torch.nn.Module):
        """Pretends rows beyond 2 do not fit in memory."""

        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner
            self.config = inner.config

        def forward(
            self, input_ids=None, attention_mask=None, position_ids=None, cache=None, use_cache=None, logits_to_keep=0
        ):  # noqa: ANN001
            if input_ids.shape[0] > 2:
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return self.inner(
                input_ids=input_ids,
                attention_mask=attention_mask,
                position_ids=position_ids,
                cache=cache,
                use_cache=use_cache,
                logits_to_keep=logits_to_keep,
            )

    requests = [ChoiceRequest(f"Question {i}: which organ?\nAnswer:", (" A", " B", " the liver")) for i in range(7)]
    reference = HFCausalLM(model, tok, name="ref", fingerprint=None, batch_size=1).loglikelihood(requests)
    flaky = HFCausalLM(SmallDevice(model), tok, name="small", fingerprint=None)
    results = flaky.loglikelihood(requests)
    assert flaky.oom_backoffs >= 1 and flaky.max_batch_size <= 2
    for got, want in zip(results, reference, strict=True):
        assert got.logprobs == pytest.approx(want.logprobs, abs=1e-4)

    hopeless = HFCausalLM(SmallDevice(model), tok, name="hopeless", fingerprint=None, batch_size=4)
    hopeless.model.forward = lambda **kw: (_ for _ in ()).throw(torch.OutOfMemoryError("out of memory"))  # type: ignore[method-assign]
    with pytest.raises(AdapterError, match="out of memory on a single item"):
        hopeless.loglikelihood(requests[:3])


def test_hub_id_resolves_from_the_offline_cache(
    project: Project, tiny_llama_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    hf_home = tmp_path / "hf"
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = hf_home / "hub" / "models--medlab--tiny-llama"
    shutil.copytree(tiny_llama_dir, repo / "snapshots" / commit)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HOME", str(hf_home))
    monkeypatch.setenv("HF_HUB_CACHE", str(hf_home / "hub"))
    import huggingface_hub.constants as hub_constants

    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(hf_home / "hub"))
    project.suite("mini", 4)
    result = project.pytester.runpytest("suites", "--medmodel=medlab/tiny-llama", "--snapshot-update")
    assert result.ret == 0, result.stdout.str()
    baseline = project.baseline("mini", profile="medlab--tiny-llama")
    assert baseline["model"]["name"] == "medlab/tiny-llama"
    assert baseline["model"]["fingerprint"].startswith(f"hub:medlab/tiny-llama@{commit}:")

    missing = project.pytester.runpytest("suites", "--medmodel=medlab/not-cached")
    assert missing.ret == pytest.ExitCode.USAGE_ERROR  # a model that cannot be resolved stops the run
    missing.stdout.fnmatch_lines(
        [
            "*--medmodel=medlab/not-cached: not a local folder, and the hub could not provide it (HF_HUB_OFFLINE is set and it is not in the local cache)*"
        ]
    )


def test_fingerprint_changes_with_the_weights(tiny_llama_dir: Path, tmp_path: Path) -> None:
    from tiny_models import build_tiny_llama

    other = build_tiny_llama(tmp_path / "other", seed=5)
    first = load_adapter(str(tiny_llama_dir), ModelOptions(dtype="float32"))
    second = load_adapter(str(other), ModelOptions(dtype="float32"))
    assert first.fingerprint != second.fingerprint
    assert load_adapter(str(tiny_llama_dir), ModelOptions(dtype="float32")).fingerprint == first.fingerprint
    assert load_adapter(str(tiny_llama_dir), ModelOptions(dtype="bfloat16")).fingerprint != first.fingerprint


def test_unsupported_architectures_and_specs_say_why(tmp_path: Path) -> None:
    folder = tmp_path / "classifier"
    folder.mkdir()
    (folder / "config.json").write_text('{"architectures": ["BertForSequenceClassification"], "model_type": "bert"}')
    with pytest.raises(AdapterError, match="BertForSequenceClassification: sequence classifiers are not supported yet"):
        load_adapter(str(folder), ModelOptions())
    with pytest.raises(AdapterError, match="no config.json in the folder"):
        load_adapter(str(tmp_path), ModelOptions())
    with pytest.raises(AdapterError, match="no such folder"):
        load_adapter("./missing/model", ModelOptions())
    with pytest.raises(AdapterError, match="write py:package.module:factory"):
        load_adapter("py:justamodule", ModelOptions())


def test_default_profiles() -> None:
    assert profile_for_spec("demo") == "demo"
    assert profile_for_spec("org/model-7b") == "org--model-7b"
    assert profile_for_spec("py:my.adapters:make") == "my-adapters-make"
    assert profile_for_spec("/models/ckpt.Q4_K_M.gguf") == "ckpt.Q4_K_M"
    # Two files of one folder are two models (review finding: both got the folder's name).
    assert profile_for_spec("ggufs::a.gguf") == "a" and profile_for_spec("ggufs::b.gguf") == "b"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_asking_for_cuda_without_a_gpu_says_so(tiny_llama_dir: Path) -> None:
    with pytest.raises(
        AdapterError, match="--medmodel-device cuda:1: no CUDA device is available to this process; use auto or cpu"
    ):
        load_adapter(str(tiny_llama_dir), ModelOptions(device="cuda:1"))


@pytest.mark.slow
def test_variants_of_one_item_share_its_prompt_prefix_with_the_same_numbers(tiny_llama_dir: Path) -> None:
    """Perturbed letter-scored variants run their common prefix (chat template and question) once per item.

    Questions differ in length, so one batch holds groups whose prefixes differ in
    length: they run together, left-padded, and each row continues its own.
    """
    from pytest_medmodel.models.hf.prefix import prefix_groups

    adapter = load_adapter(str(tiny_llama_dir), ModelOptions())
    requests = []
    for item in range(6):
        question = f"Question: Which organ produces insulin in patient {item}{' of the glucose trial' * (item % 3)}?\n"
        for order in (
            "A. pancreas\nB. liver\nC. kidney",
            "A. kidney\nB. pancreas\nC. liver",
            "1. liver\n2. kidney\n3. pancreas",
        ):
            labels = (" 1", " 2", " 3") if order.startswith("1") else (" A", " B", " C")
            requests.append(ChoiceRequest(_chat(adapter.tokenizer, question + order + "\n"), labels))
    groups = prefix_groups(adapter._encode(requests))
    # One group per item with a long question: its three variants. The two items with the shortest
    # questions share too little beyond what every prompt shares, so they run with the call's prefix.
    assert sorted(len(g) for g in groups) == [3, 3, 3, 3, 6]
    calls: list[int] = []
    forward = adapter.model.forward

    def counting(*args, **kwargs):  # noqa: ANN002, ANN003
        calls.append(tuple(kwargs["input_ids"].shape))
        return forward(*args, **kwargs)

    adapter.model.forward = counting
    grouped = adapter.loglikelihood(requests)
    grouped_tokens = adapter.tokens_run
    # Prefixes of several groups run in one pass and their rows in one batch (then a pass for the second
    # token of " A"); the token budget splits the rest off. One group at a time took 15 passes.
    assert calls[0][0] > 1 and calls[1][0] > 6 and len(calls) <= 6, calls
    adapter.tokens_run, adapter.share_prefix = 0, False
    whole = adapter.loglikelihood(requests)
    assert adapter.tokens_run > 1.3 * grouped_tokens, (adapter.tokens_run, grouped_tokens)  # far fewer tokens run
    for a, b in zip(grouped, whole, strict=True):
        assert all(abs(x - y) < 1e-4 for x, y in zip(a.logprobs, b.logprobs, strict=True))


def test_device_map_auto_spreads_the_model_and_scores_the_same(tiny_llama_dir: Path) -> None:
    """accelerate's device_map on this CPU-only machine puts every layer on the CPU: the same numbers."""
    from pytest_medmodel.models.base import ChoiceRequest

    requests = [ChoiceRequest("Question: Which organ produces insulin? Answer:", (" A", " B", " C"))]
    mapped = load_adapter(str(tiny_llama_dir), ModelOptions(dtype="float32", device_map="auto"))
    plain = load_adapter(str(tiny_llama_dir), ModelOptions(dtype="float32"))
    assert "device_map auto over cpu" in mapped.describe()
    assert mapped.loglikelihood(requests)[0].logprobs == pytest.approx(
        plain.loglikelihood(requests)[0].logprobs, abs=1e-5
    )
    assert mapped.fingerprint == plain.fingerprint, "where the layers sit does not change the numbers' identity"
