"""``import mediapipe`` without matplotlib: half of its import time, for a plotting helper never used here.

``import mediapipe`` takes ~1.2 s on this machine, ~0.6 s of it matplotlib.pyplot, which only its
``solutions.drawing_utils.plot_landmarks`` uses. During MediaPipe's first import a placeholder stands in
for matplotlib, and it is taken out again afterwards: code that imports matplotlib later (the caller's
own) gets the real one, and one that already has it keeps it.
"""

from __future__ import annotations

import sys
import threading
import types

_LOCK = threading.Lock()


def import_mediapipe():
    """The ``mediapipe`` module."""
    mp = sys.modules.get("mediapipe")
    if mp is not None:
        return mp
    with _LOCK:
        stubs = {}
        if "matplotlib" not in sys.modules:
            stubs = {name: types.ModuleType(name) for name in ("matplotlib", "matplotlib.pyplot")}
            stubs["matplotlib"].pyplot = stubs["matplotlib.pyplot"]
            sys.modules.update(stubs)
        try:
            import mediapipe
        finally:
            for name, stub in stubs.items():
                if sys.modules.get(name) is stub:
                    del sys.modules[name]
        return mediapipe
