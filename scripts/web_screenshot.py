#!/usr/bin/env python3
"""A screenshot of the `facecanvas web` page with the astronaut processed -> docs/images/web_page.png.

Starts the app on a free port at 127.0.0.1, opens it in Debian's headless Chromium (Playwright with
executable_path; nothing is downloaded), uploads skimage.data.astronaut() (NASA, public domain), runs the
chosen operation and saves the page, palette-quantized to stay small.

    .venv/bin/python scripts/web_screenshot.py [--op erase] [--out docs/images/web_page.png]
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--op", default="erase", help="operation to run (default erase)")
    ap.add_argument("--out", default=str(REPO / "docs/images/web_page.png"))
    ap.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=760)
    args = ap.parse_args()

    import cv2
    from PIL import Image
    from playwright.sync_api import sync_playwright
    from skimage.data import astronaut

    from facecanvas.web import create_app
    from facecanvas.web.server import WebServer

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "astronaut.png"
        cv2.imwrite(str(src), cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR))
        app = create_app()
        try:
            with WebServer(app) as server, sync_playwright() as p:
                browser = p.chromium.launch(executable_path=args.chromium, args=["--no-sandbox", "--disable-gpu"])
                page = browser.new_page(viewport={"width": args.width, "height": args.height})
                page.set_default_timeout(180_000)
                page.goto(server.url)
                page.wait_for_selector(f"#op option[value={args.op}]", state="attached")
                page.select_option("#op", args.op)
                page.set_input_files("#file", str(src))
                page.wait_for_selector("#overlay rect", state="attached")
                page.click("#run")
                page.wait_for_selector("#download:not(.hidden)", state="visible")
                page.wait_for_function("[...document.images].every(i => !i.src || i.complete)")
                # the wipe through the middle of the face: the original on the left, the result on the right
                page.evaluate("window.scrollTo(0, 0); document.getElementById('compare-slider').value = 44; "
                              "document.getElementById('compare-slider').dispatchEvent(new Event('input'))")
                page.wait_for_timeout(300)
                png = page.screenshot(full_page=False)
                browser.close()
        finally:
            app.close()
    im = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    im.save(out, optimize=True)
    print(f"{out}: {out.stat().st_size / 1000:.0f} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
