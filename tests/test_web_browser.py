"""`facecanvas web` in a real headless browser: Debian's Chromium (/usr/bin/chromium) driven by Playwright.

No browser is downloaded: the system Chromium is used through ``executable_path``; where it (or the
playwright package) is missing, the test skips and says why (.ci/run installs chromium with apt).
The page gets the astronaut uploaded, runs erase and then an effect, and the result downloaded from
the page must differ from the input in the face and match it exactly far from the face; a corrupt
upload must show the library's one-line error on the page.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

CHROMIUM = next((p for p in (os.environ.get("FACECANVAS_CHROMIUM"), "/usr/bin/chromium",
                             shutil.which("chromium"), shutil.which("chromium-browser")) if p and os.path.isfile(p)),
                None)


@pytest.fixture(scope="module")
def browser_page():
    if CHROMIUM is None:
        pytest.skip("no Chromium installed (apt-get install chromium; .ci/run does it): the browser test needs "
                    "/usr/bin/chromium")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -r requirements-web.lock)")
    pytest.importorskip("fastapi", reason="the web extra is not installed (pip install -r requirements-web.lock)")
    from playwright.sync_api import sync_playwright

    from facecanvas.web import create_app
    from facecanvas.web.server import WebServer

    app = create_app()
    with WebServer(app) as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu",
                                    # a synthetic camera, allowed without a prompt: the webcam path runs
                                    "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"])
        page = browser.new_page(viewport={"width": 1280, "height": 800}, accept_downloads=True)
        page.set_default_timeout(180_000)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server.url)
        page.wait_for_selector("#op option[value=erase]", state="attached")
        yield page, server, errors
        browser.close()
    app.close()


def _run_and_download(page, tmp_path: Path, name: str) -> np.ndarray:
    page.click("#run")
    page.wait_for_selector("#download:not(.hidden)", state="visible")
    page.wait_for_function("document.getElementById('after-img').complete && "
                           "document.getElementById('after-img').naturalWidth > 0")
    with page.expect_download() as dl:
        page.click("#download")
    path = tmp_path / name
    dl.value.save_as(path)
    return cv2.imread(str(path), cv2.IMREAD_COLOR)


def test_page_erases_and_applies_an_effect_and_shows_errors(browser_page, astronaut_bgr, astronaut_face, tmp_path):
    page, server, errors = browser_page
    t0 = time.time()
    src = tmp_path / "astronaut.png"
    cv2.imwrite(str(src), astronaut_bgr)
    page.set_input_files("#file", str(src))
    page.wait_for_selector("#overlay rect", state="attached")
    assert page.is_enabled("#run")
    assert "1 face found" in page.inner_text("#pick-info")

    x0, y0, x1, y1 = (int(v) for v in astronaut_face.box)
    face = (slice(y0, y1), slice(x0, x1))
    far = np.ones(astronaut_bgr.shape[:2], bool)  # everything outside the face box grown by half its size
    m = (x1 - x0) // 2
    far[max(0, y0 - m):y1 + m, max(0, x0 - m):x1 + m] = False

    page.select_option("#op", "erase")
    page.wait_for_selector(".field[data-name='opt.parts']")
    erased = _run_and_download(page, tmp_path, "erased.png")
    assert erased.shape == astronaut_bgr.shape
    assert np.abs(erased[face].astype(int) - astronaut_bgr[face]).mean() > 3
    assert np.array_equal(erased[far], astronaut_bgr[far])
    assert "1 face" in page.inner_text("#status")

    page.select_option("#op", "effect")
    page.wait_for_selector(".field[data-name='opt.effect'] select")
    page.select_option(".field[data-name='opt.effect'] select", "comic")
    comic = _run_and_download(page, tmp_path, "comic.png")
    assert np.abs(comic[face].astype(int) - astronaut_bgr[face]).mean() > 3
    assert np.abs(comic[face].astype(int) - erased[face]).mean() > 1  # not the erase result again
    assert np.array_equal(comic[far], astronaut_bgr[far])

    # clicking the face picks it (and the overlay says so)
    page.click("#overlay rect", force=True)
    assert "editing face 1" in page.inner_text("#pick-info")

    broken = src.read_bytes()[:20000]
    page.set_input_files("#file", files=[{"name": "broken.png", "mimeType": "image/png", "buffer": broken}])
    page.wait_for_function("document.getElementById('error').textContent.length > 0")
    text = page.inner_text("#error")
    assert text.startswith("cannot read broken.png: ") and "\n" not in text
    assert "Traceback" not in page.content()

    # over the upload limit: the page says so before sending (the server answers the same line)
    limit = page.evaluate("state.catalog.limits.max_upload_mb")
    assert limit == 50
    page.evaluate("state.catalog.limits.max_upload_mb = 0.01")
    page.set_input_files("#file", str(src))
    page.wait_for_function("document.getElementById('error').textContent.includes('upload limit')")
    assert page.inner_text("#error").startswith("cannot read astronaut.png: file is too large (")
    assert not page.is_enabled("#run")
    page.evaluate(f"state.catalog.limits.max_upload_mb = {limit}")
    assert not errors, errors
    print(f"browser test: {time.time() - t0:.1f} s")


def test_webcam_frames_go_to_the_server_and_come_back(browser_page):
    page, server, errors = browser_page
    page.click("#tab-cam")
    page.select_option("#op", "erase")
    page.click("#cam-start")
    page.wait_for_function("document.getElementById('cam-out').src.startsWith('blob:')", timeout=60_000)
    page.wait_for_function("/fps/.test(document.getElementById('cam-info').textContent)", timeout=60_000)
    assert page.inner_text("#error") == ""
    assert len(server.app.web.live) == 1
    page.click("#cam-stop")
    page.wait_for_function("document.getElementById('cam-stop').disabled", timeout=10_000)
    deadline = time.time() + 10
    while server.app.web.live and time.time() < deadline:
        time.sleep(0.1)
    assert not server.app.web.live  # the session is closed when the camera stops
    page.click("#tab-file")
    assert not errors, errors
