"""``facecanvas effect`` (apply an AR effect to photos) and ``facecanvas effects`` (list them)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from ..analysis import FaceAnalyzer
from ..effects import Effect, EffectResult, builtin_names, list_effects, load_effect
from ..effects.spec import find_effect
from ..eraser import VIDEO_CROP
from ..errors import FacecanvasError, InputError, NoFaceError
from ..media.image_io import load_image, save_result
from .common import add_analysis_options, add_overwrite, finish_batch, make_analyzer, warn
from .paths import expand_inputs, plan_outputs
from .video_common import add_video_options, is_video_input, run_video

HELP = "apply an AR effect (comic, mono-eye, small-face, ...) to every face"
DESCRIPTION = """\
Apply an AR effect to every face of each photo. Each effect erases the facial parts, then pastes
chosen parts back onto the blank face (moved, scaled, from another face) with Poisson blending, and
can place pictures (stickers) that follow the head. Faces turned more than the effect's limit (35
degrees of yaw by default) are left as they are, with a warning.

NAME is a built-in effect (`facecanvas effects` lists them) or the path of your own effect file
(TOML; `facecanvas effects --show comic` prints a built-in one to start from).

exit codes: 0 all done, 2 a bad input or effect file, 3 no face found, 4 an output not written.

examples:
  facecanvas effect comic photo.jpg -o comic.jpg
  facecanvas effect comic photo.jpg -o big.jpg --set mouth_scale=1.8 --set eye_scale=0.6
  facecanvas effect small-face photos/ -o out/ --strength 0.5
  facecanvas effect transplant me.jpg --donor friend.jpg -o swapped.jpg
  facecanvas effect my_sticker.toml photo.jpg -o stickered.png
  facecanvas effect comic clip.mp4 -o comic.mp4 --largest      # video: every frame, audio kept
"""

LIST_HELP = "list the built-in AR effects, one line each"
LIST_DESCRIPTION = """\
List the built-in effects with one line each, or print one effect's file (a starting point for
your own: copy it, edit it, and pass its path to `facecanvas effect`).

examples:
  facecanvas effects
  facecanvas effects --show comic > my_comic.toml
"""


def add_parser(sub) -> None:
    p = sub.add_parser("effect", help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", metavar="NAME", help="built-in effect name or path of an effect .toml file")
    p.add_argument("inputs", nargs="+", metavar="PHOTO",
                   help="image files, folders or glob patterns; or video files (audio kept)")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="output file (one input) or folder (several inputs; names are kept)")
    p.add_argument("--strength", type=float, default=1.0, metavar="S",
                   help="0 = unchanged, 1 = the effect as written (default), up to 2 to exaggerate")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="params",
                   help="set one of the effect's parameters (see `facecanvas effects --show NAME`); repeatable")
    p.add_argument("--donor", metavar="PHOTO", help="photo whose face gives the parts for a transplant")
    p.add_argument("--crop-size", type=int, default=None, metavar="PX",
                   help="aligned face crop side (default: near the face's own resolution; 256 is faster)")
    add_overwrite(p)
    add_analysis_options(p)
    add_video_options(p)
    p.set_defaults(run=run)

    q = sub.add_parser("effects", help=LIST_HELP, description=LIST_DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    q.add_argument("--show", metavar="NAME", help="print this effect's file instead of the list")
    q.set_defaults(run=run_list)


def parse_params(items: list[str]) -> dict[str, str]:
    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--set {item!r}: expected KEY=VALUE, e.g. --set mouth_scale=1.8")
        params[key.strip()] = value.strip()
    return params


def prepare(args: argparse.Namespace, analyzer: FaceAnalyzer) -> Effect:
    """The effect as a per-frame operation, set up once for every input (and, later, every frame)."""
    if not 0.0 <= args.strength <= 2.0:
        raise InputError(f"--strength {args.strength:g}: must be between 0 and 2")
    if args.crop_size is not None and not 64 <= args.crop_size <= 1024:
        raise InputError(f"--crop-size {args.crop_size}: must be between 64 and 1024")
    return Effect(args.name, strength=args.strength, donor=args.donor, analyzer=analyzer,
                  size=args.crop_size, **parse_params(args.params))


def process_image(bgr, effect: Effect, analyzer: FaceAnalyzer) -> EffectResult:
    """One picture: find the faces, apply the effect. A video frame would go through the same call."""
    return effect.apply(bgr, analyzer.detect(bgr))


def run(args: argparse.Namespace) -> int:
    if is_video_input(args.inputs):
        if args.crop_size is None:
            args.crop_size = VIDEO_CROP  # video favours speed, as for erase
        with make_analyzer(args) as analyzer:
            effect = prepare(args, analyzer)
            return run_video(args, lambda frame, faces: effect.apply(frame, faces).image)
    inputs = expand_inputs(args.inputs)
    outputs = plan_outputs(inputs, args.output)
    failures: dict[type, list[str]] = {}
    written = 0
    with make_analyzer(args) as analyzer:
        effect = prepare(args, analyzer)  # a bad effect file or donor fails here, before any output
        bar = tqdm(list(zip(inputs, outputs)), unit="photo", disable=len(inputs) < 2, file=sys.stderr)
        for src, dst in bar:
            try:
                img = load_image(src)
                result = process_image(img.bgr, effect, analyzer)
                if not result.faces and not result.skipped:
                    raise NoFaceError(f"{src}: no face found")
                for w in result.warnings:
                    warn(f"{src}: {w}")
                save_result(dst, result.image, img, overwrite=args.overwrite, protected=inputs)
                written += 1
                n, k = len(result.faces), len(result.skipped)
                note = f"{n} face{'s' * (n != 1)}" + (f", {k} left unchanged" if k else "")
                bar.write(f"{src} -> {dst} ({effect.name}: {note})", file=sys.stderr)
            except FacecanvasError as e:
                failures.setdefault(type(e), []).append(str(e))
                bar.write(f"facecanvas: error: {e}", file=sys.stderr)
    return finish_batch(failures, written, len(inputs))


def run_list(args: argparse.Namespace) -> int:
    if args.show:
        path = find_effect(args.show)
        load_effect(path)  # checked, so what is shown is known to work
        sys.stdout.write(Path(path).read_text(encoding="utf-8"))
        return 0
    width = max(len(n) for n in builtin_names())
    for name, description in list_effects():
        print(f"{name:<{width}}  {description}")
    return 0
