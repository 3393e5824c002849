#!/usr/bin/env bash
# Stops every process up.sh started (by the PIDs it recorded) and removes
# $RUN. KEEP_RUN=1 keeps the state for a look at the logs.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/env.sh"
step "stop the network"
for f in "$RUN"/pids/*; do
  [ -f "$f" ] || continue
  kill "$(cat "$f")" 2>/dev/null || true
done
for f in "$RUN"/pids/*; do
  [ -f "$f" ] || continue
  pid=$(cat "$f")
  for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; fi
done
[ "${KEEP_RUN:-0}" = 1 ] || rm -rf "$RUN"
echo "fabric down"
