#!/usr/bin/env bash
# Installs what is missing, builds tether and runs the main demo.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
scripts/deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "${JOBS:-$(nproc)}" --target codec_demo >/dev/null
exec build/release/tests/demo/codec_demo
