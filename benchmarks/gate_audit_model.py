"""Ground truth and planted model for ``bench_gate_audit.py`` (imported by the benchmark and by pytest).

The benchmark writes throwaway projects whose suites are multiple-choice items
drawn from a known truth, and tests them with ``--medmodel=py:gate_audit_model:make``.
This module is both halves: :func:`suite_truth` builds a suite's items (the
benchmark writes them to the data file; the adapter rebuilds them to know each
item's answer distribution), and :class:`PlantedModel` answers the plugin's
requests as one *run* of a model drawn from that truth.

Truth, per item (4 options, letter scoring):

* ``q ~ Beta(0.219, 0.094)``: the chance that one run answers the item right
  (mean 0.70; two equivalent runs disagree on correctness with probability
  ``2q(1-q)``, 0.10 on average);
* the wrong mass ``1 - q`` is split over the three distractors by
  ``Dirichlet(0.15)`` (a wrong run mostly picks one favourite distractor);
* a run's logits are ``log(pi) + G`` with ``G`` standard Gumbel noise, so the
  argmax is an exact draw from ``pi`` (Gumbel-max);
* the run reports ``log_softmax(z / T)``; ``T = 2`` is the base model
  (over-confident relative to its own accuracy).

Noise is built from standard normals pushed through the normal CDF and the
Gumbel quantile function (a Gaussian copula). Each noise value stays exactly
standard Gumbel, so every item's answer stays an exact draw from ``pi``, while
normals can be shared and mixed:

* a perturbed variant of an item reuses the original's normals with weight
  ``VARIANT_RHO`` (a model that reads the options mostly answers the same
  content whatever their order);
* in a ``clustered`` suite the items of a cluster of 4 share ``q`` and a
  cluster-level normal per role (the key, then the distractors by falling
  ``pi``) with weight ``CLUSTER_RHO``, so they tend to be right or wrong
  together and flip together between runs.

Which run to play comes from the environment: ``GATE_AUDIT_SCENARIO`` (see
:data:`SCENARIOS`), and the project file ``gate_audit_project.json`` (master
seed and, per suite name, its kind, size and replicate). Everything is seeded
from (master seed, suite name = replicate, run tag, item id, variant): the same
scenario gives the same answers in any process and any item order. The run tag
is ``base`` for the baseline (and ``same``) and ``cand`` for every other
candidate, so the candidate scenarios share their noise (common random
numbers): ``flatter`` is exactly ``redraw`` reported at another temperature.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

BETA_A, BETA_B = 0.219, 0.094
DIRICHLET = 0.15
BASE_TEMPERATURE = 2.0
TEMPERATURE_FACTOR = 1.5
VARIANT_RHO = 0.8
"""Weight of the original item's normals in a perturbed variant's noise."""
CLUSTER_RHO = 0.8
"""Weight of the cluster's shared normals in a clustered item's noise."""
CLUSTER_SIZE = 4
ADDED_OPTION_MASS = 0.03
"""Probability mass a run gives an option a perturbation added ("None of the above")."""
OPTIONS = 4
PROJECT_FILE = "gate_audit_project.json"
SCENARIO_ENV = "GATE_AUDIT_SCENARIO"
LABEL_LINE = re.compile(r"^(\S+)\. (.*)$")
Q_EPS = 1e-12


@dataclass(frozen=True)
class Run:
    """How a scenario's run is drawn: whose noise, what temperature, how far the key's logit moves."""

    tag: str
    temperature: float
    points: float = 0.0
    """Expected accuracy change in points (negative: a drop), solved into a logit shift per suite."""


def scenario_run(scenario: str) -> Run:
    """The :class:`Run` of a scenario name: base, same, redraw, flatter, sharper, shift:D, improve:D."""
    name, _, arg = scenario.partition(":")
    if name in ("base", "same"):
        return Run("base", BASE_TEMPERATURE)
    if name == "redraw":
        return Run("cand", BASE_TEMPERATURE)
    if name == "flatter":
        return Run("cand", BASE_TEMPERATURE * TEMPERATURE_FACTOR)
    if name == "sharper":
        return Run("cand", BASE_TEMPERATURE / TEMPERATURE_FACTOR)
    if name in ("shift", "improve") and arg:
        points = float(arg)
        if points <= 0:
            raise ValueError(f"scenario {scenario}: give a positive number of points")
        return Run("cand", BASE_TEMPERATURE, -points if name == "shift" else points)
    raise ValueError(f"unknown scenario {scenario!r}: base, same, redraw, flatter, sharper, shift:D, improve:D")


SCENARIOS = ("same", "redraw", "flatter", "sharper", "shift:1", "shift:2", "shift:3", "shift:5", "improve:3")


# --------------------------------------------------------------------------- seeding and noise


def rng_for(*parts: Any) -> np.random.Generator:
    """A generator seeded from the parts' text (stable across processes, unlike ``hash``)."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return np.random.default_rng([int.from_bytes(digest[i : i + 8], "little") for i in range(0, 32, 8)])


def gumbel_from_normal(z: float) -> float:
    """The standard Gumbel value with the same quantile as the standard normal ``z`` (tail-accurate)."""
    lower = 0.5 * math.erfc(-z / math.sqrt(2.0))  # Phi(z)
    upper = 0.5 * math.erfc(z / math.sqrt(2.0))  # 1 - Phi(z)
    minus_log_u = -math.log(lower) if lower < 0.5 else -math.log1p(-upper)
    return -math.log(minus_log_u)


def log_gamma_variate(rng: np.random.Generator, shape: float, size: int) -> np.ndarray:
    """log of Gamma(shape) draws, safe for small shapes (Gamma(1+a) * U^(1/a), in logs)."""
    return np.log(rng.gamma(1.0 + shape, size=size)) + np.log(rng.random(size)) / shape


# --------------------------------------------------------------------------- truth


@dataclass(frozen=True)
class ItemTruth:
    item_id: str
    question: str
    choices: tuple[str, ...]
    key: int
    log_pi: tuple[float, ...]
    """log probability of each option (original order) under the truth."""
    role: tuple[int, ...]
    """Role of each option: 0 the key, 1.. the distractors by falling probability."""
    cluster: str | None = None

    @property
    def q(self) -> float:
        return math.exp(self.log_pi[self.key])


@dataclass(frozen=True)
class SuiteSpec:
    name: str
    kind: str
    items: int
    replicate: int
    seed: int

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "items": self.items, "replicate": self.replicate, "seed": self.seed}


def suite_name(kind: str, items: int, replicate: int) -> str:
    return f"{kind}{items}_r{replicate:03d}"


WORDS = ("amber", "birch", "cedar", "dune", "ember", "fjord", "grove", "heath", "inlet", "juniper", "kelp", "larch")


def _item(spec: SuiteSpec, index: int, q: float, cluster: str | None) -> ItemTruth:
    item_id = f"q{index:04d}"
    rng = rng_for(spec.seed, spec.name, "item", item_id)
    key = int(rng.integers(OPTIONS))
    log_w = log_gamma_variate(rng, DIRICHLET, OPTIONS - 1)
    log_w -= np.logaddexp.reduce(log_w)
    q = min(max(q, Q_EPS), 1.0 - Q_EPS)
    distractors = [i for i in range(OPTIONS) if i != key]
    log_pi = [0.0] * OPTIONS
    log_pi[key] = math.log(q)
    for slot, value in zip(distractors, log_w, strict=True):
        log_pi[slot] = math.log1p(-q) + float(value)
    by_mass = sorted(distractors, key=lambda i: -log_pi[i])
    role = [0] * OPTIONS
    for rank, slot in enumerate(by_mass, start=1):
        role[slot] = rank
    words = rng.choice(len(WORDS), size=OPTIONS, replace=False)
    choices = tuple(f"{WORDS[w]} {item_id}" for w in words)
    return ItemTruth(
        item_id=item_id,
        question=f"[{spec.name} {item_id}] Which option is right?",
        choices=choices,
        key=key,
        log_pi=tuple(log_pi),
        role=tuple(role),
        cluster=cluster,
    )


def suite_truth(spec: SuiteSpec) -> list[ItemTruth]:
    """The items of one replicate suite (clustered kinds share q within clusters of 4)."""
    clustered = spec.kind.startswith("clustered")
    if clustered and spec.items % CLUSTER_SIZE:
        raise ValueError(f"{spec.name}: a clustered suite needs a multiple of {CLUSTER_SIZE} items")
    items = []
    for index in range(spec.items):
        if clustered:
            cluster = f"c{index // CLUSTER_SIZE:04d}"
            q = float(rng_for(spec.seed, spec.name, "cluster", cluster).beta(BETA_A, BETA_B))
        else:
            cluster = None
            q = float(rng_for(spec.seed, spec.name, "q", index).beta(BETA_A, BETA_B))
        items.append(_item(spec, index, q, cluster))
    return items


def data_rows(items: Sequence[ItemTruth]) -> list[dict[str, Any]]:
    """The suite's data file rows."""
    rows = []
    for item in items:
        row: dict[str, Any] = {
            "id": item.item_id,
            "question": item.question,
            "choices": list(item.choices),
            "answer": "ABCD"[item.key],
        }
        if item.cluster is not None:
            row["group"] = item.cluster
        rows.append(row)
    return rows


def logit_shift(qs: Sequence[float], points: float) -> float:
    """The amount ``d`` added to every key logit whose expected accuracy change over ``qs`` is ``points``/100.

    Expected accuracy of an item after the shift is ``q e^d / (q e^d + 1 - q)``.
    """
    if points == 0:
        return 0.0
    q = np.clip(np.asarray(qs, dtype=float), Q_EPS, 1 - Q_EPS)

    def change(d: float) -> float:
        return float(np.mean(q * math.exp(d) / (q * math.exp(d) + 1 - q) - q)) * 100

    target = points
    lo, hi = (0.0, 60.0) if points > 0 else (-60.0, 0.0)
    if not change(lo) <= target <= change(hi):
        raise ValueError(f"an expected change of {points} points is out of reach for these items")
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if change(mid) < target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def expected_accuracy(qs: Sequence[float], shift: float) -> float:
    q = np.asarray(qs, dtype=float)
    return float(np.mean(q * math.exp(shift) / (q * math.exp(shift) + 1 - q)))


# --------------------------------------------------------------------------- one run


class SuiteRun:
    """One run of the planted model on one suite: the noise and shift for every item and variant."""

    def __init__(self, spec: SuiteSpec, run: Run) -> None:
        self.spec = spec
        self.run = run
        self.items = {item.item_id: item for item in suite_truth(spec)}
        self.shift = logit_shift([item.q for item in self.items.values()], run.points)
        self._normals: dict[str, np.ndarray] = {}
        self._cluster: dict[str, np.ndarray] = {}

    def _cluster_normals(self, cluster: str) -> np.ndarray:
        if cluster not in self._cluster:
            self._cluster[cluster] = rng_for(
                self.spec.seed, self.spec.name, self.run.tag, "cluster", cluster
            ).standard_normal(OPTIONS)
        return self._cluster[cluster]

    def original_normals(self, item: ItemTruth) -> np.ndarray:
        """The normals behind the original variant's noise, per original option."""
        if item.item_id not in self._normals:
            own = rng_for(self.spec.seed, self.spec.name, self.run.tag, "noise", item.item_id).standard_normal(OPTIONS)
            if item.cluster is not None:
                shared = self._cluster_normals(item.cluster)[list(item.role)]
                own = math.sqrt(CLUSTER_RHO) * shared + math.sqrt(1 - CLUSTER_RHO) * own
            self._normals[item.item_id] = own
        return self._normals[item.item_id]

    def logprobs(self, item_id: str, variant: str, shown: Sequence[int | None]) -> tuple[float, ...]:
        """Reported log-probabilities of the options as shown (``shown``: original index, None for an added one)."""
        item = self.items[item_id]
        base = self.original_normals(item)
        fresh = None
        if variant or None in shown:
            fresh = rng_for(self.spec.seed, self.spec.name, self.run.tag, "variant", item_id, variant).standard_normal(
                len(shown)
            )
        added = sum(1 for s in shown if s is None)
        scale = math.log1p(-ADDED_OPTION_MASS) if added else 0.0
        logits = []
        for position, origin in enumerate(shown):
            if origin is None:
                assert fresh is not None
                normal = float(fresh[position])
                log_pi = math.log(ADDED_OPTION_MASS / added)
            else:
                normal = float(base[origin])
                if fresh is not None and variant:
                    normal = math.sqrt(VARIANT_RHO) * normal + math.sqrt(1 - VARIANT_RHO) * float(fresh[position])
                log_pi = item.log_pi[origin] + scale + (self.shift if origin == item.key else 0.0)
            logits.append((log_pi + gumbel_from_normal(normal)) / self.run.temperature)
        top = max(logits)
        norm = top + math.log(sum(math.exp(v - top) for v in logits))
        return tuple(v - norm for v in logits)

    def correct(self, item_id: str) -> bool:
        """Whether this run answers the original item right (for diagnostics, without the plugin)."""
        item = self.items[item_id]
        lps = self.logprobs(item_id, "", list(range(OPTIONS)))
        return max(range(OPTIONS), key=lambda i: lps[i]) == item.key


# --------------------------------------------------------------------------- the adapter


def parse_options(context: str) -> list[tuple[str, str]]:
    """(label, text) of each listed option in a rendered letter prompt, in the order shown."""
    found = []
    for line in context.splitlines():
        match = LABEL_LINE.match(line.strip())
        if match:
            found.append((match.group(1), match.group(2)))
    return found


@cache
def _project(root: str) -> dict[str, Any]:
    return json.loads((Path(root) / PROJECT_FILE).read_text())


class PlantedModel:
    """An instant adapter playing one scenario's run on every suite of a gate-audit project."""

    name = "gate-audit"
    fingerprint = None  # never cached across runs

    def __init__(self, root: Path, scenario: str) -> None:
        self.root = Path(root)
        self.scenario = scenario
        self.run = scenario_run(scenario)
        self._suites: dict[str, SuiteRun] = {}

    def _suite(self, name: str) -> SuiteRun:
        if name not in self._suites:
            entry = _project(str(self.root))["suites"].get(name)
            if entry is None:
                raise ValueError(f"suite {name} is not in {self.root / PROJECT_FILE}")
            spec = SuiteSpec(name, entry["kind"], entry["items"], entry["replicate"], entry["seed"])
            self._suites[name] = SuiteRun(spec, self.run)
        return self._suites[name]

    def loglikelihood(self, requests: Sequence[Any]) -> list[Any]:
        from pytest_medmodel import ChoiceResult

        out = []
        for request in requests:
            meta: Mapping[str, Any] = request.meta
            run = self._suite(str(meta["suite"]))
            item = run.items[str(meta["item"])]
            index = {text: i for i, text in enumerate(item.choices)}
            options = parse_options(request.context)
            if len(options) != len(request.continuations):
                raise ValueError(
                    f"{meta}: parsed {len(options)} options from the prompt but got {len(request.continuations)} labels"
                )
            for (label, _), continuation in zip(options, request.continuations, strict=True):
                if continuation.strip() != label:
                    raise ValueError(f"{meta}: option label {label!r} does not match continuation {continuation!r}")
            shown = [index.get(text) for _, text in options]
            if sorted(s for s in shown if s is not None) != list(range(OPTIONS)):
                raise ValueError(f"{meta}: the prompt does not list every original option once: {options}")
            out.append(ChoiceResult(run.logprobs(item.item_id, str(meta.get("variant") or ""), shown)))
        return out

    def describe(self) -> str:
        return f"gate-audit planted model, scenario {self.scenario}"


def make(options: Any = None) -> PlantedModel:
    """``--medmodel=py:gate_audit_model:make``: the scenario from ``GATE_AUDIT_SCENARIO``, the project from the root."""
    root = getattr(options, "root", None) or Path.cwd()
    scenario = os.environ.get(SCENARIO_ENV)
    if not scenario:
        raise ValueError(f"set {SCENARIO_ENV} to the scenario to play (e.g. base, redraw, shift:3)")
    return PlantedModel(Path(root), scenario)
