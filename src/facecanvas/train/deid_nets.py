"""The live de-identification networks of Gafni, Wolf and Taigman, "Live Face De-Identification in Video"
(ICCV 2019), section 3.1, with configurable widths.

Generator (``DeidGenerator``)
    *Encoder*: a 3x3 conv, then five stride-2 depthwise-separable convs (3x3 depthwise, 1x1 pointwise), each
    with instance norm and leaky ReLU, then one fully connected layer to a latent vector. The (unit-normalised)
    128-D identity embedding of the face is concatenated to that vector. In the paper the embedding is the
    face-recognition representation of the person being de-identified: at training time that of the
    undistorted target image, at inference that of the input face itself.
    *Decoder*: a fully connected layer to a ``dec_start`` x ``dec_start`` map, then a lattice of blocks:
    each stage is an upscale block (a 3x3 conv with 4 x ``out`` = twice the input's filters when ``out`` is
    half of them, instance norm, leaky ReLU, pixel shuffle x2) followed by ``res_per_stage`` residual blocks
    (conv, leaky ReLU, conv, plus the input).
    *Outputs*: a tanh image ``raw`` and a sigmoid ``mask``; ``output = mask * raw + (1 - mask) * input``.
    *U-Net link*: a low-capacity skip, the encoder's features at ``skip_size`` x ``skip_size`` squeezed to
    ``skip_channels`` (paper: one, 32x32x1) by a 1x1 conv and concatenated to the decoder's features at
    that size.
    All convs and FC layers have no bias; weights are N(0, 0.02) (``init_weights``).

Discriminator (``DeidDiscriminator``)
    Four 4x4 stride-2 convs with leaky ReLU 0.2, instance norm on all but the first, then a 4x4 conv and a
    sigmoid (a probability per patch, for the least-squares GAN loss).

Images are B x 3 x S x S **BGR** in 0..1 (the network works in -1..1 inside). The embedding is B x 128, any
norm (it is L2-normalised inside, so both ``SFaceTorch.forward`` and ``SFaceEmbedder`` outputs work).

Two configs ship: ``deid_compact.toml`` (128 px, a few hundred thousand to a couple of million parameters, for
a CPU) and ``deid_paper.toml`` (256 px, 6 x (upscale -> residual) from a 4x4 start).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

EMBED_DIM = 128


@dataclass
class DeidModelConfig:
    size: int = 128  # input / output side; a power of two times dec_start
    stem: int = 16  # channels of the first conv
    enc_widths: list[int] = field(default_factory=lambda: [24, 32, 48, 64, 96])  # the 5 strided separable convs
    latent: int = 256  # encoder FC output (before the embedding is concatenated)
    dec_start: int = 4  # side of the decoder's first map (after its FC)
    dec_widths: list[int] = field(default_factory=lambda: [128, 96, 64, 48, 32, 24])  # FC map, then each stage
    res_per_stage: int = 1
    skip_size: int = 32  # the U-Net link's resolution (paper: 32)
    skip_channels: int = 1  # paper: 1
    embed_dim: int = EMBED_DIM
    disc_width: int = 32  # discriminator base channels
    slope: float = 0.2  # leaky ReLU slope

    def stages(self) -> int:
        return int(round(math.log2(self.size / self.dec_start)))


def check_model_config(m: DeidModelConfig, where: str = "model") -> None:
    """ValueError naming the field when the geometry does not close."""
    if m.size < 32 or m.size & (m.size - 1):
        raise ValueError(f"{where}.size: must be a power of two >= 32, got {m.size}")
    if len(m.enc_widths) != 5:
        raise ValueError(f"{where}.enc_widths: the paper's encoder has five strided convs; got {len(m.enc_widths)}")
    if m.dec_start < 1 or m.size % m.dec_start or 2 ** m.stages() * m.dec_start != m.size:
        raise ValueError(f"{where}.dec_start: size / dec_start must be a power of two, got {m.size}/{m.dec_start}")
    if len(m.dec_widths) != m.stages() + 1:
        raise ValueError(f"{where}.dec_widths: expected {m.stages() + 1} widths (the FC map + {m.stages()} "
                         f"upscale stages for {m.dec_start} -> {m.size}), got {len(m.dec_widths)}")
    enc_sizes = [m.size // 2 ** (i + 1) for i in range(5)]
    dec_sizes = [m.dec_start * 2 ** i for i in range(m.stages() + 1)]
    if m.skip_channels > 0 and (m.skip_size not in enc_sizes or m.skip_size not in dec_sizes):
        raise ValueError(f"{where}.skip_size: {m.skip_size} must be both an encoder size {enc_sizes} and a "
                         f"decoder size {dec_sizes}")
    if min(m.enc_widths + m.dec_widths + [m.stem, m.latent, m.disc_width]) < 1:
        raise ValueError(f"{where}: widths must be positive")


def _in(ch: int) -> nn.Module:
    return nn.InstanceNorm2d(ch, affine=False, track_running_stats=False)


class SeparableDown(nn.Module):
    """Stride-2 depthwise-separable conv, instance norm, leaky ReLU."""

    def __init__(self, cin: int, cout: int, slope: float):
        super().__init__()
        self.dw = nn.Conv2d(cin, cin, 3, 2, 1, groups=cin, bias=False)
        self.pw = nn.Conv2d(cin, cout, 1, bias=False)
        self.norm = _in(cout)
        self.act = nn.LeakyReLU(slope)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.pw(self.dw(x))))


class Upscale(nn.Module):
    """Conv to 4 x ``cout`` filters (twice ``cin`` when ``cout = cin / 2``), IN, leaky ReLU, pixel shuffle x2."""

    def __init__(self, cin: int, cout: int, slope: float):
        super().__init__()
        self.conv = nn.Conv2d(cin, 4 * cout, 3, 1, 1, bias=False)
        self.norm = _in(4 * cout)
        self.act = nn.LeakyReLU(slope)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.act(self.norm(self.conv(x))))


class Residual(nn.Module):
    """conv - leaky ReLU - conv, plus the input."""

    def __init__(self, ch: int, slope: float):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(ch, ch, 3, 1, 1, bias=False), nn.LeakyReLU(slope),
                                  nn.Conv2d(ch, ch, 3, 1, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class DeidGenerator(nn.Module):
    """``forward(image, embedding)`` -> {"output", "raw", "mask"} (B x 3 / 1 x S x S, 0..1)."""

    def __init__(self, cfg: DeidModelConfig):
        super().__init__()
        check_model_config(cfg)
        self.cfg = cfg
        a = cfg.slope
        self.stem = nn.Sequential(nn.Conv2d(3, cfg.stem, 3, 1, 1, bias=False), nn.LeakyReLU(a))
        chans = [cfg.stem] + list(cfg.enc_widths)
        self.down = nn.ModuleList(SeparableDown(chans[i], chans[i + 1], a) for i in range(5))
        self.enc_side = cfg.size // 32
        self.enc_fc = nn.Linear(chans[-1] * self.enc_side ** 2, cfg.latent, bias=False)
        d0 = cfg.dec_widths[0]
        self.dec_fc = nn.Linear(cfg.latent + cfg.embed_dim, d0 * cfg.dec_start ** 2, bias=False)
        self.skip_level = None
        if cfg.skip_channels > 0:
            self.skip_level = int(round(math.log2(cfg.size / cfg.skip_size))) - 1  # index into self.down
            self.skip = nn.Conv2d(chans[self.skip_level + 1], cfg.skip_channels, 1, bias=False)
        self.skip_stage = (int(round(math.log2(cfg.skip_size / cfg.dec_start))) if cfg.skip_channels > 0 else -1)
        ups, ress = [], []
        cin = d0
        for i, cout in enumerate(cfg.dec_widths[1:]):
            if i == self.skip_stage:  # the skip joins the map entering this stage
                cin += cfg.skip_channels
            ups.append(Upscale(cin, cout, a))
            ress.append(nn.Sequential(*[Residual(cout, a) for _ in range(cfg.res_per_stage)]))
            cin = cout
        self.ups, self.res = nn.ModuleList(ups), nn.ModuleList(ress)
        self.head = nn.Conv2d(cin, 4, 3, 1, 1, bias=False)
        init_weights(self)

    def forward(self, image: torch.Tensor, embedding: torch.Tensor) -> dict[str, torch.Tensor]:
        c = self.cfg
        x = self.stem(image * 2 - 1)
        skip = None
        for i, d in enumerate(self.down):
            x = d(x)
            if i == self.skip_level:
                skip = self.skip(x)
        z = self.enc_fc(x.flatten(1))
        e = F.normalize(embedding.reshape(embedding.shape[0], -1), dim=1)
        h = self.dec_fc(torch.cat([z, e], 1)).reshape(-1, c.dec_widths[0], c.dec_start, c.dec_start)
        for i, (up, res) in enumerate(zip(self.ups, self.res)):
            if i == self.skip_stage:
                h = torch.cat([h, skip], 1)
            h = res(up(h))
        y = self.head(h)
        raw = (torch.tanh(y[:, :3]) + 1) / 2
        mask = torch.sigmoid(y[:, 3:4])
        return {"output": mask * raw + (1 - mask) * image, "raw": raw, "mask": mask}


class DeidDiscriminator(nn.Module):
    """Four stride-2 4x4 convs (leaky ReLU; instance norm on all but the first), then a 4x4 conv + sigmoid."""

    def __init__(self, width: int = 32, slope: float = 0.2):
        super().__init__()
        w = width
        chans = [3, w, 2 * w, 4 * w, 8 * w]
        layers: list[nn.Module] = []
        for i in range(4):
            layers.append(nn.Conv2d(chans[i], chans[i + 1], 4, 2, 1, bias=False))
            if i > 0:
                layers.append(_in(chans[i + 1]))
            layers.append(nn.LeakyReLU(slope))
        layers.append(nn.Conv2d(8 * w, 1, 4, 1, 1, bias=False))
        self.net = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(image * 2 - 1))


def init_weights(module: nn.Module, std: float = 0.02) -> None:
    """N(0, std) weights for every conv and linear layer (the paper's initialisation)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class DeidExport(nn.Module):
    """The inference graph: (crop 0..1 BGR, embedding) -> (output, mask)."""

    def __init__(self, net: DeidGenerator):
        super().__init__()
        self.net = net

    def forward(self, crop: torch.Tensor, embedding: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.net(crop, embedding)
        return out["output"], out["mask"]


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
