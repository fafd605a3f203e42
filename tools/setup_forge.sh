#!/usr/bin/env bash
# Builds a real SD WebUI Forge host (2.0.1v1.10.1, commit dfdcbab6; CPU, offline) the way
# tools/setup_webui.sh builds A1111: the sources come from local bare mirrors
# ($MIRROR_DIR/<owner>+<name>/repo, laid out by the search tool's `fetch`), the packages from
# PyPI into a Python 3.11 venv. Nothing is downloaded from git hosts or Hugging Face.
#
# Usage: bash tools/setup_forge.sh [DEST]      (DEST default /work/forge; ~3 min the first time)
# Gives DEST/stable-diffusion-webui-forge, its venv DEST/venv and the sources of sd-webui-deforum and sd-dynamic-prompts in
# DEST/extensions-src. Run it (API only, CPU) from
# the Forge folder, DATA being a data dir with the checkpoint under models/Stable-diffusion/:
#   HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 ../venv/bin/python launch.py --always-cpu \
#     --all-in-fp32 --skip-prepare-environment --skip-torch-cuda-test --skip-version-check --api \
#     --nowebui --server-name 127.0.0.1 --port PORT --data-dir DATA --no-download-sd-model \
#     --ckpt DATA/models/Stable-diffusion/NAME.safetensors
# Drop --nowebui for the UI and the API on one port. See "Forge host" in tests/webui/README.md.
set -euo pipefail
dest=${1:-/work/forge}
mirrors=${MIRROR_DIR:-/work/.mirror}
python=${WEBUI_PYTHON:-python3.11}
forge=$dest/stable-diffusion-webui-forge

# shellcheck source=tools/export_tree.sh
source "$(dirname "$0")/export_tree.sh"

# The repositories and commits are those of Forge's modules/launch_utils.py (prepare_environment);
# BLIP (interrogate only) is left out.
export_tree lllyasviel+stable-diffusion-webui-forge dfdcbab6 "$forge"
export_tree lllyasviel+huggingface_guess 84826248 "$forge/repositories/huggingface_guess"
export_tree AUTOMATIC1111+stable-diffusion-webui-assets 6f7db241 "$forge/repositories/stable-diffusion-webui-assets"
# The Deforum FILM test links sd-webui-deforum in beside this extension (Forge has its own ControlNet).
export_tree deforum-art+sd-webui-deforum HEAD "$dest/extensions-src/sd-webui-deforum"
export_tree adieyal+sd-dynamic-prompts e8326b5e "$dest/extensions-src/sd-dynamic-prompts"

venv=$dest/venv
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
pip=(nice "$venv/bin/python" -m pip install -q --disable-pip-version-check)
if ! "$venv/bin/python" -c "import torch, torchvision" 2>/dev/null; then
    # Forge would install torch 2.3.1+cu121; these CPU releases lie on this machine's disk.
    "${pip[@]}" torch==2.14.1 torchvision==0.29.1
fi
if [ ! -e "$venv/.requirements-done" ]; then
    grep -v -E '^(torch|setuptools)\b' "$forge/requirements_versions.txt" >"$dest/requirements.txt"
    # setuptools: Forge pins 69.5.1; torch 2.14 needs >=77.0.3, pytorch_lightning needs pkg_resources (<81).
    # joblib: the built-in soft-inpainting script imports it (commit 715c24b0) but no requirement
    # names it; without it that script fails to load at start-up.
    "${pip[@]}" 'setuptools>=77.0.3,<81' -r "$dest/requirements.txt" joblib
    touch "$venv/.requirements-done"
fi
if [ ! -e "$venv/.deforum-requirements-done" ]; then
    req=$dest/extensions-src/sd-webui-deforum/requirements.txt
    "${pip[@]}" -r "$req" numpy==1.26.2 || echo "setup_forge: some deforum requirements did not install"
    touch "$venv/.deforum-requirements-done"
fi
# sd-dynamic-prompts' library (tests/webui/test_dynamic_prompts.py), without its optional extras
"$venv/bin/python" -c "import dynamicprompts, send2trash" 2>/dev/null || "${pip[@]}" dynamicprompts==0.31.0 send2trash
echo "setup_forge: ready: $forge (python: $venv/bin/python)"
