#!/usr/bin/env bash
# Stops every process up.sh started (by the PIDs it recorded) and removes
# $RUN. KEEP_RUN=1 keeps the state for a look at the logs.
source "$(dirname "$0")/env.sh"
for f in "$RUN"/pids/*; do
  [ -f "$f" ] || continue
  pid=$(cat "$f"); kill "$pid" 2>/dev/null
done
for f in "$RUN"/pids/*; do
  [ -f "$f" ] || continue
  pid=$(cat "$f")
  for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
done
[ "${KEEP_RUN:-0}" = 1 ] || rm -rf "$RUN"
echo "fabric down"
