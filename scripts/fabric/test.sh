#!/usr/bin/env bash
# Brings the network up, runs the ledger's Fabric integration tests (the
# conformance suite and the fault tests) against it, and tears it down.
#   TRUSTID_FABRIC_LOAD=1 also runs the 60 s load test (figures in docs/BENCHMARKS.md).
set -euo pipefail
source "$(dirname "$0")/env.sh"
[ -d "$RUN" ] && "$FABRIC_SCRIPTS/down.sh" >/dev/null
trap '"$FABRIC_SCRIPTS/down.sh" >/dev/null' EXIT
"$FABRIC_SCRIPTS/up.sh"
source "$RUN/env"
cd "$REPO_ROOT"
go test -count=1 -timeout 15m -v -run 'Fabric' ./ledger/... ./cmd/trustid/... 2>&1 | grep -vE '^=== (RUN|PAUSE|CONT)'
