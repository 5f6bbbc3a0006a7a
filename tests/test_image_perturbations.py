"""Image perturbations as suite variants: identities, determinism, one-line errors, and their gates.

The pixel operations themselves are tested in test_image_transforms.py; here the
perturbations that use them: what a variant carries, that it is the same on every
build, and that a suite's ``accuracy/<label>`` and ``consistency/<label>`` gates
catch a model that an image change throws off and pass one it does not.
"""

from __future__ import annotations

import base64
import io
import json
import random
from pathlib import Path

import pytest
from conftest import Project, outcomes
from test_image_items import SEER
from test_report import _validate

from pytest_medmodel.images import ImageRef, ImageSource
from pytest_medmodel.perturb.base import PERTURBATIONS, seed_for
from pytest_medmodel.perturb.images import DRAWS
from pytest_medmodel.suite.types import Item, Variant

ROOT = Path(__file__).resolve().parents[1]
PICTURE = ROOT / "suites" / "images" / "recognition" / "retina-test-000.png"
IMAGE_PERTURBATIONS = (
    "image_noise",
    "blur",
    "jpeg",
    "brightness",
    "contrast",
    "gamma",
    "rotate",
    "downscale",
    "zoom",
    "grayscale",
)


def _variant(item_id: str = "it-1", picture: Path = PICTURE) -> Variant:
    ref = ImageRef.of(ImageSource.from_file(picture, picture.name))
    item = Item(id=item_id, question="Which modality?", choices=("CT", "fundus"), answer=1, images=(ref,))
    return Variant.of(item)


def _perturbed(name: str, variant: Variant, **params: object) -> Variant:
    apply = PERTURBATIONS.get(name).factory(**params)
    return apply(variant, random.Random(seed_for("suite", variant.item_id, name, params)))


@pytest.mark.parametrize("name", IMAGE_PERTURBATIONS)
def test_each_image_perturbation_is_a_new_picture_of_the_same_size_built_the_same_every_time(name: str) -> None:
    original = _variant()
    once, twice = _perturbed(name, original), _perturbed(name, _variant())
    (ref,) = once.images
    assert ref.digest != original.images[0].digest and ref.digest == twice.images[0].digest
    assert ref.change is not None and ref.change.base == original.images[0] and name.removeprefix("image_") in ref.shown
    picture, base = ref.load(), original.images[0].load()
    assert picture.size == base.size and picture.mode == "RGB"
    assert picture.tobytes() != base.tobytes(), f"{name} left the picture as it was"
    assert picture.tobytes() == twice.images[0].load().tobytes()
    assert (once.question, once.choices, once.answer) == (original.question, original.choices, original.answer)


def test_a_seeded_perturbation_differs_per_item_and_a_fixed_one_is_one_picture_for_all() -> None:
    """Noise is drawn per item (suite, item, spec); a blur of one image is the same blur whoever shows it."""
    first, second = _variant("it-1"), _variant("it-2")
    assert _perturbed("image_noise", first).images != _perturbed("image_noise", second).images
    assert _perturbed("blur", first).images == _perturbed("blur", second).images
    assert _perturbed("image_noise", first, sigma=0.1).images != _perturbed("image_noise", first).images


@pytest.mark.parametrize("name", sorted({"blur", "jpeg", "brightness", "contrast", "gamma", "downscale", "grayscale"}))
def test_transforms_said_to_draw_nothing_ignore_their_seed(name: str) -> None:
    """Only :data:`DRAWS` keep a seed in the identity; the rest must give the same pixels for any seed."""
    from PIL import Image

    from pytest_medmodel.images.transforms import TRANSFORMS

    assert name.removeprefix("image_") not in DRAWS
    picture = Image.open(PICTURE).convert("RGB")
    assert TRANSFORMS[name].apply(picture, 1).tobytes() == TRANSFORMS[name].apply(picture, 2).tobytes()


def test_the_window_perturbation_re_decodes_a_dicom_and_refuses_a_picture_in_one_line() -> None:
    pydicom_data = pytest.importorskip("pydicom.data")
    ct = Path(pydicom_data.get_testdata_file("CT_small.dcm", download=False))
    original = _variant(picture=ct)
    lung = _perturbed("window", original, preset="lung")
    bone = _perturbed("window", original, center=400, width=1800)
    assert len({original.images[0].digest, lung.images[0].digest, bone.images[0].digest}) == 3
    assert lung.images[0].load().tobytes() != bone.images[0].load().tobytes()
    assert bone.images == _perturbed("window", original, preset="bone").images
    with pytest.raises(ValueError, match="retina-test-000.png is a png picture, which has no VOI window"):
        _perturbed("window", _variant())
    with pytest.raises(ValueError, match="preset='liver' is not one of soft_tissue, bone, lung, brain"):
        PERTURBATIONS.get("window").factory(preset="liver")


def test_an_image_perturbation_on_an_item_without_an_image_fails_collection_in_one_line(project: Project) -> None:
    project.suite("mini", 4, extra_yaml="perturbations:\n  - {name: blur}\n")
    result = project.run()
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*item mi-000 has no image for the image perturbation 'blur' to change*"])


FRAGILE = '''

class Fragile(Seer):
    """Calls a picture bright from a mean of 45 up: right on the originals (at most 42), wrong once brightened."""
    fingerprint = "fragile-1"

    def loglikelihood(self, requests):
        out = []
        for r in requests:
            bright = r.images[0].load().convert("L").resize((1, 1)).getpixel((0, 0)) > 45
            out.append(ChoiceResult((-2.5, -0.1) if bright else (-0.1, -2.5)))
        return out

def fragile():
    return Fragile()
'''


def _shades(project: Project, n: int = 24) -> None:
    """``n`` uniform pictures, dark (20..42) and bright (207..230), and two image perturbations."""
    from PIL import Image

    (project.path / "seer.py").write_text(SEER + FRAGILE)
    images = project.path / "suites" / "images"
    images.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        bright = i % 2 == 1
        shade = 230 - i if bright else 20 + i
        Image.new("RGB", (16, 16), (shade, shade, shade)).save(images / f"s{i}.png")
        rows.append(
            {
                "id": f"sh-{i}",
                "image": f"../images/s{i}.png",
                "question": "Is this image dark or bright?",
                "choices": ["dark", "bright"],
                "answer": "B" if bright else "A",
            }
        )
    perturbations = "perturbations:\n  - {name: brightness, factor: 3}\n  - {name: blur, radius: 2}\n"
    project.suite("shades", rows=rows, extra_yaml=perturbations)


def test_the_perturbation_gates_catch_a_model_that_a_brighter_image_throws_off(project: Project) -> None:
    """Recorded on a model that reads the image robustly; a model right on every original but fooled by
    brightening fails accuracy/brightness and consistency/brightness, and passes the rest."""
    _shades(project)
    record = project.pytester.runpytest("suites", "--medmodel=py:seer:make", "-p", "no:randomly", "--snapshot-update")
    assert record.ret == 0, record.stdout.str()
    assert outcomes(record)["passed"] >= 24 * 3  # every item, its brightened and its blurred variant
    same = project.pytester.runpytest("suites", "--medmodel=py:seer:make", "-p", "no:randomly")
    assert same.ret == 0, same.stdout.str()
    fragile = ["suites", "--medmodel=py:seer:fragile", "--medmodel-profile=seer-make", "-p", "no:randomly"]
    result = project.pytester.runpytest(*fragile)
    assert result.ret == 1
    failed = {line.split("::")[1].split(" ")[0] for line in result.stdout.lines if line.startswith("FAILED")}
    assert failed == {"gate[accuracy/brightness]", "gate[consistency/brightness]"}, result.stdout.str()
    result.stdout.fnmatch_lines(["*accuracy under 'brightness' on 24 paired items*12 lost, 0 gained*"])


def test_the_docs_pictures_are_what_the_image_perturbations_produce() -> None:
    """docs/images.md shows each variant's picture; each committed file has exactly the pixels the code gives."""
    from image_perturbation_docs import FOLDER, pictures
    from PIL import Image

    made = pictures()
    # image_changes: the original, ten image changes, blank and swapped pictures, for two items; dicom_windows:
    # the original, three windows and the flip, for two; fundus_sides: the original and the flip
    assert len(made) == 2 * 13 + 2 * 5 + 2
    text = (ROOT / "docs" / "images.md").read_text()
    stale = []
    for name, picture in made.items():
        path = FOLDER / name
        if not path.exists() or Image.open(path).convert("RGB").tobytes() != picture.tobytes():
            stale.append(name)
        assert f"(pictures/{name})" in text, f"docs/images.md does not show {name}"
    assert not stale, f"docs/pictures is out of date for {stale}: run python tests/image_perturbation_docs.py"


NOISY = """
from pytest_medmodel import CHOICE_LOGPROBS, IMAGES, ChoiceResult

class NoiseShy:
    '''Dark or bright by the mean, right unless the picture is grainy (pixel spread over 25 of 255).'''
    name = "noiseshy"
    fingerprint = "noiseshy-1"
    capabilities = {CHOICE_LOGPROBS, IMAGES}

    def loglikelihood(self, requests):
        from PIL import ImageStat
        out = []
        for r in requests:
            bright = False  # the no_image ablation: a guess
            if r.images:
                stat = ImageStat.Stat(r.images[0].load().convert("L"))
                bright = (stat.mean[0] > 127) != (stat.stddev[0] > 25)
            wanted = "bright" if bright else "dark"
            out.append(ChoiceResult(tuple(-0.1 if c.strip() == wanted else -2.5 for c in r.continuations)))
        return out

def make():
    return NoiseShy()
"""


def test_the_search_finds_the_mildest_noise_that_flips_an_answer(project: Project) -> None:
    """Noise at sigma 0.02 (the suite's) and 0.08 leave the spread under 25; the search tries 0.02 to 0.2
    and reports 0.14, the mildest level that flips, whatever it drew first."""
    from PIL import Image

    (project.path / "noisy.py").write_text(NOISY)
    images = project.path / "suites" / "images"
    images.mkdir(parents=True)
    rows = []
    for i in range(4):
        bright = i % 2 == 1
        Image.new("RGB", (32, 32), ((185 - i) if bright else (70 + i),) * 3).save(images / f"n{i}.png")
        rows.append({"id": f"nz-{i}", "image": f"../images/n{i}.png", "question": "Dark or bright?",
                     "choices": ["dark", "bright"], "answer": "B" if bright else "A"})  # fmt: skip
    extra = "perturbations:\n  - {name: image_noise, sigma: 0.02}\n  - no_image\nsearch: {candidates: 24, items: 2}\n"
    project.suite("noisy", rows=rows, scoring="loglikelihood", extra_yaml=extra)
    run = ["suites", "--medmodel=py:noisy:make", "-p", "no:randomly"]
    assert project.pytester.runpytest(*run, "--snapshot-update").ret == 0
    result = project.pytester.runpytest(*run, f"--medmodel-report={project.path / 'out'}")
    assert result.ret == 0, result.stdout.str()
    flips = [line for line in result.stdout.lines if line.startswith("noisy") and "edit(s) flip it" in line]
    assert len(flips) == 2, result.stdout.str()
    for line in flips:
        assert ": 1 edit(s) flip it" in line and "image_noise (sigma=0.14), seed" in line, line
        assert line.endswith("): the text is unchanged: the change is in the picture"), line
    assert "no_image" not in "\n".join(flips)  # an ablation is meant to flip answers: never searched

    report = json.loads((project.path / "out" / "report.json").read_text(encoding="utf-8"))
    _validate(report)
    found = report["search_pictures"]
    assert [(f["item_id"], f["change"].split(", seed")[0]) for f in found["flips"]] == [
        ("nz-0", "image_noise (sigma=0.14)"),
        ("nz-1", "image_noise (sigma=0.14)"),
    ]
    for flip in found["flips"]:  # the report shows the picture the model was shown, before and after
        before, after = (_spread(found["images"][flip[side][0]]["uri"]) for side in ("before", "after"))
        assert before < 2 and after > 20, (before, after)
    assert 'class="thumb ts-' in (project.path / "out" / "report.html").read_text(encoding="utf-8")


def _spread(uri: str) -> float:
    """The standard deviation of a thumbnail's grey levels."""
    from PIL import Image, ImageStat

    picture = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    return float(ImageStat.Stat(picture.convert("L")).stddev[0])


def test_a_new_version_of_a_pixel_operation_is_a_new_picture(monkeypatch: pytest.MonkeyPatch) -> None:
    """Changed code with the same settings and seed must not be served the old picture's cached answers."""
    import dataclasses

    from pytest_medmodel.images import transforms

    before = _perturbed("blur", _variant()).images[0].digest
    bumped = dataclasses.replace(transforms.TRANSFORMS["blur"], version=2)
    monkeypatch.setitem(transforms.TRANSFORMS, "blur", bumped)
    assert _perturbed("blur", _variant()).images[0].digest != before


HASHER = """
import hashlib, json, os, pathlib
from pytest_medmodel import CHOICE_LOGPROBS, IMAGES, ChoiceResult

class Hasher:
    '''Logs a digest of the pixels it receives for every variant (and answers "dark").'''
    name = "hasher"
    fingerprint = "hasher-1"
    capabilities = {CHOICE_LOGPROBS, IMAGES}

    def loglikelihood(self, requests):
        log = pathlib.Path(os.environ["PIXEL_LOG"])
        with log.open("a") as out:
            for r in requests:
                pixels = hashlib.sha256(r.images[0].load().tobytes()).hexdigest()
                out.write(json.dumps([r.meta["item"], r.meta["variant"], pixels]) + "\\n")
        return [ChoiceResult((-0.1, -2.5)) for r in requests]

def make():
    return Hasher()
"""


@pytest.mark.slow
def test_perturbed_pixels_are_the_same_serially_and_under_xdist(project: Project) -> None:
    """Each worker computes its own variants' pictures: identical pixels to a serial run's, in other processes."""
    import json

    from PIL import Image

    (project.path / "hasher.py").write_text(HASHER)
    images = project.path / "suites" / "images"
    images.mkdir(parents=True)
    rows = []
    for i in range(8):
        Image.open(PICTURE).rotate(i * 7).save(images / f"r{i}.png")
        rows.append({"id": f"px-{i}", "image": f"../images/r{i}.png", "question": "Dark or bright?",
                     "choices": ["dark", "bright"], "answer": "A"})  # fmt: skip
    extra = "perturbations:\n" + "".join(f"  - {name}\n" for name in IMAGE_PERTURBATIONS)
    project.suite("pixels", rows=rows, extra_yaml=extra)
    logs = {}
    for mode, workers in (("serial", []), ("xdist", ["-n", "2", "--medmodel-shard-size=4"])):
        log = project.path / f"{mode}.log"
        project.env.setenv("PIXEL_LOG", str(log))
        args = ["suites", "--medmodel=py:hasher:make", "-p", "no:randomly", "--medmodel-no-cache", *workers]
        assert project.pytester.runpytest_subprocess(*args, "--snapshot-update").ret == 0
        logs[mode] = {tuple(json.loads(line)[:2]): json.loads(line)[2] for line in log.read_text().splitlines()}
    assert len(logs["serial"]) == 8 * (1 + len(IMAGE_PERTURBATIONS))
    assert logs["serial"] == logs["xdist"]
