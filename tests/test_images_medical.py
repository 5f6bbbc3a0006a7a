"""DICOM and NIfTI through the image core: windowing checked against numpy, frames, slices, and what never leaks.

pydicom's own test files (``CT_small.dcm``, ``MR_small.dcm``) give real headers;
synthetic files written into ``tmp_path`` give the cases those lack. Expected
pixels come from ``pixel_array`` or the array a file was built from, through the
formula in ``images_helpers.windowed``. The comparisons are exact: the code
under test applies the same float64 operations in the same order, so there is
no rounding difference to allow for.
"""

from __future__ import annotations

import gzip
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from images_helpers import full_range, grey, one_line, windowed, write_dicom, write_nifti
from pydicom.data import get_testdata_file

from pytest_medmodel.images import DecodeSettings, ImageError, ImageSource, decode


def _file(path: Path, shown: str = "scan") -> ImageSource:
    return ImageSource.from_file(path, shown)


def _testdata(name: str) -> tuple[ImageSource, pydicom.Dataset]:
    path = Path(get_testdata_file(name, download=False))
    return _file(path, name), pydicom.dcmread(path)


def test_ct_rescale_then_a_given_window() -> None:
    source, ds = _testdata("CT_small.dcm")
    assert "WindowCenter" not in ds and float(ds.RescaleIntercept) == -1024
    hu = ds.pixel_array.astype(np.float64) * 1.0 + -1024.0
    image = decode(source, DecodeSettings(window=(40, 400)))
    assert np.array_equal(grey(image), windowed(hu, 40, 400))
    assert 0 < (grey(image) == 255).sum() < hu.size  # the window clips: a real test of it


def test_ct_without_window_tags_spans_its_rescaled_range() -> None:
    source, ds = _testdata("CT_small.dcm")
    hu = ds.pixel_array.astype(np.float64) - 1024.0
    pixels = grey(decode(source))
    assert np.array_equal(pixels, full_range(hu))
    assert pixels.min() == 0 and pixels.max() == 255


def test_mr_uses_its_header_window_unless_one_is_given() -> None:
    source, ds = _testdata("MR_small.dcm")
    assert (float(ds.WindowCenter), float(ds.WindowWidth)) == (600, 1600)
    stored = ds.pixel_array
    assert np.array_equal(grey(decode(source)), windowed(stored, 600, 1600))
    assert np.array_equal(grey(decode(source, DecodeSettings(window=(1000, 500)))), windowed(stored, 1000, 500))
    assert not np.array_equal(windowed(stored, 600, 1600), full_range(stored))  # the header window mattered


def test_the_window_formula_at_its_edges(tmp_path: Path) -> None:
    stored = np.array([[0, 50, 99, 100], [150, 199, 200, 300]], dtype=np.uint16)
    path = write_dicom(tmp_path / "edges.dcm", stored)
    pixels = grey(decode(_file(path), DecodeSettings(window=(150, 100))))  # low 100, high 200
    assert pixels.tolist() == [[0, 0, 0, 0], [128, 252, 255, 255]]  # 127.5 rounds up to 128; 252.45 to 252


def test_monochrome1_is_inverted_after_windowing(tmp_path: Path) -> None:
    stored = np.arange(64, dtype=np.uint16).reshape(8, 8) * 10
    path = write_dicom(tmp_path / "m1.dcm", stored, PhotometricInterpretation="MONOCHROME1")
    pixels = grey(decode(_file(path), DecodeSettings(window=(300, 400))))
    assert np.array_equal(pixels, 255 - windowed(stored, 300, 400))
    assert pixels[0, 0] == 255  # the lowest value shows white


def test_a_multi_frame_dicom_gives_the_chosen_frame(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("pytest_medmodel.images.formats.MAX_PIXELS", 40)  # one frame fits, all five would not
    frames = np.stack([np.full((6, 5), 100 * k, dtype=np.uint16) for k in range(5)])
    frames[:, 0, 0] = 0
    frames[:, 0, 1] = 1000  # every frame spans 0..1000
    path = write_dicom(tmp_path / "multi.dcm", frames)
    for frame, expected in [("middle", 2), (0, 0), (4, 4)]:
        pixels = grey(decode(_file(path), DecodeSettings(frame=frame)))
        assert np.array_equal(pixels, full_range(frames[expected])), frame
    with pytest.raises(ImageError) as error:
        decode(_file(path, "series/multi.dcm"), DecodeSettings(frame=5))
    one_line(error, "series/multi.dcm: frame 5 is out of range: the file has 5 frame(s); set frame: to 0 or middle")


def test_a_real_multi_frame_and_colour_dicom() -> None:
    source, ds = _testdata("emri_small.dcm")  # pydicom-data: MR, 10 frames
    assert int(ds.NumberOfFrames) == 10
    assert np.array_equal(grey(decode(source)), full_range(ds.pixel_array[5]))
    source, ds = _testdata("US1_UNCI.dcm")  # ultrasound, RGB: no window
    image = decode(source, DecodeSettings(window=(40, 400)))
    assert np.array_equal(np.asarray(image), ds.pixel_array)


def test_colour_dicoms_are_converted_not_windowed() -> None:
    from pydicom.pixels.processing import apply_color_lut

    source, ds = _testdata("SC_ybr_full_422_uncompressed.dcm")  # YBR: pydicom converts it to RGB
    rgb = np.asarray(decode(source, DecodeSettings(window=(0, 1))))
    assert rgb[5, 50].tolist() == [254, 0, 0]  # the first stripe is red, whatever the window
    source, ds = _testdata("SC_rgb_rle_16bit.dcm")  # 16 bits per sample: scaled to 8
    expected = np.floor(ds.pixel_array / 65535.0 * 255.0 + 0.5).astype(np.uint8)
    assert np.array_equal(np.asarray(decode(source)), expected)
    source, ds = _testdata("examples_palette.dcm")
    palette = apply_color_lut(ds.pixel_array, ds)
    assert palette.dtype == np.uint16
    assert np.array_equal(np.asarray(decode(source)), (palette >> 8).astype(np.uint8))


def test_the_first_of_several_header_windows_and_a_zero_width_ignored(tmp_path: Path) -> None:
    stored = np.arange(100, dtype=np.uint16).reshape(10, 10) * 5
    several = write_dicom(tmp_path / "w.dcm", stored, WindowCenter=[200, 40], WindowWidth=[300, 80])
    assert np.array_equal(grey(decode(_file(several))), windowed(stored, 200, 300))
    zero = write_dicom(tmp_path / "z.dcm", stored, WindowCenter=200, WindowWidth=0)
    assert np.array_equal(grey(decode(_file(zero))), full_range(stored))


def test_a_dicom_without_pixel_data_names_no_header_value(tmp_path: Path) -> None:
    path = write_dicom(tmp_path / "report.dcm", None)
    source = _file(path, "reports/report.dcm")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ImageError) as error:
            decode(source)
    text = one_line(error, "reports/report.dcm: is a DICOM file without pixel data (no PixelData element)")
    shown = [text, repr(source), repr(error.value), *(str(w.message) for w in caught)]
    assert not any("SECRET" in part or "4711" in part for part in shown), shown


def test_a_header_value_that_is_not_a_number_is_not_quoted(tmp_path: Path) -> None:
    path = write_dicom(tmp_path / "bad.dcm", np.zeros((4, 4), np.uint16))
    raw = path.read_bytes()
    # RescaleSlope (0028,1053) DS, written by hand: pydicom refuses to write such a value itself
    element = b"\x28\x00\x53\x10DS\x0a\x00SECRET4711"
    at = raw.index(b"\xe0\x7f\x10\x00")  # before PixelData, keeping tag order
    path.write_bytes(raw[:at] + element + raw[at:])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ImageError) as error:
            decode(_file(path, "bad.dcm"))
    text = one_line(error, "bad.dcm: has a RescaleSlope that is not a number")
    assert "SECRET" not in text and not [w for w in caught if "SECRET" in str(w.message)]


def test_a_dicom_bomb_is_refused_before_its_pixels_are_read(tmp_path: Path) -> None:
    path = write_dicom(tmp_path / "bomb.dcm", np.zeros((2, 2), np.uint16), Rows=60000, Columns=60000)
    tracemalloc.start()
    try:
        with pytest.raises(ImageError) as error:
            decode(_file(path, "bomb.dcm"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    one_line(error, "bomb.dcm: each frame is 60000 x 60000 pixels, over the limit of 40 megapixels")
    assert peak < 20 * 2**20  # 60000^2 uint16 would be 7 GB


def test_damaged_dicom_files_are_one_line(tmp_path: Path) -> None:
    path = write_dicom(tmp_path / "short.dcm", np.zeros((64, 64), np.uint16))
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(path.read_bytes()[:-4000])
    with pytest.raises(ImageError) as error:
        decode(_file(cut, "cut.dcm"))
    one_line(error, "cut.dcm: pixel data cannot be decoded (")
    junk = tmp_path / "junk.dcm"  # no DICM marker: read with force because of its name
    junk.write_bytes(b"\x01\x02" * 300)
    with pytest.raises(ImageError) as error:
        decode(_file(junk, "junk.dcm"))
    one_line(error, "junk.dcm: is not a DICOM image (no 'DICM' marker, and no pixel data); check the file")


# --- NIfTI --------------------------------------------------------------------------------------


def _volume(*shape: int) -> np.ndarray:
    return (np.arange(int(np.prod(shape)), dtype=np.int16).reshape(shape) * 7) % 501


@pytest.mark.parametrize("name", ["brain.nii", "brain.nii.gz"])
def test_the_middle_slice_of_a_3d_volume(tmp_path: Path, name: str) -> None:
    volume = _volume(9, 11, 7)
    path = write_nifti(tmp_path / name, volume)
    if name.endswith(".gz"):
        assert path.read_bytes()[:2] == b"\x1f\x8b"
    image = decode(_file(path, name))
    assert image.size == (9, 11)  # rotated: the first axis runs across, the second up
    assert np.array_equal(grey(image), np.rot90(full_range(volume[:, :, 3])))
    chosen = DecodeSettings(slice_axis=0, slice_index=2, window=(250, 300))
    assert np.array_equal(grey(decode(_file(path), chosen)), np.rot90(windowed(volume[2], 250, 300)))


def test_nifti_2_and_a_header_without_its_voxels(tmp_path: Path) -> None:
    import nibabel

    volume = _volume(5, 6, 3)
    nibabel.save(nibabel.Nifti2Image(volume, np.eye(4)), tmp_path / "v2.nii")
    assert np.array_equal(grey(decode(_file(tmp_path / "v2.nii"))), np.rot90(full_range(volume[:, :, 1])))
    nibabel.save(nibabel.Nifti1Pair(volume, np.eye(4)), tmp_path / "pair.img")
    with pytest.raises(ImageError) as error:
        decode(_file(tmp_path / "pair.hdr", "pair.hdr"))
    one_line(error, "pair.hdr: is a NIfTI header whose voxels are in a separate .img file; save it as one .nii file")


def test_a_4d_volume_and_the_scaling_in_its_header(tmp_path: Path) -> None:
    volume = _volume(6, 5, 4, 3)
    path = write_nifti(tmp_path / "fmri.nii.gz", volume, slope=2.0, inter=10.0)
    settings = DecodeSettings(volume=1, slice_axis=1, slice_index=4, window=(300, 400))
    expected = np.rot90(windowed(volume[:, 4, :, 1] * 2.0 + 10.0, 300, 400))
    assert np.array_equal(grey(decode(_file(path), settings)), expected)
    with pytest.raises(ImageError) as error:
        decode(_file(path, "fmri.nii.gz"), DecodeSettings(volume=3))
    one_line(error, "fmri.nii.gz: volume 3 is out of range: the image has 3; set volume: to 0")
    with pytest.raises(ImageError) as error:
        decode(_file(path, "fmri.nii.gz"), DecodeSettings(slice_index=4))
    one_line(error, "fmri.nii.gz: slice 4 is out of range: axis 2 has 4 slices")


def test_the_slice_is_shown_with_its_second_axis_up(tmp_path: Path) -> None:
    volume = np.zeros((4, 3, 1), dtype=np.uint8)
    volume[0, 2, 0] = 200  # first voxel across, last one up: the top-left pixel
    pixels = grey(decode(_file(write_nifti(tmp_path / "o.nii", volume))))
    assert pixels.shape == (3, 4) and pixels[0, 0] == 255 and pixels.sum() == 255


def test_the_nifti_digest_follows_its_slice_settings(tmp_path: Path) -> None:
    source = _file(write_nifti(tmp_path / "v.nii.gz", _volume(4, 4, 4)))
    plain = source.digest()
    assert source.digest(DecodeSettings(slice_index=0)) != plain
    assert source.digest(DecodeSettings(frame=0)) == plain  # a DICOM setting


def test_nifti_bombs_and_damage_are_one_line(tmp_path: Path) -> None:
    path = write_nifti(tmp_path / "v.nii", _volume(4, 4, 4))
    data = bytearray(path.read_bytes())
    data[42:48] = np.array([9000, 9000, 4], dtype="<i2").tobytes()  # dim[1..3]: 9000 x 9000 x 4
    (tmp_path / "huge.nii").write_bytes(bytes(data))
    with pytest.raises(ImageError) as error:
        decode(_file(tmp_path / "huge.nii", "huge.nii"))
    one_line(error, "huge.nii: the slice is 9000 x 9000 pixels, over the limit of 40 megapixels")
    (tmp_path / "short.nii").write_bytes(path.read_bytes()[:400])
    with pytest.raises(ImageError) as error:
        decode(_file(tmp_path / "short.nii", "short.nii"))
    one_line(error, "short.nii: voxel data cannot be read (")
    packed = gzip.compress(path.read_bytes())
    (tmp_path / "cut.nii.gz").write_bytes(packed[: len(packed) // 2])
    with pytest.raises(ImageError) as error:
        decode(_file(tmp_path / "cut.nii.gz", "cut.nii.gz"))
    one_line(error, "cut.nii.gz: is a truncated .gz file; compress the file again")


def test_a_gzip_bomb_is_capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("pytest_medmodel.images.nifti.MAX_BYTES", 4096)
    path = write_nifti(tmp_path / "v.nii.gz", np.zeros((64, 64, 8), np.uint8))
    with pytest.raises(ImageError) as error:
        decode(_file(path, "v.nii.gz"))
    one_line(error, "v.nii.gz: decompresses to more than 0 MiB")
