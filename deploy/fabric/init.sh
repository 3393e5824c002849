#!/usr/bin/env bash
# One-shot `fabric-init` service of docker-compose.yml (image
# hyperledger/fabric-tools): makes the network's crypto material (cryptogen)
# and the genesis block of channel "trustid" (configtxgen) in the `fabric`
# volume, once; and lets the TrustID nodes (UID 65532) read region 310000's
# client identity, which deploy/trustid/profile-310000.yaml names.
# scripts/fabric/up.sh does the same natively.
set -euo pipefail
F=/fabric
CFG=/deploy/fabric
if [ -f "$F/.init-done" ]; then
  echo "fabric-init: crypto material and genesis block already in $F"
  exit 0
fi
rm -rf "$F/crypto" "$F/artifacts"
mkdir -p "$F/artifacts"
cryptogen generate --config="$CFG/crypto-config.yaml" --output="$F/crypto"
configtxgen -configPath "$CFG" -profile TrustIDChannel -channelID trustid -outputBlock "$F/artifacts/trustid.block"
# The node's Fabric client (User1 of Region310000MSP); cryptogen leaves its
# key readable by root only.
chown -R 65532:65532 "$F/crypto/peerOrganizations/r310000.trustid.local/users/User1@r310000.trustid.local"
touch "$F/.init-done"
echo "fabric-init: done"
