"""Model mutations: seeded, bit-for-bit deterministic, their own fingerprint, and the gate notices them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import FORGET, Project, expect_lines, outcomes

from pytest_medmodel import load_model, mutation
from pytest_medmodel.models.base import AdapterError, ChoiceRequest, GenerationRequest
from pytest_medmodel.mutate.base import MUTATIONS, parse_mutation

REQUESTS = [
    ChoiceRequest("Question: Which organ produces insulin? Answer:", (" A", " B", " C")),
    ChoiceRequest("Metformin lowers glucose; aspirin inhibits", (" platelets", " insulin", " the heart")),
]
WEIGHT_MUTATIONS = [
    "noise:scale=0.1",
    "noise:scale=0.1,seed=1",
    "quantize:bits=8",
    "quantize:bits=4,group_size=16",
    "drop_layers",
    "drop_layers:count=1,at=end",
    "duplicate_layers:at=0",
    "zero_heads:fraction=0.5",
]


def _state(handle: object) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in handle.adapter.model.state_dict().items()}


@pytest.mark.parametrize("spec", WEIGHT_MUTATIONS)
@pytest.mark.parametrize("model_dir", ["tiny_llama_dir", "tiny_gpt2_dir"])
@pytest.mark.slow
def test_each_mutation_is_deterministic_and_changes_weights_and_fingerprint(
    spec: str, model_dir: str, request: pytest.FixtureRequest
) -> None:
    folder = str(request.getfixturevalue(model_dir))
    plain = load_model(folder)
    first, second = load_model(folder, mutate=spec), load_model(folder, mutate=spec)
    assert first.fingerprint == second.fingerprint != plain.fingerprint
    assert first.fingerprint.endswith("|mutate:" + parse_mutation(spec).label)
    assert first.profile == plain.profile  # gated against the real model's baselines by default
    a, b, original = _state(first), _state(second), _state(plain)
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a), "same spec, same weights, bit for bit"
    assert first.adapter.loglikelihood(REQUESTS) == second.adapter.loglikelihood(REQUESTS)
    changed = list(a) != list(original) or any(not torch.equal(a[k], original[k]) for k in a)
    assert changed, f"{spec} left every weight as it was"
    assert first.adapter.loglikelihood(REQUESTS) != plain.adapter.loglikelihood(REQUESTS)


def test_seeds_and_strengths_give_different_models(tiny_llama_dir: Path) -> None:
    specs = ["noise:scale=0.1", "noise:scale=0.1,seed=1", "noise:scale=0.2", "noise"]
    fingerprints = {load_model(str(tiny_llama_dir), mutate=s).fingerprint for s in specs}
    assert len(fingerprints) == 4
    one, other = (_state(load_model(str(tiny_llama_dir), mutate=s)) for s in specs[:2])
    assert any(not torch.equal(one[k], other[k]) for k in one)


def test_layer_mutations_change_depth_and_still_run_with_the_kv_cache(tiny_llama_dir: Path) -> None:
    plain = load_model(str(tiny_llama_dir)).adapter.model
    depth = plain.config.num_hidden_layers
    dropped = load_model(str(tiny_llama_dir), mutate="drop_layers:count=1").adapter
    doubled = load_model(str(tiny_llama_dir), mutate="duplicate_layers:count=1").adapter
    assert len(dropped.model.model.layers) == dropped.model.config.num_hidden_layers == depth - 1
    assert len(doubled.model.model.layers) == depth + 1
    assert [layer.self_attn.layer_idx for layer in doubled.model.model.layers] == list(range(depth + 1))
    # Shared-prefix scoring reuses the KV cache: every layer must index its own slot.
    many = [ChoiceRequest("The same long shared context about insulin and glucose.", (" A", " B"))] * 3
    for adapter in (dropped, doubled):
        assert len(adapter.loglikelihood(many)) == 3
        assert len(adapter.generate([GenerationRequest("Insulin is made by the", max_new_tokens=4)])) == 1


def test_no_chat_template_mutation_removes_the_template_only(tiny_llama_dir: Path) -> None:
    plain = load_model(str(tiny_llama_dir))
    mutated = load_model(str(tiny_llama_dir), mutate="no_chat_template")
    messages = [{"role": "user", "content": "x"}]
    assert plain.format_chat(messages) is not None and mutated.format_chat(messages) is None
    assert mutated.adapter.loglikelihood(REQUESTS) == plain.adapter.loglikelihood(REQUESTS)
    assert mutated.fingerprint != plain.fingerprint


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nosie:scale=0.1", "did you mean 'noise'"),
        ("noise:scael=0.1", "scael: unknown setting; noise takes scale, seed"),
        ("drop_layers:at=1.5", "at=1.5: expected a text or a whole number, got float; write a text or a whole number"),
        ("noise:scale", "'scale' is not key=value"),
        ("noise:scale=-1", "scale=-1 must lie in [0, 10]"),
        ("quantize:bits=1", "bits=1 must be an integer from 2 to 16"),
        ("drop_layers:at=top", "at=top must be 'middle', 'end' or a layer index"),
        (":x=1", "write name[:key=value,...]"),
    ],
)
def test_bad_mutation_specs_are_one_line_errors(spec: str, message: str) -> None:
    with pytest.raises(AdapterError) as info:
        load_model("demo", mutate=spec)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_model_without_torch_weights_gets_a_clear_error() -> None:
    class Remote:
        def loglikelihood(self, requests):  # pragma: no cover - never reached
            raise AssertionError

    from pytest_medmodel import ModelHandle, mutate_handle

    handle = mutate_handle(ModelHandle.wrap(Remote(), profile="p", where="test"), "noise")
    with pytest.raises(AdapterError, match="needs an in-process torch model"):
        handle.adapter  # noqa: B018


def test_users_register_their_own_mutation(tiny_llama_dir: Path) -> None:
    @mutation("halve_lm_head")
    def halve_lm_head(factor: float = 0.5):
        """Scale the output head (a user's own damage)."""

        def apply(adapter):
            with torch.no_grad():
                adapter.model.lm_head.weight.mul_(factor)
            return adapter

        return apply

    assert MUTATIONS.get("halve_lm_head").description == "Scale the output head (a user's own damage)."
    handle = load_model(str(tiny_llama_dir), mutate="halve_lm_head:factor=0.25")
    assert handle.fingerprint.endswith("mutate:halve_lm_head:factor=0.25")
    plain = load_model(str(tiny_llama_dir))
    assert torch.allclose(handle.adapter.model.lm_head.weight, plain.adapter.model.lm_head.weight * 0.25)


def test_a_mutated_run_never_reads_the_real_models_predictions_and_is_gated_by_its_baselines(
    project: Project,
) -> None:
    project.pytester.makeconftest(FORGET)
    project.suite("facts", n=40)
    assert project.run("--snapshot-update").ret == 0
    project.clear_calls()
    assert project.run().ret == 0 and project.calls() == []  # the real model: all from the cache

    result = project.run("--medmodel-mutate=forget:every=2")
    assert result.ret == 1
    assert sum(project.calls()) == 40, "every prediction of the mutated model is computed, none read from the cache"
    result.stdout.fnmatch_lines(
        [
            "*accuracy dropped on suite facts (profile oracle-make)*",
            "facts*40*50.0%*100.0%*-50.0*20/0*failed",
            "model: oracle [[]mutated: forget:every=2[]]; profile oracle-make",
        ]
    )
    project.clear_calls()
    assert project.run("--medmodel-mutate=forget:every=2").ret == 1
    assert project.calls() == [], "the same mutation is the same model: its own cache entries are reused"
    assert project.run("--medmodel-mutate=forget:every=1000").ret == 0  # one item in 40: not significant


def test_recording_a_mutated_model_needs_a_profile_of_its_own(project: Project) -> None:
    project.pytester.makeconftest(FORGET)
    project.suite("facts", n=8)
    result = project.run("--medmodel-mutate=forget", "--snapshot-update")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*would record the mutated model's answers as the real model's baselines*"])
    assert project.run("--medmodel-mutate=forget", "--snapshot-update", "--medmodel-profile=forgetful").ret == 0
    assert project.baseline("facts", profile="forgetful")["model"]["name"] == "oracle [mutated: forget:every=2]"
    result = project.run("--medmodel-mutate=forgot")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown mutation 'forgot'*did you mean 'forget'?*"])


def test_the_mutation_report_says_which_mutations_each_gate_catches(project: Project) -> None:
    project.pytester.makeconftest(FORGET)
    project.suite("facts", n=40)
    project.suite("small", n=8)
    assert project.run("--snapshot-update").ret == 0
    result = project.run("--medmodel-mutation-report=forget:every=2;forget:every=1000;forget:every=100000")
    assert result.ret == 0, "the report informs; the run itself (the real model) passed"
    result.stdout.fnmatch_lines(
        [
            "*mutation report: 3 mutation(s) x 2 suite(s)*",
            "*mutation 1/3: forget:every=2",
            "*medmodel mutation report*",
            "mutation*suite*gate*verdict*baseline*mutated*delta*regr/impr*p",
            "forget:every=2*facts*accuracy*caught*100.0%*50.0%*-50.0*20/0*",
            # 8 items: four regressions are a 50-point drop, yet McNemar's p is 0.0625: too small to tell.
            "forget:every=2*small*accuracy*missed*100.0%*50.0%*-50.0*4/0*0.062",
            "forget:every=1000*facts*accuracy*missed*100.0%*97.5%*-2.5*1/0*0.5",
            "forget:every=1000*small*accuracy*unchanged*100.0%*100.0%*+0.0*0/0*1",
            "forget:every=100000*facts*accuracy*missed*",
            "forget:every=100000*small*accuracy*unchanged*",
            "facts: caught 1 of 3 mutations; missed: forget:every=1000, forget:every=100000",
            "small: caught 0 of 3 mutations; missed: forget:every=2, forget:every=1000, forget:every=100000",
        ]
    )


def test_the_mutation_report_shows_each_gates_own_figures(project: Project) -> None:
    """Calibration and agreement rows carry their own metric, not the accuracy columns again."""
    project.pytester.makeconftest(FORGET)
    project.suite("facts", n=40, extra_yaml="gates:\n  agreement: {}\n  brier: {}\n")
    assert project.run("--snapshot-update").ret == 0
    result = project.run("--medmodel-mutation-report=forget:every=2")
    result.stdout.fnmatch_lines(
        [
            "*mutation 1/1: forget:every=2",
            "*  facts: accuracy -50.0 points; caught by accuracy, agreement, brier",
            "forget:every=2*facts*accuracy*caught*100.0%*50.0%*-50.0*20/0*",
            "forget:every=2*facts*agreement*caught*-*50.0% changed*-*20/0*",
            "forget:every=2*facts*brier*caught*0.*0.*+0.*-*-",
        ]
    )


def test_the_mutation_reports_vision_mutations_skip_a_run_without_images(project: Project) -> None:
    """The default ladder ends with vision mutations; a text-only run skips them, saying why, and still reports."""
    from pytest_medmodel.mutate.matrix import DEFAULT_MUTATIONS

    assert {parse_mutation(m).name for m in DEFAULT_MUTATIONS} >= {"vision_noise", "zero_projector", "drop_images"}
    project.pytester.makeconftest(FORGET)
    project.suite("facts", n=8)
    assert project.run("--snapshot-update").ret == 0
    result = project.run("--medmodel-mutation-report=zero_projector;forget:every=2")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*mutation 1/2: zero_projector: skipped, no suite in this run has images",
            "*mutation 2/2: forget:every=2",
            "forget:every=2*facts*accuracy*",
        ]
    )
    assert "zero_projector  facts" not in result.stdout.str()


def test_the_mutation_report_needs_a_model_spec(project: Project) -> None:
    project.suite("facts", n=4)
    project.pytester.makeconftest(
        "import pytest\nfrom oracle import Oracle\n\n"
        "@pytest.fixture(scope='session')\ndef medmodel():\n    return Oracle()\n"
    )
    result = project.pytester.runpytest("suites", "-p", "no:randomly", "--medmodel-mutation-report")
    result.stdout.fnmatch_lines(["*the mutation report needs the model as a spec*"])


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        (
            "--medmodel-mutate=noise:scale=abc",
            "ERROR: --medmodel-mutate=noise:scale=abc: scale=abc: expected a number, got str*",
        ),
        ("--medmodel-mutate=noise:scale=-1", "ERROR: --medmodel-mutate=noise:scale=-1,seed=0: scale=-1 must lie in*"),
        (
            "--medmodel-mutate=quantize:bits=4.5",
            "ERROR: --medmodel-mutate=quantize:bits=4.5: bits=4.5: expected a whole number*",
        ),
        (
            "--medmodel-mutate=noise:scael=1",
            "ERROR: --medmodel-mutate=noise:scael=1: scael: unknown setting; noise takes scale, seed",
        ),
        ("--medmodel-mutate=nosie", "ERROR: --medmodel-mutate: unknown mutation 'nosie'*did you mean 'noise'*"),
        ("--medmodel-mutation-report=noise:scale=abc", "ERROR: --medmodel-mutation-report=noise:scale=abc: scale=abc*"),
    ],
)
def test_mutation_settings_are_checked_at_startup_in_one_line(project: Project, flag: str, message: str) -> None:
    project.suite("facts", n=4)
    result = project.run(flag)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message.replace("[", "[[]")])
    assert "Traceback" not in result.stdout.str() + result.stderr.str() and "passed" not in result.stdout.str()


WEIGHTLESS = (
    "--medmodel-mutate=noise:scale=0.05,seed=0: mutation 'noise' changes weights and needs an in-process torch "
    "model (adapter.model); Oracle has none"
)


def test_a_weight_mutation_of_an_adapter_without_weights_stops_the_run_once_in_one_line(project: Project) -> None:
    """Only the loaded adapter tells whether it has weights; the first test that needs it says so and the run stops."""
    project.suite("facts", n=8)
    result = project.run("--medmodel-mutate=noise", "--medmodel-shard-size=2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    text = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in text and "def torch_model" not in text and "ShardFailed" not in text
    assert outcomes(result) == {"errors": 1}, "one test hit it; the others did not run"
    result.stdout.fnmatch_lines([f"the run stopped: the model cannot be used: {WEIGHTLESS}"])


@pytest.mark.slow
def test_under_xdist_the_weightless_mutation_stops_the_run_in_one_line_too(project: Project) -> None:
    project.suite("facts", n=8)
    result = project.run("--medmodel-mutate=noise", "--medmodel-shard-size=2", "-n", "2", subprocess=True)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    text = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in text and "Traceback" not in text and "def torch_model" not in text
    assert 1 <= outcomes(result).get("errors", 0) <= 2, "at most the first test of each worker"
    result.stdout.fnmatch_lines([f"*{WEIGHTLESS}*"])


SHAKY = '''
import json, re
from pathlib import Path
from pytest_medmodel import ChoiceResult

TEXTS = json.loads((Path(__file__).parent / "answer_texts.json").read_text())
OPTIONS = ["alpha", "beta", "gamma", "delta"]

class ShakyReader:
    """Reads the options and picks the right text's label, except: the items in ``flips`` it gets wrong
    everywhere (the next option's text), and every fifth item it gets wrong when the options are reversed."""
    name = "shaky"
    fingerprint = "shaky-v1"

    def __init__(self):
        self.flips = set()

    def loglikelihood(self, requests):
        out = []
        for r in requests:
            item = r.meta["item"]
            listed = dict(re.findall(r"^(\\w+)\\. (.*)$", r.context, flags=re.M))
            text = TEXTS[item]
            if item in self.flips or (r.meta["variant"] == "reverse_choices" and int(item[-3:]) % 5 == 0):
                text = OPTIONS[(OPTIONS.index(text) + 1) % 4]
            out.append(ChoiceResult(tuple(-0.1 if listed.get(c.strip()) == text else -3.0 for c in r.continuations)))
        return out

def make():
    return ShakyReader()
'''


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


@pytest.mark.slow
def test_the_mutation_report_shows_each_perturbation_gates_own_figures(project: Project) -> None:
    """accuracy/reverse_choices and consistency/reverse_choices rows carry the figures those gates compute
    (the variants'), exactly as a --medmodel-mutate run of the same mutation reports them, not the suite's."""
    project.pytester.makeconftest(FORGET)
    (project.path / "shaky.py").write_text(SHAKY)
    project.suite("rev", n=20, extra_yaml="perturbations:\n  - reverse_choices\n")
    run = ("suites", "--medmodel=py:shaky:make", "-p", "no:randomly")
    assert project.pytester.runpytest(*run, "--snapshot-update").ret == 0
    mutated = project.pytester.runpytest(*run, "--medmodel-mutate=forget:every=2", "--junitxml=mutated.xml")
    gates = _gate_numbers(project.path / "mutated.xml")
    perturbed, consistency = gates["accuracy/reverse_choices"], gates["consistency/reverse_choices"]
    # Originals 100% -> 50%; right under reversal 80% -> 40%; the same content 80% -> 90% (flips are consistent).
    assert (gates["accuracy"]["baseline_accuracy"], gates["accuracy"]["accuracy"]) == ("1.0", "0.5"), mutated
    assert (perturbed["baseline"], perturbed["current"], perturbed["lost"], perturbed["gained"]) == (
        "0.8",
        "0.4",
        "8",
        "0",
    )
    assert (consistency["baseline"], consistency["current"]) == ("0.8", "0.9")

    result = project.pytester.runpytest(
        *run, "--medmodel-mutation-report=forget:every=2", f"--medmodel-report={project.path / 'out'}"
    )

    def p(value: str) -> str:
        return f"{float(value):.2g}"

    expect_lines(
        result,
        [
            "forget:every=2*rev*accuracy *caught*100.0%*50.0%*-50.0*10/0*",
            f"forget:every=2*rev*accuracy/reverse_choices *80.0%*40.0%*-40.0*8/0*{p(perturbed['p_value'])}",
            f"forget:every=2*rev*consistency/reverse_choices *80.0%*90.0%*+10.0*0/2*{p(consistency['p_value'])}",
        ],
    )
    rows = {r["gate"]: r for r in json.loads((project.path / "out" / "report.json").read_text())["mutations"]}
    assert rows["accuracy"]["delta"] == -0.5
    assert rows["accuracy/reverse_choices"]["delta"] == pytest.approx(-0.4)
    assert rows["consistency/reverse_choices"]["delta"] == pytest.approx(0.1)


def test_the_mutation_reports_probe_group_row_shows_the_groups_figures(project: Project) -> None:
    """forget:every=2 breaks every pair (its first member): accuracy 100% -> 50%, set accuracy 100% -> 0%."""
    project.pytester.makeconftest(FORGET)
    project.paired_probes("pairs", 12)
    assert project.run("--snapshot-update").ret == 0
    result = project.run("--medmodel-mutation-report=forget:every=2")
    expect_lines(
        result,
        [
            "forget:every=2*pairs*accuracy *caught*100.0%*50.0%*-50.0*12/0*",
            "forget:every=2*pairs*set_accuracy *caught*100.0%*0.0%*-100.0*12/0*",
        ],
    )
