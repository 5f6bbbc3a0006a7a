"""Requests and their identities.

The identities below were computed on the code before requests had parts (commit
db6ed0c) and are hard-coded: they are the prediction cache's key material, so
a change here empties every cache and may change what a baseline was scored from.
"""

from __future__ import annotations

from pytest_medmodel import ChoiceRequest, GenerationRequest
from pytest_medmodel.execution.store import request_key

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


def test_requests_are_still_built_from_a_context_string_positionally_and_by_keyword() -> None:
    assert ChoiceRequest("Q", (" a",)) == ChoiceRequest(context="Q", continuations=(" a",), meta={"x": 1})
    keyword = GenerationRequest(context="Q", max_new_tokens=3, stop=("\n",), meta={})
    assert GenerationRequest("Q", 3, ("\n",)) == keyword and keyword.context == "Q"
    assert repr(ChoiceRequest("Q", (" a",))) == "ChoiceRequest(context='Q', continuations=(' a',), meta={})"
