"""``import mediapipe`` without matplotlib or sounddevice: over half of its import time, for a plotting
helper and a microphone recorder never used here.

``import mediapipe`` takes ~1.2 s on this machine, ~0.6 s of it matplotlib.pyplot, which only its
``solutions.drawing_utils.plot_landmarks`` uses, and ~60 ms sounddevice (PortAudio through cffi), which only
its ``tasks.audio`` microphone recorder uses (that module already does without it: it catches the
ImportError). During MediaPipe's first import a placeholder stands in for matplotlib and sounddevice is
made unimportable; both are taken out again afterwards: code that imports them later (the caller's own)
gets the real ones, and one that already has them keeps them.
"""

from __future__ import annotations

import sys
import threading
import types

_LOCK = threading.Lock()
_MISSING = object()


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
        if "sounddevice" not in sys.modules:
            stubs["sounddevice"] = None  # a None entry makes `import sounddevice` raise ImportError
        sys.modules.update(stubs)
        try:
            import mediapipe
        finally:
            for name, stub in stubs.items():
                if sys.modules.get(name, _MISSING) is stub:
                    del sys.modules[name]
        return mediapipe
