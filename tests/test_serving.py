"""The OpenAI-compatible serving backend: against a real ``transformers serve`` on loopback, and against a
small local fake that misbehaves on purpose (429, 500, a hang, a dropped connection, no server at all)."""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Project
from loopback import JsonHandler, serve

from pytest_medmodel.models.base import AdapterError, ChoiceRequest, GenerationRequest
from pytest_medmodel.models.openai.adapter import OpenAIEndpoint
from pytest_medmodel.models.openai.http import JsonClient
from pytest_medmodel.models.openai.spec import parse_spec


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------- a fake that misbehaves on purpose


class Fake:
    """Scripted answers: each request takes the next action ('429', '500', 'hang', 'drop', 'ok')."""

    def __init__(
        self,
        actions: list[str] | None = None,
        echo: bool = False,
        top: dict[str, float] | None = None,
        misaligned: bool = False,
    ) -> None:
        self.actions = list(actions or [])
        self.echo = echo
        self.top = top
        self.misaligned = misaligned
        self.seen: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        fake = self

        class Handler(JsonHandler):
            def do_GET(self) -> None:  # noqa: N802
                self.send_json(200, {"data": [{"id": "fake-model"}]})

            def do_POST(self) -> None:  # noqa: N802
                body = self.read_json()
                fake.seen.append(body)
                fake.headers.append(dict(self.headers))
                action = fake.actions.pop(0) if fake.actions else "ok"
                if action == "hang":
                    time.sleep(3)
                    return
                if action == "drop":
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if action in ("429", "500"):
                    self.send_json(int(action), {"error": "busy" if action == "429" else "boom"}, {"Retry-After": "0"})
                    return
                self.send_json(200, fake.answer(body))

        self.server, self.url = serve(Handler)

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        """OpenAI-format completions from a character-level model: every character costs 0.01 nats, an 'a'
        0.1 more, and it always generates '.'. ``misaligned`` echoes values that disagree with generation
        (like llama-cpp-python 0.3.36's shifted ones); ``top`` answers with next-token top log-probabilities only."""
        prompt = str(body.get("prompt", ""))
        if self.top is not None and body.get("logprobs"):
            logprobs = {
                "tokens": [" A"],
                "token_logprobs": [-0.2],
                "text_offset": [len(prompt)],
                "top_logprobs": [self.top],
            }
            return {"choices": [{"text": " A", "logprobs": logprobs}]}
        if not (self.echo and body.get("logprobs")):
            return {"choices": [{"text": f" reply to {len(prompt)} chars", "logprobs": None}]}

        def cost(c: str) -> float:
            return -0.1 * (c == "a") - 0.01

        echo = bool(body.get("echo"))
        tokens = list(prompt + ".") if echo else ["."]
        values: list[float | None] = [cost(t) for t in tokens]
        if echo:
            # misaligned: each token scored by the distribution after it, which rarely predicts the token itself
            values = [None, *(v - 3.0 if self.misaligned and v is not None else v for v in values[1:])]
        offsets = list(range(len(tokens))) if echo else [len(prompt)]
        top = [None if v is None else {t: v} for t, v in zip(tokens, values, strict=True)]
        logprobs = {"tokens": tokens, "token_logprobs": values, "text_offset": offsets, "top_logprobs": top}
        return {"choices": [{"text": (prompt if echo else "") + ".", "logprobs": logprobs}]}

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def fake() -> Iterator[Fake]:
    server = Fake()
    yield server
    server.close()


def _client(url: str, **kwargs: Any) -> JsonClient:
    return JsonClient(url, timeout=kwargs.pop("timeout", 1.0), sleep=lambda s: None, **kwargs)


def test_429_500_and_dropped_connections_are_retried(fake: Fake) -> None:
    fake.actions = ["429", "500", "drop", "ok"]
    client = _client(fake.url, retries=3)
    assert client.post("/completions", {"prompt": "x"})["choices"][0]["text"] == " reply to 1 chars"
    assert client.retried == 3 and len(fake.seen) == 4


def test_retries_give_up_with_one_line(fake: Fake) -> None:
    fake.actions = ["500"] * 5
    with pytest.raises(AdapterError) as error:
        _client(fake.url, retries=2).post("/completions", {"prompt": "x"})
    assert str(error.value) == f'{fake.url}/completions: HTTP 500 {{"error": "boom"}} after 3 attempts'


def test_a_hang_ends_at_the_timeout_without_retrying(fake: Fake) -> None:
    fake.actions = ["hang"]
    client = _client(fake.url, timeout=0.5, retries=3)
    # The fake holds the request for 3 s and then drops it: without the deadline that would be a dropped
    # connection, retried; the timeout's own message, after one request and no retry, is the deadline's.
    with pytest.raises(AdapterError, match=r"no answer within 0.5 s \(per-request timeout\)"):
        client.post("/completions", {"prompt": "x"})
    assert client.retried == 0 and len(fake.seen) == 1


def test_an_unreachable_server_is_one_clear_line() -> None:
    url = f"http://127.0.0.1:{_free_port()}/v1"
    with pytest.raises(AdapterError, match=r"/models: cannot reach the server \(.*refused.*\); is it running\?"):
        OpenAIEndpoint(url, {"timeout": "1"})


def test_the_api_key_travels_as_a_header_only(fake: Fake, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDMODEL_OPENAI_API_KEY", "sk-secret-123")
    endpoint = OpenAIEndpoint(fake.url, {"revision": "r1"})
    assert fake.headers[-1]["Authorization"] == "Bearer sk-secret-123"
    shown = " ".join([endpoint.name, endpoint.describe(), str(endpoint.fingerprint)])
    assert "sk-secret" not in shown
    assert endpoint.fingerprint == f"openai:fake-model@r1 at {fake.url}; chat template none applied"


def test_without_a_revision_cross_run_caching_is_off_and_said(fake: Fake) -> None:
    endpoint = OpenAIEndpoint(fake.url, {})
    assert (
        endpoint.fingerprint is None
        and "no revision given (#revision=...): cross-run caching off" in endpoint.describe()
    )


def test_bad_specs_are_one_line_errors() -> None:
    with pytest.raises(AdapterError, match="write openai:http://host:port/v1"):
        parse_spec("openai:localhost:8000")
    with pytest.raises(AdapterError, match="unknown setting\\(s\\) modle"):
        parse_spec("openai:http://h:1/v1#modle=x")
    for bad in ("soon", "0", "-3"):
        with pytest.raises(AdapterError, match=f"timeout must be a positive number of seconds, got '{bad}'"):
            parse_spec(f"openai:http://h:1/v1#timeout={bad}")
    served = parse_spec("openai:http://h:1/v1/#model=m&concurrency=16")
    assert (served.url, served.options, served.credentials) == (
        "http://h:1/v1",
        {"model": "m", "concurrency": "16"},
        None,
    )


def test_prompt_logprobs_score_option_texts_when_the_server_echoes() -> None:
    """The echo path against the fake's OpenAI-format answers (no server that installs here returns them)."""
    server = Fake(echo=True)
    try:
        endpoint = OpenAIEndpoint(server.url, {"concurrency": "4"})
        assert endpoint.logprobs == "echo" and "choice_logprobs" in endpoint.capabilities
        (result,) = endpoint.loglikelihood([ChoiceRequest("Q: x\nA:", (" banana", " kiwi"))])
        assert result.logprobs == pytest.approx((-0.3 - 0.07, -0.05))  # three a's and seven characters; five characters
    finally:
        server.close()


def test_echo_that_disagrees_with_generation_is_not_trusted() -> None:
    """A server whose echoed values are shifted by one token (llama-cpp-python 0.3.36) gets the top-k path."""
    server = Fake(echo=True, misaligned=True)
    try:
        endpoint = OpenAIEndpoint(server.url, {})
        assert endpoint.logprobs == "top" and "disagree with the next-token ones" in endpoint.describe()
    finally:
        server.close()


def test_letters_from_top_logprobs_and_minus_infinity_outside_them() -> None:
    """The top-k path against the fake: a letter the server did not list is -inf, said as such, never NaN."""
    server = Fake(top={" A": -0.2, " B": -1.9, "C": -2.5})
    try:
        endpoint = OpenAIEndpoint(server.url, {})
        assert endpoint.logprobs == "top" and endpoint.capabilities == frozenset({"topk_logprobs", "generate"})
        (result,) = endpoint.loglikelihood([ChoiceRequest("Q\nAnswer:", (" A", " B", " C", " D"))])
        assert result.logprobs[:3] == (-0.2, -1.9, -2.5) and result.logprobs[3] == -math.inf
        assert server.seen[-1]["logprobs"] == 20 and server.seen[-1]["max_tokens"] == 1
    finally:
        server.close()


def test_without_logprobs_choice_scoring_is_refused_with_the_reason(fake: Fake) -> None:
    endpoint = OpenAIEndpoint(fake.url, {})
    assert endpoint.logprobs == "none" and endpoint.capabilities == frozenset({"generate"})
    with pytest.raises(AdapterError, match="returns no log-probabilities; use scoring: generate"):
        endpoint.loglikelihood([ChoiceRequest("Q", (" A", " B"))])


def test_a_failing_server_leaves_baselines_untouched(project: Project, fake: Fake) -> None:
    project.suite("gen", 4, scoring="generate")
    spec = f"--medmodel=openai:{fake.url}#retries=1"
    assert project.pytester.runpytest("suites", spec, "--snapshot-update", "-p", "no:randomly").ret == 0
    before = project.baseline_bytes()
    fake.actions = ["500"] * 20
    (project.path / "suites" / "data" / "gen.jsonl").write_text(
        (project.path / "suites" / "data" / "gen.jsonl").read_text().replace("Which", "Whichever")
    )
    result = project.pytester.runpytest("suites", spec, "--snapshot-update", "-p", "no:randomly")
    assert result.ret != 0 and project.baseline_bytes() == before
    result.stdout.fnmatch_lines([f'*{fake.url}/completions: HTTP 500 {{"error": "boom"}} after 2 attempts*'])


# --------------------------------------------------------------------------- a real server


def _wait_until_up(url: str, process: subprocess.Popen, log: Path, what: str) -> None:
    """Poll ``url`` until the server answers (120 s at most); its log's end when it dies or never comes up."""
    for _ in range(240):
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            if process.poll() is not None:
                pytest.fail(f"{what} exited: {log.read_text()[-2000:]}")
            time.sleep(0.5)
    pytest.fail(f"{what} did not come up in 120 s: {log.read_text()[-2000:]}")


@contextlib.contextmanager
def transformers_serve(model: Path, log_folder: Path) -> Iterator[str]:
    """``transformers serve`` on loopback with a model folder built here; its base URL; stopped on exit."""
    port = _free_port()
    command = [str(Path(sys.executable).parent / "transformers"), "serve", str(model), "--host", "127.0.0.1"]
    command += ["--port", str(port), "--device", "cpu", "--log-level", "warning"]
    log = log_folder / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"}
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(f"{url}/health", process, log, "transformers serve")
        yield f"{url}/v1"
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """``transformers serve`` on loopback with a tiny Llama built here; stopped at the end."""
    pytest.importorskip("fastapi", reason="transformers[serving] is not installed")
    from tiny_models import build_tiny_llama

    model = build_tiny_llama(tmp_path_factory.mktemp("served") / "tiny-llama")
    with transformers_serve(model, tmp_path_factory.mktemp("served-log")) as url:
        yield url, model


@pytest.mark.slow
def test_transformers_serve_offers_generation_only(served: tuple[str, Path]) -> None:
    """What the real server returns: no log-probabilities, with echo or without (transformers 5.x)."""
    url, model = served
    endpoint = OpenAIEndpoint(url, {"model": str(model)})
    assert endpoint.logprobs == "none" and endpoint.capabilities == frozenset({"generate"})


@pytest.mark.slow
def test_the_served_model_generates_what_the_in_process_adapter_does(served: tuple[str, Path]) -> None:
    url, model = served
    from pytest_medmodel import load_model

    endpoint = OpenAIEndpoint(url, {"model": str(model), "concurrency": "4"})
    requests = [GenerationRequest(f"Question {i}: what is it?\nAnswer:", max_new_tokens=6) for i in range(8)]
    local = load_model(str(model)).adapter.generate(requests)
    assert endpoint.generate(requests) == local


# --------------------------------------------------------------------------- a real server with log-probabilities

ROOT = Path(__file__).resolve().parents[1]
LOGPROB_TOLERANCE = 0.75
"""Nats between llama.cpp (computing with the Q4_1 weights) and the in-process adapter (the same weights
dequantized to float32) on one letter's log-probability."""


@pytest.fixture(scope="module")
def llama_served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server on loopback with the demo model's GGUF file."""
    python = os.environ.get("MEDMODEL_LLAMA_PYTHON") or str(ROOT / ".venv-llama" / "bin" / "python")
    if not Path(python).exists():
        if os.environ.get("CI"):
            pytest.fail(f"no llama.cpp server at {python}: scripts/llama_server.sh builds one")
        pytest.skip(f"no llama.cpp server at {python} (bash scripts/llama_server.sh, or set MEDMODEL_LLAMA_PYTHON)")
    from pytest_medmodel.models.specs import demo_gguf_path

    port = _free_port()
    command = [python, "-m", "llama_cpp.server", "--model", str(demo_gguf_path()), "--host", "127.0.0.1"]
    command += ["--port", str(port), "--n_ctx", "2048", "--logits_all", "true", "--model_alias", "smollm2"]
    log = tmp_path_factory.mktemp("llama-log") / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_until_up(f"http://127.0.0.1:{port}/v1/models", process, log, "the llama.cpp server")
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.slow
def test_llama_cpp_echo_is_misaligned_so_letters_come_from_top_logprobs(llama_served: str) -> None:
    """What the real server returns: next-token top log-probabilities that agree with generation, and echoed
    prompt log-probabilities that do not (llama-cpp-python 0.3.36), which the probe catches."""
    endpoint = OpenAIEndpoint(llama_served, {"model": "smollm2"})
    assert endpoint.logprobs == "top" and endpoint.capabilities == frozenset({"topk_logprobs", "generate"})
    assert "echoed prompt log-probabilities disagree with the next-token ones" in endpoint.describe()


@pytest.mark.slow
def test_llama_cpp_agrees_with_the_in_process_adapter_on_letters(llama_served: str) -> None:
    from pytest_medmodel import load_model, load_suite
    from pytest_medmodel.scoring.base import SCORERS
    from pytest_medmodel.suite.types import Variant

    suite = load_suite(ROOT / "suites" / "general_medicine.suite.yaml")
    letter = SCORERS.get("letter")
    requests = [letter.request(suite, Variant.of(item), None) for item in suite.items[:40]]
    remote = OpenAIEndpoint(llama_served, {"model": "smollm2", "concurrency": "4"}).loglikelihood(requests)
    local = load_model("demo").adapter.loglikelihood(requests)
    compared = 0
    for there, here in zip(remote, local, strict=True):
        if not all(math.isfinite(v) for v in there.logprobs):
            assert all(v == -math.inf or math.isfinite(v) for v in there.logprobs)  # outside the top 20: -inf
            continue
        compared += 1
        assert max(range(4), key=lambda i: there.logprobs[i]) == max(range(4), key=lambda i: here.logprobs[i])
        assert max(abs(a - b) for a, b in zip(there.logprobs, here.logprobs, strict=True)) < LOGPROB_TOLERANCE
    assert compared >= 10, f"only {compared} of 40 items had every letter in the top 20"


@pytest.mark.slow
def test_a_suite_runs_against_llama_cpp_through_the_plugin(project: Project, llama_served: str) -> None:
    project.suite("mc", 8)
    project.suite("cloze", 4, prefix="cl", scoring="loglikelihood")
    spec = f"--medmodel=openai:{llama_served}#model=smollm2&revision=q4_1"
    result = project.pytester.runpytest("suites", spec, "--snapshot-update", "-p", "no:randomly")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["cloze: scored by generation (extract: option_text) instead of loglikelihood: *"])
    baseline = json.loads((project.path / "baselines" / "openai-smollm2" / "mc.json").read_text())
    assert baseline["model"]["fingerprint"] == f"openai:smollm2@q4_1 at {llama_served}; chat template none applied"
    assert baseline["scoring"] == "letter"
    assert all(len(e.get("probs") or [0, 0, 0, 0]) == 4 for e in baseline["items"].values())
    assert project.pytester.runpytest("suites", spec, "-p", "no:randomly").ret == 0


@pytest.mark.slow
def test_a_local_tokenizer_gives_a_served_model_the_in_process_chat_prompts(served: tuple[str, Path]) -> None:
    """/completions applies no chat template: tokenizer=<folder> applies it here, so a chat suite sends the
    server what the in-process adapter would run, and the answers match."""
    from dataclasses import replace

    from pytest_medmodel import load_model, load_suite
    from pytest_medmodel.scoring.base import SCORERS
    from pytest_medmodel.suite.types import ScoringSpec, Variant

    url, model = served
    endpoint = OpenAIEndpoint(url, {"model": str(model), "tokenizer": str(model)})
    local = load_model(str(model)).adapter
    messages = [{"role": "user", "content": "Question: which organ makes insulin?"}]
    assert endpoint.format_chat(messages) == local.format_chat(messages) and "<|user|>" in local.format_chat(messages)
    assert OpenAIEndpoint(url, {"model": str(model)}).format_chat(messages) is None
    assert f"chat template from {model}" in endpoint.describe()

    suite = load_suite(ROOT / "suites" / "general_medicine.suite.yaml")
    suite = replace(suite, scoring=ScoringSpec("generate", {"max_new_tokens": 6}))
    generate = SCORERS.get("generate")
    there = [generate.request(suite, Variant.of(item), endpoint.format_chat) for item in suite.items[:6]]
    here = [generate.request(suite, Variant.of(item), local.format_chat) for item in suite.items[:6]]
    assert [r.context for r in there] == [r.context for r in here] and "<|assistant|>" in there[0].context
    assert endpoint.generate(there) == local.generate(here)
