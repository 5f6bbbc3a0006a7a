"""Reports: the plain-data run summary (:mod:`.summary`) and its renderings (:mod:`.terminal`)."""

from .summary import GateVerdict, ModelSummary, RunSummary, SuiteSummary

__all__ = ["GateVerdict", "ModelSummary", "RunSummary", "SuiteSummary"]
