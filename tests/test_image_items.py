"""Suites whose items show images, run through the plugin with an adapter that really looks at them.

The ``Seer`` adapter answers "dark" or "bright" from the mean of the image it is
given, so a right answer proves the image reached it; it logs every request, so a
cache hit or a recomputation is visible.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Project, expect_lines, outcomes

SEER = '''
import json, pathlib
from pytest_medmodel import CHOICE_LOGPROBS, IMAGES, ChoiceResult

LOG = pathlib.Path(__file__).parent / "seer.log"

class Seer:
    name = "seer"
    fingerprint = "seer-1"
    capabilities = {CHOICE_LOGPROBS, IMAGES}

    def loglikelihood(self, requests):
        out = []
        for r in requests:
            # Without an image (the drop_images mutation) it guesses "dark".
            bright = bool(r.images) and r.images[0].load().convert("L").resize((1, 1)).getpixel((0, 0)) > 127
            with LOG.open("a") as log:
                log.write(json.dumps({"item": r.meta["item"], "images": len(r.images)}) + "\\n")
            out.append(ChoiceResult((-2.5, -0.1) if bright else (-0.1, -2.5)))
        return out

class Blind:
    name = "blind"
    fingerprint = "blind-1"

    def loglikelihood(self, requests):
        return [ChoiceResult((-0.1, -2.5)) for r in requests]

class ChatSeer(Seer):
    """With a chat template that, like a real VLM's, puts each image where its part is."""

    def format_chat(self, messages):
        from pytest_medmodel import IMAGE_MARK

        def content(c):
            if isinstance(c, str):
                return c
            return "".join(IMAGE_MARK + "\\n" if p["type"] == "image" else p["text"] for p in c)

        return "".join(f"<{m['role']}>{content(m['content'])}</{m['role']}>" for m in messages) + "<assistant>"

def make():
    return Seer()

def chat():
    return ChatSeer()

def blind():
    return Blind()
'''


def _picture(path: Path, shade: int) -> None:
    from PIL import Image

    Image.new("RGB", (16, 16), (shade, shade, shade)).save(path)


def _shades_suite(
    project: Project, extra_yaml: str = "", rows_extra: dict[str, dict[str, str]] | None = None, n: int = 8
) -> None:
    """``n`` items: is this image dark or bright? (images in suites/images, paths relative to the data file)."""
    (project.path / "seer.py").write_text(SEER)
    images = project.path / "suites" / "images"
    images.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        bright = i % 2 == 1
        _picture(images / f"s{i}.png", 230 - i if bright else 20 + i)  # each image its own pixels
        row = {
            "id": f"sh-{i}",
            "image": f"../images/s{i}.png",
            "question": "Is this image dark or bright?",
            "choices": ["dark", "bright"],
            "answer": "B" if bright else "A",
        }
        row.update((rows_extra or {}).get(f"sh-{i}", {}))
        rows.append(row)
    project.suite("shades", rows=rows, extra_yaml=extra_yaml)


def _run(project: Project, *args: str, model: str = "py:seer:make") -> pytest.RunResult:
    return project.pytester.runpytest("suites", f"--medmodel={model}", "-p", "no:randomly", *args)


def _seer_calls(project: Project) -> list[str]:
    log = project.path / "seer.log"
    return [json.loads(line)["item"] for line in log.read_text().splitlines()] if log.exists() else []


def test_an_image_suite_reaches_the_model_and_a_changed_image_is_recomputed(project: Project) -> None:
    _shades_suite(project)
    result = _run(project, "--snapshot-update", "--medmodel-log-prompts=prompts.jsonl")
    assert result.ret == 0, result.stdout.str()
    assert outcomes(result)["passed"] == 9  # 8 items answered right from their pixels, and the gate
    assert sorted(_seer_calls(project)) == [f"sh-{i}" for i in range(8)]
    record = json.loads((project.path / "prompts.jsonl").read_text().splitlines()[0])
    assert record["context"].startswith("<|medmodel:image|>\nQuestion: Is this image dark or bright?")
    assert record["images"][0]["source"] == "../images/s0.png" and len(record["images"][0]["digest"]) == 16
    baseline = json.loads((project.path / "baselines" / "seer-make" / "shades.json").read_text())

    assert _run(project).ret == 0
    assert len(_seer_calls(project)) == 8  # unchanged images: every answer from the prediction cache

    _picture(project.path / "suites" / "images" / "s1.png", 25)  # sh-1's picture turns dark: its answer flips
    result = _run(project)
    assert _seer_calls(project)[8:] == ["sh-1"]  # only the changed image is sent again
    changed = json.loads((project.path / "baselines" / "seer-make" / "shades.json").read_text())
    assert changed == baseline  # a plain run never writes a baseline
    expect_lines(result, ["*sh-1*"])
    assert outcomes(result).get("regressed", 0) == 0  # a changed item is not compared with its stale entry


def test_a_text_only_model_is_skipped_on_an_image_suite_with_the_reason(project: Project) -> None:
    _shades_suite(project)
    result = _run(project, "-rs", model="py:seer:blind")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*blind does not take images (no 'images' capability)*"])
    assert outcomes(result).get("passed", 0) == 0 and outcomes(result)["skipped"] == 9


def test_a_truncated_image_fails_its_item_alone_and_leaves_baselines_untouched(project: Project) -> None:
    _shades_suite(project)
    assert _run(project, "--snapshot-update").ret == 0
    baselines = project.baseline_bytes()
    picture = project.path / "suites" / "images" / "s3.png"
    picture.write_bytes(picture.read_bytes()[:60])  # cut mid-file: the header still reads, the pixels do not
    result = _run(project, "--snapshot-update")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*item sh-3: ../images/s3.png: is a damaged or truncated PNG file*"])
    assert outcomes(result)["errors"] == 1 and outcomes(result)["passed"] == 8  # the other items and the gate
    assert project.baseline_bytes() == baselines
    assert "baselines left untouched" in result.stdout.str()


@pytest.mark.parametrize(
    ("image", "message"),
    [
        ("../images/missing.png", "*row 3 (id sh-2): image: ../images/missing.png: *not found*"),
        ("../../../outside.png", "*row 3 (id sh-2): image: ../../../outside.png: *points outside*"),
    ],
)
def test_a_missing_or_escaping_image_path_is_one_collection_line(project: Project, image: str, message: str) -> None:
    _shades_suite(project, rows_extra={"sh-2": {"image": image}})
    result = _run(project)
    assert result.ret != 0
    result.stdout.fnmatch_lines([message])
    assert "Traceback" not in result.stdout.str()


def test_with_a_chat_template_each_image_is_a_typed_part_of_the_user_turn(project: Project) -> None:
    _shades_suite(project, extra_yaml='prompt:\n  template: "Look: {image} {question}\\n{choices}"\n')
    result = _run(project, "--snapshot-update", "--medmodel-log-prompts=prompts.jsonl", model="py:seer:chat")
    assert result.ret == 0, result.stdout.str()
    assert outcomes(result)["passed"] == 9
    record = json.loads((project.path / "prompts.jsonl").read_text().splitlines()[0])
    # The template's text around {image} became text parts; the chat template put the image (and its newline).
    assert record["context"] == (
        "<user>Look: <|medmodel:image|>\n Is this image dark or bright?\nA. dark\nB. bright</user><assistant>Answer:"
    )


def test_a_model_that_loses_its_images_fails_the_accuracy_gate(project: Project) -> None:
    _shades_suite(project, n=40)
    assert _run(project, "--snapshot-update").ret == 0
    result = _run(project, "--medmodel-mutate=drop_images")
    assert result.ret == 1
    assert outcomes(result)["regressed"] == 20  # every bright image is now called dark
    expect_lines(result, ["*accuracy dropped on suite shades*"])


def test_a_dicom_suite_uses_its_window_and_a_new_window_is_a_new_image(project: Project) -> None:
    """The same CT file under a soft-tissue and a bone window: two different pictures, two identities."""
    pydicom_data = pytest.importorskip("pydicom.data")
    ct = Path(pydicom_data.get_testdata_file("CT_small.dcm", download=False))
    (project.path / "seer.py").write_text(SEER)
    (project.path / "suites" / "images").mkdir(parents=True)
    (project.path / "suites" / "images" / "ct.dcm").write_bytes(ct.read_bytes())
    row = {"id": "ct-1", "image": "../images/ct.dcm", "question": "Dark or bright?", "choices": ["dark", "bright"]}
    project.suite("ct", rows=[{**row, "answer": "A"}], extra_yaml="images:\n  window: [40, 400]\n")
    assert _run(project, "--medmodel-log-prompts=soft.jsonl").ret in (0, 1)
    soft = json.loads((project.path / "soft.jsonl").read_text())["images"][0]["digest"]
    project.suite("ct", rows=[{**row, "answer": "A"}], extra_yaml="images:\n  window: [400, 1800]\n")
    _run(project, "--medmodel-log-prompts=bone.jsonl")
    bone = json.loads((project.path / "bone.jsonl").read_text())["images"][0]["digest"]
    assert soft != bone
    assert _seer_calls(project) == ["ct-1", "ct-1"]  # the new window's picture was computed, not served from cache


def test_a_parquet_image_column_in_the_datasets_shape_is_read(project: Project) -> None:
    """VQA-RAD and SLAKE ship as parquet with an Image column: a struct of the PNG's bytes and its name."""
    import io

    pyarrow = pytest.importorskip("pyarrow")
    parquet = pytest.importorskip("pyarrow.parquet")
    from PIL import Image

    (project.path / "seer.py").write_text(SEER)
    pictures, answers = [], []
    for i in range(4):
        buffer = io.BytesIO()
        Image.new("L", (8, 8), 230 - i if i % 2 else 20 + i).save(buffer, format="PNG")
        pictures.append({"bytes": buffer.getvalue(), "path": f"synpic{i}.png"})
        answers.append("bright" if i % 2 else "dark")
    table = pyarrow.table(
        {
            "id": [f"pq-{i}" for i in range(4)],
            "image": pictures,
            "question": ["Is the image dark or bright?"] * 4,
            "c1": ["dark"] * 4,
            "c2": ["bright"] * 4,
            "answer": answers,
        }
    )
    (project.path / "suites" / "data").mkdir(parents=True)
    parquet.write_table(table, project.path / "suites" / "data" / "rad.parquet")
    suite = "task: multiple_choice\ndata:\n  path: data/rad.parquet\n  answer_format: text\n"
    (project.path / "suites" / "rad.suite.yaml").write_text(suite + "  fields: {choices: [c1, c2]}\n")
    result = _run(project, "--snapshot-update")
    assert result.ret == 0, result.stdout.str()
    assert outcomes(result)["passed"] == 5


def _text_and_image_suites(project: Project) -> None:
    _shades_suite(project, n=40)
    project.suite("mini", 8)


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_a_run_answers_image_suites_with_its_model_for_images(project: Project, workers: list[str]) -> None:
    """--medmodel answers the text suites, --medmodel-vision the suites whose items have images;
    each keeps its own baselines, and a vision mutation damages only the model for images."""
    _text_and_image_suites(project)
    args = ["suites", "--medmodel=py:oracle:make", "--medmodel-vision=py:seer:make", "-p", "no:randomly", *workers]
    result = project.pytester.runpytest_subprocess(*args, "--snapshot-update", "--medmodel-report=out")
    assert result.ret == 0, result.stdout.str()
    assert sorted(project.baseline_bytes()) == ["oracle-make/mini.json", "seer-make/shades.json"]
    expect_lines(result, ["model for images: seer; profile seer-make (suites shades)"])
    report = json.loads((project.path / "out" / "report.json").read_text())
    by_name = {s["name"]: s for s in report["suites"]}
    assert by_name["shades"]["answered_by"]["profile"] == "seer-make" and "answered_by" not in by_name["mini"]

    result = project.pytester.runpytest_subprocess(*args, "--medmodel-mutate=drop_images")
    assert result.ret == 1
    expect_lines(result, ["*accuracy dropped on suite shades*"])
    assert "accuracy dropped on suite mini" not in result.stdout.str()  # the text model was left as it was


def test_a_vision_mutation_of_a_run_without_a_model_for_images_is_refused_in_one_line(project: Project) -> None:
    project.suite("mini", 4)
    result = project.run("--medmodel-mutate=zero_projector")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*mutation 'zero_projector' damages a vision-language model; oracle takes no images*"])


@pytest.mark.slow
def test_the_mutation_report_damages_the_model_for_images_for_image_suites(project: Project) -> None:
    _text_and_image_suites(project)
    args = ["suites", "--medmodel=py:oracle:make", "--medmodel-vision=py:seer:make", "-p", "no:randomly"]
    assert project.pytester.runpytest_subprocess(*args, "--snapshot-update").ret == 0
    result = project.pytester.runpytest_subprocess(*args, "--medmodel-mutation-report=drop_images")
    result.stdout.fnmatch_lines(
        [
            "*mutation report: 1 mutation(s) x 2 suite(s)*",
            "*medmodel mutation report*",
            "drop_images  shades  accuracy  caught *",
            "shades: caught 1 of 1 mutations",
        ],
        consecutive=False,
    )
    assert "mini: caught" not in result.stdout.str()  # a vision mutation has nothing to damage in a text suite


@pytest.mark.slow
def test_a_tiny_llava_checkpoint_answers_an_image_suite_through_the_plugin(project: Project, tmp_path: Path) -> None:
    """The real loading path (a folder, AutoProcessor + AutoModelForImageTextToText), end to end:
    recorded, then every answer from the cache; a changed image is the one request computed again."""
    from tiny_vision_models import build_llava

    folder = build_llava(tmp_path / "llava")
    _shades_suite(project, n=6)
    project.env.setenv("HF_HUB_OFFLINE", "1")
    args = ["suites", f"--medmodel={folder}", "-p", "no:randomly", "--medmodel-log-prompts=prompts.jsonl"]
    first = project.pytester.runpytest_subprocess(*args, "--snapshot-update")
    assert first.ret == 0, first.stdout.str()
    expect_lines(first, ["*inference: 1 shard(s), 6 item(s) computed*"])
    record = json.loads((project.path / "prompts.jsonl").read_text().splitlines()[0])
    assert record["context"].count("<|medmodel:image|>") == 1 and len(record["images"]) == 1
    again = project.pytester.runpytest_subprocess(*args)
    assert again.ret == 0
    expect_lines(again, ["*0 item(s) computed*6 read from the prediction cache*"])
    _picture(project.path / "suites" / "images" / "s2.png", 140)
    changed = project.pytester.runpytest_subprocess(*args)
    expect_lines(changed, ["*1 item(s) computed*5 read from the prediction cache*"])


def test_the_demo_pairs_itself_with_the_demo_vlm_for_image_suites() -> None:
    """Resolving never loads weights: the pairing costs a digest of the shipped vision files."""
    pytest.importorskip("gguf")
    from pytest_medmodel.models.base import IMAGES
    from pytest_medmodel.models.specs import ModelOptions, resolve_model

    demo = resolve_model("demo", ModelOptions(device="cpu"))
    assert IMAGES not in demo.capabilities and demo.profile == "demo" and not demo.loaded
    vlm = demo.for_images
    assert vlm is not None and IMAGES in vlm.capabilities and vlm.profile == "demo-vlm" and not vlm.loaded
    assert vlm.fingerprint is not None and vlm.fingerprint.startswith("demo-vlm:")
    assert demo.answering(has_images=True) is vlm and demo.answering(has_images=False) is demo
    alone = resolve_model("demo-vlm", ModelOptions(device="cpu"))
    assert alone.fingerprint == vlm.fingerprint and alone.profile == "demo-vlm"
