#!/usr/bin/env bash
# One-shot `setup` service of docker-compose.yml (image
# hyperledger/fabric-tools), run once the orderer and the three region
# peers are healthy: joins the orderer to channel "trustid" (osnadmin; no
# system channel), waits for the channel's Raft leader, joins every peer,
# and
# installs, approves and commits the contract as a service
# (deploy/fabric/trustid_1.tar.gz, served by the `chaincode` service).
# Every step checks first, so it can run again on a running network.
# The native equivalent is scripts/fabric/up.sh.
set -euo pipefail
F=/fabric
CH=trustid
CC=trustid
PKG=/deploy/fabric/trustid_1.tar.gz
REGIONS=(310000 320000 330000) # as scripts/fabric/env.sh
ORD_DIR=$F/crypto/ordererOrganizations/orderer.trustid.local
ORDERER=orderer.orderer.trustid.local
OPS_PORT=9443 # the orderer's operations endpoint
ORDERER_CA=$ORD_DIR/orderers/$ORDERER/tls/ca.crt
ORD=(-o "$ORDERER:7050" --tls --cafile "$ORDERER_CA")

log() { echo "setup: $*"; }

# peer_as REGION ARGS...: the peer CLI as that region's admin, against its peer.
peer_as() {
  local r=$1; shift
  local d=r$r.trustid.local
  CORE_PEER_TLS_ENABLED=true CORE_PEER_LOCALMSPID=Region${r}MSP \
  CORE_PEER_MSPCONFIGPATH=$F/crypto/peerOrganizations/$d/users/Admin@$d/msp \
  CORE_PEER_ADDRESS=peer0.$d:7051 \
  CORE_PEER_TLS_ROOTCERT_FILE=$F/crypto/peerOrganizations/$d/peers/peer0.$d/tls/ca.crt \
  FABRIC_LOGGING_SPEC=warning peer "$@"
}

osnadmin_as() {
  osnadmin "$@" -o "$ORDERER:7053" --ca-file "$ORDERER_CA" \
    --client-cert "$ORD_DIR/users/Admin@orderer.trustid.local/tls/client.crt" \
    --client-key "$ORD_DIR/users/Admin@orderer.trustid.local/tls/client.key"
}

# wait_for WHAT SECONDS CMD...: retries CMD every second until it succeeds.
wait_for() {
  local what=$1 n=$2; shift 2
  for _ in $(seq 1 "$n"); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  log "timed out waiting for $what"
  "$@"
}

# raft_leader: the orderer's operations endpoint says it leads the channel's
# Raft. A joined channel refuses transactions (SERVICE_UNAVAILABLE -- no
# Raft leader) until then. The metrics are read through bash's /dev/tcp:
# the Fabric images (Ubuntu since 2.5) have no HTTP client.
raft_leader() {
  (
    exec 3<>"/dev/tcp/$ORDERER/$OPS_PORT"
    printf 'GET /metrics HTTP/1.0\r\nHost: %s:%s\r\n\r\n' "$ORDERER" "$OPS_PORT" >&3
    grep -q "^consensus_etcdraft_is_leader{channel=\"$CH\"} 1\$" <&3
  )
}

if osnadmin_as channel list --channelID "$CH" >/dev/null 2>&1; then
  log "orderer already in $CH"
else
  log "orderer joins $CH"
  osnadmin_as channel join --channelID "$CH" --config-block "$F/artifacts/$CH.block"
fi
wait_for "the Raft leader of $CH" 120 raft_leader
log "$CH has a Raft leader"

for r in "${REGIONS[@]}"; do
  if peer_as "$r" channel getinfo -c "$CH" >/dev/null 2>&1; then
    log "peer $r already in $CH"
  else
    log "peer $r joins $CH"
    peer_as "$r" channel join -b "$F/artifacts/$CH.block"
    wait_for "peer $r on $CH" 60 peer_as "$r" channel getinfo -c "$CH"
  fi
done

PKG_ID=$(peer lifecycle chaincode calculatepackageid "$PKG")
log "package $PKG_ID"
for r in "${REGIONS[@]}"; do
  if peer_as "$r" lifecycle chaincode queryinstalled | grep -qF "$PKG_ID"; then
    log "installed on peer $r"
  else
    log "install on peer $r"
    peer_as "$r" lifecycle chaincode install "$PKG"
  fi
done

if peer_as "${REGIONS[0]}" lifecycle chaincode querycommitted -C "$CH" -n "$CC" >/dev/null 2>&1; then
  log "$CC already committed on $CH"
  exit 0
fi
for r in "${REGIONS[@]}"; do
  if peer_as "$r" lifecycle chaincode checkcommitreadiness -C "$CH" -n "$CC" -v 1 --sequence 1 --output json |
      jq -e --arg m "Region${r}MSP" '.approvals[$m] == true' >/dev/null; then
    log "already approved for $r"
    continue
  fi
  log "approve for $r"
  peer_as "$r" lifecycle chaincode approveformyorg "${ORD[@]}" -C "$CH" -n "$CC" -v 1 \
    --package-id "$PKG_ID" --sequence 1 --waitForEvent
done
PEERS=()
for r in "${REGIONS[@]}"; do
  d=r$r.trustid.local
  PEERS+=(--peerAddresses "peer0.$d:7051" --tlsRootCertFiles "$F/crypto/peerOrganizations/$d/peers/peer0.$d/tls/ca.crt")
done
log "commit $CC"
peer_as "${REGIONS[0]}" lifecycle chaincode commit "${ORD[@]}" -C "$CH" -n "$CC" -v 1 --sequence 1 "${PEERS[@]}" --waitForEvent
for r in "${REGIONS[@]}"; do
  wait_for "a query through peer $r" 60 peer_as "$r" chaincode query -C "$CH" -n "$CC" -c '{"Args":["ListRegions"]}'
done
log "done: $CC committed on $CH and answering through every peer"
