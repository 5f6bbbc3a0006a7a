"""The medical VQA recipes in recipes/: each loads sample rows written for this project in its benchmark's
published file layout (tests/recipe_samples/, built by make_vision_samples.py from real images of installed
packages), keeps the benchmark's subset, renders the prompt the benchmark's own code renders, and runs end to
end through the plugin on a tiny LLaVA."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import Project, outcomes

from pytest_medmodel import load_suite
from pytest_medmodel.scoring.base import SCORERS
from pytest_medmodel.suite.types import Variant

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = Path(__file__).parent / "recipe_samples"
IMAGE = "<|medmodel:image|>\n"  # where the image goes in a plain render; a chat template gets a typed part

VISION_RECIPES: dict[str, tuple[str, list[str], list[int], list[tuple[str, ...]]]] = {
    # name: (what the benchmark's code renders for the first kept sample row, the kept items, their keys as
    # option indices (yes 0, no 1), their tags)
    "vqa_rad_closed": (
        # MedEvalKit utils/question_formats.py::get_judgement_prompt(question), English, no reasoning.
        IMAGE + "is this a plain radiograph?\nPlease output 'yes' or 'no'(no extra output).",
        ["row-00001", "row-00002", "row-00003", "row-00004"],
        [0, 1, 0, 1],
        [(), (), (), ()],
    ),
    "path_vqa_closed": (
        # MedEvalKit's PATH_VQA task uses the same get_judgement_prompt(question) as VQA_RAD.
        IMAGE + "is this a microscopic section of tissue?\nPlease output 'yes' or 'no'(no extra output).",
        ["row-00001", "row-00002", "row-00003", "row-00004"],
        [0, 1, 0, 1],
        [(), (), (), ()],
    ),
    "slake_closed": (
        # lmms-eval lmms_eval/tasks/slake/utils.py::slake_doc_to_text with the default post_prompt.
        IMAGE + "Is this image taken via X-Ray?\nAnswer the question using a single word or phrase.",
        ["1", "3", "5", "7"],
        [0, 1, 0, 0],
        [("X-Ray", "Modality"), ("CT", "Modality"), ("MRI", "Modality"), ("X-Ray", "Organ")],
    ),
    "gmai_mmbench_val": (
        # VLMEvalKit vlmeval/dataset/image_mcq.py::ImageMCQDataset.build_prompt (no hint column).
        IMAGE + "Question: Which imaging modality produced this image?\nOptions:\nA. CT\nB. MRI\nC. X-ray\n"
        "D. Ultrasound\nPlease select the correct answer from the options above. \n",
        ["0", "1", "2", "3"],
        [2, 0, 1, 0],
        [
            ("Modality Recognition", "Pulmonary Medicine", "Image Level"),
            ("Organ Recognition - Thorax", "Pulmonary Medicine", "Image Level"),
            ("Modality Recognition", "Gastroenterology", "Image Level"),
            ("Modality Recognition", "Radiology", "Image Level"),
        ],
    ),
    "pmc_vqa": (
        # MedEvalKit utils/question_formats.py::get_multiple_choice_prompt(question, choices), English, no
        # reasoning, with the Choice A..D cells as PMC-VQA writes them ("A:CT").
        IMAGE + "\nQuestion: Which imaging technique was used to obtain this image?\nOptions: \nA:CT\nB:MRI\n"
        "C:Radiography (X-ray)\nD:Ultrasound\nAnswer with the option's letter from the given choices directly.",
        ["row-00001", "row-00002", "row-00003", "row-00004"],
        [2, 0, 2, 1],
        [(), (), (), ()],
    ),
    "omnimedvqa_acrima": (
        # MedEvalKit utils/OmniMedVQA/OmniMedVQA.py::construct_messages -> get_multiple_choice_prompt.
        IMAGE + "\nQuestion: What imaging modality was used to capture this image?\nOptions: \n"
        "A. Fundus photography\nB. CT\nC. MRI\nD. Ultrasound\nAnswer with the option's letter from the given "
        "choices directly.",
        ["row-00001", "row-00002", "row-00003"],
        [0, 0, 1],
        [
            ("Modality Recognition", "Fundus Photography"),
            ("Anatomy Identification", "Fundus Photography"),
            ("Modality Recognition", "Fundus Photography"),
        ],
    ),
    "mediconfusion": (
        # MediConfusion configs/prompts/answering.json prompts.mc (gpt, gemini, claude, llava_med) filled by
        # utils/answering.py::BaseAnsweringModel.convert_question(question, [option_A, option_B]).
        IMAGE + "Based on the image, choose the correct option for the following question.\nQuestion: Which "
        "imaging technique produced this image?\nA: Computed tomography\nB: Plain radiography\nAnswer with the "
        "option's letter from the given choices directly. Your answer should be just one letter.\nAnswer: ",
        ["10001:1", "10001:2", "10002:1", "10002:2", "10003:1", "10003:2"],
        [0, 1, 0, 1, 0, 1],
        [("Abdominal",), ("Lung",), ("Cerebral",), ("Lung",), ("Vascular",), ("Cerebral",)],
    ),
    "probmed": (
        # ProbMed eval/inference/LLaVA/model_vqa.py::eval_model: the image token, a line break, the question.
        IMAGE + "Is this a CT scan?",
        [f"row-{n:05d}" for n in range(1, 9)],
        [0, 1, 0, 1, 0, 1, 0, 1],
        [("ct_abdomen", "modality")] * 2
        + [("ct_abdomen", "body_part")] * 2
        + [("x-ray_chest", "modality")] * 2
        + [("x-ray_chest", "body_part")] * 2,
    ),
    "medxpertqa_mm": (
        # MedXpertQA eval/config/prompt_templates.py::PromptTemplates.load_templates("medxpertqa"): the
        # zero-shot answer-only system role and "Q: {question}\nA: " + the trigger, start A, end E; the
        # question as the data writes it (its options inside), then its images.
        "You are a helpful medical assistant.\n\nQ: Two studies of the same patient are shown. Which of them "
        "is a cross-sectional image? Answer Choices: (A) Figure A (B) Figure B (C) Both (D) Neither (E) Cannot be "
        "determined\nA: Among A through E, the answer is\n" + IMAGE + IMAGE.rstrip("\n"),
        ["MM-9001", "MM-9002", "MM-9003"],
        [0, 1, 1],
        [
            ("Basic Medicine", "Digestive", "Understanding"),
            ("Basic Medicine", "Nervous", "Understanding"),
            ("Basic Medicine", "Respiratory", "Understanding"),
        ],
    ),
}
GROUPS: dict[str, list[str]] = {
    # recipes whose items are scored in probe groups: each item's group, in item order
    "mediconfusion": ["10001", "10001", "10002", "10002", "10003", "10003"],
    "probmed": [f"{image}/{category}" for image in "12" for category in ("modality", "body_part") for _ in "ab"],
}
IMAGE_COUNTS: dict[str, list[int]] = {
    # recipes whose items show other than one image each: each item's number of images
    "medxpertqa_mm": [2, 1, 2],
}


def local_copy(name: str, folder: Path) -> Path:
    """The recipe as shipped, beside a copy of its sample data at the path the recipe names."""
    recipe = ROOT / "recipes" / f"{name}.suite.yaml"
    data = Path(yaml.safe_load(recipe.read_text())["data"]["path"])
    top = data.parts[0]
    source = SAMPLES / top
    if source.is_dir():
        shutil.copytree(source, folder / top, dirs_exist_ok=True)
    else:
        shutil.copy(source, folder / top)
    return Path(shutil.copy(recipe, folder / recipe.name))


def test_every_vision_recipe_is_tested_here() -> None:
    shipped = {p.name.removesuffix(".suite.yaml") for p in (ROOT / "recipes").glob("*.suite.yaml")}
    assert set(VISION_RECIPES) <= shipped


@pytest.mark.parametrize("name", sorted(VISION_RECIPES))
def test_each_vision_recipe_keeps_its_subset_and_renders_the_benchmarks_prompt(name: str, tmp_path: Path) -> None:
    expected, ids, keys, tags = VISION_RECIPES[name]
    suite = load_suite(local_copy(name, tmp_path), root=tmp_path)
    assert [item.id for item in suite.items] == ids
    assert [item.answer for item in suite.items] == keys
    assert [item.tags for item in suite.items] == tags
    assert [len(item.images) for item in suite.items] == IMAGE_COUNTS.get(name, [1] * len(ids))
    assert [item.group for item in suite.items] == GROUPS.get(name, [None] * len(ids))
    if name == "mediconfusion":  # one record, two pictures: each item shows its own, the pair the same question
        first, second = suite.items[:2]
        assert first.images[0].digest != second.images[0].digest
        assert (first.question, first.choices) == (second.question, second.choices)
        assert "set_accuracy" in suite.gate_names
    if name == "medxpertqa_mm":  # the options once, inside the question; every picture, in the row's order
        assert suite.prompt.choices_in_question and "{choices}" not in suite.prompt.template
        assert suite.items[0].choices == ("Figure A", "Figure B", "Both", "Neither", "Cannot be determined")
        assert len({ref.digest for item in suite.items for ref in item.images}) == 4  # 5 pictures, 1 repeated
    if name == "gmai_mmbench_val":  # row 1 names row 0's picture by its index: the same picture, the same digest
        assert suite.items[1].images[0].digest == suite.items[0].images[0].digest
        assert [len(item.choices) for item in suite.items] == [4, 4, 5, 4]
    if name == "omnimedvqa_acrima":  # options absent from a row are not there: 4, 2 and 3 options
        assert [len(item.choices) for item in suite.items] == [4, 2, 3]
    if name == "pmc_vqa":  # the label each cell starts with is not part of the option's text
        assert suite.items[0].choices == ("CT", "MRI", "Radiography (X-ray)", "Ultrasound")
    if any(tags):  # a benchmark with subsets gates each subset big enough to show a drop
        assert "accuracy_by_tag" in {g.name for g in suite.gates}
    request = SCORERS.get(suite.scoring.method).request(suite, Variant.of(suite.items[0]), None)
    assert request.context == expected


@pytest.mark.slow
def test_the_vision_recipes_run_end_to_end_on_a_tiny_llava(project: Project, tmp_path: Path) -> None:
    """Every sample item is collected and scored (right or a known miss), none errors; the rerun reads the cache."""
    from tiny_vision_models import build_llava

    folder = build_llava(tmp_path / "llava")
    suites = project.path / "suites"
    suites.mkdir(exist_ok=True)
    for name in VISION_RECIPES:
        local_copy(name, suites)
    project.env.setenv("HF_HUB_OFFLINE", "1")
    args = ["suites", f"--medmodel={folder}", "-p", "no:randomly"]
    first = project.pytester.runpytest_subprocess(*args, "--snapshot-update")
    assert first.ret == 0, first.stdout.str()
    profile = next((project.path / "baselines").iterdir())
    for name, (_, ids, _, _) in VISION_RECIPES.items():
        baseline = json.loads((profile / f"{name}.json").read_text())
        assert sorted(baseline["items"]) == sorted(ids), name
    again = project.pytester.runpytest_subprocess(*args)
    assert again.ret == 0, again.stdout.str()
    counts = outcomes(again)
    items = sum(len(ids) for _, ids, _, _ in VISION_RECIPES.values())
    gates = len(VISION_RECIPES) + len(GROUPS)  # accuracy for each, set accuracy for each grouped one
    assert counts.get("passed", 0) + counts.get("xfailed", 0) == items + gates, counts
    tagged = [name for name, (_, _, _, tags) in VISION_RECIPES.items() if any(tags)]
    assert counts.get("skipped") == len(tagged), counts  # gate[accuracy_by_tag]: a few rows a tag gate nothing
    assert not {"error", "errors", "failed"} & set(counts), counts
    said = " ".join(" ".join(again.stdout.lines).split())
    assert all(f"{name}: tags too small to gate (gate[accuracy_by_tag], items paired)" in said for name in tagged)
