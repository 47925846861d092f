"""Tests for facecanvas.media.image_io; every fixture is generated in tmp_path."""

from __future__ import annotations

import os
import struct
import warnings
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from facecanvas.errors import InputError, OutputError
from facecanvas.media import image_io
from facecanvas.media.image_io import (
    LoadedImage,
    from_array,
    load_image,
    restore_like,
    save_image,
    save_result,
)

# ---------------------------------------------------------------- helpers


def noise(h: int, w: int, c: int = 3, dtype=np.uint8, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    hi = 256 if dtype == np.uint8 else 65536
    shape = (h, w) if c == 1 else (h, w, c)
    return rng.integers(0, hi, shape, dtype=np.int64).astype(dtype)


def write_cv2(path: Path, arr: np.ndarray) -> Path:
    ok, buf = cv2.imencode(path.suffix, arr)
    assert ok
    path.write_bytes(buf.tobytes())
    return path


def asymmetric_rgb(h: int = 40, w: int = 80) -> np.ndarray:
    """Gray image with a bright red block in the top-left corner (RGB order)."""
    a = np.full((h, w, 3), 60, np.uint8)
    a[: h // 2, : w // 4] = (250, 20, 20)
    return a


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def with_png_exif(png: bytes, orientation: int) -> bytes:
    """Insert an eXIf chunk (raw TIFF-format EXIF) right after IHDR."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    raw = exif.tobytes()
    raw = raw[6:] if raw.startswith(b"Exif\x00\x00") else raw
    return png[:33] + png_chunk(b"eXIf", raw) + png[33:]


def png_claiming_size(path: Path, w: int, h: int) -> Path:
    """A tiny PNG whose IHDR claims w x h (pixels never decoded, so the data need not match)."""
    ok, buf = cv2.imencode(".png", np.zeros((1, 1), np.uint8))
    data = bytearray(buf.tobytes())
    data[16:24] = struct.pack(">II", w, h)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    return path


def assert_one_line(exc: pytest.ExceptionInfo, path: Path) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and "\r" not in msg
    assert path.name in msg
    return msg


def no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


# ---------------------------------------------------------------- loading: happy paths


def test_rgb_jpeg(tmp_path):
    rgb = asymmetric_rgb()
    p = tmp_path / "photo.jpg"
    Image.fromarray(rgb).save(p, quality=95)
    img = load_image(p)
    assert isinstance(img, LoadedImage)
    assert img.bgr.shape == (40, 80, 3) and img.bgr.dtype == np.uint8
    assert img.alpha is None and not img.is_gray and img.bit_depth == 8 and not img.exif_rotated
    assert img.path == p
    # BGR order: the red block has a high last channel.
    b, g, r = img.bgr[5, 5].astype(int)
    assert r > 200 and b < 60


def test_gray_png_roundtrip(tmp_path):
    gray = noise(30, 20, 1)
    p = write_cv2(tmp_path / "gray.png", gray)
    img = load_image(p)
    assert img.is_gray and img.source.ndim == 2 and img.bit_depth == 8
    assert np.array_equal(img.bgr[..., 0], gray) and np.array_equal(img.bgr[..., 2], gray)
    out = restore_like(img.bgr, img)
    assert out.ndim == 2 and np.array_equal(out, gray)


def test_rgba_png_alpha_bit_exact_through_save(tmp_path):
    bgra = noise(25, 35, 4, seed=1)
    p = write_cv2(tmp_path / "in.png", bgra)
    img = load_image(p)
    assert img.alpha is not None and np.array_equal(img.alpha, bgra[..., 3])
    assert np.array_equal(img.bgr, bgra[..., :3])
    edited = img.bgr.copy()
    edited[:10] = 0
    out_path = save_result(tmp_path / "out.png", edited, img, protected=[p])
    back = cv2.imread(str(out_path), cv2.IMREAD_UNCHANGED)
    assert back.shape == (25, 35, 4)
    assert np.array_equal(back[..., 3], bgra[..., 3])
    assert np.array_equal(back[10:, :, :3], bgra[10:, :, :3])
    assert not back[:10, :, :3].any()


def test_16bit_gray_png(tmp_path):
    g16 = noise(20, 30, 1, np.uint16, seed=2)
    p = write_cv2(tmp_path / "g16.png", g16)
    img = load_image(p)
    assert img.is_gray and img.bit_depth == 16 and img.source.dtype == np.uint16
    assert np.array_equal(img.source, g16)
    assert np.array_equal(img.bgr[..., 0], ((g16.astype(np.uint32) + 128) // 257).astype(np.uint8))

    assert np.array_equal(restore_like(img.bgr, img), g16)  # untouched -> bit exact

    edited = img.bgr.copy()
    edited[:5] = 255 - edited[:5]
    out = restore_like(edited, img)
    assert out.dtype == np.uint16 and out.ndim == 2
    assert np.array_equal(out[5:], g16[5:])
    changed = edited[:5, :, 0] != img.bgr[:5, :, 0]
    assert changed.any()
    assert np.array_equal(out[:5][changed], edited[:5, :, 0][changed].astype(np.uint16) * 257)

    saved = save_result(tmp_path / "g16_out.png", edited, img)
    assert np.array_equal(cv2.imread(str(saved), cv2.IMREAD_UNCHANGED), out)


def test_16bit_bgr_png(tmp_path):
    bgr16 = noise(24, 16, 3, np.uint16, seed=3)
    p = write_cv2(tmp_path / "c16.png", bgr16)
    img = load_image(p)
    assert not img.is_gray and img.bit_depth == 16 and img.alpha is None
    assert np.array_equal(img.source, bgr16)
    assert np.array_equal(restore_like(img.bgr, img), bgr16)

    edited = img.bgr.copy()
    edited[10:12, 3:7] = (1, 2, 3)
    out = restore_like(edited, img)
    mask = np.zeros(edited.shape[:2], bool)
    mask[10:12, 3:7] = True
    assert np.array_equal(out[~mask], bgr16[~mask])
    assert (out[mask] == np.array([257, 514, 771], np.uint16)).all()

    saved = save_result(tmp_path / "c16_out.tif", edited, img)
    assert np.array_equal(cv2.imread(str(saved), cv2.IMREAD_UNCHANGED), out)


def test_16bit_bgra_png_keeps_alpha(tmp_path):
    bgra16 = noise(12, 9, 4, np.uint16, seed=4)
    p = write_cv2(tmp_path / "c16a.png", bgra16)
    img = load_image(p)
    assert img.alpha is not None and img.alpha.dtype == np.uint16
    assert np.array_equal(restore_like(img.bgr, img), bgra16)


def test_16bit_gray_alpha_png(tmp_path):
    # Neither cv2 nor Pillow can write one, so build it by hand.
    h, w = 3, 4
    la = noise(h, w, 2, np.uint16, seed=15).astype(">u2")
    raw = b"".join(b"\x00" + la[y].tobytes() for y in range(h))
    png = (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 4, 0, 0, 0))
        + png_chunk(b"IDAT", zlib.compress(raw))
        + png_chunk(b"IEND", b"")
    )
    p = tmp_path / "la16.png"
    p.write_bytes(png)
    img = load_image(p)
    assert img.is_gray and img.bit_depth == 16
    assert np.array_equal(img.source[..., 0], la[..., 0]) and np.array_equal(img.alpha, la[..., 1])
    assert np.array_equal(restore_like(img.bgr, img), img.source)


def test_16bit_gray_tiff(tmp_path):
    g16 = noise(10, 14, 1, np.uint16, seed=5)
    p = write_cv2(tmp_path / "g16.tif", g16)
    img = load_image(p)
    assert img.is_gray and img.bit_depth == 16 and np.array_equal(img.source, g16)


def test_32bit_int_tiff_in_16bit_range(tmp_path):
    a = noise(6, 7, 1, np.uint16, seed=6).astype(np.int32)
    p = tmp_path / "int32.tif"
    Image.fromarray(a, "I").save(p)
    with Image.open(p) as im:
        assert im.mode == "I"
    img = load_image(p)
    assert img.source.dtype == np.uint16 and np.array_equal(img.source, a)


@pytest.mark.parametrize(
    ("mode", "ext", "is_gray", "has_alpha"),
    [
        ("1", ".png", True, False),
        ("L", ".png", True, False),
        ("LA", ".png", True, True),
        ("P", ".png", False, False),
        ("P+t", ".png", False, True),
        ("RGB", ".webp", False, False),
        ("RGBA", ".png", False, True),
        ("CMYK", ".jpg", False, False),
        ("I;16", ".png", True, False),
        ("RGB", ".bmp", False, False),
        ("P", ".gif", False, False),
    ],
)
def test_pillow_modes(tmp_path, mode, ext, is_gray, has_alpha):
    base = Image.fromarray(asymmetric_rgb())
    p = tmp_path / f"m{ext}"
    if mode == "P+t":
        base.convert("P").save(p, transparency=0)
    elif mode == "I;16":
        Image.fromarray(noise(40, 80, 1, np.uint16)).save(p)
        with Image.open(p) as im:
            assert im.mode == "I;16"
    elif mode == "LA":
        base.convert("LA").save(p)
    else:
        base.convert(mode).save(p)
    img = load_image(p)
    assert img.bgr.shape == (40, 80, 3) and img.bgr.dtype == np.uint8
    assert img.is_gray is is_gray
    assert (img.alpha is not None) is has_alpha
    restored = restore_like(img.bgr, img)
    assert np.array_equal(restored, img.source)  # untouched image comes back unchanged
    if mode == "1":
        assert set(np.unique(img.source)) <= {0, 255}


def test_la_png_writes_gray_with_alpha(tmp_path):
    la = np.dstack([noise(8, 9, 1, seed=7), noise(8, 9, 1, seed=8)])
    p = tmp_path / "la.png"
    Image.fromarray(la, "LA").save(p)
    img = load_image(p)
    assert img.is_gray and np.array_equal(img.alpha, la[..., 1])
    edited = img.bgr.copy()
    edited[0, 0] = (0, 0, 255)  # a colour edit on a gray image ends up gray
    out = restore_like(edited, img)
    assert out.shape == (8, 9, 4)
    assert out[0, 0, 0] == out[0, 0, 1] == out[0, 0, 2] == 76  # BT.601 luma of pure red
    assert np.array_equal(out[..., 3], la[..., 1])


# ---------------------------------------------------------------- EXIF orientation


def test_jpeg_exif_orientation_6_is_upright(tmp_path):
    rgb = asymmetric_rgb(40, 80)  # red block top-left, landscape as stored
    p = tmp_path / "rot6.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(rgb).save(p, exif=exif, quality=95)

    # cv2 with IMREAD_UNCHANGED ignores the tag: raw stored orientation.
    raw = cv2.imdecode(np.fromfile(p, np.uint8), cv2.IMREAD_UNCHANGED)
    assert raw.shape[:2] == (40, 80)

    img = load_image(p)
    assert img.exif_rotated
    assert img.bgr.shape == (80, 40, 3)  # portrait once upright
    # Orientation 6 = rotate 90 degrees clockwise to display: the top-left block moves to the top-right.
    top_right = img.bgr[:20, 20:, 2].mean()
    top_left = img.bgr[:20, :20, 2].mean()
    bottom_right = img.bgr[60:, 20:, 2].mean()
    assert top_right > 200 and top_left < 100 and bottom_right < 100


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_matches_pillow_exif_transpose(tmp_path, orientation):
    p = tmp_path / f"o{orientation}.png"
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(noise(5, 7, 3, seed=orientation)).save(p, exif=exif)
    with Image.open(p) as im:
        expected = cv2.cvtColor(np.asarray(ImageOps.exif_transpose(im).convert("RGB")), cv2.COLOR_RGB2BGR)
    img = load_image(p)
    assert np.array_equal(img.bgr, expected)
    assert img.exif_rotated is (orientation != 1)


def test_16bit_color_png_with_exif_rotation(tmp_path):
    bgr16 = noise(6, 10, 3, np.uint16, seed=9)
    ok, buf = cv2.imencode(".png", bgr16)
    p = tmp_path / "c16_rot8.png"
    p.write_bytes(with_png_exif(buf.tobytes(), 8))
    img = load_image(p)
    assert img.exif_rotated and img.bit_depth == 16
    assert np.array_equal(img.source, np.rot90(bgr16, 1))  # 8 = rotate 90 counter-clockwise


# ---------------------------------------------------------------- loading: errors


def test_missing_file(tmp_path):
    p = tmp_path / "nope.jpg"
    with pytest.raises(InputError) as e:
        load_image(p)
    assert "no such file" in assert_one_line(e, p)


def test_directory(tmp_path):
    p = tmp_path / "folder.png"
    p.mkdir()
    with pytest.raises(InputError) as e:
        load_image(p)
    assert "directory" in assert_one_line(e, p)


def test_empty_file(tmp_path):
    p = tmp_path / "empty.jpg"
    p.write_bytes(b"")
    with pytest.raises(InputError) as e:
        load_image(p)
    assert "empty" in assert_one_line(e, p)


def test_text_file_named_png(tmp_path):
    p = tmp_path / "notes.png"
    p.write_text("hello, I am not a picture\n")
    with pytest.raises(InputError) as e:
        load_image(p)
    assert "not an image" in assert_one_line(e, p)


def test_random_bytes(tmp_path):
    p = tmp_path / "garbage.jpg"
    p.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(InputError) as e:
        load_image(p)
    assert_one_line(e, p)


@pytest.mark.parametrize("ext", [".jpg", ".png"])
def test_truncated(tmp_path, ext):
    full = tmp_path / f"full{ext}"
    write_cv2(full, noise(120, 160, 3, seed=10))
    data = full.read_bytes()
    p = tmp_path / f"cut{ext}"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as e:
        load_image(p)
    assert "truncated" in assert_one_line(e, p)


def test_truncated_16bit_png(tmp_path):
    full = write_cv2(tmp_path / "full16.png", noise(60, 60, 3, np.uint16, seed=11))
    data = full.read_bytes()
    p = tmp_path / "cut16.png"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as e:
        load_image(p)
    assert "truncated" in assert_one_line(e, p)


@pytest.mark.parametrize(("w", "h"), [(9000, 9000), (10000, 10000), (20000, 20000)])
def test_huge_header_is_rejected_without_decoding(tmp_path, w, h):
    # 81 MP: only our limit; 100 MP: Pillow would warn; 400 MP: Pillow would raise DecompressionBombError.
    p = png_claiming_size(tmp_path / "huge.png", w, h)
    assert p.stat().st_size < 200
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DecompressionBombWarning may escape
        with pytest.raises(InputError) as e:
            load_image(p)
    msg = assert_one_line(e, p)
    assert f"too large: {w}x{h} ({w * h // 10**6} MP > 80 MP limit)" in msg


def test_max_pixels_parameter(tmp_path):
    p = write_cv2(tmp_path / "small.png", noise(100, 100))
    with pytest.raises(InputError) as e:
        load_image(p, max_pixels=5_000)
    assert "too large: 100x100" in assert_one_line(e, p)
    assert load_image(p, max_pixels=10_000).bgr.shape == (100, 100, 3)


def test_input_file_is_never_modified(tmp_path):
    p = tmp_path / "keep.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(asymmetric_rgb()).save(p, exif=exif)
    before, mtime = p.read_bytes(), p.stat().st_mtime_ns
    img = load_image(p)
    with pytest.raises(OutputError):
        save_result(p, img.bgr, img, overwrite=True, protected=[p])
    assert p.read_bytes() == before and p.stat().st_mtime_ns == mtime


def test_source_is_read_only_but_bgr_is_editable(tmp_path):
    p = write_cv2(tmp_path / "x.png", noise(4, 4, 4))
    img = load_image(p)
    img.bgr[0, 0] = 1  # work array is a private, writable copy
    assert not np.shares_memory(img.bgr, img.source)
    with pytest.raises(ValueError):
        img.source[0, 0] = 0
    with pytest.raises(ValueError):
        img.alpha[0, 0] = 0


def test_16bit_restore_ignores_in_place_edits_of_bgr(tmp_path):
    g16 = noise(4, 5, 1, np.uint16, seed=12)
    img = load_image(write_cv2(tmp_path / "g.png", g16))
    work = img.bgr  # edited in place, as some callers will do
    work[0, 0] = 255 - work[0, 0]
    out = restore_like(work, img)
    assert out[0, 0] == int(work[0, 0, 0]) * 257
    assert np.array_equal(out.ravel()[1:], g16.ravel()[1:])


# ---------------------------------------------------------------- from_array


def test_from_array_rgb_and_bgr():
    rgb = asymmetric_rgb()
    a = from_array(rgb)
    assert np.array_equal(a.bgr, rgb[..., ::-1]) and a.path is None and not a.is_gray
    b = from_array(rgb[..., ::-1], order="bgr")
    assert np.array_equal(a.bgr, b.bgr)
    rgb[...] = 0  # caller's array is not shared
    assert a.bgr.any() and a.source.any()


def test_from_array_rgba_gray_16bit():
    rgba = noise(3, 4, 4, seed=13)
    a = from_array(rgba)
    assert np.array_equal(a.alpha, rgba[..., 3]) and np.array_equal(a.bgr, rgba[..., 2::-1])
    g = from_array(noise(3, 4, 1, np.uint16)[..., None])
    assert g.is_gray and g.bit_depth == 16 and g.source.shape == (3, 4)
    with pytest.raises(InputError):
        from_array(np.zeros((3, 4, 3), np.float32))
    with pytest.raises(InputError):
        from_array(np.zeros((3, 4, 2), np.uint8))
    with pytest.raises(ValueError):
        from_array(rgba, order="rbg")


def test_restore_like_rejects_wrong_shape():
    img = from_array(noise(3, 4))
    with pytest.raises(ValueError):
        restore_like(np.zeros((4, 3, 3), np.uint8), img)


# ---------------------------------------------------------------- saving


@pytest.mark.parametrize("ext", [".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".PNG"])
def test_save_formats(tmp_path, ext):
    bgr = noise(16, 12, seed=14)
    out = save_image(tmp_path / "sub" / "dir" / f"o{ext}", bgr)
    assert out.exists() and no_temp_files(out.parent)
    back = load_image(out)
    assert back.bgr.shape == (16, 12, 3)
    if ext.lower() in (".png", ".webp", ".bmp", ".tif", ".tiff"):  # lossless (cv2's webp default is lossless)
        assert np.array_equal(back.bgr, bgr)


def test_16bit_to_8bit_format_converts_instead_of_saturating(tmp_path):
    img16 = np.full((8, 8, 3), 1000, np.uint16)  # cv2 alone would write 255
    out = save_image(tmp_path / "o.bmp", img16)
    assert (cv2.imread(str(out)) == 4).all()  # round(1000 / 257)


def test_jpeg_drops_alpha(tmp_path):
    out = save_image(tmp_path / "o.jpg", noise(8, 8, 4))
    assert cv2.imread(str(out), cv2.IMREAD_UNCHANGED).shape == (8, 8, 3)


def test_save_refuses_existing_without_overwrite(tmp_path):
    p = tmp_path / "exists.png"
    p.write_bytes(b"old")
    with pytest.raises(OutputError) as e:
        save_image(p, noise(4, 4))
    assert "exists" in assert_one_line(e, p)
    assert p.read_bytes() == b"old"
    save_image(p, noise(4, 4), overwrite=True)
    assert load_image(p).bgr.shape == (4, 4, 3)


def test_save_refuses_protected_even_with_overwrite(tmp_path):
    src = write_cv2(tmp_path / "input.png", noise(4, 4))
    before = src.read_bytes()
    with pytest.raises(OutputError) as e:
        save_image(src, noise(4, 4, seed=1), overwrite=True, protected=[src])
    assert "input" in assert_one_line(e, src)
    # Same file reached through another spelling or a symlink.
    with pytest.raises(OutputError):
        save_image(tmp_path / "." / "input.png", noise(4, 4), overwrite=True, protected=[src])
    link = tmp_path / "link.png"
    link.symlink_to(src)
    with pytest.raises(OutputError):
        save_image(link, noise(4, 4), overwrite=True, protected=[src])
    assert src.read_bytes() == before


def test_save_refuses_protected_hardlink(tmp_path):
    src = write_cv2(tmp_path / "input.png", noise(4, 4))
    hard = tmp_path / "hard.png"
    os.link(src, hard)
    with pytest.raises(OutputError):
        save_image(hard, noise(4, 4), overwrite=True, protected=[src])


def test_unknown_extension(tmp_path):
    for name in ("out.xyz", "noext"):
        p = tmp_path / name
        with pytest.raises(OutputError) as e:
            save_image(p, noise(4, 4))
        assert "extension" in assert_one_line(e, p)
        assert not p.exists()


def test_failed_encode_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(image_io.cv2, "imencode", lambda *a, **k: (False, None))
    p = tmp_path / "new" / "fail.png"
    with pytest.raises(OutputError) as e:
        save_image(p, noise(4, 4))
    assert_one_line(e, p)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_removes_temp_and_keeps_old_file(tmp_path, monkeypatch):
    p = tmp_path / "out.png"
    p.write_bytes(b"old contents")

    def boom(src, dst):
        raise OSError(28, "No space left on device")

    from facecanvas.media import outputs

    monkeypatch.setattr(outputs.os, "replace", boom)  # the one atomic writer (full disk at the rename)
    with pytest.raises(OutputError) as e:
        save_image(p, noise(4, 4), overwrite=True)
    assert "No space left" in assert_one_line(e, p)
    assert sorted(x.name for x in tmp_path.iterdir()) == ["out.png"]
    assert p.read_bytes() == b"old contents"


def test_save_to_directory_path(tmp_path):
    d = tmp_path / "adir.png"
    d.mkdir()
    with pytest.raises(OutputError) as e:
        save_image(d, noise(4, 4), overwrite=True)
    assert "directory" in assert_one_line(e, d)


def test_save_permissions_follow_umask(tmp_path):
    old = os.umask(0o022)
    try:
        out = save_image(tmp_path / "perm.png", noise(4, 4))
    finally:
        os.umask(old)
    assert (out.stat().st_mode & 0o777) == 0o644


def test_full_roundtrip_gray_jpeg_input_to_png(tmp_path):
    src = tmp_path / "g.jpg"
    Image.fromarray(noise(20, 20, 1)).save(src)
    img = load_image(src)
    out = save_result(tmp_path / "g_out.png", img.bgr, img, protected=[src])
    back = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert back.ndim == 2 and np.array_equal(back, img.source)
