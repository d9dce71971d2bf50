#!/usr/bin/env bash
# Builds the deployment's three images with plain `docker build` (no buildx needed):
#   correctly-mlflow:latest, correctly-dagster:latest, correctly-user-code:latest
# Settings, from the environment:
#   BASE_IMAGE       default python:3.11-slim
#   POSTGRES_IMAGE   default pgvector/pgvector:pg17 (pulled here, used by compose)
#   TORCH_INDEX_URL  default the CPU index of download.pytorch.org; empty: the site's pip setup
#   STAND_INS        auto (default): when BASE_IMAGE or POSTGRES_IMAGE cannot be pulled, build
#                    the local stand-ins (docker/stand-ins/) and use those; never; always
# The images use docker/site/ (see its README); `bash docker/site.sh` fills it from this host.
# Last line printed: the BASE_IMAGE and POSTGRES_IMAGE used, for docker/.env.
set -euo pipefail
cd "$(dirname "$0")/.."
base="${BASE_IMAGE:-python:3.11-slim}"
postgres="${POSTGRES_IMAGE:-pgvector/pgvector:pg17}"
torch_index="${TORCH_INDEX_URL-https://download.pytorch.org/whl/cpu}"
stand_ins="${STAND_INS:-auto}"

present_or_pulled() { docker image inspect "$1" >/dev/null 2>&1 || docker pull -q "$1" >/dev/null 2>&1; }

if [ "$stand_ins" = always ] || { [ "$stand_ins" = auto ] && ! { present_or_pulled "$base" && present_or_pulled "$postgres"; }; }; then
  echo "using local stand-ins for $base and $postgres" >&2
  start=$SECONDS
  bash docker/stand-ins/build.sh >&2
  echo "stand-in images: $((SECONDS - start)) s" >&2
  base=correctly-stand-in/python:3.11-slim
  postgres=correctly-stand-in/pgvector:pg18
  # The public torch index is out of reach too: torch from the site's pip setup.
  torch_index=""
fi
[ -f docker/site/pip.conf ] || echo "note: docker/site/ is empty; pip uses the public PyPI" >&2

for image in mlflow dagster user_code; do
  start=$SECONDS
  docker build -q -f "docker/Dockerfile.$image" -t "correctly-${image//_/-}:latest" \
    --build-arg BASE_IMAGE="$base" --build-arg TORCH_INDEX_URL="$torch_index" . >/dev/null
  echo "image correctly-${image//_/-}: $((SECONDS - start)) s" >&2
done
echo "BASE_IMAGE=$base POSTGRES_IMAGE=$postgres"
