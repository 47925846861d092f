"""The operation contract (ops/), pipeline options and the batch module, on the real astronaut face."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import REPO, run_cli
from facecanvas.batch import JobResult, exit_code, run_photos, summarize
from facecanvas.errors import FacecanvasError, InputError, NoFaceError, OutputError
from facecanvas.ops import BUILTIN, Operation, OpResult, OpSpec, Options, Registry, build, get_operation, list_operations, option
from facecanvas.pipeline import TrackingOptions, make_processor

SRC = REPO / "src" / "facecanvas"


def test_registry_lists_the_operations_and_refuses_unknown_names():
    assert {"erase", "effect", "passthrough"} <= set(list_operations())
    with pytest.raises(InputError, match="unknown operation 'nope'"):
        get_operation("nope")


def test_every_option_has_help_and_a_flag():
    for name in list_operations():
        for info in get_operation(name).Options.schema():
            assert info.help and info.flag.startswith("--"), (name, info)


def test_options_check_themselves_and_parse_text():
    with pytest.raises(InputError, match=r"--strength 3: must be between 0 and 2"):
        build("effect", {"strength": 3})
    with pytest.raises(InputError, match="unknown option"):
        get_operation("erase").Options.from_dict({"colour": "red"})
    with pytest.raises(InputError, match="--parts"):
        get_operation("erase").Options(parts="ears")
    o = get_operation("erase").Options.from_dict({"crop_size": "256", "parts": "brows,eyes"})
    assert o.crop_size == 256 and o.parts == "brows,eyes"
    with pytest.raises(InputError, match="expected a number"):
        TrackingOptions.from_dict({"detect_every": "often"})
    for bad in ({"detect_every": 0}, {"detect_size": 0}, {"detect_size": -5}, {"max_faces": 0}):
        with pytest.raises(InputError):
            TrackingOptions.from_dict(bad)


def test_a_spec_is_plain_json_and_a_worker_process_builds_the_same_operation(astronaut_bgr, astronaut_face, tmp_path):
    spec = OpSpec("erase", {"parts": "eyes,mouth", "crop_size": 256})
    assert OpSpec.from_json(spec.to_json()) == spec
    here = build(spec)
    assert here.spec == OpSpec("erase", {**here.options.to_dict()})
    mine = here(astronaut_bgr, [astronaut_face])
    # A separate process gets only the JSON text and builds the operation from it.
    np.save(tmp_path / "img.npy", astronaut_bgr)
    code = textwrap.dedent(f"""
        import sys, numpy as np
        from facecanvas import FaceAnalyzer
        from facecanvas.ops import OpSpec, build
        op = build(OpSpec.from_json(sys.stdin.read()))
        img = np.load({str(tmp_path / 'img.npy')!r})
        with FaceAnalyzer() as a:
            np.save({str(tmp_path / 'out.npy')!r}, op(img, a.detect(img)))
    """)
    r = subprocess.run([sys.executable, "-c", code], input=here.spec.to_json(), text=True, capture_output=True,
                       env={"PYTHONPATH": str(SRC.parent), "PATH": "/usr/bin:/bin"}, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert np.array_equal(np.load(tmp_path / "out.npy"), mine)
    with pytest.raises(InputError, match="not an operation spec"):
        OpSpec.from_json("[1, 2")


def test_erase_op_matches_the_erase_function(astronaut_bgr, astronaut_face):
    from facecanvas import erase

    op = build("erase", {"parts": "brows"})
    r = op.apply(astronaut_bgr, [astronaut_face])
    ref = erase(astronaut_bgr, "brows", faces=[astronaut_face])
    assert r.faces == 1 and np.array_equal(r.image, ref.image) and np.array_equal(r.mask, ref.mask)


# --- adding an operation: one folder with OPERATION, plus one registry line --------------------------------

OP_FOLDER = '''
from dataclasses import dataclass
import cv2
from facecanvas.ops import Operation, OpResult, Options, option


@dataclass(frozen=True)
class BoxOptions(Options):
    thickness: int = option(2, "line width in px", min=1, max=20)


class BoxOperation(Operation):
    name = "box"
    summary = "draw a box around every face"
    Options = BoxOptions

    def __init__(self, options=None, *, video=False):
        super().__init__(options)

    def apply(self, frame, faces):
        out = frame.copy()
        for f in faces:
            x0, y0, x1, y1 = (int(v) for v in f.box)
            cv2.rectangle(out, (x0, y0), (x1, y1), (0, 255, 0), self.options.thickness)
        return OpResult(out, len(faces))


OPERATION = BoxOperation
'''


def test_adding_an_operation_is_one_folder_and_one_registry_entry(tmp_path, monkeypatch, analyzer, astronaut_bgr):
    pkg = tmp_path / "myops" / "box"
    pkg.mkdir(parents=True)
    (tmp_path / "myops" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text(OP_FOLDER)
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry({**BUILTIN, "box": "myops.box"})
    assert "box" in registry.names()
    op = registry.build(OpSpec("box", {"thickness": "4"}))
    assert op.options.thickness == 4
    # The shared batch path runs it like any built-in.
    src = tmp_path / "a.png"
    cv2.imwrite(str(src), astronaut_bgr)
    results = run_photos([(src, tmp_path / "out.png")], op, analyzer, log=lambda m: None)
    assert results[0].ok and results[0].faces == 1
    out = cv2.imread(str(tmp_path / "out.png"))
    assert (np.all(out == (0, 255, 0), axis=2)).sum() > 400
    with pytest.raises(InputError, match="thickness"):
        registry.build(OpSpec("box", {"thickness": 0}))


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    names = []
    pkg = path.relative_to(SRC.parent).with_suffix("").parts[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = list(pkg[: len(pkg) - node.level + 1]) if node.level else []
            names.append(".".join(base + ([node.module] if node.module else [])))
        elif isinstance(node, ast.Import):
            names += [a.name for a in node.names]
    return names


def test_no_op_imports_the_cli_and_eval_never_imports_train():
    for path in (SRC / "ops").rglob("*.py"):
        assert not any(n.startswith("facecanvas.cli") for n in _imports(path)), path
    for path in (SRC / "eval").rglob("*.py"):
        assert not any(n.startswith("facecanvas.train") for n in _imports(path)), path
    for path in [*(SRC / "batch").rglob("*.py"), SRC / "pipeline.py"]:
        assert not any(n.startswith("facecanvas.cli") for n in _imports(path)), path


# --- pipeline options ---------------------------------------------------------------------------------------

def test_detect_size_is_honoured_on_video():
    from facecanvas.cli.main import build_parser
    from facecanvas.cli.video_common import tracking_options

    args = build_parser().parse_args(["erase", "clip.mp4", "-o", "out.mp4", "--detect-size", "1600"])
    p = make_processor(build("passthrough"), tracking_options(args))
    assert p.tracker.detector.max_side == 1600
    p.tracker.close()
    args = build_parser().parse_args(["erase", "clip.mp4", "-o", "out.mp4"])
    p = make_processor(build("passthrough"), tracking_options(args))
    assert p.tracker.detector.max_side == 960  # video's own default when none is given
    p.tracker.close()


# --- batch ------------------------------------------------------------------------------------------------

def test_one_ranking_of_exit_codes():
    assert exit_code([]) == 0
    assert exit_code([NoFaceError("x")]) == 3
    assert exit_code([NoFaceError("x"), FacecanvasError("y")]) == 1
    assert exit_code([NoFaceError("x"), OutputError("y")]) == 4
    assert exit_code([OutputError("y"), InputError("z"), NoFaceError("x")]) == 2
    lines = []
    assert summarize([JobResult(Path("a"), Path("b")), JobResult(Path("c"), None, NoFaceError("c"))], lines.append) == 3
    assert lines == ["done: 1 written, 1 failed of 2"]


class _Flaky(Operation):
    name = "flaky"

    def __init__(self):
        super().__init__(Options())
        self.calls = 0

    def apply(self, frame, faces):
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("boom")
        return OpResult(frame, len(faces))


def test_a_batch_goes_on_past_an_internal_error(tmp_path, analyzer, astronaut_bgr):
    jobs = []
    for name in ("a", "b"):
        cv2.imwrite(str(tmp_path / f"{name}.png"), astronaut_bgr)
        jobs.append((tmp_path / f"{name}.png", tmp_path / "out" / f"{name}.png"))
    lines = []
    results = run_photos(jobs, _Flaky(), analyzer, log=lines.append, progress=False)
    assert [r.ok for r in results] == [False, True]
    assert "internal error: RuntimeError: boom" in str(results[0].error)
    assert (tmp_path / "out" / "b.png").exists() and not (tmp_path / "out" / "a.png").exists()
    assert summarize(results, lines.append) == 1


def test_effect_strength_zero_writes_the_photo_unchanged(tmp_path, astronaut_bgr):
    src = tmp_path / "a.png"
    cv2.imwrite(str(src), astronaut_bgr)
    r = run_cli("effect", "comic", src, "-o", tmp_path / "o.png", "--strength", "0")
    assert r.returncode == 0, r.stderr
    assert np.array_equal(cv2.imread(str(tmp_path / "o.png")), astronaut_bgr)


@pytest.mark.parametrize("flags", [["--detect-size", "0"], ["--detect-size", "-3"], ["--detect-every", "0"]])
def test_out_of_range_pipeline_flags_are_one_line_errors(tmp_path, flags):
    r = run_cli("erase", REPO / "tests" / "nonexistent.mp4", "-o", tmp_path / "o.mp4", *flags)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert flags[0] in r.stderr


@pytest.mark.parametrize("port", ["99999", "-1"])
def test_live_port_out_of_range_is_a_one_line_error(port):
    r = run_cli("live", "--source", "x.mp4", "--port", port)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "--port" in r.stderr, r.stderr
