"""Corpus cases for the surfaces that came after the first sweep: swap and deid sources, verify, faces,
the batch runner, and every option's range, generated from the operations' own schemas (so a new
option is fuzzed the day it lands).

``cases(data, rng, mode)`` returns ``Case`` objects like corpus.py's; ``data`` holds face.png,
face.jpg, two_faces.png, no_face.png and clip.mp4.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

from .corpus import FACE, Case, png_claiming

_OK, _BAD, _NO_FACE, _OUT = frozenset({0}), frozenset({2}), frozenset({3}), frozenset({4})


def _put(folder: Path, name, content: bytes | None = None, *, src: Path | None = None, fifo: bool = False,
         link: str | None = None, directory: bool = False) -> None:
    p = folder / (os.fsdecode(name) if isinstance(name, bytes) else name)
    if fifo:
        os.mkfifo(p)
    elif link is not None:
        os.symlink(link, p)
    elif directory:
        p.mkdir()
    else:
        p.write_bytes(src.read_bytes() if src is not None else content)


def _bad_files(data: Path) -> list[tuple[str, dict, frozenset]]:
    """(tag, how to make the file, the exit codes a command may give for it)."""
    jpg = (data / "face.jpg").read_bytes()
    out = [
        ("empty", {"content": b""}, _BAD),
        ("text", {"content": b"not a picture\n"}, _BAD),
        ("truncated", {"content": jpg[: len(jpg) // 2]}, _BAD),
        ("huge-header", {"content": png_claiming(100000, 100000)}, _BAD),
        ("directory", {"directory": True}, _BAD),
        ("no-face", {"src": data / "no_face.png"}, _NO_FACE),
    ]
    if os.name == "posix":
        out += [("fifo", {"fifo": True}, _BAD), ("dev-zero", {"link": "/dev/zero"}, _BAD),
                ("broken-link", {"link": "/nonexistent/x.png"}, _BAD)]
    return out


def _setup(*items):
    """items: (name, kwargs for _put)."""
    def setup(folder: Path):
        for name, kw in items:
            _put(folder, name, **kw)
    return setup


def cases(data: Path, rng: random.Random, mode: str = "long") -> list[Case]:
    face = {"src": data / FACE}
    two = {"src": data / "two_faces.png"}
    clip = {"src": data / "clip.mp4"}
    out: list[Case] = []
    add = out.append

    # ---- swap: sources (one face each, readable) and targets
    add(Case("swap-ok", ["swap", "t.png", "--source", "s.png", "-o", "o.png"], _OK, outputs=("o.png",),
             must_exist=("o.png",), setup=_setup(("t.png", face), ("s.png", face)), short=True))
    for tag, kw, codes in _bad_files(data):
        add(Case(f"swap-source-{tag}", ["swap", "t.png", "--source", "s.png", "-o", "o.png"], codes, "s.png",
                 must_not_exist=("o.png",), setup=_setup(("t.png", face), ("s.png", kw)), timeout=60,
                 short=tag == "fifo"))
        add(Case(f"swap-target-{tag}", ["swap", "t.png", "--source", "s.png", "-o", "o.png"], codes, "t.png",
                 must_not_exist=("o.png",), setup=_setup(("t.png", kw), ("s.png", face)), timeout=60))
        add(Case(f"deid-target-{tag}", ["deid", "t.png", "-o", "o.png"], codes, "t.png",
                 must_not_exist=("o.png",), setup=_setup(("t.png", kw)), timeout=60, short=tag == "dev-zero"))
        add(Case(f"deid-except-{tag}", ["deid", "t.png", "--except", "me.png", "-o", "o.png"],
                 codes | _BAD, "me.png", must_not_exist=("o.png",), setup=_setup(("t.png", face), ("me.png", kw)),
                 timeout=60))
        add(Case(f"verify-{tag}", ["verify", "a.png", "b.png"], codes, "b.png",
                 setup=_setup(("a.png", face), ("b.png", kw)), timeout=60))
        add(Case(f"faces-{tag}", ["faces", "a.png"], codes, "a.png", setup=_setup(("a.png", kw)), timeout=60))
    add(Case("swap-source-two-faces", ["swap", "t.png", "--source", "s.png", "-o", "o.png"], _BAD, "s.png",
             must_not_exist=("o.png",), setup=_setup(("t.png", face), ("s.png", two)), short=True))
    add(Case("swap-second-source-bad", ["swap", "t.png", "--source", "s.png", "s2.png", "-o", "o.png"], _BAD,
             "s2.png", must_not_exist=("o.png",), setup=_setup(("t.png", face), ("s.png", face),
                                                               ("s2.png", {"content": b"junk"}))))
    add(Case("swap-video-bad-source", ["swap", "c.mp4", "--source", "s.png", "-o", "o.mp4"], _BAD, "s.png",
             must_not_exist=("o.mp4",), setup=_setup(("c.mp4", clip), ("s.png", {"content": b""}))))
    add(Case("swap-model-garbage", ["swap", "t.png", "--source", "s.png", "-o", "o.png", "--method", "aei",
                                    "--model", "m.onnx"], _BAD, "m.onnx", must_not_exist=("o.png",),
             setup=_setup(("t.png", face), ("s.png", face), ("m.onnx", {"content": b"\x08\x07junk" * 50}))))
    add(Case("swap-model-missing", ["swap", "t.png", "--source", "s.png", "-o", "o.png", "--method", "aei",
                                    "--model", "nope.onnx"], _BAD, "nope.onnx", must_not_exist=("o.png",),
             setup=_setup(("t.png", face), ("s.png", face))))
    add(Case("swap-source-is-output", ["swap", "t.png", "--source", "s.png", "-o", "s.png", "--overwrite"], _OUT,
             "s.png", setup=_setup(("t.png", face), ("s.png", face))))
    add(Case("swap-no-face-target-photo", ["swap", "t.png", "--source", "s.png", "-o", "o.png"], _NO_FACE, "t.png",
             must_not_exist=("o.png",), setup=_setup(("t.png", {"src": data / "no_face.png"}), ("s.png", face))))

    # ---- deid: keys, reports, the exception photo
    add(Case("deid-ok", ["deid", "t.png", "-o", "o.png", "--report", "r.json"], _OK, outputs=("o.png", "r.json"),
             must_exist=("o.png", "r.json"), setup=_setup(("t.png", face))))
    for tag, key in (("empty", ""), ("long", "k" * 100000), ("unicode", "\u202eclé\t"), ("dash", "-o")):
        add(Case(f"deid-key-{tag}", ["deid", "t.png", "-o", "o.png", "--key", key], frozenset({0, 2}),
                 outputs=("o.png",), setup=_setup(("t.png", face))))
    if os.name == "posix":
        add(Case("deid-key-not-utf8", ["deid", "t.png", "-o", "o.png", "--key", b"\xff\xfe"], frozenset({0, 2}),
                 outputs=("o.png",), setup=_setup(("t.png", face))))
    add(Case("deid-report-exists", ["deid", "t.png", "-o", "o.png", "--report", "r.json"], _OUT, "r.json",
             must_not_exist=("o.png",), setup=_setup(("t.png", face), ("r.json", {"content": b"keep"}))))
    add(Case("deid-report-no-folder", ["deid", "t.png", "-o", "o.png", "--report", "no/such/r.json"], _OUT,
             "r.json", must_not_exist=("o.png",), setup=_setup(("t.png", face))))
    add(Case("deid-report-is-input", ["deid", "t.png", "-o", "o.png", "--report", "t.png", "--overwrite"], _BAD | _OUT,
             "t.png", must_not_exist=("o.png",), setup=_setup(("t.png", face))))
    add(Case("deid-except-two-faces", ["deid", "t.png", "--except", "me.png", "-o", "o.png"], frozenset({0, 2}),
             outputs=("o.png",), setup=_setup(("t.png", face), ("me.png", two))))

    # ---- batch: a bad item costs only itself; inputs and outputs that cannot be
    add(Case("batch-corrupt-item", ["batch", "erase", "--input", "in", "--output", "out", "--workers", "1",
                                    "--no-progress"], _BAD, "bad.png",
             outputs=("out", "out/good.png", "out/facecanvas-manifest.jsonl"), must_exist=("out/good.png",),
             setup=_setup(("in", {"directory": True}), ("in/good.png", face), ("in/bad.png", {"content": b"junk"})),
             timeout=180))
    if os.name == "posix":
        add(Case("batch-fifo-item", ["batch", "erase", "--input", "in", "--output", "out", "--workers", "1",
                                     "--no-progress"], _BAD, "f.png",
                 outputs=("out", "out/good.png", "out/facecanvas-manifest.jsonl"), must_exist=("out/good.png",),
                 setup=_setup(("in", {"directory": True}), ("in/good.png", face), ("in/f.png", {"fifo": True})),
                 timeout=180))
    add(Case("batch-list-missing-items", ["batch", "erase", "--input", "l.txt", "--output", "out", "--workers", "1",
                                          "--no-progress"], _BAD, "nope.png",
             outputs=("out", "out/facecanvas-manifest.jsonl"),
             setup=_setup(("l.txt", {"content": b"nope.png\n/nonexistent/x.jpg\n"})), timeout=180))
    add(Case("batch-input-missing", ["batch", "erase", "--input", "nope", "--output", "out"], _BAD, "nope",
             must_not_exist=("out",)))
    add(Case("batch-output-is-a-file", ["batch", "erase", "--input", "in", "--output", "f.png"], frozenset({2, 4}),
             "f.png", setup=_setup(("in", {"directory": True}), ("in/good.png", face), ("f.png", face))))
    add(Case("batch-output-inside-input", ["batch", "erase", "--input", "in", "--output", "in/out", "--workers", "1",
                                           "--no-progress"], frozenset({0, 2, 4}),
             outputs=("in/out", "in/out/good.png", "in/out/facecanvas-manifest.jsonl"),
             setup=_setup(("in", {"directory": True}), ("in/good.png", face)), timeout=180))
    add(Case("batch-manifest-garbage", ["batch", "erase", "--input", "in", "--output", "out", "--workers", "1",
                                        "--no-progress"], frozenset({0, 2}),
             outputs=("out", "out/good.png", "out/facecanvas-manifest.jsonl"),
             setup=_setup(("in", {"directory": True}), ("in/good.png", face), ("out", {"directory": True}),
                          ("out/facecanvas-manifest.jsonl", {"content": b"{not json\n\xff\n[]\n"})), timeout=180))
    add(Case("batch-unknown-op", ["batch", "melt", "--input", "in", "--output", "out"], _BAD, "melt",
             setup=_setup(("in", {"directory": True}))))

    # ---- effect files: bounded, regular files only
    for tag, kw in (("huge", {"content": b"#" * (2 << 20)}), ("empty", {"content": b""}),
                    *((("fifo", {"fifo": True}), ("dev-zero", {"link": "/dev/zero"})) if os.name == "posix" else ())):
        add(Case(f"effect-file-{tag}", ["effect", "fx.toml", "t.png", "-o", "o.png"], _BAD, "fx.toml",
                 must_not_exist=("o.png",), setup=_setup(("t.png", face), ("fx.toml", kw)), timeout=60,
                 short=tag == "dev-zero"))

    # ---- swap sources mutated: any readable outcome, never a traceback
    if mode == "long":
        jpg = (data / "face.jpg").read_bytes()
        for i in range(15):
            b = bytearray(jpg)
            for _ in range(rng.randint(1, 30)):
                b[rng.randrange(len(b))] = rng.getrandbits(8)
            add(Case(f"swap-source-mutate-{i}", ["swap", "t.png", "--source", "s.jpg", "-o", "o.png"],
                     frozenset({0, 2, 3}), "s.jpg", outputs=("o.png",),
                     setup=_setup(("t.png", face), ("s.jpg", {"content": bytes(b)}))))
        out += option_range_cases(data)
    return out


def _bad_values(info) -> list[tuple[str, str]]:
    """(tag, text) values outside an option's type or range."""
    if info.choices:
        return [("choice", "bogus")]
    if info.type not in (int, float):
        return []
    vals = [("text", "abc"), ("nan", "nan")]
    if info.type is float:
        vals.append(("inf", "inf"))
    step = 1 if info.type is int else 0.5
    fmt = (lambda v: repr(float(v))) if info.type is float else (lambda v: str(int(v)))
    if info.min is not None:
        vals.append(("below", fmt(info.min - step)))
    if info.max is not None:
        vals.append(("above", fmt(info.max + step)))
    if info.type is int:
        vals.append(("float", "1.5"))
    return vals


def option_range_cases(data: Path) -> list[Case]:
    """Every option of every command, outside its range or type: exit 2, a line naming the flag, no output."""
    from facecanvas import pipeline
    from facecanvas.ops.registry import Registry

    face = {"src": data / FACE}
    clip = {"src": data / "clip.mp4"}
    photo_cmds = {
        "erase": (["erase", "t.png", "-o", "o.png"], (("t.png", face),)),
        "effect": (["effect", "comic", "t.png", "-o", "o.png"], (("t.png", face),)),
        "swap": (["swap", "t.png", "--source", "s.png", "-o", "o.png"], (("t.png", face), ("s.png", face))),
        "deid": (["deid", "t.png", "-o", "o.png"], (("t.png", face),)),
    }
    reg = Registry()
    out: list[Case] = []
    seen: set = set()

    def add(cmd, argv, files, info, outputs=("o.png",)):
        for tag, value in _bad_values(info):
            key = (cmd, info.flag, tag)
            if key in seen:
                continue
            seen.add(key)
            out.append(Case(f"option-{cmd}{info.flag}-{tag}", [*argv, f"{info.flag}={value}"], _BAD, info.flag,
                            must_not_exist=outputs, setup=_setup(*files)))

    for cmd, (argv, files) in photo_cmds.items():
        for info in [*reg.get(cmd).Options.schema(), *pipeline.AnalysisOptions.schema()]:
            if info.cli:
                add(cmd, argv, files, info)
    video = (["erase", "c.mp4", "-o", "o.mp4"], (("c.mp4", clip),))
    for info in pipeline.TrackingOptions.schema():
        add("erase-video", *video, info, outputs=("o.mp4",))
    for flag, vals in (("--crf", ("-1", "52", "nan", "x")), ("--preset", ("warp9",))):
        for v in vals:
            out.append(Case(f"option-video{flag}-{v}", [*video[0], f"{flag}={v}"], _BAD, flag,
                            must_not_exist=("o.mp4",), setup=_setup(*video[1])))
    # An unknown codec is an output that cannot be written (4), named before anything is read.
    out.append(Case("option-video--codec-unknown", [*video[0], "--codec=no-such-codec"], _OUT, "no-such-codec",
                    must_not_exist=("o.mp4",), setup=_setup(*video[1])))
    live = ["live", "--source", "c.mp4"]
    for info in pipeline.LiveOptions.schema():
        for tag, value in _bad_values(info):
            out.append(Case(f"option-live{info.flag}-{tag}", [*live, f"{info.flag}={value}"], _BAD, info.flag,
                            setup=_setup(("c.mp4", clip)), timeout=60))
    return out
