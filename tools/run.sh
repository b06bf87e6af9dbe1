#!/usr/bin/env bash
# Builds parleyd (Release) and starts it on an embedded data directory with sane defaults:
# MQTT on 127.0.0.1:1883, data in ./data, fsync'd group commit. Extra arguments go to parleyd
# (see `build/release/broker/app/parleyd --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DPARLEY_TESTS=OFF >/dev/null
cmake --build build/release --target parleyd -j2
exec build/release/broker/app/parleyd --data-dir ./data "$@"
