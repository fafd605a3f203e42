#!/usr/bin/env bash
# Builds the real host for tests/webui: A1111 v1.10.1 (CPU, offline) with its repositories,
# a Python 3.11 venv, and the sources of the extensions the integration tests install
# (sd-webui-controlnet, sd-webui-deforum, sd-dynamic-prompts, stable-diffusion-webui-wildcards). Nothing is downloaded from git hosts: the sources
# come from local bare mirrors (the search tool's `fetch` lays them out as
# $MIRROR_DIR/<owner>+<name>/repo). See ../shared/HOST.md for why each pin is what it is.
#
# Usage: bash tools/setup_webui.sh [DEST]      (DEST default /work/webui)
# Then:  SD_WEBUI_DIR=DEST/stable-diffusion-webui .venv/bin/python -m pytest tests/webui -q -ra
set -euo pipefail
dest=${1:-/work/webui}
mirrors=${MIRROR_DIR:-/work/.mirror}
python=${WEBUI_PYTHON:-python3.11}
webui=$dest/stable-diffusion-webui

# shellcheck source=tools/export_tree.sh
source "$(dirname "$0")/export_tree.sh"

export_tree kklouzal+stable-diffusion-webui 82a973c0 "$webui"
export_tree Stability-AI+stablediffusion cf1d67a6 "$webui/repositories/stable-diffusion-stability-ai"
export_tree Stability-AI+generative-models 45c443b3 "$webui/repositories/generative-models"
export_tree crowsonkb+k-diffusion ab527a9a "$webui/repositories/k-diffusion"
export_tree AUTOMATIC1111+stable-diffusion-webui-assets 6f7db241 "$webui/repositories/stable-diffusion-webui-assets"
export_tree Mikubill+sd-webui-controlnet HEAD "$dest/extensions-src/sd-webui-controlnet"
export_tree deforum-art+sd-webui-deforum HEAD "$dest/extensions-src/sd-webui-deforum"
export_tree adieyal+sd-dynamic-prompts e8326b5e "$dest/extensions-src/sd-dynamic-prompts"
export_tree AUTOMATIC1111+stable-diffusion-webui-wildcards d3964a79 "$dest/extensions-src/stable-diffusion-webui-wildcards"

venv=$dest/venv
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip install -q --disable-pip-version-check)
if ! "$venv/bin/python" -c "import torch, torchvision" 2>/dev/null; then
    "${pip[@]}" torch==2.14.1 torchvision==0.29.1
fi
if [ ! -e "$venv/.requirements-done" ]; then
    grep -v -E '^(torch|setuptools)\b' "$webui/requirements_versions.txt" >"$dest/requirements.txt"
    "${pip[@]}" 'setuptools>=77.0.3,<81' -r "$dest/requirements.txt"
    "${pip[@]}" --no-deps clip-anytorch==2.6.0
    # ControlNet's import needs mp.solutions (dropped after 0.10.14); numpy stays at the WebUI's pin.
    "${pip[@]}" mediapipe==0.10.14 numpy==1.26.2
    req=$dest/extensions-src/sd-webui-controlnet/requirements.txt
    [ -f "$req" ] && "${pip[@]}" -r "$req" numpy==1.26.2 || true
    req=$dest/extensions-src/sd-webui-deforum/requirements.txt
    [ -f "$req" ] && "${pip[@]}" -r "$req" numpy==1.26.2 || echo "setup_webui: some deforum requirements did not install"
    touch "$venv/.requirements-done"
fi
# sd-dynamic-prompts' library at the version its pyproject.toml asks for (without the optional
# extras: their models would be downloaded); checked apart, so older venvs get it too
"$venv/bin/python" -c "import dynamicprompts, send2trash" 2>/dev/null || "${pip[@]}" dynamicprompts==0.31.0 send2trash

# The browser test (tests/webui/test_browser.py) drives Debian's Chromium with Playwright from the
# repo's test venv; it skips without them. Only here: CI runs no WebUI and needs no browser.
if [ -z "${CHROMIUM_PATH:-}" ] && [ ! -x /usr/bin/chromium ] && [ ! -x /usr/bin/chromium-browser ]; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) ||
            echo "setup_webui: could not install chromium; the browser test will be skipped"
    else
        echo "setup_webui: no chromium (install it, or set CHROMIUM_PATH); the browser test will be skipped"
    fi
fi
test_python=$(cd "$(dirname "$0")/.." && pwd)/.venv/bin/python
if [ ! -x "$test_python" ]; then
    echo "setup_webui: no test venv at $test_python (run tools/setup_env.sh); playwright not installed"
elif ! "$test_python" -c "import playwright.sync_api" 2>/dev/null; then
    # the Python package only: `playwright install` would download browsers, which we never use
    "$test_python" -m pip install -q --disable-pip-version-check playwright ||
        echo "setup_webui: could not install playwright; the browser test will be skipped"
fi
echo "setup_webui: ready: SD_WEBUI_DIR=$webui"
