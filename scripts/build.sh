#!/usr/bin/env bash
# Configures (once) and builds dlc. Usage: scripts/build.sh [--sanitize]
# The plain build goes to build/, the ASan+UBSan one to build-asan/; reruns are incremental.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=build
flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
if [ "${1:-}" = "--sanitize" ]; then
  dir=build-asan
  flags=(-DCMAKE_BUILD_TYPE=Debug -DDLC_SANITIZE=ON)
fi
[ -f "$dir/CMakeCache.txt" ] || cmake -S . -B "$dir" "${flags[@]}" > /dev/null
cmake --build "$dir" -j "$(nproc)"
