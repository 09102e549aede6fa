#!/usr/bin/env bash
# Configures and builds ztm into BUILD_DIR (default: build/). Extra arguments go to cmake.
# BUILD_TARGETS="a b": only those targets (bench/suite.sh builds what it runs).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo} "$@" >/dev/null
cmake --build "$build" -j "$(nproc)" ${BUILD_TARGETS:+--target $BUILD_TARGETS}
