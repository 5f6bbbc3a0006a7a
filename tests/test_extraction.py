"""Reading answers out of generated text: real-looking generations, and the ones that must stay invalid."""

from __future__ import annotations

import re

import pytest

from pytest_medmodel.scoring.extract import (
    extract_letter,
    extract_number,
    extract_option_text,
    extract_pattern,
    extract_word,
)

LABELS = ["A", "B", "C", "D"]

LETTERS = [
    # (generated text, expected label or None, how / why)
    ("C", "C", "leading"),
    (" B", "B", "leading"),
    ("C. Metformin", "C", "leading"),
    ("(B) Increased intracranial pressure", "B", "leading"),
    ("D\n\nExplanation: warfarin is reversed with vitamin K.", "D", "leading"),
    ("Answer: D", "D", "stated"),
    ("The answer is (A).", "A", "stated"),
    ("**Final answer:** B", "B", "stated"),
    ("The correct option is D, because the patient is hypotensive.", "D", "stated"),
    ("The best answer is C", "C", "stated"),
    ("Option B is correct.", "B", "stated"),
    ("The answer is A, not B.", "A", "stated"),
    (
        "Let's think step by step. The patient has polyuria and polydipsia. A is wrong because insulin is low. "
        "B is wrong. C fits the hyperglycaemia.\nAnswer: C",
        "C",
        "stated",
    ),
    ("Option A is incorrect since the drug is renally cleared. Option C is the best choice here.", "C", "stated"),
    ("The answer is B. However, some sources say the answer is D.", "D", "stated"),  # the last statement counts
    # Invalid, never guessed:
    ("A or C", None, "hedges between options"),
    ("The answer is A or B.", None, "hedges between options"),
    ("Both A and C could apply here.", None, "no option stated"),
    ("I cannot provide medical advice. Please consult a doctor.", None, "refused"),
    ("As an AI, I am not able to diagnose patients.", None, "refused"),
    ("I'm not able to choose between these options.", None, "refused"),
    ("Metformin is the first-line drug.", None, "no option stated"),
    ("answer: a", None, "no option stated"),  # labels are matched as written: "a" is an article
    ("", None, "empty"),
    ("   \n ", None, "empty"),
    ("E", None, "no option stated"),  # not one of the labels shown
]


@pytest.mark.parametrize(("text", "label", "how"), LETTERS, ids=[repr(t[0])[:40] for t in LETTERS])
def test_letters(text: str, label: str | None, how: str) -> None:
    found = extract_letter(text, LABELS)
    assert (None if found.index is None else LABELS[found.index], found.how) == (label, how)


def test_numbered_labels_are_matched_whole() -> None:
    labels = [str(i) for i in range(1, 13)]
    assert extract_letter("Answer: 12", labels).index == 11
    assert extract_letter("1", labels).index == 0
    assert extract_letter("Answer: 13", labels).index is None


WORDS = [
    ("yes", "yes", "leading"),
    ("Yes, the trial met its primary endpoint.", "yes", "leading"),
    ("No.", "no", "leading"),
    ("Maybe: the confidence interval crosses one.", "maybe", "leading"),
    ("Based on the abstract, the answer is no.", "no", "stated"),
    ("Let's think step by step. Mortality fell from 12% to 8%.\nAnswer: yes", "yes", "stated"),
    ("The study shows a clear benefit, so yes.", "yes", "only mention"),
    ("It could be yes or no depending on the subgroup.", None, "names several options"),
    ("I'm not able to answer that; consult your doctor.", None, "refused"),
    ("The results were inconclusive.", None, "names no option"),
]


@pytest.mark.parametrize(("text", "word", "how"), WORDS, ids=[t[0][:40] for t in WORDS])
def test_words(text: str, word: str | None, how: str) -> None:
    words = ["yes", "no", "maybe"]
    found = extract_word(text, words)
    assert (None if found.index is None else words[found.index], found.how) == (word, how)


def test_option_texts() -> None:
    choices = ["Insulin", "Insulin glargine", "Metformin", "Type 2 diabetes"]
    assert extract_option_text("Metformin.", choices).index == 2
    assert extract_option_text("The answer is insulin glargine, a long-acting analogue.", choices).index == 1
    assert extract_option_text("Start insulin glargine at night.", choices).index == 1  # the longer name wins
    assert extract_option_text("Either insulin glargine or metformin.", choices).how == "names several options"
    assert extract_option_text("Lifestyle change first.", choices).how == "names no option"
    assert extract_option_text("This is type 2 diabetes.", choices).index == 3


def test_numbers() -> None:
    choices = ["5 mg", "10 mg", "12.5 mg", "25 mg"]
    assert extract_number("Answer: 12.5 mg", choices).index == 2
    assert extract_number("Start at 5 mg and titrate; the usual target dose is 25", choices).index == 3
    assert extract_number("The answer is 10", choices).index == 1
    assert extract_number("Answer: 7.5 mg", choices).how == "7.5 is no option's number"
    assert extract_number("It depends on renal function.", choices).how == "gives no number"


def test_patterns() -> None:
    pattern = re.compile(r"<answer>(.*?)</answer>")
    choices = ["aspirin", "heparin", "warfarin", "alteplase"]
    assert extract_pattern("<answer>C</answer>", pattern, LABELS, choices).index == 2
    assert extract_pattern("reasoning... <answer>Alteplase</answer>", pattern, LABELS, choices).index == 3
    assert extract_pattern("<answer>B</answer> no wait <answer>D</answer>", pattern, LABELS, choices).index == 3
    assert extract_pattern("no tags at all", pattern, LABELS, choices).how == "pattern not found"
    assert (
        extract_pattern("<answer>E</answer>", pattern, LABELS, choices).how == "pattern matched 'E', which is no option"
    )


def test_open_answers_normalise_like_squad() -> None:
    from pytest_medmodel.scoring.extract import exact_match, normalise_answer, open_answer, token_f1

    assert normalise_answer("The  Pancreas!") == "pancreas"
    assert exact_match("an insulin", ["Insulin"]) and not exact_match("insulin glargine", ["insulin"])
    assert token_f1("insulin glargine", ["insulin"]) == pytest.approx(2 / 3)  # P 1/2, R 1
    assert token_f1("metformin", ["insulin", "metformin"]) == 1.0  # the best reference counts
    assert token_f1("", ["insulin"]) == 0.0 and token_f1("the", ["a"]) == 0.0
    assert open_answer("Insulin.\nIt is made by beta cells.") == "Insulin"
    assert open_answer("Reasoning first.\n**Answer:** acetylcysteine.") == "acetylcysteine"
    assert open_answer("   ") == ""
