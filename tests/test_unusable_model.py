"""A model that cannot be resolved or loaded is one line and an early exit (exit status 4, like an option
typo), never one traceback per test; a path-like spec that is not a folder suggests the folders it was
probably meant to name (issue 17, findings 13 and 14)."""

from __future__ import annotations

import pytest
from conftest import Project

from pytest_medmodel.models.base import AdapterError
from pytest_medmodel.models.specs import ModelOptions, resolve_model


def _sibling_folder(project: Project, name: str) -> None:
    folder = project.path / "models" / name
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")


def test_a_misspelt_model_folder_suggests_the_one_meant(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    _sibling_folder(project, "tiny-llama")
    monkeypatch.chdir(project.path)
    with pytest.raises(AdapterError) as error:
        resolve_model("models/tiny-lama", ModelOptions())
    assert str(error.value) == "--medmodel=models/tiny-lama: no such folder; did you mean models/tiny-llama?"


def test_a_hub_id_that_cannot_be_fetched_offline_suggests_a_local_folder(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project.path / "tiny-llama").mkdir()
    monkeypatch.chdir(project.path)
    with pytest.raises(AdapterError) as error:
        resolve_model("tiny-lama", ModelOptions())
    message = str(error.value)
    assert message.startswith("--medmodel=tiny-lama: not a local folder, and the hub could not provide it")
    assert message.endswith("; did you mean tiny-llama?") and "\n" not in message


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (
            ["--medmodel=models/tiny-lama"],
            "--medmodel=models/tiny-lama: no such folder; did you mean models/tiny-llama?",
        ),
        ([], "no model given: pass --medmodel=SPEC, set the 'medmodel' ini key, or define a 'medmodel' fixture"),
        (
            ["--medmodel=py:oracle:nothing_here"],
            "--medmodel=py:oracle:nothing_here: oracle has no attribute nothing_here",
        ),
    ],
    ids=["typo", "forgotten", "bad factory"],
)
def test_an_unusable_model_is_one_line_and_exit_status_4(project: Project, argv: list[str], said: str) -> None:
    project.suite("aa", 30)
    project.suite("bb", 30, prefix="bb")
    _sibling_folder(project, "tiny-llama")
    result = project.pytester.runpytest("suites", "-p", "no:randomly", *argv)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.parseoutcomes() == {"errors": 1}  # 62 tests would each have said it
    text = result.stdout.str()
    assert result.stdout.lines.count(said) == 1  # the test that found it says it once, whole
    result.stdout.fnmatch_lines([f"the run stopped: the model cannot be used: {said}"])
    assert "Traceback" not in text and "def medmodel" not in text
    assert len(result.stdout.lines) < 30


def test_a_model_whose_weights_cannot_load_stops_the_run_in_one_line(project: Project) -> None:
    project.suite("aa", 30)
    (project.path / "broken.py").write_text(
        "from pytest_medmodel import ModelHandle\n"
        "def load():\n"
        "    raise OSError('model.safetensors: header too large (truncated download?)')\n"
        "def make():\n"
        "    return ModelHandle(name='broken', fingerprint='broken-1', profile='broken',\n"
        "                       capabilities=frozenset({'choice_logprobs'}), load=load)\n"
    )
    (project.path / "conftest.py").write_text(
        "import pytest\nfrom broken import make\n\n@pytest.fixture(scope='session')\ndef medmodel():\n    return make()\n"
    )
    result = project.pytester.runpytest("suites", "-p", "no:randomly")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.parseoutcomes() == {"errors": 1}
    result.stdout.fnmatch_lines(
        [
            "the run stopped: the model cannot be used: broken: cannot be loaded: OSError: model.safetensors: header "
            "too large (truncated download?) (raised at broken.py:3, in load)"
        ]
    )
    assert "Traceback" not in result.stdout.str()
