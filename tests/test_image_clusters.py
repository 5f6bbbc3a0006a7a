"""Questions that share an image are one cluster in every paired statistic (ProbMed asks many per image)."""

from __future__ import annotations

from pathlib import Path

from conftest import Project
from test_image_items import SEER

from pytest_medmodel.images import ImageRef, ImageSource
from pytest_medmodel.suite.clusters import clusters_of
from pytest_medmodel.suite.types import Item


def _item(item_id: str, picture: bytes | None = None, group: str | None = None) -> Item:
    images = (ImageRef.of(ImageSource.from_bytes(picture, f"{item_id}.png")),) if picture else ()
    return Item(id=item_id, question="q", choices=("a", "b"), answer=0, group=group, images=images)


def _png(shade: int) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (4, 4), (shade, shade, shade)).save(out, format="PNG")
    return out.getvalue()


def test_items_sharing_an_image_or_a_group_are_one_cluster_and_the_link_is_transitive() -> None:
    one, two = _png(10), _png(200)
    items = [
        _item("a", one),
        _item("b", one),  # a's image
        _item("c", two, group="g"),
        _item("d", group="g"),  # c's group, no image
        _item("e", two),  # c's image: joins c and d
        _item("f"),  # alone
        _item("g", _png(99)),  # an image nobody else shows
    ]
    clusters = clusters_of(items)
    assert clusters["a"] == clusters["b"] != clusters["c"]
    assert clusters["c"] == clusters["d"] == clusters["e"] == "group:g"
    assert clusters["f"] == "item:f" and clusters["g"] == "item:g"
    assert clusters_of([_item("x", group="p"), _item("y", group="p")]) == {"x": "group:p", "y": "group:p"}


INVERTED = '''

class Inverted(Seer):
    """Wrong about every dark picture (all questions about it), right about the bright ones."""
    fingerprint = "inverted-1"

    def loglikelihood(self, requests):
        return [ChoiceResult((-2.5, -0.1)) for r in requests]

def inverted():
    return Inverted()
'''


def test_a_gate_counts_the_images_not_the_questions_about_them(project: Project) -> None:
    """Three questions about each of 8 pictures; a model wrong about the 4 dark ones loses 12 items but only
    4 clusters: the sign test over clusters (p = 1/16) cannot call that real at level 0.01, where 12
    independent items (McNemar p = 0.00024) would have."""
    from PIL import Image

    (project.path / "seer.py").write_text(SEER + INVERTED)
    images = project.path / "suites" / "images"
    images.mkdir(parents=True)
    rows = []
    for i in range(8):
        bright = i % 2 == 1
        Image.new("RGB", (16, 16), ((230 - i) if bright else (20 + i),) * 3).save(images / f"s{i}.png")
        for question in ("Is this image dark or bright?", "Dark or bright?", "Which shade is it?"):
            answer = "B" if bright else "A"
            rows.append({"id": f"s{i}-{len(rows)}", "image": f"../images/s{i}.png", "question": question,
                         "choices": ["dark", "bright"], "answer": answer})  # fmt: skip
    project.suite("shades", rows=rows)
    run = ["suites", "-p", "no:randomly"]
    assert project.pytester.runpytest(*run, "--medmodel=py:seer:make", "--snapshot-update").ret == 0
    junit = project.path / "junit.xml"
    args = ["--medmodel=py:seer:inverted", "--medmodel-profile=seer-make", f"--junitxml={junit}"]
    result = project.pytester.runpytest(*run, *args)
    assert result.ret == 0, result.stdout.str()
    accuracy = _gate_numbers(junit)["accuracy"]
    assert (accuracy["regressed"], accuracy["improved"]) == ("12", "0")
    assert float(accuracy["p_value"]) == 1 / 16, accuracy  # 4 clusters lost, none gained


def _gate_numbers(junit: Path) -> dict[str, dict[str, str]]:
    """Each gate test's ``medmodel.*`` JUnit properties, by gate name."""
    import xml.etree.ElementTree as ET

    out = {}
    for case in ET.parse(junit).iter("testcase"):
        name = case.get("name", "")
        if name.startswith("gate["):
            props = {p.get("name", ""): p.get("value", "") for p in case.iter("property")}
            out[name[5:-1]] = {k[len("medmodel.") :]: v for k, v in props.items()}
    return out


def test_what_a_suite_can_detect_counts_its_clusters() -> None:
    """Before any flip is seen, questions about one image count as flipping together (the conservative bound)."""
    from pytest_medmodel.stats.paired import PairedStats
    from pytest_medmodel.stats.power import cluster_design_effect, gate_sensitivity

    assert cluster_design_effect(["a", "b", "c"], {}) == 1.0
    assert cluster_design_effect(["a", "b", "c", "d"], {"a": "x", "b": "x", "c": "y", "d": "y"}) == 2.0
    assert cluster_design_effect(["a", "b", "c"], {"a": "x", "b": "x"}) == 5 / 3
    stats = PairedStats(n=240, correct=200, has_baseline=False, chance=0.25)
    alone, paired = (gate_sensitivity(stats, {"level": 0.01}, effect) for effect in (1.0, 2.0))
    assert alone is not None and paired is not None and paired.retrained > alone.retrained
