"""Calibration gates, the agreement gate and the combined accuracy gate, through the plugin."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Project, expect_lines

CALIBRATED = '''
"""Four-option letter answers from noisy logits: roughly calibrated, about 60% right.

CAL_SHARPEN multiplies every logit (same answers, more confident); CAL_SLIP lowers
the right option's logit on every item (probability slides off the right answer);
CAL_RUN seeds this run's own small noise (sd CAL_NOISE): another run of an
equivalent model churns a few answers both ways.
"""
import hashlib, json, math, os, random
from pathlib import Path
from pytest_medmodel import ChoiceResult

KEY = json.loads((Path(__file__).parent / "answer_key.json").read_text())

class Calibrated:
    name = "calibrated"

    def __init__(self):
        self.sharpen = float(os.environ.get("CAL_SHARPEN", "1"))
        self.slip = float(os.environ.get("CAL_SLIP", "0"))
        self.run = os.environ.get("CAL_RUN", "0")
        self.noise = float(os.environ.get("CAL_NOISE", "0.1"))
        self.scramble = os.environ.get("CAL_SCRAMBLE") == "1"
        self.fingerprint = f"calibrated:{self.sharpen}:{self.slip}:{self.run}:{self.noise}:{self.scramble}"

    def loglikelihood(self, requests):
        out = []
        for r in requests:
            item = r.meta["item"]
            rng = random.Random(int(hashlib.sha256(item.encode()).hexdigest()[:12], 16))
            z = [rng.gauss(0, 1) for _ in r.continuations]
            own = random.Random(int(hashlib.sha256(f"{item}:{self.run}".encode()).hexdigest()[:12], 16))
            z = [v + own.gauss(0, self.noise) for v in z]
            z[KEY[item]] += 1.2 - self.slip
            z = [self.sharpen * v for v in z]
            if self.scramble:  # the same answer, with a confidence drawn regardless of correctness
                pick, sure = z.index(max(z)), rng.uniform(0.3, 0.95)
                rest = (1 - sure) / (len(z) - 1)
                out.append(ChoiceResult(tuple(math.log(sure if k == pick else rest) for k in range(len(z)))))
                continue
            top = max(z)
            norm = top + math.log(sum(math.exp(v - top) for v in z))
            out.append(ChoiceResult(tuple(v - norm for v in z)))
        return out

def make():
    return Calibrated()
'''

GATES = """gates:
  accuracy: {}
  ece: {bins: 10}
  brier: {}
  selective_accuracy: {}
  agreement: {}
"""


def _calibrated(project: Project, n: int = 240) -> None:
    project.suite("cal", n, extra_yaml=GATES)
    (project.path / "calibrated.py").write_text(CALIBRATED)


def _run(project: Project, *args: str, **env: str):  # noqa: ANN202
    for name, default in (("CAL_SHARPEN", "1"), ("CAL_SLIP", "0"), ("CAL_RUN", "0"), ("CAL_SCRAMBLE", "0")):
        project.env.setenv(name, env.get(name.lower(), default))
    return project.pytester.runpytest("suites", "--medmodel=py:calibrated:make", "-p", "no:randomly", *args)


@pytest.mark.slow
def test_an_unchanged_model_passes_every_calibration_gate_and_the_summary_shows_calibration(project: Project) -> None:
    _calibrated(project)
    assert _run(project, "--snapshot-update").ret == 0
    entry = project.baseline("cal", "calibrated-make")["items"]["ca-000"]
    assert len(entry["probs"]) == 4 and abs(sum(entry["probs"]) - 1) < 1e-3  # the vectors later runs compare with
    result = _run(project, "-v")  # every gate passed: the calibration line is a detail
    assert result.ret == 0, result.stdout.str()
    expect_lines(result, ["*cal*240*5 passed"])
    expect_lines(result, ["cal: calibration on 240 items (95% bootstrap intervals): ECE (10 equal-mass bins) *"])
    # Nothing moved (the probabilities are compared as the baseline rounds them): no line of zero changes.
    assert "calibration change against the baseline" not in result.stdout.str()


@pytest.mark.slow
def test_a_sharpened_model_keeps_its_accuracy_but_fails_the_calibration_gates(project: Project) -> None:
    """Every probability pushed towards its argmax: the same answers, over-confident. Accuracy cannot see it."""
    _calibrated(project)
    assert _run(project, "--snapshot-update").ret == 0
    result = _run(project, "-v", cal_sharpen="4")
    assert result.ret == 1
    expect_lines(
        result,
        [
            "*gate?accuracy? PASSED*",
            "*gate?ece? FAILED*",
            "*gate?brier? FAILED*",
            "*gate?selective_accuracy? PASSED*",  # the same ranking: the same most-confident half
            "*gate?agreement? PASSED*",
        ],
    )
    expect_lines(
        result,
        [
            "ECE (10 equal-mass bins) got worse on suite cal (profile calibrated-make)",
            "ECE (10 equal-mass bins) on 240 paired items: baseline * -> current *: worse by more than the tolerance",
            "ECE after temperature scaling: with the baseline's temperature *; the confidence is off by a uniform "
            "scale: refitting the temperature restores it",
        ],
    )
    expect_lines(
        result, ["cal: calibration change against the baseline (paired by item): ECE +0.146 ?+0.0*, +0.2*?, *"]
    )


@pytest.mark.slow
def test_a_model_whose_confidence_stopped_tracking_correctness_is_told_apart_from_an_over_confident_one(
    project: Project,
) -> None:
    """Same answers, confidence drawn at random: no temperature, the baseline's or a refit one, repairs it."""
    _calibrated(project)
    assert _run(project, "--snapshot-update").ret == 0
    result = _run(project, "-v", cal_scramble="1")
    expect_lines(result, ["*gate?accuracy? PASSED*", "*gate?ece? FAILED*"])
    expect_lines(
        result,
        [
            "ECE after temperature scaling: with the baseline's temperature *; a refit temperature would not fix it: "
            "confidence no longer tracks correctness"
        ],
    )


@pytest.mark.slow
def test_a_flatter_model_passes_the_accuracy_gate_and_fails_only_the_opt_in_probability_gate(
    project: Project,
) -> None:
    """An equivalent rerun with every logit halved: the same expected accuracy, much less sure of itself.

    The accuracy gate tests correctness only, so it passes (the old combined gate failed such models
    through its t-test on the probability of the right answer). The opt-in probability gate sees the
    lost confidence, and says that it measures confidence, not accuracy.
    """
    project.suite("cal", 240, extra_yaml=GATES + "  right_answer_probability: {}\n")
    (project.path / "calibrated.py").write_text(CALIBRATED)
    assert _run(project, "--snapshot-update").ret == 0
    same = _run(project, "-v", cal_run="1")  # another run of an equivalent model: churn both ways
    expect_lines(same, ["*gate?accuracy? PASSED*", "*gate?right_answer_probability? PASSED*"])
    result = _run(project, "-v", cal_run="1", cal_sharpen="0.5")
    expect_lines(result, ["*gate?accuracy? PASSED*", "*gate?right_answer_probability? FAILED*"])
    expect_lines(
        result,
        [
            "the model puts less probability on the right answer on suite cal (profile calibrated-make)",
            "probability of the right answer on 240 paired items: baseline * -> current *, -* points *",
            "accuracy on the same paired items *: this gate measures how sure the model is of the right answer, "
            "not whether it answers right; *",
            "tested at level 0.0017: p = *; the suite's alpha 0.01 is shared by its 6 tested gates (Holm)*",
        ],
    )


def test_the_agreement_gate_catches_a_model_whose_answers_changed_wholesale(project: Project) -> None:
    """54 of 110 answers changed (27 newly right, 27 newly wrong): accuracy is unchanged, agreement fails."""
    project.suite("swap", 110, extra_yaml="gates:\n  agreement: {max_changed: 0.2}\n")
    first = [f"sw-{i:03d}" for i in range(0, 54, 2)]
    second = [f"sw-{i:03d}" for i in range(1, 54, 2)]
    assert project.run("--snapshot-update", flips=first).ret == 0
    result = project.run("-v", flips=second)
    assert result.ret == 1
    expect_lines(result, ["*gate?accuracy? PASSED*", "*gate?agreement? FAILED*"])
    expect_lines(
        result,
        [
            "the model's answers changed wholesale on suite swap (profile oracle-make)",
            "answers changed on 54 of 110 paired items (49.1%; max_changed 20%): 27 newly right, 27 newly wrong, "
            "0 from one wrong answer to another; *",
        ],
    )
    assert project.run(flips=first).ret == 0  # the recorded model itself agrees with its baseline


@pytest.mark.slow
def test_calibration_results_are_identical_serially_and_with_two_workers(project: Project) -> None:
    _calibrated(project, n=120)
    assert _run(project, "--snapshot-update").ret == 0
    serial = _run(project, "-v", cal_sharpen="2")  # -v: every suite's calibration lines, gates passed or not
    parallel = _run(project, "-v", "-n", "2", cal_sharpen="2")

    def calibration(result) -> list[str]:  # noqa: ANN001
        """The table row and each calibration line, its folded continuation joined back."""
        lines: list[str] = []
        for line in result.stdout.lines:
            if line.startswith(("cal: calibration", "cal  ")):
                lines.append(line)
            elif line.startswith("    ") and lines and lines[-1].startswith("cal: calibration"):
                lines[-1] += " " + line.strip()
        return lines

    assert len(calibration(serial)) == 3 and calibration(serial) == calibration(parallel)
    assert "cal: calibration change against the baseline (paired by item): ECE" in calibration(serial)[2]


def test_calibration_gates_skip_with_a_reason_without_vectors_in_the_baseline(project: Project) -> None:
    """A baseline recorded before probability vectors were kept: the gates say how to fix it, never guess."""
    _calibrated(project, n=40)
    assert _run(project, "--snapshot-update").ret == 0
    path = project.path / "baselines" / "calibrated-make" / "cal.json"
    data = json.loads(path.read_text())
    for entry in data["items"].values():
        del entry["probs"]
    path.write_text(json.dumps(data))
    result = _run(project, "-rs")
    assert result.ret == 0
    expect_lines(result, ["SKIPPED ?3? *: no paired item has probabilities in both*re-record it*"])


def test_calibration_gates_skip_for_a_scoring_without_probabilities(tmp_path: Path) -> None:
    from pytest_medmodel import load_suite
    from pytest_medmodel.gates.base import run_gate
    from pytest_medmodel.gates.comparison import Pairing, compare
    from pytest_medmodel.gates.family import gate_context
    from pytest_medmodel.scoring.base import register_scorer

    @register_scorer
    class Spoken:
        name = "spoken"
        requires = frozenset({"generate"})
        lists_choices = True
        params: dict = {}
        metrics = ()

    (tmp_path / "d.jsonl").write_text('{"id": "a", "question": "q", "choices": ["x", "y"], "answer": "A"}\n')
    path = tmp_path / "g.suite.yaml"
    path.write_text("task: multiple_choice\ndata: {path: d.jsonl}\nscoring: spoken\ngates:\n  ece: {}\n")
    suite = load_suite(path)
    comparison = compare(Pairing.of(suite, []), profile="p", scores={}, baseline=None, model_fingerprint=None)
    result = run_gate(gate_context(suite, "ece", {}, None, comparison, "b"), "ece")
    assert result.status == "skipped"
    assert result.message == "scoring 'spoken' gives no probabilities over the choices; calibration needs them"


@pytest.mark.slow
def test_margin_mode_fails_a_calibration_slip_only_when_it_is_significantly_beyond_the_tolerance(
    project: Project,
) -> None:
    """Sharpened x4, the model's Brier score rises by +0.100 (paired interval about [+0.05, +0.16]).

    Point mode with max_increase 0.08 fails it (above 0.08 and real); margin mode with 0.08 passes it (not
    significantly above 0.08). Sharpened x8, Brier rises by +0.169 [+0.10, +0.24], and margin mode with 0.04
    fails it (significantly above 0.04).
    """
    cases = (("point", "4", 0.08, "FAILED"), ("margin", "4", 0.08, "PASSED"), ("margin", "8", 0.04, "FAILED"))
    project.suite("cal", 240)
    (project.path / "calibrated.py").write_text(CALIBRATED)
    assert _run(project, "--snapshot-update").ret == 0
    for tolerance, sharpen, max_increase, verdict in cases:
        brier = f"{{max_increase: {max_increase}, tolerance: {tolerance}}}"
        project.suite("cal", 240, extra_yaml=f"gates:\n  brier: {brier}\n")
        result = _run(project, "-v", "-rA", "-k", "gate", cal_sharpen=sharpen)
        expect_lines(result, [f"*gate?brier? {verdict}*"])
        margin = " by more than max_increase" if tolerance == "margin" else ""
        expect_lines(
            result, [f"paired bootstrap over items: p = * that it got worse{margin} (tolerance {tolerance}; *"]
        )
