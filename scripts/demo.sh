#!/usr/bin/env bash
# Installs what is missing, builds, and runs dlc on a built-in example.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
scripts/build.sh > /dev/null
build/dlc train examples/linreg.def
