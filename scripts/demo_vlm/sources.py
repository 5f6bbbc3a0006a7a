"""The real medical images the demo VLM is trained and tested on, and how each one is read.

Every image comes from a package on PyPI (pydicom, pydicom-data, deid-data, nibabel's
test data, scikit-image's bundled data), read offline. Each source states its imaging
modality and, where it is documented, its body region, with the basis for the label:
a DICOM tag the reader checks (``expect``) or the package's own documentation. A
region nobody documented stays empty, however obvious the picture looks.

Left out on purpose (and why): deid-data ``ctbrain1/2.dcm`` (tagged CT HEAD, but the
pixels are a drawn smiley face); deid-data's ``GREYSCALE_*``/``RGB_*`` ultrasound files
(screens with an empty sector); pydicom-data ``eCT_Supplemental.dcm`` (a derived CT
perfusion map with a colour palette, not a CT image); nibabel's ``nicom`` DICOMs
(all-zero pixels) and ``functional.nii`` (17 x 21 voxels); scikit-image ``cell`` (one
cell on empty background: a spatial split leaves it on one side only); exact or
downsized duplicates of a used source (``examples_overlay``, ``examples_jpeg2k``,
``examples_rgb_color``, ``examples_ybr_color``, the ``*_J2K*``/``*_UNCR`` variants).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MODALITIES = ("CT", "MRI", "radiograph", "ultrasound", "fundus photograph", "microscopy")
"""The manifest's modality vocabulary."""
REGIONS = ("head", "chest", "abdomen", "shoulder", "lower leg", "heart", "eye")
"""The manifest's body-region vocabulary ("" where the region is not documented)."""
DICOM_MODALITY = {"CT": "CT", "MR": "MRI", "CR": "radiograph", "DX": "radiograph", "US": "ultrasound"}
"""DICOM Modality tag -> manifest modality: every DICOM source is checked against it."""


@dataclass(frozen=True)
class Source:
    """One source image file and the labels it carries."""

    key: str
    """Short name used in the cut files' names (from the file name, never from a guess)."""
    package: str
    file: str
    modality: str
    region: str = ""
    region_basis: str = ""
    """Where the region comes from: a DICOM field name or the package docs (never a header value)."""
    expect: tuple[tuple[str, str], ...] = ()
    """(DICOM keyword, text it must contain): checked when read, so a label cannot drift from its file."""
    test_frames: tuple[int, int] | None = None
    """Multi-frame sources: the held-out block [start, stop) of frames (or slices)."""
    gap: int = 1
    """Frames next to the held-out block used by neither split."""
    band: str = "right"
    """Single-frame sources: the side whose outer 40% is held out (5% more is a gap)."""
    n_train: int = 60
    n_test: int = 6
    modality_basis: str = "DICOM Modality"
    """Where the modality comes from (DICOM sources are also checked against their Modality tag)."""


@dataclass
class Frame:
    """One 2-D frame of a source: modality units (grayscale) or 8-bit RGB."""

    pixels: np.ndarray
    unit: int
    """The split unit: frames (or slices) with the same unit are always in the same split."""
    cut: dict[str, int]
    """Where the frame is in its file (frame, or slice and volume), for the manifest."""
    voi: tuple[float, float] | None = None
    monochrome1: bool = False


@dataclass
class Loaded:
    """A read source: its frames and the two header values the manifest may carry."""

    frames: list[Frame]
    tags: dict[str, str] = field(default_factory=dict)


SOURCES: tuple[Source, ...] = (
    Source("ct-small", "pydicom", "CT_small.dcm", "CT", expect=(("Modality", "CT"),), n_train=260, n_test=10),
    Source(
        "693-unci",
        "pydicom-data",
        "693_UNCI.dcm",
        "CT",
        expect=(("Modality", "CT"),),
        band="bottom",
        n_train=260,
        n_test=10,
    ),
    Source(
        "explicit-vr-un",
        "pydicom-data",
        "explicit_VR-UN.dcm",
        "CT",
        "abdomen",
        "BodyPartExamined",
        (("Modality", "CT"), ("BodyPartExamined", "PANCREAS")),
        n_train=280,
        n_test=10,
    ),
    Source("mr-small", "pydicom", "MR_small.dcm", "MRI", expect=(("Modality", "MR"),), n_train=120, n_test=5),
    Source(
        "mr2-unci",
        "pydicom-data",
        "MR2_UNCI.dcm",
        "MRI",
        "shoulder",
        "StudyDescription",
        (("Modality", "MR"), ("StudyDescription", "SHOULDER")),
        band="top",
        n_train=140,
        n_test=5,
    ),
    Source(
        "emri-small",
        "pydicom-data",
        "emri_small.dcm",
        "MRI",
        "head",
        "BodyPartExamined",
        (("Modality", "MR"), ("BodyPartExamined", "HEAD")),
        test_frames=(8, 10),
        n_train=140,
        n_test=5,
    ),
    Source(
        "mr-siemens-overlays",
        "pydicom-data",
        "MR-SIEMENS-DICOM-WithOverlays.dcm",
        "MRI",
        "abdomen",
        "BodyPartExamined",
        (("Modality", "MR"), ("BodyPartExamined", "ABDOMEN")),
        n_train=140,
        n_test=5,
    ),
    Source(
        "anatomical",
        "nibabel",
        "tests/data/anatomical.nii",
        "MRI",
        test_frames=(17, 21),
        n_train=120,
        n_test=5,
        modality_basis="nibabel test data: an SPM-normalised anatomical volume (header: 'spm - 3D normalized')",
    ),
    Source(
        "example4d",
        "nibabel",
        "tests/data/example4d.nii.gz",
        "MRI",
        test_frames=(17, 21),
        n_train=140,
        n_test=5,
        modality_basis="nibabel test data: an FSL 4-D series, 24 slices, TR 2 s in its header (fMRI)",
    ),
    Source(
        "rg1-unci",
        "pydicom-data",
        "RG1_UNCI.dcm",
        "radiograph",
        "chest",
        "BodyPartExamined",
        (("Modality", "CR"), ("BodyPartExamined", "CHEST")),
        n_train=270,
        n_test=10,
    ),
    Source(
        "rg3-unci",
        "pydicom-data",
        "RG3_UNCI.dcm",
        "radiograph",
        "lower leg",
        "StudyDescription",
        (("Modality", "CR"), ("StudyDescription", "tibia")),
        band="bottom",
        n_train=260,
        n_test=10,
    ),
    Source(
        "cat",
        "deid-data",
        "animals/cat.dcm",
        "radiograph",
        "chest",
        "BodyPartExamined",
        (("Modality", "DX"), ("BodyPartExamined", "CHEST")),
        n_train=270,
        n_test=10,
    ),
    Source(
        "us1-unci", "pydicom-data", "US1_UNCI.dcm", "ultrasound", expect=(("Modality", "US"),), n_train=160, n_test=6
    ),
    Source(
        "color3d-jpeg-baseline",
        "pydicom-data",
        "color3d_jpeg_baseline.dcm",
        "ultrasound",
        expect=(("Modality", "US"),),
        test_frames=(100, 120),
        gap=5,
        n_train=160,
        n_test=6,
    ),
    Source(
        "gdcm-us-aloka-16",
        "pydicom-data",
        "gdcm-US-ALOKA-16.dcm",
        "ultrasound",
        expect=(("Modality", "US"),),
        n_train=160,
        n_test=6,
    ),
    Source(
        "color-pl",
        "pydicom-data",
        "color-pl.dcm",
        "ultrasound",
        "heart",
        "StudyDescription",
        (("Modality", "US"), ("StudyDescription", "Echocardiogram")),
        n_train=160,
        n_test=6,
    ),
    Source(
        "ultrasound-multiframe",
        "deid-data",
        "ultrasounds/ultrasound-multiframe.dcm",
        "ultrasound",
        "heart",
        "StudyDescription",
        (("Modality", "US"), ("StudyDescription", "ECHOCARDIOGRAPHY")),
        test_frames=(24, 30),
        gap=2,
        n_train=160,
        n_test=6,
    ),
    Source(
        "retina",
        "scikit-image",
        "retina",
        "fundus photograph",
        "eye",
        "package docs (skimage.data.retina)",
        n_train=540,
        n_test=20,
        modality_basis="package docs: a fundus photograph of a normal left eye",
    ),
    Source(
        "microaneurysms",
        "scikit-image",
        "microaneurysms",
        "fundus photograph",
        "eye",
        "package docs (skimage.data.microaneurysms)",
        n_train=260,
        n_test=10,
        modality_basis="package docs: a crop (green channel) of a fundus image from the HRF database",
    ),
    Source(
        "immunohistochemistry",
        "scikit-image",
        "immunohistochemistry",
        "microscopy",
        band="bottom",
        n_train=800,
        n_test=30,
        modality_basis="package docs: IHC-stained colonic glands (microscopy)",
    ),
)


def package_dir(module: str) -> Path:
    """An installed package's folder, found without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"the package {module!r} is not installed")
    return Path(list(spec.submodule_search_locations)[0])


def load(source: Source) -> Loaded:
    """Read a source's frames (and check its labels against its header)."""
    if source.package == "scikit-image":
        return _skimage(source)
    if source.package == "nibabel":
        return _nifti(source)
    return _dicom(source)


def dicom_path(source: Source) -> Path:
    if source.package == "deid-data":
        return package_dir("deid_data") / "data" / source.file
    from pydicom.data import get_testdata_file

    found = get_testdata_file(source.file, download=False)  # never the network
    if not found:
        raise SystemExit(f"{source.file} is not installed (pip install pydicom pydicom-data)")
    package = "pydicom-data" if "data_store" in str(found) else "pydicom"
    if package != source.package:
        raise SystemExit(f"{source.file} came from {package}, not {source.package}")
    return Path(found)


def _dicom(source: Source) -> Loaded:
    import pydicom
    from pydicom.pixels import apply_color_lut

    ds = pydicom.dcmread(dicom_path(source))
    for keyword, text in source.expect:
        if text.lower() not in str(ds.get(keyword, "")).lower():
            raise SystemExit(f"{source.file}: {keyword} does not say {text!r}; its label would be unfounded")
    if DICOM_MODALITY.get(str(ds.Modality)) != source.modality:
        raise SystemExit(f"{source.file}: Modality {ds.Modality} is not {source.modality}")
    pixels = ds.pixel_array
    several = int(ds.get("NumberOfFrames", 1) or 1) > 1
    stack = list(pixels) if several else [pixels]
    photometric = str(ds.PhotometricInterpretation)
    frames = []
    for index, raw in enumerate(stack):
        if photometric == "PALETTE COLOR":
            rgb = apply_color_lut(raw, ds)
            frames.append(Frame(_to_uint8(rgb), index, {"frame": index}))
        elif raw.ndim == 3:
            frames.append(Frame(np.asarray(raw, dtype=np.uint8), index, {"frame": index}))
        else:
            values = raw.astype(np.float32) * float(ds.get("RescaleSlope", 1) or 1)
            values += float(ds.get("RescaleIntercept", 0) or 0)
            frames.append(Frame(values, index, {"frame": index}, _voi(ds), photometric == "MONOCHROME1"))
    tags = {"Modality": str(ds.Modality)}
    if ds.get("BodyPartExamined"):
        tags["BodyPartExamined"] = str(ds.BodyPartExamined)
    return Loaded(frames, tags)


def _voi(ds: object) -> tuple[float, float] | None:
    """The header's first window (centre, width), if it has one."""
    centre, width = getattr(ds, "WindowCenter", None), getattr(ds, "WindowWidth", None)
    if centre is None or width is None:
        return None
    first = lambda v: float(v[0]) if hasattr(v, "__len__") and not isinstance(v, str) else float(v)  # noqa: E731
    return first(centre), first(width)


def _to_uint8(rgb: np.ndarray) -> np.ndarray:
    """Palette output is 8 or 16 bits per channel; the cuts are 8-bit."""
    if rgb.max() > 255:
        rgb = rgb // 256
    return np.asarray(rgb, dtype=np.uint8)


def _nifti(source: Source) -> Loaded:
    import nibabel

    path = Path(os.path.dirname(nibabel.__file__)) / source.file
    volume = np.asanyarray(nibabel.load(path).dataobj).astype(np.float32)
    if volume.ndim == 3:
        volume = volume[..., None]
    frames = []
    for z in range(volume.shape[2]):
        for t in range(volume.shape[3]):
            # Rows run anterior-to-posterior after the transpose and flip (radiological display).
            frames.append(Frame(volume[:, :, z, t].T[::-1].copy(), z, {"slice": z, "volume": t}))
    return Loaded(frames)


def _skimage(source: Source) -> Loaded:
    from skimage import data

    pixels = np.asarray(getattr(data, source.file)())
    if pixels.ndim == 2:
        return Loaded([Frame(pixels.astype(np.float32), 0, {"frame": 0})])
    return Loaded([Frame(pixels[..., :3].astype(np.uint8), 0, {"frame": 0})])
