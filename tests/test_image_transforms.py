"""The image perturbations' pixel operations: shape and purity, seeds, noise that never wraps, strength, checks.

Each property is checked on a real 64x64 picture from the shipped recognition
suite and on a synthetic 64x48 gradient (not square, so a swapped width and
height shows).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pytest_medmodel.images.transforms import MID_GREY, TRANSFORMS

ROOT = Path(__file__).resolve().parents[1]
PICTURES = ROOT / "suites" / "images" / "recognition"
NAMES = sorted(TRANSFORMS)
SEEDED = ("noise", "rotate", "zoom")
GRADED = sorted(name for name, transform in TRANSFORMS.items() if transform.strength)


def real(name: str = "retina-test-000.png") -> Image.Image:
    with Image.open(PICTURES / name) as picture:
        return picture.convert("RGB")


def gradient(width: int = 64, height: int = 48) -> Image.Image:
    """Red across, green down, blue a checker of 8-pixel squares: no two regions alike, no symmetry."""
    x, y = np.meshgrid(np.arange(width), np.arange(height))
    red = x * 255 // (width - 1)
    green = y * 255 // (height - 1)
    blue = np.where((x // 8 + y // 8) % 2 == 0, 40, 210)
    return Image.fromarray(np.stack([red, green, blue], axis=-1).astype(np.uint8))


def uniform(colour: tuple[int, int, int], size: tuple[int, int] = (64, 64)) -> Image.Image:
    return Image.new("RGB", size, colour)


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float64)


def change(before: Image.Image, after: Image.Image) -> float:
    """The mean absolute difference per channel, on the 0..255 scale."""
    return float(np.abs(pixels(after) - pixels(before)).mean())


def run(name: str, image: Image.Image, seed: int = 0, **settings: float) -> Image.Image:
    return TRANSFORMS[name].apply(image, seed, **settings)


IMAGES = {"real": real, "gradient": gradient}


# --- every operation: shape, purity, determinism ----------------------------------------------------


@pytest.mark.parametrize("kind", sorted(IMAGES))
@pytest.mark.parametrize("name", NAMES)
def test_a_new_rgb_picture_of_the_same_size_and_the_input_untouched(name: str, kind: str) -> None:
    image = IMAGES[kind]()
    before = image.tobytes()
    out = run(name, image, seed=3)
    assert out is not image
    assert out.mode == "RGB" and out.size == image.size
    assert image.tobytes() == before and image.mode == "RGB"


@pytest.mark.parametrize("name", NAMES)
def test_the_same_seed_gives_the_same_pixels(name: str) -> None:
    image = real()
    assert run(name, image, seed=11).tobytes() == run(name, image, seed=11).tobytes()


@pytest.mark.parametrize("name", SEEDED)
def test_the_seeded_operations_differ_between_seeds(name: str) -> None:
    image = gradient()
    outcomes = {hashlib.sha256(run(name, image, seed=seed).tobytes()).hexdigest() for seed in range(8)}
    assert len(outcomes) > 1


@pytest.mark.parametrize("name", sorted(set(NAMES) - set(SEEDED)))
def test_the_other_operations_ignore_the_seed(name: str) -> None:
    image = gradient()
    assert run(name, image, seed=0).tobytes() == run(name, image, seed=12345).tobytes()


def test_rotate_turns_both_ways_across_seeds() -> None:
    """The direction comes from the seed: some seeds give a picture, others its turn the other way."""
    image = gradient(64, 64)
    turned = [run("rotate", image, seed=seed, degrees=10).tobytes() for seed in range(8)]
    assert len(set(turned)) == 2


_DIGESTS = """
import hashlib, json, sys
from PIL import Image
from pytest_medmodel.images.transforms import TRANSFORMS
with Image.open(sys.argv[1]) as picture:
    image = picture.convert("RGB")
print(json.dumps({name: hashlib.sha256(TRANSFORMS[name].apply(image, 7).tobytes()).hexdigest() for name in sys.argv[2:]}))
"""


def test_another_process_makes_the_same_pixels() -> None:
    names = [*SEEDED, "jpeg", "blur"]
    path = PICTURES / "retina-test-000.png"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", _DIGESTS, str(path), *names], capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    here = {name: hashlib.sha256(run(name, real(), seed=7).tobytes()).hexdigest() for name in names}
    assert json.loads(result.stdout) == here


def test_importing_the_transforms_imports_no_imaging_library() -> None:
    script = (
        "import sys, pytest_medmodel.images.transforms\n"
        "print(sorted(m for m in ('PIL', 'numpy') if m in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# --- noise: added in floating point, never wrapped -------------------------------------------------


@pytest.mark.parametrize("sigma", [0.05, 0.2])
def test_noise_on_black_only_brightens_a_little(sigma: float) -> None:
    """A negative draw cast to 8 bits before adding would wrap to near 255."""
    out = pixels(run("noise", uniform((0, 0, 0)), sigma=sigma))
    assert out.max() <= 5 * sigma * 255
    assert out.max() > 0 and (out == 0).mean() > 0.4  # half the draws were negative: clipped to black


@pytest.mark.parametrize("sigma", [0.05, 0.2])
def test_noise_on_white_only_darkens_a_little(sigma: float) -> None:
    """A positive draw added in 8 bits would overflow to near 0."""
    out = pixels(run("noise", uniform((255, 255, 255)), sigma=sigma))
    assert out.min() >= 255 - 5 * sigma * 255
    assert out.min() < 255 and (out == 255).mean() > 0.4


def test_noise_on_mid_grey_keeps_its_mean_and_has_the_asked_spread() -> None:
    """sigma is a fraction of the 0..255 range: 0.05 is about 12.75 levels."""
    out = pixels(run("noise", uniform(MID_GREY), sigma=0.05))
    assert abs(out.mean() - 128) < 2
    assert abs(out.std() - 0.05 * 255) < 0.1 * 0.05 * 255


# --- strength: the strongest setting changes a picture more than the mildest -----------------------


@pytest.mark.parametrize("picture", ["retina-test-000.png", "ct-small-test-000.png", "cat-test-000.png", None])
@pytest.mark.parametrize("name", GRADED)
def test_the_strongest_setting_changes_a_picture_more_than_the_mildest(name: str, picture: str | None) -> None:
    image = real(picture) if picture else gradient()
    setting, mildest, strongest = TRANSFORMS[name].strength or ("", 0, 0)
    mild = change(image, run(name, image, **{setting: mildest}))
    strong = change(image, run(name, image, **{setting: strongest}))
    assert strong > mild > 0


@pytest.mark.parametrize("picture", ["retina-test-000.png", "ct-small-test-000.png"])
@pytest.mark.parametrize("name", GRADED)
def test_a_ladder_of_strengths_changes_a_real_picture_more_at_each_step(name: str, picture: str) -> None:
    """What a search over strengths relies on: six levels from mildest to strongest, one seed."""
    image = real(picture)
    setting, mildest, strongest = TRANSFORMS[name].strength or ("", 0, 0)
    levels = np.linspace(mildest, strongest, 6)
    if setting == "quality":
        levels = np.rint(levels)
    changes = [change(image, run(name, image, seed=0, **{setting: float(level)})) for level in levels]
    assert changes == sorted(changes), changes


# --- what each operation does -----------------------------------------------------------------------


def test_hflip_twice_is_the_identity_and_once_mirrors() -> None:
    image = gradient()
    once = run("hflip", image)
    assert once.tobytes() != image.tobytes()
    assert once.getpixel((0, 5)) == image.getpixel((63, 5))
    assert run("hflip", once).tobytes() == image.tobytes()


def test_blank_is_uniform_mid_grey() -> None:
    out = pixels(run("blank", real()))
    assert (out == 128).all()


def test_grayscale_has_equal_channels_holding_the_luminance() -> None:
    image = gradient()
    out = np.asarray(run("grayscale", image))
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()
    assert (out[..., 0] == np.asarray(image.convert("L"))).all()


def test_gamma_follows_its_curve() -> None:
    image = gradient()
    expected = np.rint(255 * (pixels(image) / 255) ** 2.0)
    assert np.array_equal(pixels(run("gamma", image, gamma=2.0)), expected)
    assert run("gamma", image, gamma=1).tobytes() == image.tobytes()


def test_rotate_fills_the_corners_with_the_mean_colour_not_black() -> None:
    image = real()
    mean = tuple(round(float(v)) for v in pixels(image).reshape(-1, 3).mean(axis=0))
    out = run("rotate", image, degrees=15)
    assert out.getpixel((0, 0)) == mean and out.getpixel((63, 63)) == mean
    flat = run("rotate", uniform((200, 30, 60)), degrees=30)
    assert (np.asarray(flat) == (200, 30, 60)).all()


def test_downscale_at_one_keeps_the_picture_and_tiny_factors_stop_at_one_pixel() -> None:
    image = gradient()
    assert run("downscale", image, factor=1).tobytes() == image.tobytes()
    tiny = np.asarray(run("downscale", image, factor=0.001))
    assert (tiny == tiny[0, 0]).all()  # through 1x1: one colour


def test_zoom_of_the_whole_picture_keeps_it() -> None:
    image = gradient()
    assert run("zoom", image, seed=5, fraction=1).tobytes() == image.tobytes()


def test_jpeg_quality_decides_how_much_is_lost() -> None:
    image = real()
    assert change(image, run("jpeg", image, quality=95)) < change(image, run("jpeg", image, quality=5))


def test_the_operations_take_the_settings_and_defaults_they_declare() -> None:
    assert set(TRANSFORMS) == {
        "noise", "blur", "jpeg", "brightness", "contrast", "gamma",
        "rotate", "downscale", "zoom", "grayscale", "hflip", "blank",
    }  # fmt: skip
    for name, transform in TRANSFORMS.items():
        assert transform.name == name and "\n" not in transform.describe
        parameters = list(inspect.signature(transform.apply).parameters.values())[2:]
        assert {p.name: p.default for p in parameters} == dict(transform.defaults)
        transform.check(transform.defaults)
        if transform.strength:
            setting, mildest, strongest = transform.strength
            assert setting in transform.defaults
            transform.check({setting: mildest})
            transform.check({setting: strongest})


# --- check ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "settings", "expected"),
    [
        ("noise", {"sigma": -0.1}, "noise: sigma must be in [0, 1], not -0.1"),
        ("noise", {"sigma": 1.5}, "noise: sigma must be in [0, 1], not 1.5"),
        ("noise", {"sigma": float("nan")}, "noise: sigma must be in [0, 1], not nan"),
        ("noise", {"sigma": True}, "noise: sigma must be in [0, 1], not True"),
        ("noise", {"sigma": "0.1"}, "noise: sigma must be in [0, 1], not '0.1'"),
        ("blur", {"radius": 21}, "blur: radius must be in [0, 20], not 21"),
        ("jpeg", {"quality": 30.5}, "jpeg: quality must be an integer in 1..95, not 30.5"),
        ("jpeg", {"quality": 0}, "jpeg: quality must be an integer in 1..95, not 0"),
        ("jpeg", {"quality": 96}, "jpeg: quality must be an integer in 1..95, not 96"),
        ("brightness", {"factor": 0}, "brightness: factor must be in (0, 4], not 0"),
        ("contrast", {"factor": 4.5}, "contrast: factor must be in (0, 4], not 4.5"),
        ("gamma", {"gamma": 0.0}, "gamma: gamma must be in (0, 10], not 0.0"),
        ("rotate", {"degrees": 46}, "rotate: degrees must be in [0, 45], not 46"),
        ("downscale", {"factor": 1.01}, "downscale: factor must be in (0, 1], not 1.01"),
        ("zoom", {"fraction": 0}, "zoom: fraction must be in (0, 1], not 0"),
        ("noise", {"sgima": 0.1}, "noise: unknown setting 'sgima' (its settings: sigma)"),
        ("hflip", {"degrees": 5}, "hflip: unknown setting 'degrees' (its settings: none)"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it_and_its_range(name: str, settings: dict, expected: str) -> None:
    with pytest.raises(ValueError) as error:
        TRANSFORMS[name].check(settings)
    assert str(error.value) == expected


@pytest.mark.parametrize(
    ("name", "settings"),
    [
        ("brightness", {"factor": 2}),  # an int from YAML where a float is expected
        ("rotate", {"degrees": 0}),
        ("jpeg", {"quality": 30}),
        ("jpeg", {"quality": 30.0}),  # integral: what a search between two qualities may hand over
        ("downscale", {"factor": 1}),
        ("noise", {"sigma": 0}),
        ("grayscale", {}),
    ],
)
def test_good_settings_pass_the_check(name: str, settings: dict) -> None:
    TRANSFORMS[name].check(settings)
    assert run(name, gradient(), **settings).size == (64, 48)


def test_noise_on_a_grey_picture_stays_grey_and_a_colour_one_gets_noise_per_channel() -> None:
    """A CT or an X-ray is grey: detector noise does not tint it (colour speckle would be a cue of its own)."""
    import numpy as np
    from PIL import Image

    grey = Image.new("RGB", (24, 24), (90, 90, 90))
    out = np.asarray(TRANSFORMS["noise"].apply(grey, 3, sigma=0.1)).astype(int)
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()
    assert 20 < out[..., 0].std() < 31  # sigma 0.1 x 255 = 25.5
    colour = np.asarray(TRANSFORMS["noise"].apply(Image.new("RGB", (24, 24), (90, 60, 30)), 3, sigma=0.1))
    assert not (colour[..., 0].astype(int) - 30 == colour[..., 1].astype(int)).all()
