"""DICOM to one RGB picture: modality LUT (rescale), VOI window, MONOCHROME1 inverted, colour kept.

Steps, for a monochrome image (PS3.3 C.11):

1. the frame: ``settings.frame`` (``middle``: ``n // 2``) of a multi-frame file;
   only that frame is decoded (pydicom's ``index``), so a long series costs one frame;
2. the modality LUT as rescale: ``value = stored * RescaleSlope + RescaleIntercept``
   (1 and 0 when absent; a Modality LUT Sequence is not applied);
3. the VOI window, linear (:mod:`.window`): ``settings.window``, else the header's
   first WindowCenter/WindowWidth (a width <= 0 counts as none), else the
   frame's min..max; a VOI LUT Sequence and a sigmoid VOI LUT Function are not applied;
4. MONOCHROME1 (where low values are white) inverted after windowing: ``255 - out``.

RGB and YBR colour images (ultrasound, photographs) are converted to RGB by
pydicom and not windowed; PALETTE COLOR goes through its colour table.

A DICOM header holds a patient's name, IDs, dates and free text. None of it is
ever put in a message: errors name ``shown`` and the problem, and numbers are
shown only after they were parsed as numbers. pydicom's own warnings (which
quote values) are silenced while it reads.
"""

from __future__ import annotations

import io
import warnings
from typing import TYPE_CHECKING, Any

from .errors import ImageError
from .formats import check_pixels
from .settings import MIDDLE, DecodeSettings

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from PIL import Image
    from pydicom.dataset import Dataset

_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


def decode_dicom(data: bytes, shown: str, settings: DecodeSettings) -> Image.Image:
    """One frame of a DICOM file as an RGB picture; see the module docstring for the steps."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = _read(data, shown)
        rows, columns, frames, samples = _geometry(dataset, shown, forced=data[128:132] != b"DICM")
        check_pixels(shown, columns, rows, "each frame")
        index = _frame(settings, frames, shown)
        pixels = _pixels(dataset, index, shown)
        photometric = _text(dataset, "PhotometricInterpretation")
        if samples == 3:
            rgb = _colour_to_8_bits(pixels, dataset)
        elif photometric == "PALETTE COLOR":
            rgb = _palette(pixels, dataset, shown)
        else:
            rgb = _monochrome(pixels, dataset, settings, shown, invert=photometric == "MONOCHROME1")
    if rgb.shape[:2] != (rows, columns):
        raise ImageError(shown, "pixel data does not match the image size in its header", "export the file again")
    return Image.fromarray(rgb).convert("RGB")


def _read(data: bytes, shown: str) -> Dataset:
    """The dataset; ``force`` only for files without the ``DICM`` marker (chosen by their ``.dcm`` name)."""
    import pydicom

    try:
        return pydicom.dcmread(io.BytesIO(data), force=data[128:132] != b"DICM")
    except Exception as exc:  # hostile bytes make pydicom raise anything; its message may quote values
        raise ImageError(shown, f"cannot be read as DICOM ({type(exc).__name__})", "export the file again") from None


def _geometry(dataset: Dataset, shown: str, *, forced: bool) -> tuple[int, int, int, int]:
    """Rows, columns, frames and samples per pixel, from the header, before any pixel is read."""
    if not any(keyword in dataset for keyword in _PIXEL_KEYWORDS) and forced:
        raise ImageError(shown, "is not a DICOM image (no 'DICM' marker, and no pixel data)", "check the file")
    if not any(keyword in dataset for keyword in _PIXEL_KEYWORDS):
        raise ImageError(
            shown,
            "is a DICOM file without pixel data (no PixelData element)",
            "point the item at an image file, not a report or structured document",
        )
    rows = _whole(dataset, "Rows", shown)
    columns = _whole(dataset, "Columns", shown)
    frames = _whole(dataset, "NumberOfFrames", shown, default=1)
    samples = _whole(dataset, "SamplesPerPixel", shown, default=1)
    if samples not in (1, 3):
        raise ImageError(shown, f"has {samples} samples per pixel; 1 (grey) or 3 (colour) can be shown")
    if frames < 1:
        raise ImageError(shown, "says it has no frames (NumberOfFrames)", "export the file again")
    return rows, columns, frames, samples


def _whole(dataset: Dataset, keyword: str, shown: str, default: int | None = None) -> int:
    value = _value(dataset, keyword)
    if value in (None, "") and default is not None:
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        problem = f"has no {keyword}" if value is None else f"has a {keyword} that is not a whole number"
        raise ImageError(shown, problem, "export the file again") from None


def _number(dataset: Dataset, keyword: str, shown: str) -> float | None:
    """A numeric header value (the first of several), or None when absent; never shown in a message."""
    value = _value(dataset, keyword)
    if value is not None and not isinstance(value, (str, bytes, int, float)):
        value = value[0] if len(value) else None  # a multi-valued element: the first value
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ImageError(shown, f"has a {keyword} that is not a number", "fix the header, or set window:") from None


def _value(dataset: Dataset, keyword: str) -> Any:
    try:
        element = dataset.get(keyword)
    except Exception:  # a malformed element fails when first read, with a message that may quote it
        return None
    return getattr(element, "value", element)


def _text(dataset: Dataset, keyword: str) -> str:
    value = _value(dataset, keyword)
    return value.strip().upper() if isinstance(value, str) else ""


def _frame(settings: DecodeSettings, frames: int, shown: str) -> int:
    index = frames // 2 if settings.frame == MIDDLE else int(settings.frame)
    if index >= frames:
        raise ImageError(
            shown, f"frame {index} is out of range: the file has {frames} frame(s)", "set frame: to 0 or middle"
        )
    return index


def _pixels(dataset: Dataset, index: int, shown: str) -> npt.NDArray[Any]:
    """The stored values of one frame (colour already RGB); decoding errors name only their type."""
    try:
        dataset.pixel_array_options(index=index, as_rgb=True)
        return dataset.pixel_array
    except Exception as exc:  # missing codecs, short or damaged pixel data, inconsistent tags
        compressed = "compressed " if _is_compressed(dataset) else ""
        hint = "install pydicom's decoders (pylibjpeg), or " if compressed else ""
        raise ImageError(
            shown, f"{compressed}pixel data cannot be decoded ({type(exc).__name__})", f"{hint}export the file again"
        ) from None


def _is_compressed(dataset: Dataset) -> bool:
    try:
        return bool(dataset.file_meta.TransferSyntaxUID.is_compressed)
    except Exception:
        return False


def _monochrome(
    pixels: npt.NDArray[Any], dataset: Dataset, settings: DecodeSettings, shown: str, *, invert: bool
) -> npt.NDArray[np.uint8]:
    import numpy as np

    from .window import to_uint8

    slope = _number(dataset, "RescaleSlope", shown)
    intercept = _number(dataset, "RescaleIntercept", shown)
    if pixels.ndim != 2:
        raise ImageError(shown, "a grey frame is not two-dimensional", "export the file again")
    values = np.array(pixels, dtype=np.float64)
    values *= 1.0 if slope is None else slope
    values += 0.0 if intercept is None else intercept
    window = settings.window or _header_window(dataset, shown)
    grey = to_uint8(values, window)
    return np.stack([255 - grey if invert else grey] * 3, axis=-1)


def _header_window(dataset: Dataset, shown: str) -> tuple[float, float] | None:
    centre = _number(dataset, "WindowCenter", shown)
    width = _number(dataset, "WindowWidth", shown)
    if centre is None or width is None or not width > 0:
        return None
    return centre, width


def _colour_to_8_bits(pixels: npt.NDArray[Any], dataset: Dataset) -> npt.NDArray[np.uint8]:
    import numpy as np

    if pixels.dtype == np.uint8:
        return pixels
    bits = _value(dataset, "BitsStored")
    top = float(2**bits - 1) if isinstance(bits, int) and 1 <= bits <= 16 else float(pixels.max() or 1)
    return np.floor(np.clip(pixels / top, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _palette(pixels: npt.NDArray[Any], dataset: Dataset, shown: str) -> npt.NDArray[np.uint8]:
    from pydicom.pixels.processing import apply_color_lut

    try:
        rgb = apply_color_lut(pixels, dataset)
    except Exception as exc:
        raise ImageError(shown, f"its colour palette cannot be applied ({type(exc).__name__})") from None
    return _colour_to_8_bits(rgb, dataset) if rgb.dtype.itemsize == 1 else (rgb >> 8).astype("uint8")
