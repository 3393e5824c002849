#!/usr/bin/env bash
# Runs every TrustID test on a fresh machine: installs what the tests need
# (Debian's redis-server, haproxy and chromium, for the browser test; curl and the
# Fabric binaries for the Fabric tests), then vets and tests the whole module, runs deadcode, govulncheck and the
# 2-minute soak. Go is the toolchain go.mod names (scripts/toolchain.sh).
#
#   ./scripts/test.sh                        # everything
#   TRUSTID_TEST_SHORT=1 ./scripts/test.sh   # leave out the Fabric network
#                                            # tests (it says so at the end)
# A failure prints the step, the command and the end of its log. Under CI
# (CI set, as .ci/run sets it) a test whose real component is missing fails.
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
LOGS=$(mktemp -d "${TMPDIR:-/tmp}/trustid-test.XXXXXX")
echo "logs in $LOGS"
# Each step's seconds, printed as a table at the end (where CI's time goes).
STEP_TIMES=$LOGS/step-times.tsv
: >"$STEP_TIMES"
RUN_T0=$(now)
print_times() {
  log "step times (seconds)"
  awk -F '\t' '{ printf "%-16s %8s\n", $1, $2 }' "$STEP_TIMES"
  printf 'total %ss\n' "$(elapsed "$RUN_T0")"
}
# The Fabric integration tests (^TestFabric in ./ledger/fabric, ./cmd/trustid and ./cmd/trustid-bench)
# need the network: scripts/fabric/test.sh runs them, not the plain go test
# runs below.
FABRIC_TESTS='^TestFabric'

log() { printf '\n== %s\n' "$*"; }

apt_updated=
need_pkg() { # need_pkg COMMAND PACKAGE
  command -v "$1" >/dev/null 2>&1 && return 0
  log "installing $2 (for $1)"
  local sudo=
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  if [ -z "$apt_updated" ]; then
    run_step "apt-get update" "$LOGS/apt.log" -- $sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
    apt_updated=1
  fi
  run_step "install $2" "$LOGS/apt.log" -- env DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq "$2"
}

need_pkg redis-server redis-server
# deploy's TestLoadBalancerConfig checks the compose file's HAProxy
# configuration with `haproxy -c`; TestFabricLBProof runs HAProxy.
need_pkg haproxy haproxy
# The browser test finds chromium or chromium-browser (internal/testbrowser).
command -v chromium-browser >/dev/null 2>&1 || need_pkg chromium chromium
# The interop tests run third-party libraries on Node.js (COSE, Data
# Integrity, OID4VCI, OID4VP): Node.js and every interop directory's npm
# packages, from their committed lock files.
need_pkg node nodejs
need_pkg npm npm
log "interop: npm ci in every directory with a committed package-lock.json"
run_step -t "interop setup" "$LOGS/interop.log" -- ./scripts/interop.sh

log "go vet"
run_step -t "go vet" "$LOGS/vet.log" -- go vet ./...

log "gofmt"
step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
[ -z "$unformatted" ] || fail "not gofmt-ed: $unformatted"

log "deadcode: functions nothing reaches"
run_step -t "deadcode" "$LOGS/deadcode.log" -- ./scripts/deadcode.sh

# Every test runs once: the packages with shared state under the race
# detector, the others without it. A package with tests that run only
# without it (a `//go:build !race` file: allocation and heap figures the
# detector's own allocations would blur) runs both ways.
RACE_PKGS=(./store/... ./keystore/... ./ledger/... ./chaincode/... ./auth/... ./api/ ./qrcode/... ./identity/ ./credentials/...
  ./enrollment/ ./login/ ./federation/ ./oid4vp/... ./internal/groupcommit/ ./internal/fakeclock/ ./cmd/trustid/ ./sdk/... ./oid4vci/)
race_listed=$(go list "${RACE_PKGS[@]}")
norace_dirs=$(git ls-files '*_test.go' | xargs grep -l '^//go:build !race' | xargs -r -n1 dirname | sort -u | sed 's#^#./#')
PLAIN_PKGS=$( (go list ./... | grep -vxF -f <(printf '%s\n' "$race_listed"); [ -z "$norace_dirs" ] || go list $norace_dirs) | sort -u)

log "go test (the packages go test -race leaves out, and those with tests only without it)"
# -artifacts keeps what tests save (the browser tests' screenshots) under
# $LOGS/artifacts/_artifacts/<package>/<test>/.
mkdir -p "$LOGS/artifacts"
run_step -t "go test" "$LOGS/test.log" -- go test -count=1 -timeout 20m -artifacts -outputdir "$LOGS/artifacts" -skip "$FABRIC_TESTS" $PLAIN_PKGS
echo "test artifacts (browser screenshots): $LOGS/artifacts/_artifacts"

log "go test -race (every package with shared state)"
run_step -t "go test -race" "$LOGS/race.log" -- go test -count=1 -race -timeout 15m -artifacts -outputdir "$LOGS/artifacts" \
  -skip "$FABRIC_TESTS" "${RACE_PKGS[@]}"

log "fuzz: every fuzz target for a few seconds (FUZZTIME, default 2s)"
run_step -t "fuzz" "$LOGS/fuzz.log" -- env FUZZTIME="${FUZZTIME:-2s}" ./scripts/fuzz.sh

log "govulncheck: known vulnerabilities our code reaches (go.mod's toolchain, database from the module proxy)"
run_step -t "vulncheck" "$LOGS/vulncheck.log" -- ./scripts/vulncheck.sh

# The 2-minute soak: the real node with Redis and the embedded ledger under
# the mixed load at half its measured capacity; fails on any failed
# request, on the heap after GC (less the status lists, which grow by
# design) growing 10 % or more after the warm-up, or on goroutines beyond
# their ceiling or rising after the warm-up (docs/BENCHMARKS.md, "Soak and
# faults").
log "soak: 2 minutes of mixed traffic (scripts/soak.sh)"
run_step -t "soak" "$LOGS/soak.log" -- env SOAK_OUT="$LOGS/soak" ./scripts/soak.sh

if [ -z "${TRUSTID_TEST_SHORT:-}" ]; then
  log "Fabric: build the binaries (cached after the first run), bring up the native network, run the Fabric tests, tear down"
  need_pkg curl curl
  step "Fabric binaries"
  t0=$(now)
  ./scripts/fabric/build.sh
  step_took "Fabric binaries" "$t0"
  # The 60 s load test of issue 5 runs too: 12,000 status changes/s asked
  # of the 310000 node, each anchored exactly once, no MVCC retries; it logs
  # the FIGURES lines (throughput, cross-region revocation latency).
  step "Fabric tests"
  t0=$(now)
  TRUSTID_FABRIC_LOAD=1 TRUSTID_FABRIC_LOAD_RATE=12000 ./scripts/fabric/test.sh
  step_took "Fabric tests" "$t0"
  print_times
  log "all tests passed"
else
  step "list what TRUSTID_TEST_SHORT leaves out"
  listed=$(go test -list "$FABRIC_TESTS" ./ledger/fabric/ ./cmd/trustid/ ./cmd/trustid-bench/)
  log "LEFT OUT (TRUSTID_TEST_SHORT=1): the Fabric network and its tests:" $(grep -E '^Test' <<<"$listed" || true)
  print_times
  log "all other tests passed; the run is NOT complete"
fi
