"""Built-in choice perturbations (position bias probes)."""

from __future__ import annotations

import random

from ..suite.types import Variant
from .base import Perturb, perturbation


@perturbation("reverse_choices")
def reverse_choices() -> Perturb:
    """Show the options in reverse order; a model that reads them answers the same content."""

    def apply(variant: Variant, rng: random.Random) -> Variant:
        return variant.reordered(range(len(variant.choices) - 1, -1, -1))

    return apply
