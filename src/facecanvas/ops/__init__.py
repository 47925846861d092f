"""Face operations behind one contract (``base.Operation``) and one registry (``registry``).

    from facecanvas.ops import OpSpec, build
    op = build(OpSpec("effect", {"effect": "comic", "strength": 0.8}))
    out = op(frame_bgr, faces)               # faces from FaceAnalyzer.detect or a tracker

A spec is plain data (``spec.to_json()``), so a worker process or another machine builds the same
operation from it. ``list_operations()`` names them; ``get_operation(name).Options.schema()`` describes
their options for a CLI, a web form or a config file.
"""

from .base import Operation, OpResult, OpSpec, OptionInfo, Options, option
from .registry import BUILTIN, DEFAULT, Registry


def list_operations() -> list[str]:
    return DEFAULT.names()


def get_operation(name: str) -> type[Operation]:
    return DEFAULT.get(name)


def build(spec: OpSpec | str, options=None, **context) -> Operation:
    return DEFAULT.build(spec, options, **context)


__all__ = ["BUILTIN", "DEFAULT", "OpResult", "OpSpec", "Operation", "OptionInfo", "Options", "Registry", "build",
           "get_operation", "list_operations", "option"]
