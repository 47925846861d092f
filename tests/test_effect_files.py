"""Effect files: built-ins load, bad files get one clear error naming the file, the field and the problem."""

import re
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

from facecanvas.effects import builtin_names, list_effects, load_effect, parse_effect
from facecanvas.effects.compose import plan
from facecanvas.errors import InputError

from conftest import run_cli

PAPER_EFFECTS = {"eyebrowless", "mono-eye", "comic", "small-face", "toonized"}


def write(tmp_path: Path, text: str, name: str = "fx.toml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def error_of(path) -> str:
    with pytest.raises(InputError) as e:
        load_effect(path)
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def test_builtins_ship_as_effect_files():
    names = set(builtin_names())
    assert PAPER_EFFECTS | {"transplant"} <= names
    for name in names:
        spec = load_effect(name)
        assert spec.name == name and spec.description
        assert Path(spec.origin).suffix == ".toml"  # data, not code
    assert [n for n, _ in list_effects()] == sorted(names)


def test_builtins_are_package_data():
    text = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert '"facecanvas.effects" = ["builtin/*.toml"]' in text


def test_a_user_effect_is_the_same_kind_of_file(tmp_path):
    p = write(tmp_path, """
        name = "wide-smile"
        description = "a wider mouth"
        erase = ["mouth"]
        [params]
        width = 1.3
        [[paste]]
        part = "mouth"
        scale = "$width"
    """)
    spec = load_effect(str(p))
    r = spec.resolve()
    assert r.erase == ("mouth",) and r.pastes[0].scale == pytest.approx(1.3)
    assert spec.resolve(width=1.6).pastes[0].scale == pytest.approx(1.6)
    assert spec.resolve(width="1.6").pastes[0].scale == pytest.approx(1.6)  # as --set gives it


def test_strength_scales_the_geometry():
    spec = load_effect("comic")
    full, half, none = (spec.resolve(s) for s in (1.0, 0.5, 0.0))
    mouth = lambda r: next(p for p in r.pastes if p.part == "mouth")  # noqa: E731
    assert mouth(full).scale == pytest.approx(1.5)
    assert mouth(half).scale == pytest.approx(1.25)
    assert mouth(none).scale == pytest.approx(1.0) and mouth(none).offset == (0.0, 0.0)
    assert mouth(half).offset[1] == pytest.approx(mouth(full).offset[1] / 2)


def test_parts_pasted_back_unchanged_are_not_erased():
    assert plan(load_effect("eyebrowless").resolve()) == ("brows",)
    assert plan(load_effect("mono-eye").resolve()) == ("brows", "eyes")
    assert plan(load_effect("comic").resolve()) == ("brows", "eyes", "mouth")
    assert plan(load_effect("small-face").resolve()) == ("brows", "eyes", "nose", "mouth")
    # The shrunk inner face takes part of its shading difference to the blank (no glare); others all of it.
    assert [p.shading for p in load_effect("small-face").resolve().pastes] == [0.3]
    assert {p.shading for p in load_effect("comic").resolve().pastes} == {1.0}


@pytest.mark.parametrize("body, field, problem", [
    ('[[paste]]\npart = "lip"', "paste[0].part", "unknown part 'lip'"),
    ('[[paste]]\npart = ["left_eye", "ear"]', "paste[0].part", "unknown part 'ear'"),
    ('[[paste]]\nscale = 2', "paste[0]", "'part' is missing"),
    ('[[paste]]\npart = "mouth"\nscale = -1', "paste[0].scale", "must be a number > 0 and <= 4, got -1"),
    ('[[paste]]\npart = "mouth"\nscale = "big"', "paste[0].scale", "must be a number, got 'big'"),
    ('[[paste]]\npart = "mouth"\nscale = nan', "paste[0].scale", "must be a number"),
    ('[[paste]]\npart = "mouth"\noffset = [1]', "paste[0].offset", "must be [x, y]"),
    ('[[paste]]\npart = "mouth"\noffset = [0, 9]', "paste[0].offset[1]", "<= 3, got 9"),
    ('[[paste]]\npart = "mouth"\nopacity = 2', "paste[0].opacity", "<= 1, got 2"),
    ('[[paste]]\npart = "mouth"\nshading = -0.5', "paste[0].shading", "must be a number >= 0 and <= 1, got -0.5"),
    ('[[paste]]\npart = "mouth"\nblend = "screen"', "paste[0].blend", "must be one of poisson, mixed, alpha"),
    ('[[paste]]\npart = "mouth"\nanchor = "ear"', "paste[0].anchor", "unknown anchor 'ear'"),
    ('[[paste]]\npart = "mouth"\nanchor = 478', "paste[0].anchor", "unknown anchor 478"),
    ('[[paste]]\npart = "mouth"\nscael = 2', "paste[0].scael", "unknown field"),
    ('[[paste]]\npart = "mouth"\nscale = "$size"', "paste[0].scale", "refers to $size, which is not in [params]"),
    ('[params]\nsize = -2\n[[paste]]\npart = "mouth"\nscale = "$size"', "paste[0].scale",
     "got -2 (from parameter size)"),
    ('erase = ["ears"]', "erase", "unknown part 'ears'"),
    ('max_yaw = 100', "max_yaw", "<= 90, got 100"),
    ('colour = "red"', "colour", "unknown field"),
    ('[[sticker]]\nimage = "nope.png"\nanchor = "forehead"', "sticker[0].image", "sticker image not found"),
    ('[[sticker]]\nimage = "s.png"', "sticker[0]", "'anchor' is missing"),
])
def test_bad_effect_files_name_the_file_the_field_and_the_problem(tmp_path, body, field, problem):
    p = write(tmp_path, body)
    msg = error_of(p)
    assert msg.startswith(f"{p}: {field}: "), msg
    assert problem in msg, msg


def test_bad_sticker_image_is_named(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"not a png")
    p = write(tmp_path, '[[sticker]]\nimage = "broken.png"\nanchor = "forehead"')
    from facecanvas.effects import Effect
    with pytest.raises(InputError) as e:
        Effect(str(p))
    assert str(e.value).startswith(f"{p}: sticker[0].image: cannot read {tmp_path / 'broken.png'}")


def test_not_toml_and_unknown_names(tmp_path):
    p = write(tmp_path, "name = [unclosed")
    assert error_of(p).startswith(f"{p}: not valid TOML")
    assert "built-in effects are" in error_of("no-such-effect")
    assert error_of(str(tmp_path / "missing.toml")) == f"{tmp_path / 'missing.toml'}: effect file not found"


def test_overrides_and_strength_are_checked():
    spec = load_effect("comic")
    with pytest.raises(InputError, match=r"unknown parameter 'mouth_scal' for effect 'comic' \(its parameters: "):
        spec.resolve(mouth_scal=2)
    with pytest.raises(InputError, match=r"params.mouth_scale: must be a number, got 'huge'"):
        spec.resolve(mouth_scale="huge")
    with pytest.raises(InputError, match=r"paste\[2\].scale: must be a number > 0 and <= 4, got 9 "
                                         r"\(from parameter mouth_scale\)"):
        spec.resolve(mouth_scale=9)
    with pytest.raises(InputError, match=r"strength: must be a number >= 0 and <= 2, got 3"):
        spec.resolve(3.0)


def test_dict_specs_are_checked_too():
    with pytest.raises(InputError, match=r"^<effect x>: paste\[0\].part: unknown part"):
        parse_effect({"name": "x", "paste": [{"part": "tail"}]}, origin="<effect x>")


def test_cli_bad_effect_file_is_one_line_exit_2_no_output(tmp_path, astronaut_bgr):
    photo = tmp_path / "a.png"
    cv2.imwrite(str(photo), astronaut_bgr)
    fx = write(tmp_path, '[[paste]]\npart = "mouth"\nscale = 0')
    out = tmp_path / "out.png"
    r = run_cli("effect", fx, photo, "-o", out)
    assert r.returncode == 2
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert lines == [f"facecanvas: error: {fx}: paste[0].scale: must be a number > 0 and <= 4, got 0"]
    assert not out.exists()


def test_cli_lists_effects_one_line_each():
    r = run_cli("effects")
    assert r.returncode == 0
    lines = r.stdout.strip().splitlines()
    assert len(lines) == len(builtin_names())
    assert all(re.match(r"^[a-z-]+ +\S", l) for l in lines)
    shown = run_cli("effects", "--show", "comic")
    assert shown.returncode == 0 and 'mouth_scale = 1.5' in shown.stdout


# ----------------------------------------------------------------------------------------- Poisson

def _exact_poisson(dst, src, region):
    """Reference: the 5-point Poisson equation with guidance grad(src), solved directly."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    ys, xs = np.nonzero(region)
    n = len(ys)
    idx = -np.ones(region.shape, int)
    idx[ys, xs] = np.arange(n)
    rows, cols, vals = [np.arange(n)], [np.arange(n)], [np.full(n, 4.0)]
    b = np.zeros(n)
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        j = idx[ys + dy, xs + dx]
        inside = j >= 0
        rows.append(np.arange(n)[inside])
        cols.append(j[inside])
        vals.append(-np.ones(inside.sum()))
        b += src[ys, xs] - src[ys + dy, xs + dx]
        b[~inside] += dst[ys + dy, xs + dx][~inside]
    a = sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    out = dst.astype(float).copy()
    out[ys, xs] = spla.spsolve(a, b)
    return out


def test_poisson_blend_matches_the_exact_solution_and_leaves_the_outside_alone():
    from facecanvas.blend.poisson import poisson_blend

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:120, :140]
    dst = (120 + 40 * np.sin(xx / 25.0) + rng.normal(0, 2, xx.shape)).astype(np.float32)
    src = (60 + 30 * np.cos(yy / 9.0) + rng.normal(0, 2, xx.shape)).astype(np.float32)
    region = np.zeros(xx.shape, np.uint8)
    cv2.ellipse(region, (70, 60), (45, 30), 20, 0, 360, 1, -1)
    region = region.astype(bool)
    out = poisson_blend(dst, src, region)
    assert np.array_equal(out[~region], dst[~region])
    # The pyramid membrane is approximate: within 2% of the border's spread of differences (here about
    # 140 levels), smooth inside, and tightest on the border, where a seam would show.
    exact = _exact_poisson(dst, src, region)
    ring = region & ~cv2.erode(region.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    spread = np.ptp((dst - src)[ring])
    assert np.abs(out - exact)[region].mean() < 0.02 * spread
    assert np.abs(out - exact)[ring].max() < 0.02 * spread
    for mode in ("mixed", "gain"):
        o = poisson_blend(np.dstack([dst] * 3), np.dstack([src] * 3), region, mode=mode, fade=4)
        assert o.shape == (120, 140, 3) and np.array_equal(o[~region], np.dstack([dst] * 3)[~region])
    with pytest.raises(ValueError, match="unknown Poisson mode"):
        poisson_blend(dst, src, region, mode="screen")


def test_a_part_and_the_blank_meet_halfway_when_the_part_takes_a_share_of_the_shading():
    # share < 1: the patch meets dst - rest on its border, rest goes to the caller, and bend_blank bends dst
    # by it, so patch and blank meet without a seam (small-face: a shaded side of the face is not lifted
    # to the lighter blank as a glare; the blank darkens towards it instead).
    from facecanvas.blend.poisson import poisson_blend
    from facecanvas.effects.compose import bend_blank

    yy, xx = np.mgrid[:100, :100]
    dst = np.full((100, 100, 3), 200.0, np.float32)
    src = np.dstack([100 + 0.3 * xx] * 3).astype(np.float32)
    region = (yy - 50) ** 2 + (xx - 50) ** 2 < 25 ** 2
    blank = (yy - 50) ** 2 + (xx - 50) ** 2 < 45 ** 2  # the blank face around the part
    rest = np.zeros_like(dst)
    full = poisson_blend(dst, src, region)
    half = poisson_blend(dst, src, region, share=np.where(blank, 0.3, 1.0), rest=rest)
    assert np.array_equal(poisson_blend(dst, src, region, share=1.0, rest=np.zeros_like(dst)), full)
    assert np.array_equal(half[~region], dst[~region])  # the caller bends the outside
    border = cv2.dilate(region.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) & ~region
    assert np.allclose(rest[border], 0.7 * (dst - src)[border], atol=1e-3) and not rest[~border].any()
    assert half[region].mean() < full[region].mean() - 20  # the part keeps more of its own (darker) shading
    canvas = half.copy()
    bend_blank(canvas, blank & ~region, rest)
    assert np.allclose(canvas[border], (dst - rest)[border])
    outer = blank & ~cv2.erode(blank.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert np.abs(canvas[outer] - dst[outer]).max() < 0.25 * np.abs(rest).max()  # back to the face at the hole's edge
    assert np.array_equal(canvas[~blank], dst[~blank])
