"""A request's context cut at its image marks, the way a chat turn takes it."""

from __future__ import annotations

from .base import IMAGE_MARK


def turn_pieces(text: str, images: int) -> list[str]:
    """The text around each image mark as a chat turn takes it: ``images + 1`` pieces, some maybe empty.

    The newline that sets an image off from the text in a plain prompt is left to the
    model's chat template (most put an image on its own line themselves), so the
    in-process adapters and a server that applies the template see the same turn.
    """
    pieces = text.split(IMAGE_MARK)
    if len(pieces) != images + 1:
        raise ValueError(f"{len(pieces) - 1} image mark(s) for {images} image(s)")
    return [
        piece.removeprefix("\n" if number else "").removesuffix("\n" if number < images else "")
        for number, piece in enumerate(pieces)
    ]
