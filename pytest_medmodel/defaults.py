"""Importing this module registers every built-in scorer, metric, gate, perturbation, mutation and model resolver.

The package's ``__init__`` imports it, so anything that imports pytest_medmodel
(the pytest plugin, a script) sees the built-ins. All of them are light: no
torch, transformers or numpy at import time.
"""

from .gates import accuracy as _accuracy_gate
from .gates import agreement as _agreement_gate
from .gates import calibration as _calibration_gates
from .gates import groups as _group_gates
from .gates import probability as _probability_gate
from .gates import robustness as _robustness_gates
from .metrics import accuracy as _accuracy_metrics
from .models import specs as _model_specs
from .mutate import chat as _chat_mutations
from .mutate import layers as _layer_mutations
from .mutate import weights as _weight_mutations
from .perturb import choices as _choice_perturbations
from .perturb import text as _text_perturbations
from .scoring import choice as _choice_scoring
from .scoring import generate as _generation_scoring

__all__ = [
    "_accuracy_gate",
    "_accuracy_metrics",
    "_agreement_gate",
    "_calibration_gates",
    "_chat_mutations",
    "_group_gates",
    "_probability_gate",
    "_choice_perturbations",
    "_choice_scoring",
    "_generation_scoring",
    "_layer_mutations",
    "_model_specs",
    "_robustness_gates",
    "_text_perturbations",
    "_weight_mutations",
]
