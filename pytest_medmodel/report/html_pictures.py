"""The pictures of one suite's section of ``report.html``: each chosen item's image beside its variant's.

Each distinct thumbnail is written once, as a CSS rule holding its ``data:`` URI,
and every place that shows it names the rule: a picture that ten variants share
costs its bytes once. The page is rendered from ``report.json``, which may come
from elsewhere (``python -m pytest_medmodel report``), so a thumbnail is used only
when its id is a digest and its URI a base64 JPEG: nothing else reaches the page.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ..text_safety import html_text
from .html_parts import table

DIGEST = re.compile(r"[0-9a-f]{16}")
JPEG_URI = re.compile(r"data:image/jpeg;base64,[A-Za-z0-9+/]+=*")
LARGEST = 256
"""A thumbnail is never drawn larger than this, whatever a report file says."""
STYLE = ".thumb{display:inline-block;background-size:contain;background-repeat:no-repeat;border:1px solid #d0d7de}"


def pictures_section(s: Mapping[str, Any], index: int) -> str:
    """The suite's pictured items, or nothing when the suite has none."""
    pictures = s.get("pictures")
    if not pictures or not (pictures["items"] or pictures["left_out"]):
        return ""
    usable = _usable(pictures["images"])
    rows_by_key = {row["key"]: row for row in s["items"]}
    body = [_row(p, usable, rows_by_key, index) for p in pictures["items"]]
    left = pictures["left_out"]
    more = f"; {left} more left out: the report's picture budget was spent, or the image no longer decodes"
    said = f"{len(body)} items, each picture as the model received it (downscaled){more if left else ''}."
    intro = f'<p class="muted">{said}</p>'
    head = ["item", "why it is shown", "image", "variant's image", "answers"]
    return (
        f"<style>{STYLE}{_rules(usable, f't{index}')}</style>\n"
        f'<h3 class="pictures">Pictures of items that changed: {len(body)}</h3>\n{intro}'
        + (table(head, body) if body else "")
    )


def _row(pictured: Mapping[str, Any], usable: Mapping[str, Any], rows: Mapping[str, Any], index: int) -> list[str]:
    variant = pictured["variant"]
    return [
        f"<code>{html_text(pictured['key'])}</code>",
        html_text(pictured["why"]),
        _thumbs(pictured["original"], usable, f"t{index}"),
        "–" if variant is None else (_thumbs(variant, usable, f"t{index}") or '<span class="muted">(no image)</span>'),
        _answers(pictured["key"], rows),
    ]


def search_pictures_section(found: Mapping[str, Any] | None) -> str:
    """The search's image flips: the picture before and after the mildest change that flipped the answer."""
    if not found or not found["flips"]:
        return ""
    usable = _usable(found["images"])
    rows = [
        [
            f"<code>{html_text(f['suite'])}::{html_text(f['item_id'])}</code>",
            html_text(f["change"]),
            _thumbs(f["before"], usable, "ts"),
            _thumbs(f["after"], usable, "ts"),
            html_text(f["answer"]),
        ]
        for f in found["flips"]
    ]
    head = ["item", "the smallest change found", "before", "after", "answer after"]
    return f"<style>{STYLE}{_rules(usable, 'ts')}</style>\n" + table(head, rows)


def _usable(images: Mapping[str, Any]) -> dict[str, Any]:
    """The thumbnails whose id is a digest and whose URI is a base64 JPEG (anything else is dropped)."""
    return {k: v for k, v in images.items() if DIGEST.fullmatch(k) and JPEG_URI.fullmatch(v["uri"])}


def _rules(usable: Mapping[str, Any], prefix: str) -> str:
    return "".join(f".{prefix}-{k}{{background-image:url({v['uri']})}}" for k, v in sorted(usable.items()))


def _thumbs(ids: Sequence[str], usable: Mapping[str, Any], prefix: str) -> str:
    out = []
    for k in ids:
        if k not in usable:
            continue
        width, height = (min(max(int(usable[k][side]), 1), LARGEST) for side in ("width", "height"))
        out.append(
            f'<span class="thumb {prefix}-{k}" role="img" aria-label="image {k}" '
            f'style="width:{width}px;height:{height}px"></span>'
        )
    return " ".join(out)


def _answers(key: str, rows: Mapping[str, Any]) -> str:
    """The answer now against the key, and the baseline's or the original's answer."""
    row = rows.get(key)
    if row is None:
        return "–"
    shown = f'<span class="{"passed" if row["correct"] else "failed"}">{html_text(row["answer"])}</span>'
    lines = [f"now {shown}, key {html_text(row['expected'])}"]
    if row.get("baseline"):
        lines.append(f"baseline {html_text(row['baseline']['answer'])}")
    if row["variant"]:
        original = rows.get(row["item_id"])
        if original is not None:
            lines.append(f"without the change {html_text(original['answer'])}")
    return "<br>".join(lines)
