"""Write suites/data/modality_recognition.jsonl: multiple-choice items over the TEST images only.

    python scripts/demo_vlm/make_items.py

Every image gets a modality question; an image whose region is documented (its
manifest row has one) also gets a region question. Answer keys come from the
manifest and nothing else. Distractors are drawn (seeded by the image's file name)
from the same vocabulary, never a region that contains the answer or is contained
by it (heart/chest, eye/head); the answer's letter cycles through the letters, so
every letter is the answer about equally often.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from cut_images import ROOT, TEST_DIR
from labels import SUITE_QUESTION, distractor_pool, option_texts

OUT = ROOT / "suites" / "data" / "modality_recognition.jsonl"


def item(row: dict[str, object], kind: str, count: int, position: int, number: int) -> dict[str, object]:
    """One item: ``count`` options with the answer at ``position``."""
    answer = str(row[kind])
    rng = random.Random(f"{row['file']}:{kind}")
    wrong = rng.sample(distractor_pool(kind, answer), count - 1)
    keys = wrong[:position] + [answer] + wrong[position:]
    texts = option_texts(kind)
    image = Path(TEST_DIR / str(row["file"])).relative_to(OUT.parent.parent)
    return {
        "id": f"mr-{number:03d}",
        "image": f"../{image.as_posix()}",
        "question": SUITE_QUESTION[kind],
        "choices": [texts[k] for k in keys],
        "answer": "ABCDE"[position],
        "modality": row["modality"],
        "region": row["region"],
        "source": row["source"],
        "asks": kind,
    }


def build(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """Items for every test row, in manifest order; answer positions cycle per option count."""
    items: list[dict[str, object]] = []
    cycle = {4: 0, 5: 0}
    for index, row in enumerate(rows):
        if row["split"] != "test":
            raise SystemExit(f"{row['file']} is a {row['split']} image; items use test images only")
        asks = [("modality", 5 if index % 2 else 4)] + ([("region", 4)] if row["region"] else [])
        for kind, count in asks:
            items.append(item(row, kind, count, cycle[count] % count, len(items) + 1))
            cycle[count] += 1
    return items


def main() -> None:
    rows = [json.loads(line) for line in (TEST_DIR / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]
    items = build(rows)
    OUT.write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
    letters: dict[str, int] = {}
    for i in items:
        letters[str(i["answer"])] = letters.get(str(i["answer"]), 0) + 1
    print(f"{len(items)} items -> {OUT}; answers {dict(sorted(letters.items()))}")


if __name__ == "__main__":
    main()
