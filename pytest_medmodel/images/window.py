"""The linear VOI window: rescaled values (Hounsfield units, MR signal) to the 0..255 a picture holds.

One formula for DICOM, NIfTI and 16-bit pictures, so a window means the same
thing everywhere. With centre ``c`` and width ``w``::

    low = c - w / 2
    out = floor(clip((value - low) / w, 0, 1) * 255 + 0.5)

so ``low`` and below are 0, ``c + w / 2`` and above are 255, and the values in
between are spread evenly and rounded half up. This is the plain form, not the
DICOM standard's (PS3.3 C.11.2.1.2.1, with its ``- 0.5`` and ``w - 1`` terms);
the two differ by at most one grey level. NaN becomes 0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


def full_range(values: npt.NDArray[np.float64]) -> tuple[float, float] | None:
    """The window spanning the finite values' min..max, or None when they are all equal (or none is finite)."""
    import numpy as np

    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return None
    low, high = float(finite.min()), float(finite.max())
    return ((low + high) / 2, high - low) if high > low else None


def to_uint8(values: npt.NDArray[np.float64], window: tuple[float, float] | None) -> npt.NDArray[np.uint8]:
    """``values`` through the window (centre, width) above; None takes :func:`full_range`.

    An image whose values are all equal has no range to spread: it becomes all 0.
    ``values`` is used as scratch space (it is a float copy made for this call).
    """
    import numpy as np

    window = window or full_range(values)
    if window is None:
        return np.zeros(values.shape, dtype=np.uint8)
    centre, width = window
    values -= centre - width / 2
    values /= width
    np.clip(values, 0.0, 1.0, out=values)
    values *= 255.0
    values += 0.5
    np.floor(values, out=values)
    np.nan_to_num(values, copy=False, nan=0.0)
    return values.astype(np.uint8)
