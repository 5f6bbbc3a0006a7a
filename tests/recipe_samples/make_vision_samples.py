"""Writes the vision recipes' sample rows in each benchmark's published layout (run once; the outputs are committed).

The pictures are the project's own cuts of real images from installed packages
(``suites/images/recognition/``, made from pydicom, pydicom-data and
scikit-image test files; ``manifest.jsonl`` there says which file and which
DICOM Modality each comes from). Every question asks about something the
source file states (its DICOM Modality, or the package's description), so each
answer key can be checked against the manifest.

    .venv/bin/python tests/recipe_samples/make_vision_samples.py
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent
PICTURES = HERE.parents[1] / "suites" / "images" / "recognition"

CHEST_CR = "rg1-unci-test-000.png"  # RG1_UNCI.dcm: Modality CR, BodyPartExamined chest
ABDOMEN_CT = "explicit-vr-un-test-001.png"  # explicit_VR-UN.dcm: Modality CT, abdomen
HEAD_MR = "emri-small-test-001.png"  # emri_small.dcm: Modality MR, head
ULTRASOUND = "us1-unci-test-000.png"  # US1_UNCI.dcm: Modality US (a colour Doppler frame)

# VQA-RAD (flaviagiammarino/vqa-rad): columns image {bytes, path}, question, answer; answers lower case.
VQA_RAD = [
    (CHEST_CR, "is this a plain radiograph?", "yes"),
    (ABDOMEN_CT, "is this an mri?", "no"),
    (CHEST_CR, "what imaging modality was used?", "x-ray"),  # open: left out by the recipe's filter
    (HEAD_MR, "was this image acquired with magnetic resonance?", "yes"),
    (ULTRASOUND, "is this a ct scan?", "no"),
]


def vqa_rad() -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    image = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    schema = pa.schema([("image", image), ("question", pa.string()), ("answer", pa.string())])
    rows = [
        {"image": {"bytes": (PICTURES / name).read_bytes(), "path": name}, "question": q, "answer": a}
        for name, q, a in VQA_RAD
    ]
    folder = HERE / "vqa_rad"
    folder.mkdir(exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), folder / "test.parquet")


def main() -> None:
    vqa_rad()


if __name__ == "__main__":
    main()
