"""Builds docs/images.md's before/after pictures from the real image perturbations (a test keeps them in sync).

    python tests/image_perturbation_docs.py     # rewrite docs/pictures/ after a deliberate change

Each picture is what the model receives for one variant of one shipped item
(suites/robustness/image_changes: its seeds, its settings), enlarged twice with
nearest-neighbour so every pixel stays visible.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SUITE = ROOT / "suites" / "robustness" / "image_changes.suite.yaml"
ITEMS = ("mr-001", "mr-081")
"""A CT slice and an MRI slice (64 x 64 each; the docs show them twice as large)."""
FOLDER = ROOT / "docs" / "pictures"
ZOOM = 2


def pictures() -> dict[str, Any]:
    """``{"<item>-<variant>.png": PIL image}`` for the original and every image variant of each shown item."""
    from pytest_medmodel import load_suite, suite_variants

    suite = load_suite(SUITE)
    variants = suite_variants(suite)
    out = {}
    for item_id in ITEMS:
        for key, variant in variants.items():
            if key.split("/")[0] != item_id or not variant.images:
                continue
            picture = variant.images[0].load()
            name = key.replace("/", "-") if "/" in key else f"{key}-original"
            out[f"{name}.png"] = picture.resize((picture.width * ZOOM, picture.height * ZOOM), resample=0)
    return out


def write() -> None:
    FOLDER.mkdir(parents=True, exist_ok=True)
    for name, picture in pictures().items():
        picture.save(FOLDER / name, optimize=True)
        print(f"wrote docs/pictures/{name}")


if __name__ == "__main__":
    write()
