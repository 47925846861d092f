#!/usr/bin/env bash
# deface (ORB-HD/deface, the video anonymiser we compare against) in its own environment, .venv-deface:
# it pulls opencv-python, which must not enter .venv (it would shadow opencv-contrib-python).
# Used by benchmarks/bench_video.py; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ -x .venv-deface/bin/deface ]; then
  exit 0
fi
$PY -m venv .venv-deface
# onnxruntime is deface's own recommended (fastest) CPU backend; without it deface falls back to cv2.dnn.
.venv-deface/bin/python -m pip install -q --disable-pip-version-check deface==1.5.0 onnxruntime==1.31.1
.venv-deface/bin/deface --version
