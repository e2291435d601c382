#!/usr/bin/env bash
# Installs what dlc needs to build and test, from Debian's archive, only if missing.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git
  llvm-19-dev llvm-19-tools clang-19 libclang-rt-19-dev
  libcriterion-dev
  libopenmpi-dev openmpi-bin
  python3 python3-numpy python3-torch python3-sklearn
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  as_root=()
  [ "$(id -u)" -eq 0 ] || as_root=(sudo)
  "${as_root[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
