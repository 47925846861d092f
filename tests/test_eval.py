"""Tests for facecanvas.eval: metrics on synthetic arrays, blank faces and the erase eval on the shared data."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from facecanvas.eval import (BlankFace, ErasePair, aggregate, load_blank_faces, mae, pair_masks, psnr,
                             run_erase_eval, stitch_forehead, texture_ratio, write_samples)
from facecanvas.eval.blank_faces import HAIR, L_BROW, R_BROW, SKIN, forehead_from_parsing, list_face_files

# The repository's parent holds shared/ (data that is not in git).
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CELEBAMASK = DATA / "faces" / "celebamaskhq" / "train"


def need_celebamask() -> Path:
    if not (CELEBAMASK / "images").is_dir() or not (CELEBAMASK / "masks").is_dir():
        pytest.skip(f"CelebAMask-HQ sample not found at {CELEBAMASK} (needs images/ and masks/)")
    return CELEBAMASK


def grain(shape=(128, 128), seed=0, amp=12.0) -> np.ndarray:
    """Skin-like BGR test image: a smooth colour with fine noise."""
    rng = np.random.default_rng(seed)
    base = np.array([150, 170, 210], np.float32)
    img = base + rng.normal(0, amp, shape + (1,)).astype(np.float32) * np.array([1.0, 1.0, 1.0], np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def disk(shape=(128, 128), r=30) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - shape[0] / 2) ** 2 + (xx - shape[1] / 2) ** 2 < r * r


# ---------------------------------------------------------------- metrics


def test_psnr_identity_is_infinite_and_known_value():
    a = grain()
    assert psnr(a, a) == float("inf")
    assert psnr(a, a, disk()) == float("inf")
    t = np.full((16, 16, 3), 100, np.uint8)
    p = t + 10
    assert psnr(p, t) == pytest.approx(10 * np.log10(255 ** 2 / 100), abs=1e-9)


def test_psnr_and_mae_inside_mask_only_see_the_mask():
    t = np.zeros((20, 20, 3), np.uint8)
    p = t.copy()
    m = np.zeros((20, 20), bool)
    m[:10] = True
    p[m] = 8
    assert mae(p, t) == pytest.approx(4.0)
    assert mae(p, t, m) == pytest.approx(8.0)
    assert mae(p, t, ~m) == 0.0
    assert psnr(p, t, ~m) == float("inf")
    assert psnr(p, t, m) < psnr(p, t)
    assert np.isnan(mae(p, t, np.zeros_like(m)))


def test_metrics_reject_mismatched_shapes():
    with pytest.raises(ValueError):
        psnr(np.zeros((8, 8, 3), np.uint8), np.zeros((8, 9, 3), np.uint8))
    with pytest.raises(ValueError):
        mae(np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.uint8), np.zeros((4, 4), bool))


def test_texture_ratio_identity_blur_and_noise():
    truth = grain()
    hole = disk()
    assert texture_ratio(truth, truth, hole) == pytest.approx(1.0)
    blurred = truth.copy()
    blurred[hole] = cv2.GaussianBlur(truth, (0, 0), 3)[hole]
    assert texture_ratio(blurred, truth, hole) < 0.5
    flat = truth.copy()
    flat[hole] = np.median(truth.reshape(-1, 3), 0).astype(np.uint8)
    assert texture_ratio(flat, truth, hole) < 0.1
    noisy = truth.copy()
    noisy[hole] = grain(seed=1, amp=30)[hole]
    assert texture_ratio(noisy, truth, hole) > 1.5
    # Another sample of the same grain scores about 1.
    assert texture_ratio(np.where(hole[..., None], grain(seed=2), truth), truth, hole) == pytest.approx(1.0, abs=0.1)


def test_texture_ratio_is_nan_without_detail_or_mask():
    flat = np.full((32, 32, 3), 128, np.uint8)
    assert np.isnan(texture_ratio(grain((32, 32)), flat, disk((32, 32), 10)))
    assert np.isnan(texture_ratio(flat, flat, np.zeros((32, 32), bool)))
    one_px = np.zeros((32, 32), bool)
    one_px[16, 16] = True  # eroded by 2 px: nothing left
    assert np.isnan(texture_ratio(grain((32, 32)), grain((32, 32), 1), one_px))


def test_aggregate_median_and_mean_skip_nan_and_inf():
    agg = aggregate([1.0, 2.0, float("nan"), 3.0, float("inf")])
    assert agg["median"] == pytest.approx(2.5)
    assert agg["mean"] == pytest.approx(2.0)
    assert agg["n"] == 4
    assert np.isnan(aggregate([])["median"])


# ---------------------------------------------------------------- blank faces, synthetic


def test_stitch_forehead_is_a_vertical_mirror():
    img = grain((200, 300), amp=30)
    out = stitch_forehead(img, (40, 20, 240, 120))
    assert out.shape == (256, 256, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[128:], out[:128][::-1])


def synthetic_labels(hair_rows: int = 0) -> np.ndarray:
    lab = np.zeros((512, 512), np.uint8)
    lab[60:460, 100:412] = SKIN
    lab[240:256, 150:240] = R_BROW
    lab[240:256, 272:362] = L_BROW
    if hair_rows:
        lab[60:60 + hair_rows, 100:412] = HAIR
    return lab


def test_forehead_box_from_parsing_sits_above_the_brows():
    box, reason = forehead_from_parsing(synthetic_labels())
    assert reason == ""
    x0, y0, x1, y1 = box
    assert y1 < 240 and x1 - x0 == pytest.approx(2 * (y1 - y0), abs=1)
    assert x0 < 150 and x1 > 362  # wider than the brows
    # A fringe reaching down to just above the brows leaves no clear box at any size.
    box, reason = forehead_from_parsing(synthetic_labels(hair_rows=170))
    assert box is None and "skin" in reason
    # Only one brow visible: skipped.
    lab = synthetic_labels()
    lab[lab == L_BROW] = SKIN
    assert forehead_from_parsing(lab)[0] is None


def test_forehead_box_shrinks_below_a_high_fringe():
    box_full, _ = forehead_from_parsing(synthetic_labels())
    box, reason = forehead_from_parsing(synthetic_labels(hair_rows=95))  # hair down to y=155
    assert reason == "" and box[1] >= 155
    assert box[2] - box[0] < box_full[2] - box_full[0]


def test_pair_masks_never_pairs_a_face_with_its_own_parts_and_is_seeded():
    names = [f"f{i}" for i in range(7)]
    masks = [(n, np.full((4, 4), i % 2 == 0)) for i, n in enumerate(names)]
    blanks = [BlankFace(np.zeros((256, 256, 3), np.uint8), n) for n in names[::2]] + \
        [BlankFace(np.zeros((256, 256, 3), np.uint8), "other")]
    a = pair_masks(blanks, masks, seed=3)
    b = pair_masks(blanks, masks, seed=3)
    assert [p.mask_from for p in a] == [p.mask_from for p in b]
    assert all(p.mask_from != p.name for p in a)
    assert all(isinstance(p, ErasePair) for p in a)
    ks = {(names.index(p.mask_from) - names.index(p.name)) % 7 for p in a if p.name in names}
    assert len(ks) == 1 and 0 not in ks  # one seeded shift k for every face
    with pytest.raises(ValueError):
        pair_masks(blanks, masks[:1])


# ---------------------------------------------------------------- real data


def test_blank_faces_from_celebamask_are_mirrored_foreheads():
    root = need_celebamask()
    faces = load_blank_faces(root, limit=20)
    assert 0 < len(faces) <= 20
    names = {p.stem for p, _ in list_face_files(root, 20)}
    for f in faces:
        assert f.image.shape == (256, 256, 3) and f.image.dtype == np.uint8
        np.testing.assert_array_equal(f.image[128:], f.image[:128][::-1])
        assert f.name in names and f.source == "mask"
        x0, y0, x1, y1 = f.box
        assert 0 <= x0 < x1 <= 512 and 0 <= y0 < y1 <= 512
        assert (x1 - x0) == pytest.approx(2 * (y1 - y0), abs=1)


@pytest.fixture(scope="module")
def small_report():
    root = need_celebamask()
    return run_erase_eval(root, limit=25, seed=0, progress=False)


def test_erase_eval_end_to_end(small_report):
    r = small_report
    assert r.n >= 8 and r.n + r.n_skipped == r.n_read == 25
    table = r.to_table()
    for m in ("clone", "telea", "ns"):
        assert f"| {m} |" in table
        per = r.scores[m].per_sample
        assert all(len(v) == r.n for v in per.values())  # every method on the same pairs
        assert np.isfinite(per["psnr"]).all() and np.isfinite(per["hole_psnr"]).all()
        assert r.scores[m].median["hole_psnr"] < r.scores[m].median["psnr"]  # the hole is the hard part
    assert "MAE (% of 255)" in table and "hole PSNR" in table and "texture" in table
    clone = r.scores["clone"].median["texture"]
    assert 0.6 <= clone <= 1.4, f"clone texture ratio {clone:.3f} (1 = the truth's grain)"
    assert clone > r.scores["ns"].median["texture"]  # the cloned grain beats a diffusion fill's smoothness


def test_write_samples_grid(tmp_path):
    hole = disk((256, 256), 40)
    pairs = [ErasePair(f"s{i}", grain((256, 256), seed=i), hole, "synthetic") for i in range(3)]
    out = write_samples(tmp_path / "grid.png", pairs, ("clone", "ns"), count=2)
    grid = cv2.imread(str(out))
    assert grid is not None
    assert 4 * 256 <= grid.shape[1] < 5 * 256 and 2 * 256 <= grid.shape[0] < 3 * 256  # 2 rows of 4 tiles


def test_write_samples_from_a_data_dir(tmp_path):
    root = need_celebamask()
    out = write_samples(tmp_path / "sub" / "grid.png", root, ("clone",), count=2, limit=12)
    grid = cv2.imread(str(out))
    assert grid is not None and grid.shape[1] >= 3 * 256 and grid.shape[0] >= 2 * 256


def test_eval_swap_and_deid_default_to_their_own_methods(monkeypatch, tmp_path):
    """`--methods` left out means each task's own methods (the erase default once leaked into swap,
    which then refused to run: "unknown method 'clone'")."""
    import argparse

    from facecanvas.cli import eval_cmd
    from facecanvas.eval import deid_eval, swap_eval

    seen = {}

    class Report:
        def to_table(self):
            return ""

    monkeypatch.setattr(swap_eval, "run_swap_eval", lambda data, methods, **kw: seen.setdefault("swap", methods) and Report())
    monkeypatch.setattr(deid_eval, "run_deid_eval", lambda data, methods, **kw: seen.setdefault("deid", methods) and Report())
    p = argparse.ArgumentParser()
    sub = p.add_subparsers()
    eval_cmd.add_parser(sub)
    for task in ("swap", "deid"):
        args = p.parse_args(["eval", task, "--data", str(tmp_path)])
        assert args.run(args) == 0
    assert seen["swap"] == swap_eval.METHODS and seen["deid"] == deid_eval.METHODS


def test_the_development_split_never_runs_dlib(monkeypatch, tmp_path):
    """dlib is the independent yardstick: on the development split, where choices are made, neither swap
    nor deid computes it (deid's dev table once showed dlib's columns)."""
    import argparse

    from facecanvas.cli import eval_cmd
    from facecanvas.eval import deid_eval, swap_eval

    seen = {}

    class Report:
        def to_table(self):
            return ""

    def fake(task):
        def run(data, methods, **kw):
            seen[(task, kw["split"])] = kw["use_dlib"]
            return Report()
        return run

    monkeypatch.setattr(swap_eval, "run_swap_eval", fake("swap"))
    monkeypatch.setattr(deid_eval, "run_deid_eval", fake("deid"))
    p = argparse.ArgumentParser()
    sub = p.add_subparsers()
    eval_cmd.add_parser(sub)
    for task in ("swap", "deid"):
        for split in ("dev", "test"):
            args = p.parse_args(["eval", task, "--data", str(tmp_path), "--split", split])
            assert args.run(args) == 0
    assert seen == {("swap", "dev"): False, ("swap", "test"): True, ("deid", "dev"): False, ("deid", "test"): True}


def test_look_has_a_development_split_apart_from_the_held_out_faces(monkeypatch, tmp_path):
    """`eval look --split dev` runs on the 80 faces after the parser's held-out 150 (where choices are made),
    so the held-out faces stay a report."""
    import argparse

    from conftest import shared_path
    from facecanvas.cli import eval_cmd
    from facecanvas.eval import look_eval

    data = shared_path("faces", "celebamaskhq", "train")
    dev, test = look_eval.dev_stems(data), look_eval.held_out_stems(data)
    assert len(dev) == look_eval.DEV_FACES and len(test) == 150 and not set(dev) & set(test)

    seen = {}

    class Report:
        def to_table(self):
            return ""

    monkeypatch.setattr(look_eval, "run_look_eval", lambda data, **kw: seen.update(kw) or Report())
    p = argparse.ArgumentParser()
    eval_cmd.add_parser(p.add_subparsers())
    args = p.parse_args(["eval", "look", "--data", str(data), "--split", "dev"])
    assert args.run(args) == 0 and seen["split"] == "dev"
