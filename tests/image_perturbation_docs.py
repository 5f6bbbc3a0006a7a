"""Builds docs/images.md's before/after pictures from the real image perturbations (a test keeps them in sync).

    python tests/image_perturbation_docs.py     # rewrite docs/pictures/ after a deliberate change

Each picture is what the model receives for one variant of one shipped item
(with its suite's seeds and settings: image_changes for the pixel operations and
ablations, dicom_windows for the VOI windows and the plain flip, fundus_sides for
the flip that swaps the answer), pictures up to 128 pixels enlarged twice with
nearest-neighbour so every pixel stays visible.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHOWN = (
    ("image_changes", ("mr-001", "mr-081")),  # a CT slice and an MRI slice cut to 64 x 64
    ("dicom_windows", ("dw-001", "dw-006")),  # whole DICOM files: CT 128 x 128, MR 64 x 64
    ("fundus_sides", ("fs-001",)),  # the fundus photograph, 192 x 192
)
"""Each suite under suites/robustness and the items of it shown."""
FOLDER = ROOT / "docs" / "pictures"
ZOOM = 2


def pictures() -> dict[str, Any]:
    """``{"<item>-<variant>.png": PIL image}`` for the original and every image variant of each shown item."""
    from pytest_medmodel import load_suite, suite_variants

    out = {}
    for suite_name, items in SHOWN:
        variants = suite_variants(load_suite(ROOT / "suites" / "robustness" / f"{suite_name}.suite.yaml"))
        for key, variant in variants.items():
            if key.split("/")[0] not in items or not variant.images:
                continue
            picture = variant.images[0].load()
            name = key.replace("/", "-") if "/" in key else f"{key}-original"
            zoom = ZOOM if max(picture.size) <= 128 else 1
            out[f"{name}.png"] = picture.resize((picture.width * zoom, picture.height * zoom), resample=0)
    return out


def write() -> None:
    FOLDER.mkdir(parents=True, exist_ok=True)
    for name, picture in pictures().items():
        picture.save(FOLDER / name, optimize=True)
        print(f"wrote docs/pictures/{name}")


if __name__ == "__main__":
    write()
