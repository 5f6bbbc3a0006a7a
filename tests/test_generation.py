"""Greedy generation of the transformers adapter, checked against an obviously-correct decoder.

The prediction cache stores each request's text under that request's own key
(context, ``max_new_tokens``, stop strings). So the text must be exactly what the
request gets alone: it may not depend on which other requests share its batch
(their token limits, whether their context starts with BOS, their lengths, i.e.
how much left padding the request gets). The tests here:

* compare batched ``generate`` with a one-prompt-at-a-time greedy decoder written
  here (full forward pass per token, no KV cache, no padding);
* generate a request alone and next to neighbours that differ in each of those
  ways (the old implementation took ``max_new_tokens`` and the BOS decision from
  the chunk, so a request's text changed with its neighbours);
* check per-request token limits, EOS, stop strings and determinism.

Three models: the tiny Llama (its tokenizer adds no BOS), the same Llama with a
tokenizer that adds BOS (like real Llama tokenizers: this is where the BOS decision
matters), and the tiny GPT-2 (learned absolute positions, no pad token: the adapter
pads with EOS). Random tiny models generate gibberish, which is fine: what matters
is that it is the same gibberish, token for token, as the reference decoder's.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
import torch

from pytest_medmodel.models.base import GenerationRequest
from pytest_medmodel.models.hf import generate as hf_generate
from pytest_medmodel.models.hf.adapter import HFCausalLM
from pytest_medmodel.models.hf.generate import cut_at_stops
from pytest_medmodel.models.specs import ModelOptions, load_adapter

VARIANTS = ("llama", "llama-bos", "gpt2")

LONG = "Metformin lowers glucose; aspirin inhibits platelets; warfarin is an anticoagulant. The study found"
PROMPTS = (
    "x",
    "Question: Which organ produces insulin? Answer:",
    LONG,
    "<s>The pancreas",  # already starts with BOS: no second BOS may be added
    "Patients with pneumonia received",
)
"""Prompts of clearly different token lengths, so that a batch of them is left-padded."""


def _load(variant: str, tiny_llama_dir: Path, tiny_gpt2_dir: Path) -> HFCausalLM:
    folder = tiny_gpt2_dir if variant == "gpt2" else tiny_llama_dir
    adapter = load_adapter(str(folder), ModelOptions(device="cpu", dtype="float32"))
    assert isinstance(adapter, HFCausalLM)
    if variant == "llama-bos":
        adapter.tokenizer.add_bos_token = True
        assert adapter.tokenizer("hi")["input_ids"][0] == adapter.tokenizer.bos_token_id
    if variant == "gpt2":
        # Randomly initialised GPT-2 (tied embeddings, tiny blocks) just repeats the last
        # prompt token forever, whatever the positions. Larger position embeddings make its
        # output depend on positions, which is what left padding could get wrong.
        with torch.no_grad():
            adapter.model.transformer.wpe.weight.mul_(10.0)
        assert adapter.tokenizer.pad_token_id == adapter.tokenizer.eos_token_id, "GPT-2 pads with EOS"
    return adapter


@pytest.fixture(scope="module", params=VARIANTS)
def adapter(request: pytest.FixtureRequest, tiny_llama_dir: Path, tiny_gpt2_dir: Path) -> HFCausalLM:
    return _load(request.param, tiny_llama_dir, tiny_gpt2_dir)


def _prompt_ids(adapter: HFCausalLM, context: str) -> list[int]:
    tok = adapter.tokenizer
    with_bos = not (tok.bos_token and context.startswith(tok.bos_token))
    # An empty prompt starts from BOS alone (a model cannot run on no tokens), as in scoring.
    return list(tok(context, add_special_tokens=with_bos)["input_ids"]) or [tok.bos_token_id]


def reference_ids(adapter: HFCausalLM, context: str, max_new_tokens: int) -> list[int]:
    """The obviously-correct greedy decoder: one prompt, no cache, no padding, EOS excluded."""
    model, eos = adapter.model, adapter.tokenizer.eos_token_id
    ids = _prompt_ids(adapter, context)
    new: list[int] = []
    with torch.no_grad():
        while len(new) < max_new_tokens:
            logits = model(input_ids=torch.tensor([ids + new], device=adapter.device)).logits
            token = int(logits[0, -1].argmax())
            if token == eos:
                break
            new.append(token)
    return new


def reference_text(adapter: HFCausalLM, context: str, max_new_tokens: int) -> str:
    return adapter.tokenizer.decode(reference_ids(adapter, context, max_new_tokens), skip_special_tokens=True)


def _overlapping_stops(text: str) -> tuple[int, str, str]:
    """``(i, a, b)``: ``a = text[i:i+2]`` first occurs at ``i >= 1`` and ``b = text[i+1:i+3]`` at ``i+1``."""
    for i in range(max(1, len(text) // 3), len(text) - 2):
        a, b = text[i : i + 2], text[i + 1 : i + 3]
        if text.find(a) == i and text.find(b) == i + 1 and "\ufffd" not in a + b:
            return i, a, b
    raise AssertionError(f"no usable stop strings in {text!r}")


# --------------------------------------------------------------------------- 1. greedy reference


@pytest.mark.slow
def test_batched_generation_equals_a_one_prompt_greedy_decoder(
    adapter: HFCausalLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Fails if batching changes any token: padding that leaks into attention, positions
    # not shifted for left-padded rows (GPT-2's learned positions), a wrong pad fallback,
    # BOS added twice to "<s>The pancreas", or texts returned out of request order.
    lengths = [len(_prompt_ids(adapter, p)) for p in PROMPTS]
    assert len(set(lengths)) == len(PROMPTS), f"prompts must differ in length to be left-padded: {lengths}"
    requests = [GenerationRequest(p, max_new_tokens=12) for p in PROMPTS]
    expected = [reference_text(adapter, p, 12) for p in PROMPTS]
    assert any(expected) and len(set(expected)) == len(expected), f"a degenerate model tests nothing: {expected}"
    assert adapter.generate(requests) == expected
    # Several batches (sorted by length inside generate) still come back in request order.
    monkeypatch.setattr(hf_generate, "GENERATION_BATCH", 2)
    assert adapter.generate(requests[::-1]) == expected[::-1]


@pytest.mark.parametrize("variant", ["llama", "gpt2"])
@pytest.mark.slow
def test_a_row_that_reaches_eos_stops_there_while_its_neighbours_go_on(
    variant: str, tiny_llama_dir: Path, tiny_gpt2_dir: Path
) -> None:
    # Fails if a row's text runs on past its EOS (e.g. tokens generated after it, or pad
    # tokens decoded into text), or if a finished row stops its neighbours early.
    adapter = _load(variant, tiny_llama_dir, tiny_gpt2_dir)
    eos = adapter.tokenizer.eos_token_id
    # Random models never pick EOS on their own: give EOS the output row of a token the
    # model does pick (slightly larger), so that EOS wins where that token won.
    picked = reference_ids(adapter, PROMPTS[1], 12)[2]
    with torch.no_grad():
        head = adapter.model.get_output_embeddings().weight
        head[eos] = head[picked] * 1.05
    requests = [GenerationRequest(p, max_new_tokens=12) for p in PROMPTS]
    runs = [reference_ids(adapter, p, 12) for p in PROMPTS]
    assert any(len(r) < 12 for r in runs), "some prompt must reach EOS early"
    assert any(len(r) == 12 for r in runs), "some prompt must go on after a neighbour finished"
    expected = [adapter.tokenizer.decode(r, skip_special_tokens=True) for r in runs]
    assert adapter.generate(requests) == expected


# --------------------------------------------------------------------------- 2. batch neighbours

TARGET = GenerationRequest("Question: Which organ produces insulin? Answer:", max_new_tokens=5)
BOS_TARGET = GenerationRequest("<s>The pancreas", max_new_tokens=5)
EMPTY_TARGET = GenerationRequest("", max_new_tokens=5)

NEIGHBOURS = {
    # The old code generated the whole chunk to its largest max_new_tokens: TARGET got 20 tokens.
    "larger-limit": (TARGET, [GenerationRequest("Patients with pneumonia received", max_new_tokens=20)]),
    # The old code added BOS to every prompt or to none, as the chunk's first context said:
    # next to (after) a BOS-started context, TARGET lost its BOS ...
    "neighbour-starts-with-bos": (TARGET, [GenerationRequest("<s>Patients with", max_new_tokens=5)]),
    # ... and next to (after) a plain context, BOS_TARGET got a second BOS.
    "own-context-starts-with-bos": (BOS_TARGET, [GenerationRequest("Patients with", max_new_tokens=5)]),
    # A shorter and a longer neighbour: TARGET is left-padded, or pads the other one.
    "different-lengths": (
        TARGET,
        [GenerationRequest("x", max_new_tokens=5), GenerationRequest(LONG, max_new_tokens=5)],
    ),
    # An empty context has no token of its own: alone it must not crash, and in a batch it
    # must not become a row of nothing but padding.
    "empty-context": (EMPTY_TARGET, [GenerationRequest("Patients with", max_new_tokens=5)]),
}


@pytest.mark.parametrize("case", list(NEIGHBOURS))
@pytest.mark.slow
def test_a_requests_text_does_not_depend_on_its_batch_neighbours(adapter: HFCausalLM, case: str) -> None:
    # Fails if the target's text in a batch differs from its text alone: the batch's token
    # limit or BOS decision applied to every row, padding changing the numbers, or an empty
    # context crashing alone but not in a batch. With the old implementation, "larger-limit"
    # fails for every model, the two BOS cases for the tokenizer that adds BOS (the others add
    # none, so there BOS cannot differ) and "empty-context" where no BOS is added (it crashed
    # alone); "different-lengths" passes (it left-padded with a mask too).
    target, others = NEIGHBOURS[case]
    alone = adapter.generate([target])[0]
    assert alone == reference_text(adapter, target.context, target.max_new_tokens)
    assert alone, "an empty text would hide a wrong token limit"
    for batch in ([*others, target], [target, *others]):
        texts = adapter.generate(batch)
        assert texts[batch.index(target)] == alone, f"{case}: {[r.context for r in batch]}"
        for request, text in zip(batch, texts, strict=True):
            if request is not target:
                assert text == adapter.generate([request])[0], f"{case}: the neighbour changed too"


# --------------------------------------------------------------------------- 3. token limits


@pytest.mark.slow
def test_each_request_keeps_its_own_token_limit(adapter: HFCausalLM) -> None:
    # Fails if a row is cut at the batch's limit instead of its own (the old bug), cut too
    # early, or if max_new_tokens=0 yields text (alone, or in a batch that does generate).
    context = PROMPTS[4]
    run = reference_ids(adapter, context, 8)
    assert len(run) == 8, "the run must be long enough for the limits to bite"
    for limit in (1, 3):
        assert reference_ids(adapter, context, limit) == run[:limit], "greedy runs are prefixes of longer ones"
    limits = (1, 3, 8, 0)
    requests = [GenerationRequest(context, max_new_tokens=n) for n in limits]
    requests.append(GenerationRequest(LONG, max_new_tokens=8))
    texts = adapter.generate(requests)
    expected = [adapter.tokenizer.decode(run[:n], skip_special_tokens=True) for n in limits]
    assert texts[:4] == expected
    assert texts[4] == reference_text(adapter, LONG, 8)
    assert len(set(expected[:3])) == 3 and expected[3] == ""
    assert adapter.generate([GenerationRequest(context, max_new_tokens=0)]) == [""]
    # A negative limit means no tokens too, also next to a neighbour that does generate.
    assert adapter.generate([GenerationRequest(context, max_new_tokens=-1), requests[-1]]) == ["", texts[4]]
    assert adapter.generate([]) == []


# --------------------------------------------------------------------------- 4. stop strings


@pytest.mark.slow
def test_generation_is_cut_before_the_earliest_stop_string(adapter: HFCausalLM) -> None:
    # Fails if a stop string is ignored, kept in the text, or if the cut depends on the order
    # the stops are listed in. The stops are taken from the reference text itself, so they
    # are sure to occur; `a` and `b` overlap, so cutting at the first *listed* stop and then
    # looking for the next one in what is left (the old implementation) gives `text[:i+1]`.
    context, limit = PROMPTS[1], 12
    text = reference_text(adapter, context, limit)
    i, a, b = _overlapping_stops(text)
    cases = {
        (a,): text[:i],
        (b,): text[: i + 1],
        (a, b): text[:i],
        (b, a): text[:i],
        ("@never@",): text,
        ("@never@", b): text[: i + 1],
        (): text,
    }
    assert "@never@" not in text
    requests = [GenerationRequest(context, max_new_tokens=limit, stop=stop) for stop in cases]
    requests.append(GenerationRequest(LONG, max_new_tokens=limit, stop=(a,)))
    texts = adapter.generate(requests)
    assert texts[:-1] == list(cases.values())
    other = reference_text(adapter, LONG, limit)  # a neighbour's stops apply to its own text only
    assert texts[-1] == (other[: other.index(a)] if a in other else other)


@pytest.mark.parametrize(
    ("text", "stops", "expected"),
    [
        ("yes\n\nQuestion: next", ["\n\n"], "yes"),
        ("one. two\nthree", [".", "\n"], "one"),
        ("one. two\nthree", ["\n", "."], "one"),
        ("abXYcd", ["Yc", "XY"], "ab"),  # overlapping: earliest start wins, whatever the order
        ("abXYcd", ["XY", "Yc"], "ab"),
        ("a.b.c", ["."], "a"),  # first occurrence, not last
        ("Answer: yes", ["Answer"], ""),
        ("hello", ["zz"], "hello"),
        ("hello", [], "hello"),
        ("hello", [""], "hello"),  # an empty stop string is ignored, it does not cut everything
        ("", ["x"], ""),
    ],
)
def test_cut_at_stops(text: str, stops: Sequence[str], expected: str) -> None:
    # Fails if the cut is not at the earliest occurrence of any stop, keeps the stop string,
    # depends on the order of the stops, or treats "" as a stop at position 0.
    assert cut_at_stops(text, stops) == expected


# --------------------------------------------------------------------------- 5. determinism


@pytest.mark.slow
def test_the_same_request_gives_the_same_text_every_time(
    adapter: HFCausalLM, request: pytest.FixtureRequest, tiny_llama_dir: Path, tiny_gpt2_dir: Path
) -> None:
    # Fails if generation samples, keeps state between calls, or differs between two loads of
    # the same weights (the cache reuses a text across runs under the weights' fingerprint).
    req = GenerationRequest(PROMPTS[2], max_new_tokens=10, stop=("@never@",))
    twice = adapter.generate([req, req])
    assert twice[0] == twice[1] == adapter.generate([req])[0] != ""
    fresh = _load(request.node.callspec.params["adapter"], tiny_llama_dir, tiny_gpt2_dir)
    assert fresh.generate([req]) == twice[:1]
