#!/usr/bin/env bash
# The web page's browser test (tests/test_web_browser.py) drives Debian's headless Chromium (no browser
# download). Install it when missing and we are root with apt; otherwise the test skips with a message,
# so a machine without apt still passes `make test`.
set -u
command -v chromium >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "facecanvas setup: installing Debian's chromium for the browser test"
  (timeout 600 apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq chromium chromium-driver) \
    >/dev/null 2>&1 || echo "facecanvas setup: chromium could not be installed; the browser test will skip"
else
  echo "facecanvas setup: no chromium (needs root and apt to install); the browser test will skip"
fi
exit 0
