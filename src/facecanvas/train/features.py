"""Feature extractors for the perceptual and style losses (FaceEraser 3.4 uses VGG-19 relu1_1 ... relu5_1).

No package ships VGG-19 weights and nothing may be downloaded at run time, so there are two choices:

* ``VGG19Features``: the paper's extractor, for users who have the weights: a torchvision-layout state dict
  (``features.N.weight`` / ``features.N.bias``, e.g. ``vgg19-dcbb9e9d.pth``) given with ``--vgg19-weights PATH``.
* ``RandomConvFeatures`` (the offline default): a fixed, seeded, never-trained five-stage conv net with the
  same taps as VGG (relu1_1 at full size ... relu5_1 at 1/16). Random ReLU conv features are a known, usable
  texture descriptor: the Gram matrices of a random shallow net synthesise textures almost as well as VGG's
  (Ustyuzhaninov et al., "What does it take to generate natural textures?", ICLR 2017), and as a perceptual
  loss they compare local structure at five scales instead of single pixels. Its weights come from a fixed
  seed, so every run, machine and resume sees the same loss, and it costs ~40x less than VGG-19.

Both take Bx3xHxW BGR images in 0..1 and return the five activations.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError

RANDCONV_SEED = 20210704
RANDCONV_WIDTHS = (16, 32, 64, 64, 64)
# torchvision vgg19().features indices: the convs before relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 end at
# these ReLU positions.
VGG19_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512]
VGG19_TAPS = (1, 6, 11, 20, 29)


class RandomConvFeatures(nn.Module):
    """Five stages of (avg-pool x2 except the first) 3x3 conv + ReLU with frozen, seeded He-normal weights."""

    def __init__(self, widths=RANDCONV_WIDTHS, seed: int = RANDCONV_SEED):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.convs = nn.ModuleList()
        cin = 3
        for w in widths:
            conv = nn.Conv2d(cin, w, 3, 1, 1)
            with torch.no_grad():
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) * (2.0 / (cin * 9)) ** 0.5)
                conv.bias.zero_()
            self.convs.append(conv)
            cin = w
        for p in self.parameters():
            p.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = (x - 0.5) / 0.25  # roughly zero-mean, unit-variance pixels, so the He scaling holds
        feats = []
        for i, conv in enumerate(self.convs):
            if i:
                x = F.avg_pool2d(x, 2)
            x = F.relu(conv(x))
            feats.append(x)
        return feats


def _vgg19_layers() -> nn.Sequential:
    layers: list[nn.Module] = []
    cin = 3
    for v in VGG19_CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU(inplace=False)]
            cin = v
    return nn.Sequential(*layers)


class VGG19Features(nn.Module):
    """VGG-19 relu1_1 ... relu5_1 from a torchvision-layout state dict file."""

    MEAN = (0.485, 0.456, 0.406)
    STD = (0.229, 0.224, 0.225)

    def __init__(self, weights: str | Path):
        super().__init__()
        self.features = _vgg19_layers()
        load_vgg19_weights(self.features, weights)
        for p in self.parameters():
            p.requires_grad_(False)
        self.register_buffer("mean", torch.tensor(self.MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(self.STD).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = (x.flip(1) - self.mean) / self.std  # BGR -> RGB, ImageNet statistics
        feats = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in VGG19_TAPS:
                feats.append(x)
                if i == VGG19_TAPS[-1]:
                    break
        return feats


def load_vgg19_weights(features: nn.Sequential, weights: str | Path) -> None:
    """Fill ``features`` from a file; a missing, unreadable or mismatched file is an InputError naming it."""
    path = Path(weights)
    if not path.is_file():
        raise InputError(f"{path}: VGG-19 weights file not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many types for a corrupt file
        raise InputError(f"{path}: cannot read VGG-19 weights ({type(e).__name__}: {str(e)[:120]})") from None
    if not isinstance(state, dict):
        raise InputError(f"{path}: VGG-19 weights must be a state dict, got {type(state).__name__}")
    state = {k[len("features."):] if k.startswith("features.") else k: v for k, v in state.items()}
    own = features.state_dict()
    missing = [k for k in own if k not in state]
    if missing:
        raise InputError(f"{path}: not VGG-19 weights (missing {', '.join(missing[:3])}...; expected the "
                         "torchvision layout features.N.weight)")
    bad = [k for k in own if tuple(state[k].shape) != tuple(own[k].shape)]
    if bad:
        raise InputError(f"{path}: not VGG-19 weights ({bad[0]} has shape {tuple(state[bad[0]].shape)}, "
                         f"expected {tuple(own[bad[0]].shape)})")
    features.load_state_dict({k: state[k] for k in own})


def make_features(kind: str, vgg19_weights: str | Path | None = None) -> nn.Module | None:
    """The perceptual/style extractor of ``loss.features``; ``--vgg19-weights`` selects VGG-19 whatever it says."""
    if vgg19_weights is not None:
        return VGG19Features(vgg19_weights)
    if kind == "vgg19":
        raise InputError("loss.features = 'vgg19' needs --vgg19-weights PATH (no weights ship with facecanvas)")
    if kind == "randconv":
        return RandomConvFeatures()
    return None
