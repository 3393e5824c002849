#!/usr/bin/env bash
# chaincode.sh start|stop — the trustid-chaincode server both peers dial;
# start returns once it listens.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/env.sh"
pidf=$RUN/pids/chaincode
case ${1:?usage: chaincode.sh start|stop} in
start)
  step "start the chaincode server" "$RUN/logs/chaincode.log"
  ( export CHAINCODE_ID=$(cat "$RUN/package_id") CHAINCODE_SERVER_ADDRESS=127.0.0.1:$CC_SERVER_PORT
    exec "$FABNET/trustid-chaincode" >>"$RUN/logs/chaincode.log" 2>&1 ) &
  echo $! > "$pidf"
  run_step "chaincode server listening" "$RUN/logs/chaincode.log" -- \
    wait_for "trustid-chaincode on 127.0.0.1:$CC_SERVER_PORT" 30 listening chaincode "$CC_SERVER_PORT"
  ;;
stop)
  step "stop the chaincode server"
  [ -f "$pidf" ] || exit 0
  pid=$(cat "$pidf"); kill "$pid" 2>/dev/null || true
  for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$pidf"
  ;;
*) fail "usage: chaincode.sh start|stop";;
esac
