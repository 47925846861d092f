"""One way to open a shipped or user-given ONNX model with onnxruntime (no torch at run time)."""

from __future__ import annotations

from pathlib import Path

from .errors import InputError


def open_session(path: str | Path, what: str, threads: int = 0):
    """An onnxruntime CPU session for ``path``; ``what`` names the model in errors ("face parser").

    A missing or unreadable file is an ``InputError`` of one line, whatever onnxruntime raised."""
    import onnxruntime as ort

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: {what} model not found")
    opts = ort.SessionOptions()
    if threads > 0:
        opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    # Idle pool threads sleep instead of spinning: the detector's two-thread pool kept the second core busy for
    # a while after each small run, slowing the steps after it (720p erase, 5 alternating rounds: 21.2-24.6 ms
    # spinning, 21.1-24.1 asleep; medians 23.3 -> 21.3). Waking costs YuNet about 0.6 ms (2.4 -> 3.0).
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001 - onnxruntime raises several types for bad files
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(f"{path}: not a valid {what} ONNX model ({first[:160]})") from None
