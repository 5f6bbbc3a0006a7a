"""Text from outside the plugin, made harmless to store and to show.

A served model's id, a server's error body, a generated answer, a committed
baseline and a suite's data are written by someone else. Shown as they are, they
act: an ANSI escape or a carriage return rewrites the terminal, a bidi control
(U+202E) reorders what a reviewer reads, Markdown in a CI step summary renders
an image from anywhere or a link elsewhere, a line break adds a table row. And a
lone surrogate (valid JSON ``"\\udce9"``) is a ``str`` no UTF-8 file can hold.

Each function here does one of these jobs, and every place that stores or shows
such text calls it, so the rules live in one module:

* :func:`well_formed`: a lone surrogate becomes U+FFFD (at the adapter boundary
  and when suite data is read), so every file written later is valid UTF-8;
* :func:`inert`: control characters (C0, DEL, C1), bidi controls and surrogates
  shown as their escapes (``\\x1b``, ``\\u202e``), line breaks kept or folded;
* :func:`markdown_text` and :func:`markdown_code`: for ``report.md``;
* :func:`html_text`: for ``report.html``.
"""

from __future__ import annotations

import html
import re

LINE_BREAK = re.compile("\r\n|[\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
"""What ``str.splitlines`` breaks on but a lone carriage return, which returns the cursor over the same
line (how a forged line hides the real one): that is shown as ``\\r``."""
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
"""C0 (line breaks and tab are handled before), DEL, C1, the bidi controls and surrogates."""
MARKDOWN_ACTIVE = re.compile(r"[\\`*_\[\]|~$@]|:(?=//)|(?<=[wW]{3})\.")
"""What can start markup inside a line of GitHub Markdown: emphasis, code, links and images
(``[``, ``]``), table cells, strikethrough, math, and the autolinks (``http://``, ``www.``,
an e-mail address). ``<``, ``>`` and ``&`` are HTML-escaped; a field never starts a line
(it always follows our own text), so block markup (``#``, ``-``, ``>``) cannot begin."""


def well_formed(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD (a surrogate pair becomes its character)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def _escaped(match: re.Match[str]) -> str:
    return match.group().encode("unicode_escape").decode("ascii")


def inert(text: str, *, lines: bool = False) -> str:
    """``text`` with every character that acts instead of showing written as its escape (``\\x1b``).

    ``lines``: keep line breaks (each as ``\\n``) and tabs; otherwise fold both to spaces, so the
    text stays on the one line it was given.
    """
    text = LINE_BREAK.sub("\n" if lines else " ", text)
    if not lines:
        text = text.replace("\t", " ")
    return CONTROL.sub(_escaped, text)


def markdown_text(text: object) -> str:
    """Outside text as literal GitHub Markdown inside a line: no links, images, HTML or new rows."""
    return MARKDOWN_ACTIVE.sub(lambda m: "\\" + m.group(), html.escape(inert(str(text)), quote=False))


def markdown_code(text: object) -> str:
    """Outside text as a Markdown code span (literal by definition), fenced by more backticks than it holds.

    Not for table cells: there GitHub reads ``|`` as a cell border even inside a code span.
    """
    flat = inert(str(text))
    fence = "`" * (max((len(run) for run in re.findall("`+", flat)), default=0) + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") or not flat.strip(" ") else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def html_text(text: object) -> str:
    """Outside text as HTML text or an attribute value (line breaks kept, for ``<pre>``)."""
    return html.escape(inert(str(text), lines=True))
