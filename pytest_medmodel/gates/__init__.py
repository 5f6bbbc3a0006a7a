"""Gates: rules that pass or fail the build (see :mod:`.base`)."""

from ..stats.paired import PairedStats
from .base import GATES, Gate, GateContext, GateResult, gate, run_gate
from .comparison import Comparison, compare

__all__ = ["GATES", "Comparison", "Gate", "GateContext", "GateResult", "PairedStats", "compare", "gate", "run_gate"]
