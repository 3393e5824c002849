#!/usr/bin/env bash
# Fails when the module holds a function nothing reaches, from any main
# package or test (golang.org/x/tools/cmd/deadcode -test): code no one
# calls is deleted, not kept.
#
#   ./scripts/deadcode.sh     # exit 0: none; 1: listed
#
# deadcode is installed once from the Go module proxy at a pinned version
# into $TRUSTID_TOOLS (default ~/.cache/trustid-tools), built by the Go of
# go.mod's toolchain line (it type-checks that Go's standard library).
# When it cannot be had the check says so and exits 0, or 2 when CI is
# set: a missing component fails CI.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/toolchain.sh

DEADCODE_VERSION=v0.52.0
TOOLS=${TRUSTID_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/trustid-tools}
GOVERSION=$(go env GOVERSION)
BIN=$TOOLS/deadcode@$DEADCODE_VERSION-$GOVERSION

if [ ! -x "$BIN/deadcode" ]; then
  echo "installing deadcode $DEADCODE_VERSION into $BIN"
  mkdir -p "$BIN"
  # Outside the module, so our go.mod is neither read nor changed.
  if ! (cd "$TOOLS" && GOTOOLCHAIN=$GOVERSION GOBIN=$BIN GOFLAGS= go install "golang.org/x/tools/cmd/deadcode@$DEADCODE_VERSION"); then
    echo "deadcode NOT RUN: cannot install golang.org/x/tools/cmd/deadcode@$DEADCODE_VERSION from the Go module proxy" >&2
    if [ -n "${CI:-}" ]; then exit 2; fi
    exit 0
  fi
fi

out=$("$BIN/deadcode" -test ./...)
if [ -n "$out" ]; then
  printf '%s\n' "$out"
  echo "deadcode: FAILED: the functions above are reached by nothing (no main package, no test): delete them" >&2
  exit 1
fi
echo "deadcode: every function is reached"
