#!/usr/bin/env bash
# Creates .venv in the repository root with everything Correctly needs, offline defaults included.
# CPU torch goes in first, so nothing that depends on torch pulls a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q torch==2.13.0
.venv/bin/python -m pip install -q -e '.[dev]' -c constraints.txt
.venv/bin/python -m pip check
echo "setup done: .venv is ready (activate with: source .venv/bin/activate)"
