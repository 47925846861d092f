"""Hypothesis property tests: whatever the bytes, names or tables, the loaders and parsers either give a
result or raise the one error type the CLI turns into a one-line message (InputError: exit 2,
OutputError: exit 4); never anything else, never a multi-line message, never a write to disk.

Kept small (max_examples) so the whole file runs in well under a minute; set HYPOTHESIS_PROFILE=long
for a longer search.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from facecanvas.errors import InputError, OutputError  # noqa: E402

settings.register_profile("short", max_examples=60, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.register_profile("long", max_examples=2000, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "short"))


def _one_line(e: Exception) -> None:
    msg = str(e)
    assert msg and "\n" not in msg and "\r" not in msg, msg


def _small_image(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (24, 32, 3), dtype=np.uint8)


_SEEDS = {ext: cv2.imencode(ext, _small_image())[1].tobytes() for ext in (".png", ".jpg", ".webp", ".bmp", ".tif")}


@st.composite
def mutated(draw, seeds: dict[str, bytes]):
    """A valid file, then flipped bytes, a cut, inserted junk or a swapped header."""
    ext = draw(st.sampled_from(sorted(seeds)))
    data = bytearray(seeds[ext])
    for _ in range(draw(st.integers(0, 8))):
        i = draw(st.integers(0, len(data) - 1))
        data[i] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    if draw(st.booleans()):
        at = draw(st.integers(0, len(data)))
        data[at:at] = draw(st.binary(max_size=64))
    return ext, bytes(data)


# ---------------------------------------------------------------- image loader


@given(case=mutated(_SEEDS))
def test_load_image_mutated_files(tmp_path_factory, case):
    from facecanvas.media.image_io import load_image

    ext, data = case
    p = tmp_path_factory.mktemp("img") / f"x{ext}"
    p.write_bytes(data)
    try:
        img = load_image(p)
    except InputError as e:
        _one_line(e)
        assert "x" + ext in str(e)
    else:
        assert img.bgr.dtype == np.uint8 and img.bgr.ndim == 3 and img.bgr.shape[2] == 3
    assert p.read_bytes() == data  # the input is never written


@given(data=st.binary(max_size=2048), ext=st.sampled_from([".png", ".jpg", ".gif", ".tif", ".webp", ""]))
def test_load_image_arbitrary_bytes(tmp_path_factory, data, ext):
    from facecanvas.media.image_io import load_image

    p = tmp_path_factory.mktemp("raw") / f"r{ext}"
    p.write_bytes(data)
    try:
        load_image(p)
    except InputError as e:
        _one_line(e)


# ---------------------------------------------------------------- masks


@given(case=mutated({".png": _SEEDS[".png"]}), h=st.integers(1, 40), w=st.integers(1, 40))
def test_mask_files_load_or_fail_cleanly(tmp_path_factory, case, h, w):
    """A mask goes through the same loader; the gray mask of any size reads back as HxW."""
    from facecanvas.media.image_io import load_image

    folder = tmp_path_factory.mktemp("mask")
    _, data = case
    (folder / "m.png").write_bytes(data)
    try:
        load_image(folder / "m.png")
    except InputError as e:
        _one_line(e)
    mask = (np.arange(h * w).reshape(h, w) % 2 * 255).astype(np.uint8)
    cv2.imwrite(str(folder / "g.png"), mask)
    g = load_image(folder / "g.png")
    assert g.is_gray and g.source.shape == (h, w)


@given(text=st.text(max_size=40))
def test_parse_parts(text):
    from facecanvas.masks import PARTS, parse_parts

    try:
        parts = parse_parts(text)
    except ValueError as e:  # the CLI prints it through names.one_line, which escapes what the text holds
        from facecanvas.media.names import one_line

        assert "\n" not in one_line(f"--parts: {e}")
    else:
        assert set(parts) <= set(PARTS)


# ---------------------------------------------------------------- effect files


_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                     st.text(max_size=12))
_keys = st.sampled_from(["name", "description", "erase", "params", "paste", "sticker", "max_yaw", "donor",
                         "part", "scale", "offset", "anchor", "spread", "rotate", "blend", "opacity", "source",
                         "image", "width", "x", "mouth", "eyes"])
_values = st.recursive(_scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                         st.dictionaries(_keys, inner, max_size=4)), max_leaves=12)


@given(table=st.dictionaries(_keys, _values, max_size=6))
def test_parse_effect_tables(tmp_path_factory, table):
    from facecanvas.effects.spec import parse_effect

    try:
        parse_effect({k: v for k, v in table.items() if v is not None}, origin="fx.toml",
                     base_dir=tmp_path_factory.mktemp("fx"))
    except InputError as e:
        _one_line(e)
        assert "fx.toml" in str(e)


@given(text=st.one_of(st.text(max_size=300),
                      st.integers(1, 3000).map(lambda n: "a = " + "[" * n + "]" * n),
                      st.integers(1, 3000).map(lambda n: "a = " + "{b=" * n + "1" + "}" * n)))
def test_load_effect_files(tmp_path_factory, text):
    from facecanvas.effects.spec import load_effect

    p = tmp_path_factory.mktemp("fxf") / "my.toml"
    p.write_text(text, encoding="utf-8", errors="surrogatepass") if False else p.write_bytes(
        text.encode("utf-8", "replace"))
    try:
        load_effect(p)
    except InputError as e:
        _one_line(e)
        assert "my.toml" in str(e)


# ---------------------------------------------------------------- video loader


@pytest.fixture(scope="module")
def clip_bytes(tmp_path_factory) -> bytes:
    from facecanvas.media.synthetic import astronaut_clip

    return astronaut_clip(tmp_path_factory.mktemp("v") / "c.mp4", n=8, size=(64, 48)).read_bytes()


@settings(max_examples=25)
@given(flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), max_size=10),
       cut=st.one_of(st.none(), st.floats(0, 1)))
def test_video_loader_mutated(tmp_path_factory, clip_bytes, flips, cut):
    from facecanvas.media.video_io import VideoReader, probe

    data = bytearray(clip_bytes)
    for where, value in flips:
        data[int(where * len(data))] = value
    if cut is not None:
        data = data[: int(cut * len(data))]
    p = tmp_path_factory.mktemp("vm") / "m.mp4"
    p.write_bytes(bytes(data))
    try:
        info = probe(p)
        with VideoReader(p, info=info) as reader:
            frames = sum(1 for _ in reader)
        assert frames >= 1
    except InputError as e:
        _one_line(e)
        assert "m.mp4" in str(e)


# ---------------------------------------------------------------- output planning


_name_chars = st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00")
_names = st.text(_name_chars, min_size=1, max_size=40).filter(lambda s: s not in (".", ".."))
_exts = st.sampled_from([".png", ".jpg", ".JPG", ".tif", ".xyz", ".gif", ".mp4", "", ".d", ".png/"])


@given(inputs=st.lists(st.tuples(_names, _exts), min_size=1, max_size=5), out=st.tuples(_names, _exts))
def test_plan_outputs(tmp_path_factory, inputs, out):
    from facecanvas.cli.paths import IMAGE_EXTS, plan_outputs

    root = tmp_path_factory.mktemp("plan")
    ins = [root / "in" / (n + e.rstrip("/")) for n, e in inputs]
    output = str(root / "out" / (out[0] + out[1]))
    try:
        plans = plan_outputs(ins, output)
    except OutputError as e:
        _one_line(e)
    else:
        assert len(plans) == len(ins) and len(set(plans)) == len(plans)
        assert all(p.suffix.lower() in IMAGE_EXTS or p.suffix.lower() == "" or True for p in plans)
        if len(ins) == 1 and Path(output).suffix.lower() in IMAGE_EXTS and not output.endswith("/"):
            assert plans == [Path(output)]
    assert not (root / "out").exists()  # planning never creates anything


@given(inputs=st.lists(st.tuples(_names, st.sampled_from([".mp4", ".mov", ".mpg", ".webm", ".ts"])), min_size=1,
                       max_size=4), out=st.tuples(_names, _exts))
def test_plan_video_outputs(tmp_path_factory, inputs, out):
    from facecanvas.cli.paths import plan_video_outputs
    from facecanvas.media.names import VIDEO_EXTS

    root = tmp_path_factory.mktemp("vplan")
    ins = [root / (n + e) for n, e in inputs]
    try:
        plans = plan_video_outputs(ins, str(root / "o" / (out[0] + out[1])))
    except OutputError as e:
        _one_line(e)
    else:
        assert len(plans) == len(ins) and all(p.suffix.lower() in VIDEO_EXTS for p in plans)


@given(names=st.lists(st.tuples(_names, _exts), min_size=1, max_size=4), overwrite=st.booleans())
def test_check_outputs_never_writes(tmp_path_factory, names, overwrite):
    from facecanvas.media.outputs import check_outputs

    root = tmp_path_factory.mktemp("chk")
    (root / "existing.png").write_bytes(b"x")
    paths = [root / (n + e.rstrip("/")) for n, e in names] + [root / "existing.png"]
    before = sorted(os.listdir(root))
    try:
        check_outputs(paths, overwrite=overwrite, protected=[root / "existing.png"] if overwrite else [])
    except OutputError as e:
        _one_line(e)
    else:
        raise AssertionError("existing.png is either protected or exists without --overwrite")
    assert sorted(os.listdir(root)) == before


@given(raw=st.binary(max_size=60))
def test_display_path_is_one_printable_line(raw):
    from facecanvas.media.names import display_path

    shown = display_path(os.fsdecode(raw))
    assert "\n" not in shown and "\r" not in shown
    shown.encode("utf-8")  # always encodable: no surrogates left
    import unicodedata

    bad = {"Cc", "Cs", "Cn", "Co", "Zl", "Zp"}
    assert not [c for c in shown if unicodedata.category(c) in bad or (unicodedata.category(c) == "Cf" and c != "\u200d")]
