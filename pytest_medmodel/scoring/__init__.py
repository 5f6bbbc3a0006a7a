"""Scorers: letter and option-text log-likelihood (see :mod:`.base` for the protocol)."""

from .base import SCORERS, Scorer, register_scorer, unservable

__all__ = ["SCORERS", "Scorer", "register_scorer", "unservable"]
