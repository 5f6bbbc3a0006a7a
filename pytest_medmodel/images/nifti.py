"""NIfTI (``.nii``, ``.nii.gz``) to one RGB picture: a volume, a slice, the scaling, a window, display orientation.

Steps:

1. ``.nii.gz`` is decompressed in memory (never to disk), capped at :data:`~.source.MAX_BYTES`;
2. the header is read (``Nifti1Image.from_bytes``, or NIfTI-2) and the slice's size
   checked before any voxel is read;
3. a 4-D image gives ``settings.volume``; then the slice ``settings.slice_index``
   (``middle``: ``n // 2``) across voxel axis ``settings.slice_axis``. Only that
   slice is read, through nibabel's array proxy, which applies ``scl_slope`` and
   ``scl_inter`` as ``get_fdata`` would (a 2-D image is its own slice);
4. the window (:mod:`.window`): ``settings.window``, else the slice's min..max
   (the header's ``cal_min``/``cal_max`` are not used);
5. display orientation: the slice is rotated 90 degrees counter-clockwise
   (``numpy.rot90``), so its first remaining voxel axis runs left to right and
   its second runs bottom to top. That is how ``imshow(slice.T, origin="lower")``
   shows it, the usual way to view a NIfTI slice; for a scan stored RAS+ an axial
   slice then has anterior at the top. The affine is not applied (no reorientation
   or resampling): the axes are the file's voxel axes.

The header's text fields (``descrip``, ``aux_file``, ``intent_name``) may hold
anything; none is read or shown, and nibabel's warnings are silenced while it reads.
"""

from __future__ import annotations

import warnings
import zlib
from typing import TYPE_CHECKING, Any

from .errors import ImageError
from .formats import check_pixels
from .settings import MIDDLE, DecodeSettings
from .source import MAX_BYTES

if TYPE_CHECKING:
    from PIL import Image


def decode_nifti(data: bytes, shown: str, settings: DecodeSettings, *, gzipped: bool) -> Image.Image:
    """One slice of a NIfTI image as an RGB picture; see the module docstring for the steps."""
    import numpy as np
    from PIL import Image

    from .window import to_uint8

    if gzipped:
        data = _gunzip(data, shown)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        volume = _load(data, shown)
        where = _slicer(tuple(int(n) for n in volume.shape), settings, shown)
        try:
            values = np.array(volume.dataobj[where], dtype=np.float64)
        except Exception as exc:  # short voxel data, a dtype nibabel cannot scale
            raise ImageError(shown, f"voxel data cannot be read ({type(exc).__name__})", "save it again") from None
    grey = np.ascontiguousarray(np.rot90(to_uint8(values, settings.window)))
    return Image.fromarray(grey).convert("RGB")


def _gunzip(data: bytes, shown: str) -> bytes:
    """``data`` decompressed (every gzip member), refusing output over the byte cap before holding it."""
    out: list[bytes] = []
    size = 0
    try:
        while data:
            stream = zlib.decompressobj(wbits=31)
            chunk = stream.decompress(data, MAX_BYTES + 1 - size)
            out.append(chunk)
            size += len(chunk)
            if size > MAX_BYTES or stream.unconsumed_tail:
                raise ImageError(shown, f"decompresses to more than {MAX_BYTES // 2**20} MiB", "crop the volume")
            if not stream.eof:
                raise ImageError(shown, "is a truncated .gz file", "compress the file again")
            data = stream.unused_data
    except zlib.error as exc:
        raise ImageError(shown, f"is a damaged .gz file ({exc})", "compress the file again") from None
    return b"".join(out)


def _load(data: bytes, shown: str) -> Any:
    """The image with its header read and its voxels not yet (a lazy array proxy over ``data``)."""
    import nibabel

    if data[344:348] == b"ni1\x00":
        raise ImageError(
            shown, "is a NIfTI header whose voxels are in a separate .img file", "save it as one .nii file"
        )
    kind = nibabel.Nifti2Image if data[4:8] == b"n+2\x00" else nibabel.Nifti1Image
    try:
        volume = kind.from_bytes(data)
        dtype = volume.get_data_dtype()
    except Exception as exc:  # a malformed header; nibabel's message may quote its fields
        raise ImageError(shown, f"cannot be read as NIfTI ({type(exc).__name__})", "save it again") from None
    if dtype.kind not in "biuf":
        raise ImageError(shown, "holds voxels that are not plain numbers (RGB or complex)", "save it as greyscale")
    return volume


def _slicer(shape: tuple[int, ...], settings: DecodeSettings, shown: str) -> tuple[int | slice, ...]:
    """The index expression for the chosen volume and slice, checked against the shape (from the header)."""
    if len(shape) not in (2, 3, 4):
        raise ImageError(shown, f"is a {len(shape)}-D image; 2-D, 3-D and 4-D can be shown", "save a 3-D volume")
    where: list[int | slice] = [slice(None)] * len(shape)
    volumes = shape[3] if len(shape) == 4 else 1
    if settings.volume >= volumes:
        raise ImageError(
            shown, f"volume {settings.volume} is out of range: the image has {volumes}", "set volume: to 0"
        )
    if len(shape) == 4:
        where[3] = settings.volume
    plane = list(shape[:2])
    if len(shape) >= 3:
        axis = settings.slice_axis
        count = shape[axis]
        index = count // 2 if settings.slice_index == MIDDLE else int(settings.slice_index)
        if index >= count:
            raise ImageError(
                shown,
                f"slice {index} is out of range: axis {axis} has {count} slices",
                "set slice_index: to middle or a smaller number",
            )
        where[axis] = index
        plane = [n for i, n in enumerate(shape[:3]) if i != axis]
    check_pixels(shown, plane[0], plane[1], "the slice")  # shown rotated: width, height
    return tuple(where)
