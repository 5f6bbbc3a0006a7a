"""Pictures in the report: thumbnails of the image items that changed, within a size budget, and the
robustness plot (issue 21, item 7).

The planted suite is the dark/bright one of the reliance tests: ``Seer`` reads the
picture, ``Deaf`` answers "dark" whatever it is shown (a VLM whose vision tower did
not load). Recorded with Seer, a run of Deaf regresses every bright item, keeps
every dark one right with the image taken away (its reliance gate fails), and a
strong brightening turns some dark pictures bright for Seer.
"""

from __future__ import annotations

import base64
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from conftest import Project
from test_image_reliance import _shades
from test_report import _outside_references, _validate

from pytest_medmodel.records import ItemScore
from pytest_medmodel.report.pictures import Picture, PictureBudget, chosen_items

CHANGES = (
    "perturbations:\n  - {name: brightness, factor: 4.0}\n  - no_image\n  - blank_image\n  - swap_image\n"
    "gates:\n  image_reliance: {}\n"
)
CHROMIUM = os.environ.get("MEDMODEL_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("MEDMODEL_ARTIFACTS", Path(__file__).resolve().parents[1] / "build" / "artifacts"))


def _reported(project: Project, model: str, *args: str) -> tuple[pytest.RunResult, Path]:
    _shades(project, CHANGES)
    run = project.pytester.runpytest
    assert run("suites", "--medmodel=py:seer:make", "-p", "no:randomly", "--snapshot-update").ret == 0
    out = project.path / "out"
    flags = ("-p", "no:randomly", "--medmodel-profile=seer-make", f"--medmodel-report={out}")
    result = run("suites", f"--medmodel=py:seer:{model}", *flags, *args)
    return result, out


def _pictures(out: Path) -> dict[str, Any]:
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    _validate(report)
    (suite,) = report["suites"]
    return dict(suite["pictures"])


def _mean(uri: str) -> float:
    from PIL import Image, ImageStat

    picture = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    return float(ImageStat.Stat(picture.convert("L")).mean[0])


def test_a_model_that_stopped_looking_is_pictured_item_by_item(project: Project) -> None:
    result, out = _reported(project, "deaf")
    assert result.ret == 1
    pictures = _pictures(out)
    why = {p["key"]: p["why"] for p in pictures["items"]}
    bright = [f"sh-{i:02d}" for i in range(1, 24, 2)]
    dark = [f"sh-{i:02d}" for i in range(0, 24, 2)]
    assert all(why[key] == "regressed: right in the baseline, wrong now" for key in bright)
    assert all(why[f"{key}/no_image"] == "still right with the image taken away (no_image)" for key in dark)
    assert all(why[f"{key}/blank_image"].endswith("(blank_image)") for key in dark)
    assert pictures["left_out"] == 0
    shown = {p["key"]: p for p in pictures["items"]}
    assert shown["sh-01"]["variant"] is None and len(shown["sh-01"]["original"]) == 1
    assert shown["sh-00/no_image"]["variant"] == []  # the picture taken away: nothing to show
    blank = pictures["images"][shown["sh-00/blank_image"]["variant"][0]]
    assert 120 < _mean(blank["uri"]) < 135  # mid-grey, as the model was shown it
    for key in bright:  # each thumbnail is the picture itself, downscaled: bright items are bright
        assert _mean(pictures["images"][shown[key]["original"][0]]["uri"]) > 200
    assert (blank["width"], blank["height"]) == (16, 16)  # smaller than a thumbnail: kept at its size
    used = {d for p in pictures["items"] for d in p["original"] + (p["variant"] or [])}
    assert used == set(pictures["images"])  # every picture stored once, and only the ones used

    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Pictures of items that changed: " in html and html.count('class="thumb t0-') >= len(pictures["items"])
    assert _outside_references(html) == []
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "### Items shown with their pictures in report.html" in markdown
    assert "still right with the image taken away (no\\_image) (12): `sh-00/no_image`" in markdown


def test_a_perturbation_that_breaks_answers_is_pictured_before_and_after(project: Project) -> None:
    result, out = _reported(project, "make")
    assert result.ret == 0, "brightening was in the baseline too: nothing got worse"
    pictures = _pictures(out)
    shown = {p["key"]: p for p in pictures["items"]}
    broken = sorted(k for k, p in shown.items() if p["why"] == "wrong after brightness, right without it")
    assert broken and all(k.endswith("/brightness") and int(k[3:5]) % 2 == 0 for k in broken)
    assert not any("no_image" in k for k in shown), "the reliance gate passed: no ablation is pictured"
    first = shown[broken[0]]
    before, after = (pictures["images"][first[side][0]]["uri"] for side in ("original", "variant"))
    assert _mean(before) < 60 < 127 < _mean(after)  # a dark picture, and the bright one the model was shown

    rows = {r["family"]: r for r in json.loads((out / "report.json").read_text())["suites"][0]["robustness"]}
    assert rows["brightness"]["ablation"] is False and rows["no_image"]["ablation"] is True
    assert rows["brightness"]["baseline_accuracy"] == rows["brightness"]["accuracy"] < 1.0
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.count('<figure class="plot robustness">') == 1 and "reliance +50.0 (baseline +50.0)" in html


def test_the_pictures_keep_to_their_budget_and_say_what_was_left_out(project: Project) -> None:
    _, out = _reported(project, "deaf", "--medmodel-report-pictures=1")
    pictures = _pictures(out)
    size = sum(len(p["uri"]) for p in pictures["images"].values())
    assert 0 < size <= 1024 and pictures["left_out"] > 0 and pictures["items"]
    assert f"{pictures['left_out']} more left out" in (out / "report.html").read_text(encoding="utf-8")

    flags = ("-p", "no:randomly", "--medmodel-profile=seer-make", f"--medmodel-report={out}")
    result = project.pytester.runpytest("suites", "--medmodel=py:seer:deaf", *flags, "--medmodel-report-pictures=0")
    assert result.ret == 1
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert "pictures" not in report["suites"][0]


def test_what_is_chosen_comes_in_order_of_importance_and_by_turns() -> None:
    def score(key: str, correct: bool) -> ItemScore:
        item, _, variant = key.partition("/")
        return ItemScore(item, variant, 0, correct, "A", "A", "h")

    keys = {"a": True, "b": True, "c": False, "a/blur": False, "b/blur": False, "a/jpeg": False, "c/blur": False}
    keys |= {"a/no_image": True, "b/no_image": False}
    scores = {k: score(k, ok) for k, ok in keys.items()}
    chosen = chosen_items(scores, {"c": "regressed", "a/blur": "regressed"}, ["blur", "jpeg"], ["no_image"], False)
    assert [k for k, _ in chosen] == ["a/blur", "c", "a/jpeg", "b/blur", "a/no_image"]  # blur, jpeg, blur: by turns
    assert dict(chosen)["a/blur"].startswith("regressed")  # said once, by the most important reason
    assert "a/no_image" not in dict(chosen_items(scores, {}, ["blur"], ["no_image"], True))

    made: list[str] = []

    def make(digest: str) -> Picture | None:
        made.append(digest)
        return None if digest == "bad" else Picture("x" * 100, 8, 8)

    budget = PictureBudget(250)
    ids = {"a": (("p",), None), "b": (("p",), ("q",)), "c": (("bad",), None), "d": (("r",), ("s",))}
    out = budget.fill([(k, "why") for k in ids], ids.get, make, share=250)
    assert [i.key for i in out.items] == ["a", "b"] and out.left_out == 2  # c: undecodable; d: over the budget
    assert budget.left == 50 and made.count("p") == 1

    made.clear()
    spent = PictureBudget(200)  # a and b take it all: c and d are counted, never decoded
    out = spent.fill([(k, "why") for k in ids], ids.get, make, share=200)
    assert [i.key for i in out.items] == ["a", "b"] and out.left_out == 2 and made == ["p", "q"]


@pytest.mark.slow
def test_the_thumbnails_show_in_a_real_browser(project: Project) -> None:
    """Chromium draws each thumbnail where the page says, at its size; the screenshot is checked, not only taken."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"no browser at {CHROMIUM}: .ci/run installs Debian's chromium package; set MEDMODEL_CHROMIUM")
        pytest.skip(f"no browser at {CHROMIUM} (apt-get install chromium, or set MEDMODEL_CHROMIUM)")
    from PIL import Image, ImageStat
    from playwright.sync_api import sync_playwright

    _, out = _reported(project, "deaf")
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
            page.on("request", lambda r: problems.append(r.url) if not r.url.startswith(("file:", "data:")) else None)
            page.goto((out / "report.html").as_uri())
            page.wait_for_load_state("load")
            table = page.locator("h3.pictures + p + table")
            assert table.locator(".thumb").count() >= 36
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shots = {}
            for key in ("sh-01", "sh-00"):  # a bright item's picture, a dark one's (its no_image row: one picture)
                row = table.locator("tr", has=page.locator("code", has_text=key)).first
                thumb = row.locator(".thumb").first
                box = thumb.bounding_box()
                assert box is not None and round(box["width"]) == 16 + 2  # the picture plus its border
                path = ARTIFACTS / f"report-thumb-{key}.png"
                thumb.screenshot(path=str(path))
                shots[key] = ImageStat.Stat(Image.open(path).convert("L").crop((2, 2, 16, 16))).mean[0]
            table.screenshot(path=str(ARTIFACTS / "report-pictures.png"))
        finally:
            browser.close()
    assert problems == []
    assert shots["sh-01"] > 200 and shots["sh-00"] < 60, shots
