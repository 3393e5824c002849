#!/usr/bin/env bash
# Checks the module for known vulnerabilities with govulncheck: only those
# whose vulnerable functions our code can reach are reported as findings.
#
#   ./scripts/vulncheck.sh              # exit 0: none found; 1: found (listed)
#   VULNDB=https://vuln.go.dev ./scripts/vulncheck.sh   # another database
#
# Both govulncheck and its database come from the Go module proxy at pinned
# versions, so the check runs where only the proxy is reachable:
# - govulncheck (golang.org/x/vuln) is installed once into
#   $TRUSTID_TOOLS (default ~/.cache/trustid-tools);
# - the database is the OSV files of the Go vulnerability database's own
#   module, golang.org/x/vulndb (data/osv/*.json), which govulncheck reads
#   as a local directory. vuln.go.dev itself is not reachable from the
#   development machines or CI. The snapshot is as new as VULNDB_VERSION:
#   bump it to the newest version the proxy serves to see newer reports.
#
# When the tool or the database cannot be had, the check says so and exits
# 0 (nothing was found), or 2 when CI is set: a missing component fails CI.
# When govulncheck cannot analyse the module it exits 2.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/toolchain.sh

GOVULNCHECK_VERSION=v1.9.0
VULNDB_VERSION=v0.0.0-20261105234957-e22db6528018

TOOLS=${TRUSTID_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/trustid-tools}
# govulncheck type-checks the standard library of the go command it runs
# with, so it is built by that same Go: the toolchain go.mod names
# (scripts/toolchain.sh), also outside the module, where the go command
# would otherwise take the local one.
GOVERSION=$(go env GOVERSION)
BIN=$TOOLS/govulncheck@$GOVULNCHECK_VERSION-$GOVERSION

not_run() {
  echo "vulncheck NOT RUN: $*" >&2
  if [ -n "${CI:-}" ]; then exit 2; fi
  exit 0
}

if [ ! -x "$BIN/govulncheck" ]; then
  echo "installing govulncheck $GOVULNCHECK_VERSION into $BIN"
  mkdir -p "$BIN"
  # Outside the module, so our go.mod is neither read nor changed.
  (cd "$TOOLS" && GOTOOLCHAIN=$GOVERSION GOBIN=$BIN GOFLAGS= go install "golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION") ||
    not_run "cannot install golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION from the Go module proxy"
fi

db=${VULNDB:-}
if [ -z "$db" ]; then
  dir=$(cd "$TOOLS" && GOTOOLCHAIN=$GOVERSION GOFLAGS= go mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p') ||
    not_run "cannot download golang.org/x/vulndb@$VULNDB_VERSION from the Go module proxy"
  [ -d "$dir/data/osv" ] || not_run "golang.org/x/vulndb@$VULNDB_VERSION has no data/osv directory"
  db=file://$dir/data/osv
  echo "database: golang.org/x/vulndb@$VULNDB_VERSION ($(ls "$dir/data/osv" | wc -l) reports)"
fi

echo "govulncheck $GOVULNCHECK_VERSION, $GOVERSION, ./..."
set +e
"$BIN/govulncheck" -db "$db" ./...
rc=$?
set -e
case $rc in
  0) echo "vulncheck: no reachable vulnerabilities" ;;
  3) echo "vulncheck: FAILED: reachable vulnerabilities (listed above)" >&2; exit 1 ;;
  *) echo "vulncheck: FAILED: govulncheck could not analyse the module (status $rc)" >&2; exit 2 ;;
esac
