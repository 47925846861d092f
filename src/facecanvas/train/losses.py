"""FaceEraser's losses (section 3.4): adversarial, feature matching, L1, perceptual, style, pixel-clone L1; and
our optional hole penalty on the pixel-clone offsets."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .networks import warp


def d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, kind: str = "nsgan") -> torch.Tensor:
    """Discriminator loss: real -> 1, fake -> 0 (non-saturating BCE, as EdgeConnect) or hinge."""
    if kind == "hinge":
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
    return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))) / 2


def g_adv_loss(fake_logits: torch.Tensor, kind: str = "nsgan") -> torch.Tensor:
    if kind == "hinge":
        return -fake_logits.mean()
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def feature_matching(real_feats: list[torch.Tensor], fake_feats: list[torch.Tensor]) -> torch.Tensor:
    """Mean L1 between the discriminator's features of the real and the generated input (real detached)."""
    return sum(F.l1_loss(f, r.detach()) for r, f in zip(real_feats, fake_feats)) / len(real_feats)


def masked_l1(pred: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """L1 over the image divided by the hole's mean area (EdgeConnect), so small holes still count."""
    return F.l1_loss(pred, truth) / mask.mean().clamp_min(1e-3)


def gram(x: torch.Tensor) -> torch.Tensor:
    b, c, h, w = x.shape
    f = x.reshape(b, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


def perceptual(pred_feats: list[torch.Tensor], truth_feats: list[torch.Tensor]) -> torch.Tensor:
    return sum(F.l1_loss(p, t.detach()) for p, t in zip(pred_feats, truth_feats))


def style(pred_feats: list[torch.Tensor], truth_feats: list[torch.Tensor]) -> torch.Tensor:
    return sum(F.l1_loss(gram(p), gram(t.detach())) for p, t in zip(pred_feats, truth_feats))


def offsets_into_hole(depth: torch.Tensor, grid_offsets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean depth inside the hole of the pixels the hole's pixels copy from (0 = every copy is of a visible
    pixel). Not in the paper: an offset that lands in the hole copies zeros, a dark speck, and the
    pixel-clone L1 has no gradient to move it out when the whole neighbourhood is zeros; the depth field
    (``data.hole_depth``) slopes everywhere in the hole, so this pushes such offsets out."""
    landed = warp(depth, grid_offsets)
    return (landed * mask).sum() / mask.sum().clamp_min(1.0)
