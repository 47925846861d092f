"""Losses of the de-identification network (Gafni, Wolf, Taigman, ICCV 2019, section 3.2), with SFace as the
perceptual network.

Terms (images 0..1; ``x`` the undistorted target, ``raw`` the tanh image, ``z`` the masked output)::

    reconstruction  |raw - x|_1 + |z - x|_1
    gradient        |d_x raw - d_x x|_1 + |d_y raw - d_y x|_1 + the same for z
    perceptual      multi-image attractor / repeller terms, below
    mask            |m|_1 (small masks)  and  TV(m) (smooth masks)
    adversarial     least-squares GAN, the discriminator trained on mixup of real and fake (lambda_beta ~
                    Beta(alpha, alpha): D(beta * x + (1 - beta) * z) is pulled to beta)

The multi-image perceptual loss. The paper computes it with three images: the network's output ``z``, the
*source* ``x`` whose pose, expression and illumination must be kept, and the *target* ``t`` whose identity
representation the network is conditioned on. Low- and mid-level features of ``z`` are attracted to the
source, the high-level 7x7 features are attracted to the target, and the identity embedding is **repelled**
from the target with strength lambda::

    L_perc = sum_{low, mid} w_l |f_l(z) - f_l(x)|_1  +  w_7 |f_7(z) - f_7(t)|_1  -  lambda * d(e(z), e(t))

Here, as in the paper's training, source and target are the same person: the source is the undistorted
crop ``x`` (the network sees a distorted copy of it), and the target ``t`` is that same undistorted crop,
whose embedding is also the network's conditioning input. The repeller uses the cosine distance of unit
embeddings, ``d = 1 - cos``, i.e. the term added is ``lambda * cos(e(z), e(t))`` (up to a constant): bounded,
so a large lambda cannot run away the way an unbounded negative distance can.

Mapping of the paper's VGGFace2 ResNet-50 layers onto SFace (MobileFaceNet-like, ``SFaceTorch.features``;
the generator's canonical crop goes to SFace's 112 ArcFace crop through ``differentiable_align`` with
``canonical_to_arcface_matrix``)::

    paper     resolution   role                         SFace here
    112x112   low          attract source               s56 (conv_4, 128 x 56 x 56): SFace's first stored
                                                        stage; the raw-pixel and gradient terms already
                                                        cover the full resolution
    56x56     low          attract source               s56 as well (one tensor serves both: weight w_low)
    28x28     mid          attract source               s28 (256 x 28 x 28) and s14 (512 x 14 x 14)
    7x7       high         attract target               s7 (1024 x 7 x 7)
    1x1       embedding    repel target with lambda     embedding (128, L2-normalised)

Each feature term is a mean absolute difference, so the weights do not depend on the tensor sizes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from .sface_torch import INPUT_SIZE, canonical_to_arcface_matrix, differentiable_align

SOURCE_LAYERS = {"low": ("s56",), "mid": ("s28", "s14")}
TARGET_LAYERS = {"high": ("s7",)}


@dataclass
class DeidLossConfig:
    rec_raw: float = 1.0
    rec_masked: float = 1.0
    grad_raw: float = 1.0
    grad_masked: float = 1.0
    perc_low: float = 1.0  # s56, attracted to the source
    perc_mid: float = 1.0  # s28 + s14, attracted to the source
    perc_high: float = 1.0  # s7, attracted to the target
    mask_l1: float = 0.01
    mask_tv: float = 0.01
    adv: float = 0.1
    mixup_alpha: float = 0.2  # Beta(alpha, alpha) for the discriminator's mixup
    # The repeller's lambda rises in steps: [[step, lambda], ...] (sorted by step; the last <= step applies).
    lambda_schedule: list[list[float]] = field(
        default_factory=lambda: [[0.0, 0.0], [1000.0, 0.5], [2000.0, 1.0], [3000.0, 2.0]])


def lambda_at(schedule: list[list[float]], step: int) -> float:
    """The repeller strength at ``step`` from a step schedule."""
    lam = 0.0
    for s, v in sorted(schedule, key=lambda p: p[0]):
        if step >= s:
            lam = float(v)
    return lam


def l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).abs().mean()


def gradient_loss(pred: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """L1 of the x and y finite differences."""
    dx = l1(pred[..., :, 1:] - pred[..., :, :-1], truth[..., :, 1:] - truth[..., :, :-1])
    dy = l1(pred[..., 1:, :] - pred[..., :-1, :], truth[..., 1:, :] - truth[..., :-1, :])
    return dx + dy


def total_variation(m: torch.Tensor) -> torch.Tensor:
    return (m[..., :, 1:] - m[..., :, :-1]).abs().mean() + (m[..., 1:, :] - m[..., :-1, :]).abs().mean()


def to_sface(images_bgr01: torch.Tensor, crop_size: int) -> torch.Tensor:
    """B x 3 x S x S canonical crops (BGR 0..1) -> SFace's input: the 112 ArcFace crop, RGB 0..255,
    differentiable."""
    m = canonical_to_arcface_matrix(crop_size, INPUT_SIZE)
    warped = differentiable_align(images_bgr01, m, INPUT_SIZE)
    return warped.flip(1) * 255.0


def perceptual_terms(sface, output: torch.Tensor, source_feats: dict[str, torch.Tensor],
                     target_feats: dict[str, torch.Tensor], crop_size: int) -> dict[str, torch.Tensor]:
    """{"perc_low", "perc_mid", "perc_high", "id_cos"}: the attractor L1 terms and the cosine of the
    output's embedding with the target's (the repeller is ``+ lambda * id_cos``)."""
    f = sface.features(to_sface(output, crop_size))
    terms = {}
    for name, layers in SOURCE_LAYERS.items():
        terms[f"perc_{name}"] = sum(l1(f[k], source_feats[k]) for k in layers)
    for name, layers in TARGET_LAYERS.items():
        terms[f"perc_{name}"] = sum(l1(f[k], target_feats[k]) for k in layers)
    terms["id_cos"] = (F.normalize(f["embedding"], dim=1) * F.normalize(target_feats["embedding"], dim=1)).sum(1).mean()
    return terms


def lsgan_d(disc, real: torch.Tensor, fake: torch.Tensor, alpha: float, rng: np.random.Generator) -> torch.Tensor:
    """Least-squares discriminator loss with mixup: real -> 1, fake -> 0, and a Beta(alpha, alpha) blend of
    the two -> its blend weight (per sample)."""
    fake = fake.detach()
    b = torch.from_numpy(rng.beta(alpha, alpha, real.shape[0]).astype(np.float32)).to(real.device)
    mixed = b.view(-1, 1, 1, 1) * real + (1 - b.view(-1, 1, 1, 1)) * fake
    d_real, d_fake, d_mix = disc(real), disc(fake), disc(mixed)
    return ((d_real - 1) ** 2).mean() + (d_fake ** 2).mean() + ((d_mix - b.view(-1, 1, 1, 1)) ** 2).mean()


def lsgan_g(disc, fake: torch.Tensor) -> torch.Tensor:
    return ((disc(fake) - 1) ** 2).mean()
