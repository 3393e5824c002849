# Settings of the native Fabric development network (no Docker). Source it.
# Tests source it too: TRUSTID_FABRIC_PROFILE_310000/320000 point at the
# connection profiles that up.sh writes.
FABRIC_SCRIPTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export FABRIC_SCRIPTS
export REPO_ROOT=${REPO_ROOT:-$(cd "$FABRIC_SCRIPTS/../.." && pwd)}
export FABNET=${FABNET:-$FABRIC_SCRIPTS/work}
export FABRIC_BIN=${FABRIC_BIN:-$FABNET/bin}
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
REGIONS=(310000 320000)
# peer_port REGION OFFSET: 310000 -> 27051 (+1 chaincode, +2 operations), 320000 -> 27151..
peer_port() { case $1 in 310000) echo $((27051 + $2));; 320000) echo $((27151 + $2));; *) echo "unknown region $1" >&2; return 1;; esac; }
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

# wait_port PORT TIMEOUT_S
wait_port() {
  local p=$1 t=${2:-30} i=0
  while ! (exec 3<>/dev/tcp/127.0.0.1/"$p") 2>/dev/null; do
    i=$((i+1)); [ $i -gt $((t*10)) ] && { echo "port $p not up after ${t}s" >&2; return 1; }
    sleep 0.1
  done
}
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.2f", b-a}'; }
