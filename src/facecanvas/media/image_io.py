"""Read and write photos without losing what the edit did not touch.

Loading gives an upright 8-bit BGR array to work on plus the original pixels
(bit depth, gray, alpha) so `restore_like` can write the result back in the
input's own format. Every input problem becomes a one-line InputError; every
output problem a one-line OutputError.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from facecanvas.errors import InputError, OutputError

from .names import display_path
from .names import one_line as _escape_line
from .outputs import check_output, check_outputs, same_file, write_atomic
from .safe_open import read_input

__all__ = ["LoadedImage", "load_image", "from_array", "restore_like", "save_image", "save_result",
           "check_outputs", "output_mark"]

# Only formats we can also write (plus GIF). Keeping Pillow off the rest matters for
# untrusted files: e.g. its EPS plugin would run Ghostscript.
_READ_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "TIFF", "GIF")
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")  # what we read and write
_WRITE_EXTS = IMAGE_EXTS
_16BIT_EXTS = (".png", ".tif", ".tiff")
_ORIENTATION_TAG = 0x0112

# What Pillow/cv2 raise on malformed data (truncated streams, bad chunks, bogus headers).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError,
                  TypeError, struct.error, cv2.error)

# EXIF orientation -> transform that makes the stored pixels upright (same as ImageOps.exif_transpose).
_UPRIGHT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
    8: lambda a: np.rot90(a, 1),
}


@dataclass(frozen=True)
class LoadedImage:
    """An image ready for processing plus what is needed to write it back losslessly.

    `source` and `alpha` are read-only: they are the reference `restore_like` compares
    against, so editing them in place would silently corrupt the write-back.
    """

    bgr: np.ndarray  # HxWx3 uint8 BGR, upright
    alpha: np.ndarray | None  # HxW at source depth, None if the source has no alpha
    source: np.ndarray  # upright pixels at original depth: HxW gray, HxWx3 BGR or HxWx4 BGRA
    path: Path | None
    is_gray: bool
    bit_depth: int  # 8 or 16
    exif_rotated: bool  # an EXIF orientation transform was applied


def _one_line(text: str) -> str:
    # Messages go to a terminal as a single line, even for odd file names or library errors.
    return _escape_line(" ".join(text.replace("\r", "\\r").replace("\n", "\\n").split()))


def _mp(pixels: float) -> str:
    return f"{pixels / 1e6:.1f}".removesuffix(".0")


def _to_8bit(a: np.ndarray) -> np.ndarray:
    """uint16 -> uint8 with rounding; exact inverse of v*257, which restore_like relies on."""
    if a.dtype == np.uint8:
        return a
    return ((a.astype(np.uint32) + 128) // 257).astype(np.uint8)


def _wrap(source: np.ndarray, path: Path | None, is_gray: bool, exif_rotated: bool) -> LoadedImage:
    # Callers pass freshly decoded/copied pixels, so freezing them here affects no one else.
    source = np.ascontiguousarray(source)
    source.setflags(write=False)
    color = source if source.ndim == 2 else source[..., :3]
    if color.ndim == 2:
        color = np.repeat(color[..., None], 3, axis=2)
    alpha = None
    if source.ndim == 3 and source.shape[2] == 4:
        alpha = np.ascontiguousarray(source[..., 3])
        alpha.setflags(write=False)
    return LoadedImage(
        bgr=np.array(_to_8bit(color), order="C"),  # always a writable copy, never a view of source
        alpha=alpha,
        source=source,
        path=path,
        is_gray=is_gray,
        bit_depth=16 if source.dtype == np.uint16 else 8,
        exif_rotated=exif_rotated,
    )


def _header_size(data: bytes) -> tuple[int, int] | None:
    """Size from the header alone, for files Image.open() refuses as decompression bombs.

    Image.open() raises before handing out the image, and raising Pillow's global
    MAX_IMAGE_PIXELS would leak into the whole process; the format plugins themselves
    only parse the header, so ask them. Best effort: None if that fails.
    """
    Image.init()
    for fmt in _READ_FORMATS:
        factory, accept = Image.OPEN.get(fmt, (None, None))
        try:
            ok = accept is None or accept(data[:16])
            if factory is not None and ok and not isinstance(ok, str):
                return factory(io.BytesIO(data), "").size
        except Exception:  # noqa: BLE001 - any failure just means "size unknown"
            continue
    return None


def _is_16bit_color(im: Image.Image, data: bytes) -> bool:
    """Pillow silently reduces 16-bit RGB(A)/LA to 8 bits; such files go through cv2 instead."""
    if im.format == "PNG":
        return data[24] == 16 and data[25] in (2, 4, 6)  # IHDR bit depth; RGB, gray+alpha, RGBA
    if im.format == "TIFF" and im.mode in ("RGB", "RGBA", "LA"):
        bits = im.tag_v2.get(258, (8,))  # BitsPerSample
        return max(bits if isinstance(bits, tuple) else (bits,)) == 16
    return False


def _pil_pixels(im: Image.Image) -> tuple[np.ndarray, bool]:
    """Decoded Pillow image -> (pixels in BGR channel order at source depth, is_gray)."""
    mode = im.mode
    if mode in ("1", "L"):
        return np.asarray(im.convert("L")), True
    if mode.startswith("I"):  # I;16, I;16B, I;16L, I (32-bit int, e.g. older Pillow's 16-bit PNGs)
        a = np.asarray(im)
        if a.size and (a.min() < 0 or a.max() > 65535):
            raise ValueError(f"pixel values outside 16-bit range in mode {mode}")
        return a.astype(np.uint16), True
    if mode in ("LA", "La"):
        la = np.asarray(im.convert("LA"))
        g = la[..., 0]
        return np.dstack([g, g, g, la[..., 1]]), True
    if mode in ("RGBA", "RGBa", "PA") or (mode == "P" and "transparency" in im.info):
        return cv2.cvtColor(np.asarray(im.convert("RGBA")), cv2.COLOR_RGBA2BGRA), False
    # RGB, P, CMYK, YCbCr, LAB, HSV, F, ...: Pillow's own conversion to RGB.
    return cv2.cvtColor(np.asarray(im.convert("RGB")), cv2.COLOR_RGB2BGR), False


def max_input_bytes(max_pixels: int) -> int:
    """The most bytes an image file may have: an uncompressed 16-bit RGBA image at the pixel limit."""
    return max_pixels * 8 + (16 << 20)


def load_image(path: str | Path, max_pixels: int = 80_000_000) -> LoadedImage:
    """Read an image file; raise InputError (one line, naming the file) if it is unusable."""
    p = Path(path)

    def fail(reason: str) -> InputError:
        return InputError(_one_line(f"cannot read {p}: {reason}"))

    def too_large(w: int, h: int, limit: int) -> InputError:
        return fail(f"image is too large: {w}x{h} ({_mp(w * h)} MP > {_mp(limit)} MP limit)")

    # Regular files only, opened without blocking and read with a bound (safe_open.py): a named
    # pipe, /dev/zero or /dev/urandom is refused at once. The input is never opened for writing.
    data = read_input(p, max_bytes=max_input_bytes(max_pixels), what="an image file")

    try:
        # Pillow warns above its own pixel limit; our max_pixels check below is the one that counts.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=_READ_FORMATS)
    except Image.DecompressionBombError as e:
        size = _header_size(data)
        if size is None:
            raise fail(f"image is too large ({e})") from e
        pil_limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
        raise too_large(*size, max_pixels if size[0] * size[1] > max_pixels else pil_limit) from e
    except UnidentifiedImageError as e:
        raise fail(f"not an image or unsupported format (supported: {', '.join(_READ_FORMATS)})") from e
    except _DECODE_ERRORS as e:
        raise fail(f"corrupt image header ({e})") from e

    with im:
        w, h = im.size
        if w * h > max_pixels:  # checked before any pixel is decoded
            raise too_large(w, h, max_pixels)
        try:
            # load() raises on truncated data as long as ImageFile.LOAD_TRUNCATED_IMAGES is
            # False (Pillow's default, which we rely on and never change).
            im.load()
            orientation = im.getexif().get(_ORIENTATION_TAG, 1)  # PNG eXIf may follow IDAT: after load()
            if _is_16bit_color(im, data):
                # cv2 keeps uint16 BGR(A); IMREAD_UNCHANGED ignores EXIF, so we rotate below.
                pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
                if pixels is None or pixels.shape[:2] != (h, w):
                    raise ValueError("16-bit decode failed")
                # Pillow reports 16-bit gray+alpha PNGs as RGBA; the IHDR colour type (4) knows better.
                is_gray = im.mode in ("LA", "La") or (im.format == "PNG" and data[25] == 4)
            else:
                pixels, is_gray = _pil_pixels(im)
        except _DECODE_ERRORS as e:
            raise fail(f"corrupt, truncated or unsupported image data ({e})") from e

    transform = _UPRIGHT.get(orientation) if isinstance(orientation, int) else None
    if transform is not None:
        pixels = transform(pixels)
    return _wrap(pixels, p, is_gray, exif_rotated=transform is not None)


def from_array(rgb_or_bgr: np.ndarray, order: str = "rgb") -> LoadedImage:
    """Wrap an in-memory uint8/uint16 array (HxW, HxWx1, HxWx3, HxWx4); `order` is "rgb" or "bgr"."""
    if order not in ("rgb", "bgr"):
        raise ValueError(f"order must be 'rgb' or 'bgr', not {order!r}")
    a = np.asarray(rgb_or_bgr)
    if a.dtype not in (np.uint8, np.uint16):
        raise InputError(f"cannot use in-memory image: unsupported dtype {a.dtype} (need uint8 or uint16)")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (3, 4))) or a.shape[0] == 0 or a.shape[1] == 0:
        raise InputError(f"cannot use in-memory image: unsupported shape {a.shape}")
    if a.ndim == 3 and order == "rgb":
        a = a[..., [2, 1, 0, 3][: a.shape[2]]]  # fancy indexing copies
    return _wrap(np.array(a), None, is_gray=a.ndim == 2, exif_rotated=False)


def restore_like(processed_bgr: np.ndarray, like: LoadedImage) -> np.ndarray:
    """Turn an 8-bit BGR result back into `like`'s format (gray, alpha, 16-bit).

    16-bit: each sample whose 8-bit value is unchanged keeps its exact original value;
    changed samples become value*257.
    """
    h, w = like.source.shape[:2]
    if processed_bgr.dtype != np.uint8 or processed_bgr.shape != (h, w, 3):
        raise ValueError(
            f"expected a {h}x{w}x3 uint8 BGR image, got {processed_bgr.shape} {processed_bgr.dtype}"
        )
    src = like.source
    if like.is_gray:
        # BGR2GRAY is exact for B=G=R (its weights sum to 1 in fixed point), so untouched gray survives.
        out = cv2.cvtColor(processed_bgr, cv2.COLOR_BGR2GRAY)
        ref = src if src.ndim == 2 else src[..., 0]
    else:
        out = processed_bgr
        ref = src[..., :3]
    if like.bit_depth == 16:
        # Compare with the source itself, not like.bgr, which callers may have edited in place.
        out = np.where(out == _to_8bit(ref), ref, out.astype(np.uint16) * 257).astype(np.uint16)
    if like.alpha is not None:
        color = np.dstack([out] * 3) if out.ndim == 2 else out
        out = np.dstack([color, like.alpha])
    return np.ascontiguousarray(out)


def output_mark(operation: str | None = None) -> str:
    """The "edited by facecanvas" mark every output carries, with the operation and the version."""
    import facecanvas

    what = f": {operation}" if operation else ""
    return f"edited by facecanvas {facecanvas.__version__}{what}"


def _software() -> str:
    import facecanvas

    return f"facecanvas {facecanvas.__version__}"


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _text(value: str) -> bytes:
    return value.encode("latin-1", "replace")  # tEXt is Latin-1; the mark is ASCII unless the op name is not


def _add_mark(data: bytes, ext: str, mark: str) -> bytes:
    """Put ``mark`` into the encoded file's own metadata; the pixel data is not touched.

    PNG: tEXt chunks ``Software`` and ``Description`` right after IHDR. JPEG: an EXIF APP1 segment
    with ``ImageDescription`` and ``Software`` (no orientation tag, so readers keep the pixels as they
    are). WebP, BMP and TIFF from OpenCV carry no mark.
    """
    if ext == ".png" and data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        end = 8 + 12 + struct.unpack(">I", data[8:12])[0]
        chunks = (_png_chunk(b"tEXt", b"Software\0" + _text(_software()))
                  + _png_chunk(b"tEXt", b"Description\0" + _text(mark)))
        return data[:end] + chunks + data[end:]
    if ext in (".jpg", ".jpeg") and data[:2] == b"\xff\xd8":
        exif = Image.Exif()
        exif[0x010E] = mark  # ImageDescription
        exif[0x0131] = _software()  # Software
        payload = exif.tobytes()
        if len(payload) + 2 > 0xFFFF:
            return data
        segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
        at = 2
        if data[2:4] == b"\xff\xe0":  # after the JFIF APP0 segment, where readers expect EXIF
            at = 4 + struct.unpack(">H", data[4:6])[0]
        return data[:at] + segment + data[at:]
    return data


def _same_file(a: Path, b: Path) -> bool:
    return same_file(a, b)


def save_image(
    path: str | Path,
    image: np.ndarray,
    *,
    overwrite: bool = False,
    protected: Iterable[Path] = (),
    operation: str | None = None,
) -> Path:
    """Write `image` (BGR/BGRA/gray, uint8 or uint16) atomically; the format follows the extension.

    The file carries an "edited by facecanvas VERSION: OPERATION" mark (PNG text chunk, JPEG EXIF).
    """
    p = Path(path)

    def fail(reason: str) -> OutputError:
        return OutputError(_one_line(f"cannot write {p}: {reason}"))

    ext = p.suffix.lower()
    check_output(p, overwrite=overwrite, protected=protected, exts=_WRITE_EXTS, kind="image")

    if image.dtype not in (np.uint8, np.uint16) or not (
        image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (1, 3, 4))
    ):
        raise ValueError(f"cannot encode array of shape {image.shape} and dtype {image.dtype}")
    if image.dtype == np.uint16 and ext not in _16BIT_EXTS:
        image = _to_8bit(image)  # cv2 would saturate instead (1000 -> 255)
    if ext in (".jpg", ".jpeg") and image.ndim == 3 and image.shape[2] == 4:
        image = image[..., :3]  # JPEG has no alpha

    # Encode in memory first: a failed encode then never touches the disk.
    try:
        ok, buf = cv2.imencode(ext, np.ascontiguousarray(image))
    except cv2.error as e:
        raise fail(f"encoding failed ({e})") from e
    if not ok or buf is None:
        raise fail("encoding failed")
    data = _add_mark(buf.tobytes(), ext, output_mark(operation))

    return write_atomic(p, data)


def save_result(
    path: str | Path,
    processed_bgr: np.ndarray,
    like: LoadedImage,
    *,
    overwrite: bool = False,
    protected: Iterable[Path] = (),
    operation: str | None = None,
) -> Path:
    """Write an 8-bit BGR result in the format of the image it came from (with the facecanvas mark)."""
    return save_image(path, restore_like(processed_bgr, like), overwrite=overwrite, protected=protected,
                      operation=operation)
