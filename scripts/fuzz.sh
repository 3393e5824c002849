#!/usr/bin/env bash
# Runs every fuzz target of the repository briefly: one
# `go test -run '^$' -fuzz '^Name$' -fuzztime $FUZZTIME` per target, since
# -fuzz takes one target per package. Targets are found by name
# (func FuzzX in *_test.go), so a new one is run without editing this file.
#
#   ./scripts/fuzz.sh                 # every target, 3s each
#   FUZZTIME=30s ./scripts/fuzz.sh    # longer
#   FUZZTIME=500x ./scripts/fuzz.sh   # a number of executions instead
#   ./scripts/fuzz.sh 'qrcode|Strict' # only targets whose "dir Name" matches
#
# A target that fails (a crasher, or a property it checks) is reported with
# its output and the file where Go saved the failing input (under the
# package's testdata/fuzz/<Name>/; from then on plain `go test` replays it).
# The script runs every target, then exits 1 if any failed.
set -euo pipefail
cd "$(dirname "$0")/.."

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
trap 'rm -f "$log"' EXIT
while read -r dir name; do
  printf 'fuzz: %-40s %s ... ' "$dir" "$name"
  start=$SECONDS
  # cd into the package: it may belong to another module (tools/).
  if (cd "$dir" && go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" .) >"$log" 2>&1; then
    echo "ok ($((SECONDS - start))s)"
  else
    echo "FAIL"
    failed+=("$dir $name")
    echo "---- $dir $name output ----"
    cat "$log"
    grep -h 'Failing input written to' "$log" | sed "s#^.*Failing input written to #    crasher: $dir/#" || true
    echo "---- end of $dir $name ----"
  fi
done <<<"$targets"

if [ ${#failed[@]} -gt 0 ]; then
  echo
  echo "fuzz: ${#failed[@]} of $count targets FAILED:"
  printf '    %s\n' "${failed[@]}"
  echo "fuzz: reproduce with: (cd <dir> && go test -run '<Name>/<crasher file>' .)"
  exit 1
fi
echo "fuzz: all $count targets passed"
