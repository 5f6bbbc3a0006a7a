"""Builders for the image tests: pictures, DICOM and NIfTI files written into ``tmp_path``, and the window formula.

The expected pixels are computed here with numpy, from the arrays the files were
built from (or pydicom's ``pixel_array``), never by calling the code under test.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from pytest_medmodel.images import ImageError


def one_line(error: pytest.ExceptionInfo[ImageError], *parts: str) -> str:
    """The error's text, checked to be one line that contains each of ``parts``."""
    text = str(error.value)
    assert "\n" not in text and "\r" not in text, text
    for part in parts:
        assert part in text, text
    return text


def windowed(values: np.ndarray, centre: float, width: float) -> np.ndarray:
    """The documented formula: floor(clip((v - (c - w/2)) / w, 0, 1) * 255 + 0.5)."""
    scaled = (np.asarray(values, dtype=np.float64) - (centre - width / 2)) / width
    return np.floor(np.clip(scaled, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def full_range(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    low, high = values.min(), values.max()
    return windowed(values, (low + high) / 2, high - low)


def grey(image: Image.Image) -> np.ndarray:
    """An RGB picture's single grey channel, after checking the three are equal."""
    assert image.mode == "RGB"
    rgb = np.asarray(image)
    assert (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()
    return rgb[..., 0]


def picture(width: int = 32, height: int = 24, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def encoded(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` and whose pixel data is a few bytes."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")
    )


def write_dicom(path: Path, pixels: np.ndarray | None, **tags: Any) -> Path:
    """A DICOM file (Explicit VR Little Endian, with preamble and file meta) holding ``pixels``.

    ``pixels``: 2-D (one frame) or 3-D (frames first), uint16 or int16; None writes no
    PixelData. Every file carries a patient name and ID that must never be shown.
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientName = "SECRET^NAME"
    ds.PatientID = "SECRET-ID-4711"
    ds.StudyDescription = "SECRET study"
    ds.Modality = "OT"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    if pixels is not None:
        ds.PixelRepresentation = 1 if pixels.dtype == np.int16 else 0
        ds.Rows, ds.Columns = pixels.shape[-2:]
        if pixels.ndim == 3:
            ds.NumberOfFrames = pixels.shape[0]
        ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    for key, value in tags.items():
        setattr(ds, key, value)
    ds.save_as(path, enforce_file_format=True)
    return path


def write_nifti(path: Path, volume: np.ndarray, slope: float | None = None, inter: float = 0.0) -> Path:
    """A NIfTI-1 file (``.nii`` or ``.nii.gz`` by ``path``'s name) with ``volume`` as its voxels."""
    import nibabel

    image = nibabel.Nifti1Image(volume, np.eye(4))
    if slope is not None:
        image.header.set_slope_inter(slope, inter)
    nibabel.save(image, path)
    return path
