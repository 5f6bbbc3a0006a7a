"""scoring: generate through the plugin: answers read from text, invalid answers counted, text in baselines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Project, expect_lines

from pytest_medmodel import load_model, load_suite
from pytest_medmodel.models.base import GenerationRequest
from pytest_medmodel.scoring.base import SCORERS
from pytest_medmodel.scoring.extract import extract_letter

WRITER = '''
"""A test adapter that only generates: "Answer: <key label>" unless told otherwise per item."""
import json, os
from pathlib import Path

KEY = json.loads((Path(__file__).parent / "answer_key.json").read_text())

class Writer:
    name = "writer"

    def __init__(self):
        path = os.environ.get("WRITER_TEXTS")
        self.texts = json.loads(Path(path).read_text()) if path else {}
        self.fingerprint = "writer:" + json.dumps(self.texts, sort_keys=True)
        self.contexts = []

    def generate(self, requests):
        log = os.environ.get("WRITER_LOG")
        if log:
            with open(log, "a") as handle:
                for r in requests:
                    handle.write(json.dumps({"context": r.context, "max_new_tokens": r.max_new_tokens, "stop": list(r.stop)}) + "\\n")
        return [self.texts.get(r.meta["item"], "Answer: " + "ABCD"[KEY[r.meta["item"]]]) for r in requests]

def make():
    return Writer()
'''


def _writer(project: Project, texts: dict[str, str] | None = None) -> None:
    (project.path / "writer.py").write_text(WRITER)
    path = project.path / "texts.json"
    path.write_text(json.dumps(texts or {}))
    project.env.setenv("WRITER_TEXTS", str(path))
    project.env.setenv("WRITER_LOG", str(project.path / "writer.log"))


def _run(project: Project, *args: str) -> pytest.RunResult:
    return project.pytester.runpytest("suites", "--medmodel=py:writer:make", "-p", "no:randomly", *args)


def test_answers_are_read_from_text_and_an_unreadable_one_is_invalid_never_guessed(project: Project) -> None:
    project.suite("gen", 20, extra_yaml="gates:\n  ece: {}\n")
    suite_file = project.path / "suites" / "gen.suite.yaml"
    suite_file.write_text(suite_file.read_text().replace("scoring: letter", "scoring: {method: generate}"))
    _writer(project)
    assert _run(project, "--snapshot-update").ret == 0
    baseline = json.loads((project.path / "baselines" / "writer-make" / "gen.json").read_text())
    assert baseline["items"]["ge-002"]["text"] == "Answer: C" and baseline["items"]["ge-002"]["answer"] == "C"
    assert "probs" not in baseline["items"]["ge-002"]

    _writer(project, {"ge-001": "I cannot give medical advice.", "ge-002": "The answer is B or C.", "ge-003": "A"})
    result = _run(project, "-rA", f"--medmodel-report={project.path / 'out'}")
    assert result.ret == 0, "three regressions of twenty are not significant: the accuracy gate passes"
    report = json.loads((project.path / "out" / "report.json").read_text())
    refused = next(i for i in report["suites"][0]["items"] if i["key"] == "ge-001")
    assert (refused["answer"], refused["text"], refused["outcome"]) == (
        "(invalid)",
        "I cannot give medical advice.",
        "regressed",
    )
    assert refused["baseline"]["text"] == "Answer: B" and refused["probs"] is None
    html = (project.path / "out" / "report.html").read_text()
    assert "<pre>I cannot give medical advice.</pre>" in html and "<pre>The answer is B or C.</pre>" in html
    expect_lines(
        result,
        [
            "regressed items (baseline->current answer): ge-001 B->(invalid), ge-002 C->(invalid), ge-003 D->A",
            "gen: generated answers: 2 of 20 could not be read out of the text (invalid, counted wrong)",
        ],
    )
    result.stdout.fnmatch_lines(
        ["SKIPPED * scoring 'generate' gives no probabilities over the choices; calibration needs them"]
    )


def test_the_prompt_asks_for_reasoning_and_the_limits_are_the_suites(project: Project) -> None:
    project.suite("gen", 4)
    suite_file = project.path / "suites" / "gen.suite.yaml"
    scoring = "scoring: {method: generate, reasoning: true, stop: ['###']}"
    suite_file.write_text(suite_file.read_text().replace("scoring: letter", scoring))
    _writer(project, {"ge-000": "Let us see. B is wrong, C is wrong.\nAnswer: A"})
    assert _run(project, "--snapshot-update").ret == 0
    sent = [json.loads(line) for line in (project.path / "writer.log").read_text().splitlines()]
    first = sent[0]
    assert first["context"].endswith(
        "A. alpha\nB. beta\nC. gamma\nD. delta\nAnswer with the letter of the correct option.\n"
        'Think step by step, then end with a line "Answer: <the letter of the correct option>".\n'
        "Let's think step by step."
    )
    assert (first["max_new_tokens"], first["stop"]) == (512, ["###"])


def test_yes_no_suites_read_words_and_show_no_labels(project: Project) -> None:
    project.suite("yn", 6, task="yes_no_maybe", scoring="generate")
    _writer(project, {"yn-000": "Yes, clearly.", "yn-001": "Based on the abstract, the answer is no."})
    assert _run(project, "--snapshot-update").ret == 0
    baseline = json.loads((project.path / "baselines" / "writer-make" / "yn.json").read_text())
    assert baseline["items"]["yn-000"]["answer"] == "yes" and baseline["items"]["yn-000"]["correct"] is True
    assert baseline["items"]["yn-001"]["answer"] == "no" and baseline["items"]["yn-001"]["correct"] is True
    assert baseline["items"]["yn-002"]["answer"] == "(invalid)", "'Answer: C' is not a yes/no/maybe answer"
    first = json.loads((project.path / "writer.log").read_text().splitlines()[0])
    assert "A. " not in first["context"] and first["context"].endswith("Answer yes, no or maybe.\nAnswer:")


@pytest.mark.parametrize(
    ("scoring", "message"),
    [
        ("{method: generate, extract: letters}", "scoring.extract: 'letters' is not a way to read an answer*"),
        ("{method: generate, extract: regex}", "scoring.pattern: extract: regex needs a pattern*"),
        ("{method: generate, extract: regex, pattern: '(unclosed'}", "scoring.pattern: is not a regular expression*"),
        ("{method: generate, max_new_tokens: 0}", "scoring.max_new_tokens: 0 is not positive*"),
        ("{method: letter, reasoning: true}", "scoring.reasoning: only applies to generate scoring*"),
    ],
)
def test_bad_generation_settings_are_one_line_errors(project: Project, scoring: str, message: str) -> None:
    suite_file = project.suite("gen", 2)
    suite_file.write_text(suite_file.read_text().replace("scoring: letter", f"scoring: {scoring}"))
    _writer(project)
    result = _run(project, "--collect-only")
    result.stdout.fnmatch_lines([f"*gen.suite.yaml: {message}"])


def test_a_model_that_cannot_generate_gets_the_suite_skipped_with_the_reason(project: Project) -> None:
    project.suite("gen", 2, scoring="generate")
    result = project.run("-rs")
    expect_lines(
        result, ["*oracle cannot serve scoring 'generate': it needs generate; the model offers choice_logprobs*"]
    )


@pytest.mark.slow
def test_generation_on_a_tiny_model_is_read_and_repeatable(tiny_llama_dir: Path, tmp_path: Path) -> None:
    """The real HF generation path: deterministic text, read by the suite's extraction (a random model rarely commits)."""
    path = tmp_path / "gen.suite.yaml"
    rows = [
        {"id": f"q{i}", "question": f"Question {i}?", "choices": ["a", "b", "c", "d"], "answer": "A"} for i in range(6)
    ]
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    path.write_text("task: multiple_choice\ndata: {path: rows.jsonl}\nscoring: {method: generate, max_new_tokens: 8}\n")
    suite = load_suite(path)
    handle = load_model(str(tiny_llama_dir))
    scorer = SCORERS.get("generate")
    from pytest_medmodel.suite.types import Variant

    variants = [Variant.of(item) for item in suite.items]
    requests = [scorer.request(suite, v, None) for v in variants]
    assert all(isinstance(r, GenerationRequest) and r.max_new_tokens == 8 for r in requests)
    texts = handle.adapter.generate(requests)
    assert texts == handle.adapter.generate(list(reversed(requests)))[::-1]
    from pytest_medmodel.models.base import GenerationResult

    scores = [scorer.score(suite, v, GenerationResult(t)) for v, t in zip(variants, texts, strict=True)]
    for score, text in zip(scores, texts, strict=True):
        read = extract_letter(text, ["A", "B", "C", "D"])
        assert score.text == text
        assert score.shown == ("(invalid)" if read.index is None else "ABCD"[read.index])
        assert score.correct == (read.index == 0)  # every key is A


def test_open_answers_are_right_on_exact_match_and_carry_token_f1(project: Project) -> None:
    rows = [
        {"id": "op-0", "question": "Which hormone lowers blood glucose?", "answer": "insulin", "aliases": []},
        {"id": "op-1", "question": "Which organ makes insulin?", "answer": "pancreas", "aliases": ["the pancreas"]},
        {"id": "op-2", "question": "Which cells make insulin?", "answer": "beta cells", "aliases": ["β cells"]},
        {
            "id": "op-3",
            "question": "What is the antidote to paracetamol?",
            "answer": "acetylcysteine",
            "aliases": ["NAC"],
        },
    ]
    project.suite("open", rows=rows, task="open", scoring="generate")
    texts = {
        "op-0": "Insulin.",
        "op-1": "Let's think. It is made in the islets.\nAnswer: The Pancreas",
        "op-2": "the beta cells of the islets of Langerhans",
        "op-3": "",
    }
    _writer(project, texts)
    assert _run(project, "--snapshot-update").ret == 0
    baseline = json.loads((project.path / "baselines" / "writer-make" / "open.json").read_text())
    items = baseline["items"]
    assert (items["op-0"]["answer"], items["op-0"]["correct"], items["op-0"]["exact_match"]) == ("Insulin", True, True)
    assert (items["op-1"]["answer"], items["op-1"]["correct"]) == ("The Pancreas", True)
    assert (items["op-2"]["correct"], items["op-2"]["f1"]) == (
        False,
        0.5,
    )  # 2 of 6 normalised words said match both wanted
    assert (items["op-3"]["answer"], items["op-3"]["f1"]) == ("(invalid)", 0.0)
    assert baseline["metrics"]["exact_match"] == 0.5 and baseline["metrics"]["f1"] == 0.625
    first = json.loads((project.path / "writer.log").read_text().splitlines()[0])
    assert first["context"] == "Question: Which hormone lowers blood glucose?\nAnswer:"

    result = _run(project, "-v")  # the suite's metrics are details of a passing run
    expect_lines(
        result,
        [
            "open: unreadable answers 25.0% on 4 items (generated answers not read out of the text count wrong)",
            "open: exact match 50.0%, token F1 0.625 on 4 items (SQuAD normalisation; correct means exact match)",
        ],
    )


def test_an_open_task_needs_generation(project: Project) -> None:
    rows = [{"id": "op-0", "question": "Which hormone lowers blood glucose?", "answer": "insulin"}]
    project.suite("open", rows=rows, task="open", scoring="letter")
    _writer(project)
    result = _run(project, "--collect-only")
    result.stdout.fnmatch_lines(
        ["*open.suite.yaml: scoring: task open has free-text answers; letter scoring needs options*"]
    )


@pytest.mark.slow
def test_a_generate_only_model_scores_choice_suites_by_generation_and_says_so(project: Project) -> None:
    project.suite("mc", 8)  # letter scoring, as written
    _writer(project, {"mc-001": "I would rather not say."})
    result = _run(project, "--snapshot-update")
    assert result.ret == 0
    expect_lines(
        result, ["mc: scored by generation (extract: letter) instead of letter: the model returns no log-probabilities"]
    )
    baseline = json.loads((project.path / "baselines" / "writer-make" / "mc.json").read_text())
    assert baseline["scoring"] == "generate" and baseline["items"]["mc-001"]["answer"] == "(invalid)"
    assert baseline["items"]["mc-002"] == {
        "answer": "C",
        "correct": True,
        "confidence": None,
        "hash": baseline["items"]["mc-002"]["hash"],
        "text": "Answer: C",
    }
    written = project.baseline_bytes()
    parallel = project.pytester.runpytest_subprocess(
        "suites", "--medmodel=py:writer:make", "-p", "no:randomly", "-n", "2", "--snapshot-update"
    )
    assert parallel.ret == 0 and project.baseline_bytes() == written


def test_the_accuracy_gate_fails_a_generating_model_that_got_worse_and_passes_one_that_did_not(
    project: Project,
) -> None:
    """The gates judge generated answers as they judge scored ones: an unchanged writer passes, one that now
    refuses or answers wrong on 12 of 40 items fails."""
    project.suite("gen", 40, scoring="generate")
    _writer(project)
    assert _run(project, "--snapshot-update").ret == 0
    assert _run(project).ret == 0, "the same answers pass"
    changed = [f"ge-{i:03d}" for i in range(1, 24, 2)]  # keys B and D
    worse = {item: "I cannot answer that." if n % 2 else "Answer: A or C" for n, item in enumerate(changed)}
    _writer(project, worse)
    result = _run(project)
    assert result.ret == 1
    expect_lines(result, ["*accuracy dropped on suite gen*", "*regressed 12, improved 0*"])


def _regex_suite(project: Project, pattern: str, texts: dict[str, str]) -> None:
    suite_file = project.suite("gen", 2)
    scoring = "scoring: {method: generate, extract: regex, pattern: '" + pattern + "'}"
    suite_file.write_text(suite_file.read_text().replace("scoring: letter", scoring))
    _writer(project, texts)


@pytest.mark.slow
def test_a_pattern_that_backtracks_exponentially_on_a_generation_finishes_quickly(project: Project) -> None:
    """``^(a+)+$`` on 33 a's and a b took minutes with ``re``; the bounded engine reads it at once (no match)."""
    _regex_suite(project, "^(a+)+$", {"ge-000": "a" * 33 + "b", "ge-001": "a" * 33 + "b"})
    argv = ("suites", "--medmodel=py:writer:make", "-p", "no:randomly", "--snapshot-update")
    result = project.pytester.runpytest_subprocess(*argv, timeout=60)
    assert result.ret == 0
    baseline = json.loads((project.path / "baselines" / "writer-make" / "gen.json").read_text())
    assert baseline["items"]["ge-000"]["answer"] == "(invalid)", "the text does not match the pattern"


@pytest.mark.slow
def test_a_pattern_that_runs_over_its_time_limit_fails_its_shard_in_one_line(project: Project) -> None:
    """A pattern even the bounded engine backtracks on stops after its limit: never a hang, never a silent invalid."""
    _regex_suite(project, "(a|aa)+$", {"ge-000": "a" * 40 + "b", "ge-001": "Answer: B"})
    argv = ("suites", "--medmodel=py:writer:make", "-p", "no:randomly", "--snapshot-update")
    result = project.pytester.runpytest_subprocess(*argv, timeout=60)
    assert result.ret == 1
    message = (
        "PatternTimeout: gen: extract: regex: the pattern '(a|aa)+$' ran over 1 s on the generation of item ge-000;"
        " write a pattern without nested repetition (e.g. (a+)+ or (a|aa)+)"
    )
    assert result.stdout.lines.count(message) == 1, "shown once, in one line, for the item it failed on"
    assert "Traceback" not in result.stdout.str() and "(invalid)" not in result.stdout.str()
    assert not (project.path / "baselines" / "writer-make" / "gen.json").exists()
