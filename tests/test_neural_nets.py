"""The neural eraser's networks, losses, training loop, checkpoints, config checks and ONNX export (tiny shapes).

Needs the training extra (torch); skipped without it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # tiny tensors: more threads only add contention on a shared 2-core machine

from facecanvas.errors import InputError  # noqa: E402
from facecanvas.train.config import VARIANTS, ModelConfig, TrainConfig, from_dict, load_config  # noqa: E402
from facecanvas.train.data import Split, make_batch  # noqa: E402
from facecanvas.train.networks import (EncoderDecoder, FaceEraserNet, PatchGAN, RefineUNet,  # noqa: E402
                                       warp)
from facecanvas.train.trainer import Trainer  # noqa: E402

from conftest import run_cli  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[1] / "src" / "facecanvas" / "train" / "configs"


def tiny_model(variant: str = "edge_pc_unet_ca", coarse: int = 1) -> ModelConfig:
    return ModelConfig(variant=variant, width=4, res_blocks=1, unet_widths=[4, 4, 4, 8, 8, 8], coarse_scale=coarse, ca_reduction=1,
                       disc_width=4)


def tiny_split(n: int = 3, seed: int = 0) -> Split:
    """Skin-like noise 'blank faces' and blob-shaped part masks in the 256 frame."""
    rng = np.random.default_rng(seed)
    blanks, parts = [], []
    for _ in range(n):
        base = rng.uniform(120, 210, 3)
        blanks.append(np.clip(base + rng.normal(0, 8, (256, 256, 3)), 0, 255).astype(np.uint8))
        p = np.zeros((256, 256), np.uint8)
        p[90:120, 60:110] |= 2
        p[90:120, 146:196] |= 2
        p[120:170, 110:146] |= 4
        p[180:210, 90:166] |= 8
        parts.append(p)
    return Split(blanks, parts, [], [f"f{i}" for i in range(n)],
                 [("v0", blanks[0], parts[0] > 0)])


def tiny_config(tmp_path: Path, variant: str = "edge_pc_unet_ca", **run) -> TrainConfig:
    cfg = TrainConfig(model=tiny_model(variant))
    cfg.data.crop, cfg.data.batch_size = 64, 2
    cfg.loss.features = "randconv"
    cfg.run.out_dir = str(tmp_path / "run")
    cfg.run.phase1_steps, cfg.run.phase2_steps = 2, 2
    cfg.run.log_every = cfg.run.checkpoint_every = cfg.run.sample_every = cfg.run.val_every = 1000
    for k, v in run.items():
        setattr(cfg.run, k, v)
    return cfg


def make_trainer(cfg: TrainConfig, split: Split | None = None) -> Trainer:
    split = split or tiny_split()
    return Trainer(cfg, "cpu", train=split, val=split, log=lambda m: None)


# ---------------------------------------------------------------- shapes and ranges


def test_encoder_decoder_shapes_and_ranges():
    x = torch.randn(2, 3, 32, 32) * 3
    edge = EncoderDecoder(3, 1, 4, 2, "sigmoid")(x)
    assert edge.shape == (2, 1, 32, 32) and edge.min() >= 0 and edge.max() <= 1
    off = EncoderDecoder(3, 2, 4, 2, "tanh")(x)
    assert off.shape == (2, 2, 32, 32) and off.min() >= -1 and off.max() <= 1


def test_refine_unet_and_patchgan_shapes():
    y = RefineUNet(9, 3, [4, 4, 4, 8, 8, 8], attention=True)(torch.randn(1, 9, 64, 64) * 3)
    assert y.shape == (1, 3, 64, 64) and y.abs().max() <= 1
    logits, feats = PatchGAN(3, 4)(torch.rand(2, 3, 64, 64))
    # 70x70 PatchGAN: strides 2, 2, 2, 1, 1 with 4x4 kernels -> 64 / 8 - 2 = 6
    assert logits.shape == (2, 1, 6, 6) and torch.isfinite(logits).all()
    assert [f.shape[1] for f in feats] == [4, 8, 16, 32]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("coarse", [1, 2])
def test_every_variant_fills_only_the_hole(variant, coarse):
    net = FaceEraserNet(tiny_model(variant, coarse)).eval()
    x = torch.rand(1, 3, 64, 64)
    m = torch.zeros(1, 1, 64, 64)
    m[..., 20:40, 16:48] = 1
    e = torch.zeros(1, 1, 64 // coarse, 64 // coarse)
    with torch.no_grad():
        out = net(x, m, e)
    assert out["output"].shape == x.shape and out["edges"].shape == e.shape
    assert out["output"].min() >= 0 and out["output"].max() <= 1
    assert torch.equal(out["output"] * (1 - m), x * (1 - m)), "pixels outside the hole must be the input's"
    if variant != "edge_ae":
        assert out["offsets"].shape == (1, 2, 64, 64) and out["offsets"].abs().max() <= 1


# ---------------------------------------------------------------- warp


def test_warp_with_zero_offset_is_identity():
    x = torch.rand(2, 3, 17, 23)
    assert torch.allclose(warp(x, torch.zeros(2, 2, 17, 23)), x, atol=1e-6)


def test_warp_shifts_by_one_pixel_and_is_differentiable_in_both_inputs():
    x = torch.rand(1, 1, 8, 8, requires_grad=True)
    off = torch.zeros(1, 2, 8, 8)
    off[:, 0] = 2.0 / 8  # one pixel to the right, in grid units
    off.requires_grad_(True)
    y = warp(x, off)
    assert torch.allclose(y[..., :, :-1], x[..., :, 1:], atol=1e-6)
    (y * torch.rand_like(y)).sum().backward()
    assert x.grad.abs().sum() > 0 and off.grad.abs().sum() > 0


def test_hole_penalty_is_zero_for_copies_from_outside_and_pushes_offsets_out():
    from facecanvas.train.data import hole_depth
    from facecanvas.train.losses import offsets_into_hole

    mask = torch.zeros(1, 1, 32, 32)
    mask[..., 8:24, 8:24] = 1
    depth = torch.from_numpy(hole_depth(mask.numpy(), unit=1.0))
    assert depth[0, 0, 16, 16] == pytest.approx(8.0, abs=0.5) and depth[0, 0, 0, 0] == 0
    out = torch.zeros(1, 2, 32, 32)
    out[:, 1] = 2.0 * 20 / 32  # every pixel copies from 20 px below: all hole pixels land outside it
    assert offsets_into_hole(depth, out, mask).item() == pytest.approx(0.0, abs=1e-6)
    still = torch.zeros(1, 2, 32, 32, requires_grad=True)  # each hole pixel copies itself
    pen = offsets_into_hole(depth, still, mask)
    assert pen.item() > 1.0
    pen.backward()
    # Descending the penalty moves a pixel left of the centre further left, one right of it further right.
    g = still.grad[0, 0]
    assert g[16, 10] > 0 and g[16, 21] < 0


# ---------------------------------------------------------------- training


def test_a_run_with_the_hole_penalty_logs_it(tmp_path):
    cfg = tiny_config(tmp_path, log_every=1)
    cfg.loss.clone_hole = 1.0
    t = make_trainer(cfg)
    t.fit()
    log = [json.loads(line) for line in (Path(cfg.run.out_dir) / "metrics.jsonl").read_text().splitlines()]
    pens = [r["g_clone_hole"] for r in log if "g_clone_hole" in r]
    assert len(pens) == 2 and all(np.isfinite(pens))


def _grads_nonzero(module) -> list[str]:
    """Parameters that got no gradient. A channel-attention bottleneck unit may start inactive (ReLU of a
    negative sum for this batch), so those are allowed as long as the rest of the network learns."""
    return [n for n, p in module.named_parameters()
            if (p.grad is None or not p.grad.abs().sum() > 0) and ".ca.gate." not in n]


def test_gradients_reach_every_network(tmp_path):
    t = make_trainer(tiny_config(tmp_path))
    b = t.batch(0)
    t.edge_step(b)
    assert not _grads_nonzero(t.net.g_edge), "phase 1 must train G_edge"
    assert not _grads_nonzero(t.d_edge)
    t.image_step(b)
    for name, m in (("g_pc", t.net.g_pc), ("g_ref", t.net.g_ref), ("d_img", t.d_img)):
        assert not _grads_nonzero(m), f"phase 2 must train {name}"


def test_batches_depend_only_on_seed_and_step():
    cfg = TrainConfig().data
    cfg.crop, cfg.batch_size = 64, 2
    s = tiny_split()
    a, b = make_batch(s, cfg, 3, 7, 2), make_batch(s, cfg, 3, 7, 2)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert a["edges"].shape == (2, 1, 32, 32) and a["truth"].shape == (2, 3, 64, 64)
    assert not np.array_equal(a["truth"], make_batch(s, cfg, 3, 8, 2)["truth"])


OVERFIT_FACTOR = 4.0


def test_a_few_hundred_steps_overfit_one_batch(tmp_path):
    """G_pc + G_ref on one fixed batch, L1 terms only: the hole's L1 must fall by OVERFIT_FACTOR."""
    torch.manual_seed(0)
    cfg = tiny_config(tmp_path)
    cfg.loss.features, cfg.loss.adv = "none", 0.0
    cfg.optim.lr_g = 2e-3
    t = make_trainer(cfg)
    b = t.batch(0)
    first = t.image_step(b)["g_l1"]
    for _ in range(200):
        last = t.image_step(b)["g_l1"]
    assert last < first / OVERFIT_FACTOR, f"L1 fell only from {first:.3f} to {last:.3f}"


def _params(t: Trainer) -> dict[str, torch.Tensor]:
    return {f"{k}.{n}": v.clone() for k, m in (("net", t.net), ("d_edge", t.d_edge), ("d_img", t.d_img))
            for n, v in m.state_dict().items()}


def test_checkpoint_round_trip_and_resume_equals_one_long_run(tmp_path):
    split = tiny_split()
    straight = make_trainer(tiny_config(tmp_path / "a"), split)
    straight.fit()  # 2 edge steps + 2 image steps
    first = make_trainer(tiny_config(tmp_path / "b"), split)
    first.fit(stop_at=3)  # stop inside phase 2
    ckpt = Path(first.cfg.run.out_dir) / "checkpoint.pt"
    resumed = make_trainer(tiny_config(tmp_path / "b"), split)
    resumed.load(ckpt)
    assert resumed.step == 3
    assert all(torch.equal(v, _params(first)[k]) for k, v in _params(resumed).items()), "round trip changed weights"
    resumed.fit()
    a, b = _params(straight), _params(resumed)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed run differs from the uninterrupted one"
    log = [json.loads(line) for line in (Path(first.cfg.run.out_dir) / "metrics.jsonl").read_text().splitlines()]
    assert log and log[-1]["step"] == 4


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    bad = tmp_path / "checkpoint.pt"
    bad.write_bytes(b"not a checkpoint")
    t = make_trainer(tiny_config(tmp_path))
    with pytest.raises(InputError, match="checkpoint.pt"):
        t.load(bad)
    with pytest.raises(InputError, match="missing.pt"):
        t.load(tmp_path / "missing.pt")


# ---------------------------------------------------------------- config and weights errors


def test_config_errors_name_the_file_and_field(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('[model]\nwidth = "wide"\n')
    with pytest.raises(InputError, match=r"c\.toml: model\.width: expected int"):
        load_config(p)
    p.write_text('[model]\nvariant = "edge_magic"\n')
    with pytest.raises(InputError, match=r"c\.toml: model\.variant: unknown variant 'edge_magic'"):
        load_config(p)
    p.write_text('[model]\nwidht = 8\n')
    with pytest.raises(InputError, match="unknown field model.widht"):
        load_config(p)
    p.write_text('[model\n')
    with pytest.raises(InputError, match="cannot parse"):
        load_config(p)
    with pytest.raises(InputError, match="nope.toml: config file not found"):
        load_config(tmp_path / "nope.toml")
    assert from_dict({"optim": {"lr_g": 1}}).optim.lr_g == 1.0  # an int is a valid float


def test_shipped_configs_are_valid():
    # The eraser's configs; the folder also holds the swap, de-identification and parser trainers' own.
    for p in (CONFIGS / "compact.toml", CONFIGS / "paper.toml"):
        cfg = load_config(p)
        assert cfg.model.variant in VARIANTS


def test_vgg19_weights_missing_or_corrupt_is_a_clear_error(tmp_path):
    from facecanvas.train.features import RandomConvFeatures, make_features

    with pytest.raises(InputError, match="vgg19.pth: VGG-19 weights file not found"):
        make_features("randconv", tmp_path / "vgg19.pth")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(InputError, match="bad.pth: cannot read VGG-19 weights"):
        make_features("randconv", bad)
    wrong = tmp_path / "wrong.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, wrong)
    with pytest.raises(InputError, match="wrong.pth: not VGG-19 weights"):
        make_features("randconv", wrong)
    with pytest.raises(InputError, match="needs --vgg19-weights"):
        make_features("vgg19")
    f = RandomConvFeatures()
    a, b = f(torch.rand(1, 3, 32, 32)), RandomConvFeatures()(torch.rand(1, 3, 32, 32))
    assert [x.shape[-1] for x in a] == [32, 16, 8, 4, 2]
    assert torch.equal(f.convs[0].weight, RandomConvFeatures().convs[0].weight), "features must be fixed by seed"
    assert len(b) == 5


# ---------------------------------------------------------------- export


def test_onnx_export_matches_pytorch(tmp_path):
    pytest.importorskip("onnx")
    from facecanvas.inpaint.neural import NeuralEraser
    from facecanvas.train.export import export_onnx, parity

    torch.manual_seed(0)
    net = FaceEraserNet(tiny_model("edge_pc_unet_ca", 2)).eval()
    path = export_onnx(net, tmp_path / "tiny.onnx", {"step": 0})
    assert parity(net, path, size=128) <= 1e-4
    eraser = NeuralEraser(path)
    assert eraser.scale == 2 and eraser.stride == 64
    img = np.full((100, 90, 3), 150, np.uint8)
    hole = np.zeros((100, 90), bool)
    hole[30:60, 20:70] = True
    out = eraser.fill(img, hole)  # not a multiple of the stride: padded inside
    assert out.shape == img.shape and np.array_equal(out[~hole], img[~hole])


def test_export_that_fails_the_parity_check_writes_nothing(tmp_path, monkeypatch):
    pytest.importorskip("onnx")
    from facecanvas.errors import OutputError
    import facecanvas.train.export as export_mod

    t = make_trainer(tiny_config(tmp_path / "run"), tiny_split())
    t.fit()
    ckpt = Path(t.cfg.run.out_dir) / "checkpoint.pt"
    out = tmp_path / "model.onnx"
    out.write_bytes(b"the previous model")
    monkeypatch.setattr(export_mod, "parity", lambda *a, **k: 3e-4)
    with pytest.raises(OutputError, match="not written: the ONNX output differs"):
        export_mod.export_checkpoint(ckpt, out, overwrite=True)
    assert out.read_bytes() == b"the previous model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx", "run"]
    monkeypatch.undo()
    # A tiny two-step model is far from converged, so its parity is looser than a trained one's.
    path, err, step = export_mod.export_checkpoint(ckpt, out, overwrite=True, tolerance=1e-2)
    assert path == out and err <= 1e-2 and step == 4 and out.read_bytes()[:2] != b"th"


# ---------------------------------------------------------------- CLI


def test_train_cli_bad_config_and_export_missing_checkpoint(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text('[model]\nvariant = "unet9000"\n')
    r = run_cli("train", p)
    assert r.returncode == 2 and "bad.toml: model.variant: unknown variant" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = run_cli("export", tmp_path / "none.pt", "-o", tmp_path / "x.onnx")
    assert r.returncode == 2 and "none.pt: checkpoint not found" in r.stderr
