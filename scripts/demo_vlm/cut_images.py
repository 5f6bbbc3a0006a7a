"""Cut small PNG images (64 x 64) from the sources in ``sources.py``, with a manifest.

    python scripts/demo_vlm/cut_images.py                 # test split -> suites/images/recognition/
    python scripts/demo_vlm/cut_images.py --split train   # train split -> build/demo_vlm/train/

The cuts are deterministic (seeded per source and split), so the committed test
images and the regenerated training images always come out the same.

How train and test are kept apart (the rule):
- a multi-frame source (a volume's slices, an ultrasound cine's frames) holds out a
  block of frames for test; the ``gap`` frames next to it are used by neither split;
- a single-frame source holds out its outer 40% on one side (``band``) for test, the
  next 5% is a gap, and every train cut lies inside the remaining 55%, so no test
  pixel is in any train image. Every source is in both splits: the test items are
  new slices, frames or image areas of the same files, not new patients.

DICOM frames get their rescale slope/intercept, then a window: the header's window
where it has one, standard CT windows (soft tissue 40/400, lung -600/1500, bone
400/1800) for CT, percentile windows otherwise; MONOCHROME1 is inverted. Header values
other than Modality and BodyPartExamined never reach the manifest.
"""

from __future__ import annotations

import argparse
import json
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from sources import SOURCES, Frame, Loaded, Source, load

SIZE = 64
SEED = 20240607
ROOT = Path(__file__).resolve().parents[2]
TEST_DIR = ROOT / "suites" / "images" / "recognition"
TRAIN_DIR = ROOT / "build" / "demo_vlm" / "train"
CT_WINDOWS = (("soft tissue 40/400", 40.0, 400.0), ("lung -600/1500", -600.0, 1500.0), ("bone 400/1800", 400.0, 1800.0))
PERCENTILES = ((1.0, 99.0), (0.5, 99.8), (3.0, 97.0))
FULL_VIEW = 0.3
"""Share of cuts that show the whole frame (or the whole held-out/training area), letterboxed."""
ATTEMPTS = 50
MIN_STD = 12.0
MAX_CLIPPED = 0.6


@dataclass(frozen=True)
class Window:
    """How a grayscale frame becomes 8-bit: a name for the manifest and the value range shown."""

    name: str
    low: float
    high: float


def windows(source: Source, frame: Frame) -> list[Window]:
    """The windows a grayscale frame may be shown with (RGB frames are shown as stored)."""
    out = []
    if frame.voi is not None:
        centre, width = frame.voi
        out.append(Window("header window", centre - width / 2, centre + width / 2))
    if source.modality == "CT":
        out += [Window(name, c - w / 2, c + w / 2) for name, c, w in CT_WINDOWS]
    else:
        for lo, hi in PERCENTILES:
            low, high = np.percentile(frame.pixels, [lo, hi])
            out.append(Window(f"percentile {lo:g}-{hi:g}", float(low), float(high)))
    return out


def shown(frame: Frame, window: Window | None) -> np.ndarray:
    """The frame as 8-bit pixels: windowed (and inverted for MONOCHROME1) or RGB as stored."""
    if window is None:
        return frame.pixels
    scaled = (frame.pixels - window.low) / max(window.high - window.low, 1e-6)
    pixels = np.clip(scaled, 0.0, 1.0) * 255.0
    if frame.monochrome1:
        pixels = 255.0 - pixels
    return np.round(pixels).astype(np.uint8)


def usable(source: Source, frames: list[Frame], split: str) -> list[Frame]:
    """The frames a split may cut from (all of them for a single-frame source: it splits by area)."""
    if source.test_frames is None:
        return frames
    start, stop = source.test_frames
    if split == "test":
        return [f for f in frames if start <= f.unit < stop]
    return [f for f in frames if f.unit < start - source.gap or f.unit >= stop + source.gap]


def area(source: Source, shape: tuple[int, ...], split: str) -> tuple[int, int, int, int]:
    """The box (x0, y0, x1, y1) a split may cut from: the whole frame, or its side of the band."""
    height, width = shape[0], shape[1]
    if source.test_frames is not None:
        return 0, 0, width, height
    far = {"right": (width, 0), "left": (width, 1), "bottom": (height, 0), "top": (height, 1)}[source.band]
    size, flipped = far
    test_edge, train_edge = round(size * 0.6), round(size * 0.55)
    lo, hi = (test_edge, size) if split == "test" else (0, train_edge)
    if flipped:
        lo, hi = size - hi, size - lo
    return (lo, 0, hi, height) if source.band in ("right", "left") else (0, lo, width, hi)


def crop_box(
    box: tuple[int, int, int, int], rng: np.random.Generator, whole: bool = True
) -> tuple[tuple[int, int, int, int], str]:
    """A square crop inside ``box`` (a zoom), or (if ``whole``) sometimes the whole box."""
    x0, y0, x1, y1 = box
    if rng.random() < FULL_VIEW and whole:
        return box, "whole area"
    side = max(8, round(min(x1 - x0, y1 - y0) * rng.uniform(0.5, 1.0)))
    left = x0 + int(rng.integers(0, x1 - x0 - side + 1))
    top = y0 + int(rng.integers(0, y1 - y0 - side + 1))
    return (left, top, left + side, top + side), "square crop"


def informative(pixels: np.ndarray, box: tuple[int, int, int, int]) -> bool:
    """Whether a cut shows something: not flat, not mostly clipped to black or white by its window."""
    x0, y0, x1, y1 = box
    part = pixels[y0:y1, x0:x1].astype(np.float32)
    clipped = float(np.mean((part <= 2) | (part >= 253)))
    return float(part.std()) >= MIN_STD and clipped <= MAX_CLIPPED


def render(pixels: np.ndarray, box: tuple[int, int, int, int], flip: bool) -> Image.Image:
    """Crop, letterbox to a square (black bars), resize to SIZE x SIZE."""
    x0, y0, x1, y1 = box
    part = Image.fromarray(np.ascontiguousarray(pixels[y0:y1, x0:x1]))
    side = max(part.size)
    square = Image.new(part.mode, (side, side))
    square.paste(part, ((side - part.size[0]) // 2, (side - part.size[1]) // 2))
    image = square.resize((SIZE, SIZE), Image.Resampling.LANCZOS)
    return image.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if flip else image


def cut_source(source: Source, loaded: Loaded, split: str, out: Path) -> list[dict[str, object]]:
    """Cut ``n_train`` or ``n_test`` images from one source into ``out``; their manifest rows."""
    rng = np.random.default_rng([SEED, zlib.crc32(source.key.encode()), 0 if split == "train" else 1])
    frames = usable(source, loaded.frames, split)
    count = source.n_train if split == "train" else source.n_test
    rows: list[dict[str, object]] = []
    seen: set[bytes] = set()
    shown_whole: set[str] = set()  # test: one whole view per frame, the rest are crops
    for index in range(count):
        frame = frames[index % len(frames)] if split == "test" else frames[int(rng.integers(len(frames)))]
        for _ in range(ATTEMPTS):  # a blank, saturated or repeated cut is drawn again
            choices = windows(source, frame) if frame.pixels.ndim == 2 else [None]
            window = choices[int(rng.integers(len(choices)))]
            whole = split == "train" or str(frame.cut) not in shown_whole
            box, how = crop_box(area(source, frame.pixels.shape, split), rng, whole)
            flip = split == "train" and bool(rng.random() < 0.5)
            pixels = shown(frame, window)
            image = render(pixels, box, flip)
            if informative(pixels, box) and image.tobytes() not in seen:
                break
        seen.add(image.tobytes())
        if how == "whole area":
            shown_whole.add(str(frame.cut))
        name = f"{source.key}-{split}-{index:03d}.png"
        image.save(out / name, optimize=True)
        rows.append(_row(name, source, loaded, split, frame, window, box, how, flip))
    return rows


def _row(
    name: str,
    source: Source,
    loaded: Loaded,
    split: str,
    frame: Frame,
    window: Window | None,
    box: tuple[int, int, int, int],
    how: str,
    flip: bool,
) -> dict[str, object]:
    """One manifest row: provenance and labels (the only header values: Modality, BodyPartExamined)."""
    cut: dict[str, object] = dict(frame.cut)
    cut.update(
        {"box": list(box), "view": how, "window": window.name if window else "as stored", "flipped": flip, "size": SIZE}
    )
    return {
        "file": name,
        "split": split,
        "source_package": source.package,
        "source_file": source.file,
        "source": source.key,
        "modality": source.modality,
        "modality_basis": source.modality_basis,
        "region": source.region,
        "region_basis": source.region_basis,
        "dicom": dict(loaded.tags),
        "cut": cut,
    }


def cut(split: str, out: Path, only: set[str] | None = None) -> list[dict[str, object]]:
    """Cut every source's images for ``split`` into ``out`` and write ``out/manifest.jsonl``."""
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob(f"*-{split}-*.png"):
        old.unlink()
    rows: list[dict[str, object]] = []
    for source in SOURCES:
        if only and source.key not in only:
            continue
        rows += cut_source(source, load(source), split, out)
    text = "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows)
    (out / "manifest.jsonl").write_text(text, encoding="utf-8")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("train", "test"), default="test")
    parser.add_argument("--out", type=Path, help="default: suites/images/recognition (test), build/demo_vlm/train")
    args = parser.parse_args()
    out = args.out or (TEST_DIR if args.split == "test" else TRAIN_DIR)
    rows = cut(args.split, out)
    counts: dict[str, int] = {}
    for row in rows:
        counts[str(row["modality"])] = counts.get(str(row["modality"]), 0) + 1
    print(f"{len(rows)} {args.split} images in {out}: {counts}")


if __name__ == "__main__":
    main()
