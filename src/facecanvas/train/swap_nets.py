"""FaceShifter's networks (Li et al., "FaceShifter: Towards High Fidelity And Occlusion Aware Face Swapping",
2020): AEI-Net (identity encoder, multi-level attributes encoder, AAD generator) and HEAR-Net.

Images are N x 3 x S x S **RGB in -1..1**, in facecanvas's canonical whole-head crop
(``align_face(points, S)``); the identity is a 128-D unit SFace embedding.

* ``IdentityEncoder``: the frozen ``SFaceTorch`` behind ``differentiable_align`` from the canonical S crop
  to ArcFace's 112 crop (``canonical_to_arcface_matrix``). **Deviation**: the paper uses a pretrained
  ArcFace (512-D); none ships here, so SFace (128-D, the product's recognizer) takes its place.
* ``AttributesEncoder``: the paper's multi-level U-Net: 4x4 stride-2 convs (LeakyReLU 0.1) down to a 2 x 2
  bottleneck, 4x4 stride-2 transposed convs up, each concatenated with the encoder map of its size; the
  bottleneck and every decoder map are the attributes ``z_att^1..z_att^{n}``, plus ``z_att^{n+1}``, the last
  map bilinearly upsampled to S (paper Fig. 4a). Paper widths at 256: 32, 64, 128, 256, 512, 1024, 1024.
  Normalisation: ``att_norm = "batch"`` as the paper; the compact config uses "none", because batch
  statistics of a 4-sample CPU batch make eval-mode (ONNX) outputs drift from training ones.
* ``AADLayer`` (Fig. 4c): h̄ = instance-norm(h); A = γ_att(z) ⊙ h̄ + β_att(z) (1x1 convs on z_att^k);
  I = γ_id(z_id) ⊙ h̄ + β_id(z_id) (fully connected on the embedding); M = σ(conv(h̄)), one channel;
  output (1 − M) ⊙ A + M ⊙ I.
* ``AADResBlk`` (Fig. 4b): (AAD, ReLU, 3x3 conv) twice plus a shortcut, which is itself AAD, ReLU, 3x3 conv
  when the channel count changes.
* ``AADGenerator``: a 2x2 transposed conv lifts the embedding to the 2 x 2 bottleneck, then one AADResBlk
  per level, bilinear x2 between levels, ending in 3 channels and tanh. Paper widths: 1024, 1024, 1024,
  1024, 512, 256, 128, 64 -> 3.
* ``HEARNet``: the refinement U-Net; input Ŷ (AEI's output) concatenated with the heuristic error
  Δ = X_t − AEI(X_t, X_t); tanh output. The paper only says "U-Net"; widths are ours (as the encoder's).
* ``MultiScaleDiscriminator``: pix2pixHD's multi-scale PatchGAN (the project's ``PatchGAN`` at 1, 1/2,
  1/4 ... of the image).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .networks import PatchGAN, count_parameters  # noqa: F401 - re-exported for the trainer

ID_DIM = 128  # SFace


@dataclass
class SwapModelConfig:
    size: int = 256  # canonical crop side (a power of two, >= 16)
    att_widths: list[int] = field(default_factory=lambda: [32, 64, 128, 256, 512, 1024, 1024])  # one per level
    gen_widths: list[int] = field(default_factory=lambda: [1024, 1024, 1024, 1024, 512, 256, 128, 64])
    att_norm: str = "batch"  # "batch" (paper) or "none"
    hear_widths: list[int] = field(default_factory=lambda: [32, 64, 128, 256, 512, 512])
    disc_width: int = 64
    disc_scales: int = 3


def levels(size: int) -> int:
    """Encoder levels from ``size`` down to a 2 x 2 bottleneck."""
    n = int(round(math.log2(size))) - 1
    if 2 ** (n + 1) != size or n < 3:
        raise ValueError(f"crop size must be a power of two >= 16, got {size}")
    return n


def check_config(m: SwapModelConfig) -> None:
    n = levels(m.size)
    if len(m.att_widths) != n:
        raise ValueError(f"att_widths: {n} widths for a {m.size} crop (down to 2 x 2), got {len(m.att_widths)}")
    if len(m.gen_widths) != n + 1:
        raise ValueError(f"gen_widths: {n + 1} widths for a {m.size} crop, got {len(m.gen_widths)}")
    if m.att_norm not in ("batch", "none"):
        raise ValueError(f"att_norm: 'batch' or 'none', got {m.att_norm!r}")
    if not 2 <= len(m.hear_widths) <= n:
        raise ValueError(f"hear_widths: 2..{n} widths for a {m.size} crop, got {len(m.hear_widths)}")
    if min(m.att_widths + m.gen_widths + m.hear_widths + [m.disc_width, m.disc_scales]) < 1:
        raise ValueError("widths and disc_scales must be positive")
    if m.size >> (m.disc_scales - 1) < 32:
        raise ValueError(f"disc_scales: the coarsest discriminator scale of a {m.size} crop must be >= 32 px "
                         f"(a 70x70 PatchGAN), got {m.disc_scales} scales")


def _norm(kind: str, ch: int) -> nn.Module:
    return nn.BatchNorm2d(ch) if kind == "batch" else nn.Identity()


def _down(cin: int, cout: int, norm: str) -> nn.Module:
    return nn.Sequential(nn.Conv2d(cin, cout, 4, 2, 1, bias=norm != "batch"), _norm(norm, cout),
                         nn.LeakyReLU(0.1, True))


def _up(cin: int, cout: int, norm: str) -> nn.Module:
    return nn.Sequential(nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=norm != "batch"), _norm(norm, cout),
                         nn.LeakyReLU(0.1, True))


class AttributesEncoder(nn.Module):
    """Multi-level attributes encoder; ``forward`` returns [z_att^1 (2x2), ..., z_att^{n+1} (S x S)]."""

    def __init__(self, widths: list[int], norm: str = "batch"):
        super().__init__()
        w = list(widths)
        n = len(w)
        self.down = nn.ModuleList(_down(3 if i == 0 else w[i - 1], w[i], norm) for i in range(n))
        ups, ch = [], w[-1]
        for i in range(n - 2, -1, -1):  # decoder level at the size of encoder map i
            ups.append(_up(ch, w[i], norm))
            ch = 2 * w[i]
        self.up = nn.ModuleList(ups)
        self.channels = [w[-1]] + [2 * w[i] for i in range(n - 2, -1, -1)] + [2 * w[0]]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for d in self.down:
            x = d(x)
            feats.append(x)
        z = [feats[-1]]
        y = feats[-1]
        for up, skip in zip(self.up, reversed(feats[:-1])):
            y = torch.cat([up(y), skip], 1)
            z.append(y)
        z.append(F.interpolate(y, scale_factor=2.0, mode="bilinear", align_corners=True))
        return z


class AADLayer(nn.Module):
    def __init__(self, ch: int, att_ch: int, id_dim: int = ID_DIM):
        super().__init__()
        self.norm = nn.InstanceNorm2d(ch, affine=False)
        self.att_gamma = nn.Conv2d(att_ch, ch, 1)
        self.att_beta = nn.Conv2d(att_ch, ch, 1)
        self.id_gamma = nn.Linear(id_dim, ch)
        self.id_beta = nn.Linear(id_dim, ch)
        self.mask = nn.Conv2d(ch, 1, 1)

    def forward(self, h: torch.Tensor, z_att: torch.Tensor, z_id: torch.Tensor) -> torch.Tensor:
        h = self.norm(h)
        a = self.att_gamma(z_att) * h + self.att_beta(z_att)
        i = self.id_gamma(z_id)[..., None, None] * h + self.id_beta(z_id)[..., None, None]
        m = torch.sigmoid(self.mask(h))
        return (1 - m) * a + m * i


class AADResBlk(nn.Module):
    def __init__(self, cin: int, cout: int, att_ch: int, id_dim: int = ID_DIM):
        super().__init__()
        self.aad1 = AADLayer(cin, att_ch, id_dim)
        self.conv1 = nn.Conv2d(cin, cin, 3, 1, 1)
        self.aad2 = AADLayer(cin, att_ch, id_dim)
        self.conv2 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.learned_skip = cin != cout
        if self.learned_skip:
            self.aad_s = AADLayer(cin, att_ch, id_dim)
            self.conv_s = nn.Conv2d(cin, cout, 3, 1, 1)

    def forward(self, h: torch.Tensor, z_att: torch.Tensor, z_id: torch.Tensor) -> torch.Tensor:
        x = self.conv1(F.relu(self.aad1(h, z_att, z_id)))
        x = self.conv2(F.relu(self.aad2(x, z_att, z_id)))
        s = self.conv_s(F.relu(self.aad_s(h, z_att, z_id))) if self.learned_skip else h
        return x + s


class AADGenerator(nn.Module):
    def __init__(self, widths: list[int], att_channels: list[int], id_dim: int = ID_DIM):
        super().__init__()
        w = list(widths)
        self.lift = nn.ConvTranspose2d(id_dim, w[0], 2, 1, 0)  # 1x1 embedding -> 2x2
        outs = w[1:] + [3]
        self.blocks = nn.ModuleList(AADResBlk(w[k], outs[k], att_channels[k], id_dim) for k in range(len(w)))

    def forward(self, z_att: list[torch.Tensor], z_id: torch.Tensor) -> torch.Tensor:
        h = self.lift(z_id[..., None, None])
        for k, blk in enumerate(self.blocks):
            h = blk(h, z_att[k], z_id)
            if k + 1 < len(self.blocks):
                h = F.interpolate(h, scale_factor=2.0, mode="bilinear", align_corners=True)
        return torch.tanh(h)


class IdentityEncoder(nn.Module):
    """Frozen SFace on the ArcFace 112 crop warped (differentiably) out of the canonical ``size`` crop.
    ``forward(images in -1..1 RGB)`` -> unit N x 128 embeddings."""

    def __init__(self, size: int, sface: nn.Module | None = None):
        super().__init__()
        from .sface_torch import SFaceTorch, canonical_to_arcface_matrix

        self.sface = sface if sface is not None else SFaceTorch()
        self.sface.requires_grad_(False)
        self.register_buffer("matrix", torch.from_numpy(canonical_to_arcface_matrix(size, 112)).float(),
                             persistent=False)

    def arcface_crop(self, images: torch.Tensor) -> torch.Tensor:
        from .sface_torch import differentiable_align

        return differentiable_align((images + 1) * 127.5, self.matrix.double(), 112)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.sface.embed(self.arcface_crop(images))


class AEINet(nn.Module):
    """Adaptive Embedding Integration Network: ``forward(target, z_id)`` -> (Ŷ, z_att(target))."""

    def __init__(self, cfg: SwapModelConfig):
        super().__init__()
        check_config(cfg)
        self.cfg = cfg
        self.encoder = AttributesEncoder(cfg.att_widths, cfg.att_norm)
        self.generator = AADGenerator(cfg.gen_widths, self.encoder.channels)

    def forward(self, target: torch.Tensor, z_id: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        z_att = self.encoder(target)
        return self.generator(z_att, z_id), z_att


class HEARNet(nn.Module):
    """Heuristic Error Acknowledging Refinement: U-Net on cat(Ŷ, Δ), tanh output."""

    def __init__(self, widths: list[int]):
        super().__init__()
        w = list(widths)
        self.down = nn.ModuleList(_down(6 if i == 0 else w[i - 1], w[i], "none") for i in range(len(w)))
        ups, ch = [], w[-1]
        for i in range(len(w) - 2, -1, -1):
            ups.append(_up(ch, w[i], "none"))
            ch = 2 * w[i]
        self.up = nn.ModuleList(ups)
        self.out = nn.ConvTranspose2d(ch, 3, 4, 2, 1)

    def forward(self, y_hat: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        x = torch.cat([y_hat, delta], 1)
        feats = []
        for d in self.down:
            x = d(x)
            feats.append(x)
        y = feats[-1]
        for up, skip in zip(self.up, reversed(feats[:-1])):
            y = torch.cat([up(y), skip], 1)
        return torch.tanh(self.out(y))


class MultiScaleDiscriminator(nn.Module):
    """``scales`` PatchGANs on the image average-pooled by 1, 2, 4, ...; returns a list of logit maps."""

    def __init__(self, width: int = 64, scales: int = 3):
        super().__init__()
        self.ds = nn.ModuleList(PatchGAN(3, width) for _ in range(scales))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for k, d in enumerate(self.ds):
            if k:
                x = F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)
            out.append(d(x)[0])
        return out


class AEIExport(nn.Module):
    """ONNX graph: (target 1x3xSxS RGB -1..1, source_embedding 1x128) -> swapped 1x3xSxS RGB -1..1.
    The embedding is L2-normalised inside the graph, so any-norm SFace vectors work."""

    def __init__(self, aei: AEINet):
        super().__init__()
        self.aei = aei

    def forward(self, target: torch.Tensor, source_embedding: torch.Tensor) -> torch.Tensor:
        z = source_embedding / source_embedding.norm(dim=1, keepdim=True).clamp_min(1e-12)
        return self.aei(target, z)[0]


class HEARExport(nn.Module):
    """ONNX graph: (aei_output, delta), both 1x3xSxS -1..1 scale -> refined 1x3xSxS RGB -1..1, where
    ``delta = target - AEI(target, embedding(target))``."""

    def __init__(self, hear: HEARNet):
        super().__init__()
        self.hear = hear

    def forward(self, aei_output: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        return self.hear(aei_output, delta)


def param_counts(cfg: SwapModelConfig) -> dict[str, int]:
    """Parameters of each trained network at ``cfg`` (SFace excluded: frozen, not part of the exports)."""
    aei = AEINet(cfg)
    return {"attributes_encoder": count_parameters(aei.encoder), "aad_generator": count_parameters(aei.generator),
            "aei": count_parameters(aei), "hear": count_parameters(HEARNet(cfg.hear_widths)),
            "discriminator": count_parameters(MultiScaleDiscriminator(cfg.disc_width, cfg.disc_scales))}


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
