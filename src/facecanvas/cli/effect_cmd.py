"""``facecanvas effect`` (apply an AR effect to photos) and ``facecanvas effects`` (list them)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..effects import builtin_names, list_effects, load_effect
from ..effects.spec import find_effect
from ..errors import InputError
from ..ops.effect import EffectOperation, EffectOptions
from .common import add_analysis_options, add_inputs_output, add_overwrite, make_analyzer
from .options import add_options, from_args
from .photo_common import run_photos_cmd
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
    add_inputs_output(p, "PHOTO", "image files, folders or glob patterns; or video files (audio kept)")
    add_options(p, EffectOptions)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="params",
                   help="set one of the effect's parameters (see `facecanvas effects --show NAME`); repeatable")
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


def run(args: argparse.Namespace) -> int:
    options = from_args(EffectOptions, args, effect=args.name, params=parse_params(args.params))
    video = is_video_input(args.inputs)
    with make_analyzer(args) as analyzer:
        # Set up once, before any output: a bad effect file or donor fails here.
        op = EffectOperation(options, video=video, analyzer=analyzer)
        if video:
            return run_video(args, op)
        return run_photos_cmd(args, op, analyzer=analyzer)


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
