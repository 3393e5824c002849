#!/usr/bin/env bash
# Soak: the real `trustid serve` (Redis ephemeral store from a redis-server
# the run starts, embedded ledger) under a mix of the node's routes (all
# that trustid-bench measures but its HTTP baselines: soakMix in
# cmd/trustid-bench/soak.go) at half of the capacity a short ramp measures
# first, for SOAK_DURATION (default 2m; the full soak is 30m).
# trustid-bench samples the node's heap after GC, status lists,
# goroutines, RSS and open files every 5 s at a quiescent point (the load
# held, 0.1–0.8 s, until collections begun with no request in flight
# have marked the heap; the rate counts the time the load ran), prints
# them as a table and FIGURES lines, and fails on any failed request, on the heap
# after GC less the status lists' content (which grows by design, a list
# at a time; reported apart) growing 10 % or more after the warm-up (a
# quarter of the duration, at most 5 minutes; medians of 3 samples), or
# on more goroutines than 100 + 4 per connection or on their rising more
# than 16 + 1 per connection after the warm-up (medians of 3 samples, as
# for the heap). Output: SOAK_OUT
# (default bench-out/soak).
#
#   ./scripts/soak.sh                    # 2 minutes
#   SOAK_DURATION=30m ./scripts/soak.sh  # the full soak
#   SOAK_RATE=300 ./scripts/soak.sh      # a fixed rate instead of the ramp
#   SOAK_PPROF=1 ./scripts/soak.sh       # also save the node's heap profiles
#                                        # (trustid built with -tags benchpprof)
#                                        # at the end of the warm-up and of the soak:
#   go tool pprof -top -base bench-out/soak/heap-warmup.pb.gz bench-out/soak/heap-end.pb.gz
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/toolchain.sh
out=${SOAK_OUT:-bench-out/soak}
mkdir -p "$out"
pprof=()
if [ -n "${SOAK_PPROF:-}" ]; then
  go build -tags benchpprof -o "$out/" ./cmd/trustid
  pprof=(-pprof)
else
  go build -o "$out/" ./cmd/trustid
fi
go build -o "$out/" ./cmd/trustid-bench
exec "$out/trustid-bench" -trustid "$out/trustid" -redis -out "$out" "${pprof[@]}" \
  -soak "${SOAK_DURATION:-2m}" -rate "${SOAK_RATE:-0}" -concurrency "${SOAK_CONCURRENCY:-4,16}"
