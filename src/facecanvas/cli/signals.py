"""The CLI's one policy for SIGINT, SIGTERM and SIGHUP, installed before any heavy import.

- The first signal raises KeyboardInterrupt (``Terminated`` for SIGTERM/SIGHUP) in the main thread, so
  the same clean-up runs for both: a video closes its frames so far as OUT.partial.mp4, temporary
  files go. A second is held off while that clean-up runs; a third quits at once.
- While a C extension module initialises (cv2, scipy, MediaPipe, onnxruntime, PyAV), the signal is
  only recorded and raised when the initialiser returns. An exception raised inside an initialiser's
  own Python calls is printed by the extension as a traceback (cv2 does), or turns into
  "ImportError: initialization failed" (scipy does); after it, it is an ordinary interrupt.

Only this module's functions touch the signal state; nothing heavy is imported here.
"""

from __future__ import annotations

import os
import signal
import sys
from importlib.machinery import ExtensionFileLoader, PathFinder


class Terminated(KeyboardInterrupt):
    """SIGTERM (or SIGHUP), raised like Ctrl-C's KeyboardInterrupt so the same clean-up runs."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


class _State:
    """Process-wide by nature (signal dispositions are): the signals so far and the deferral depth."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self.defer = 0
        self.pending: int | None = None


_STATE = _State()


def _raise_for(signum: int) -> None:
    raise KeyboardInterrupt if signum == signal.SIGINT else Terminated(signum)


def _on_signal(signum: int, frame) -> None:  # noqa: ARG001 - signal handler signature
    _STATE.received.append(signum)
    if len(_STATE.received) == 1:
        if _STATE.defer:
            _STATE.pending = signum  # raised when the extension's initialiser returns
            return
        _raise_for(signum)
    if len(_STATE.received) == 2:
        # The first signal's clean-up (closing a partial video) is running: let it finish.
        try:
            sys.stderr.write("facecanvas: finishing the clean-up; signal again to quit at once\n")
        except Exception:  # noqa: BLE001 - never fail inside a signal handler
            pass
        return
    os._exit(128 + signum)


class deferred:  # noqa: N801 - used like a function: ``with deferred():``
    """Signals inside the block are recorded; the first is raised as the outermost block ends."""

    def __enter__(self) -> None:
        _STATE.defer += 1

    def __exit__(self, *exc) -> None:
        _STATE.defer -= 1
        if _STATE.defer == 0 and _STATE.pending is not None:
            signum, _STATE.pending = _STATE.pending, None
            if exc[0] is None:
                _raise_for(signum)


class _DeferringExtensionLoader(ExtensionFileLoader):
    def create_module(self, spec):
        with deferred():
            return super().create_module(spec)

    def exec_module(self, module) -> None:
        with deferred():
            super().exec_module(module)


class _ExtensionFinder:
    """A meta-path finder that finds nothing itself: for a C extension the path finder would load, it
    hands back the same spec with a loader that defers signals while the module initialises."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        spec = PathFinder.find_spec(name, path, target)
        if spec is None or type(spec.loader) is not ExtensionFileLoader:
            return None
        spec.loader = _DeferringExtensionLoader(spec.loader.name, spec.loader.path)
        return spec

    @staticmethod
    def invalidate_caches() -> None:
        pass


def install_signal_policy() -> None:
    """Install the handlers (SIGHUP is left ignored under nohup) and the extension-import deferral.
    Called first thing by ``main``; safe to call again."""
    _STATE.received.clear()
    _STATE.pending = None
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is None:
            continue
        try:
            if name == "SIGHUP" and signal.getsignal(sig) == signal.SIG_IGN:
                continue  # started under nohup: keep ignoring it
            signal.signal(sig, _on_signal)
        except (ValueError, OSError):  # not the main thread, or not allowed here
            pass
    if not any(isinstance(f, _ExtensionFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _ExtensionFinder())


def received() -> list[int]:
    """The signals received since the policy was installed, in order."""
    return list(_STATE.received)


def interrupt_code() -> int:
    """The exit status for the first signal received: 128 + its number (130 for Ctrl-C)."""
    return 128 + int(_STATE.received[0] if _STATE.received else signal.SIGINT)
