"""The benchmark recipes in recipes/: each loads rows in its benchmark's real schema, renders the prompt the
benchmark's lm-evaluation-harness task renders, and runs end to end through the plugin on a tiny model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import Project

from pytest_medmodel import load_suite
from pytest_medmodel.scoring.base import SCORERS
from pytest_medmodel.suite.types import Variant

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = Path(__file__).parent / "recipe_samples"
RECIPES = sorted((ROOT / "recipes").glob("*.suite.yaml"))
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
KEYS = {"medqa_4options": [1, 2, 0, 2], "medmcqa": [2, 1, 1, 2], "pubmedqa": [0, 1, 2], "mmlu": [1, 0, 2, 1]}


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
