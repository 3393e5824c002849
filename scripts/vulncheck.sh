#!/usr/bin/env bash
# Checks the module for known vulnerabilities with govulncheck: only those
# whose vulnerable functions our code can reach are reported as findings.
#
#   ./scripts/vulncheck.sh              # exit 0: none found; 1: found (listed)
#   VULNDB=https://vuln.go.dev ./scripts/vulncheck.sh   # another database
#
# Both govulncheck and its database come from the Go module proxy at pinned
# versions, so the check runs where only the proxy is reachable:
# - govulncheck (golang.org/x/vuln) is installed once
#   (scripts/gotool.sh: into $TRUSTID_TOOLS, built by go.mod's Go);
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
source scripts/gotool.sh

VULNDB_VERSION=v0.0.0-20261105234957-e22db6528018
GOVULNCHECK_VERSION=v1.9.0
go_tool golang.org/x/vuln/cmd/govulncheck $GOVULNCHECK_VERSION

db=${VULNDB:-}
if [ -z "$db" ]; then
  dir=$(go_outside mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p') ||
    not_run "cannot download golang.org/x/vulndb@$VULNDB_VERSION from the Go module proxy"
  [ -d "$dir/data/osv" ] || not_run "golang.org/x/vulndb@$VULNDB_VERSION has no data/osv directory"
  db=file://$dir/data/osv
  echo "database: golang.org/x/vulndb@$VULNDB_VERSION ($(ls "$dir/data/osv" | wc -l) reports)"
fi

echo "govulncheck $GOVULNCHECK_VERSION, $GOVERSION, ./..."
set +e
"$TOOL" -db "$db" ./...
rc=$?
set -e
case $rc in
  0) echo "vulncheck: no reachable vulnerabilities" ;;
  3) echo "vulncheck: FAILED: reachable vulnerabilities (listed above)" >&2; exit 1 ;;
  *) echo "vulncheck: FAILED: govulncheck could not analyse the module (status $rc)" >&2; exit 2 ;;
esac
