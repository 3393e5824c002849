#!/usr/bin/env bash
# Runs the benchmarks behind the figures in README.md and docs/BENCHMARKS.md
# and writes their output to bench-out/ (gitignored; BENCH_OUT overrides):
#
#  1. the in-process Go benchmarks, package by package: one component at a
#     time, no network, no other process;
#  2. `trustid id derive-batch` over 10 million made-up numbers;
#  3. trustid-bench: the real `trustid serve` as its own process, every
#     route driven over loopback HTTP, with the node's CPU time per request
#     and the cryptographic floor measured in the same run, the library
#     comparisons of step 1 (api.txt) and PNG plots of requests/s and p99
#     against concurrency (node-bench.md, node-bench.json,
#     node-bench-throughput.png, node-bench-p99.png).
#
# The Fabric figures need the native network and are not run here: see
# "Fabric" in docs/BENCHMARKS.md. Most steps run for a fixed time;
# compiling and the fixed-count steps add more on a busy machine.
#
#   ./scripts/bench.sh
#   BENCH_DURATION=10s BENCH_CONCURRENCY=1,8,32 ./scripts/bench.sh
#
# The node runs at 1, 16 and 64 connections by default: 64 saturates the
# two CPUs of the project's machine, where issue 19's figure is read.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/toolchain.sh
out=${BENCH_OUT:-bench-out}
mkdir -p "$out"
out=$(cd "$out" && pwd) # absolute: the api step runs in api/

# log prints a step with the seconds since the start and the load average:
# figures taken while other work shares the CPUs are slower.
log() { printf '\n== [%ds, load %s] %s\n' "$SECONDS" "$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)" "$*"; }

# bench NAME PACKAGE ARGS...: go test -run '^$' ARGS PACKAGE, saved to NAME.txt.
bench() {
  local name=$1 pkg=$2
  shift 2
  log "$name: go test -run '^\$' $* $pkg"
  go test -run '^$' "$@" "$pkg" | tee "$out/$name.txt"
}

bench gm ./gm/ -bench . -benchtime 1s
bench identity ./identity/ -bench . -benchmem
bench derive-batch-inprocess ./cmd/trustid/ -bench DeriveBatch
bench qrcode ./qrcode/ -bench 'SM2VerifyBaseline|VerifyOffline' -benchtime 2s -count 3
bench credentials ./credentials/ -bench . -benchmem -benchtime 1s
bench credentials-statuslist ./credentials/statuslist/ -bench . -benchmem -benchtime 2s
bench ledger-outbox ./ledger/ -bench OutboxEmbedded -benchtime 200x -count 3
bench ledger-auditlog ./ledger/ -bench AuditLogAppend -benchtime 2000x
bench chaincode ./chaincode/ -bench . -benchtime 2s
# Every other package's benchmarks, one second each.
for pkg in auth credentials/cose credentials/dataintegrity credentials/internal/jose credentials/jsonld \
  credentials/status federation internal/strictjson login qrcode/redeem store store/redis; do
  bench "${pkg//\//-}" "./$pkg/" -bench . -benchmem -benchtime 1s
done

# api: token validation, the HTTP handlers, and the library comparisons
# (emmansun/gmsm against tjfoc/gmsm, TrustID's token check against
# golang-jwt ES256): three rounds of every benchmark back to back, so each
# round's ratio compares figures taken under the same load. trustid-bench
# puts the ratios in its table.
log "api: every benchmark, 3 rounds"
go test -c -o "$out/api.test" ./api/
(cd api && for round in 1 2 3; do
  "$out/api.test" -test.run '^$' -test.bench . -test.benchmem
done) | tee "$out/api.txt"
rm -f "$out/api.test"

log "building trustid and trustid-bench"
go build -o "$out/" ./cmd/trustid ./cmd/trustid-bench

log "trustid id derive-batch, 10,000,000 lines"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go run ./identity/internal/gennumbers -n 10000000 -o "$tmp/ids.txt"
TRUSTID_KEK=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n') \
TRUSTID_SYMBOL_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n') TRUSTID_SYMBOL_KEY_VERSION=1 \
  "$out/trustid" id derive-batch --data "$tmp/data" --in "$tmp/ids.txt" --out "$tmp/symbols.txt" --log-level warn 2>&1 |
  tee "$out/derive-batch.txt"
rm -f "$tmp/ids.txt" "$tmp/symbols.txt"

log "trustid-bench: the node over HTTP, with the comparisons from api.txt and the plots"
"$out/trustid-bench" -trustid "$out/trustid" -out "$out" -gobench "$out/api.txt" \
  -duration "${BENCH_DURATION:-5s}" -concurrency "${BENCH_CONCURRENCY:-1,16,64}"

log "done; results in $out/ (node-bench.md: the node over HTTP; node-bench-*.png: its plots)"
