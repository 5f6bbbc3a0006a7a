"""The fault corpus: bad input and faults that must end in one clear line, never in lost baselines.

Each case states what a user would do wrong (or what would break) and checks the
contract: a non-zero exit where something is wrong, one line naming the file,
field or adapter with a fix, no internal traceback, baselines byte-identical or
completely and validly rewritten, and a healthy rerun afterwards.

Categories: stale answers (fingerprints, cache), suite input, ...
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import Project, expect_lines, outcomes

from pytest_medmodel.models import fingerprint
from pytest_medmodel.models.fingerprint import file_digest

# --------------------------------------------------------------------------- stale answers


def _rewrite_keeping_stat(path: Path, data: bytes) -> None:
    """Rewrite a file in place with the same size and restore its mtime, like ``touch -r``."""
    before = os.stat(path)
    with open(path, "r+b") as handle:
        handle.write(data)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(path)
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (before.st_size, before.st_mtime_ns, before.st_ino)


def test_weights_rewritten_in_place_with_their_mtime_restored_get_a_new_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fingerprint, "RACY_SECONDS", 0.05)
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"a" * 4096)
    time.sleep(0.1)  # old enough for its digest to be remembered
    first = file_digest(weights, tmp_path / "memo")
    assert (tmp_path / "memo" / "file-digests.json").read_text().count(first) == 1
    assert file_digest(weights, tmp_path / "memo") == first  # untouched: the same digest, from the memo
    time.sleep(0.1)
    _rewrite_keeping_stat(weights, b"b" * 4096)
    assert file_digest(weights, tmp_path / "memo") != first


def test_a_file_changed_in_the_same_timestamp_tick_as_its_hashing_is_never_remembered(tmp_path: Path) -> None:
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"a" * 4096)
    first = file_digest(weights, tmp_path / "memo")  # written just now: hashed, not remembered
    assert not (tmp_path / "memo" / "file-digests.json").exists()
    _rewrite_keeping_stat(weights, b"b" * 4096)  # possibly within the same ctime tick
    assert file_digest(weights, tmp_path / "memo") != first


# --------------------------------------------------------------------------- suite input

ROWS = '{"id": "a1", "question": "Which?", "choices": ["x", "y", "z"], "answer": "B"}\n'


def _suite(tmp: Path, yaml_text: str | bytes, data: str | bytes | None = ROWS, data_name: str = "items.jsonl") -> Path:
    if data is not None:
        target = tmp / data_name
        target.write_bytes(data if isinstance(data, bytes) else data.encode())
    suite = tmp / "bad.suite.yaml"
    suite.write_bytes(yaml_text if isinstance(yaml_text, bytes) else yaml_text.encode())
    return suite


ALIAS_BOMB = "data: {path: items.jsonl}\n" + "".join(
    f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9) if i else 'lol'}]\n" for i in range(10)
)

SUITE_INPUT = {
    "suite file that is not UTF-8": (
        b"description: caf\xe9\ndata: {path: items.jsonl}\n",
        ROWS,
        "bad.suite.yaml: (file): is not UTF-8 text (byte 0xe9 at offset 16); save it as UTF-8",
    ),
    "UTF-16 data": (
        "data: {path: items.jsonl}\n",
        ROWS.encode("utf-16"),
        "bad.suite.yaml: data.path: items.jsonl is not UTF-8 text (byte 0xff at offset 0); save it as UTF-8",
    ),
    "corrupt Parquet": (
        "data: {path: items.parquet}\n",
        b"PAR1 this is not parquet",
        "bad.suite.yaml: data.path: items.parquet is not a readable Parquet file (*); fix the file",
    ),
    "infinite answer index": (
        "data: {path: items.jsonl, answer_format: index}\n",
        '{"id": "a1", "question": "Which?", "choices": ["x", "y"], "answer": Infinity}\n',
        "bad.suite.yaml: row 1 (id a1): answer: answer 'inf' is not a number; set data.answer_format to letter or text",
    ),
    "unbalanced brace in the template": (
        "data: {path: items.jsonl}\nprompt: {template: 'Q: {question} }'}\n",
        ROWS,
        "bad.suite.yaml: prompt.template: is not a valid template (Single '}' encountered in format string); write {{ and }} for literal braces",
    ),
    "literal {{question}} instead of the question": (
        "data: {path: items.jsonl}\nprompt: {template: 'Q: {{question}} {choices}'}\n",
        ROWS,
        "bad.suite.yaml: prompt.template: has no {question} placeholder ({{question}} is the literal text, not the question); add {question} where the question goes",
    ),
    "letter scoring with a template that never shows the options": (
        "data: {path: items.jsonl}\nprompt: {template: 'Q: {question}'}\n",
        ROWS,
        "bad.suite.yaml: prompt.template: letter scoring asks for an option's label, but the template never shows the options; add {choices} where the labelled options go",
    ),
    "duplicate YAML key": (
        "task: multiple_choice\ndata: {path: items.jsonl}\ntask: yes_no\n",
        ROWS,
        "bad.suite.yaml: line 3: invalid YAML (the key 'task' appears twice in one mapping); write each key once",
    ),
    "YAML alias bomb": (
        ALIAS_BOMB,
        ROWS,
        "bad.suite.yaml: line 3: invalid YAML (the alias *l0 (YAML aliases are not allowed in suite files)); write the value out instead of referring to an anchor",
    ),
    "suite named ..": (
        "name: '..'\ndata: {path: items.jsonl}\n",
        ROWS,
        "bad.suite.yaml: name: '..' is not a usable file name; start with a letter, digit or '_', then letters, digits, '_', '.', '-'",
    ),
    "data path that is a directory": (
        "data: {path: .}\n",
        None,
        "bad.suite.yaml: data.path: * is a directory; name a data file inside it",
    ),
    "CSV row with an unquoted comma": (
        "data: {path: items.csv, fields: {choices: [a, b]}}\n",
        "id,question,a,b,answer\nc1,Which drug?,aspirin,heparin,A\nc2,Which one, really?,x,y,B\n",
        "bad.suite.yaml: data.path: items.csv line 3 has more cells than the header; quote cells that contain commas, and fill every column",
    ),
    "CSV row with a lost cell": (
        "data: {path: items.csv, fields: {choices: [a, b]}}\n",
        "id,question,a,b,answer\nc1,Which drug?,aspirin,A\n",
        "bad.suite.yaml: data.path: items.csv line 2 has fewer cells than the header; quote cells that contain commas, and fill every column",
    ),
    "question that is a list": (
        "data: {path: items.jsonl}\n",
        '{"id": "a1", "question": ["Which", "one?"], "choices": ["x", "y"], "answer": "A"}\n',
        "bad.suite.yaml: row 1 (id a1): question: question is a list, not text; store plain text in this column",
    ),
    "choice that is an object": (
        "data: {path: items.jsonl}\n",
        '{"id": "a1", "question": "Which?", "choices": ["x", {"text": "y"}], "answer": "A"}\n',
        "bad.suite.yaml: row 1 (id a1): choices: a choice is a mapping, not text; store plain text in this column",
    ),
}


@pytest.mark.parametrize("case", list(SUITE_INPUT), ids=list(SUITE_INPUT))
def test_bad_suite_input_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    from fnmatch import fnmatch

    import yaml

    from pytest_medmodel import SuiteError, load_suite

    built: list[str] = []  # the tag of every YAML document turned into Python objects (never the node: its
    construct_document = yaml.constructor.BaseConstructor.construct_document  # repr could be the bomb's)

    def constructing(self: yaml.constructor.BaseConstructor, node: yaml.Node) -> object:
        built.append(str(node.tag))
        return construct_document(self, node)

    monkeypatch.setattr(yaml.constructor.BaseConstructor, "construct_document", constructing)
    yaml_text, data, expected = SUITE_INPUT[case]
    name = "items.parquet" if "Parquet" in case else "items.csv" if "CSV" in case else "items.jsonl"
    suite = _suite(tmp_path, yaml_text, data, name)
    with pytest.raises(SuiteError) as info:
        load_suite(suite, root=tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert fnmatch(message, f"{tmp_path}/" + expected.replace("[", "[[]")), message
    if case == "YAML alias bomb":  # refused at its first alias (line 3, *l0) while parsing, never expanded:
        assert built == []  # no Python object was built from the document at all


def test_data_outside_the_project_is_refused_unless_allowed(tmp_path: Path) -> None:
    from pytest_medmodel import SuiteError, load_suite

    project, outside = tmp_path / "project", tmp_path / "secrets"
    project.mkdir()
    outside.mkdir()
    (outside / "items.jsonl").write_text(ROWS)
    (project / "link.jsonl").symlink_to(outside / "items.jsonl")
    for path in ("../secrets/items.jsonl", str(outside / "items.jsonl"), "link.jsonl"):
        suite = _suite(project, f"data: {{path: '{path}'}}\n", None)
        with pytest.raises(
            SuiteError,
            match=r"data\.path: .*secrets/items\.jsonl is outside the project root .*; keep data inside the repository, or set the ini key medmodel_allow_outside_data = true",
        ):
            load_suite(suite, root=project)
        assert load_suite(suite, root=None).items[0].id == "a1"  # the project opted out
    device = _suite(project, "data: {path: /dev/null}\n", None)
    with pytest.raises(SuiteError, match="data.path: /dev/null is not a regular file; name a data file"):
        load_suite(device, root=None)


def test_byte_order_marks_are_accepted(tmp_path: Path) -> None:
    from pytest_medmodel import load_suite

    suite = _suite(tmp_path, "\ufeffdata: {path: items.jsonl}\n", "\ufeff" + ROWS)
    assert load_suite(suite).items[0].answer == 1


def _collection_error(result: pytest.RunResult, suite: str) -> str:
    """The single line between an 'ERROR collecting' header and the next separator."""
    lines = result.stdout.lines
    header = next(i for i, line in enumerate(lines) if f"ERROR collecting {suite}" in line)
    assert lines[header + 2].startswith(("=", "_")), lines[header : header + 6]  # exactly one line
    return lines[header + 1]


def test_a_suite_yml_file_is_collected_like_a_suite_yaml(project: Project) -> None:
    path = project.suite("mini", 3)
    path.rename(path.with_name("mini.suite.yml"))
    result = project.run("--snapshot-update")
    assert result.ret == 0 and outcomes(result) == {"passed": 4}
    assert project.baseline("mini")["metrics"]["n"] == 3


def test_a_profile_that_would_leave_the_baseline_folder_is_refused(project: Project) -> None:
    project.suite("mini", 3)
    result = project.run("--medmodel-profile", "../../elsewhere", "--snapshot-update")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--medmodel-profile: '../../elsewhere' is not a usable folder name; *(no slashes)"])
    assert not (project.path.parent / "elsewhere").exists()


def test_a_failing_variants_hook_is_one_line_about_the_suite(project: Project) -> None:
    project.suite("mini", 3)
    project.pytester.makeconftest(
        "def pytest_medmodel_modify_variants(config, suite, item, variants):\n    raise KeyError('oops')\n"
    )
    result = project.run()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    line = _collection_error(result, "suites/mini.suite.yaml")
    assert line.endswith(
        "mini.suite.yaml: pytest_medmodel_modify_variants: failed on item mi-000 (KeyError: 'oops'); fix the perturbation or the hook implementation"
    )


def test_an_unexpected_error_while_loading_a_suite_is_one_line(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_medmodel.loading import recipe as loading

    def broken(path: Path, root: Path | None) -> None:
        raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")

    monkeypatch.setattr(loading, "_load", broken)
    project.suite("mini", 3)
    result = project.run()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert "INTERNALERROR" not in result.stdout.str()
    line = _collection_error(result, "suites/mini.suite.yaml")
    assert line.endswith(
        "mini.suite.yaml: (file): could not be loaded (TypeError: unsupported operand type(s) for +: 'int' and 'str'); fix the file; if it looks right, report this to pytest-medmodel"
    )


# --------------------------------------------------------------------------- misbehaving adapters

BAD_ADAPTER = """
import json, math, os, time
from pathlib import Path
from pytest_medmodel import ChoiceResult

KEY = json.loads((Path(__file__).parent / "answer_key.json").read_text())

def _good(request):
    right = KEY[request.meta["item"]]
    return [-0.4 if k == right else -1.8 for k in range(len(request.continuations))]

class Bad:
    name = "bad"
    fingerprint = None

    def __init__(self, how):
        self.how = how

    def loglikelihood(self, requests):
        how = self.how
        if how == "none":
            return None
        if how == "short":
            return [ChoiceResult(tuple(_good(r))) for r in requests[:-1]]
        if how == "dicts":
            return [{"logprobs": _good(r)} for r in requests]
        if how == "count":
            return [ChoiceResult(tuple(_good(r))[:-1]) for r in requests]
        if how == "strings":
            return [ChoiceResult(tuple(str(v) + "x" for v in _good(r))) for r in requests]
        if how == "numeric strings":
            return [ChoiceResult(tuple(str(v) for v in _good(r))) for r in requests]
        if how == "bytes":
            return [ChoiceResult(tuple(str(v).encode() for v in _good(r))) for r in requests]
        if how == "hang":
            time.sleep(3)
        if how in ("nan", "posinf"):
            bad = math.nan if how == "nan" else math.inf
            return [ChoiceResult((bad,) + tuple(_good(r))[1:]) for r in requests]
        if how == "numpy":
            import numpy
            return [ChoiceResult(numpy.array(_good(r), dtype=numpy.float32)) for r in requests]
        if how == "refuses":
            return [ChoiceResult((-math.inf,) * len(r.continuations)) for r in requests]
        return [ChoiceResult(tuple(_good(r))) for r in requests]

def make():
    return Bad(os.environ["BAD"])
"""

BAD_CASES = {
    "none": "AdapterFault: bad: mini shard 1/1 (4 items, letter): loglikelihood returned None; expected a list, one result per request",
    "short": "AdapterFault: bad: mini shard 1/1 (4 items, letter): loglikelihood returned 3 results for 4 requests",
    "dicts": "AdapterFault: bad: mini shard 1/1 (4 items, letter): item mi-000: loglikelihood returned a dict; expected ChoiceResult(logprobs=(...))",
    "count": "AdapterFault: bad: mini shard 1/1 (4 items, letter): item mi-000: 3 scores for 4 continuations; expected one log-likelihood per continuation",
    "strings": "AdapterFault: bad: mini shard 1/1 (4 items, letter): item mi-000: log-likelihoods ('-0.4x', *) are not numbers",
    "numeric strings": "AdapterFault: bad: mini shard 1/1 (4 items, letter): item mi-000: log-likelihoods ('-0.4', *) are not numbers",
    "bytes": "AdapterFault: bad: mini shard 1/1 (4 items, letter): item mi-000: log-likelihoods (b'-0.4', *) are not numbers",
    "nan": "AdapterFault: bad: mini shard 1/1 (4 items, letter): item mi-000: log-likelihoods must be numbers up to 0 or -inf, got [[]nan, *]",
    "posinf": "AdapterFault: bad: mini shard 1/1 (4 items, letter): item mi-000: log-likelihoods must be numbers up to 0 or -inf, got [[]inf, *]",
    "hang": "ModelTimeout: bad: mini shard 1/1 (4 items, letter): no answer within 0.5 s; raise --medmodel-timeout (or set it to 0 for no limit) if the model is just slow",
}


@pytest.mark.parametrize("how", list(BAD_CASES), ids=list(BAD_CASES))
def test_a_misbehaving_adapter_is_one_line_per_test_and_touches_nothing(
    project: Project, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    project.suite("mini", 4)
    (project.path / "bad.py").write_text(BAD_ADAPTER)
    assert project.run("--snapshot-update").ret == 0
    before = project.baseline_bytes()
    monkeypatch.setenv("BAD", how)
    argv = [
        "suites",
        "--medmodel=py:bad:make",
        "--medmodel-profile=oracle-make",
        "--medmodel-timeout=0.5",
        "-p",
        "no:randomly",
    ]
    result = project.pytester.runpytest(*argv, "--snapshot-update")
    assert result.ret == 1
    assert outcomes(result) == {"errors": 5}
    text = result.stdout.str()
    assert "pytest_medmodel/" not in text and "Traceback" not in text  # no internal traceback
    errors = [line for line in result.stdout.lines if line.startswith(("AdapterFault", "ModelTimeout", "ShardFailed"))]
    from fnmatch import fnmatch

    assert fnmatch(errors[0], BAD_CASES[how]), errors[0]
    assert len(errors) == 5 and all(e.startswith("ShardFailed: mini shard 1:") for e in errors[1:])
    assert project.baseline_bytes() == before
    expect_lines(result, ["baselines left untouched: 5 test(s) hit a model or data error*"])
    monkeypatch.setenv("BAD", "fine")
    assert project.pytester.runpytest(*argv).ret == 0  # a healthy rerun: nothing bad was cached


def test_numpy_scores_are_accepted_and_a_refusing_model_answers_invalid(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.suite("mini", 4)
    (project.path / "bad.py").write_text(BAD_ADAPTER)
    argv = ["suites", "--medmodel=py:bad:make", "-p", "no:randomly", "--snapshot-update"]
    monkeypatch.setenv("BAD", "numpy")
    assert project.pytester.runpytest(*argv).ret == 0
    assert project.baseline("mini", profile="bad-make")["metrics"]["accuracy"] == 1.0
    monkeypatch.setenv("BAD", "refuses")  # every option -inf: no answer at all
    result = project.pytester.runpytest(*argv)
    assert outcomes(result) == {"passed": 1, "regressed": 4}  # right in the baseline, no answer now
    entries = project.baseline("mini", profile="bad-make")["items"]
    assert all(
        e["answer"] == "(invalid)" and e["correct"] is False and e["confidence"] is None for e in entries.values()
    )
    json.loads((project.path / "baselines" / "bad-make" / "mini.json").read_text(), parse_constant=_no_constants)


def _no_constants(name: str) -> None:
    raise AssertionError(f"{name} in a baseline file")


@pytest.mark.slow
def test_a_checkpoint_that_asks_to_run_its_own_code_is_refused_without_a_prompt(
    project: Project, tiny_llama_dir: Path, tmp_path: Path
) -> None:
    import shutil

    folder = tmp_path / "custom"
    shutil.copytree(tiny_llama_dir, folder)
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_custom.CustomModel"}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "modeling_custom.py").write_text("raise SystemExit('the checkpoint ran its code')\n")
    project.suite("mini", 2)
    result = project.pytester.runpytest("suites", f"--medmodel={folder}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR and outcomes(result) == {"errors": 1}
    expect_lines(
        result,
        [
            f"the run stopped: the model cannot be used: --medmodel={folder}: the checkpoint asks to run its own code (config.json has auto_map); pass --medmodel-trust-remote-code (or set medmodel_trust_remote_code) only if you trust it"
        ],
    )
    from pytest_medmodel.models.specs import ModelOptions, resolve_model

    trusted = resolve_model(str(folder), ModelOptions(trust_remote_code=True))  # the opt-in lifts the refusal
    assert trusted.fingerprint is not None and not trusted.loaded


# --------------------------------------------------------------------------- baselines and gates


def test_a_baseline_that_shares_no_items_with_the_suite_fails_the_gate(project: Project) -> None:
    suite = project.suite("mini", 6)
    assert project.run("--snapshot-update").ret == 0
    data = suite.parent / "data" / "mini.jsonl"
    data.write_text(data.read_text().replace('"mi-', '"renamed-'))  # every id renamed
    project.key.update({k.replace("mi-", "renamed-"): v for k, v in project.key.items()})
    project._write_key()
    result = project.run(flips=["renamed-000", "renamed-001", "renamed-002"])  # and the model got worse
    assert result.ret == 1
    expect_lines(
        result,
        [
            "the baseline at baselines/oracle-make/mini.json shares no items with this run (6 without a baseline entry, 0 changed since it was recorded), so it cannot gate anything; re-record it with --snapshot-update and commit it"
        ],
    )
    expect_lines(result, ["mini: 6 stale baseline entries*"])


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ('"correct": "false"', "'correct' is 'false', not true or false"),
        ('"confidence": "high"', "'confidence' is 'high', not a number"),
        ('"confidence": 7', "'confidence' is 7, outside [0, 1]"),
        ('"answer": 3', "'answer' is 3, not text"),
    ],
    ids=["correct as text", "confidence as text", "confidence out of range", "answer as number"],
)
def test_hand_edited_entries_of_the_wrong_type_are_refused_in_one_line(
    project: Project, entry: str, problem: str
) -> None:
    project.suite("mini", 4)
    assert project.run("--snapshot-update").ret == 0
    path = project.path / "baselines" / "oracle-make" / "mini.json"
    lines = path.read_text().splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith('    "mi-001"'))
    key = entry.split(":")[0]
    lines[index] = (
        re.sub(key + r": [^,}]+", entry, lines[index])
        if key in lines[index]
        else lines[index].replace("{", "{" + entry + ", ", 1)
    )
    path.write_text("\n".join(lines) + "\n")
    edited = path.read_bytes()
    result = project.run()
    assert result.ret == 1
    expect_lines(
        result,
        [f"*mini.json: item mi-001: {problem}; restore it from version control or re-record it with --snapshot-update"],
    )
    assert "Traceback" not in result.stdout.str()
    update = project.run("--snapshot-update", "-k", "mi-002")  # a partial update cannot repair it
    assert update.ret == 1 and path.read_bytes() == edited
    expect_lines(
        update,
        [
            "baselines left untouched: baselines/oracle-make/mini.json is unreadable (*) and this run covered only 1 of its 4 items; re-record it from a run of the whole suite, or restore it from version control"
        ],
    )
    assert project.run("--snapshot-update").ret == 0 and project.run().ret == 0  # the whole suite repairs it


@pytest.mark.parametrize("damage", ["baseline is a directory", "profile is a file", "baseline is UTF-16"])
def test_damaged_baseline_paths_end_in_one_line_with_the_summary_printed(project: Project, damage: str) -> None:
    project.suite("mini", 3)
    project.suite("other", 3, prefix="ot")
    assert project.run("--snapshot-update").ret == 0
    profile = project.path / "baselines" / "oracle-make"
    target = profile / "mini.json"
    if damage == "baseline is a directory":
        target.unlink()
        target.mkdir()
    elif damage == "profile is a file":
        shutil.rmtree(profile)
        profile.write_text("not a folder")
    else:
        target.write_bytes(target.read_text().encode("utf-16"))
    before = project.baseline_bytes()
    plain = project.run(flips=["ot-001"])
    assert plain.ret == 1 and "INTERNALERROR" not in plain.stdout.str() and "Traceback" not in plain.stdout.str()
    expect_lines(plain, ["*medmodel summary*"])
    update = project.run("--snapshot-update", flips=["ot-001"])
    assert "INTERNALERROR" not in update.stdout.str() and "Traceback" not in update.stdout.str()
    expect_lines(update, ["*medmodel summary*"])
    if damage == "baseline is UTF-16":  # a readable path: a whole-suite update is how it is repaired
        assert update.ret == 0
        expect_lines(
            update,
            ["baselines/oracle-make/mini.json: was unreadable (*not UTF-8 text*); recorded afresh from this run"],
        )
        assert project.baseline("mini")["metrics"]["n"] == 3
    else:  # nothing can be written there: nothing is written anywhere, not even the healthy suite's file
        assert update.ret == 1
        expect_lines(update, ["baselines left untouched: *"])
        assert project.baseline_bytes() == before


# --------------------------------------------------------------------------- kills and concurrency


@pytest.mark.parametrize("kills", ["one worker once", "every worker, every time"])
@pytest.mark.slow
def test_a_killed_xdist_worker_is_reported_and_the_run_finishes(
    project: Project, monkeypatch: pytest.MonkeyPatch, kills: str
) -> None:
    """An OOM kill of a worker: xdist 3.8's loadscope scheduler hung 2 runs in 3 on this (see xdist.py)."""
    project.suite("mini", 24)
    project.suite("other", 12, prefix="ot")
    shard = ("--medmodel-shard-size", "4")
    assert project.run("--snapshot-update", *shard).ret == 0
    before = project.baseline_bytes()
    env = monkeypatch
    env.setenv("ORACLE_KILL_ON", "mi-021")  # late in the run: the worker has completed shards by then
    if kills.startswith("every"):
        env.setenv("ORACLE_KILL_ALWAYS", "1")
    argv = ["suites", "--medmodel=py:oracle:make", "-p", "no:randomly", "-n", "2", *shard, "--snapshot-update"]
    env.setenv("ORACLE_FLIPS", "ot-001")  # a new fingerprint: nothing comes from the cache
    result = project.pytester.runpytest_subprocess(*argv, timeout=150)
    assert result.ret == 1
    text = result.stdout.str()
    assert "INTERNALERROR" not in text
    expect_lines(
        result,
        [
            "*medmodel summary*",
            "worker 'gw*' crashed while running 'suites/mini.suite.yaml::item[mi-02*]' (killed, out of memory?); its other tests went to the other workers",
        ],
    )
    expect_lines(result, ["baselines left untouched: * test(s) hit a model or data error*"])
    counts = outcomes(result)
    assert sum(counts.values()) == 38  # every test reported once: none lost, none run twice
    assert project.baseline_bytes() == before
    env.delenv("ORACLE_KILL_ON")
    assert project.run(*shard, "--snapshot-update", flips=["ot-001"]).ret == 0  # a healthy rerun


@pytest.mark.slow
def test_a_single_worker_that_keeps_dying_still_ends_the_run(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """-n 1 (one GPU, -n auto): each replacement worker was handed a suite's one-test gate unit and held it,
    waiting for a next test nobody would send; the run hung forever after the first crash."""
    project.suite("mini", 4)
    env = monkeypatch
    env.setenv("ORACLE_KILL_ON", "mi-000")
    env.setenv("ORACLE_KILL_ALWAYS", "1")
    argv = ["suites", "--medmodel=py:oracle:make", "-p", "no:randomly", "-n", "1"]
    result = project.pytester.runpytest_subprocess(*argv, timeout=120)
    assert result.ret == 1 and "INTERNALERROR" not in result.stdout.str()
    assert outcomes(result).get("failed") == 5  # every test reported once (each crashed a worker)
    expect_lines(result, ["worker 'gw0' crashed while running 'suites/mini.suite.yaml::item[mi-000]'*"])


class _Killed(Exception):
    """Stands for SIGKILL at that instant: the plugin has no handler for it, so nothing tidies the disk.

    (A BaseException would also escape pytester's own bookkeeping; the disk state is what matters.)
    """


@pytest.mark.parametrize("kill_at", [1, 2, 3, 4, 5], ids=lambda k: f"write {k}")
def test_an_update_killed_at_any_write_is_all_or_nothing(project: Project, kill_at: int) -> None:
    """Writes: 1 journal, 2-4 the three baseline files, 5 the journal is removed (kill just before each)."""
    from pytest_medmodel.baselines import update as baseline_update

    for name in ("aa", "bb", "cc"):
        project.suite(name, 4)
    assert project.run("--snapshot-update").ret == 0
    old = project.baseline_bytes()
    flips = ["aa-001", "bb-002", "cc-003"]  # a different model: every file changes
    calls = {"n": 0}
    real_write, real_unlink = baseline_update._atomic_write, Path.unlink

    def write(path: Path, text: str) -> None:
        calls["n"] += 1
        if calls["n"] == kill_at:
            raise _Killed
        real_write(path, text)

    def unlink(self: Path, missing_ok: bool = False) -> None:
        if self.name == baseline_update.JOURNAL and calls["n"] == kill_at - 1:
            raise _Killed
        real_unlink(self, missing_ok=missing_ok)

    with pytest.MonkeyPatch.context() as patch:  # not the test's own: pytester keeps its cwd there
        patch.setattr(baseline_update, "_atomic_write", write)
        patch.setattr(Path, "unlink", unlink)
        killed = project.run("--snapshot-update", flips=flips)
    assert killed.ret == pytest.ExitCode.INTERNAL_ERROR and "_Killed" in killed.stderr.str()
    for name, data in project.baseline_bytes().items():  # after the kill: every file valid, old or new
        if name.endswith(".json") and "/" in name:
            json.loads(data)
    journal = project.path / "baselines" / baseline_update.JOURNAL
    assert journal.exists() == (kill_at > 1)
    after = project.run(flips=flips)  # the next run completes the update before reading anything
    assert not journal.exists()
    if kill_at > 1:
        expect_lines(
            after,
            [
                "completed an update that a killed run left half done: 3 baseline file(s) (oracle-make/aa.json, oracle-make/bb.json, oracle-make/cc.json)"
            ],
        )
        assert after.ret == 0 and project.baseline_bytes() != old
    else:
        assert project.baseline_bytes() == old  # killed before the journal: nothing happened
    completed = project.baseline_bytes()
    assert project.run("--snapshot-update", flips=flips).ret == 0
    if kill_at > 1:
        assert project.baseline_bytes() == completed  # the completed set is exactly what an update writes
    else:
        assert project.baseline_bytes() != old  # and the update that was killed early can simply be run again


UPDATE_IN_A_SUBPROCESS = (
    sys.executable,
    "-m",
    "pytest",
    "suites",
    "--medmodel=py:oracle:make",
    "-p",
    "no:randomly",
    "--snapshot-update",
    "-q",
)
"""``--snapshot-update`` with the oracle model, as a separate process (for kills and concurrency)."""


def _subprocess_env(project: Project) -> dict[str, str]:
    """The environment for UPDATE_IN_A_SUBPROCESS: the project first on the path, then whatever was there
    (a checkout under test on PYTHONPATH stays the package the subprocess imports)."""
    path = os.pathsep.join(filter(None, [str(project.path), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}


@pytest.mark.slow
def test_two_updates_at_once_write_one_valid_consistent_set(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("aa", "bb"):
        project.suite(name, 16)
    monkeypatch.setenv("ORACLE_FLIPS", "aa-001")
    argv = UPDATE_IN_A_SUBPROCESS
    env = _subprocess_env(project)
    runs = [
        subprocess.Popen(argv, cwd=project.path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    first = project.baseline_bytes()
    assert set(first) == {"oracle-make/aa.json", "oracle-make/bb.json"}
    shutil.rmtree(project.path / "baselines")
    assert subprocess.run(argv, cwd=project.path, env=env, capture_output=True, timeout=120).returncode == 0
    assert project.baseline_bytes() == first  # the same bytes one update alone writes


KILL_POINT = '''
"""Holds an update at one point of its writes until the test kills the process (-p killpoint).

KILL_POINT: "replace N" stops before the N-th rename of a written temporary file (1: the journal's, 2 to 4:
the baseline files'); "journal" stops before the journal is removed. KILL_MARKER is created on arrival.
"""
import os, threading
from pathlib import Path
from pytest_medmodel.baselines import update as baseline_update

POINT = os.environ["KILL_POINT"]
renames = 0


def _arrive():
    Path(os.environ["KILL_MARKER"]).touch()
    threading.Event().wait()  # until SIGKILL


class _Os:
    def __getattr__(self, name):
        return getattr(os, name)

    def replace(self, source, target):
        global renames
        renames += 1
        if POINT == f"replace {renames}":
            _arrive()
        os.replace(source, target)


baseline_update.os = _Os()
_unlink = Path.unlink


def unlink(self, missing_ok=False):
    if POINT == "journal" and self.name == baseline_update.JOURNAL:
        _arrive()
    _unlink(self, missing_ok=missing_ok)


Path.unlink = unlink
'''
"""A plugin for the update's process: a deterministic place to kill it, instead of a moment on the clock."""

KILL_POINTS = ["replace 1", "replace 2", "replace 3", "replace 4", "journal"]


def _wait_for(marker: Path, run: subprocess.Popen[bytes], log: Path) -> None:
    """Until ``marker`` exists; fails if the process ends first or never gets there (300 s)."""
    give_up = time.monotonic() + 300
    while not marker.exists():
        if run.poll() is not None:
            pytest.fail(f"the update ended (exit {run.returncode}) before {marker.name}: {log.read_text()[-2000:]}")
        if time.monotonic() > give_up:
            pytest.fail(f"the update never reached {marker.name} in 300 s: {log.read_text()[-2000:]}")
        time.sleep(0.05)


@pytest.mark.slow
def test_an_update_killed_at_random_moments_never_leaves_a_broken_or_mixed_set(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGKILL in the middle of an update's writes, at each point in turn (no longer after a random 0.5-2.5 s
    sleep, which on a busy machine could land before the update wrote anything and so check nothing)."""
    from pytest_medmodel.baselines.update import JOURNAL

    for name in ("aa", "bb", "cc"):
        project.suite(name, 12)
    assert project.run("--snapshot-update").ret == 0
    (project.path / "killpoint.py").write_text(KILL_POINT)
    argv = (*UPDATE_IN_A_SUBPROCESS, "-p", "killpoint")
    env = _subprocess_env(project)

    def fingerprints() -> set[str]:
        files = project.baseline_bytes()
        return {
            json.loads(files[name])["model"]["fingerprint"] for name in files if name.endswith(".json") and "/" in name
        }

    for round_, point in enumerate(KILL_POINTS):
        old = fingerprints()
        assert len(old) == 1
        monkeypatch.setenv("ORACLE_FLIPS", f"aa-00{round_},bb-00{round_},cc-00{round_}")
        marker, log = project.path / f"killed-{round_}.flag", project.path / f"update-{round_}.log"
        env.update(ORACLE_FLIPS=os.environ["ORACLE_FLIPS"], KILL_POINT=point, KILL_MARKER=str(marker))
        with log.open("wb") as out:
            run = subprocess.Popen(argv, cwd=project.path, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait_for(marker, run, log)
        finally:
            run.kill()
            run.wait(timeout=60)
        assert run.returncode == -9  # killed where it stood, no handler ran
        for name, data in project.baseline_bytes().items():
            if name.endswith(".json") and "/" in name:
                json.loads(data)  # never truncated, never invalid
        journal_written = point != "replace 1"
        assert (project.path / "baselines" / JOURNAL).exists() == journal_written
        settled = project.run(flips=[f"aa-00{round_}", f"bb-00{round_}", f"cc-00{round_}"])
        assert "INTERNALERROR" not in settled.stdout.str()
        assert not any(name.endswith(".tmp") for name in project.baseline_bytes())  # the killed write's, removed
        after = fingerprints()
        assert len(after) == 1  # all old or all new, never mixed
        assert (after == old) != journal_written, point  # new exactly when the journal was in place


# --------------------------------------------------------------------------- fuzzing the suite loader

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(alphabet="abcAB{}[]:, -_.\n\\\"'é", max_size=12),
    st.sampled_from(["A", "B", "yes", "no", "maybe", "letter", "loglikelihood", "index", "items.jsonl", "{question}"]),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=10,
)
_keys = st.sampled_from(
    ["name", "task", "data", "prompt", "scoring", "gates", "perturbations", "description", "tsk", "x"]
)
_sections = {
    "data": st.fixed_dictionaries(
        {"path": st.just("items.jsonl")}, optional={"fields": _values, "answer_format": _values}
    ),
    "prompt": st.dictionaries(
        st.sampled_from(["template", "labels", "chat_template", "system", "answer_prefix"]), _values, max_size=3
    ),
    "scoring": st.one_of(_values, st.fixed_dictionaries({"method": _values}, optional={"normalize": _values})),
    "gates": st.dictionaries(
        st.sampled_from(["accuracy", "acuracy"]),
        st.dictionaries(st.sampled_from(["max_drop", "alpha", "min_accuracy"]), _values),
    ),
}
_suites = st.dictionaries(_keys, _values, max_size=5).flatmap(
    lambda top: st.fixed_dictionaries({k: _sections.get(k, st.just(v)) for k, v in top.items()})
)
_rows = st.lists(
    st.dictionaries(
        st.sampled_from(["id", "question", "choices", "answer", "context", "tags", "extra"]), _values, max_size=6
    ),
    max_size=4,
)


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(suite=_suites, rows=_rows)
@pytest.mark.slow
def test_any_suite_and_rows_load_or_fail_in_one_line_per_problem(tmp_path: Path, suite: dict, rows: list) -> None:
    """Whatever a suite file and its rows hold, loading gives a suite or SuiteError lines, one per problem
    (capped), each naming the file; never anything else."""
    import yaml

    from pytest_medmodel import SuiteError, load_suite

    (tmp_path / "items.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    path = tmp_path / "fuzz.suite.yaml"
    path.write_text(yaml.safe_dump(suite, allow_unicode=True))
    try:
        loaded = load_suite(path, root=tmp_path)
    except SuiteError as exc:
        lines = str(exc).splitlines()
        assert 1 <= len(lines) <= 21 and all(line.startswith(f"{path}: ") for line in lines), lines
        assert len(lines) == len(set(lines)), lines
        assert "could not be loaded" not in str(exc), str(exc)  # an unexpected exception: a gap in validation
    else:
        assert loaded.items and all(0 <= item.answer < len(item.choices) for item in loaded.items)


# --------------------------------------------------------------------------- found in review


def test_a_limited_update_never_drops_hook_variants_of_unselected_items(project: Project) -> None:
    project.pytester.makeconftest(
        "import dataclasses\n\n"
        "def pytest_medmodel_modify_variants(config, suite, item, variants):\n"
        "    variants.append(dataclasses.replace(variants[0], name='custom', question=variants[0].question + '?'))\n"
    )
    project.suite("mini", 6)
    assert project.run("--snapshot-update").ret == 0
    before = project.baseline("mini")["items"]
    limited = project.run("--medmodel-limit", "2", "--snapshot-update")
    assert limited.ret == 0 and "stale" not in limited.stdout.str()
    assert project.baseline("mini")["items"] == before


def test_two_models_in_one_run_are_refused_in_one_line(project: Project) -> None:
    project.suite("aa", 2)
    (project.path / "suites" / "b").mkdir()
    project.suite("bb", 2)
    (project.path / "suites" / "bb.suite.yaml").rename(project.path / "suites" / "b" / "bb.suite.yaml")
    (project.path / "suites" / "b" / "bb.suite.yaml").write_text("data: {path: ../data/bb.jsonl}\n")
    (project.path / "suites" / "b" / "conftest.py").write_text(
        "import pytest\nfrom oracle import Oracle\n\n@pytest.fixture(scope='session')\ndef medmodel():\n    return Oracle(name='other')\n"
    )
    result = project.run("--snapshot-update")
    assert result.ret == 1 and "Traceback" not in result.stdout.str()
    expect_lines(
        result,
        [
            "*this run uses two models, oracle (profile oracle-make) and other (profile other)*run each model's suites in a run of their own"
        ],
    )
    assert not (project.path / "baselines" / "other").exists()


@pytest.mark.slow
def test_a_metric_only_the_workers_know_is_named_and_never_changes_baseline_bytes(project: Project) -> None:
    project.suite("aa", 8)
    nested = project.path / "suites" / "sub"  # below the command-line folder: only collection loads it
    nested.mkdir()
    (project.path / "suites" / "aa.suite.yaml").rename(nested / "aa.suite.yaml")
    (nested / "aa.suite.yaml").write_text("data: {path: ../data/aa.jsonl}\n")
    (nested / "conftest.py").write_text(
        "from pytest_medmodel import metric\n\n"
        "@metric('overconfident', recorded=True)\n"
        "def overconfident(entry):\n"
        "    return float(not entry.correct and (entry.confidence or 0) > 0.5)\n"
    )
    assert project.run("--snapshot-update").ret == 0  # serial: the metric is in the baseline
    serial = project.baseline_bytes()
    assert '"overconfident"' in serial["oracle-make/aa.json"].decode()
    result = project.run("--snapshot-update", "-n", "2", subprocess=True, flips=["aa-001"])
    assert result.ret == 1 and "Traceback" not in result.stdout.str()
    expect_lines(
        result,
        [
            "metric(s) overconfident are registered where only the test processes see them*",
            "baselines left untouched: this process cannot compute every metric the tests know (above)",
        ],
    )
    assert project.baseline_bytes() == serial


def test_an_update_with_only_gates_selected_says_nothing_was_recorded(project: Project) -> None:
    project.suite("mini", 4)
    result = project.run("--snapshot-update", "-k", "gate")
    assert result.ret == 1
    expect_lines(result, ["baselines left untouched: only the gates of mini ran; select the items too"])
    assert project.baseline_bytes() == {}


def test_a_perturbation_that_adds_more_options_than_labels_is_a_collection_error(project: Project) -> None:
    project.pytester.makeconftest(
        "from pytest_medmodel import perturbation\n\n"
        "@perturbation('none_of_the_above')\n"
        "def none_of_the_above():\n"
        "    return lambda variant, rng: variant.with_choice('None of the above')\n"
    )
    project.suite("mini", 2, extra_yaml="prompt: {labels: [A, B, C, D]}\nperturbations: [none_of_the_above]\n")
    result = project.run()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    line = _collection_error(result, "suites/mini.suite.yaml")
    assert line.endswith(
        "mini.suite.yaml: prompt.labels: variant mi-000/none_of_the_above shows 5 choices but the prompt has 4 labels; add labels in prompt.labels"
    )


def test_without_the_cache_plugin_nothing_is_left_in_the_temp_folder(project: Project) -> None:
    import tempfile

    project.suite("mini", 3)
    before = set(Path(tempfile.gettempdir()).glob("pytest-medmodel-*"))
    assert project.run("-p", "no:cacheprovider", "--snapshot-update").ret == 0
    assert set(Path(tempfile.gettempdir()).glob("pytest-medmodel-*")) == before


def test_a_renamed_suite_leaves_an_orphan_that_is_named(project: Project) -> None:
    suite = project.suite("mini", 3)
    project.suite("other", 3, prefix="ot")
    assert project.run("--snapshot-update").ret == 0
    suite.write_text(suite.read_text() + "name: mini_v2\n")
    result = project.run("--snapshot-update")
    expect_lines(
        result,
        [
            "baselines/oracle-make/mini.json: no suite is named mini any more (renamed or removed?); delete the file, or rename it after the suite's new name"
        ],
    )
    assert "other.json: no suite" not in result.stdout.str()
    single = project.pytester.runpytest(
        "suites/other.suite.yaml", "--medmodel=py:oracle:make"
    )  # one suite run: no false alarm
    assert (
        "mini_v2.json: no suite" not in single.stdout.str() and "no suite is named mini_v2" not in single.stdout.str()
    )


def test_a_corrupt_prediction_cache_is_moved_aside_and_rebuilt(project: Project) -> None:
    project.suite("mini", 4)
    assert project.run("--snapshot-update").ret == 0
    cache = project.path / ".pytest_cache" / "d" / "medmodel" / "predictions.sqlite3"
    cache.write_bytes(b"this is not a database" * 100)
    for name in ("predictions.sqlite3-wal", "predictions.sqlite3-shm"):
        (cache.parent / name).unlink(missing_ok=True)
    result = project.run("-W", "always")
    assert result.ret == 0 and "Traceback" not in result.stdout.str()
    expect_lines(
        result,
        [
            "*the prediction cache *predictions.sqlite3 was unreadable (file is not a database); moved to predictions.sqlite3.corrupt-*, starting empty*"
        ],
    )
    assert any(cache.parent.glob("predictions.sqlite3.corrupt-*"))
    assert project.run().ret == 0  # and the rebuilt cache serves the next run


def test_an_unwritable_baseline_folder_writes_nothing_anywhere(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Simulated: the tests run as root, which writes anywhere, so the permission check itself is made to say no."""
    project.suite("aa", 3)
    project.suite("bb", 3)
    assert project.run("--snapshot-update").ret == 0
    before = project.baseline_bytes()
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda path, mode: not str(path).endswith("oracle-make") and real_access(path, mode)
    )
    result = project.run("--snapshot-update", flips=["aa-001", "bb-001"])
    assert result.ret == 1
    expect_lines(result, ["baselines left untouched: */baselines/oracle-make: is not writable; check the permissions"])
    assert project.baseline_bytes() == before


def test_old_batch_locks_are_cleared(tmp_path: Path) -> None:
    from pytest_medmodel.execution.store import remove_run_stores

    (tmp_path / "locks").mkdir()
    (tmp_path / "runs" / "old-run").mkdir(parents=True)
    old, fresh = tmp_path / "locks" / "old.lock", tmp_path / "locks" / "fresh.lock"
    old.write_text("")
    fresh.write_text("")
    long_ago = time.time() - 3 * 24 * 3600
    os.utime(old, (long_ago, long_ago))
    os.utime(tmp_path / "runs" / "old-run", (long_ago, long_ago))
    remove_run_stores(tmp_path / "runs", [])
    assert not old.exists() and fresh.exists() and not (tmp_path / "runs" / "old-run").exists()
