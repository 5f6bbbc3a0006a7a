"""Requests as typed parts, and the adapter protocols by capability.

The identities below were computed on the code before requests had parts (commit
db6ed0c) and are hard-coded: they are the prediction cache's key material, so
a change here empties every cache and may change what a baseline was scored from.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from pytest_medmodel import (
    CHOICE_LOGPROBS,
    GENERATE,
    IMAGE_MARK,
    IMAGES,
    TOPK_LOGPROBS,
    AdapterError,
    ChoiceRequest,
    ChoiceResult,
    Generates,
    GenerationRequest,
    ImagePart,
    ModelAdapter,
    ScoresContinuations,
    TextPart,
    as_model,
)
from pytest_medmodel.execution.store import request_key
from pytest_medmodel.images import ImageRef, ImageSource
from pytest_medmodel.models.base import CAPABILITIES, capabilities_of, text_of

CHOICE_CONTEXT = "Question: Which organ makes insulin?\nA. liver\nB. pancréas\nAnswer:"
GENERATION_CONTEXT = "Question: Name the hormone.\nAnswer:"


def test_text_requests_keep_the_identity_they_had_before_parts() -> None:
    choice = ChoiceRequest(CHOICE_CONTEXT, (" A", " B"), meta={"item": "q1"})
    generation = GenerationRequest(GENERATION_CONTEXT, 12, ("\n", "."), meta={"item": "q2"})
    bare = GenerationRequest("Q")
    assert choice.identity() == ["choice", CHOICE_CONTEXT, [" A", " B"]]
    assert generation.identity() == ["generate", GENERATION_CONTEXT, 12, ["\n", "."]]
    assert bare.identity() == ["generate", "Q", 64, []]
    assert request_key("demo-fp", choice) == "8854d7389a8b88dc0d7f53d78079355c4dd0e1c91ccba4ca5887eaf12a151e71"
    assert request_key("demo-fp", generation) == "bf5a7e56cb4a11842c451688c63ee8970c73780802c3aba9122429c79ae03016"
    assert request_key("demo-fp", bare) == "aae88c0f6ad8f3a8b92dff6e2ec6b5c14b55a8932fdb00c7b372c4cd7523be7d"


def test_a_request_built_from_parts_is_the_one_built_from_its_text() -> None:
    split = (TextPart("Question: Which organ makes insulin?\n"), TextPart("A. liver\nB. pancréas\nAnswer:"))
    from_parts = ChoiceRequest.from_parts(split, (" A", " B"), meta={"item": "q1"})
    from_text = ChoiceRequest(CHOICE_CONTEXT, (" A", " B"))
    assert from_parts == from_text and hash(from_parts) == hash(from_text)
    assert from_parts.identity() == from_text.identity() and from_parts.context == CHOICE_CONTEXT
    assert from_parts.meta == {"item": "q1"} and ChoiceRequest.from_parts(split, (" A",)).meta == {}
    assert from_text.parts == from_parts.parts == (TextPart(CHOICE_CONTEXT),)

    generated = GenerationRequest.from_parts([TextPart(GENERATION_CONTEXT)], 12, ("\n", "."))
    assert generated == GenerationRequest(GENERATION_CONTEXT, 12, ("\n", "."))
    assert GenerationRequest.from_parts([TextPart("Q")]) == GenerationRequest("Q")
    assert generated.parts == (TextPart(GENERATION_CONTEXT),) and GenerationRequest("").parts == ()


def test_requests_are_still_built_from_a_context_string_positionally_and_by_keyword() -> None:
    assert ChoiceRequest("Q", (" a",)) == ChoiceRequest(context="Q", continuations=(" a",), meta={"x": 1})
    keyword = GenerationRequest(context="Q", max_new_tokens=3, stop=("\n",), meta={})
    assert GenerationRequest("Q", 3, ("\n",)) == keyword and keyword.context == "Q"
    assert repr(ChoiceRequest("Q", (" a",))) == "ChoiceRequest(context='Q', continuations=(' a',), meta={}, images=())"


def test_a_part_is_text_today() -> None:
    assert text_of([TextPart("a"), TextPart(""), TextPart("b")]) == "ab"
    with pytest.raises(TypeError, match="TextPart holds a str"):
        TextPart(b"bytes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not a str"):
        ChoiceRequest.from_parts(["plain text"], (" a",))  # type: ignore[list-item]


class Scores:
    def loglikelihood(self, requests: Sequence[ChoiceRequest]) -> list[ChoiceResult]:
        return [ChoiceResult(tuple(0.0 for _ in r.continuations)) for r in requests]


class Writes:
    def generate(self, requests: Sequence[GenerationRequest]) -> list[str]:
        return ["" for _ in requests]


class Both(Scores, Writes):
    pass


class TopK(Scores):
    capabilities = frozenset({TOPK_LOGPROBS})


def test_each_protocol_names_one_capability_and_a_model_adapter_is_either() -> None:
    assert isinstance(Scores(), ScoresContinuations) and not isinstance(Scores(), Generates)
    assert isinstance(Writes(), Generates) and not isinstance(Writes(), ScoresContinuations)
    assert all(isinstance(a, ModelAdapter) for a in (Scores(), Writes(), Both()))
    assert not isinstance(object(), ModelAdapter)
    assert capabilities_of(Scores()) == {CHOICE_LOGPROBS} and capabilities_of(Writes()) == {GENERATE}
    assert capabilities_of(Both()) == {CHOICE_LOGPROBS, GENERATE} and capabilities_of(TopK()) == {TOPK_LOGPROBS}
    assert as_model(Writes()).capabilities == {GENERATE}
    assert CAPABILITIES == (CHOICE_LOGPROBS, TOPK_LOGPROBS, GENERATE, IMAGES)


def test_a_model_adapter_can_still_be_inherited_from() -> None:
    """Before the two protocols, ``ModelAdapter`` was one protocol class, and a class could inherit it."""

    class Inherits(ModelAdapter):  # type: ignore[misc,valid-type]
        def loglikelihood(self, requests: Sequence[ChoiceRequest]) -> list[ChoiceResult]:
            return [ChoiceResult(logprobs=(0.0,) * len(r.continuations)) for r in requests]

    adapter = Inherits()
    assert isinstance(adapter, ModelAdapter) and isinstance(adapter, ScoresContinuations)
    assert as_model(adapter).capabilities == {CHOICE_LOGPROBS}
    assert not isinstance(Writes(), Inherits)  # the either-protocol check is ModelAdapter's alone


def test_an_object_that_meets_no_protocol_is_refused() -> None:
    class Nothing:
        loglikelihood = None

    with pytest.raises(AdapterError, match="has neither loglikelihood"):
        as_model(Nothing())


def _image(tmp_path: Path, name: str, shade: int) -> ImageRef:
    from PIL import Image

    path = tmp_path / name
    Image.new("RGB", (8, 8), (shade, shade, shade)).save(path)
    return ImageRef.of(ImageSource.from_file(path, name))


def test_a_request_with_images_carries_them_in_its_parts_and_its_identity(tmp_path: Path) -> None:
    dark, light = _image(tmp_path, "dark.png", 10), _image(tmp_path, "light.png", 240)
    parts = [ImagePart(dark), TextPart("Which organ?\n"), ImagePart(light), TextPart("Answer:")]
    request = ChoiceRequest.from_parts(parts, (" A", " B"))
    assert request.context == f"{IMAGE_MARK}Which organ?\n{IMAGE_MARK}Answer:"
    assert request.images == (dark, light) and request.parts == tuple(parts)
    assert request.identity()[-1] == [dark.digest, light.digest]
    swapped = ChoiceRequest.from_parts([parts[2], parts[1], parts[0], parts[3]], (" A", " B"))
    assert request_key("m", swapped) != request_key("m", request)  # another image order: another request
    same_pixels = _image(tmp_path, "copy.png", 10)
    again = ChoiceRequest.from_parts([ImagePart(same_pixels), *parts[1:]], (" A", " B"))
    assert request_key("m", again) == request_key("m", request)  # the same bytes under another name: the same image
    text_only = ChoiceRequest("Which organ?\nAnswer:", (" A", " B"))
    assert text_only.identity() == ["choice", "Which organ?\nAnswer:", [" A", " B"]]  # as before images existed
    with pytest.raises(ValueError, match="1 image\\(s\\) has 0 image mark"):
        GenerationRequest("no mark here", images=(dark,))
    with pytest.raises(ValueError, match="0 image\\(s\\) has 1 image mark"):
        ChoiceRequest(f"{IMAGE_MARK} dropped", (" A",))
    assert IMAGES not in capabilities_of(Scores())  # declared, never implied
