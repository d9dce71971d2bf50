#!/usr/bin/env bash
# make test-deploy: the compose deployment built and run on a real Docker engine, end to end
# (correctly_assets_tests/test_compose_deployment.py). Uses the engine that runs; where none
# does, installs Debian's docker.io (as root) and starts dockerd for the test's length only.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root_install() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "test-deploy: install $* (Debian: apt-get install $*), then run again" >&2
    exit 1
  fi
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends "$@" >/dev/null)
}

engine=""
stop_engine() { [ -z "$engine" ] || { kill "$engine"; wait "$engine" || true; }; }
if ! docker info >/dev/null 2>&1; then
  command -v dockerd >/dev/null || as_root_install docker.io
  log="$(mktemp)"
  dockerd >"$log" 2>&1 &
  engine=$!
  trap stop_engine EXIT
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { echo "test-deploy: dockerd did not start:" >&2; tail -20 "$log" >&2; exit 1; }
fi
# debootstrap builds the local base images where Docker Hub is out of reach.
command -v debootstrap >/dev/null || as_root_install debootstrap

.venv/bin/python -m pytest -q -s -m deploy correctly_assets_tests/test_compose_deployment.py "$@"
