"""How a medical image becomes the 2-D picture a model sees: the VOI window, the frame, the slice.

A PNG is a picture already; a CT series or a NIfTI volume is not. The same file
decoded with another window or slice is another input, so these settings are
part of the image's digest (only the ones that matter for its format: see
:meth:`DecodeSettings.for_family`). They come from a suite's YAML, so every
value is checked and every mistake is one line.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

from .errors import ImageError
from .formats import Family

MIDDLE: Literal["middle"] = "middle"

_FAMILY_KEYS: dict[Family, tuple[str, ...]] = {
    "pillow": (),
    "dicom": ("window", "frame"),
    "nifti": ("window", "slice_axis", "slice_index", "volume"),
}
"""The settings each decoder reads: the rest cannot change its output, so they stay out of its digest."""

_HINTS = {
    "window": "write e.g. window: [40, 400] (centre, width), or leave it out to use the file's own",
    "frame": "write a frame number counted from 0, or frame: middle",
    "slice_axis": "write 0, 1 or 2 (the volume's first, second or third axis)",
    "slice_index": "write a slice number counted from 0, or slice_index: middle",
    "volume": "write a volume number counted from 0",
}


@dataclass(frozen=True)
class DecodeSettings:
    """How to turn a DICOM or NIfTI file into one 2-D image; Pillow formats ignore all of it.

    Invalid values raise :class:`ImageError` on construction, so a settings object
    that exists is usable.
    """

    window: tuple[float, float] | None = None
    """The VOI window as (centre, width) in rescaled units (Hounsfield units for CT).

    None: the DICOM header's first WindowCenter/WindowWidth, or else (and always
    for NIfTI) the full range of the slice's rescaled values."""
    frame: int | Literal["middle"] = MIDDLE
    """The frame of a multi-frame DICOM, counted from 0; ``"middle"`` is frame ``n // 2``."""
    slice_axis: int = 2
    """The NIfTI voxel axis the slice is taken across (2: the third axis, axial for most scans)."""
    slice_index: int | Literal["middle"] = MIDDLE
    """The slice on ``slice_axis``, counted from 0; ``"middle"`` is slice ``n // 2``."""
    volume: int = 0
    """The volume of a 4-D NIfTI (a time point of an fMRI series), counted from 0."""

    def __post_init__(self) -> None:
        if isinstance(self.window, (tuple, list)) and len(self.window) == 2 and all(map(_is_number, self.window)):
            # (40, 400), [40, 400] and (40.0, 400.0) are one setting: same equality, hash and JSON.
            object.__setattr__(self, "window", (float(self.window[0]) + 0.0, float(self.window[1]) + 0.0))
        for f in fields(self):
            problem = _PROBLEMS[f.name](getattr(self, f.name))
            if problem:
                raise ImageError("image settings", f"{f.name}: {problem}", _HINTS[f.name])

    def to_json(self) -> dict[str, Any]:
        """Every setting as plain JSON values, in one canonical form (for digests and files)."""
        return {
            "window": list(self.window) if self.window is not None else None,
            "frame": self.frame,
            "slice_axis": self.slice_axis,
            "slice_index": self.slice_index,
            "volume": self.volume,
        }

    def for_family(self, family: Family) -> dict[str, Any]:
        """The settings that the decoder of ``family`` reads, as in :meth:`to_json`."""
        whole = self.to_json()
        return {key: whole[key] for key in _FAMILY_KEYS[family]}

    @classmethod
    def from_json(cls, data: Any, shown: str = "image settings") -> DecodeSettings:
        """Settings from a plain mapping, as written in YAML; every key is optional.

        ``window`` may be ``[centre, width]``, ``{center: c, width: w}`` (or ``centre``) or null.
        ``shown`` names where the mapping was written, for the error.

        Examples:
            >>> DecodeSettings.from_json({"window": [40, 400], "frame": 0}).window
            (40.0, 400.0)
        """
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise ImageError(shown, f"must be a mapping of settings, not {type(data).__name__}", _KEYS_HINT)
        unknown = sorted(str(key) for key in data if key not in _HINTS)
        if unknown:
            raise ImageError(shown, f"unknown setting '{unknown[0]}'", _KEYS_HINT)
        values = dict(data)
        if isinstance(values.get("window"), Mapping):
            values["window"] = _window_mapping(values["window"], shown)
        try:
            return cls(**values)
        except ImageError as exc:
            raise ImageError(shown, exc.problem, exc.fix) from None


_KEYS_HINT = "use " + ", ".join(_HINTS)


def _window_mapping(window: Mapping[Any, Any], shown: str) -> tuple[Any, Any]:
    centre_key = "centre" if "centre" in window else "center"
    if set(window) != {centre_key, "width"}:
        raise ImageError(shown, "window: needs exactly 'center' and 'width'", _HINTS["window"])
    return window[centre_key], window["width"]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _window_problem(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, tuple) or len(value) != 2 or not all(map(_is_number, value)):
        return f"must be two numbers (centre, width), not {_shown_value(value)}"
    centre, width = value
    if not (math.isfinite(centre) and math.isfinite(width)):
        return "centre and width must be finite numbers"
    return "" if width > 0 else f"width must be greater than 0 (got {width:g})"


def _index_problem(value: Any, middle: bool) -> str:
    if middle and value == MIDDLE:
        return ""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return ""
    return f"must be a whole number from 0{' or middle' if middle else ''}, not {_shown_value(value)}"


def _axis_problem(value: Any) -> str:
    ok = isinstance(value, int) and not isinstance(value, bool) and value in (0, 1, 2)
    return "" if ok else f"must be 0, 1 or 2, not {_shown_value(value)}"


def _shown_value(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


_PROBLEMS = {
    "window": _window_problem,
    "frame": lambda value: _index_problem(value, middle=True),
    "slice_axis": _axis_problem,
    "slice_index": lambda value: _index_problem(value, middle=True),
    "volume": lambda value: _index_problem(value, middle=False),
}
