"""A served vision-language model: image requests through /chat/completions (issue 22, part 1).

The fake server is a model that sees: for a chat request with a picture it answers
"B" (bright) when the picture's mean grey is over 127, else "A", and returns the
first token's top log-probabilities when asked (``logprobs``) and when it offers
them (a vLLM), or only the text (``transformers serve`` drops them). Its
``/completions`` returns no log-probabilities. The suite is the dark/bright one
of the reliance tests, 24 items, letters.
"""

from __future__ import annotations

import base64
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Project
from loopback import JsonHandler, serve
from test_image_reliance import _shades

from pytest_medmodel.models.base import IMAGE_MARK, AdapterError, ChoiceRequest
from pytest_medmodel.models.openai.adapter import OpenAIEndpoint
from pytest_medmodel.models.openai.spec import parse_spec


class Sighted:
    """A chat server that reads pictures; ``logprobs``: it returns top log-probabilities; ``garbage``: it breaks.

    ``token_ids``: what it does with vLLM's ``logprob_token_ids`` (token ``ord(letter)``, `` A`` ``1000 + ord``):
    ``honoured`` (and ``/tokenize`` at the root), ``ignored`` (an older vLLM: ``/tokenize`` works, the field
    does nothing), ``rejected`` (HTTP 400), ``none`` (no ``/tokenize``). ``top_k``: how many top tokens it lists.
    """

    def __init__(self, logprobs: bool = True, token_ids: str = "none", top_k: int = 2) -> None:
        self.logprobs = logprobs
        self.token_ids = token_ids
        self.top_k = top_k
        self.garbage = False
        self.fault = ""
        """``error``: chat requests answer HTTP 500; ``hang``: they answer after 3 s."""
        self.chats: list[dict[str, Any]] = []
        fake = self

        class Handler(JsonHandler):
            def do_GET(self) -> None:  # noqa: N802
                self.send_json(200, {"data": [{"id": "sighted"}]})

            def do_POST(self) -> None:  # noqa: N802
                body = self.read_json()
                if self.path == "/tokenize" and fake.token_ids != "none":
                    self.send_json(200, _tokenized(body["prompt"]))
                elif self.path == "/tokenize":
                    self.send_json(404, {"error": "Not Found"})
                elif (
                    self.path.endswith("/chat/completions")
                    and fake.fault
                    and isinstance(body["messages"][0]["content"], list)
                ):
                    if fake.fault == "hang":
                        time.sleep(3)
                    self.send_json(500, {"error": "CUDA out of memory"})
                elif self.path.endswith("/chat/completions"):
                    fake.chats.append(body)
                    if "logprob_token_ids" in body and fake.token_ids == "rejected":
                        self.send_json(400, {"error": "logprob_token_ids: extra inputs are not permitted"})
                    else:
                        self.send_json(200, {"choices": "nope"} if fake.garbage else fake.chat(body))
                else:
                    self.send_json(200, {"choices": [{"text": " Paris", "logprobs": None}]})

        self.server, self.url = serve(Handler)

    def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        content = body["messages"][0]["content"]
        pictures = (
            [p["image_url"]["url"] for p in content if p.get("type") == "image_url"]
            if isinstance(content, list)
            else []
        )
        answer = "B" if pictures and _mean(pictures[0]) > 127 else "A"
        choice: dict[str, Any] = {"message": {"role": "assistant", "content": answer}}
        if self.logprobs and body.get("logprobs"):
            other = "A" if answer == "B" else "B"
            space = 1000  # " A" is 1000 + ord("A"): the form the plugin's continuations take
            values = {space + ord(answer): -0.1, space + ord(other): -2.5}
            wanted = body.get("logprob_token_ids") if self.token_ids == "honoured" else None
            ids = [space + ord(answer), *wanted] if wanted else [space + ord(answer), space + ord(other)][: self.top_k]

            def named(i: int) -> str:
                return f"token_id:{i}" if body.get("return_tokens_as_token_ids") else chr(i % 1000)

            top = [{"token": named(i), "logprob": values.get(i, -9.0)} for i in dict.fromkeys(ids)]
            choice["logprobs"] = {"content": [{**top[0], "top_logprobs": top}]}
        return {"choices": [choice]}

    def close(self) -> None:
        self.server.shutdown()


def _tokenized(text: str) -> dict[str, Any]:
    """The fake's tokenizer: a letter is ``ord``, a space and a letter ``1000 + ord``, anything else a token a char."""
    if len(text) == 2 and text[0] == " ":
        return {"tokens": [1000 + ord(text[1])]}
    return {"tokens": [ord(c) for c in text]}


def _mean(uri: str) -> float:
    from PIL import Image, ImageStat

    return float(ImageStat.Stat(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("L")).mean[0])


@pytest.fixture
def sighted() -> Iterator[Sighted]:
    server = Sighted()
    yield server
    server.close()


def _run(project: Project, url: str, *args: str) -> pytest.RunResult:
    return project.pytester.runpytest("suites", f"--medmodel=openai:{url}#images=png", "-p", "no:randomly", *args)


def test_letters_come_from_the_chat_answers_top_logprobs_with_each_picture_as_png(
    project: Project, sighted: Sighted
) -> None:
    _shades(project, "")
    result = _run(project, sighted.url, "--snapshot-update", "-v")
    assert result.ret == 0, result.stdout.str()
    said = " ".join(" ".join(result.stdout.lines).split())  # the model line wraps
    assert "images as png via /chat/completions, top-20 next-token log-probabilities only" in said
    assert "25 passed" in said and "applies no chat template" not in said  # the server templates chat requests
    body = next(b for b in sighted.chats if isinstance(b["messages"][0]["content"], list))
    parts = body["messages"][0]["content"]
    assert [p["type"] for p in parts] == ["image_url", "text"]  # the picture where the prompt's mark is
    assert body["top_logprobs"] == 20 and body["max_tokens"] == 1 and body["temperature"] == 0
    from PIL import Image

    def pixels(uri: str) -> bytes:
        assert uri.startswith("data:image/png;base64,")
        sent = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
        assert sent.format == "PNG"
        return sent.convert("RGB").tobytes()

    sent = {pixels(p["image_url"]["url"]) for b in sighted.chats[1:] for p in b["messages"][0]["content"][:1]}
    files = sorted((project.path / "suites" / "images").glob("s*.png"))
    assert sent == {Image.open(f).convert("RGB").tobytes() for f in files}  # lossless: every picture, as it is


def test_a_server_without_chat_logprobs_is_scored_by_generation_and_the_summary_says_so(project: Project) -> None:
    server = Sighted(logprobs=False)
    try:
        _shades(project, "")
        result = _run(project, server.url, "--snapshot-update")
    finally:
        server.close()
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*shades: scored by generation (extract: letter) instead of letter*"])
    assert "25 passed" in result.stdout.str()
    assert all("logprobs" not in b and "stop" not in b for b in server.chats[1:])  # after the probe: plain generation


def test_a_server_that_returns_named_token_ids_scores_every_letter_from_its_own_token(project: Project) -> None:
    """vLLM's logprob_token_ids: the top-1 server leaves the other letter without a number (-inf, probability 0)
    where the same server answering for the letters' ids gives it its own (-2.5: probability 0.083)."""
    confidence = {}
    for mode in ("ignored", "honoured"):
        server = Sighted(token_ids=mode, top_k=1)
        try:
            _shades(project, "")
            result = _run(project, server.url, "--snapshot-update")
        finally:
            server.close()
        assert result.ret == 0, result.stdout.str()
        said = " ".join(" ".join(result.stdout.lines).split())
        baseline = json.loads(next((project.path / "baselines").glob("*/shades.json")).read_text())
        confidence[mode] = {item["confidence"] for item in baseline["items"].values()}
        assert all(item["correct"] for item in baseline["items"].values())
        if mode == "honoured":
            assert "letters from their token ids via /chat/completions" in said
            assert "log-probabilities of each option's own token (logprob_token_ids)" in said
            body = server.chats[-1]
            assert body["logprob_token_ids"] == [65, 66, 1065, 1066]  # each letter stripped and after a space
            assert body["return_tokens_as_token_ids"] is True
        else:
            assert "top-20 next-token log-probabilities only" in said  # the probe found the field ignored
    assert confidence == {"ignored": {1.0}, "honoured": {0.9168}}  # softmax(-0.1, -2.5)


@pytest.mark.parametrize("mode", ["rejected", "none"])
def test_a_server_that_refuses_token_ids_or_cannot_tokenize_is_read_from_its_top_k(mode: str) -> None:
    server = Sighted(token_ids=mode)
    try:
        served = parse_spec(f"openai:{server.url}#images=png&revision=r1")
        endpoint = OpenAIEndpoint(served.url, served.options)
    finally:
        server.close()
    assert endpoint.chat is not None and endpoint.chat.logprobs == "top"
    assert endpoint.image_capabilities == {"images", "topk_logprobs", "generate"}
    assert endpoint.fingerprint is not None and endpoint.fingerprint.endswith("; images as png via /chat/completions")
    assert "top-20 next-token log-probabilities only" in endpoint.describe().split("images as png")[1]


def test_a_server_that_stops_returning_the_ids_it_was_probed_for_fails_in_one_line() -> None:
    """Restarted as an older vLLM after the probe: the answer lacks an id asked for, which is an error, never -inf."""
    from PIL import Image

    class Picture:
        def load(self) -> Image.Image:
            return Image.new("RGB", (8, 8), (200, 200, 200))

    server = Sighted(token_ids="honoured", top_k=1)
    try:
        served = parse_spec(f"openai:{server.url}#images=png")
        endpoint = OpenAIEndpoint(served.url, served.options)
        request = ChoiceRequest(f"{IMAGE_MARK}\nDark or bright?\nAnswer:", (" A", " B"), images=(Picture(),))  # type: ignore[arg-type]
        assert endpoint.loglikelihood([request])[0].logprobs == (-2.5, -0.1)
        server.token_ids = "ignored"
        with pytest.raises(AdapterError, match="the answer lacks the token ids asked for although the probe found"):
            endpoint.loglikelihood([request])
    finally:
        server.close()


def test_a_chat_endpoint_that_answers_garbage_leaves_the_baselines_untouched(
    project: Project, sighted: Sighted
) -> None:
    _shades(project, "")
    assert _run(project, sighted.url, "--snapshot-update").ret == 0
    before = project.baseline_bytes()
    sighted.garbage = True
    result = _run(project, sighted.url, "--snapshot-update")
    assert result.ret != 0 and project.baseline_bytes() == before
    result.stdout.fnmatch_lines([f"*{sighted.url}/chat/completions: the answer's 'choices' is *nope*"])


@pytest.mark.parametrize(
    ("fault", "said"),
    [
        ("error", "HTTP 500 *CUDA out of memory* after 2 attempts"),
        ("hang", "no answer within 1 s (per-request timeout)"),
    ],
)
def test_a_chat_endpoint_that_errors_or_hangs_fails_in_one_line_and_leaves_the_baselines_untouched(
    project: Project, sighted: Sighted, fault: str, said: str
) -> None:
    _shades(project, "")
    assert _run(project, sighted.url, "--snapshot-update").ret == 0
    before = project.baseline_bytes()
    sighted.fault = fault  # the probe (text only) still answers; every request with a picture fails
    spec = f"--medmodel=openai:{sighted.url}#images=png&timeout=1&retries=1"
    result = project.pytester.runpytest("suites", spec, "-p", "no:randomly", "--snapshot-update", "-n", "0")
    assert result.ret != 0 and project.baseline_bytes() == before
    result.stdout.fnmatch_lines([f"*{sighted.url}/chat/completions: {said}*"])


def test_how_pictures_travel_is_part_of_the_fingerprint_and_checked(sighted: Sighted) -> None:
    def endpoint(fragment: str) -> OpenAIEndpoint:
        served = parse_spec(f"openai:{sighted.url}#revision=r1{fragment}")
        return OpenAIEndpoint(served.url, served.options)

    text_only, png, jpeg = endpoint(""), endpoint("&images=png"), endpoint("&images=jpeg&jpeg_quality=50")
    assert text_only.fingerprint == f"openai:sighted@r1 at {sighted.url}; chat template none applied"  # as before
    assert png.fingerprint.endswith("; images as png via /chat/completions")
    assert jpeg.fingerprint.endswith("; images as jpeg q50 via /chat/completions")
    assert "images" not in text_only.capabilities and "images" in png.capabilities
    assert png.image_capabilities == {"images", "topk_logprobs", "generate"}
    for fragment, said in (
        ("#images=gif", "images must be png or jpeg"),
        ("#images=png&jpeg_quality=80", "jpeg_quality is a whole number from 1 to 95, with images=jpeg"),
        ("#images=jpeg&jpeg_quality=101", "jpeg_quality is a whole number from 1 to 95"),
    ):
        with pytest.raises(AdapterError, match=said):
            parse_spec(f"openai:{sighted.url}{fragment}")


def test_a_served_model_without_images_skips_an_image_suite_with_the_reason(project: Project, sighted: Sighted) -> None:
    _shades(project, "")
    result = project.pytester.runpytest("suites", f"--medmodel=openai:{sighted.url}", "-p", "no:randomly", "-rs")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*does not take images*run it with a vision-language model*"])
    assert sighted.chats == []


@pytest.fixture(scope="module")
def served_llava(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """``transformers serve`` on loopback with a tiny LLaVA built here (it takes images, drops log-probabilities)."""
    pytest.importorskip("fastapi", reason="transformers[serving] is not installed")
    from test_serving import transformers_serve
    from tiny_vision_models import build_llava

    model = build_llava(tmp_path_factory.mktemp("served-vlm") / "tiny-llava")
    with transformers_serve(model, tmp_path_factory.mktemp("served-vlm-log")) as url:
        yield url, model


@pytest.mark.slow
def test_transformers_serve_takes_the_pictures_and_is_scored_by_generation(
    project: Project, served_llava: tuple[str, Path]
) -> None:
    """The real server: it accepts image parts, drops log-probabilities (the probe finds none), and a suite with
    images runs through it end to end by generation, said in the summary."""
    url, model = served_llava
    served = parse_spec(f"openai:{url}#model={model}&images=png")
    endpoint = OpenAIEndpoint(served.url, served.options)
    assert endpoint.chat is not None and endpoint.chat.logprobs == "none"
    assert endpoint.image_capabilities == {"images", "generate"}
    _shades(project, "", n=6)
    spec = f"--medmodel=openai:{url}#model={model}&images=png&concurrency=4"
    result = project.pytester.runpytest("suites", spec, "-p", "no:randomly", "--snapshot-update")
    assert result.ret == 0, result.stdout.str()
    said = " ".join(" ".join(result.stdout.lines).split())
    assert "shades: scored by generation (extract: letter) instead of letter" in said
    assert "6 item(s) computed" in said and "error" not in said.lower()
