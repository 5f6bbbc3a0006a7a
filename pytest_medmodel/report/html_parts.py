"""Small HTML building blocks shared by the report's page and its suite sections."""

from __future__ import annotations

from typing import Any

from ..text_safety import html_text


def num(value: Any) -> str:
    """A right-aligned numeric cell (escaped)."""
    return f'<td class="num">{html_text(value)}</td>'


def table(head: list[str], rows: list[list[str]], header: bool = True) -> str:
    """An HTML table of cells that are already HTML (callers escape text); a cell may be a whole ``<td>``."""
    out = ["<table>"]
    if header:
        out.append("<tr>" + "".join(f"<th>{html_text(h)}</th>" for h in head) + "</tr>")
    for row in rows:
        cells = [c if c.startswith("<td") else f"<td>{c}</td>" for c in row]
        out.append("<tr>" + "".join(cells) + "</tr>")
    return "\n".join([*out, "</table>"])


def status(value: str) -> str:
    return f'<span class="{html_text(value)}">{html_text(value)}</span>'
