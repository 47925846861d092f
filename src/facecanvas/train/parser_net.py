"""A small face-parsing network: a light U-Net of depthwise-separable residual blocks.

Encoder: a 3x3 stride-2 stem, then four stride-2 stages (widths ``widths``), each a downsampling
depthwise-separable block plus ``depth`` residual ones; the deepest stage adds dilated blocks for context.
Decoder: bilinear x2 upsampling, the skip added after a 1x1 projection, one separable block per level, up to
1/2 resolution; a 1x1 head, then bilinear x2 to the input size.

Input: Bx3xHxW BGR in 0..1 (H, W multiples of 32); output: BxCxHxW logits. Normalisation is inside the net, so
the exported ONNX graph takes the crop as it is (divided by 255).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .parser_data import NUM_CLASSES


def _cbr(cin, cout, k=1, s=1, groups=1, dilation=1, act=True):
    layers = [nn.Conv2d(cin, cout, k, s, padding=dilation * (k // 2), dilation=dilation, groups=groups,
                        bias=False), nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class SepBlock(nn.Module):
    """depthwise 3x3 (stride s, dilation d) -> BN-ReLU -> pointwise -> BN, residual when shapes agree, ReLU."""

    def __init__(self, cin, cout, stride=1, dilation=1):
        super().__init__()
        self.dw = _cbr(cin, cin, 3, stride, groups=cin, dilation=dilation)
        self.pw = _cbr(cin, cout, 1, act=False)
        self.res = stride == 1 and cin == cout
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        y = self.pw(self.dw(x))
        return self.act(y + x if self.res else y)


class ParserNet(nn.Module):
    def __init__(self, num_classes: int = NUM_CLASSES, widths=(16, 32, 64, 96, 128), depth=(1, 2, 2, 3)):
        super().__init__()
        self.num_classes = num_classes
        self.register_buffer("mean", torch.tensor([0.406, 0.456, 0.485]).view(1, 3, 1, 1))  # BGR
        self.register_buffer("std", torch.tensor([0.225, 0.224, 0.229]).view(1, 3, 1, 1))
        w = widths
        self.stem = _cbr(3, w[0], 3, 2)  # 1/2
        stages = []
        for i in range(4):
            blocks = [SepBlock(w[i], w[i + 1], stride=2)]
            for j in range(depth[i]):
                dil = (1, 2, 4)[j % 3] if i == 3 else 1
                blocks.append(SepBlock(w[i + 1], w[i + 1], dilation=dil))
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.ModuleList(stages)  # 1/4, 1/8, 1/16, 1/32
        # global context added at the deepest level
        self.ctx = _cbr(w[4], w[4], 1)
        dec = []
        skips = []
        for i in range(4, 0, -1):  # from level i (width w[i]) to level i-1 (width w[i-1])
            skips.append(_cbr(w[i - 1], w[i], 1, act=False))
            dec.append(nn.Sequential(SepBlock(w[i], w[i - 1])))
        self.skips = nn.ModuleList(skips)
        self.dec = nn.ModuleList(dec)
        self.head = nn.Sequential(_cbr(w[0], w[0], 3, groups=w[0]), nn.Conv2d(w[0], num_classes, 1))

    def forward(self, x):
        size = x.shape[-2:]
        x = (x - self.mean) / self.std
        feats = [self.stem(x)]
        for st in self.stages:
            feats.append(st(feats[-1]))
        y = feats[-1]
        y = y + self.ctx(y.mean((2, 3), keepdim=True))
        for k, i in enumerate(range(4, 0, -1)):
            skip = feats[i - 1]
            y = F.interpolate(y, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            y = self.dec[k](y + self.skips[k](skip))
        y = self.head(y)
        return F.interpolate(y, size=size, mode="bilinear", align_corners=False)


def build(cfg: dict | None = None) -> ParserNet:
    cfg = dict(cfg or {})
    return ParserNet(num_classes=cfg.get("num_classes", NUM_CLASSES), widths=tuple(cfg.get("widths", (16, 32, 64, 96, 128))),
                     depth=tuple(cfg.get("depth", (1, 2, 2, 3))))


def count_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def export_onnx(net: nn.Module, path, size: int, opset: int = 17, info: dict | None = None) -> None:
    """Export in eval mode with a fixed batch of 1 and a fixed ``size`` input (dynamo=False).

    The model's metadata holds the label set (``classes``, JSON), ``input_size`` and ``info`` (JSON: training
    facts for the model card), read back by facecanvas.masks.face_parser."""
    import json

    import onnx

    from .parser_data import CLASSES

    net = net.eval()
    dummy = torch.rand(1, 3, size, size)
    torch.onnx.export(net, dummy, str(path), input_names=["image"], output_names=["logits"], opset_version=opset,
                      dynamo=False, do_constant_folding=True)
    model = onnx.load(str(path))
    meta = {"classes": json.dumps(list(CLASSES)), "input_size": str(size),
            "input": "1x3xSxS float32 BGR 0..1, the canonical aligned crop resized to S",
            "info": json.dumps(info or {})}
    for k, v in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.save(model, str(path))
