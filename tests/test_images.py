"""The image core with picture formats: decoding, the digest, sources from suite data, settings, import cost.

DICOM and NIfTI are in ``test_images_medical.py``; the builders in ``images_helpers.py``.
"""

from __future__ import annotations

import base64
import functools
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from images_helpers import encoded, grey, one_line, picture, png_header_only, write_dicom
from PIL import Image, ImageFile

from pytest_medmodel.images import DecodeSettings, ImageError, ImageSource, decode
from pytest_medmodel.images.formats import sniff

ROOT = Path(__file__).resolve().parents[1]


def _decoded(data: bytes, shown: str = "x") -> Image.Image:
    return decode(ImageSource.from_bytes(data, shown))


@pytest.mark.parametrize(("fmt", "options"), [("PNG", {}), ("TIFF", {}), ("BMP", {}), ("WEBP", {"lossless": True})])
def test_lossless_formats_decode_to_the_same_pixels(fmt: str, options: dict[str, object]) -> None:
    original = picture()
    image = _decoded(encoded(original, fmt, **options))
    assert image.mode == "RGB" and image.size == (32, 24)
    assert np.array_equal(np.asarray(image), np.asarray(original))


def test_a_jpeg_decodes_close_to_its_original() -> None:
    original = Image.new("RGB", (40, 30), (200, 80, 30))
    image = _decoded(encoded(original, "JPEG", quality=95))
    assert image.mode == "RGB" and image.size == (40, 30)
    assert np.abs(np.asarray(image, dtype=int) - np.asarray(original, dtype=int)).max() <= 3


def test_a_gif_gives_its_first_frame() -> None:
    frames = [Image.new("RGB", (8, 8), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    data = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:])
    assert np.asarray(_decoded(data))[0, 0].tolist() == [255, 0, 0]


def test_other_modes_become_rgb() -> None:
    rgba = Image.new("RGBA", (4, 4), (10, 20, 30, 0))
    assert np.asarray(_decoded(encoded(rgba, "PNG")))[0, 0].tolist() == [10, 20, 30]
    deep = Image.fromarray(np.array([[1000, 2000], [3000, 5000]], dtype=np.uint16))
    assert grey(_decoded(encoded(deep, "PNG"))).tolist() == [[0, 64], [128, 255]]  # its own min..max


def test_the_format_comes_from_the_bytes_not_the_name(tmp_path: Path) -> None:
    fake = tmp_path / "scan.png"
    fake.write_bytes(encoded(picture(), "JPEG"))
    assert decode(ImageSource.from_file(fake, "scan.png")).size == (32, 24)
    text = tmp_path / "notes.png"
    text.write_text("not an image at all\n" * 30)
    with pytest.raises(ImageError) as error:
        decode(ImageSource.from_file(text, "images/notes.png"))
    one_line(error, "images/notes.png: is not an image in an accepted format (PNG, JPEG", "DICOM or NIfTI")


def test_random_bytes_are_an_unknown_format_for_decode_and_digest() -> None:
    source = ImageSource.from_bytes(np.random.default_rng(1).bytes(4096), "row 3, column image")
    for call in (source.digest, lambda: decode(source)):
        with pytest.raises(ImageError) as error:
            call()
        one_line(error, "row 3, column image: is not an image in an accepted format")


def test_bytes_that_only_start_like_a_picture_are_one_line() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for magic, problem in [(b"GIF89a", "starts like a GIF file but is not one"), (b"II*\x00", ""), (b"BM", "")]:
            with pytest.raises(ImageError) as error:
                _decoded(magic + b"junk" * 30, "notes.img")
            one_line(error, f"notes.img: {problem}")
            assert "0x" not in str(error.value)  # no in-memory buffer named by its address
    assert caught == []


@pytest.mark.parametrize(("fmt", "kind"), [("PNG", "PNG"), ("JPEG", "JPEG")])
def test_a_truncated_picture_is_one_line(fmt: str, kind: str) -> None:
    data = encoded(picture(64, 64), fmt)
    with pytest.raises(ImageError) as error:
        _decoded(data[: len(data) // 2], "images/cut.img")
    one_line(error, f"images/cut.img: is a damaged or truncated {kind} file (", "export the image again")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


@pytest.mark.parametrize(
    ("width", "height", "found"),
    [
        (7000, 7000, "the image is 7000 x 7000 pixels, over"),  # ours: over 40 MP, under Pillow's 89 MP warning
        (10000, 10000, "is over"),  # Pillow's warning, made an error
        (100000, 100000, "is over"),  # Pillow's own error at open
    ],
)
def test_a_decompression_bomb_is_refused_from_its_header(
    width: int, height: int, found: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def never(self: object) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", never)
    with pytest.raises(ImageError) as error:
        _decoded(png_header_only(width, height), "big.png")
    one_line(error, f"big.png: {found} the limit of 40 megapixels (", "a possible decompression bomb)")


def test_missing_and_empty_files_are_one_line(tmp_path: Path) -> None:
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    cases = [
        (ImageSource.from_file(tmp_path / "gone.png", "gone.png"), "gone.png: file not found"),
        (ImageSource.from_file(empty, "empty.png"), "empty.png: is empty (0 bytes)"),
        (ImageSource.from_file(tmp_path, "folder"), "folder: is a directory"),
        (ImageSource.from_bytes(b"", "row 1, column image"), "row 1, column image: is empty (0 bytes)"),
    ]
    for source, expected in cases:
        for call in (source.digest, functools.partial(decode, source)):
            with pytest.raises(ImageError) as error:
                call()
            one_line(error, expected)


def test_the_byte_cap_is_checked_before_reading(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("pytest_medmodel.images.source.MAX_BYTES", 100)
    path = tmp_path / "a.png"
    path.write_bytes(encoded(picture(), "PNG"))
    with pytest.raises(ImageError) as error:
        ImageSource.from_file(path, "a.png").digest()
    one_line(error, "a.png: is 0.0 MiB, over the 0 MiB limit")
    with pytest.raises(ImageError):
        ImageSource.from_bytes(path.read_bytes(), "row 1")
    with pytest.raises(ImageError):
        ImageSource.from_base64(base64.b64encode(path.read_bytes()).decode(), "row 1")


# --- the digest ---------------------------------------------------------------------------------


def test_the_digest_depends_on_the_bytes_and_agrees_between_file_and_memory(tmp_path: Path) -> None:
    original = picture()
    data = encoded(original, "PNG")
    path = tmp_path / "a.png"
    path.write_bytes(data)
    digest = ImageSource.from_bytes(data, "a").digest()
    assert len(digest) == 16 and int(digest, 16) >= 0
    assert ImageSource.from_bytes(data, "b").digest() == digest  # where it came from is not what it is
    assert ImageSource.from_file(path, "a.png").digest() == digest
    changed = np.asarray(original).copy()
    changed[5, 7, 1] ^= 1
    assert ImageSource.from_bytes(encoded(Image.fromarray(changed), "PNG"), "a").digest() != digest


def test_only_the_settings_a_format_reads_change_its_digest(tmp_path: Path) -> None:
    png = ImageSource.from_bytes(encoded(picture(), "PNG"), "a.png")
    dicom = ImageSource.from_file(write_dicom(tmp_path / "a.dcm", np.zeros((4, 4), np.uint16)), "a.dcm")
    plain, windowed = DecodeSettings(), DecodeSettings(window=(40, 400))
    assert png.digest(windowed) == png.digest(plain) == png.digest()
    assert dicom.digest(windowed) != dicom.digest(plain)
    assert dicom.digest(DecodeSettings(frame=0)) != dicom.digest(plain)
    assert dicom.digest(DecodeSettings(slice_axis=0)) == dicom.digest(plain)  # a NIfTI setting
    assert dicom.digest(DecodeSettings(window=(40.0, 400.0))) == dicom.digest(windowed)


def test_digesting_a_file_decodes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.png"
    path.write_bytes(png_header_only(7000, 7000))  # would be a bomb error if it were opened
    monkeypatch.setattr(Image, "open", lambda *a, **k: pytest.fail("Image.open was called"))
    assert len(ImageSource.from_file(path, "big.png").digest()) == 16


# --- sources from suite data --------------------------------------------------------------------


def test_base64_plain_and_as_a_data_uri(tmp_path: Path) -> None:
    data = encoded(picture(), "PNG")
    text = base64.b64encode(data).decode()
    wrapped = "\n".join(text[i : i + 76] for i in range(0, len(text), 76))
    for value in (text, wrapped, "data:image/png;base64," + text):
        source = ImageSource.from_base64(value, "row 2, column image")
        assert source.data == data and decode(source).size == (32, 24)
    via_column = ImageSource.from_column("data:image/png;base64," + text, "row 2", tmp_path)
    assert via_column.digest() == ImageSource.from_bytes(data, "x").digest()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("iVBORw0KGgo***", "is not valid base64 ("),
        ("iVBORw0KGgoA7", "is not valid base64 ("),
        ("data:image/png,iVBORw0KGgo=", "is a data URI that is not base64"),
    ],
)
def test_bad_base64_is_one_line(text: str, problem: str) -> None:
    with pytest.raises(ImageError) as error:
        ImageSource.from_base64(text, "row 4, column image")
    one_line(error, f"row 4, column image: {problem}")


def test_datasets_image_values(tmp_path: Path) -> None:
    original = picture()
    data = encoded(original, "PNG")
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a.png").write_bytes(data)
    with_bytes = ImageSource.from_column({"bytes": data, "path": "elsewhere/a.png"}, "row 1", tmp_path)
    by_path = ImageSource.from_column({"bytes": None, "path": "img/a.png"}, "row 1", tmp_path)
    plain_path = ImageSource.from_column("img/a.png", "row 1", tmp_path)
    assert with_bytes.data == data and by_path.path == plain_path.path == (tmp_path / "img" / "a.png").resolve()
    assert with_bytes.digest() == by_path.digest() == plain_path.digest()
    assert np.array_equal(np.asarray(decode(by_path)), np.asarray(original))
    for value, problem in [({"bytes": None, "path": None}, "has neither 'bytes' nor 'path'"), (None, "has no image")]:
        with pytest.raises(ImageError) as error:
            ImageSource.from_column(value, "row 9, column image", tmp_path)
        one_line(error, f"row 9, column image: {problem}")


def test_a_pil_value_is_kept_losslessly_and_digested_by_its_pixels(tmp_path: Path) -> None:
    original = picture()
    source = ImageSource.from_column(original, "row 1", tmp_path)
    assert source.data is not None and source.data.startswith(b"\x89PNG")
    assert np.array_equal(np.asarray(decode(source)), np.asarray(original))
    assert ImageSource.from_column(original.copy(), "row 2", tmp_path).digest() == source.digest()
    changed = np.asarray(original).copy()
    changed[0, 0, 0] ^= 1
    assert ImageSource.from_column(Image.fromarray(changed), "row 1", tmp_path).digest() != source.digest()
    floats = Image.fromarray(np.array([[0.0, 0.5], [1.0, 2.0]], dtype=np.float32))  # mode F: PNG cannot hold it
    assert grey(decode(ImageSource.from_column(floats, "row 3", tmp_path))).tolist() == [[0, 64], [128, 255]]


def test_paths_stay_inside_their_folder(tmp_path: Path) -> None:
    base = tmp_path / "suite"
    (base / "img").mkdir(parents=True)
    (tmp_path / "x.png").write_bytes(encoded(picture(), "PNG"))
    (base / "img" / "ok.png").write_bytes(encoded(picture(), "PNG"))
    os.symlink(tmp_path / "x.png", base / "img" / "out.png")
    os.symlink(base / "img" / "ok.png", base / "inside.png")
    cases = [
        ("../x.png", "'../x.png' points outside"),
        ("img/../../x.png", "points outside"),
        (str(tmp_path / "x.png"), "is an absolute path"),
        ("img/out.png", "'img/out.png' points outside"),
    ]
    for relative, problem in cases:
        for value in (relative, {"bytes": None, "path": relative}):
            with pytest.raises(ImageError) as error:
                ImageSource.from_column(value, "row 5, column image", base)
            one_line(error, "row 5, column image: ", problem)
    assert decode(ImageSource.from_column("inside.png", "row 6", base)).size == (32, 24)
    assert decode(ImageSource.from_column("img/../img/ok.png", "row 7", base)).size == (32, 24)


def test_sniffing_reads_magic_numbers() -> None:
    assert sniff(encoded(picture(), "PNG")) == "png"
    assert sniff(encoded(picture(), "WEBP")) == "webp"
    assert sniff(b"\x00" * 200, "scan.DCM") == "dicom"  # no marker: trusted to its .dcm name only
    assert sniff(b"\x00" * 200, "scan.bin") is None
    assert ImageSource.from_bytes(encoded(picture(), "TIFF"), "x").format() == "tiff"


# --- settings -----------------------------------------------------------------------------------


def test_settings_from_yaml_values() -> None:
    settings = DecodeSettings.from_json({"window": {"center": 40, "width": 400}, "frame": 3, "slice_axis": 0})
    assert settings == DecodeSettings(window=(40.0, 400.0), frame=3, slice_axis=0)
    assert settings.to_json() == {
        "window": [40.0, 400.0],
        "frame": 3,
        "slice_axis": 0,
        "slice_index": "middle",
        "volume": 0,
    }
    assert DecodeSettings.from_json(None) == DecodeSettings.from_json({}) == DecodeSettings()
    assert DecodeSettings.from_json({"window": [-0.0, 1]}).to_json()["window"] == [0.0, 1.0]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"windwo": [1, 2]}, "unknown setting 'windwo'; use window, frame, slice_axis, slice_index, volume"),
        ({"window": [40, 0]}, "window: width must be greater than 0 (got 0); write e.g. window: [40, 400]"),
        ({"window": [40]}, "window: must be two numbers (centre, width), not [40]"),
        ({"window": [True, 5]}, "window: must be two numbers"),
        ({"window": [float("nan"), 5]}, "window: centre and width must be finite numbers"),
        ({"window": {"center": 1}}, "window: needs exactly 'center' and 'width'"),
        ({"frame": -1}, "frame: must be a whole number from 0 or middle, not -1"),
        ({"slice_index": "centre"}, "slice_index: must be a whole number from 0 or middle, not 'centre'"),
        ({"slice_axis": 3}, "slice_axis: must be 0, 1 or 2, not 3"),
        ({"volume": "middle"}, "volume: must be a whole number from 0, not 'middle'"),
        ([40, 400], "must be a mapping of settings, not list"),
    ],
)
def test_bad_settings_are_one_line(value: object, problem: str) -> None:
    with pytest.raises(ImageError) as error:
        DecodeSettings.from_json(value, "suite.yaml: images")
    one_line(error, f"suite.yaml: images: {problem}")


def test_settings_are_checked_on_construction_too() -> None:
    with pytest.raises(ImageError) as error:
        DecodeSettings(window=(40, -1))
    one_line(error, "image settings: window: width must be greater than 0 (got -1)")


# --- import cost --------------------------------------------------------------------------------


def test_importing_the_image_core_imports_no_imaging_library() -> None:
    script = (
        "import sys, pytest_medmodel.images\n"
        "print(sorted(m for m in ('PIL', 'numpy', 'pydicom', 'nibabel') if m in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
