"""Read and write video files with PyAV (FFmpeg's libraries), keeping what the edit did not touch.

- ``probe(path)``: size, frame rate, frame count, duration, rotation, codecs, or a one-line InputError.
- ``VideoReader``: decodes in a background thread (PyAV releases the GIL) into a small bounded queue;
  frames come out upright (the rotation metadata applied) as HxWx3 uint8 BGR.
- ``VideoWriter``: encodes in a background thread, keeps every frame's timestamp (so frame rate,
  frame count and duration stay the same, variable frame rate included), writes the input's rotation
  back as metadata, copies the audio packets untouched, and writes to a temporary file that is renamed
  over the destination only when everything succeeded.
"""

from __future__ import annotations

import errno
import os
import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import InputError, OutputError
from .names import VIDEO_EXTS, display_path, fitting_name, sibling
from .names import one_line as _escape_line
from .outputs import check_output, same_file
from .safe_open import check_input

# Container -> default video codec. H.264 in mp4 plays everywhere; webm only takes VP8/VP9/AV1.
DEFAULT_CODEC = {".webm": "libvpx-vp9"}
ONE_THREAD_ENCODE = 960 * 540  # pixels: frames up to this size are encoded in one thread (VideoWriter)
CODEC_ALIASES = {"h264": "libx264", "x264": "libx264", "hevc": "libx265", "h265": "libx265",
                 "vp9": "libvpx-vp9", "av1": "libsvtav1"}
_END = object()


def _one_line(text: str) -> str:
    return _escape_line(" ".join(str(text).split()))


def output_mark(operation: str | None = None) -> str:
    """The "edited by facecanvas" mark, as image_io writes it into photos."""
    from .image_io import output_mark as mark

    return mark(operation)


def _video_frame(bgr: np.ndarray, pix_fmt: str):
    """An ``av.VideoFrame`` of ``bgr`` for an encoder of ``pix_fmt``. 4:2:0 is converted by OpenCV (BT.601,
    limited range, as FFmpeg's swscale does) in about a third of swscale's time (640x360: 0.23 against 0.65
    ms), and decodes closer to the input (stage clip, 60 frames at crf 20: mean error 1.7-2.0 against 1.9-2.4
    levels a channel); other formats are converted by the encoder."""
    import av
    import cv2

    if pix_fmt == "yuv420p":
        return av.VideoFrame.from_ndarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420), format="yuv420p")
    return av.VideoFrame.from_ndarray(bgr, format="bgr24")


def _unlink_quietly(path: Path) -> None:
    """Remove a temporary file without letting a failure (read-only folder) hide the real error."""
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    width: int  # as stored (before rotation)
    height: int
    fps: Fraction  # average frame rate
    frames: int  # frame count from the container index; 0 when the container does not say
    duration: float  # seconds (video stream)
    rotation: int  # display rotation, degrees counter-clockwise (0, 90, 180, -90)
    codec: str
    pix_fmt: str
    time_base: Fraction
    audio_streams: int
    audio_duration: float | None  # seconds of the first audio stream

    @property
    def display_size(self) -> tuple[int, int]:
        """(width, height) as shown, after rotation: the size the processing sees."""
        return (self.height, self.width) if self.rotation % 180 else (self.width, self.height)

    def describe(self) -> str:
        w, h = self.display_size
        audio = f", {self.audio_streams} audio" if self.audio_streams else ", no audio"
        rot = f", rotated {self.rotation}" if self.rotation else ""
        n = f"{self.frames} frames" if self.frames else "frame count unknown"
        return f"{w}x{h} {self.codec} {float(self.fps):.2f} fps, {n}, {self.duration:.1f} s{rot}{audio}"


def _open_input(path: Path):
    import av

    def fail(reason: str) -> InputError:
        return InputError(_one_line(f"cannot read {path}: {reason}"))

    # Regular files only (safe_open.py): FFmpeg would block on a named pipe and read /dev/zero forever.
    check_input(path, what="a video file")
    try:
        # Tags that are not UTF-8 (a damaged or odd file) must not make the whole file unreadable.
        container = av.open(str(path), "r", metadata_errors="replace")
    except av.error.InvalidDataError as e:
        raise fail("not a video, or a truncated/corrupt file (the container could not be parsed)") from e
    except (av.error.FFmpegError, OSError) as e:
        raise fail(getattr(e, "strerror", None) or str(e)) from e
    if not container.streams.video:
        kinds = ", ".join(sorted({s.type for s in container.streams})) or "none"
        container.close()
        raise fail(f"has no video stream (streams: {kinds})")
    stream = container.streams.video[0]
    if stream.codec_context is None or not stream.codec_context.name or stream.codec_context.name == "none":
        container.close()
        raise fail("unsupported video codec (no decoder available)")
    return container, stream


def _seconds(value, time_base) -> float | None:
    return float(value * time_base) if value is not None and time_base is not None else None


def probe(path: str | Path) -> VideoInfo:
    """What is in a video file, or a one-line InputError naming the file and the reason."""
    import av

    p = Path(path)
    container, stream = _open_input(p)
    try:
        try:
            first = next(container.decode(stream), None)
        except av.error.FFmpegError as e:
            raise InputError(_one_line(f"cannot read {p}: the {stream.codec_context.name} video cannot be "
                                       f"decoded ({e})")) from e
        if first is None:
            raise InputError(f"cannot read {p}: the video stream has no decodable frame")
        fps = stream.average_rate or stream.guessed_rate or stream.base_rate or Fraction(25)
        duration = _seconds(stream.duration, stream.time_base)
        if duration is None and container.duration:
            duration = container.duration / 1e6
        audio = container.streams.audio
        adur = _seconds(audio[0].duration, audio[0].time_base) if audio else None
        rotation = int(round((first.rotation or 0) / 90)) * 90 % 360  # -90 -> 270
        return VideoInfo(p, stream.width, stream.height, Fraction(fps), int(stream.frames or 0),
                         float(duration or 0.0), rotation,
                         stream.codec_context.name, stream.codec_context.pix_fmt or "?",
                         Fraction(stream.time_base), len(audio), adur)
    finally:
        container.close()


@dataclass
class Frame:
    index: int
    pts: int | None  # in the stream's time base; None when the container gives none
    time: float  # seconds from the stream start
    duration: int | None
    bgr: np.ndarray  # upright HxWx3 uint8


def upright(bgr: np.ndarray, rotation: int) -> np.ndarray:
    """Apply a display rotation (degrees counter-clockwise) to stored pixels."""
    k = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(bgr, k)) if k else bgr


def stored(bgr: np.ndarray, rotation: int) -> np.ndarray:
    """Undo ``upright``: back to the orientation the file stores."""
    k = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(bgr, -k)) if k else bgr


class _Worker:
    """A daemon thread fed from/into a bounded queue; its exception is re-raised in the caller."""

    def __init__(self, target, name: str):
        self.error: BaseException | None = None
        self.stop = threading.Event()

        def run():
            try:
                target()
            except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
                self.error = e

        self.thread = threading.Thread(target=run, name=name, daemon=True)

    def put(self, q: queue.Queue, item) -> bool:
        """Blocking put that gives up when asked to stop (so no thread hangs on a full queue)."""
        while not self.stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False


class _Stage:
    """Results made by a background thread (started on first iteration), read in order; an exception
    in the thread is re-raised in the iterating one, and ``close()`` stops the thread."""

    def __init__(self, target, name: str, queue_size: int):
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._worker = _Worker(target, name)
        self._started = False

    def _put(self, item) -> bool:
        """Hand one result over; False when the stage was closed (the thread should return)."""
        return self._worker.put(self._queue, item)

    def __iter__(self) -> Iterator:
        if not self._started:
            self._started = True
            self._worker.thread.start()
        while True:
            try:
                item = self._queue.get(timeout=0.1)
            except queue.Empty:
                if not self._worker.thread.is_alive() and self._queue.empty():
                    if self._worker.error is not None:
                        raise self._worker.error
                    return
                continue
            if item is _END:
                return
            yield item

    def close(self) -> None:
        self._worker.stop.set()
        if self._started:
            self._worker.thread.join(timeout=5)


class ThreadedMap(_Stage):
    """Iterate ``fn(item)`` over ``items`` in order, computed ahead in a background thread.

    A pipeline stage: while the caller works on one result, the thread already computes the next
    (OpenCV, MediaPipe and FFmpeg release the GIL, so the two overlap on two cores).
    """

    def __init__(self, items: Iterable, fn, name: str, queue_size: int = 2):
        super().__init__(lambda: self._run(items, fn), name, queue_size)

    def _run(self, items, fn) -> None:
        for item in items:
            if not self._put(fn(item)):
                return
        self._put(_END)



class VideoReader(_Stage):
    """Iterate the upright BGR frames of a video file, decoded in a background thread.

    Raises InputError (in the iterating thread) when the data turns out corrupt or truncated.
    ``damaged`` counts frames the decoder flagged as corrupt but could still show.
    """

    def __init__(self, path: str | Path, queue_size: int = 6, info: VideoInfo | None = None):
        self.path = Path(path)
        self.info = info or probe(self.path)
        self.damaged = 0
        self.decoded = 0
        super().__init__(self._decode, "facecanvas-decode", queue_size)

    def _decode(self) -> None:
        import av

        container, stream = _open_input(self.path)
        stream.thread_type = "AUTO"  # frame + slice threads inside FFmpeg
        rot = self.info.rotation
        try:
            for i, frame in enumerate(container.decode(stream)):
                self.damaged += bool(frame.is_corrupt)
                bgr = upright(frame.to_ndarray(format="bgr24"), rot)
                t = float(frame.time) if frame.time is not None else i / float(self.info.fps)
                if not self._put(Frame(i, frame.pts, t, frame.duration, bgr)):
                    return
                self.decoded = i + 1
        except av.error.FFmpegError as e:
            raise InputError(_one_line(f"cannot read {self.path}: corrupt or truncated video data after "
                                       f"frame {self.decoded} ({e})")) from e
        finally:
            container.close()
        # An index that promises more frames than the data holds: the file was cut short.
        if self.info.frames and self.decoded < self.info.frames * 0.98 - 1:
            raise InputError(f"cannot read {self.path}: truncated video: only {self.decoded} of "
                             f"{self.info.frames} frames could be decoded")
        self._put(_END)


    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


CRF_MAX = 51  # x264/x265's scale (VP9/AV1 and mpeg4 get it mapped onto theirs)


@dataclass(frozen=True)
class EncodeOptions:
    codec: str | None = None  # None: the container's default (libx264 for mp4/mov/mkv/avi)
    crf: int = 20  # quality: lower = better and bigger (x264: 18 is visually lossless, 23 its default)
    preset: str = "veryfast"  # x264/x265 speed preset
    audio: bool = True  # copy the audio streams untouched
    operation: str | None = None  # written into the file's metadata: "edited by facecanvas VERSION: OP"

    def __post_init__(self):
        if isinstance(self.crf, bool) or not isinstance(self.crf, int) or not 0 <= self.crf <= CRF_MAX:
            raise InputError(f"--crf {self.crf!r}: expected a whole number from 0 to {CRF_MAX}")

    def codec_for(self, path: Path) -> str:
        name = self.codec or DEFAULT_CODEC.get(path.suffix.lower(), "libx264")
        return CODEC_ALIASES.get(name, name)


def check_output_path(dst: Path, overwrite: bool, protected: Iterable[Path] = ()) -> None:
    check_output(dst, overwrite=overwrite, protected=protected, exts=VIDEO_EXTS, kind="video")


def check_codec(dst: Path, codec: str) -> None:
    """The codec exists, encodes video, and ``dst``'s container can hold it; else one-line OutputError."""
    import av

    def fail(reason: str) -> OutputError:
        return OutputError(_one_line(f"cannot write {display_path(dst)}: {reason}"))

    try:
        c = av.codec.Codec(codec, "w")
    except Exception as e:  # noqa: BLE001 - PyAV raises several types for unknown codecs
        raise fail(f"video codec {codec!r} is not available "
                   "(try libx264, libx265, libvpx-vp9, mpeg4 or ffv1)") from e
    if c.type != "video":
        raise fail(f"{codec!r} is an {c.type} codec, not a video codec "
                   "(try libx264, libx265, libvpx-vp9, mpeg4 or ffv1)")
    fmt = _muxer(dst)
    if fmt is not None and not _muxer_takes(fmt, c.name):
        raise fail(f"a {dst.suffix} file cannot hold {codec!r} video; {_suggest(dst)}")


_MUXERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".avi": "avi"}


def _muxer(dst: Path) -> str | None:
    return _MUXERS.get(dst.suffix.lower())


def _muxer_takes(fmt: str, codec_name: str) -> bool:
    """Whether FFmpeg's ``fmt`` muxer accepts ``codec_name``: PyAV asks the muxer itself (add_stream
    refuses what avformat_query_codec rejects), on a throw-away in-memory container."""
    import io

    import av

    try:
        with av.open(io.BytesIO(), "w", format=fmt) as probe_out:
            probe_out.add_stream(codec_name, rate=25)
    except ValueError:
        return False
    except Exception:  # noqa: BLE001 - anything else is not a "no" from the muxer
        return True
    return True


def _suggest(dst: Path) -> str:
    if dst.suffix.lower() == ".webm":
        return "use --codec libvpx-vp9 (the default for .webm) or write .mkv/.mp4"
    return "use --codec libx264 (the default), or write .mkv, which holds most codecs"


class VideoWriter:
    """Encode BGR frames (upright, as the reader gave them) into ``dst`` like ``info``'s file.

    ``write(frame, bgr)`` queues one frame for the encoder thread; ``finish()`` flushes, copies the
    rest of the audio, closes the file and renames it into place; ``abort()`` removes the temporary
    file; ``finish_partial()`` closes what was written so far as a playable ``NAME.partial.EXT``.
    """

    def __init__(self, dst: str | Path, info: VideoInfo, options: EncodeOptions = EncodeOptions(),
                 *, overwrite: bool = False, protected: Iterable[Path] = (), queue_size: int = 6):
        import av

        self.dst = Path(dst)
        self.info = info
        self.options = options
        self.overwrite = overwrite
        self._protected = [Path(info.path), *map(Path, protected)]
        check_output_path(self.dst, overwrite, self._protected)
        codec = options.codec_for(self.dst)
        check_codec(self.dst, codec)  # before any folder or file is made
        try:
            self.dst.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutputError(_one_line(f"cannot write {self.dst}: cannot create folder ({e.strerror or e})")) from e
        # Same folder, so the final rename is atomic; the extension picks the muxer. Within 255 bytes.
        self.tmp = sibling(self.dst, "part", keep_suffix=True)
        self._codec = codec
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._worker = _Worker(self._encode, "facecanvas-encode")
        self._container = None
        self.written = 0
        self._partial = False
        self._video_end = 0.0
        try:
            self._open()
        except BaseException:
            self._discard()
            raise
        self._worker.thread.start()

    # -- setup -------------------------------------------------------------------------------------
    def _open(self) -> None:
        import av

        info, opts = self.info, self.options
        try:
            self._container = out = av.open(str(self.tmp), "w")
        except (av.error.FFmpegError, OSError, ValueError) as e:
            raise OutputError(self._message(getattr(e, "strerror", None) or e)) from e
        try:
            vs = out.add_stream(self._codec, rate=info.fps)
        except ValueError as e:  # the container cannot hold this codec (checked before; here for safety)
            raise OutputError(self._message(f"{e}; {_suggest(self.dst)}")) from e
        vs.width, vs.height = info.width, info.height
        even = info.width % 2 == 0 and info.height % 2 == 0
        pix = {"libx264rgb": "bgr24", "ffv1": "yuv444p", "png": "rgb24"}.get(self._codec)
        # 4:2:0 is what players expect; it needs even sides, so odd sizes fall back to 4:4:4.
        vs.pix_fmt = pix or ("yuv420p" if even else "yuv444p")
        vs.time_base = info.time_base
        vs.codec_context.time_base = info.time_base
        options = {}
        if self._codec in ("libx264", "libx264rgb", "libx265"):
            options = {"crf": str(opts.crf), "preset": opts.preset}
        elif self._codec == "libvpx-vp9":
            options = {"crf": str(opts.crf + 11), "b": "0", "deadline": "realtime", "cpu-used": "8", "row-mt": "1"}
        elif self._codec == "libsvtav1":
            options = {"crf": str(opts.crf + 10), "preset": "10"}
        elif self._codec == "mpeg4":
            vs.codec_context.qscale = max(1, min(31, opts.crf // 6))
        vs.options = options
        # Small frames are encoded in one thread: x264's frame threads then cost more CPU than they save, CPU
        # the other stages want (3-face 640x360 stage clip, 2 cores: whole run 3.64-3.70 -> 3.42-3.47 s; the
        # 720p talking head the same either way, the 1080p dfdc clip 9.4 -> 10.4-10.9 s).
        vs.codec_context.thread_count = 1 if info.width * info.height <= ONE_THREAD_ENCODE else 0
        if info.rotation:
            vs.set_display_rotation(info.rotation)
        self._video = vs
        self._audio_pairs = []
        self._audio_in = None
        if opts.audio and info.audio_streams:
            ain = av.open(str(info.path), "r", metadata_errors="replace")
            self._audio_in = ain
            for a in ain.streams.audio:
                try:
                    self._audio_pairs.append((a, out.add_stream_from_template(a)))
                except (av.error.FFmpegError, ValueError) as e:
                    raise OutputError(self._audio_message(a, e)) from e
            self._audio_dry_run(out.format.name)
            self._audio_packets = ain.demux(*[a for a, _ in self._audio_pairs])
            self._pending_audio = None
        out.metadata["comment"] = output_mark(opts.operation)
        out.metadata["description"] = output_mark(opts.operation)
        # Write the header now, before a single frame is decoded or encoded: a codec or audio stream the
        # container cannot hold fails here, in a second, instead of after the whole video.
        try:
            out.start_encoding()
        except (av.error.FFmpegError, ValueError, OSError) as e:
            if self._audio_pairs:
                a = self._audio_pairs[0][0]
                raise OutputError(self._audio_message(a, e)) from e
            raise OutputError(self._message(f"the {self._codec} video cannot be written as {self.dst.suffix} "
                                            f"({e}); {_suggest(self.dst)}")) from e

    def _audio_dry_run(self, fmt: str, packets: int = 24) -> None:
        """Copy the first audio packets into an in-memory file of the same format and close it. Some
        pairs pass the header and fail only when the file is closed (stereo PCM into .mp4: "Invalid
        argument" after the whole video was encoded); this finds them before the first frame."""
        import io

        import av

        try:
            with av.open(str(self.info.path), "r", metadata_errors="replace") as ain, \
                    av.open(io.BytesIO(), "w", format=fmt) as trial:
                pairs = {a.index: trial.add_stream_from_template(a) for a in ain.streams.audio}
                trial.start_encoding()
                n = 0
                for pkt in ain.demux(*ain.streams.audio):
                    if pkt.dts is None:
                        continue
                    pkt.stream = pairs[pkt.stream.index]
                    trial.mux(pkt)
                    n += 1
                    if n >= packets:
                        break
        except (av.error.FFmpegError, ValueError) as e:
            raise OutputError(self._audio_message(self._audio_pairs[0][0], e)) from e

    def _message(self, reason) -> str:
        """One line naming the destination, never the hidden temporary file."""
        text = str(reason).replace(str(self.tmp), str(self.dst)).replace(self.tmp.name, self.dst.name)
        return _one_line(f"cannot write {self.dst}: {text}")

    def _audio_message(self, a, e) -> str:
        return self._message(f"the {a.codec_context.name} audio cannot go into a {self.dst.suffix} file ({e}); "
                             "write .mkv or .mov, or use --no-audio")

    # -- encoder thread --------------------------------------------------------------------------------
    def _mux_audio_until(self, t: float | None) -> None:
        """Copy audio packets up to time ``t`` (all when None), interleaved with the video."""
        if self._audio_in is None:
            return
        out_for = {a.index: o for a, o in self._audio_pairs}
        while True:
            pkt = self._pending_audio
            if pkt is None:
                pkt = next(self._audio_packets, None)
                if pkt is None:
                    self._audio_in.close()
                    self._audio_in = None
                    return
            if pkt.dts is None and pkt.size == 0:  # demuxer flush packet
                self._pending_audio = None
                continue
            if t is not None and pkt.pts is not None and float(pkt.pts * pkt.time_base) > t:
                self._pending_audio = pkt
                return
            self._pending_audio = None
            pkt.stream = out_for[pkt.stream.index]
            self._container.mux(pkt)

    def _mux_video(self, packets) -> None:
        for pkt in packets:
            if pkt.dts is not None:
                self._mux_audio_until(float(pkt.dts * pkt.time_base))
            self._container.mux(pkt)

    def _encode(self) -> None:
        import av

        last_pts = None
        while True:
            try:
                item = self._queue.get(timeout=0.1)
            except queue.Empty:
                if self._worker.stop.is_set():
                    return
                continue
            if item is _END:
                break
            frame, bgr = item
            vf = _video_frame(stored(bgr, self.info.rotation), self._video.pix_fmt)
            pts = frame.pts if frame.pts is not None else round(frame.time / self.info.time_base)
            if last_pts is not None and pts <= last_pts:  # encoders need strictly increasing pts
                pts = last_pts + 1
            vf.pts, vf.time_base, last_pts = pts, self.info.time_base, pts
            if frame.duration:
                vf.duration = frame.duration
            self._video_end = float((pts + (frame.duration or 0)) * self.info.time_base)
            self._mux_video(self._video.encode(vf))
            self.written += 1
        self._mux_video(self._video.encode(None))
        # A partial file's audio stops with its video.
        self._mux_audio_until(self._video_end if self._partial else None)

    # -- caller side -------------------------------------------------------------------------------
    def _check(self) -> None:
        if self._worker.error is not None:
            e = self._worker.error
            raise OutputError(self._message(f"encoding failed ({e})")) from e

    def write(self, frame: Frame, bgr: np.ndarray) -> None:
        self._check()
        if bgr.shape[:2] != frame.bgr.shape[:2]:
            raise ValueError(f"the operation changed the frame size: {frame.bgr.shape} -> {bgr.shape}")
        while not self._worker.put(self._queue, (frame, bgr)):
            self._check()
            raise OutputError(self._message("the encoder stopped"))
        self._check()

    def _close_container(self) -> None:
        self._worker.put(self._queue, _END)
        self._worker.thread.join()
        self._check()
        try:
            self._container.close()
        except (OSError, ValueError) as e:  # av.error.FFmpegError is an OSError
            raise OutputError(self._message(f"cannot finish the file ({getattr(e, 'strerror', None) or e})")) from e
        self._container = None

    def finish(self) -> Path:
        """Flush and close; the file appears at ``dst`` only now, complete."""
        try:
            self._close_container()
            os.replace(self.tmp, self.dst)
        except OSError as e:  # the rename: a folder made read-only meanwhile, a full disk
            self._discard()
            raise OutputError(self._message(e.strerror or e)) from e
        except BaseException:
            self._discard()
            raise
        return self.dst

    def _partial_names(self) -> Iterator[Path]:
        yield fitting_name(self.dst, ".partial")
        for n in range(2, 100):
            yield fitting_name(self.dst, f".partial-{n}")

    def _place_partial(self) -> Path | None:
        """Rename the closed temporary file to ``NAME.partial.EXT``, or ``NAME.partial-2.EXT`` ... when
        that name is an input (never replaced) or exists and ``overwrite`` was not given (kept)."""
        for cand in self._partial_names():
            if any(same_file(cand, q) for q in self._protected):
                continue
            if self.overwrite and not os.path.isdir(cand):
                os.replace(self.tmp, cand)
                return cand
            if os.path.lexists(cand):
                continue
            try:
                os.link(self.tmp, cand)  # no-clobber: fails if the name appeared meanwhile
            except FileExistsError:
                continue
            except OSError as e:
                if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK,
                                   errno.EACCES):
                    raise
                os.replace(self.tmp, cand)  # no hard links here: checked above
                return cand
            _unlink_quietly(self.tmp)
            return cand
        return None

    def finish_partial(self) -> Path | None:
        """Close the frames written so far as ``NAME.partial.EXT`` (a playable file); None if nothing was."""
        self._partial = True
        try:
            # First the frames still queued for the encoder: counted before them, a busy machine's encoder
            # thread that had not taken one yet left no partial file at all.
            self._close_container()
            if not self.written:
                self._discard()
                return None
            partial = self._place_partial()
        except BaseException:
            self._discard()
            return None
        if partial is None:
            self._discard()
        return partial

    def _discard(self) -> None:
        self._worker.stop.set()
        if self._worker.thread.is_alive():
            self._worker.thread.join(timeout=5)
        for c in (self._container, getattr(self, "_audio_in", None)):
            try:
                if c is not None:
                    c.close()
            except Exception:  # noqa: BLE001 - best effort while already failing
                pass
        self._container = None
        _unlink_quietly(self.tmp)

    def abort(self) -> None:
        """Stop and remove the temporary file; ``dst`` is never touched."""
        self._discard()
