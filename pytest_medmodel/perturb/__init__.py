"""Perturbations: deterministic variants of an item (see :mod:`.base`)."""

from .base import PERTURBATIONS, Perturb, Perturbation, perturbation, seed_for, variants_of

__all__ = ["PERTURBATIONS", "Perturb", "Perturbation", "perturbation", "seed_for", "variants_of"]
