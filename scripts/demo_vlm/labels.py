"""The words the recognition items and the training prompts use: options, questions, the prompt formats.

The formats are the plugin's own (``pytest_medmodel/scoring/prompts.py``). Letter
scoring: the user message ``Question: ...`` with lettered options and ``Answer with
the letter of the correct option.``, then ``Answer:`` (after the opened assistant
turn, or on a new line without a chat template) and the scored letter `` C``.
Log-likelihood scoring (``scoring: loglikelihood``): the user message is only
``Question: ...``, and each option's text is scored after ``Answer:`` (`` CT``).
"""

from __future__ import annotations

from collections.abc import Sequence

MODALITY_OPTION = {
    "CT": "CT",
    "MRI": "MRI",
    "radiograph": "X-ray radiograph",
    "ultrasound": "Ultrasound",
    "fundus photograph": "Fundus photograph",
    "microscopy": "Microscopy",
}
"""Manifest modality -> the option text shown."""
MODALITY_SHORT = {
    "CT": "CT",
    "MRI": "MRI",
    "radiograph": "X-ray",
    "ultrasound": "Ultrasound",
    "fundus photograph": "Fundus photograph",
    "microscopy": "Microscopy",
}
"""Manifest modality -> a short free-text answer (training only)."""
REGION_OPTION = {
    "head": "Head",
    "chest": "Chest",
    "abdomen": "Abdomen",
    "shoulder": "Shoulder",
    "lower leg": "Lower leg",
    "heart": "Heart",
    "eye": "Eye",
}
OVERLAPS = {"heart": {"chest"}, "chest": {"heart"}, "eye": {"head"}, "head": {"eye"}}
"""Regions that contain one another: never a distractor for each other (both would be right)."""

SUITE_QUESTION = {
    "modality": "Which imaging modality produced this image?",
    "region": "Which body region is shown?",
}
"""The questions of the shipped recognition items."""
TRAIN_QUESTIONS = {
    "modality": (
        "Which imaging modality produced this image?",
        "What type of medical image is this?",
        "Which modality was used to acquire this image?",
        "What kind of image is shown?",
        "How was this image acquired?",
    ),
    "region": (
        "Which body region is shown?",
        "Which part of the body is shown in this image?",
        "What anatomical region does this image show?",
        "Which body part was imaged?",
    ),
}
LETTERS = "ABCDE"
INSTRUCTION = "Answer with the letter of the correct option."
ANSWER_PREFIX = "Answer:"


def user_message(question: str, options: Sequence[str]) -> str:
    """The plugin's default multiple-choice user message."""
    listed = "\n".join(f"{LETTERS[i]}. {text}" for i, text in enumerate(options))
    return f"Question: {question}\n{listed}\n{INSTRUCTION}"


def question_message(question: str) -> str:
    """The plugin's default user message when the options are not listed (log-likelihood scoring)."""
    return f"Question: {question}"


def option_texts(kind: str) -> dict[str, str]:
    return MODALITY_OPTION if kind == "modality" else REGION_OPTION


def distractor_pool(kind: str, answer: str) -> list[str]:
    """The keys that may stand next to ``answer`` as wrong options."""
    keys = option_texts(kind)
    return [k for k in keys if k != answer and k not in OVERLAPS.get(answer, set())]
