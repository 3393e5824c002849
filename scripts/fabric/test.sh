#!/usr/bin/env bash
# Brings the network up, runs every Fabric integration test (the Go tests
# named ^TestFabric, which live in ./ledger/fabric and ./cmd/trustid: the
# ledger conformance suite, the fault tests, the node serving on Fabric,
# TestFabricThreeRegions (issue 14: three regions' nodes, each on its own
# peer with its own Redis), and ./cmd/trustid-bench's TestFabricLBProof:
# three instances behind HAProxy, issue 13's proof, with IDs a request
# chose issued on one instance and revoked through another) against it,
# and tears
# it down.
#   TRUSTID_FABRIC_LOAD=1 also runs the 60 s load test (figures in docs/BENCHMARKS.md).
# It fails if any of those tests fails, skips, or does not run at all.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/env.sh"
PKGS=(./ledger/fabric/ ./cmd/trustid/ ./cmd/trustid-bench/)
TESTS='^TestFabric'
LOGS=$FABNET/test-logs
rm -rf "$LOGS"
if [ -d "$RUN" ]; then "$FABRIC_SCRIPTS/down.sh" >/dev/null; fi
# On failure the processes stop but $RUN/logs stays for a look.
trap 'rc=$?; [ $rc -eq 0 ] || export KEEP_RUN=1; "$FABRIC_SCRIPTS/down.sh" >/dev/null; [ $rc -eq 0 ] || echo "network logs kept in $RUN/logs"' EXIT
step "bring the network up"
"$FABRIC_SCRIPTS/up.sh"
source "$RUN/env"
cd "$REPO_ROOT"

skip=()
[ "${TRUSTID_FABRIC_LOAD:-}" = 1 ] || skip=(-skip '^TestFabricLoad$')
run_step "list the Fabric tests" "$LOGS/list.log" -- go test -list "$TESTS" "${PKGS[@]}"
want=$(grep -E '^Test' "$LOGS/list.log" || true)
[ ${#skip[@]} -eq 0 ] || want=$(grep -vx 'TestFabricLoad' <<<"$want" || true)
# -p 1: one package at a time, as the fault tests stop and start the one
# network's peers (TestFabricPeerDown, TestFabricLBProof).
fabric_tests() {
  go test -count=1 -p 1 -timeout 15m -v -run "$TESTS" "${skip[@]}" "${PKGS[@]}" 2>&1 | grep -vE '^=== (RUN|PAUSE|CONT|NAME)'
}
run_step -t "Fabric tests" "$LOGS/test.log" -- fabric_tests

step "every Fabric test ran and passed" "$LOGS/test.log"
[ -n "$want" ] || fail "no Fabric test found by go test -list '$TESTS' ${PKGS[*]}"
if skipped=$(grep -E '^ *--- SKIP: ' "$LOGS/test.log"); then
  fail "Fabric tests skipped: the network is up, so none may skip:
$skipped"
fi
for t in $want; do
  grep -q "^--- PASS: $t " "$LOGS/test.log" || fail "$t did not run (or did not pass)"
done
echo "Fabric tests passed: $(echo $want)"
