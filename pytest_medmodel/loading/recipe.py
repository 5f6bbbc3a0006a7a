"""Reading a suite file: YAML, then each section checked, then the items built.

A suite is a recipe (ChEF's scenario + instruction + inferencer + metric, in
lm-evaluation-harness's task vocabulary): where items come from, how they are
prompted, how answers are scored, which perturbations make variants, and which
gates decide the build. Scorers, gates and perturbations are looked up in their
registries, so a suite can name anything a conftest or an installed pack registered.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..gates.base import GATES
from ..scoring.base import SCORERS
from ..scoring.prompts import default_template
from ..suite.images import ImageReading, check_image_placeholders, image_folder, suite_settings
from ..suite.items import build_items
from ..suite.per_row import build_row_items
from ..suite.schema import (
    CHAT_MODES,
    FEW_SHOT_KEYS,
    PROMPT_KEYS,
    SEARCH_KEYS,
    TEMPLATE_FIELDS,
    TOP_KEYS,
    Checker,
    template_fields,
)
from ..suite.sources import read_rows
from ..suite.types import (
    DEFAULT_ALPHA,
    DEFAULT_LABELS,
    IMAGE_POSITIONS,
    OPEN,
    PICKS,
    TASKS,
    FewShot,
    GateUse,
    Item,
    PerturbationUse,
    PromptSpec,
    ScoringSpec,
    Suite,
    SuiteError,
    SuiteErrors,
    suite_stem,
)
from .perturbations import parse_perturbations
from .yamlfile import read_yaml

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def load_suite(path: Path | str, *, root: Path | None = None) -> Suite:
    """Load and validate one suite file, reading its items.

    ``root``: when given, the suite's local data files must lie inside it (the
    plugin passes the project's rootdir; see :func:`~.sources.local_file`).

    Raises:
        SuiteError: anything wrong with the file, its data or its items, in one line;
            also anything unexpected (the original exception is chained), so that a
            suite can never crash collection with a traceback.
    """
    path = Path(path)
    try:
        return _load(path, root)
    except SuiteError:
        raise
    except Exception as exc:  # noqa: BLE001 - reported as one line about the file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        problem = f"could not be loaded ({type(exc).__name__}: {first})"
        raise SuiteError(
            path, "(file)", problem, "fix the file; if it looks right, report this to pytest-medmodel"
        ) from exc


def _load(path: Path, root: Path | None) -> Suite:
    checker = Checker(path)
    top = checker.mapping(read_yaml(path), "", TOP_KEYS)
    errors: list[SuiteError] = []  # each section is checked even when another is wrong: all problems at once

    def attempt(parse: Callable[[], Any], fallback: Any) -> Any:
        try:
            return parse()
        except SuiteError as error:
            errors.append(error)
            return fallback

    name = attempt(lambda: _parse_name(checker, top.get("name", suite_stem(path))), suite_stem(path))
    task = attempt(lambda: checker.choice(top.get("task", "multiple_choice"), "task", TASKS), "multiple_choice")
    scoring = attempt(lambda: _parse_scoring(checker, top.get("scoring", "letter")), ScoringSpec("letter"))
    prompt = attempt(lambda: _parse_prompt(checker, top.get("prompt", {})), None)
    gates = attempt(lambda: _parse_gates(checker, top.get("gates", {})), ())
    perturbations, perturbation_gates = attempt(
        lambda: parse_perturbations(checker, top.get("perturbations", []), [g.name for g in gates]), ((), ())
    )
    gates = (*gates, *perturbation_gates)
    items: list[Item] = []
    if "data" not in top:
        errors.append(checker.error("data", "missing", "add data: {path: items.jsonl} (relative to the suite)"))
    else:
        rows, source = attempt(lambda: read_rows(checker, path, top["data"], root), ([], None))
        labels = prompt.labels if prompt is not None else DEFAULT_LABELS
        reading = attempt(lambda: _image_reading(checker, path, top, source, root), ImageReading(path.parent, root))
        if source is not None:
            items = attempt(lambda: build_row_items(checker, top["data"], rows, task, labels, reading), [])
    if errors:
        raise SuiteErrors.combine(errors)
    check_image_placeholders(checker, prompt.template, items, "few_shot" in top)
    if any(item.group for item in items) and "set_accuracy" not in [g.name for g in gates]:
        gates = (
            *gates,
            GateUse("set_accuracy", checker.params({}, "gates.set_accuracy", GATES.get("set_accuracy").params)),
        )
    _check_combinations(checker, top, task, scoring, perturbations)
    prompt = _settle_template(checker, prompt, scoring, task, items)
    return Suite(
        path=path,
        name=name,
        description=top.get("description", ""),
        task=task,
        prompt=prompt,
        scoring=scoring,
        gates=gates,
        items=tuple(items),
        source=source,
        perturbations=perturbations,
        search=_parse_search(checker, top.get("search")),
        few_shot=_parse_few_shot(checker, path, top, task, prompt.labels, items, root),
        alpha=checker.level(top.get("alpha", DEFAULT_ALPHA), "alpha"),
    )


def _settle_template(
    checker: Checker, prompt: PromptSpec, scoring: ScoringSpec, task: str, items: Sequence[Item]
) -> PromptSpec:
    """The default template when the suite gives none; a given one must show the options where the scoring
    asks for a label, exactly once: through ``{choices}``, or in the question (``choices_in_question``)."""
    lists_choices = _lists_choices(scoring, task) and not prompt.choices_in_question
    if not prompt.template:
        return replace(prompt, template=default_template(task, lists_choices, any(item.context for item in items)))
    if lists_choices and "choices" not in template_fields(prompt.template):
        problem = f"{scoring.method} scoring asks for an option's label, but the template never shows the options"
        raise checker.error("prompt.template", problem, "add {choices} where the labelled options go")
    if prompt.choices_in_question and "choices" in template_fields(prompt.template):
        problem = "shows {choices}, but prompt.choices_in_question says the question already lists them"
        raise checker.error("prompt.template", problem, "remove {choices}, or remove prompt.choices_in_question")
    return prompt


def _image_reading(
    checker: Checker, path: Path, top: Mapping[str, Any], source: str | None, root: Path | None
) -> ImageReading:
    """Image paths start at the data file's folder (a dataset's: the suite's), or at ``data.image_folder`` in it;
    inside the root, if there is one."""
    data = top["data"]
    base = (path.parent / data["path"]).resolve().parent if source is not None and "path" in data else path.parent
    fence = root if root is not None else Path(base.resolve().anchor)
    if data.get("image_folder") is not None:
        base = image_folder(checker, base, data["image_folder"], fence)
    return ImageReading(base, fence, suite_settings(checker, top.get("images")))


def _check_combinations(
    checker: Checker, top: Mapping[str, Any], task: str, scoring: ScoringSpec, perturbations: Sequence[PerturbationUse]
) -> None:
    """Settings that are each valid but do not go together."""
    if task == OPEN and scoring.method != "generate":
        fix = "use scoring: {method: generate}"
        raise checker.error("scoring", f"task open has free-text answers; {scoring.method} scoring needs options", fix)
    if any(p.name == "few_shot" for p in perturbations) and "few_shot" not in top:
        fix = "add few_shot: {k: 0} (and from: a pool of solved examples) to say where examples come from"
        raise checker.error("perturbations", "the few_shot perturbation needs the suite's few_shot pool", fix)


def _parse_few_shot(
    checker: Checker,
    path: Path,
    top: Mapping[str, Any],
    task: str,
    labels: tuple[str, ...],
    items: list[Item],
    root: Path | None,
) -> FewShot | None:
    """``few_shot: {k, from, pick, seed}``; the pool read with the suite's own field mapping."""
    if top.get("few_shot") is None:
        return None
    spec = checker.mapping(top["few_shot"], "few_shot", FEW_SHOT_KEYS)
    k = spec.get("k")
    if k is None or isinstance(k, bool) or k < 0:
        raise checker.error("few_shot.k", f"{k} is not a whole number of examples", "write e.g. k: 3")
    pick = checker.choice(spec.get("pick", "first"), "few_shot.pick", PICKS)
    pool = items
    if "from" in spec:
        source = {**spec["from"], **({"fields": top["data"]["fields"]} if "fields" in top["data"] else {})}
        rows, _ = read_rows(checker, path, source, root)
        pool = build_items(checker, source, rows, task, labels)
    if len(pool) <= k:
        problem = f"k is {k} but the pool has {len(pool)} item(s), and an item is never its own example"
        raise checker.error("few_shot.k", problem, "lower k, or give a larger pool with from:")
    return FewShot(k=int(k), pool=tuple(pool), pick=pick, seed=int(spec.get("seed", 0)))


def _parse_search(checker: Checker, value: Any) -> tuple[int, int] | None:
    if value is None:
        return None
    spec = checker.mapping(value, "search", SEARCH_KEYS)
    numbers = (spec.get("candidates", 32), spec.get("items", 20))
    for key, number in zip(("candidates", "items"), numbers, strict=True):
        if isinstance(number, bool) or number < 1:
            raise checker.error(f"search.{key}", f"{number} is not a positive whole number", "write e.g. 32")
    return numbers


def _parse_name(checker: Checker, name: str) -> str:
    if not _NAME.match(name):
        fix = "start with a letter, digit or '_', then letters, digits, '_', '.', '-'"
        raise checker.error("name", f"'{name}' is not a usable file name", fix)
    return name


def _parse_scoring(checker: Checker, value: Any) -> ScoringSpec:
    methods = SCORERS.names()
    if isinstance(value, str):
        return ScoringSpec(method=checker.choice(value, "scoring", methods))
    raw = checker.mapping(value, "scoring", {"method": ((str,), f"one of {', '.join(methods)}"), **_all_scorer_keys()})
    method = checker.choice(raw.get("method", "letter"), "scoring.method", methods)
    scorer = SCORERS.get(method)
    for key in raw:
        if key != "method" and key not in scorer.params:
            owners = [s.name for s in SCORERS if key in s.params]
            raise checker.error(
                f"scoring.{key}",
                f"only applies to {' or '.join(owners)} scoring",
                f"remove it or use method: {owners[0]}",
            )
    options = checker.params({k: v for k, v in raw.items() if k != "method"}, "scoring", scorer.params)
    chosen = {k: v for k, v in options.items() if k in raw}
    check = getattr(scorer, "check", None)
    problem = check(chosen) if check is not None else None
    if problem is not None:
        key, what, fix = problem
        raise checker.error(f"scoring.{key}", what, fix)
    return ScoringSpec(method=method, options=chosen)


def _lists_choices(scoring: ScoringSpec, task: str) -> bool:
    """Whether the default prompt lists the labelled options: the scorer's say, per task when it has one."""
    scorer = SCORERS.get(scoring.method)
    per_task = getattr(scorer, "lists_choices_for", None)
    return bool(per_task(task, scoring.options)) if per_task is not None else scorer.lists_choices


def _all_scorer_keys() -> dict[str, tuple[tuple[type, ...], str]]:
    return {key: (p.types, p.description) for scorer in SCORERS for key, p in scorer.params.items()}


def _parse_prompt(checker: Checker, value: Any) -> PromptSpec:
    spec = checker.mapping(value, "prompt", PROMPT_KEYS)
    labels = spec.get("labels", DEFAULT_LABELS)
    if isinstance(labels, str):
        labels = list(labels) if " " not in labels and "," not in labels else re.split(r"[,\s]+", labels.strip())
    labels = tuple(str(lab) for lab in labels)
    if not labels or any(not lab.strip() for lab in labels) or len(set(labels)) != len(labels):
        raise checker.error(
            "prompt.labels", f"labels {list(labels)} must be distinct and non-empty", "write e.g. [A, B, C, D]"
        )
    template = spec.get("template")
    if template is not None:
        _check_template(checker, template)
    chat = spec.get("chat_template", "auto")
    if isinstance(chat, bool):
        chat = "always" if chat else "never"
    return PromptSpec(
        template=template or "",  # filled in from the data (context or not) once items are read
        labels=labels,
        chat_template=checker.choice(chat, "prompt.chat_template", CHAT_MODES),
        system=spec.get("system"),
        answer_prefix=spec.get("answer_prefix", "Answer:"),
        image_position=checker.choice(spec.get("image_position", "before"), "prompt.image_position", IMAGE_POSITIONS),
        choice_format=_choice_format(checker, spec.get("choice_format", PromptSpec.choice_format)),
        choices_in_question=bool(spec.get("choices_in_question", False)),
    )


def _choice_format(checker: Checker, text: str) -> str:
    """``prompt.choice_format``: exactly the placeholders ``{label}`` and ``{choice}``."""
    try:
        fields = template_fields(text)
    except ValueError as exc:
        fix = "write e.g. '{label}:{choice}'"
        raise checker.error("prompt.choice_format", f"is not a valid format ({exc})", fix) from None
    if fields != {"label", "choice"}:
        shown = ", ".join(f"{{{f}}}" for f in sorted(fields)) or "no placeholder"
        raise checker.error(
            "prompt.choice_format", f"has {shown}", "use exactly {label} and {choice}, e.g. '{label}:{choice}'"
        )
    return text


def _check_template(checker: Checker, template: str) -> None:
    try:
        fields = template_fields(template)
    except ValueError as exc:
        fix = "write {{ and }} for literal braces"
        raise checker.error("prompt.template", f"is not a valid template ({exc})", fix) from None
    for placeholder in sorted(fields - set(TEMPLATE_FIELDS)):
        close = difflib.get_close_matches(placeholder, TEMPLATE_FIELDS, n=1, cutoff=0.5)
        known = ", ".join(f"{{{f}}}" for f in TEMPLATE_FIELDS)
        hint = f"did you mean '{{{close[0]}}}'?" if close else f"use {known}; write {{{{ }}}} for a literal brace"
        raise checker.error("prompt.template", f"unknown placeholder '{{{placeholder}}}'", hint)
    if "question" not in fields:
        problem = "has no {question} placeholder ({{question}} is the literal text, not the question)"
        raise checker.error("prompt.template", problem, "add {question} where the question goes")


def _parse_gates(checker: Checker, value: Any) -> tuple[GateUse, ...]:
    """Every default gate (accuracy first), then the others the suite names, in its order."""
    suite_level = [name for name in GATES.names() if not GATES.get(name).per_perturbation]
    declared = checker.mapping(
        value, "gates", {name: ((dict, type(None)), "a mapping of settings") for name in suite_level}
    )
    names = [g.name for g in GATES if g.default] + [n for n in declared if not GATES.get(n).default]
    uses = []
    for name in names:
        definition = GATES.get(name)
        checker.no_own_alpha(declared.get(name), f"gates.{name}", DEFAULT_ALPHA)
        settings = checker.params(declared.get(name) or {}, f"gates.{name}", definition.params)
        problem = definition.check(settings) if definition.check else None
        if problem is not None:
            key, what, fix = problem
            raise checker.error(f"gates.{name}.{key}", what, fix)
        uses.append(GateUse(name, settings))
    return tuple(uses)
