#!/usr/bin/env bash
# Fails when the module holds a function nothing reaches, from any main
# package or test (golang.org/x/tools/cmd/deadcode -test): code no one
# calls is deleted, not kept.
#
#   ./scripts/deadcode.sh     # exit 0: none; 1: listed
#
# deadcode is installed once from the Go module proxy at a pinned version
# (scripts/gotool.sh). When it cannot be had the check says so and exits
# 0, or 2 when CI is set: a missing component fails CI.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/toolchain.sh
source scripts/gotool.sh

go_tool golang.org/x/tools/cmd/deadcode v0.52.0

out=$("$TOOL" -test ./...)
if [ -n "$out" ]; then
  printf '%s\n' "$out"
  echo "deadcode: FAILED: the functions above are reached by nothing (no main package, no test): delete them" >&2
  exit 1
fi
echo "deadcode: every function is reached"
