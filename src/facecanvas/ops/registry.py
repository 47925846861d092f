"""Which operations exist: a name -> module table. Adding an operation is one folder under ops/ (whose
module defines ``OPERATION``, an ``Operation`` subclass) plus one line here."""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import InputError
from .base import Operation, OpSpec

BUILTIN: Mapping[str, str] = {
    "erase": "facecanvas.ops.erase",
    "effect": "facecanvas.ops.effect",
    "passthrough": "facecanvas.ops.passthrough",
    "swap": "facecanvas.ops.swap",
    "deid": "facecanvas.ops.deid",
}


class Registry:
    """Operations by name. Modules are imported on first use, so listing names loads no model code.
    ``extra``: operation classes of your own, next to the built-ins (no global registration)."""

    def __init__(self, modules: Mapping[str, str] = BUILTIN, extra: Iterable[type[Operation]] = ()):
        self._modules = dict(modules)
        self._classes: dict[str, type[Operation]] = {cls.name: cls for cls in extra}

    def names(self) -> list[str]:
        return list(dict.fromkeys([*self._modules, *self._classes]))

    def get(self, name: str) -> type[Operation]:
        if name not in self._classes:
            if name not in self._modules:
                raise InputError(f"unknown operation {name!r}; choose one of {', '.join(self.names())}")
            cls = importlib.import_module(self._modules[name]).OPERATION
            if cls.name != name:
                raise TypeError(f"{self._modules[name]}: OPERATION is named {cls.name!r}, registered as {name!r}")
            self._classes[name] = cls
        return self._classes[name]

    def build(self, spec: OpSpec | str, options: Any = None, **context: Any) -> Operation:
        """The operation of ``spec`` (or of a name plus ``options``: an Options object or a dict),
        built with its models loaded. ``context``: build-time facts such as ``video=True``."""
        if isinstance(spec, str):
            spec = OpSpec(spec, {} if options is None or not isinstance(options, dict) else options)
            if options is not None and not isinstance(options, dict):
                return self.get(spec.name)(options, **context)
        cls = self.get(spec.name)
        return cls(cls.Options.from_dict(spec.options), **context)


DEFAULT = Registry()
