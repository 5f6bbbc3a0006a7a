"""A horizontal flip: the answer stays, or changes the way a laterality item says it should.

``Sider`` answers which half of the picture is brighter, so it follows a flip;
``Cheater`` answers from the picture's overall brightness, a shortcut that is right
on these originals (left-bright pictures are lighter overall) but cannot see which
side is which, so every flipped item catches it out.
"""

from __future__ import annotations

import random

from conftest import Project, outcomes

from pytest_medmodel import load_suite
from pytest_medmodel.perturb.base import PERTURBATIONS, seed_for
from pytest_medmodel.suite.types import Variant

MODELS = """
from pytest_medmodel import CHOICE_LOGPROBS, IMAGES, ChoiceResult

def _halves(image):
    grey = image.convert("L").resize((2, 1))
    return grey.getpixel((0, 0)), grey.getpixel((1, 0))

class Sider:
    name = "sider"
    fingerprint = "sider-1"
    capabilities = {CHOICE_LOGPROBS, IMAGES}

    def loglikelihood(self, requests):
        out = []
        for r in requests:
            left, right = _halves(r.images[0].load())
            wanted = "left" if left > right else "right"
            out.append(ChoiceResult(tuple(-0.1 if c.strip() == wanted else -3.0 for c in r.continuations)))
        return out

class Cheater(Sider):
    fingerprint = "cheater-1"

    def loglikelihood(self, requests):
        out = []
        for r in requests:
            left, right = _halves(r.images[0].load())
            wanted = "left" if (left + right) / 2 > 110 else "right"
            out.append(ChoiceResult(tuple(-0.1 if c.strip() == wanted else -3.0 for c in r.continuations)))
        return out

def make():
    return Sider()

def cheater():
    return Cheater()
"""


def _sides(project: Project, n: int = 24) -> None:
    from PIL import Image

    (project.path / "sides.py").write_text(MODELS)
    images = project.path / "suites" / "images"
    images.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        left = i % 2 == 0
        picture = Image.new("RGB", (16, 16), (10 + i // 2,) * 3)  # each its own picture: 24 clusters, not 2
        picture.paste((220, 220, 220) if left else (190, 190, 190), (0 if left else 8, 0, 8 if left else 16, 16))
        picture.save(images / f"p{i}.png")
        rows.append(
            {
                "id": f"lat-{i:02d}",
                "image": f"../images/p{i}.png",
                "question": "Which side of the picture is bright?",
                "choices": ["left", "right"],
                "answer": "A" if left else "B",
                "flip": "B" if left else "A",
            }
        )
    project.suite("sides", rows=rows, scoring="loglikelihood", extra_yaml="perturbations:\n  - hflip\n")


def test_a_flipped_laterality_item_expects_the_other_side_and_an_unmarked_item_the_same() -> None:
    import tempfile
    from pathlib import Path

    from PIL import Image

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        Image.new("RGB", (8, 8), (200, 0, 0)).save(root / "x.png")
        rows = [
            '{"id": "a", "image": "x.png", "question": "Side?", "choices": ["left", "right"], "answer": "A", "flip": "B"}',
            '{"id": "b", "image": "x.png", "question": "Organ?", "choices": ["lung", "liver"], "answer": "B", "flip": ""}',
        ]
        (root / "d.jsonl").write_text("\n".join(rows) + "\n")
        (root / "s.suite.yaml").write_text("task: multiple_choice\ndata: {path: d.jsonl}\nperturbations: [hflip]\n")
        suite = load_suite(root / "s.suite.yaml")
        apply = PERTURBATIONS.get("hflip").factory()
        side, organ = (Variant.of(item) for item in suite.items)
        flipped = apply(side, random.Random(seed_for("s", "a", "hflip", {})), suite)
        assert flipped.answer == 1 and flipped.choices == side.choices and flipped.origin == (1, 0)
        picture, mirrored = side.images[0].load(), flipped.images[0].load()
        assert mirrored.tobytes() == picture.transpose(Image.Transpose.FLIP_LEFT_RIGHT).tobytes()
        kept = apply(organ, random.Random(0), suite)
        assert kept.answer == organ.answer and kept.origin == organ.origin and kept.images != organ.images


def test_the_flip_gates_pass_a_model_that_follows_the_sides_and_fail_one_that_cannot_tell_them(
    project: Project,
) -> None:
    _sides(project)
    run = ["suites", "-p", "no:randomly"]
    record = project.pytester.runpytest(*run, "--medmodel=py:sides:make", "--snapshot-update")
    assert record.ret == 0, record.stdout.str()
    assert outcomes(record)["passed"] == 24 * 2 + 3  # every item right, flipped or not; three gates
    result = project.pytester.runpytest(*run, "--medmodel=py:sides:cheater", "--medmodel-profile=sides-make")
    assert result.ret == 1
    failed = {line.split("::")[1].split(" ")[0] for line in result.stdout.lines if line.startswith("FAILED")}
    assert failed == {"gate[accuracy/hflip]", "gate[consistency/hflip]"}, result.stdout.str()
    result.stdout.fnmatch_lines(["*accuracy under 'hflip' on 24 paired items*24 lost, 0 gained*"])
