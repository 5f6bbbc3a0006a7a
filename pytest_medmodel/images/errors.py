"""The one error type of the image core: one line, naming where the image came from and what is wrong.

An image reference comes from a user's suite data, so the error is raised at
collection or request time and shown to someone who must fix a file. It names
``shown`` (the path relative to the data file, or ``row 12, column image``) and
never any value read from inside the image: a DICOM or NIfTI header can hold a
patient's name, IDs and dates, and CI logs are kept and shared.
"""

from __future__ import annotations

from ..text_safety import inert

SHOWN_CHARS = 200
"""How much of ``shown`` an error keeps: a reference can be a long base64 value or path."""


def clip(text: str, limit: int = 80) -> str:
    """``text`` cut to ``limit`` characters (with an ellipsis), for values taken from suite data."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


class ImageError(ValueError):
    """An image that cannot be used, described in one line: ``<shown>: <problem>[; <fix>]``.

    A ``ValueError``, so code that validates data catches it with the rest.
    Every part is made inert and folded onto one line: ``shown`` and the problem
    may carry a file name or a library's message with a line break or an escape.

    Attributes:
        shown: where the image came from, as the user wrote it.
        problem: what is wrong.
        fix: what would make it right ("" when there is nothing to suggest).
    """

    def __init__(self, shown: str, problem: str, fix: str = "") -> None:
        self.shown = clip(inert(shown), SHOWN_CHARS)
        self.problem = inert(problem)
        self.fix = inert(fix)
        super().__init__(f"{self.shown}: {self.problem}" + (f"; {self.fix}" if self.fix else ""))
