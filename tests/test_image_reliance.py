"""Modality ablations (the image removed, blanked, swapped) and gate[image_reliance].

The ``Seer`` adapter reads the picture (dark or bright by its mean); ``Deaf``
takes images but answers "dark" whatever it is shown, as a VLM whose vision
tower did not load answers from the text; ``Sharp`` reads the picture like Seer,
only surer of itself (different, not worse).
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from conftest import Project, outcomes
from test_image_items import SEER

from pytest_medmodel import load_suite
from pytest_medmodel.perturb.base import PERTURBATIONS, seed_for
from pytest_medmodel.suite.types import SuiteError, Variant

MORE = """

class Deaf(Seer):
    fingerprint = "deaf-1"

    def loglikelihood(self, requests):
        return [ChoiceResult((-0.1, -2.5)) for r in requests]

class Sharp(Seer):
    fingerprint = "sharp-1"

    def loglikelihood(self, requests):
        return [ChoiceResult(tuple(-0.001 if x > -1 else -7.0 for x in r.logprobs)) for r in super().loglikelihood(requests)]

def deaf():
    return Deaf()

def sharp():
    return Sharp()
"""

ABLATIONS = "perturbations:\n  - no_image\n  - blank_image\n  - swap_image\ngates:\n  image_reliance: {}\n"


def _shades(project: Project, extra_yaml: str = ABLATIONS, n: int = 24) -> Path:
    from PIL import Image

    (project.path / "seer.py").write_text(SEER + MORE)
    images = project.path / "suites" / "images"
    images.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        bright = i % 2 == 1
        Image.new("RGB", (16, 16), ((230 - i) if bright else (20 + i),) * 3).save(images / f"s{i}.png")
        rows.append(
            {
                "id": f"sh-{i:02d}",
                "image": f"../images/s{i}.png",
                "question": "Is this image dark or bright?",
                "choices": ["dark", "bright"],
                "answer": "B" if bright else "A",
                "tags": ["bright" if bright else "dark"],
            }
        )
    return project.suite("shades", rows=rows, extra_yaml=extra_yaml)


def _run(project: Project, model: str, *args: str) -> pytest.RunResult:
    return project.pytester.runpytest("suites", f"--medmodel=py:seer:{model}", "-p", "no:randomly", *args)


def _ablated(name: str, variant: Variant, suite: object) -> Variant:
    apply = PERTURBATIONS.get(name).factory()
    rng = random.Random(seed_for("shades", variant.item_id, name, {}))
    return apply(variant, rng, suite) if name == "swap_image" else apply(variant, rng)


def test_the_ablations_remove_blank_or_swap_the_image_and_keep_the_answer(project: Project) -> None:
    suite = load_suite(_shades(project))
    original = Variant.of(suite.items[0])
    assert _ablated("no_image", original, suite).images == ()
    (blank,) = _ablated("blank_image", original, suite).images
    picture = blank.load()
    assert picture.size == original.images[0].load().size and picture.getextrema() == ((128, 128),) * 3
    swapped = _ablated("swap_image", original, suite)
    donor = next(item for item in suite.items if item.images == swapped.images)
    assert donor.id != original.item_id and donor.choices[donor.answer] != "dark"  # a picture with another answer
    assert swapped.images == _ablated("swap_image", original, suite).images  # seeded, the same every time
    for variant in (swapped, _ablated("no_image", original, suite)):
        assert (variant.question, variant.choices, variant.answer) == (original.question, original.choices, 0)


def test_ablations_get_no_gates_of_their_own_and_image_reliance_needs_one(project: Project) -> None:
    path = _shades(project, "perturbations:\n  - {name: no_image, gates: {accuracy: {}}}\n")
    with pytest.raises(SuiteError, match="'no_image' is an ablation: it is meant to change answers"):
        load_suite(path)
    with pytest.raises(SuiteError, match="gate image_reliance compares each item with its image removed"):
        load_suite(_shades(project, "gates:\n  image_reliance: {}\n"))
    gates = load_suite(_shades(project)).gate_names
    assert "image_reliance" in gates and not [g for g in gates if "/" in g]


def test_a_model_that_answers_without_looking_is_flagged_on_its_first_run(project: Project) -> None:
    _shades(project)
    result = _run(project, "deaf")
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "*gate?image_reliance?*",
            "the model answers as well without the image: its reliance is indistinguishable from zero",
            "image reliance +0.0% [[]+0.0%, +0.0%[]] on 24 items*",
        ]
    )


def test_the_reliance_gate_fails_a_model_that_stopped_looking_and_passes_different_but_not_worse(
    project: Project,
) -> None:
    _shades(project)
    record = _run(project, "make", "--snapshot-update")
    assert record.ret == 0, record.stdout.str()
    counts = outcomes(record)
    assert counts["passed"] + counts["xfailed"] == 24 * 4 + 2  # every item, its three ablated variants, two gates
    assert "gate[accuracy/no_image]" not in record.stdout.str()
    for same in ("make", "sharp"):
        result = _run(project, same, "--medmodel-profile=seer-make", "-rA")
        assert result.ret == 0, result.stdout.str()
        result.stdout.fnmatch_lines(
            ["image reliance +66.7% [[]*[]] on 24 items*", "by tag: dark +66.7% (12), bright +66.7% (12)"]
        )
        result.stdout.fnmatch_lines(["*baseline +66.7%*now +66.7%*"])
    result = _run(project, "deaf", "--medmodel-profile=seer-make")
    assert result.ret == 1
    failed = {line.split("::")[1].split(" ")[0] for line in result.stdout.lines if line.startswith("FAILED")}
    assert "gate[image_reliance]" in failed, result.stdout.str()
    result.stdout.fnmatch_lines(
        ["the model no longer needs the image on suite shades; the baseline's model did", "*a drop of 66.7 points*"]
    )


def test_no_image_leaves_a_templates_image_placeholders_empty(project: Project) -> None:
    """The text is what the model reads with the image, less the image: no mark without a picture behind it."""
    from pytest_medmodel.models.base import IMAGE_MARK
    from pytest_medmodel.scoring.prompts import prompt_images, render_user_message

    path = _shades(project, 'prompt:\n  template: "{image}\\nQuestion: {question}\\n{choices}"\n' + ABLATIONS, n=2)
    suite = load_suite(path)
    original = Variant.of(suite.items[0])
    ablated = _ablated("no_image", original, suite)
    question = "Question: Is this image dark or bright?\nA. dark\nB. bright"
    assert render_user_message(suite.prompt, original) == f"{IMAGE_MARK}\n{question}"
    assert render_user_message(suite.prompt, ablated) == f"\n{question}"
    assert prompt_images(suite.prompt, ablated) == ()


def test_the_reliance_interval_is_a_normal_interval_over_independent_units() -> None:
    from pytest_medmodel.gates.reliance import mean_interval

    alone = {"a": 1.0, "b": 0.0, "c": 1.0, "d": 0.0}
    low, high = mean_interval(alone, {})
    assert low == pytest.approx(0.5 - 1.959964 * (1 / 3) ** 0.5 / 2) and high == pytest.approx(1 - low)
    assert mean_interval({"a": 0.4}, {}) == (0.4, 0.4)
    together = mean_interval(alone, {"a": "x", "c": "x", "b": "y", "d": "y"})  # two clusters that agree within
    assert together[1] - together[0] > high - low  # fewer independent units: a wider interval


def test_the_reliance_drop_is_tested_exactly_over_clusters() -> None:
    """Drops are multiples of 1/3 with three ablations: an exact sign-flip test on whole numbers, by cluster."""
    from pytest_medmodel.gates.reliance import drop_p

    alone = {f"i{n}": 2 / 3 for n in range(10)}
    p, test = drop_p(alone, {}, None)
    assert test == "exact sign-flip test over clusters" and p == pytest.approx(2**-10)
    paired = drop_p(alone, {f"i{n}": f"c{n // 2}" for n in range(10)}, None)[0]  # 5 clusters of two
    assert paired == pytest.approx(2**-5)
    mixed = {**alone, "i0": -2 / 3}
    assert drop_p(mixed, {}, None)[0] > p
    assert drop_p(alone, {}, 0.05)[1] == "betting test over clusters"
