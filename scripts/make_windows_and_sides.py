"""Write the images and items of the shipped suites dicom_windows and fundus_sides.

    python scripts/make_windows_and_sides.py            # (re)write them
    python scripts/make_windows_and_sides.py --check    # rewrite nothing; fail if a committed byte differs

Everything comes from files that PyPI packages ship, read offline (pydicom 3.0.2,
pydicom-data 1.0.0, scikit-image 0.26.0); nothing is drawn at random, so a rerun
with the same package versions writes the same bytes.

**DICOM** (``suites/images/dicom/``): six CT and MR files, copied with an
attribute whitelist. Only what decoding and the answer keys need is kept (the
image pixel module, the pixel data as stored, rescale, window, Modality,
BodyPartExamined, StudyDescription, the SOP class); every other attribute goes
(names, IDs, dates, institutions, devices, private tags, sequences). The
patient and study attributes a DICOM image must carry are written empty, the
instance, series and study UIDs are regenerated from the file's name (pydicom's
``generate_uid`` with fixed entropy), and PatientIdentityRemoved says YES. The
copy must decode to the very pixels the package's file does, under its own
window and under every window of the suite, or the script stops.

**Fundus** (``suites/images/fundus/retina.png``): ``skimage.data.retina()``
resized to 192 x 192. Its source is Wikimedia's "Fundus photograph of normal
left eye" (CC0); the optic disc lies on the image's left (the nasal side of a
left eye) and the macula at the centre, to the disc's right.

**Items**: every answer key is read from the written file's own Modality tag and
its BodyPartExamined or StudyDescription (mapped to the recognition suite's region
words), or, for the fundus photograph, from the package's documentation.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DICOM_DIR = ROOT / "suites" / "images" / "dicom"
FUNDUS = ROOT / "suites" / "images" / "fundus" / "retina.png"
DATA = ROOT / "suites" / "data"
FUNDUS_SIZE = 192

SOURCES = (
    # (written as, the package's file, package)
    ("ct-small.dcm", "CT_small.dcm", "pydicom"),
    ("ct-pancreas.dcm", "explicit_VR-UN.dcm", "pydicom-data"),
    ("ct-head.dcm", "J2K_pixelrep_mismatch.dcm", "pydicom"),
    ("mr-small.dcm", "MR_small.dcm", "pydicom"),
    ("mr-head-multiframe.dcm", "emri_small.dcm", "pydicom-data"),
    ("mr-shoulder.dcm", "MR2_J2KI.dcm", "pydicom-data"),
)
KEEP = (
    "SpecificCharacterSet", "ImageType", "SOPClassUID", "Modality", "StudyDescription", "BodyPartExamined",
    "SamplesPerPixel", "PhotometricInterpretation", "NumberOfFrames", "Rows", "Columns", "PixelSpacing",
    "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation", "PlanarConfiguration",
    "WindowCenter", "WindowWidth", "RescaleIntercept", "RescaleSlope", "RescaleType",
    "PresentationLUTShape", "LossyImageCompression", "LossyImageCompressionRatio", "PixelData",
)  # fmt: skip
"""The only attributes copied (in tag order when written)."""
EMPTY = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex",
    "StudyDate", "StudyTime", "ReferringPhysicianName", "StudyID", "AccessionNumber",
)  # fmt: skip
"""Type 2 attributes of the patient and study modules: present and empty."""
NEW_UIDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
WINDOWS = (None, (400.0, 1800.0), (-600.0, 1500.0), (400.0, 800.0))
"""The file's own window and each window of the suite: the copy must decode to the same pixels under all of them."""

MODALITY = {"CT": "CT", "MR": "MRI"}
"""DICOM Modality -> the option text (the recognition suite's words)."""
REGION = {"PANCREAS": "Abdomen", "HEAD": "Head", "SHOULDER": "Shoulder"}
"""BodyPartExamined or StudyDescription -> the region option (the pancreas lies in the abdomen)."""
MODALITY_WORDS = ("CT", "MRI", "X-ray radiograph", "Ultrasound", "Fundus photograph", "Microscopy")
REGION_WRONG = {  # never a region that contains the answer or lies inside it (head/eye)
    "Head": ("Abdomen", "Shoulder", "Lower leg", "Chest"),
    "Abdomen": ("Head", "Shoulder", "Lower leg", "Eye"),
    "Shoulder": ("Head", "Abdomen", "Lower leg", "Eye"),
}
QUESTION = {"modality": "Which imaging modality produced this image?", "region": "Which body region is shown?"}


def source_path(name: str) -> Path:
    from pydicom.data import get_testdata_file

    found = get_testdata_file(name, download=False)
    if found is None:
        raise SystemExit(f"{name} is not installed: pip install pydicom==3.0.2 pydicom-data==1.0.0")
    return Path(found)


def stripped(path: Path, written_as: str) -> bytes:
    """The file with only :data:`KEEP` copied, :data:`EMPTY` empty and new UIDs, as DICOM bytes."""
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, generate_uid

    original = pydicom.dcmread(path)
    copy = Dataset()
    for keyword in KEEP:
        if keyword in original:
            copy[keyword] = original[keyword]
    for keyword in EMPTY:
        setattr(copy, keyword, "")
    for keyword in NEW_UIDS:
        setattr(copy, keyword, generate_uid(entropy_srcs=["pytest-medmodel", written_as, keyword]))
    copy.PatientIdentityRemoved = "YES"
    copy.DeidentificationMethod = "attribute whitelist (pytest-medmodel)"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = original.SOPClassUID
    meta.MediaStorageSOPInstanceUID = copy.SOPInstanceUID
    meta.TransferSyntaxUID = original.file_meta.TransferSyntaxUID
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = "PYTEST_MEDMODEL"
    copy.file_meta = meta
    copy.preamble = b"\0" * 128
    out = io.BytesIO()
    copy.save_as(out, enforce_file_format=True)
    return out.getvalue()


def same_pictures(original: Path, copy: bytes, name: str) -> None:
    """Stop unless the copy decodes (with the plugin's own decoder) exactly as the original does."""
    from pytest_medmodel.images.decode import decode
    from pytest_medmodel.images.settings import DecodeSettings
    from pytest_medmodel.images.source import ImageSource

    for window in WINDOWS:
        settings = DecodeSettings(window=window)
        before = np.asarray(decode(ImageSource.from_file(original, name), settings))
        after = np.asarray(decode(ImageSource.from_bytes(copy, name, name=name), settings))
        if before.shape != after.shape or not np.array_equal(before, after):
            raise SystemExit(f"{name}: the copy decodes differently under window {window}")


def header(copy: bytes) -> dict[str, str]:
    """What the answer keys are read from, in the written copy."""
    import pydicom

    dataset = pydicom.dcmread(io.BytesIO(copy), stop_before_pixels=True)
    return {k: str(dataset.get(k, "") or "").strip() for k in ("Modality", "BodyPartExamined", "StudyDescription")}


def fundus_png() -> bytes:
    from PIL import Image
    from skimage.data import retina

    picture = Image.fromarray(retina()).resize((FUNDUS_SIZE, FUNDUS_SIZE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    picture.save(out, format="PNG", optimize=True)
    return out.getvalue()


def options(answer: str, wrong: tuple[str, ...], position: int) -> tuple[list[str], str]:
    """The choices with the answer at ``position``, and its letter."""
    choices = list(wrong)
    choices.insert(position, answer)
    return choices, "ABCDE"[position]


def dicom_items(headers: dict[str, dict[str, str]]) -> list[dict[str, object]]:
    """A modality question for every file; a region question where a tag names the region."""
    items: list[dict[str, object]] = []
    for (written_as, package_file, package), number in zip(SOURCES, range(len(SOURCES)), strict=True):
        tags = headers[written_as]
        modality = MODALITY[tags["Modality"]]
        basis = tags["BodyPartExamined"] or tags["StudyDescription"]
        region = REGION.get(basis.upper(), "")
        asks = [("modality", modality)] + ([("region", region)] if region else [])
        for kind, answer in asks:
            if kind == "modality":
                wrong = tuple(w for w in MODALITY_WORDS if w != answer)[: 3 + number % 2]
            else:
                wrong = REGION_WRONG[answer][:3]
            choices, letter = options(answer, wrong, len(items) % (len(wrong) + 1))
            key_basis = f"Modality {tags['Modality']}" if kind == "modality" else basis_of(tags)
            items.append(
                {
                    "id": f"dw-{len(items) + 1:03d}",
                    "image": f"../images/dicom/{written_as}",
                    "question": QUESTION[kind],
                    "choices": choices,
                    "answer": letter,
                    "modality": modality,
                    "region": region,
                    "source": f"{package}: {package_file}",
                    "basis": key_basis,
                    "asks": kind,
                }
            )
    return items


def basis_of(tags: dict[str, str]) -> str:
    if tags["BodyPartExamined"]:
        return f"BodyPartExamined {tags['BodyPartExamined']}"
    return f"StudyDescription {tags['StudyDescription']}"


def fundus_items() -> list[dict[str, object]]:
    """Three laterality questions whose answer a mirror image swaps (the ``flip`` column), two that it keeps.

    Keys: the package's docstring names the source "Fundus photograph of normal left
    eye"; in the picture the optic disc is on the left, which is the nasal side of a
    left eye as photographed, and the macula (the dark centre) lies to its right.
    Mirrored, it is a right eye's picture: the disc on the right, the macula to its left.
    """
    image = "../images/fundus/retina.png"
    docs = "skimage.data.retina docstring: Fundus photograph of normal left eye"
    rows = [
        ("laterality", "On which side of this fundus photograph is the optic disc?", ["Left", "Right"], 0, "Right",
         "seen: the disc is on the image's left (nasal side of a left eye)"),
        ("laterality", "Which eye does this fundus photograph show?", ["Right eye", "Left eye"], 1, "Right eye", docs),
        ("laterality", "On which side of the optic disc is the macula in this fundus photograph?", ["Left", "Right"],
         1, "Left", "seen: the macula is at the centre, right of the disc"),
        ("modality", QUESTION["modality"], ["MRI", "Fundus photograph", "Ultrasound", "Microscopy"], 1, "", docs),
        ("region", QUESTION["region"], ["Abdomen", "Shoulder", "Lower leg", "Eye"], 3, "", docs),
    ]  # fmt: skip
    return [
        {
            "id": f"fs-{number:03d}",
            "image": image,
            "question": question,
            "choices": choices,
            "answer": "ABCDE"[position],
            "flip": flip,
            "source": "scikit-image: skimage.data.retina()",
            "basis": basis,
            "asks": asks,
        }
        for number, (asks, question, choices, position, flip, basis) in enumerate(rows, 1)
    ]


def jsonl(items: list[dict[str, object]]) -> bytes:
    return "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items).encode("utf-8")


def dicom_outputs() -> dict[Path, bytes]:
    """The DICOM copies and dicom_windows' items, with their bytes (needs pydicom and pydicom-data)."""
    out: dict[Path, bytes] = {}
    headers: dict[str, dict[str, str]] = {}
    for written_as, package_file, _package in SOURCES:
        original = source_path(package_file)
        copy = stripped(original, written_as)
        same_pictures(original, copy, written_as)
        headers[written_as] = header(copy)
        out[DICOM_DIR / written_as] = copy
    out[DATA / "dicom_windows.jsonl"] = jsonl(dicom_items(headers))
    return out


def fundus_outputs() -> dict[Path, bytes]:
    """The fundus photograph and fundus_sides' items, with their bytes (needs scikit-image)."""
    return {FUNDUS: fundus_png(), DATA / "fundus_sides.jsonl": jsonl(fundus_items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; fail if a committed file differs")
    check = parser.parse_args().check
    differ = []
    for path, data in {**dicom_outputs(), **fundus_outputs()}.items():
        shown = path.relative_to(ROOT).as_posix()
        print(f"{shown}  {len(data):,} bytes  sha256 {hashlib.sha256(data).hexdigest()[:16]}")
        if check:
            if not path.is_file() or path.read_bytes() != data:
                differ.append(shown)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    if differ:
        sys.exit(f"differs from what this script writes: {', '.join(differ)}")


if __name__ == "__main__":
    main()
