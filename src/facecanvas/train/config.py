"""Training configuration: typed dataclasses read from a TOML or JSON file, checked field by field.

Every field has a default, so a config file names only what it changes. A wrong type, an unknown field or an
unknown variant is an ``InputError`` naming the file and the field. This module does not import torch.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

from ..errors import InputError

# FaceEraser Table 1: which refinement follows the edge network.
# ``clone_unet_ca`` (ours): the classical clone fill as the coarse result, refined by the U-Net with channel
# attention (``networks.CloneRefineNet``, trained by ``refine_train``; no edge or offset network).
VARIANTS = ("edge_ae", "edge_pc_ae", "edge_pc_unet", "edge_pc_unet_ca", "clone_unet_ca")
REFINE_VARIANTS = ("clone_unet_ca",)
VARIANT_NAMES = {"edge_ae": "Edge+AE (EdgeConnect)", "edge_pc_ae": "Edge+PC+AE", "edge_pc_unet": "Edge+PC+UNet",
                 "edge_pc_unet_ca": "Edge+PC+UNet+CA", "clone_unet_ca": "Clone+UNet+CA (refiner)"}
FEATURES = ("randconv", "vgg19", "none")


@dataclass
class ModelConfig:
    variant: str = "edge_pc_unet_ca"
    width: int = 64  # G_edge / G_pc / AE base channels (EdgeConnect: 64); x2 and x4 after the two downsamplings
    res_blocks: int = 8  # residual blocks (dilation 2) in the middle of G_edge / G_pc / AE
    unet_widths: list[int] = field(default_factory=lambda: [64, 64, 128, 128, 256, 256])  # head + 5 levels
    ca_reduction: int = 4  # channel attention squeeze ratio
    coarse_scale: int = 1  # G_edge and G_pc run at 1/coarse_scale of the input; offsets are upsampled
    edge_sigma: float = 2.0  # Canny sigma at G_edge's scale (EdgeConnect: 2)
    max_offset: float = 96.0  # pixels: G_pc's tanh output 1 moves this far, whatever the image size
    ref_residual: bool = True  # G_ref predicts a correction added to Warp(I, F) (paper does not say)
    disc_width: int = 64  # PatchGAN base channels (pix2pix: 64)
    residual_gain: float = 0.25  # clone_unet_ca: the correction's range (tanh x gain, on the 0..1 scale)
    residual_sigma: float = 2.0  # clone_unet_ca: px, Gaussian blur of the correction at full resolution


@dataclass
class DataConfig:
    dataset: str = "out/dataset"  # written by `facecanvas prepare`
    crop: int = 256  # training crop side, taken at the blank faces' native 256 px scale
    batch_size: int = 8
    glasses_fraction: float = 0.25  # holes merged with a real eyeglasses mask
    part_drop: float = 0.2  # chance of erasing only a random subset of the parts
    colour_jitter: float = 0.08  # brightness / contrast / saturation amplitude
    light_jitter: float = 0.15  # amplitude of a smooth random lighting gradient
    flip: bool = True
    coarse_cache: str = "out/refine_cache"  # clone_unet_ca: precomputed clone fills (``refine_data``)


@dataclass
class LossConfig:
    # Phase 1 (G_edge): EdgeConnect's weights.
    edge_adv: float = 1.0
    edge_fm: float = 10.0
    # Phase 2 (G_pc + G_ref): FaceEraser 3.4.
    adv: float = 0.1
    perceptual: float = 1.0
    l1: float = 1.0
    style: float = 500.0  # the paper's value (EdgeConnect used 250)
    clone_l1: float = 1.0  # L1 of the pixel-clone result Warp(I, F)
    l2: float = 0.0  # clone_unet_ca: weight of the mean squared error over the hole (0..1 scale)
    clone_hole: float = 0.0  # ours, not the paper's: penalty on offsets that land inside the hole (losses.py)
    features: str = "randconv"  # perceptual/style extractor: randconv (no weights), vgg19 (needs a file), none
    gan: str = "nsgan"  # nsgan (EdgeConnect) or hinge


@dataclass
class OptimConfig:
    lr_g: float = 1e-4
    lr_d: float = 1e-5
    beta1: float = 0.0
    beta2: float = 0.9
    lr_final: float = 0.0  # clone_unet_ca: > 0 decays lr_g to this by the last step (cosine); 0 keeps it constant


@dataclass
class RunConfig:
    phase1_steps: int = 1000
    phase2_steps: int = 5000
    seed: int = 0
    device: str = "cpu"
    threads: int = 0  # torch CPU threads; 0 = torch's default
    out_dir: str = "out/train/run"
    checkpoint_every: int = 250
    sample_every: int = 500
    log_every: int = 25
    val_every: int = 500
    val_pairs: int = 16  # held-out pairs scored at each validation


@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def total_steps(self) -> int:
        return self.run.phase1_steps + self.run.phase2_steps


SECTIONS = {"model": ModelConfig, "data": DataConfig, "loss": LossConfig, "optim": OptimConfig, "run": RunConfig}


def _check(value: Any, hint: Any, where: str) -> Any:
    """``value`` as the annotated type (ints accepted for floats), or InputError."""
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(f"{where}: expected a number, got {type(value).__name__} {value!r}")
        return float(value)
    if hint is int or hint is bool or hint is str:
        if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
            raise InputError(f"{where}: expected {hint.__name__}, got {type(value).__name__} {value!r}")
        return value
    if getattr(hint, "__origin__", None) is list:
        (inner,) = hint.__args__
        if not isinstance(value, list):
            raise InputError(f"{where}: expected a list, got {type(value).__name__} {value!r}")
        return [_check(v, inner, f"{where}[{i}]") for i, v in enumerate(value)]
    raise InputError(f"{where}: unsupported field type {hint}")


def from_dict(data: dict[str, Any], source: str = "config") -> TrainConfig:
    """A checked ``TrainConfig`` from nested sections, e.g. ``{"model": {"width": 16}}``."""
    if not isinstance(data, dict):
        raise InputError(f"{source}: expected a table of sections")
    cfg = TrainConfig()
    for name, value in data.items():
        if name not in SECTIONS:
            raise InputError(f"{source}: unknown section [{name}]; expected one of {', '.join(SECTIONS)}")
        if not isinstance(value, dict):
            raise InputError(f"{source}: [{name}] must be a table")
        section = getattr(cfg, name)
        hints = get_type_hints(type(section))
        for key, v in value.items():
            if key not in hints:
                raise InputError(f"{source}: unknown field {name}.{key}; expected one of {', '.join(hints)}")
            setattr(section, key, _check(v, hints[key], f"{source}: {name}.{key}"))
    validate(cfg, source)
    return cfg


def validate(cfg: TrainConfig, source: str = "config") -> None:
    m, d, loss, r = cfg.model, cfg.data, cfg.loss, cfg.run
    if m.variant not in VARIANTS:
        raise InputError(f"{source}: model.variant: unknown variant {m.variant!r}; choose from {', '.join(VARIANTS)}")
    if loss.features not in FEATURES:
        raise InputError(f"{source}: loss.features: unknown {loss.features!r}; choose from {', '.join(FEATURES)}")
    if loss.gan not in ("nsgan", "hinge"):
        raise InputError(f"{source}: loss.gan: unknown {loss.gan!r}; choose nsgan or hinge")
    if len(m.unet_widths) != 6 or min(m.unet_widths) < 1:
        raise InputError(f"{source}: model.unet_widths: expected 6 positive widths (head + 5 levels)")
    for name, v in (("model.width", m.width), ("model.disc_width", m.disc_width), ("data.batch_size", d.batch_size),
                    ("model.coarse_scale", m.coarse_scale), ("model.ca_reduction", m.ca_reduction)):
        if v < 1:
            raise InputError(f"{source}: {name}: must be at least 1, got {v}")
    if m.res_blocks < 0 or r.phase1_steps < 0 or r.phase2_steps < 0:
        raise InputError(f"{source}: step and block counts must not be negative")
    mult = 32 * m.coarse_scale
    if d.crop % mult:
        raise InputError(f"{source}: data.crop: {d.crop} must be a multiple of {mult} (5 U-Net levels x coarse_scale)")
    if d.crop > 256:
        raise InputError(f"{source}: data.crop: at most 256 (the blank faces' size), got {d.crop}")


def load_config(path: str | Path | None, overrides: dict[str, dict[str, Any]] | None = None) -> TrainConfig:
    """Read a .toml or .json config (``None``: all defaults), then apply ``overrides`` (same nesting)."""
    data: dict[str, Any] = {}
    source = "config"
    if path is not None:
        p = Path(path)
        source = str(p)
        if not p.is_file():
            raise InputError(f"{p}: config file not found")
        try:
            if p.suffix.lower() == ".json":
                data = json.loads(p.read_text())
            elif p.suffix.lower() == ".toml":
                if sys.version_info < (3, 11):
                    raise InputError(f"{p}: TOML configs need Python 3.11+; use a .json config")
                import tomllib

                data = tomllib.loads(p.read_text())
            else:
                raise InputError(f"{p}: config must be .toml or .json")
        except (ValueError, UnicodeDecodeError) as e:
            raise InputError(f"{p}: cannot parse config: {e}") from None
    for sec, values in (overrides or {}).items():
        data.setdefault(sec, {}).update(values)
    return from_dict(data, source)
