"""FaceEraser's networks (Hua et al. 2021, section 3.3), with configurable width and depth.

* ``EncoderDecoder``: EdgeConnect's generator: 7x7 conv, two stride-2 downsamplings, residual blocks with
  dilation 2, two transposed-conv upsamplings, 7x7 conv; instance norm + ReLU. G_edge (sigmoid out), G_pc (tanh
  out, a 2-channel offset map F) and the "AE" refiner of the ablation are all this shape.
* ``warp``: Warp(I, F) through ``grid_sample``: each output pixel copies the input at its own position plus F
  (in grid units, -1..1 spans the image). Differentiable in both I and F; F = 0 is the identity.
* ``RefineUNet``: G_ref, 5 residual down blocks and 5 residual up blocks, skips joined by addition, with
  squeeze-and-excitation channel attention in each block (switchable for the ablation).
* ``PatchGAN``: a 70x70 PatchGAN discriminator with spectral norm and leaky ReLU; it also returns its
  intermediate features for the feature-matching loss.
* ``FaceEraserNet``: the generators wired for one of the Table 1 variants.
* ``CloneRefineNet``: the refiner variant (``clone_unet_ca``): the classical clone fill is the coarse result
  (computed outside the graph by ``inpaint.methods.clone_fill``) and a RefineUNet with channel attention adds
  a smooth correction to it (predicted at 1/coarse_scale, upsampled and Gaussian-blurred), so the clone's real
  grain is kept and only its shading is fixed.

Images are Bx3xHxW in 0..1 with the hole zeroed; ``mask`` is Bx1xHxW, 1 in the hole; ``edges`` Bx1xHxW, the
Canny edges of the image outside the hole (0 inside it).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

from .config import ModelConfig


def _in(ch: int) -> nn.Module:
    return nn.InstanceNorm2d(ch, affine=False, track_running_stats=False)


class ResBlock(nn.Module):
    """EdgeConnect's residual block: dilated 3x3, IN, ReLU, 3x3, IN, plus the input."""

    def __init__(self, ch: int, dilation: int = 2):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(dilation), nn.Conv2d(ch, ch, 3, dilation=dilation), _in(ch), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3), _in(ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class EncoderDecoder(nn.Module):
    """EdgeConnect-style generator; ``out_act``: "sigmoid", "tanh" or "none"."""

    def __init__(self, in_ch: int, out_ch: int, width: int = 64, res_blocks: int = 8, out_act: str = "sigmoid"):
        super().__init__()
        w = width
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3), nn.Conv2d(in_ch, w, 7), _in(w), nn.ReLU(True),
            nn.Conv2d(w, 2 * w, 4, stride=2, padding=1), _in(2 * w), nn.ReLU(True),
            nn.Conv2d(2 * w, 4 * w, 4, stride=2, padding=1), _in(4 * w), nn.ReLU(True)]
        layers += [ResBlock(4 * w, 2) for _ in range(res_blocks)]
        layers += [
            nn.ConvTranspose2d(4 * w, 2 * w, 4, stride=2, padding=1), _in(2 * w), nn.ReLU(True),
            nn.ConvTranspose2d(2 * w, w, 4, stride=2, padding=1), _in(w), nn.ReLU(True),
            nn.ReflectionPad2d(3), nn.Conv2d(w, out_ch, 7)]
        self.net = nn.Sequential(*layers)
        self.out_act = out_act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.net(x)
        if self.out_act == "sigmoid":
            return torch.sigmoid(y)
        if self.out_act == "tanh":
            return torch.tanh(y)
        return y


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation: global average, bottleneck, sigmoid gate per channel.

    The bottleneck uses a leaky ReLU: with the few channels of a compact model, a plain ReLU can start
    with every unit dead, and the gate then never learns."""

    def __init__(self, ch: int, reduction: int = 4):
        super().__init__()
        mid = max(1, ch // reduction)
        self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(ch, mid, 1), nn.LeakyReLU(0.2, True),
                                  nn.Conv2d(mid, ch, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class ResDown(nn.Module):
    """Residual block that halves the resolution: (3x3 s2, ReLU, 3x3) [+ CA] + (avgpool, 1x1)."""

    def __init__(self, cin: int, cout: int, attention: bool, reduction: int = 4):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(cin, cout, 3, 2, 1), nn.ReLU(True), nn.Conv2d(cout, cout, 3, 1, 1))
        self.ca = ChannelAttention(cout, reduction) if attention else nn.Identity()
        self.skip = nn.Sequential(nn.AvgPool2d(2), nn.Conv2d(cin, cout, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.ca(self.body(x)) + self.skip(x))


class ResUp(nn.Module):
    """Residual block that doubles the resolution: nearest x2, then (3x3, ReLU, 3x3) [+ CA] + 1x1."""

    def __init__(self, cin: int, cout: int, attention: bool, reduction: int = 4):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1), nn.ReLU(True), nn.Conv2d(cout, cout, 3, 1, 1))
        self.ca = ChannelAttention(cout, reduction) if attention else nn.Identity()
        self.skip = nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return F.relu(self.ca(self.body(x)) + self.skip(x))


class RefineUNet(nn.Module):
    """G_ref: head conv, 5 ResDown, 5 ResUp with additive skips, 3x3 tail, tanh."""

    def __init__(self, in_ch: int, out_ch: int = 3, widths=(64, 64, 128, 128, 256, 256), attention: bool = True,
                 reduction: int = 4):
        super().__init__()
        w = list(widths)
        self.head = nn.Sequential(nn.Conv2d(in_ch, w[0], 3, 1, 1), nn.ReLU(True))
        self.down = nn.ModuleList(ResDown(w[i], w[i + 1], attention, reduction) for i in range(5))
        self.up = nn.ModuleList(ResUp(w[i + 1], w[i], attention, reduction) for i in reversed(range(5)))
        self.tail = nn.Conv2d(w[0], out_ch, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [self.head(x)]
        for d in self.down:
            skips.append(d(skips[-1]))
        y = skips.pop()
        for u in self.up:
            y = u(y) + skips.pop()
        return torch.tanh(self.tail(y))


class PatchGAN(nn.Module):
    """70x70 PatchGAN (4x4 convs, strides 2-2-2-1-1), spectral norm, leaky ReLU 0.2; logits per patch."""

    def __init__(self, in_ch: int, width: int = 64):
        super().__init__()
        w = width
        chans = [in_ch, w, 2 * w, 4 * w, 8 * w]
        strides = [2, 2, 2, 1]
        self.blocks = nn.ModuleList(
            nn.Sequential(spectral_norm(nn.Conv2d(chans[i], chans[i + 1], 4, strides[i], 1)), nn.LeakyReLU(0.2, True))
            for i in range(4))
        self.out = spectral_norm(nn.Conv2d(8 * w, 1, 4, 1, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        feats = []
        for b in self.blocks:
            x = b(x)
            feats.append(x)
        return self.out(x), feats


def base_grid(n: int, h: int, w: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Nx H x W x 2 sampling grid of pixel centres (x, y) in -1..1 (align_corners=False convention)."""
    ys = (torch.arange(h, device=device, dtype=dtype) * 2 + 1) / h - 1
    xs = (torch.arange(w, device=device, dtype=dtype) * 2 + 1) / w - 1
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx, gy], -1).unsqueeze(0).expand(n, h, w, 2)


def warp(image: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Warp(I, F): sample ``image`` (BxCxHxW) at each pixel's position plus ``offsets`` (Bx2xHxW: dx, dy in grid
    units, where 2 spans the image). Bilinear, borders clamped."""
    n, _, h, w = image.shape
    grid = base_grid(n, h, w, image.device, image.dtype) + offsets.permute(0, 2, 3, 1)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)


def to_gray(image: torch.Tensor) -> torch.Tensor:
    """Bx1xHxW luma of a BGR image (ITU-R 601 weights)."""
    b, g, r = image[:, 0:1], image[:, 1:2], image[:, 2:3]
    return 0.114 * b + 0.587 * g + 0.299 * r


class FaceEraserNet(nn.Module):
    """The generators of one variant: G_edge, then (for *_pc_*) G_pc and the warp, then the refiner."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.variant = cfg.variant
        self.use_pc = cfg.variant != "edge_ae"
        self.g_edge = EncoderDecoder(3, 1, cfg.width, cfg.res_blocks, "sigmoid")
        self.g_pc = EncoderDecoder(5, 2, cfg.width, cfg.res_blocks, "tanh") if self.use_pc else None
        if cfg.variant in ("edge_ae", "edge_pc_ae"):
            self.g_ref = EncoderDecoder(9 if self.use_pc else 5, 3, cfg.width, cfg.res_blocks, "tanh")
        else:
            self.g_ref = RefineUNet(9, 3, cfg.unet_widths, cfg.variant == "edge_pc_unet_ca", cfg.ca_reduction)
        self.residual = self.use_pc and cfg.ref_residual

    def _coarse(self, x: torch.Tensor, mode: str) -> torch.Tensor:
        s = self.cfg.coarse_scale
        if s == 1:
            return x
        return F.max_pool2d(x, s) if mode == "max" else F.avg_pool2d(x, s)

    def edges(self, image: torch.Tensor, mask: torch.Tensor, edges: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(G_edge's raw prediction, the completed edge map: prediction in the hole, given edges outside), both
        at the coarse scale; ``edges`` already are."""
        m = self._coarse(mask, "max")
        e = edges
        gray = self._coarse(to_gray(image) * (1 - mask), "avg")
        pred = self.g_edge(torch.cat([gray, e, m], 1))
        return pred, e * (1 - m) + pred * m

    def forward(self, image: torch.Tensor, mask: torch.Tensor, edges: torch.Tensor) -> dict[str, torch.Tensor]:
        """``image`` Bx3xHxW 0..1 (hole content is ignored), ``mask`` Bx1xHxW (1 = hole), ``edges`` Bx1xHxW."""
        image = image * (1 - mask)
        edge_pred, edge_full = self.edges(image, mask, edges)
        out: dict[str, torch.Tensor] = {"edges": edge_pred}
        if self.use_pc:
            m = self._coarse(mask, "max")
            offsets = self.g_pc(torch.cat([self._coarse(image, "avg"), edge_full, m], 1))
            if self.cfg.coarse_scale > 1:
                offsets = F.interpolate(offsets, size=image.shape[2:], mode="bilinear", align_corners=False)
            # F is in units of max_offset pixels, so a crop of any size (128 in training, 256 at inference)
            # copies from the same distance; grid_sample wants units of half the image side.
            h, w = image.shape[2], image.shape[3]
            sx = torch.full((1, 1, 1, 1), 2.0 * self.cfg.max_offset, dtype=image.dtype) / w
            sy = torch.full((1, 1, 1, 1), 2.0 * self.cfg.max_offset, dtype=image.dtype) / h
            grid_offsets = offsets * torch.cat([sx, sy], 1).to(image.device)
            coarse = warp(image, grid_offsets)
            out["offsets"], out["grid_offsets"], out["coarse"] = offsets, grid_offsets, coarse
            r = self.g_ref(torch.cat([coarse, image, offsets, mask], 1))
            raw = torch.clamp(coarse + r, 0, 1) if self.residual else (r + 1) / 2
        else:
            if self.cfg.coarse_scale > 1:
                edge_full = F.interpolate(edge_full, size=image.shape[2:], mode="bilinear", align_corners=False)
            raw = (self.g_ref(torch.cat([image, edge_full, mask], 1)) + 1) / 2
        out["raw"] = raw
        out["output"] = raw * mask + image * (1 - mask)
        return out


def gaussian_kernel(sigma: float) -> torch.Tensor:
    """1-D normalised Gaussian taps (radius 3 sigma, at least 1)."""
    r = max(1, int(round(3 * sigma)))
    x = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


class CloneRefineNet(nn.Module):
    """Clone + UNet + CA: ``coarse`` (the classical clone fill of the holed image) plus a learned smooth residual.

    Inputs (all Bx?xHxW, 0..1): ``image`` with the hole zeroed, ``mask`` (1 = hole), ``coarse`` the clone fill
    composited into the image. The U-Net sees [coarse, image, mask] at 1/coarse_scale of the input; its tanh
    output times ``residual_gain`` is upsampled (bilinear) and blurred with ``residual_sigma`` px at full
    resolution, so the correction has no grain of its own and cannot smooth the clone's grain away. The tail
    starts at zero: before training, the output is exactly the clone fill.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.variant = cfg.variant
        self.g_ref = RefineUNet(7, 3, cfg.unet_widths, True, cfg.ca_reduction)
        nn.init.zeros_(self.g_ref.tail.weight)
        nn.init.zeros_(self.g_ref.tail.bias)
        self.blur = cfg.residual_sigma > 0
        if self.blur:  # separable, one fixed kernel per channel (fixed shapes, so the ONNX export can trace it)
            k = gaussian_kernel(cfg.residual_sigma)
            self.register_buffer("blur_x", k.view(1, 1, 1, -1).repeat(3, 1, 1, 1), persistent=False)
            self.register_buffer("blur_y", k.view(1, 1, -1, 1).repeat(3, 1, 1, 1), persistent=False)

    def _smooth(self, r: torch.Tensor) -> torch.Tensor:
        if not self.blur:
            return r
        pad = self.blur_x.shape[-1] // 2
        r = F.conv2d(F.pad(r, (pad, pad, 0, 0), mode="replicate"), self.blur_x, groups=3)
        return F.conv2d(F.pad(r, (0, 0, pad, pad), mode="replicate"), self.blur_y, groups=3)

    def forward(self, image: torch.Tensor, mask: torch.Tensor, coarse: torch.Tensor) -> dict[str, torch.Tensor]:
        image = image * (1 - mask)
        coarse = coarse * mask + image * (1 - mask)
        x = torch.cat([coarse, image, mask], 1)
        s = self.cfg.coarse_scale
        if s > 1:
            x = F.avg_pool2d(x, s)
        r = self.g_ref(x) * self.cfg.residual_gain
        if s > 1:
            r = F.interpolate(r, size=image.shape[2:], mode="bilinear", align_corners=False)
        r = self._smooth(r)
        raw = torch.clamp(coarse + r, 0, 1)
        output = raw * mask + image * (1 - mask)
        # residual: the (clamped) correction everywhere, so a caller can add it to a clone fill at another size
        return {"coarse": coarse, "residual": raw - coarse, "raw": raw, "output": output}


class RefineExportWrapper(nn.Module):
    """The refiner's inference graph: (image, mask, coarse) -> (composited output, its residual on coarse)."""

    def __init__(self, net: CloneRefineNet):
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor, mask: torch.Tensor, coarse: torch.Tensor):
        out = self.net(image, mask, coarse)
        return out["output"], out["residual"]


class ExportWrapper(nn.Module):
    """The inference graph: (image, mask, edges) -> the composited fill, 0..1."""

    def __init__(self, net: FaceEraserNet):
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor, mask: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
        return self.net(image, mask, edges)["output"]


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
