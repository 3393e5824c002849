#!/usr/bin/env bash
# Soak: the real `trustid serve` (Redis ephemeral store from a redis-server
# the run starts, embedded ledger) under a mix of every route at half of
# the capacity a short ramp measures first, for SOAK_DURATION (default 2m;
# the full soak is 30m). trustid-bench samples the node's RSS, goroutines
# and open files every 5 s, prints them as a table and FIGURES lines, and
# fails on any failed request, RSS growth after the warm-up (a quarter of
# the duration, at most 5 minutes) of 10 % or more, or more goroutines
# than 100 + 4 per connection. Output: SOAK_OUT (default bench-out/soak).
#
#   ./scripts/soak.sh                    # 2 minutes (what scripts/test.sh runs)
#   SOAK_DURATION=30m ./scripts/soak.sh  # the full soak
#   SOAK_RATE=300 ./scripts/soak.sh      # a fixed rate instead of the ramp
set -euo pipefail
cd "$(dirname "$0")/.."
out=${SOAK_OUT:-bench-out/soak}
mkdir -p "$out"
go build -o "$out/" ./cmd/trustid ./cmd/trustid-bench
exec "$out/trustid-bench" -trustid "$out/trustid" -redis -out "$out" \
  -soak "${SOAK_DURATION:-2m}" -rate "${SOAK_RATE:-0}" -concurrency "${SOAK_CONCURRENCY:-4,16}"
