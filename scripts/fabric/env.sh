# Settings of the native Fabric development network (no Docker), sourced by
# the scripts beside it (with ../lib.sh). Tests read $RUN/env, which up.sh
# writes: TRUSTID_FABRIC_PROFILE_310000/320000/330000 point at its
# connection profiles.
FABRIC_SCRIPTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export FABRIC_SCRIPTS
export REPO_ROOT=${REPO_ROOT:-$(cd "$FABRIC_SCRIPTS/../.." && pwd)}
export FABNET=${FABNET:-$FABRIC_SCRIPTS/work}
# The binaries, and core.yaml/orderer.yaml from the same Fabric module in
# sampleconfig/ beside them (build.sh puts both there).
export FABRIC_BIN=${FABRIC_BIN:-$FABNET/bin}
export FABRIC_SAMPLECONFIG=${FABRIC_SAMPLECONFIG:-$(dirname "$FABRIC_BIN")/sampleconfig}
export RUN=$FABNET/run
export PATH=$FABRIC_BIN:$PATH
export FABRIC_CFG_PATH=$RUN/config
export CHANNEL=${CHANNEL:-trustid}
export CC_NAME=${CC_NAME:-trustid}
export CC_LABEL=${CC_LABEL:-trustid_1}
# Orderer batching (configtx.yaml). Writes from TrustID are already batched
# (thousands of status changes per transaction), so blocks stay small.
export BATCH_TIMEOUT=${BATCH_TIMEOUT:-100ms}
export MAX_MSG_COUNT=${MAX_MSG_COUNT:-50}
# Ports, all on 127.0.0.1.
export ORDERER_PORT=27050 ORDERER_ADMIN_PORT=27060 ORDERER_OPS_PORT=27061
export CC_SERVER_PORT=27999
# Three regions, one organization (and one peer) each.
REGIONS=(310000 320000 330000)
# peer_port REGION OFFSET: 310000 -> 27051 (+1 chaincode, +2 operations),
# 320000 -> 27151.., 330000 -> 27251..; fixed, so tests and scripts agree.
peer_port() {
  case $1 in
  310000) echo $((27051 + $2));;
  320000) echo $((27151 + $2));;
  330000) echo $((27251 + $2));;
  *) echo "unknown region $1" >&2; return 1;;
  esac
}
msp_id() { echo "Region$1MSP"; }
org_domain() { echo "r$1.trustid.local"; }
export ORD_DIR=$RUN/crypto/ordererOrganizations/orderer.trustid.local
export ORDERER_NODE=$ORD_DIR/orderers/orderer.orderer.trustid.local
export ORDERER_CA=$ORDERER_NODE/tls/ca.crt
org_dir() { echo "$RUN/crypto/peerOrganizations/$(org_domain "$1")"; }
peer_node() { echo "$(org_dir "$1")/peers/peer0.$(org_domain "$1")"; }

# peer_cli_env REGION: the peer CLI acting as that region's admin.
peer_cli_env() {
  export CORE_PEER_TLS_ENABLED=true
  export CORE_PEER_LOCALMSPID=$(msp_id "$1")
  export CORE_PEER_MSPCONFIGPATH=$(org_dir "$1")/users/Admin@$(org_domain "$1")/msp
  export CORE_PEER_ADDRESS=127.0.0.1:$(peer_port "$1" 0)
  export CORE_PEER_TLS_ROOTCERT_FILE=$(peer_node "$1")/tls/ca.crt
  export FABRIC_LOGGING_SPEC=warning
}

# peer_as REGION ARGS...: the peer CLI acting as that region's admin.
peer_as() { ( peer_cli_env "$1"; shift; exec peer "$@" ); }

# osnadmin_as ARGS...: osnadmin against the orderer's admin endpoint, as
# the orderer organization's admin.
osnadmin_as() {
  osnadmin "$@" -o "127.0.0.1:$ORDERER_ADMIN_PORT" --ca-file "$ORDERER_CA" \
    --client-cert "$ORD_DIR/users/Admin@orderer.trustid.local/tls/client.crt" \
    --client-key "$ORD_DIR/users/Admin@orderer.trustid.local/tls/client.key"
}

# listening NAME PORT: succeeds once the process $RUN/pids/NAME listens on
# 127.0.0.1:PORT; exits 125 (wait_for stops) if that process has exited.
listening() {
  local pid
  pid=$(cat "$RUN/pids/$1" 2>/dev/null) || { echo "$1: no pid file"; return 125; }
  kill -0 "$pid" 2>/dev/null || { echo "$1 (pid $pid) has exited"; return 125; }
  port_open "$2" || { echo "$1 (pid $pid) does not listen on 127.0.0.1:$2 yet"; return 1; }
}

# raft_leader: succeeds once the orderer's operations endpoint reports that
# it leads $CHANNEL's Raft (it is the only consenter); else prints the
# channel's Raft metrics.
raft_leader() {
  local m
  m=$(curl -fsS --max-time 2 "http://127.0.0.1:$ORDERER_OPS_PORT/metrics") || return 1
  grep -q "^consensus_etcdraft_is_leader{channel=\"$CHANNEL\"} 1\$" <<<"$m" && return 0
  grep "^consensus_etcdraft_.*channel=\"$CHANNEL\"" <<<"$m" || echo "no Raft metrics for $CHANNEL yet"
  return 1
}
