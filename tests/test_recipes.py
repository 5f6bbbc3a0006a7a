"""The benchmark recipes in recipes/: each loads rows in its benchmark's real schema, renders the prompt the
benchmark's lm-evaluation-harness task renders, and runs end to end through the plugin on a tiny model."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import Project
from test_vision_recipes import VISION_RECIPES

from pytest_medmodel import load_suite
from pytest_medmodel.scoring.base import SCORERS
from pytest_medmodel.suite.types import SuiteError, Variant

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = Path(__file__).parent / "recipe_samples"
VISION = set(VISION_RECIPES)  # tested in test_vision_recipes.py (images, other harnesses)
RECIPES = sorted(p for p in (ROOT / "recipes").glob("*.suite.yaml") if p.name.removesuffix(".suite.yaml") not in VISION)
SAMPLE_FOR = {"medqa_4options": "medqa_4options.jsonl", "medmcqa": "medmcqa.jsonl", "pubmedqa": "ori_pqal.json"}

EXPECTED_FIRST_PROMPT = {
    # What lm-evaluation-harness's task renders for the first sample row (its doc_to_text), then the scored choices.
    "medqa_4options": (
        "Question: A 24-year-old woman has fatigue, heat intolerance, weight loss and a diffusely enlarged, non-tender "
        "thyroid gland. TSH is suppressed and free T4 is raised. Antibodies against which of the following are most "
        "likely responsible?\nA. Thyroid peroxidase only\nB. The TSH receptor\nC. Thyroglobulin only\n"
        "D. The acetylcholine receptor\nAnswer:",
        (" A", " B", " C", " D"),
    ),
    "medmcqa": (
        "Question: Which cranial nerve supplies the lateral rectus muscle?\nChoices:\nA. Oculomotor nerve\n"
        "B. Trochlear nerve\nC. Abducens nerve\nD. Facial nerve\nAnswer:",
        (" A", " B", " C", " D"),
    ),
    "pubmedqa": (
        "Abstract: We reviewed 412 consecutive patients aged 65 or over who had surgery for a hip fracture at two "
        "hospitals.\nPatients who walked with assistance within 24 hours of surgery had a median stay of 8 days, "
        "against 11 days for those mobilised later (p < 0.001), after adjustment for age, fracture type and "
        "comorbidity.\nQuestion: Does mobilisation within 24 hours of hip fracture surgery shorten the hospital "
        "stay?\nAnswer:",
        (" yes", " no", " maybe"),
    ),
}
KEYS = {"medqa_4options": [1, 2, 0, 2], "medmcqa": [2, 1, 1, 2, 0], "pubmedqa": [0, 1, 2], "mmlu": [1, 0, 2, 1]}


def _local_copy(recipe: Path, folder: Path) -> Path:
    """The recipe with its data pointed at the sample rows (fields, prompt and scoring untouched)."""
    spec = yaml.safe_load(recipe.read_text())
    name = spec["name"]
    sample = SAMPLE_FOR.get(name, "mmlu_clinical.jsonl")
    shutil.copy(SAMPLES / sample, folder / sample)
    data = {k: v for k, v in spec["data"].items() if k != "dataset"}
    spec["data"] = {**data, "path": sample}
    out = folder / recipe.name
    out.write_text(yaml.safe_dump(spec, sort_keys=False))
    return out


def test_there_is_a_recipe_for_each_benchmark() -> None:
    names = {p.name.removesuffix(".suite.yaml") for p in RECIPES}
    clinical_mmlu = {"anatomy", "clinical_knowledge", "college_biology", "college_medicine", "medical_genetics"}
    assert {"medqa_4options", "medmcqa", "pubmedqa"} <= names
    assert {f"mmlu_{s}" for s in clinical_mmlu | {"professional_medicine"}} <= names


@pytest.mark.parametrize("recipe", RECIPES, ids=[p.name for p in RECIPES])
def test_each_recipe_loads_its_benchmarks_schema_and_renders_its_prompt(recipe: Path, tmp_path: Path) -> None:
    suite = load_suite(_local_copy(recipe, tmp_path))
    family = "mmlu" if suite.name.startswith("mmlu_") else suite.name
    assert [item.answer for item in suite.items] == KEYS[family]
    request = SCORERS.get(suite.scoring.method).request(suite, Variant.of(suite.items[0]), None)
    if family == "mmlu":
        subject = suite.name.removeprefix("mmlu_").replace("_", " ")
        assert request.context == (
            f"The following are multiple choice questions (with answers) about {subject}.\n\n"
            "What is the normal range of the resting heart rate in adults?\nA. 30-50 beats per minute\n"
            "B. 60-100 beats per minute\nC. 110-150 beats per minute\nD. 160-200 beats per minute\nAnswer:"
        )
        assert request.continuations == (" A", " B", " C", " D")
    else:
        assert (request.context, request.continuations) == EXPECTED_FIRST_PROMPT[family]


def test_the_published_pubmedqa_json_keeps_its_ids_and_tags_come_from_medmcqa(tmp_path: Path) -> None:
    pubmedqa = load_suite(_local_copy(ROOT / "recipes" / "pubmedqa.suite.yaml", tmp_path))
    assert [item.id for item in pubmedqa.items] == ["90000001", "90000002", "90000003"]
    medmcqa = load_suite(_local_copy(ROOT / "recipes" / "medmcqa.suite.yaml", tmp_path))
    assert medmcqa.tags_by_item()["mm-sample-1"] == ["Anatomy"]


@pytest.mark.slow
def test_the_recipes_run_end_to_end(project: Project, tiny_llama_dir: Path) -> None:
    suites = project.path / "suites"
    suites.mkdir(exist_ok=True)
    for recipe in RECIPES:
        _local_copy(recipe, suites)
    spec = f"--medmodel={tiny_llama_dir}"
    first = project.pytester.runpytest("suites", spec, "--snapshot-update", "-p", "no:randomly")
    assert first.ret == 0
    recorded = {p.stem for p in (project.path / "baselines" / "tiny-llama").glob("*.json")}
    assert recorded == {p.name.removesuffix(".suite.yaml") for p in RECIPES}
    baseline = json.loads((project.path / "baselines" / "tiny-llama" / "pubmedqa.json").read_text())
    assert set(baseline["items"]) == {"90000001", "90000002", "90000003"}
    assert project.pytester.runpytest("suites", spec, "-p", "no:randomly").ret == 0


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _write_rows(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_medmcqa_keys_follow_the_convention_the_data_shows_and_an_ambiguous_file_is_refused(tmp_path: Path) -> None:
    """The Hugging Face MedMCQA counts cop from 0, the original release from 1: the recipe reads either by what
    the file holds (a 0, or a 4), and refuses a file that holds neither instead of shifting every key."""
    recipe = _local_copy(ROOT / "recipes" / "medmcqa.suite.yaml", tmp_path)
    data = tmp_path / "medmcqa.jsonl"
    zero_based = _rows(data)
    assert [item.answer for item in load_suite(recipe).items] == [2, 1, 1, 2, 0]

    # The original release: 3, 2, 2, 3, 1 and a 4.
    one_based = {**zero_based[1], "id": "mm-sample-6", "question": "Which option is the fourth?", "cop": 4}
    _write_rows(data, [{**r, "cop": r["cop"] + 1} for r in zero_based] + [one_based])
    assert [item.answer for item in load_suite(recipe).items] == [2, 1, 1, 2, 0, 3]

    _write_rows(data, [{**r, "cop": r["cop"] + 1} for r in zero_based[:4]])  # 3, 2, 2, 3: no 0 and no 4
    with pytest.raises(SuiteError) as info:
        load_suite(recipe)
    message = str(info.value)
    assert "\n" not in message and "medmcqa.jsonl" in message
    assert "cop: the answers are 2 to 3 only" in message and "answer_format: index0" in message, message
    assert "answer_format: index1" in message


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("2", "answer '2' is text, not a number"),
        (1.0, "answer 1.0 is a decimal number, not a whole-number index"),
        (1.5, "answer 1.5 is a decimal number, not a whole-number index"),
    ],
)
def test_an_answer_index_must_be_a_whole_number(tmp_path: Path, value: object, problem: str) -> None:
    recipe = _local_copy(ROOT / "recipes" / "medqa_4options.suite.yaml", tmp_path)
    data = tmp_path / "medqa_4options.jsonl"
    rows = _rows(data)
    _write_rows(data, [{**rows[0], "label": value}, *rows[1:]])
    with pytest.raises(SuiteError, match=f"row 1 .*: label: {re.escape(problem)}"):
        load_suite(recipe)


def test_a_missing_trailing_option_is_refused_an_empty_one_is_dropped(tmp_path: Path) -> None:
    recipe = _local_copy(ROOT / "recipes" / "medmcqa.suite.yaml", tmp_path)
    data = tmp_path / "medmcqa.jsonl"
    rows = _rows(data)
    _write_rows(data, [{**rows[0], "opd": None}, *rows[1:]])
    with pytest.raises(SuiteError, match=r"row 1 \(id mm-sample-1\): opd: the option is null"):
        load_suite(recipe)
    _write_rows(data, [{**rows[0], "opd": ""}, *rows[1:]])
    assert load_suite(recipe).items[0].choices == ("Oculomotor nerve", "Trochlear nerve", "Abducens nerve")


def test_pubmedqa_with_a_duplicated_pmid_is_refused_naming_it(tmp_path: Path) -> None:
    """A JSON object keeps the last of two equal keys: the first question would vanish without a word."""
    recipe = _local_copy(ROOT / "recipes" / "pubmedqa.suite.yaml", tmp_path)
    data = tmp_path / "ori_pqal.json"
    text = data.read_text()
    duplicated = text.replace('"90000003": {', '"90000001": {')
    assert duplicated != text
    data.write_text(duplicated)
    with pytest.raises(SuiteError) as info:
        load_suite(recipe)
    assert "ori_pqal.json" in str(info.value) and "id '90000001' appears 2 times" in str(info.value)
    assert "\n" not in str(info.value)
