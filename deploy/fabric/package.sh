#!/usr/bin/env bash
# Rebuilds deploy/fabric/trustid_1.tar.gz, the chaincode-as-a-service package
# the Compose setup installs, from ccaas/connection.json and
# ccaas/metadata.json, with deterministic tar and gzip flags so the package
# ID (label:SHA-256 of the file) is stable; then prints the package ID,
# which docker-compose.yml's chaincode service must name in CHAINCODE_ID
# (deploy_test.go checks that they agree).
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
DTAR=(tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner)
"${DTAR[@]}" -C ccaas -cf - connection.json | gzip -n > "$tmp/code.tar.gz"
cp ccaas/metadata.json "$tmp/"
"${DTAR[@]}" -C "$tmp" -cf - metadata.json code.tar.gz | gzip -n > trustid_1.tar.gz
echo "trustid_1:$(sha256sum trustid_1.tar.gz | cut -d' ' -f1)"
