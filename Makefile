# The two commands of the README. Each sets up .venv first (see scripts/setup.sh).
.PHONY: setup demo test bench eval

setup:
	@bash scripts/setup.sh

demo: setup
	.venv/bin/facecanvas demo -o demo_out

test: setup
	@bash scripts/install_browser.sh
	.venv/bin/python -m pytest -q

bench: setup
	.venv/bin/python benchmarks/bench_erase.py

eval: setup
	.venv/bin/facecanvas eval erase --data ../shared/data/faces/celebamaskhq/train --limit 300
