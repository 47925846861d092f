"""Export a trained de-identification generator to ONNX for ``facecanvas.deidnet.DeidNetwork``.

``python -m facecanvas.train.deid_export RUN/checkpoint.pt OUT.onnx [--overwrite]``

The graph: inputs ``crop`` (N x 3 x S x S, BGR, 0..1, the canonical aligned crop) and ``embedding``
(N x 128, SFace, any norm; normalised inside); outputs ``output`` (N x 3 x S x S, 0..1, the masked
composite) and ``mask`` (N x 1 x S x S). The repeller's lambda is a training-time weight, not an input;
``DeidNetwork``'s ``strength`` scales the mask at run time. The file is checked against PyTorch (1e-4)
before it is moved into place; a failed check leaves no file and an existing one untouched.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError, OutputError
from .deid_nets import DeidExport, DeidGenerator, count_parameters

OPSET = 17
TOLERANCE = 1e-4


def example_inputs(net: DeidGenerator, seed: int = 0, batch: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """A smooth skin-like crop with a little noise and a random embedding."""
    g = torch.Generator().manual_seed(seed)
    s = net.cfg.size
    yy, xx = torch.meshgrid(torch.linspace(0, 1, s), torch.linspace(0, 1, s), indexing="ij")
    base = torch.tensor([0.55, 0.62, 0.78]).view(3, 1, 1)
    img = (base * (0.8 + 0.2 * xx * (1 - yy)) + 0.03 * torch.randn(batch, 3, s, s, generator=g)).clamp(0, 1)
    return img, torch.randn(batch, net.cfg.embed_dim, generator=g)


def export_onnx(net: DeidGenerator, path: str | Path, info: dict | None = None) -> Path:
    import onnx

    path = Path(path)
    net = net.cpu().eval()
    wrapper = DeidExport(net).eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(wrapper, example_inputs(net), str(tmp), dynamo=False, opset_version=OPSET,
                          input_names=["crop", "embedding"], output_names=["output", "mask"],
                          dynamic_axes={"crop": {0: "n"}, "embedding": {0: "n"}, "output": {0: "n"},
                                        "mask": {0: "n"}})
    model = onnx.load(str(tmp))
    meta = {"kind": "deid", "size": str(net.cfg.size), "embed_dim": str(net.cfg.embed_dim),
            "colour": "bgr", "range": "0..1", "template": "canonical",
            "info": json.dumps({**(info or {}), "parameters": count_parameters(net)})}
    onnx.helper.set_model_props(model, meta)
    model.producer_name = "facecanvas"
    onnx.save(model, str(tmp))
    os.replace(tmp, path)
    return path


def parity(net: DeidGenerator, path: str | Path, seeds=(0, 1, 2)) -> float:
    """Largest |ONNX - PyTorch| over both outputs and a few example inputs (batch 1 and 2)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    net = net.cpu().eval()
    worst = 0.0
    for seed in seeds:
        x, e = example_inputs(net, seed, batch=1 + seed % 2)
        with torch.no_grad():
            ref = net(x, e)
        got = sess.run(None, {"crop": x.numpy(), "embedding": e.numpy()})
        worst = max(worst, float(np.abs(got[0] - ref["output"].numpy()).max()),
                    float(np.abs(got[1] - ref["mask"].numpy()).max()))
    return worst


def export_generator(net: DeidGenerator, out: str | Path, info: dict | None = None, overwrite: bool = False,
                     tolerance: float = TOLERANCE) -> tuple[Path, float]:
    """Stage, check and move into place; returns (path, parity error)."""
    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise OutputError(f"cannot write {out}: the output must end in .onnx")
    if out.exists() and not overwrite:
        raise OutputError(f"cannot write {out}: file already exists (use --overwrite to replace it)")
    staged = out.with_name(f".{out.stem}.unchecked.onnx")
    try:
        export_onnx(net, staged, info)
        err = parity(net, staged)
        if err > tolerance:
            raise OutputError(f"{out}: not written: the ONNX output differs from PyTorch by {err:.2e} "
                              f"(> {tolerance:g})")
        os.replace(staged, out)
    finally:
        staged.unlink(missing_ok=True)
    return out, err


def export_checkpoint(checkpoint: str | Path, out: str | Path, overwrite: bool = False,
                      tolerance: float = TOLERANCE) -> tuple[Path, float, int]:
    from .deid_train import load_generator

    net, cfg, step = load_generator(checkpoint)
    info = {"step": step, "checkpoint": Path(checkpoint).name, "lambda_schedule": cfg.loss.lambda_schedule,
            "model": cfg.to_dict()["model"]}
    path, err = export_generator(net, out, info, overwrite, tolerance)
    return path, err, step


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m facecanvas.train.deid_export")
    ap.add_argument("checkpoint")
    ap.add_argument("out")
    ap.add_argument("--overwrite", action="store_true")
    a = ap.parse_args(argv)
    try:
        path, err, step = export_checkpoint(a.checkpoint, a.out, a.overwrite)
    except (InputError, OutputError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{path}: step {step}, parity {err:.2e}, {path.stat().st_size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
