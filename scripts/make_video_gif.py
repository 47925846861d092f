"""Make the README's video animation: the synthetic astronaut clip, erased by the real CLI, before | after.

    .venv/bin/python scripts/make_video_gif.py -o docs/images/astronaut_video_erase.gif

Only the public-domain astronaut (skimage.data.astronaut) is used: never internal data.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import av
import cv2
import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from facecanvas.media.synthetic import astronaut_clip  # noqa: E402


def frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--output", default="docs/images/astronaut_video_erase.gif")
    ap.add_argument("--frames", type=int, default=40)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = astronaut_clip(Path(tmp) / "astronaut.mp4", n=args.frames, size=(320, 240), empty_frames=0)
        dst = Path(tmp) / "erased.mp4"
        cmd = [sys.executable, "-m", "facecanvas.cli.main", "erase", str(src), "-o", str(dst), "--crf", "16"]
        subprocess.run(cmd, check=True, env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"})
        before, after = frames(src), frames(dst)
    tiles = []
    for b, a in zip(before, after):
        pair = np.hstack([b, np.full((b.shape[0], 4, 3), 255, np.uint8), a])
        for text, x in (("before", 6), ("after: facecanvas erase", b.shape[1] + 10)):
            cv2.putText(pair, text, (x, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3, cv2.LINE_AA)
            cv2.putText(pair, text, (x, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(Image.fromarray(pair))
    # One shared palette keeps the file small and stops colours from flickering between frames.
    palette = tiles[len(tiles) // 2].quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    gif = [t.quantize(palette=palette, dither=Image.Dither.NONE) for t in tiles]
    out = REPO / args.output
    out.parent.mkdir(parents=True, exist_ok=True)
    gif[0].save(out, save_all=True, append_images=gif[1:], duration=80, loop=0, optimize=True)
    print(f"wrote {out} ({out.stat().st_size // 1024} KB, {len(gif)} frames)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
