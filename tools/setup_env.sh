#!/usr/bin/env bash
# Creates .venv with everything the tests, the demo and the benchmarks need.
# Safe to run again: what is already installed is kept.
set -euo pipefail
cd "$(dirname "$0")/.."

# gifsicle optimises GIFs; the tests that need it say so when it is missing.
if ! command -v gifsicle >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && apt-get install -y -qq gifsicle >/dev/null) || echo "setup: could not install gifsicle; GIF optimisation tests will be skipped"
fi

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
# shellcheck disable=SC1091
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1

# torch 2.13.0: the CPU wheel this kind of machine keeps on disk (an unpinned torch pulls a
# multi-GB CUDA build from PyPI).
python -c "import torch" 2>/dev/null || pip install -q torch==2.13.0
pip install -q -r requirements-test.txt
# A1111's own UNet classes (ldm), without the heavy dependencies the package declares.
python -c "import ldm.modules.diffusionmodules.openaimodel" 2>/dev/null || pip install -q --no-deps stable-diffusion-sdkit==2.1.5
