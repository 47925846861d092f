"""Export trained generators to ONNX for ``inpaint.neural.NeuralEraser`` (or, for the refiner variant,
``inpaint.refine.CloneRefiner``) and check it against PyTorch."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError, OutputError
from .config import REFINE_VARIANTS
from .networks import CloneRefineNet, ExportWrapper, FaceEraserNet, RefineExportWrapper, count_parameters
from .trainer import load_generator, read_checkpoint

OPSET = 17


def example_inputs(net: FaceEraserNet, size: int = 256, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """A smooth skin-like image with a part-shaped hole and sparse edges, for tracing and the parity check."""
    g = torch.Generator().manual_seed(seed)
    s = net.cfg.coarse_scale
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    base = torch.tensor([0.55, 0.62, 0.78]).view(3, 1, 1)
    image = (base * (0.85 + 0.15 * xx) + 0.02 * torch.randn(3, size, size, generator=g)).clamp(0, 1)[None]
    mask = torch.zeros(1, 1, size, size)
    mask[..., size // 3: size // 2, size // 5: size * 4 // 5] = 1
    mask[..., size * 2 // 3: size * 4 // 5, size // 3: size * 2 // 3] = 1
    edges = (torch.rand(1, 1, size // s, size // s, generator=g) > 0.97).float()
    return image * (1 - mask), mask, edges


# The bar for ONNX against PyTorch, on the 0..1 output.
TOLERANCE = 1e-4


def export_onnx(net: FaceEraserNet, path: str | Path, info: dict | None = None, size: int = 256) -> Path:
    """Write ``net`` as ONNX (dynamic height and width) with the metadata NeuralEraser reads."""
    path = Path(path)
    net = net.cpu().eval()
    wrapper = ExportWrapper(net).eval()
    tmp = path.with_name(path.name + ".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(wrapper, example_inputs(net, size), str(tmp), dynamo=False, opset_version=OPSET,
                          input_names=["image", "mask", "edges"], output_names=["output"],
                          dynamic_axes={"image": {2: "h", 3: "w"}, "mask": {2: "h", 3: "w"},
                                        "edges": {2: "hs", 3: "ws"}, "output": {2: "h", 3: "w"}})
    return _finish(tmp, path, {"coarse_scale": str(net.cfg.coarse_scale), "edge_sigma": str(net.cfg.edge_sigma),
                               "stride": str(32 * net.cfg.coarse_scale), "variant": net.cfg.variant,
                               "info": json.dumps({**(info or {}), "parameters": count_parameters(net)})})


def _finish(tmp: Path, path: Path, meta: dict) -> Path:
    """Stamp the metadata the inference side reads on the exported ``tmp``, then move it onto ``path``."""
    import onnx

    model = onnx.load(str(tmp))
    onnx.helper.set_model_props(model, meta)
    model.producer_name = "facecanvas"
    onnx.save(model, str(tmp))
    os.replace(tmp, path)
    return path


def parity(net: FaceEraserNet, path: str | Path, size: int = 256, seeds=(0, 1, 2)) -> float:
    """Largest |ONNX - PyTorch| of the output over a few example inputs (0..1 scale)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    net = net.cpu().eval()
    worst = 0.0
    for seed in seeds:
        x, m, e = example_inputs(net, size, seed)
        with torch.no_grad():
            ref = net(x, m, e)["output"].numpy()
        got = sess.run(None, {"image": x.numpy(), "mask": m.numpy(), "edges": e.numpy()})[0]
        worst = max(worst, float(np.abs(got - ref).max()))
    return worst


def refine_example_inputs(size: int = 256, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """(image with the hole zeroed, mask, a clone-like coarse fill) for tracing and the refiner's parity check."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    base = torch.tensor([0.55, 0.62, 0.78]).view(3, 1, 1)
    image = (base * (0.85 + 0.15 * xx) + 0.02 * torch.randn(3, size, size, generator=g)).clamp(0, 1)[None]
    mask = torch.zeros(1, 1, size, size)
    mask[..., size // 3: size // 2, size // 5: size * 4 // 5] = 1
    mask[..., size * 2 // 3: size * 4 // 5, size // 3: size * 2 // 3] = 1
    coarse = (image * (0.9 + 0.1 * yy) + 0.02 * torch.randn(1, 3, size, size, generator=g)).clamp(0, 1)
    return image * (1 - mask), mask, coarse


def export_refiner_onnx(net: CloneRefineNet, path: str | Path, info: dict | None = None, size: int = 256) -> Path:
    """Write the refiner as ONNX: (image, mask, coarse) -> (output, residual), dynamic height and width."""
    path = Path(path)
    net = net.cpu().eval()
    tmp = path.with_name(path.name + ".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    hw = {2: "h", 3: "w"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(RefineExportWrapper(net).eval(), refine_example_inputs(size), str(tmp), dynamo=False,
                          opset_version=OPSET, input_names=["image", "mask", "coarse"],
                          output_names=["output", "residual"],
                          dynamic_axes={"image": hw, "mask": hw, "coarse": hw, "output": hw, "residual": hw})
    return _finish(tmp, path, {"coarse_scale": str(net.cfg.coarse_scale), "stride": str(32 * net.cfg.coarse_scale),
                               "variant": net.cfg.variant, "trained_size": str(size),
                               "info": json.dumps({**(info or {}), "parameters": count_parameters(net)})})


def refiner_parity(net: CloneRefineNet, path: str | Path, size: int = 256, seeds=(0, 1, 2)) -> float:
    """Largest |ONNX - PyTorch| of the refiner's output over a few example inputs (0..1 scale)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    net = net.cpu().eval()
    worst = 0.0
    for seed in seeds:
        x, m, c = refine_example_inputs(size, seed)
        with torch.no_grad():
            ref = net(x, m, c)["output"].numpy()
        got = sess.run(["output"], {"image": x.numpy(), "mask": m.numpy(), "coarse": c.numpy()})[0]
        worst = max(worst, float(np.abs(got - ref).max()))
    return worst


def export_checkpoint(checkpoint: str | Path, out: str | Path, overwrite: bool = False,
                      tolerance: float = TOLERANCE) -> tuple[Path, float, int]:
    """Export a checkpoint or weights file; returns (ONNX path, parity error, training step).

    The graph is checked against PyTorch before it is put at ``out``: one that differs by more than
    ``tolerance`` is an OutputError and leaves no file (and an existing ``out`` untouched)."""
    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise OutputError(f"cannot write {out}: the output must end in .onnx")
    if out.exists() and not overwrite:
        raise OutputError(f"cannot write {out}: file already exists (use --overwrite to replace it)")
    state = read_checkpoint(checkpoint)
    if state["config"].get("model", {}).get("variant") in REFINE_VARIANTS:
        from .refine_train import load_refiner

        rnet, rcfg, step = load_refiner(checkpoint)
        return _checked(out, lambda p: export_refiner_onnx(rnet, p, _info(rcfg, step, checkpoint)),
                        lambda p: refiner_parity(rnet, p), tolerance) + (step,)
    net, cfg, step = load_generator(checkpoint)
    if step < cfg.run.phase1_steps:
        raise InputError(f"{checkpoint}: step {step} is still in phase 1 (the edge network); nothing to export yet")
    return _checked(out, lambda p: export_onnx(net, p, _info(cfg, step, checkpoint)), lambda p: parity(net, p),
                    tolerance) + (step,)


def _info(cfg, step: int, checkpoint) -> dict:
    return {"step": step, "phase1_steps": cfg.run.phase1_steps, "variant": cfg.model.variant,
            "checkpoint": Path(checkpoint).name}


def _checked(out: Path, write, check, tolerance: float) -> tuple[Path, float]:
    """Write to a staging file, check it, then move it to ``out``; nothing is left at ``out`` on failure."""
    staged = out.with_name(f".{out.stem}.unchecked.onnx")
    try:
        write(staged)
        err = check(staged)
        if err > tolerance:
            raise OutputError(f"{out}: not written: the ONNX output differs from PyTorch by {err:.2e} "
                              f"(> {tolerance:g}); try the checkpoint of a neighbouring step")
        os.replace(staged, out)
    finally:
        staged.unlink(missing_ok=True)
    return out, err
