"""Importing this module registers every built-in scorer, metric, gate, perturbation and model resolver.

The package's ``__init__`` imports it, so anything that imports pytest_medmodel
(the pytest plugin, a script) sees the built-ins. All of them are light: no
torch, transformers or numpy at import time.
"""

from .gates import accuracy as _accuracy_gate
from .metrics import accuracy as _accuracy_metrics
from .models import specs as _model_specs
from .perturb import choices as _choice_perturbations
from .scoring import choice as _choice_scoring

__all__ = ["_accuracy_gate", "_accuracy_metrics", "_choice_perturbations", "_choice_scoring", "_model_specs"]
