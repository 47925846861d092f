"""A corpus of hostile command lines for ``scripts/fuzz.py``.

Every case is one ``facecanvas`` command line over files made in a scratch folder: bad images, masks,
effect files and videos; file types that are not files (named pipes, symlinks to /dev/zero); odd names
(not UTF-8, newlines, 250 bytes); outputs that cannot be written; signals at start-up and mid-video.
``Case.expect`` is the set of exit codes the README promises. ``known`` names a cause that another
part of the sweep fixes (the command/options layer): such a case is reported, not counted as a failure,
until it passes.

``build(root, mode)``: ``"short"`` is a quick, representative subset (the pytest run), ``"long"`` adds
mutated and truncated files at many offsets, more names and more signal timings.
"""

from __future__ import annotations

import os
import random
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

FACE = "face.png"  # the astronaut, made once per corpus


@dataclass
class Case:
    name: str
    argv: list  # str | bytes | Path items after `facecanvas`
    expect: frozenset  # allowed exit codes
    mention: str | None = None  # a name the error line must contain (display form)
    outputs: tuple = ()  # files the run may create (relative to the case folder); anything else is stray
    must_exist: tuple = ()  # outputs that must be there afterwards
    must_not_exist: tuple = ()
    signal: tuple | None = None  # (signal name, seconds after start) or (name, "after:<file>")
    timeout: float = 120.0
    known: str | None = None  # cause fixed elsewhere: report, do not fail
    short: bool = False  # part of the quick mode
    stdin_devnull: bool = True
    setup: object = None  # callable(folder) -> None, for cases that need their own files
    tags: tuple = ()
    extra_ok: tuple = ()  # glob patterns of extra files that may appear (e.g. partial videos)


def _codes(*c: int) -> frozenset:
    return frozenset(c)


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_claiming(w: int, h: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64)) \
        + _png_chunk(b"IEND", b"")


def _astronaut() -> np.ndarray:
    from skimage.data import astronaut

    return cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR)


def _enc(ext: str, img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(ext, img)
    assert ok
    return buf.tobytes()


def _clip(path: Path, n: int = 20, size=(160, 96), audio: bool = True) -> Path:
    from facecanvas.media.synthetic import astronaut_clip

    return astronaut_clip(path, n=n, size=size, audio=audio)


def _audio_only(path: Path) -> Path:
    import av

    with av.open(str(path), "w") as out:
        a = out.add_stream("aac", rate=16000)
        a.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 16000), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 16000, 0
        for p in a.encode(frame):
            out.mux(p)
        for p in a.encode(None):
            out.mux(p)
    return path


def _pcm_clip(path: Path, n: int = 12) -> Path:
    """Stereo 48 kHz PCM audio: .mp4 takes it in its header and refused it only when closing."""
    import av

    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        a = out.add_stream("pcm_s16le", rate=48000)
        a.layout = "stereo"
        for i in range(n):
            f = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 20, np.uint8), format="bgr24")
            f.pts = i
            for p in vs.encode(f):
                out.mux(p)
        for p in vs.encode(None):
            out.mux(p)
        af = av.AudioFrame.from_ndarray(np.zeros((1, n * 48000 // 25 * 2), np.int16), format="s16", layout="stereo")
        af.sample_rate, af.pts = 48000, 0
        for p in a.encode(af):
            out.mux(p)
        for p in a.encode(None):
            out.mux(p)
    return path


def _no_face(rng: random.Random) -> np.ndarray:
    """A real photo's texture with no face in it: the astronaut's suit and flag, tiled."""
    img = _astronaut()[330:512, 0:180]
    return np.tile(img, (2, 2, 1))


def deep_toml(depth: int) -> str:
    return "name = " + "[" * depth + "]" * depth + "\n"


def build(root: Path, mode: str = "short", seed: int = 0) -> list[Case]:
    """Write the shared files under ``root/data`` and return the cases (run each in its own folder)."""
    rng = random.Random(seed)
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    img = _astronaut()
    face_png = _enc(".png", img)
    face_jpg = _enc(".jpg", img)
    (data / FACE).write_bytes(face_png)
    (data / "face.jpg").write_bytes(face_jpg)
    clip = _clip(data / "clip.mp4")
    _audio_only(data / "audio_only.mp4")
    (data / "two_faces.png").write_bytes(_enc(".png", np.hstack([img, img[:, ::-1]])))
    (data / "no_face.png").write_bytes(_enc(".png", _no_face(rng)))

    cases: list[Case] = []

    def add(*a, **k):
        cases.append(Case(*a, **k))

    def photo_file(name: str, content: bytes):
        def setup(folder: Path):
            (folder / name).write_bytes(content)
        return setup

    def link(name: str, target: str):
        def setup(folder: Path):
            os.symlink(target, folder / name)
        return setup

    def fifo(name: str):
        def setup(folder: Path):
            os.mkfifo(folder / name)
        return setup

    def copy(name, src: Path):
        def setup(folder: Path):
            (folder / os.fsdecode(name) if isinstance(name, bytes) else folder / name).write_bytes(src.read_bytes())
        return setup

    def chain(*fns):
        def setup(folder: Path):
            for f in fns:
                f(folder)
        return setup

    ok, bad, no_face, out_err = _codes(0), _codes(2), _codes(3), _codes(4)

    # ---- photos: good baseline and formats
    add("photo-ok", ["erase", "in.png", "-o", "out.png"], ok, outputs=("out.png",), must_exist=("out.png",),
        setup=copy("in.png", data / FACE), short=True)
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    add("photo-gray16", ["erase", "g.png", "-o", "out.png"], ok, outputs=("out.png",),
        setup=photo_file("g.png", _enc(".png", gray.astype(np.uint16) * 257)))
    add("photo-rgba", ["erase", "a.png", "-o", "out.png"], ok, outputs=("out.png",),
        setup=photo_file("a.png", _enc(".png", np.dstack([img, np.full(img.shape[:2], 200, np.uint8)]))))

    # ---- photos: bad content
    add("empty", ["erase", "e.png", "-o", "out.png"], bad, "e.png", setup=photo_file("e.png", b""), short=True)
    add("text-as-png", ["erase", "t.png", "-o", "out.png"], bad, "t.png",
        setup=photo_file("t.png", b"hello, not a picture\n"))
    add("random-bytes", ["erase", "r.jpg", "-o", "out.jpg"], bad, "r.jpg",
        setup=photo_file("r.jpg", bytes(rng.getrandbits(8) for _ in range(4096))))
    add("truncated-jpeg", ["erase", "cut.jpg", "-o", "out.jpg"], bad, "cut.jpg",
        setup=photo_file("cut.jpg", face_jpg[: len(face_jpg) // 2]), short=True)
    add("truncated-png", ["erase", "cut.png", "-o", "out.png"], bad, "cut.png",
        setup=photo_file("cut.png", face_png[: len(face_png) // 3]))
    add("huge-header", ["erase", "huge.png", "-o", "out.png"], bad, "huge.png",
        setup=photo_file("huge.png", png_claiming(100000, 100000)), short=True)

    # ---- photos: not regular files (causes 3, 4)
    if os.name == "posix":
        for dev in ("/dev/zero", "/dev/urandom"):
            nm = f"{Path(dev).name}.png"
            add(f"symlink-{Path(dev).name}", ["erase", nm, "-o", "out.png"], bad, nm, setup=link(nm, dev),
                short=dev == "/dev/zero", timeout=60)
        add("fifo", ["erase", "f.jpg", "-o", "out.jpg"], bad, "f.jpg", setup=fifo("f.jpg"), timeout=60, short=True)
        add("faces-fifo", ["faces", "f.jpg"], bad, "f.jpg", setup=fifo("f.jpg"), timeout=60)
        add("effect-zero", ["effect", "comic", "z.png", "-o", "out.png"], bad, "z.png",
            setup=link("z.png", "/dev/zero"), timeout=60)
        add("donor-fifo", ["effect", "transplant", "in.png", "--donor", "d.png", "-o", "out.png"], bad, "d.png",
            setup=chain(copy("in.png", data / FACE), fifo("d.png")), timeout=60, short=True)
        add("mask-zero", ["inpaint", "in.png", "--mask", "m.png", "-o", "out.png"], bad, "m.png",
            setup=chain(copy("in.png", data / FACE), link("m.png", "/dev/urandom")), timeout=60)
        add("sticker-zero", ["effect", "st.toml", "in.png", "-o", "out.png"], bad, "s.png",
            setup=chain(copy("in.png", data / FACE), link("s.png", "/dev/zero"), photo_file(
                "st.toml", b'name = "st"\nerase = []\n[[sticker]]\nimage = "s.png"\nanchor = "forehead"\n')),
            timeout=60)
        add("match-fifo", ["erase", "c.mp4", "-o", "o.mp4", "--match", "me.png"], bad, "me.png",
            setup=chain(copy("c.mp4", clip), fifo("me.png")), timeout=60)
        add("video-fifo", ["erase", "f.mp4", "-o", "o.mp4"], bad, "f.mp4", setup=fifo("f.mp4"), timeout=60)
        add("video-zero", ["erase", "z.mp4", "-o", "o.mp4"], bad, "z.mp4", setup=link("z.mp4", "/dev/zero"),
            timeout=60)
    add("missing", ["erase", "nope.png", "-o", "out.png"], bad, "nope.png")
    add("directory-as-image", ["erase", "d.png", "-o", "out.png"], bad, "d.png",
        setup=lambda f: (f / "d.png").mkdir())
    if os.name == "posix":
        add("broken-symlink", ["erase", "b.png", "-o", "out.png"], bad, "b.png", setup=link("b.png", "/nonexistent/x"))

    # ---- degenerate sizes (cause 5): no face, not an internal error
    for (h, w) in ((1, 100000), (100000, 1), (1, 1)):
        nm = f"strip_{h}x{w}.png"
        add(f"strip-{h}x{w}", ["erase", nm, "-o", "out.png"], no_face, nm,
            setup=photo_file(nm, _enc(".png", np.full((h, w, 3), 128, np.uint8))), short=(h, w) == (1, 100000))

    # ---- outputs (causes 9, 10, 11)
    for ext in (".xyz", ".gif"):
        add(f"output-{ext[1:]}", ["erase", "in.png", "-o", f"out{ext}"], out_err, f"out{ext}",
            setup=copy("in.png", data / FACE), must_not_exist=(f"out{ext}",), short=ext == ".xyz")
    add("video-to-png", ["erase", "c.mp4", "-o", "out.png"], out_err, "out.png", setup=copy("c.mp4", clip),
        must_not_exist=("out.png",), short=True)
    add("output-exists", ["erase", "in.png", "-o", "old.png"], out_err, "old.png",
        setup=chain(copy("in.png", data / FACE), photo_file("old.png", b"keep me")))
    add("output-is-input", ["erase", "in.png", "-o", "in.png", "--overwrite"], out_err, "in.png",
        setup=copy("in.png", data / FACE))
    long_name = "n" * 246 + ".png"
    add("output-250-bytes", ["erase", "in.png", "-o", long_name], ok, outputs=(long_name,), must_exist=(long_name,),
        setup=copy("in.png", data / FACE), short=True)
    too_long = "n" * 252 + ".png"
    add("output-256-bytes", ["erase", "in.png", "-o", too_long], out_err, "nnnn", setup=copy("in.png", data / FACE))
    add("save-mask-over-input", ["erase", "out_mask.png", "-o", "out.png", "--save-mask", "--overwrite"], out_err,
        "out_mask.png", setup=copy("out_mask.png", data / FACE), must_not_exist=("out.png",),
        short=True)

    # ---- names (cause 8)
    if os.name == "posix":
        add("name-not-utf8", ["erase", b"caf\xe9.png", "-o", b"out\xe9.png"], ok, outputs=(b"out\xe9.png",),
            must_exist=(b"out\xe9.png",), setup=copy(b"caf\xe9.png", data / FACE), short=True)
        add("name-newline-bad", ["erase", "a\nb.png", "-o", "out.png"], bad, "a\\nb.png",
            setup=photo_file("a\nb.png", b"junk"), short=True)
    add("name-spaces-unicode", ["erase", "été  x.png", "-o", "ö ut.png"], ok, outputs=("ö ut.png",),
        setup=copy("été  x.png", data / FACE))

    # ---- effect files (cause 13) and effect options
    add("effect-deep", ["effect", "deep.toml", "in.png", "-o", "out.png"], bad, "deep.toml",
        setup=chain(copy("in.png", data / FACE), photo_file("deep.toml", deep_toml(100000).encode())), short=True)
    add("effect-not-toml", ["effect", "x.toml", "in.png", "-o", "out.png"], bad, "x.toml",
        setup=chain(copy("in.png", data / FACE), photo_file("x.toml", b"\xff\xfe = [")))
    add("effect-unknown-part", ["effect", "x.toml", "in.png", "-o", "out.png"], bad, "x.toml",
        setup=chain(copy("in.png", data / FACE), photo_file("x.toml", b'[[paste]]\npart = "lip"\n')))
    add("effect-strength-0", ["effect", "comic", "in.png", "-o", "out.png", "--strength", "0"], ok,
        outputs=("out.png",), setup=copy("in.png", data / FACE), )
    add("detect-size-0", ["erase", "in.png", "-o", "out.png", "--detect-size", "0"], bad, "detect-size",
        setup=copy("in.png", data / FACE), )
    add("batch-goes-on", ["erase", "bad.png", "in.png", "-o", "outdir"], bad, "bad.png",
        outputs=("outdir/in.png",), must_exist=("outdir/in.png",),
        setup=chain(copy("in.png", data / FACE), photo_file("bad.png", b"junk")))
    add("inpaint-mask-size", ["inpaint", "in.png", "--mask", "m.png", "-o", "out.png"], bad, "m.png",
        setup=chain(copy("in.png", data / FACE), photo_file("m.png", _enc(".png", np.zeros((5, 7), np.uint8)))))

    # ---- videos
    add("video-ok", ["erase", "c.mp4", "-o", "o.mp4"], ok, outputs=("o.mp4",), must_exist=("o.mp4",),
        setup=copy("c.mp4", clip))
    add("video-text", ["erase", "t.mp4", "-o", "o.mp4"], bad, "t.mp4", setup=photo_file("t.mp4", b"not a video"))
    add("video-truncated", ["erase", "cut.mp4", "-o", "o.mp4"], bad, "cut.mp4",
        setup=photo_file("cut.mp4", clip.read_bytes()[: clip.stat().st_size // 2]), short=True)
    add("video-audio-only", ["erase", "a.mp4", "-o", "o.mp4"], bad, "a.mp4", setup=copy("a.mp4", data / "audio_only.mp4"))
    for dst, codec in (("o.webm", "mpeg4"), ("o.mp4", "rawvideo"), ("o.mp4", "aac")):
        add(f"codec-{codec}-{dst}", ["erase", "c.mp4", "-o", dst, "--codec", codec], _codes(2, 4), dst,
            setup=copy("c.mp4", clip), short=codec == "mpeg4")
    pcm = _pcm_clip(data / "pcm.mkv")
    add("pcm-into-mp4", ["erase", "p.mkv", "-o", "o.mp4"], out_err, "o.mp4", setup=copy("p.mkv", pcm),
        must_not_exist=("o.mp4",))
    add("pcm-into-mkv", ["erase", "p.mkv", "-o", "o.mkv"], ok, outputs=("o.mkv",), must_exist=("o.mkv",),
        setup=copy("p.mkv", pcm))
    add("audio-into-webm", ["erase", "c.mp4", "-o", "o.webm"], out_err, "o.webm", setup=copy("c.mp4", clip))

    # ---- signals (causes 1, 2, 17, 18)
    # Long enough that the run is still going 3 s after its output appears on a fast machine (400 frames
    # took 3.1-3.6 s in all by 2026-12-06, and the SIGTERM case then sometimes came too late).
    slow = _clip(data / "slow.mp4", n=1200, size=(320, 192))
    add("ctrl-c-partial-is-input", ["erase", "trick.partial.mp4", "-o", "trick.mp4"], _codes(130), "trick",
        setup=copy("trick.partial.mp4", slow), signal=("SIGINT", "after:3"), must_not_exist=("trick.mp4",),
        extra_ok=("trick.partial-*.mp4",), short=True, timeout=180)
    add("ctrl-c-partial-exists", ["erase", "c.mp4", "-o", "o.mp4"], _codes(130), "o.mp4",
        setup=chain(copy("c.mp4", slow), photo_file("o.partial.mp4", b"an older partial")),
        signal=("SIGINT", "after:3"), must_not_exist=("o.mp4",), extra_ok=("o.partial-*.mp4",), timeout=180)
    add("sigterm-video", ["erase", "c.mp4", "-o", "o.mp4"], _codes(143), "o.mp4", setup=copy("c.mp4", slow),
        signal=("SIGTERM", "after:3"), must_not_exist=("o.mp4",), extra_ok=("o.partial.mp4",), short=True,
        timeout=180)
    # Timed from the start: the interpreter, the package import (lazy), cv2's native initialiser (the
    # signal is deferred until it returns), the command imports, the run.
    for delay in ((0.05, 0.1, 0.13, 0.15, 0.2, 0.3, 0.5, 0.8, 1.2, 1.6) if mode == "long" else ()):
        for sig in ("SIGINT", "SIGTERM"):
            add(f"startup-{sig}-{delay}", ["erase", "in.png", "-o", "out.png"], _codes(0, 130 if sig == "SIGINT" else 143),
                None, outputs=("out.png",), setup=copy("in.png", data / FACE), signal=(sig, delay))
    # Timed from the process's own progress (cv2's native library is mapped by the command imports in
    # build_parser, after the package import), so a loaded machine does not move the signal into another phase.
    for sig in ("SIGINT", "SIGTERM"):
        add(f"startup-{sig}-command-imports", ["erase", "in.png", "-o", "out.png"],
            _codes(0, 130 if sig == "SIGINT" else 143), None, outputs=("out.png",), setup=copy("in.png", data / FACE),
            signal=(sig, "maps:/cv2/"), short=sig == "SIGTERM")
    # The timed ones: long mode only.
    add("live-port-range", ["live", "--source", "c.mp4", "--port", "70000", "--duration", "1"], bad, "port",
        setup=copy("c.mp4", clip), )

    from .surfaces import cases as surface_cases

    cases += surface_cases(data, rng, mode)
    if mode == "long":
        cases += _mutations(data, face_png, face_jpg, clip, rng)
    return [c for c in cases if mode == "long" or c.short]


def _mutations(data: Path, face_png: bytes, face_jpg: bytes, clip: Path, rng: random.Random) -> list[Case]:
    """Flipped bytes and cuts at many offsets: each is bad input (2), no face (3) or a clean run (0)."""
    out: list[Case] = []
    any_ok = _codes(0, 2, 3)
    vid = clip.read_bytes()
    for i in range(30):
        for ext, src in ((".png", face_png), (".jpg", face_jpg), (".mp4", vid)):
            b = bytearray(src)
            for _ in range(rng.randint(1, 20)):
                b[rng.randrange(len(b))] = rng.getrandbits(8)
            nm = f"flip{i}{ext}"
            content = bytes(b)
            out.append(Case(f"mutate-{ext[1:]}-{i}", ["erase", nm, "-o", f"o{ext}"], any_ok, nm,
                            outputs=(f"o{ext}",), setup=lambda f, nm=nm, c=content: (f / nm).write_bytes(c)))
            cut = rng.randrange(1, len(src))
            nm2 = f"cut{i}{ext}"
            out.append(Case(f"cut-{ext[1:]}-{i}", ["erase", nm2, "-o", f"o{ext}"], any_ok, nm2,
                            outputs=(f"o{ext}",), setup=lambda f, nm=nm2, c=src[:cut]: (f / nm).write_bytes(c)))
    mask = _enc(".png", (np.arange(512 * 512).reshape(512, 512) % 97 > 90).astype(np.uint8) * 255)
    toml_bits = ['name = "x"', "erase = []", 'erase = ["mouth"]', "[[paste]]", 'part = "mouth"', "scale = 9",
                 "scale = -1", 'scale = "$w"', "[params]", "w = 1.5", "[[sticker]]", 'image = "face.png"',
                 'anchor = "forehead"', "anchor = 999", "max_yaw = 1e308", "offset = [1]", "= =", "[[[", '"\\ud800"']
    for i in range(15):
        b = bytearray(mask)
        for _ in range(rng.randint(1, 12)):
            b[rng.randrange(len(b))] = rng.getrandbits(8)
        out.append(Case(f"mask-mutate-{i}", ["inpaint", "in.png", "--mask", "m.png", "-o", "o.png"], any_ok, "m.png",
                        outputs=("o.png",),
                        setup=lambda f, c=bytes(b): ((f / "m.png").write_bytes(c),
                                                     (f / "in.png").write_bytes((data / FACE).read_bytes()))))
        text = "\n".join(rng.choice(toml_bits) for _ in range(rng.randint(1, 8))) + "\n"
        out.append(Case(f"effect-random-{i}", ["effect", "fx.toml", "in.png", "-o", "o.png"], any_ok, "fx.toml",
                        outputs=("o.png",),
                        setup=lambda f, t=text: ((f / "fx.toml").write_text(t),
                                                 (f / "in.png").write_bytes((data / FACE).read_bytes()),
                                                 (f / "face.png").write_bytes((data / FACE).read_bytes()))))
    for i in range(15):
        raw = "".join(rng.choice("ab\n\t \\é\u202e*?[]-") for _ in range(rng.randint(1, 30)))
        nm = "n_" + raw.replace("/", "_") + ".png"  # never a leading "-" (an option)
        out.append(Case(f"name-{i}", ["erase", nm, "-o", "o.png"], _codes(0), outputs=("o.png",),
                        setup=lambda f, nm=nm: (f / nm).write_bytes((data / FACE).read_bytes())))
    return out
