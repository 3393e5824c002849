#!/usr/bin/env bash
# peer.sh start|stop REGION — starts one region's peer and waits until it
# listens, or stops it (the fault tests stop a peer and start it again).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/env.sh"
cmd=${1:?usage: peer.sh start|stop REGION}; r=${2:?region}
node=$(peer_node "$r"); pidf=$RUN/pids/peer$r
case $cmd in
start)
  step "start peer $r" "$RUN/logs/peer$r.log"
  mkdir -p "$RUN/data/peer$r"
  (
    export FABRIC_LOGGING_SPEC=${PEER_LOG:-warning}
    export CORE_PEER_ID=peer0.$(org_domain "$r")
    export CORE_PEER_LISTENADDRESS=127.0.0.1:$(peer_port "$r" 0)
    export CORE_PEER_ADDRESS=127.0.0.1:$(peer_port "$r" 0)
    export CORE_PEER_CHAINCODELISTENADDRESS=127.0.0.1:$(peer_port "$r" 1)
    export CORE_PEER_CHAINCODEADDRESS=127.0.0.1:$(peer_port "$r" 1)
    export CORE_PEER_GOSSIP_BOOTSTRAP=127.0.0.1:$(peer_port "$r" 0)
    export CORE_PEER_GOSSIP_EXTERNALENDPOINT=127.0.0.1:$(peer_port "$r" 0)
    export CORE_PEER_LOCALMSPID=$(msp_id "$r")
    export CORE_PEER_MSPCONFIGPATH=$node/msp
    export CORE_PEER_TLS_ENABLED=true
    export CORE_PEER_TLS_CERT_FILE=$node/tls/server.crt
    export CORE_PEER_TLS_KEY_FILE=$node/tls/server.key
    export CORE_PEER_TLS_ROOTCERT_FILE=$node/tls/ca.crt
    export CORE_PEER_FILESYSTEMPATH=$RUN/data/peer$r
    export CORE_LEDGER_SNAPSHOTS_ROOTDIR=$RUN/data/peer$r/snapshots
    export CORE_LEDGER_STATE_STATEDATABASE=goleveldb
    export CORE_OPERATIONS_LISTENADDRESS=127.0.0.1:$(peer_port "$r" 2)
    export CORE_METRICS_PROVIDER=disabled
    exec peer node start >>"$RUN/logs/peer$r.log" 2>&1
  ) &
  echo $! > "$pidf"
  run_step "peer $r listening" "$RUN/logs/peer$r.log" -- \
    wait_for "peer $r on 127.0.0.1:$(peer_port "$r" 0)" 60 listening "peer$r" "$(peer_port "$r" 0)"
  ;;
stop)
  step "stop peer $r"
  [ -f "$pidf" ] || exit 0
  pid=$(cat "$pidf"); kill "$pid" 2>/dev/null || true
  for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; fi
  rm -f "$pidf"
  ;;
*) fail "usage: peer.sh start|stop REGION";;
esac
