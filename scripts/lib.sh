# Shared by scripts/test.sh and scripts/fabric/*.sh (source it first; not
# for interactive shells: it sets -e and an ERR trap that exits).
#
# No failure is silent: a command that fails prints, on standard output, the
# step it belongs to, the command, and the last lines of the step's log.
#
#   run_step [-t] NAME LOG -- CMD...   run CMD, its output appended to LOG
#                                      (-t: shown as well); on failure report
#                                      and exit with CMD's status
#   step NAME [LOG]                    name what the next commands do, for
#                                      the ERR trap's report
#   fail MESSAGE                       report a failure found by the script
#   step_took NAME T0                  print (and, with STEP_TIMES set,
#                                      record) a step's seconds since T0
#   wait_for WHAT TIMEOUT_S CMD...     poll CMD until it succeeds
#   retry_on REGEX TRIES CMD...        rerun CMD with backoff while it fails
#                                      with output matching REGEX
# Functions run as CMD must return their failures explicitly: bash ignores
# `set -e` inside a command whose status is tested.
set -Eeuo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/toolchain.sh"

STEP=${STEP:-} STEP_LOG=${STEP_LOG:-}
LOG_TAIL=${LOG_TAIL:-25}

# fail_report STATUS WHERE COMMAND [OFFSET]: the report of a failed step.
# With OFFSET (the log's size before COMMAND ran) it first quotes the error
# lines of COMMAND's own output, which a long tail (a usage text) can hide.
fail_report() {
  printf '\nFAILED in %s: step "%s" (exit status %s)\n' "$2" "${STEP:-(unnamed)}" "$1"
  printf '  command: %s\n' "$3"
  if [ -n "$STEP_LOG" ] && [ -s "$STEP_LOG" ]; then
    local errors=
    if [ -n "${4:-}" ]; then
      errors=$(tail -c +"$(($4 + 1))" "$STEP_LOG" | grep -m 5 -E '(^|[^[:alpha:]])(Error|ERROR|error|FATAL|panic)' || true)
    fi
    if [ -n "$errors" ]; then
      printf '  its error lines:\n'
      sed 's/^/  | /' <<<"$errors"
    fi
    printf '  last %s lines of %s:\n' "$LOG_TAIL" "$STEP_LOG"
    tail -n "$LOG_TAIL" "$STEP_LOG" | sed 's/^/  | /'
  elif [ -n "$STEP_LOG" ]; then
    printf '  (its log %s is empty)\n' "$STEP_LOG"
  fi
}

# The report of a failure outside run_step. Only the top-level shell
# reports: a failing subshell is reported once, as the subshell's command.
_on_err() {
  local rc=$? cmd=$BASH_COMMAND
  trap - ERR
  if [ "$BASH_SUBSHELL" -eq 0 ]; then
    fail_report "$rc" "${BASH_SOURCE[1]:-$0}:${BASH_LINENO[0]}" "$cmd"
  fi
  exit "$rc"
}
trap _on_err ERR

step() { STEP=$1 STEP_LOG=${2:-}; }

# fail MESSAGE...: report a failure the script found itself, and exit 1.
fail() {
  printf '\nFAILED in %s: step "%s"\n  %s\n' "${BASH_SOURCE[1]:-$0}:${BASH_LINENO[0]}" "${STEP:-(unnamed)}" "$*"
  if [ -n "$STEP_LOG" ] && [ -s "$STEP_LOG" ]; then
    printf '  last %s lines of %s:\n' "$LOG_TAIL" "$STEP_LOG"
    tail -n "$LOG_TAIL" "$STEP_LOG" | sed 's/^/  | /'
  fi
  exit 1
}

run_step() {
  local show=
  if [ "$1" = -t ]; then show=1; shift; fi
  STEP=$1 STEP_LOG=$2
  shift 2
  [ "${1:-}" = -- ] && shift
  mkdir -p "$(dirname "$STEP_LOG")"
  local rc=0 offset t0
  offset=$(stat -c %s "$STEP_LOG" 2>/dev/null || echo 0)
  t0=$(now)
  if [ -n "$show" ]; then
    { "$@" 2>&1 | tee -a "$STEP_LOG"; rc=${PIPESTATUS[0]}; } || true
  else
    "$@" >>"$STEP_LOG" 2>&1 || rc=$?
  fi
  if [ "$rc" -ne 0 ]; then
    fail_report "$rc" "${BASH_SOURCE[1]:-$0}:${BASH_LINENO[0]}" "$(printf '%q ' "$@")" "$offset"
    exit "$rc"
  fi
  step_took "$STEP" "$t0"
}

# step_took NAME T0: prints how long the step NAME took since T0 (now's
# form) and, when STEP_TIMES names a file, appends "NAME<TAB>SECONDS" to it.
step_took() {
  local secs
  secs=$(elapsed "$2")
  printf '(%s: %ss)\n' "$1" "$secs"
  if [ -n "${STEP_TIMES:-}" ]; then printf '%s\t%s\n' "$1" "$secs" >>"$STEP_TIMES"; fi
}

# wait_for WHAT TIMEOUT_S CMD...: polls CMD (every 0.1 s, backing off to
# 1 s) until it succeeds; after TIMEOUT_S, or at once if CMD exits 125
# (it can never succeed), it prints what CMD said last and fails.
wait_for() {
  local what=$1 timeout=$2 t0 delay=0.1 out rc
  shift 2
  t0=$(now)
  while :; do
    rc=0
    out=$("$@" 2>&1) || rc=$?
    [ "$rc" -eq 0 ] && break
    if [ "$rc" -eq 125 ] || awk -v a="$t0" -v b="$(now)" -v t="$timeout" 'BEGIN { exit !(b - a >= t) }'; then
      printf 'wait_for: %s: not after %ss; the last check (%s) said:\n%s\n' "$what" "$(elapsed "$t0")" "$*" "$out"
      return 1
    fi
    sleep "$delay"
    delay=$(awk -v d="$delay" 'BEGIN { d *= 1.5; print (d > 1 ? 1 : d) }')
  done
  printf 'wait_for: %s after %ss\n' "$what" "$(elapsed "$t0")"
}

# retry_on REGEX TRIES CMD...: runs CMD; while it fails with output matching
# REGEX (a transient refusal), runs it again after 0.5, 1, 2, 4... s, at
# most TRIES times in all. Any other failure is returned at once.
retry_on() {
  local regex=$1 tries=$2 i=1 delay=0.5 out rc
  shift 2
  while :; do
    rc=0
    out=$("$@" 2>&1) || rc=$?
    printf '%s\n' "$out"
    [ "$rc" -eq 0 ] && return 0
    if [ "$i" -ge "$tries" ] || ! grep -qE "$regex" <<<"$out"; then return "$rc"; fi
    printf 'retry_on: attempt %s of %s failed (%s); again in %ss\n' "$i" "$tries" "$regex" "$delay"
    sleep "$delay"
    delay=$(awk -v d="$delay" 'BEGIN { print d * 2 }')
    i=$((i + 1))
  done
}

# port_open PORT: succeeds if something listens on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
