"""VLMEvalKit's TSV files read as published: tab-separated, base64 pictures (cells far over the csv module's
default 128 KiB limit), and a short image value that names another row's index meaning that row's picture."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest

from pytest_medmodel import load_suite
from pytest_medmodel.suite.types import SuiteError


def _png(shade: int, size: int = 8) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (size, size), (shade, shade, shade)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _suite(tmp_path: Path, images: list[str]) -> Path:
    header = "index\tquestion\tA\tB\tanswer\timage\n"
    rows = "".join(f"{i}\tDark or bright?\tdark\tbright\tA\t{image}\n" for i, image in enumerate(images))
    (tmp_path / "bench.tsv").write_text(header + rows)
    suite = tmp_path / "t.suite.yaml"
    suite.write_text("data: {path: bench.tsv, fields: {id: index, choices: [A, B]}, answer_format: letter}\n")
    return suite


def test_a_short_image_value_is_the_picture_of_the_row_it_names(tmp_path: Path) -> None:
    dark, bright = _png(20), _png(230)
    items = load_suite(_suite(tmp_path, [dark, "0", bright, "2", "0"])).items
    digests = [item.images[0].digest for item in items]
    assert digests[0] == digests[1] == digests[4] != digests[2] == digests[3]
    assert [item.choices for item in items][0] == ("dark", "bright")


def test_a_reference_to_a_reference_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(SuiteError) as info:
        load_suite(_suite(tmp_path, [_png(20), "0", "1"]))
    message = str(info.value)
    assert "\n" not in message
    assert "bench.tsv row 3: image '1' names index 1, whose image is a reference too" in message


def test_a_picture_larger_than_the_csv_modules_default_cell_limit_reads(tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    noise = np.random.default_rng(0).integers(0, 256, (260, 260, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="PNG")
    big = base64.b64encode(buffer.getvalue()).decode()
    assert len(big) > 131072
    (item,) = load_suite(_suite(tmp_path, [big])).items
    assert len(item.images) == 1


def test_without_an_index_column_a_small_picture_is_still_base64(tmp_path: Path) -> None:
    (tmp_path / "bench.tsv").write_text(f"id\tquestion\tanswer\timage\nq1\tIs it dark?\tyes\t{_png(20)}\n")
    suite = tmp_path / "t.suite.yaml"
    suite.write_text("task: yes_no\ndata: {path: bench.tsv}\n")
    (item,) = load_suite(suite).items
    assert len(item.images) == 1
