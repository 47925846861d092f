"""The README's de-identification picture, made by the tool from a licence-clean photo.

    .venv/bin/python scripts/deid_readme_picture.py [-o docs/images/deid_astronaut.jpg] [--key readme]

The photo is scikit-image's astronaut (Eileen Collins, NASA, public domain; ``skimage.data.astronaut()``,
the photo ``facecanvas demo`` uses). It runs the command line itself, ``facecanvas deid astronaut.png -o
anon.png --key KEY`` (its defaults: a synthetic identity, SFace verification), then writes the head,
before | after, side by side (2x, JPEG). No shared (research) data is used.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-o", "--output", default=str(REPO / "docs" / "images" / "deid_astronaut.jpg"))
    p.add_argument("--key", default="readme")
    p.add_argument("--quality", type=int, default=88)
    a = p.parse_args()
    from skimage.data import astronaut

    from facecanvas.cli.demo_cmd import before_after
    from facecanvas.media.image_io import load_image

    src = cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR)
    with tempfile.TemporaryDirectory() as d:
        inp, out = Path(d) / "astronaut.png", Path(d) / "anon.png"
        cv2.imwrite(str(inp), src)
        r = subprocess.run([sys.executable, "-m", "facecanvas.cli.main", "deid", str(inp), "-o", str(out),
                            "--key", a.key], capture_output=True, text=True, cwd=REPO)
        print(r.stderr.strip(), file=sys.stderr)
        if r.returncode != 0:
            return r.returncode
        anon = load_image(out).bgr
    y0, y1, x0, x1 = 0, 300, 100, 380  # the head, as `facecanvas demo`'s close-up
    pic = before_after(src[y0:y1, x0:x1], anon[y0:y1, x0:x1], labels=("before", "after (deid)"))
    pic = cv2.resize(pic, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    Path(a.output).parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(a.output, pic, [cv2.IMWRITE_JPEG_QUALITY, a.quality])
    kb = Path(a.output).stat().st_size // 1024
    print(f"wrote {a.output} ({pic.shape[1]}x{pic.shape[0]}, {kb} KB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
