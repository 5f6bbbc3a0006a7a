"""The report's thumbnails, made by the reporting process from the suite files.

The reporting process (serial, or the xdist controller) holds every score but
no picture: it reads the suite again, as it does for the prompts, and decodes
only the images of the items :func:`~pytest_medmodel.report.pictures.chosen_items`
picks, once per distinct picture. A picture that no longer decodes is left out
and counted; the report is still written.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from ...images.errors import ImageError
from ...images.ref import ImageRef
from ...perturb.base import PERTURBATIONS
from ...records import ItemScore
from ...report.pictures import RELIANCE_GATE, ImageIds, Picture, PictureBudget, SuitePictures, chosen_items
from ...report.summary import SuiteSummary
from ...suite.types import ORIGINAL, Suite, SuiteError, Variant, split_key
from ..session import TestSession


def suite_pictures(
    config: pytest.Config,
    session: TestSession,
    suite_key: str,
    row: SuiteSummary,
    scores: Mapping[str, ItemScore],
    outcomes: Mapping[str, str],
    budget: PictureBudget,
    share: int,
) -> SuitePictures | None:
    """A suite's pictured items within ``share`` bytes of ``budget``; None for a suite without images."""
    try:
        suite = session.load_suite(Path(config.rootpath) / suite_key)
        variants = session.variants(suite_key, suite)
    except SuiteError:
        return None
    if not any(item.images for item in suite.items):
        return None
    changes, ablations = _image_labels(suite, variants)
    reliance = [g for g in row.gates if g.gate == RELIANCE_GATE]
    passed = all(g.status in ("passed", "accepted") for g in reliance)
    chosen = chosen_items(scores, outcomes, changes, ablations, passed)
    refs = {image.digest: image for variant in variants.values() for image in variant.images}
    return budget.fill(chosen, lambda key: _images_of(variants, key), lambda digest: thumbnail_of(refs[digest]), share)


def _image_labels(suite: Suite, variants: Mapping[str, Variant]) -> tuple[list[str], list[str]]:
    """The labels of the suite's image perturbations (those that change a picture) and of its ablations."""
    ablations = [use.label for use in suite.perturbations if PERTURBATIONS.get(use.name).ablation]
    changed = {v.family for v in variants.values() if v.family != ORIGINAL and v.images != _original(variants, v)}
    changes = [use.label for use in suite.perturbations if use.label in changed and use.label not in ablations]
    return changes, ablations


def _original(variants: Mapping[str, Variant], variant: Variant) -> tuple[ImageRef, ...]:
    original = variants.get(variant.item_id)
    return original.images if original is not None else ()


def _images_of(variants: Mapping[str, Variant], key: str) -> ImageIds | None:
    variant = variants.get(key)
    if variant is None:
        return None
    item_id, name = split_key(key)
    original = variants.get(item_id)
    own = tuple(image.digest for image in (original or variant).images)
    return (own, tuple(image.digest for image in variant.images)) if name else (own, None)


def thumbnail_of(ref: ImageRef) -> Picture | None:
    """The thumbnail of ``ref``; None when it does not decode (it is left out and counted)."""
    from ...images.thumbnail import thumbnail  # Pillow: only when a report has pictures

    try:
        small = thumbnail(ref)
    except (ImageError, OSError, ValueError):
        return None
    return Picture(small.uri, small.width, small.height)
