#!/usr/bin/env bash
# Copies this host's pip setup into docker/site/, which every image build reads (COPY docker/site/,
# PIP_CONFIG_FILE): the CA bundle pip trusts (a proxy's certificate authority), an index other
# than PyPI if pip is set to one, and the CPU torch wheel pip would install here. It lets the
# images build where the public PyPI or download.pytorch.org cannot be reached directly.
# Nothing here is needed where they can: the images then build from the public sources.
set -euo pipefail
cd "$(dirname "$0")/site"
pip="${PIP:-python3 -m pip}"
setting() { $pip config get "global.$1" 2>/dev/null || true; }

rm -rf wheels pip.conf ca-certificates.crt
mkdir -p wheels
{
  echo "# Written by docker/site.sh from this host's pip configuration; not committed."
  echo "[global]"
  echo "find-links = /opt/site/wheels"
  cert="${PIP_CERT:-$(setting cert)}"
  if [ -n "$cert" ] && [ -s "$cert" ]; then
    cp "$cert" ca-certificates.crt
    echo "cert = /opt/site/ca-certificates.crt"
  fi
  index="${PIP_INDEX_URL:-$(setting index-url)}"
  case "$index" in http*) echo "index-url = $index" ;; esac
} > pip.conf
# The torch wheel the images install (Dockerfile.user_code), as pip resolves it on this host.
$pip download -q --no-deps -d wheels "torch==${TORCH_VERSION:-2.13.0}" --only-binary :all: \
  --platform "manylinux_2_28_$(uname -m)" --python-version 3.11 --implementation cp
ls wheels
