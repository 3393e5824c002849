#!/usr/bin/env bash
# Runs every fuzz target of the repository briefly, as
# `go test -run '^$' -fuzz '^Name$' -fuzztime $FUZZTIME` would, one target
# at a time (-fuzz takes one), but each package's test binary is built
# once, with the fuzzing instrumentation (`go test -c -fuzz`), and run
# once per target with its corpus cache where go test keeps it (a go test
# per target spent about 3 s of each target's 5 s linking and starting;
# 117 targets at 2s: 455 s instead of 573 s). Targets are found by
# name (func FuzzX in *_test.go), so a new one is run without editing this
# file.
#
#   ./scripts/fuzz.sh                 # every target, 3s each
#   FUZZTIME=30s ./scripts/fuzz.sh    # longer
#   FUZZTIME=500x ./scripts/fuzz.sh   # a number of executions instead
#   ./scripts/fuzz.sh 'qrcode|strictjson' # only targets whose "dir Name" matches
#
# A target that fails (a crasher, or a property it checks), or that the
# package's test binary lacks (go test would pass it unrun), is reported with
# its output and the file where Go saved the failing input (under the
# package's testdata/fuzz/<Name>/; from then on plain `go test` replays it).
# The script runs every target, then exits 1 if any failed. (Go before 1.27
# could end a duration-bound run with a bare "context deadline exceeded" on a
# loaded machine, go.dev/issue/75804; the toolchain scripts/toolchain.sh
# selects has the fix, so such a run is a failure like any other.)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/toolchain.sh

fuzztime=${FUZZTIME:-3s}

# "dir name" per target, sorted.
targets=$(grep -rn --include='*_test.go' --exclude-dir=testdata --exclude-dir=.git -E '^func Fuzz[A-Za-z0-9_]*\(' . |
  while IFS=: read -r file _ decl; do
    name=${decl#func }
    printf '%s %s\n' "$(dirname "$file")" "${name%%(*}"
  done | sort -u | grep -E -- "${1:-.}" || true)
if [ -z "$targets" ]; then
  echo "fuzz: no fuzz targets found${1:+ matching $1}" >&2
  exit 1
fi
count=$(printf '%s\n' "$targets" | wc -l)
echo "fuzz: $count targets, $fuzztime each"

failed=()
log=$(mktemp)

bins=$(mktemp -d)
trap 'rm -f "$log"; rm -rf "$bins"' EXIT
built= bin= cache=
while read -r dir name; do
  printf 'fuzz: %-40s %s ... ' "$dir" "$name"
  start=$SECONDS
  result=
  if [ "$dir" != "$built" ]; then
    # cd into the package: it may belong to another module (tools/).
    built=$dir bin="$bins/$(echo "$dir" | tr / _).test"
    if ! (cd "$dir" && go test -c -o "$bin" -fuzz "^${name}\$" . &&
      echo "$(go env GOCACHE)/fuzz/$(go list -f '{{.ImportPath}}' .)" >"$bin.cache") >"$log" 2>&1; then
      rm -f "$bin"
    fi
    cache=$(cat "$bin.cache" 2>/dev/null || true)
  fi
  # A -fuzz that matches nothing passes (a target in a file a build
  # constraint leaves out): the target must be in the binary.
  if [ -x "$bin" ] && [ "$(cd "$dir" && "$bin" -test.list "^${name}\$" 2>&1)" != "$name" ]; then
    echo "fuzz: $name is not in $dir's test binary (a build constraint?): it cannot run" >"$log"
    result=FAIL
  fi
  # Without a binary, the package's test binary did not build: $log says why.
  if [ -z "$result" ] && [ -x "$bin" ] && (cd "$dir" && "$bin" -test.run '^$' -test.fuzz "^${name}\$" -test.fuzztime "$fuzztime" \
    -test.fuzzcachedir "$cache" -test.timeout 10m -test.paniconexit0) >"$log" 2>&1; then
    result=ok
  fi
  case $result in
  ok)
    echo "ok ($((SECONDS - start))s)"
    ;;
  *)
    echo "FAIL"
    failed+=("$dir $name")
    echo "---- $dir $name output ----"
    cat "$log"
    grep -h 'Failing input written to' "$log" | sed "s#^.*Failing input written to #    crasher: $dir/#" || true
    echo "---- end of $dir $name ----"
    ;;
  esac
done <<<"$targets"

if [ ${#failed[@]} -gt 0 ]; then
  echo
  echo "fuzz: ${#failed[@]} of $count targets FAILED:"
  printf '    %s\n' "${failed[@]}"
  echo "fuzz: replay with: (cd <dir> && go test -run '^<Name>$' .) — it runs the seeds and any saved crasher"
  exit 1
fi
echo "fuzz: all $count targets passed"
