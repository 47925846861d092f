"""FaceShifter training (AEI-Net, then HEAR-Net) with resumable checkpoints, sample grids and a metrics log.

    python -m facecanvas.train.swap_train --config compact|paper|PATH.toml --data DIR --out RUN
        [--steps N] [--device cpu|cuda] [--resume] [--max-minutes M]

``--data``: a crop cache (a folder of ``index.json`` chunks, see ``swap_data``) or the shared data root, from
which the cache is built once into ``--cache``. ``--steps``: stop at this global step (default: the
config's ``aei_steps + hear_steps``). Steps below ``run.aei_steps`` train AEI-Net (phase 1: generator and
attributes encoder against the multi-scale discriminator, Adam lr 4e-4, β = (0, 0.999) as the paper); the
rest train HEAR-Net with AEI-Net frozen (phase 2). The paper trains HEAR-Net on synthetic occlusions as
well; we train it on the same pairs (deviation: no occlusion augmentation).

Batch k is a pure function of (seed, k) and the checkpoint holds every weight, optimiser moment and RNG
state, so a stopped and resumed run ends where an uninterrupted one would.

Files under the run folder: ``checkpoint.pt`` (latest, resumable), ``weights/step_NNNNNN.pt`` (AEI + HEAR
weights and config, for export), ``metrics.jsonl`` (losses; ``val`` records: SFace similarity of the
output to the source and to the target on held-out pairs), ``samples/step_NNNNNN.png`` (held-out rows:
source | target | AEI | HEAR), ``config.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError
from . import swap_losses as L
from .config import _check
from .swap_data import SwapData, from_output, is_cache, load_cache, make_batch, to_input, val_pairs
from .swap_nets import AEINet, HEARNet, IdentityEncoder, MultiScaleDiscriminator, SwapModelConfig, check_config

CHECKPOINT = "checkpoint.pt"
CONFIG_DIR = Path(__file__).parent / "configs"


@dataclass
class SwapDataConfig:
    batch_size: int = 8
    same_fraction: float = 0.2  # samples with X_s = X_t (where L_rec applies)
    flip: bool = True


@dataclass
class SwapLossConfig:
    adv: float = 1.0
    att: float = 10.0
    id: float = 5.0
    rec: float = 10.0
    hear_id: float = 1.0
    hear_chg: float = 1.0
    hear_rec: float = 1.0


@dataclass
class SwapOptimConfig:
    lr_g: float = 4e-4
    lr_d: float = 4e-4
    lr_hear: float = 4e-4
    beta1: float = 0.0
    beta2: float = 0.999


@dataclass
class SwapRunConfig:
    aei_steps: int = 500000
    hear_steps: int = 100000
    seed: int = 0
    threads: int = 0  # torch CPU threads; 0 = torch's default
    checkpoint_every: int = 1000
    sample_every: int = 1000
    log_every: int = 50
    val_every: int = 1000
    val_pairs: int = 32


@dataclass
class SwapTrainConfig:
    model: SwapModelConfig = field(default_factory=SwapModelConfig)
    data: SwapDataConfig = field(default_factory=SwapDataConfig)
    loss: SwapLossConfig = field(default_factory=SwapLossConfig)
    optim: SwapOptimConfig = field(default_factory=SwapOptimConfig)
    run: SwapRunConfig = field(default_factory=SwapRunConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def total_steps(self) -> int:
        return self.run.aei_steps + self.run.hear_steps


SECTIONS = {"model": SwapModelConfig, "data": SwapDataConfig, "loss": SwapLossConfig, "optim": SwapOptimConfig,
            "run": SwapRunConfig}


def config_from_dict(data: dict[str, Any], source: str = "config") -> SwapTrainConfig:
    if not isinstance(data, dict):
        raise InputError(f"{source}: expected a table of sections")
    cfg = SwapTrainConfig()
    for name, value in data.items():
        if name not in SECTIONS or not isinstance(value, dict):
            raise InputError(f"{source}: unknown section or not a table: [{name}]; expected {', '.join(SECTIONS)}")
        section = getattr(cfg, name)
        hints = get_type_hints(type(section))
        for key, v in value.items():
            if key not in hints:
                raise InputError(f"{source}: unknown field {name}.{key}; expected one of {', '.join(hints)}")
            setattr(section, key, _check(v, hints[key], f"{source}: {name}.{key}"))
    try:
        check_config(cfg.model)
    except ValueError as e:
        raise InputError(f"{source}: model.{e}") from None
    if cfg.data.batch_size < 1 or not 0 <= cfg.data.same_fraction <= 1:
        raise InputError(f"{source}: data.batch_size >= 1 and 0 <= data.same_fraction <= 1")
    if cfg.run.aei_steps < 0 or cfg.run.hear_steps < 0:
        raise InputError(f"{source}: step counts must not be negative")
    return cfg


def load_swap_config(name_or_path: str | Path) -> SwapTrainConfig:
    """``compact``, ``paper`` (the shipped configs/swap_*.toml) or a .toml / .json path."""
    p = Path(name_or_path)
    if str(name_or_path) in ("compact", "paper"):
        p = CONFIG_DIR / f"swap_{name_or_path}.toml"
    if not p.is_file():
        raise InputError(f"{p}: config file not found")
    try:
        if p.suffix.lower() == ".json":
            data = json.loads(p.read_text())
        else:
            import tomllib

            data = tomllib.loads(p.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise InputError(f"{p}: cannot parse config: {e}") from None
    return config_from_dict(data, str(p))


def _atomic_save(obj, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


class SwapTrainer:
    """Networks, optimisers and data of one FaceShifter run."""

    def __init__(self, cfg: SwapTrainConfig, out_dir: str | Path, data: SwapData | str | Path | None = None,
                 device: str = "cpu", sface: torch.nn.Module | None = None, log=print):
        self.cfg = cfg
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise InputError("--device cuda: no CUDA device is available to torch here")
        if cfg.run.threads > 0:
            torch.set_num_threads(cfg.run.threads)
        self.log = log
        self.out = Path(out_dir)
        torch.manual_seed(cfg.run.seed)
        m = cfg.model
        self.aei = AEINet(m).to(self.device)
        self.hear = HEARNet(m.hear_widths).to(self.device)
        self.disc = MultiScaleDiscriminator(m.disc_width, m.disc_scales).to(self.device)
        self.idenc = IdentityEncoder(m.size, sface).to(self.device).eval()
        o = cfg.optim
        betas = (o.beta1, o.beta2)
        self.opt_g = torch.optim.Adam(self.aei.parameters(), lr=o.lr_g, betas=betas)
        self.opt_d = torch.optim.Adam(self.disc.parameters(), lr=o.lr_d, betas=betas)
        self.opt_h = torch.optim.Adam(self.hear.parameters(), lr=o.lr_hear, betas=betas)
        self.step = 0
        self._data = data

    @property
    def data(self) -> SwapData:
        if not isinstance(self._data, SwapData):
            if self._data is None:
                raise InputError("no training data: pass --data")
            self._data = load_cache(self._data, self.cfg.model.size)
        return self._data

    def phase(self, step: int | None = None) -> int:
        return 1 if (self.step if step is None else step) < self.cfg.run.aei_steps else 2

    def batch(self, step: int) -> dict[str, torch.Tensor]:
        d = self.cfg.data
        b = make_batch(self.data, d.batch_size, self.cfg.run.seed, step, d.same_fraction, d.flip)
        return {k: torch.from_numpy(np.ascontiguousarray(v)).to(self.device) for k, v in b.items() if k != "source"}

    # ------------------------------------------------------------ steps

    def aei_losses(self, b: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
        """(weighted generator loss, its terms, Ŷ) without the adversarial term's discriminator update."""
        c = self.cfg.loss
        target, emb = b["target"], b["source_emb"]
        y, z_t = self.aei(target, emb)
        terms = {"id": L.identity_loss(self.idenc(y), emb),
                 "att": L.attribute_loss(self.aei.encoder(y), z_t),
                 "rec": L.reconstruction_loss(y, target, b["same"])}
        if c.adv > 0:
            terms["adv"] = L.g_hinge(self.disc(y))
        total = sum(getattr(c, k) * v for k, v in terms.items())
        return total, terms, y

    def aei_step(self, b: dict[str, torch.Tensor]) -> dict[str, float]:
        self.aei.train()
        total, terms, y = self.aei_losses(b)
        self.opt_g.zero_grad(set_to_none=True)
        total.backward()
        self.opt_g.step()
        logs = {f"g_{k}": v.item() for k, v in terms.items()}
        if self.cfg.loss.adv > 0:
            ld = L.d_hinge(self.disc(b["target"]), self.disc(y.detach()))
            self.opt_d.zero_grad(set_to_none=True)
            ld.backward()
            self.opt_d.step()
            logs["d"] = ld.item()
        logs["g"] = total.item()
        return logs

    @torch.no_grad()
    def heuristic_error(self, target: torch.Tensor) -> torch.Tensor:
        """Δ = X_t − AEI(X_t, z_id(X_t))."""
        return target - self.aei(target, self.idenc(target))[0]

    def hear_step(self, b: dict[str, torch.Tensor]) -> dict[str, float]:
        c = self.cfg.loss
        target, emb = b["target"], b["source_emb"]
        self.aei.eval()
        with torch.no_grad():
            y_st = self.aei(target, emb)[0]
            delta = self.heuristic_error(target)
        y = self.hear(y_st, delta)
        terms = {"id": L.identity_loss(self.idenc(y), emb), "chg": L.change_loss(y, y_st),
                 "rec": L.reconstruction_loss(y, target, b["same"])}
        total = c.hear_id * terms["id"] + c.hear_chg * terms["chg"] + c.hear_rec * terms["rec"]
        self.opt_h.zero_grad(set_to_none=True)
        total.backward()
        self.opt_h.step()
        logs = {f"h_{k}": v.item() for k, v in terms.items()}
        logs["h"] = total.item()
        return logs

    def train_step(self) -> dict[str, float]:
        b = self.batch(self.step)
        logs = self.aei_step(b) if self.phase() == 1 else self.hear_step(b)
        self.step += 1
        return logs

    # ------------------------------------------------------------ checkpoints

    def weights(self) -> dict:
        return {"config": self.cfg.to_dict(), "step": self.step, "aei": self.aei.state_dict(),
                "hear": self.hear.state_dict()}

    def state(self) -> dict:
        return {**self.weights(), "disc": self.disc.state_dict(), "opt_g": self.opt_g.state_dict(),
                "opt_d": self.opt_d.state_dict(), "opt_h": self.opt_h.state_dict(),
                "torch_rng": torch.get_rng_state()}

    def save(self) -> Path:
        path = self.out / CHECKPOINT
        _atomic_save(self.state(), path)
        _atomic_save(self.weights(), self.out / "weights" / f"step_{self.step:06d}.pt")
        return path

    def load(self, path: str | Path) -> None:
        state = read_checkpoint(path)
        saved = config_from_dict({k: v for k, v in state["config"].items() if k != "run"}, str(path))
        for section in ("model", "data", "loss", "optim"):
            if getattr(saved, section) != getattr(self.cfg, section):
                raise InputError(f"{path}: the checkpoint's [{section}] differs from the config; "
                                 "resume with the config it was trained with")
        try:
            self.aei.load_state_dict(state["aei"])
            self.hear.load_state_dict(state["hear"])
            self.disc.load_state_dict(state["disc"])
            for name in ("opt_g", "opt_d", "opt_h"):
                getattr(self, name).load_state_dict(state[name])
        except (KeyError, RuntimeError, ValueError) as e:
            raise InputError(f"{path}: checkpoint does not fit this model ({str(e)[:160]})") from None
        torch.set_rng_state(state["torch_rng"])
        self.step = int(state["step"])

    # ------------------------------------------------------------ validation and samples

    def _val_tensors(self, count: int):
        pairs = val_pairs(self.data, count)
        if not pairs:
            return None
        s, t = (np.array(v) for v in zip(*pairs))
        d = self.data
        return (s, t, torch.from_numpy(to_input(d.crops[t])).to(self.device),
                torch.from_numpy(d.emb[s]).to(self.device), torch.from_numpy(d.emb[t]).to(self.device))

    @torch.no_grad()
    def run_pairs(self, target: torch.Tensor, emb: torch.Tensor, chunk: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
        """(AEI output, HEAR output) in eval mode, in chunks."""
        self.aei.eval()
        self.hear.eval()
        ys, hs = [], []
        for i in range(0, len(target), chunk):
            t, e = target[i:i + chunk], emb[i:i + chunk]
            y = self.aei(t, e)[0]
            ys.append(y)
            hs.append(self.hear(y, self.heuristic_error(t)))
        self.aei.train()
        self.hear.train()
        return torch.cat(ys), torch.cat(hs)

    @torch.no_grad()
    def validate(self, count: int | None = None) -> dict[str, float]:
        """Held-out pairs (source != target): mean SFace cosine of the AEI (and, in phase 2, HEAR) output to
        the source's embedding (higher is better) and to the target's (the identity left behind); the
        target crop's own similarity to the source (``sim_target_to_source``, the do-nothing baseline) and
        self-reconstruction error (X_s = X_t) in 0..255 units."""
        v = self._val_tensors(count or self.cfg.run.val_pairs)
        if v is None:
            return {}
        _, _, target, emb_s, emb_t = v
        y, h = self.run_pairs(target, emb_s)
        out = {}
        for name, img in (("aei", y), ("hear", h)) if self.phase() == 2 else (("aei", y),):
            z = torch.cat([self.idenc(img[i:i + 8]) for i in range(0, len(img), 8)])
            out[f"{name}_sim_source"] = float(F.cosine_similarity(z, emb_s).mean())
            out[f"{name}_sim_target"] = float(F.cosine_similarity(z, emb_t).mean())
        zt = torch.cat([self.idenc(target[i:i + 8]) for i in range(0, len(target), 8)])
        out["sim_target_to_source"] = float(F.cosine_similarity(zt, emb_s).mean())
        rec, _ = self.run_pairs(target, emb_t)
        out["self_rec_mae"] = float((rec - target).abs().mean() * 127.5)
        return out

    def write_samples(self, count: int = 6) -> Path | None:
        v = self._val_tensors(count)
        if v is None:
            return None
        s, _, target, emb_s, _ = v
        y, h = self.run_pairs(target, emb_s)
        src = self.data.crops[s]
        tgt, aei, hear = from_output(target.cpu().numpy()), from_output(y.cpu().numpy()), from_output(h.cpu().numpy())
        if self.phase() == 1:
            hear = np.full_like(hear, 127)
        grid = np.vstack([np.hstack([a, b, c, d]) for a, b, c, d in zip(src, tgt, aei, hear)])
        path = self.out / "samples" / f"step_{self.step:06d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), grid)
        return path

    # ------------------------------------------------------------ the loop

    def _record(self, entry: dict) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        with open(self.out / "metrics.jsonl", "a") as f:
            f.write(json.dumps(entry) + "\n")

    def fit(self, stop_at: int | None = None, max_minutes: float | None = None) -> int:
        r = self.cfg.run
        end = min(stop_at if stop_at is not None else self.cfg.total_steps, self.cfg.total_steps)
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "config.json").write_text(json.dumps(self.cfg.to_dict(), indent=2))
        t0 = tick = time.time()
        acc: dict[str, list[float]] = defaultdict(list)
        while self.step < end:
            for k, v in self.train_step().items():
                acc[k].append(v)
            s = self.step
            phase_end = s == r.aei_steps
            if s % r.log_every == 0 or s == end or phase_end:
                n = len(next(iter(acc.values())))
                entry = {"step": s, "phase": self.phase(s - 1), "sec_per_step": (time.time() - tick) / n,
                         "wall_s": round(time.time() - t0, 1), **{k: float(np.mean(v)) for k, v in acc.items()}}
                self._record(entry)
                self.log(" ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in entry.items()))
                acc.clear()
                tick = time.time()
            if s % r.val_every == 0 or s == end or phase_end:
                v = self.validate()
                self._record({"step": s, "val": v})
                self.log(f"step {s} val " + " ".join(f"{k} {x:.4g}" for k, x in v.items()))
            if s % r.sample_every == 0 or s == end or phase_end:
                self.write_samples()
            timed_out = max_minutes is not None and (time.time() - t0) / 60 >= max_minutes
            if s % r.checkpoint_every == 0 or s == end or phase_end or timed_out:
                self.save()
            if timed_out:
                self.log(f"stopped after {max_minutes} min at step {s}; continue with --resume")
                break
        return self.step


def read_checkpoint(path: str | Path) -> dict:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: checkpoint not found")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many types for a corrupt file
        raise InputError(f"{p}: cannot read checkpoint ({type(e).__name__}: {str(e)[:120]})") from None
    if not isinstance(state, dict) or "aei" not in state or "config" not in state:
        raise InputError(f"{p}: not a facecanvas swap checkpoint (no 'aei' and 'config')")
    return state


def load_swap_nets(path: str | Path) -> tuple[AEINet, HEARNet, SwapTrainConfig, int]:
    """(AEI-Net, HEAR-Net in eval mode, config, step) from a checkpoint or weights file."""
    state = read_checkpoint(path)
    cfg = config_from_dict(state["config"], str(path))
    aei, hear = AEINet(cfg.model), HEARNet(cfg.model.hear_widths)
    try:
        aei.load_state_dict(state["aei"])
        hear.load_state_dict(state["hear"])
    except RuntimeError as e:
        raise InputError(f"{path}: weights do not fit the model in its config ({str(e)[:160]})") from None
    return aei.eval(), hear.eval(), cfg, int(state["step"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m facecanvas.train.swap_train", description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="compact", help="compact, paper or a .toml/.json path")
    ap.add_argument("--data", required=True, help="crop cache folder (index.json) or the shared data root")
    ap.add_argument("--cache", default="/tmp/facecanvas_swap_cache", help="where to build the cache from a data root")
    ap.add_argument("--out", required=True, help="run folder")
    ap.add_argument("--steps", type=int, help="stop at this global step")
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--resume", action="store_true", help="continue from RUN/checkpoint.pt when it exists")
    ap.add_argument("--max-minutes", type=float, help="checkpoint and stop after this long")
    a = ap.parse_args(argv)
    try:
        cfg = load_swap_config(a.config)
        data = Path(a.data)
        if not is_cache(data):
            from .swap_data import build_cache

            if not is_cache(Path(a.cache)):
                build_cache(a.cache, (cfg.model.size,), data)
            data = Path(a.cache)
        trainer = SwapTrainer(cfg, a.out, data, a.device)
        ck = Path(a.out) / CHECKPOINT
        if a.resume and ck.is_file():
            trainer.load(ck)
            print(f"resumed at step {trainer.step}", flush=True)
        trainer.fit(a.steps, a.max_minutes)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
