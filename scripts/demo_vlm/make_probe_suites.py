"""Write the ProbMed-style and MediConfusion-style image suites' items from the recognition items.

Every key here follows from the recognition items' own keys, which follow from each
image's provenance (``suites/data/modality_recognition.jsonl``: the source file's
DICOM Modality / BodyPartExamined, or the package's documentation), so no new fact
is asserted:

* ``image_probes.jsonl`` (ProbMed's paired probes): per image, yes/no questions in
  pairs, the true attribute ("Is this a CT scan?", yes) and a hallucinated one
  ("Is this an MRI scan?", no, another modality drawn with a seeded generator);
  likewise for the body region where the image's region is documented. A region the
  image may also show (the heart, the shoulders or the upper abdomen on a chest
  film; the head around an eye) is never asked as the hallucinated one. All the
  questions about one image are one probe group: their answers are not
  independent, so the statistics count the image once.
* ``image_confusion.jsonl`` (MediConfusion's pairs): two different images of
  different modalities, one question, the same options, different answers; a model
  that gives both the same answer is confused.

    python scripts/demo_vlm/make_probe_suites.py      # from the repository root; deterministic
"""

from __future__ import annotations

import json
import random
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "suites" / "data"
SEED = 20261207
PHRASE = {
    "CT": "a CT scan",
    "MRI": "an MRI scan",
    "X-ray radiograph": "an X-ray radiograph",
    "Ultrasound": "an ultrasound image",
    "Fundus photograph": "a fundus photograph",
    "Microscopy": "a microscopy image",
}
"""Each modality option as the object of "Is this ...?"."""
NEARBY = {
    "Chest": {"Heart", "Shoulder", "Abdomen"},  # a chest film shows the heart, the shoulders and the upper abdomen
    "Heart": {"Chest", "Abdomen"},
    "Abdomen": {"Chest", "Heart"},  # abdominal images often reach the lung bases and the heart
    "Shoulder": {"Chest"},
    "Eye": {"Head"},
    "Head": {"Eye"},
}
"""Regions an image of the key region may also show: never asked as its hallucinated region (the answer
"no" could be wrong)."""


def _rows() -> list[dict]:
    text = (DATA / "modality_recognition.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _key(row: dict) -> str:
    return row["choices"]["ABCDE".index(row["answer"])]


def probes(rows: list[dict], rng: random.Random) -> list[dict]:
    modalities = sorted({_key(r) for r in rows if r["asks"] == "modality"})
    regions = sorted({_key(r) for r in rows if r["asks"] == "region"})
    out = []
    for row in rows:
        truth = _key(row)
        if row["asks"] == "modality":
            false = rng.choice([m for m in modalities if m != truth])
            asked = [f"Is this {PHRASE[truth]}?", f"Is this {PHRASE[false]}?"]
        else:
            false = rng.choice([r for r in regions if r != truth and r not in NEARBY.get(truth, ())])
            asked = [f"Does this image show the {truth.lower()}?", f"Does this image show the {false.lower()}?"]
        group = "pb-" + Path(row["image"]).stem
        kind = row["asks"][0]  # m(odality) or r(egion)
        for member, (question, answer) in zip("ab", ((asked[0], "yes"), (asked[1], "no")), strict=True):
            out.append(
                {
                    "id": f"{group}-{kind}{member}",
                    "group": group,
                    "image": row["image"],
                    "question": question,
                    "answer": answer,
                    "category": row["asks"],
                    "modality": row["modality"],
                }
            )
    return out


def confusion_pairs(rows: list[dict], rng: random.Random, pairs: int = 60) -> list[dict]:
    by_modality: dict[str, list[dict]] = {}
    for row in rows:
        if row["asks"] == "modality":
            by_modality.setdefault(_key(row), []).append(row)
    names = sorted(by_modality)
    for images in by_modality.values():
        rng.shuffle(images)
    out = []
    for number in range(1, pairs + 1):
        left = [m for m in names if by_modality[m]]  # every image in one pair at most: pairs are independent
        if len(left) < 2:
            break
        first, second = rng.sample(left, 2)
        a, b = by_modality[first].pop(), by_modality[second].pop()
        others = [m for m in names if m not in (first, second)]
        options = [first, second, *rng.sample(others, 2)]
        rng.shuffle(options)
        group = f"cf-{number:03d}"
        for member, row, truth in (("a", a, first), ("b", b, second)):
            out.append(
                {
                    "id": f"{group}{member}",
                    "group": group,
                    "image": row["image"],
                    "question": "Which imaging modality produced this image?",
                    "choices": options,
                    "answer": "ABCD"[options.index(truth)],
                    "pair": f"{first} / {second}",
                }
            )
    return out


def main() -> None:
    rows = _rows()
    rng = random.Random(SEED)
    for name, items in (("image_probes", probes(rows, rng)), ("image_confusion", confusion_pairs(rows, rng))):
        path = DATA / f"{name}.jsonl"
        path.write_text("".join(json.dumps(item) + "\n" for item in items), encoding="utf-8")
        print(f"{path}: {len(items)} items")


if __name__ == "__main__":
    main()
