"""The refiner variant (clone_unet_ca): network, cache, trainer, checkpoints, ONNX export and the `refine` method.

The network and training tests need the training extra (torch) and are skipped without it, as in
test_neural_nets.py; the texture-gap metric and the cache need no torch.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from facecanvas.errors import InputError
from facecanvas.eval.erase_eval import score_fill, texture_gap
from facecanvas.eval.metrics import high_pass
from facecanvas.inpaint.methods import clone_fill

from conftest import REPO, run_cli, shared_path

CONFIGS = REPO / "src" / "facecanvas" / "train" / "configs"


def skin(size: int = 256, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    base = np.array([120, 150, 200], np.float32) * (0.85 + 0.2 * xx[..., None] + 0.05 * yy[..., None])
    return np.clip(base + rng.normal(0, 5, (size, size, 3)), 0, 255).astype(np.uint8)


def part_hole(size: int = 256) -> np.ndarray:
    hole = np.zeros((size, size), bool)
    s = size / 256
    for y0, y1, x0, x1 in ((90, 118, 60, 110), (90, 118, 146, 196), (120, 168, 112, 144), (180, 208, 92, 164)):
        hole[int(y0 * s):int(y1 * s), int(x0 * s):int(x1 * s)] = True
    return hole


def test_texture_gap_is_symmetric_in_log_and_zero_for_the_truth():
    assert texture_gap(1.0) == 0.0
    assert texture_gap(0.5) == pytest.approx(texture_gap(2.0))
    assert np.isnan(texture_gap(float("nan")))
    img, hole = skin(), part_hole()
    s = score_fill(clone_fill(np.where(hole[..., None], 0, img).astype(np.uint8), hole), img, hole)
    assert s["texture_gap"] == pytest.approx(abs(np.log(s["texture"])))


def tiny_dataset(root: Path, n: int = 3) -> Path:
    """A prepared-data-set layout (facecanvas prepare) with skin-noise blank faces and part masks."""
    bits = np.zeros((256, 256), np.uint8)
    bits[part_hole()] = 2
    for i in range(n):
        for sub, img in (("blanks", skin(seed=i)), ("parts", bits)):
            (root / "train" / sub).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / "train" / sub / f"f{i}.png"), img)
    (root / "manifest.json").write_text(json.dumps({"holdout": 0}))
    return root


def test_cache_is_deterministic_and_resumes_at_the_missing_shard(tmp_path):
    from facecanvas.train.refine_data import build_cache, load_cache, make_refine_batch

    ds = tiny_dataset(tmp_path / "ds")
    cache = build_cache(ds, tmp_path / "cache", count=5, val_count=2, shard=3, progress=False, log=lambda m: None)
    first = load_cache(cache)
    assert len(first) == 5 and first.truth.shape == (5, 256, 256, 3) and first.hole.dtype == bool
    # the coarse fill is the library's clone fill of the holed truth
    masked = np.where(first.hole[0][..., None], 0, first.truth[0]).astype(np.uint8)
    assert np.array_equal(first.coarse[0], clone_fill(masked, first.hole[0]))
    assert np.array_equal(first.coarse[0][~first.hole[0]], first.truth[0][~first.hole[0]])
    (cache / "shard_0001.npz").unlink()
    logs = []
    build_cache(ds, cache, count=5, val_count=2, shard=3, progress=False, log=logs.append)
    assert "1 of 2 shards already there" in logs[0]
    again = load_cache(cache)
    assert all(np.array_equal(getattr(first, k), getattr(again, k)) for k in ("truth", "hole", "coarse"))
    assert len(load_cache(cache, "val")) == 2
    b1, b2 = (make_refine_batch(first, 4, 0, 7) for _ in range(2))
    assert all(np.array_equal(b1[k], b2[k]) for k in b1) and b1["coarse"].shape == (4, 3, 256, 256)
    with pytest.raises(InputError, match="another data set"):
        build_cache(tmp_path / "elsewhere", cache, count=5, shard=3, progress=False)


def test_synthetic_folds_shade_only_outside_the_hole(tmp_path):
    from facecanvas.train.data import load_split
    from facecanvas.train.refine_data import make_pair

    split = load_split(tiny_dataset(tmp_path / "ds", 1), "train")
    plain, hole, _ = make_pair(split, 0, 3)
    folded, hole2, coarse = make_pair(split, 0, 3, folds=1.0)
    assert np.array_equal(hole, hole2) and np.array_equal(plain[hole], folded[hole])  # the truth stays plain
    diff = np.abs(plain.astype(int) - folded.astype(int)).max(-1)
    ring = (cv2.dilate(hole.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0) & ~hole
    assert diff[ring].max() > 10  # shade next to the border, outside the hole
    assert np.array_equal(coarse[~hole], folded[~hole])


def test_missing_refiner_model_is_a_clear_error(tmp_path):
    from facecanvas.inpaint.refine import CloneRefiner

    with pytest.raises(InputError, match="refiner model not found"):
        CloneRefiner(tmp_path / "nope.onnx")


# ---------------------------------------------------------------- torch from here on


@pytest.fixture(scope="module")
def torch():
    t = pytest.importorskip("torch")
    t.set_num_threads(1)
    return t


def tiny_cfg(tmp_path: Path | None = None, **run):
    from facecanvas.train.config import ModelConfig, TrainConfig

    cfg = TrainConfig(model=ModelConfig(variant="clone_unet_ca", unet_widths=[8, 8, 8, 8, 8, 8], coarse_scale=2,
                                        ca_reduction=1))
    cfg.data.crop, cfg.data.batch_size = 256, 2
    cfg.loss.l1, cfg.loss.l2 = 0.0, 1.0
    cfg.optim.beta1, cfg.optim.beta2 = 0.9, 0.999
    cfg.run.phase1_steps, cfg.run.phase2_steps = 0, 4
    cfg.run.out_dir = str((tmp_path or Path("/tmp")) / "run")
    cfg.run.log_every = cfg.run.checkpoint_every = cfg.run.sample_every = cfg.run.val_every = 1000
    for k, v in run.items():
        setattr(cfg.run, k, v)
    return cfg


def tiny_cache(n: int = 3, size: int = 256, shift: float = 0.0):
    """Clone-filled pairs; ``shift``: the truth is that much brighter than the fill in the hole."""
    from facecanvas.train.refine_data import RefineCache

    truths, holes, coarses = [], [], []
    for i in range(n):
        t, h = skin(size, i), part_hole(size)
        c = clone_fill(np.where(h[..., None], 0, t).astype(np.uint8), h)
        if shift:
            t = np.where(h[..., None], np.clip(c.astype(np.float32) + shift, 0, 255), t).astype(np.uint8)
        truths.append(t), holes.append(h), coarses.append(c)
    return RefineCache(np.stack(truths), np.stack(holes), np.stack(coarses))


def tensors(torch, cache, i=slice(0, 2)):
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).float()  # noqa: E731
    return (t(cache.truth[i].transpose(0, 3, 1, 2) / 255.0), t(cache.hole[i][:, None]),
            t(cache.coarse[i].transpose(0, 3, 1, 2) / 255.0))


def test_shapes_identity_at_start_and_only_the_hole_changes(torch):
    from facecanvas.train.networks import CloneRefineNet

    net = CloneRefineNet(tiny_cfg().model).eval()
    x, m, c = tensors(torch, tiny_cache(2))
    with torch.no_grad():
        out = net(x, m, c)
    assert out["output"].shape == x.shape and out["residual"].shape == x.shape
    assert torch.equal(out["output"], c * m + x * (1 - m))  # zero tail: exactly the clone fill
    torch.nn.init.normal_(net.g_ref.tail.weight, std=0.5)
    with torch.no_grad():
        out = net(x, m, c)
    assert (out["output"] - c).abs().max() > 1e-3
    assert torch.equal(out["output"] * (1 - m), x * (1 - m))


def test_the_correction_is_smooth_so_the_clone_grain_stays(torch):
    from facecanvas.eval.metrics import texture_ratio
    from facecanvas.train.networks import CloneRefineNet

    torch.manual_seed(0)
    net = CloneRefineNet(tiny_cfg().model).eval()
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.2)
    cache = tiny_cache(1)
    x, m, c = tensors(torch, cache, slice(0, 1))
    with torch.no_grad():
        out = net(x, m, c)
    res = out["residual"][0].numpy().transpose(1, 2, 0).mean(-1) * 255
    hole = part_hole()
    rms = np.sqrt(np.mean(res[hole] ** 2))
    assert rms > 3  # a visible correction ...
    assert np.sqrt(np.mean(high_pass(res)[hole] ** 2)) < 0.1 * rms  # ... with no grain of its own
    refined = np.clip(out["output"][0].numpy().transpose(1, 2, 0) * 255 + 0.5, 0, 255).astype(np.uint8)
    assert texture_ratio(refined, cache.coarse[0], hole) == pytest.approx(1.0, abs=0.05)


def test_gradients_reach_every_layer(torch):
    from facecanvas.train.networks import CloneRefineNet

    torch.manual_seed(0)
    net = CloneRefineNet(tiny_cfg().model)
    x, m, c = tensors(torch, tiny_cache(2, shift=10))
    out = net(x, m, c)
    ((out["output"] - x) ** 2).mean().backward()
    assert net.g_ref.tail.weight.grad.abs().sum() > 0  # the zero tail learns first
    torch.nn.init.normal_(net.g_ref.tail.weight, std=0.1)
    net.zero_grad()
    ((net(x, m, c)["output"] - x) ** 2).mean().backward()
    dead = [n for n, p in net.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not dead, dead


def test_a_few_dozen_steps_overfit_one_batch(torch, tmp_path):
    from facecanvas.train.refine_train import RefineTrainer

    cfg = tiny_cfg(tmp_path)
    cfg.optim.lr_g = 5e-3
    cache = tiny_cache(2, 128, shift=12.0)  # a shading error the correction can fix: +12 levels over the hole
    t = RefineTrainer(cfg, train=cache, val=cache, log=lambda m: None)
    b = t.batch(0)
    first = t.loss_terms(b)["l2"].item()
    for _ in range(80):
        loss = t.loss_terms(b)["l2"]
        t.opt_g.zero_grad()
        loss.backward()
        t.opt_g.step()
    assert float(loss) < 0.2 * first
    v = t.validate()
    assert v["hole_psnr"] > v["clone_hole_psnr"] + 3


def test_checkpoint_round_trip_and_resume_equals_one_long_run(torch, tmp_path):
    from facecanvas.train.refine_train import RefineTrainer, load_refiner

    cache = tiny_cache(3)
    one = RefineTrainer(tiny_cfg(tmp_path / "a", phase2_steps=4), train=cache, val=cache, log=lambda m: None)
    one.fit()
    two = RefineTrainer(tiny_cfg(tmp_path / "b", phase2_steps=4), train=cache, val=cache, log=lambda m: None)
    two.fit(stop_at=2)
    again = RefineTrainer(tiny_cfg(tmp_path / "b", phase2_steps=4), train=cache, val=cache, log=lambda m: None)
    again.load(Path(two.cfg.run.out_dir) / "checkpoint.pt")
    assert again.step == 2
    again.fit()
    for (k, a), b in zip(one.net.state_dict().items(), again.net.state_dict().values()):
        assert torch.equal(a, b), k
    net, cfg, step = load_refiner(Path(one.cfg.run.out_dir) / "weights" / "step_000004.pt")
    assert step == 4 and cfg.model.variant == "clone_unet_ca"
    assert (Path(one.cfg.run.out_dir) / "metrics.jsonl").is_file()
    other = tiny_cfg(tmp_path / "b", phase2_steps=4)
    other.model.residual_sigma = 3.0
    with pytest.raises(InputError, match=r"\[model\] differs"):
        RefineTrainer(other, train=cache, val=cache, log=lambda m: None).load(
            Path(two.cfg.run.out_dir) / "checkpoint.pt")


def test_shipped_refiner_config_is_valid_and_the_edge_phase_is_refused(torch):
    from facecanvas.train.config import load_config
    from facecanvas.train.refine_train import RefineTrainer

    cfg = load_config(CONFIGS / "refine_compact.toml")
    assert cfg.model.variant == "clone_unet_ca" and cfg.run.phase1_steps == 0 and cfg.run.threads == 1
    bad = tiny_cfg()
    bad.run.phase1_steps = 5
    with pytest.raises(InputError, match="no edge phase"):
        RefineTrainer(bad, train=tiny_cache(1), log=lambda m: None)


@pytest.fixture(scope="module")
def exported(torch, tmp_path_factory):
    """A tiny trained refiner exported through `facecanvas export`'s code path, with a visible correction."""
    pytest.importorskip("onnx")
    from facecanvas.train.export import export_checkpoint
    from facecanvas.train.refine_train import RefineTrainer

    tmp = tmp_path_factory.mktemp("refiner")
    cache = tiny_cache(2, 128, shift=12.0)
    cfg = tiny_cfg(tmp, phase2_steps=30)
    cfg.optim.lr_g = 5e-3
    t = RefineTrainer(cfg, train=cache, val=cache, log=lambda m: None)
    t.fit()
    path, err, step = export_checkpoint(Path(cfg.run.out_dir) / "checkpoint.pt", tmp / "refiner.onnx")
    assert step == 30 and err <= 1e-4, err
    return path, t.net


def test_onnx_export_matches_pytorch_and_the_refiner_runs_at_any_size(exported, torch):
    from facecanvas.inpaint.fills import learned_fill
    from facecanvas.inpaint.refine import CloneRefiner
    from facecanvas.train.refine_train import refine_with

    path, net = exported
    assert path.stat().st_size < 5e6
    r = CloneRefiner(path)
    img, hole = skin(), part_hole()
    masked = np.where(hole[..., None], 0, img).astype(np.uint8)
    coarse = clone_fill(masked, hole)
    got = r.refine(masked, hole, coarse)
    want, _ = refine_with(net, coarse, hole)
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1
    assert not np.array_equal(got, coarse) and np.array_equal(got[~hole], masked[~hole])
    big, big_hole = skin(384, 1), part_hole(384)
    fill = learned_fill(path)  # told apart from a FaceEraser model by its inputs
    assert fill.name == "refine"
    out = fill.fill(big, big_hole)
    assert out.shape == big.shape and np.array_equal(out[~big_hole], big[~big_hole])
    assert np.array_equal(r.refine(img, np.zeros_like(hole), img), img)


def test_refiner_inference_never_imports_torch(exported):
    path, _ = exported
    code = ("import sys, numpy as np\n"
            "from facecanvas.inpaint import get_fill\n"
            "img = np.full((256, 256, 3), 150, np.uint8); hole = np.zeros((256, 256), bool); hole[100:150, 80:180] = 1\n"
            f"get_fill('refine', {str(path)!r}).fill(img, hole)\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert r.returncode == 0, r.stderr[-500:]


def test_method_refine_on_a_real_shared_face_and_the_cli(exported, tmp_path):
    from facecanvas import erase
    from facecanvas.inpaint import get_fill

    path, _ = exported
    folder = shared_path("faces", "celebamaskhq", "train", "images")
    photo = sorted(folder.glob("*.jpg"))[0]
    image = cv2.imread(str(photo))
    result = erase(image, method=get_fill("refine", path))
    assert result.faces, f"no face found in {photo.name}"
    changed = np.any(result.image != image, axis=2)
    assert changed.any() and not changed[result.mask == 0].any()
    clone = erase(image, method="clone").image
    assert np.abs(result.image.astype(int) - clone.astype(int)).max() > 0  # the correction shows
    dst = tmp_path / "out.png"
    r = run_cli("erase", photo, "-o", dst, "--method", "refine", "--model", path)
    assert r.returncode == 0, r.stderr
    assert cv2.imread(str(dst)).shape == image.shape
    r = run_cli("erase", photo, "-o", tmp_path / "x.png", "--method", "clone", "--model", path)
    assert r.returncode != 0 and "--model is for --method neural or refine" in r.stderr
