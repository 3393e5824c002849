#!/usr/bin/env bash
# Runs every fuzz target of the repository briefly, as
# `go test -run '^$' -fuzz '^Name$' -fuzztime $FUZZTIME` would, but each
# package's test binary is built once, with the fuzzing instrumentation
# (`go test -c -fuzz`; the package with the most dependencies first, then
# FUZZBUILDJOBS, default 2, at once), and run once per target with its corpus cache where
# go test keeps it (a go test per target spent about 3 s of each target's
# 5 s linking and starting), and FUZZJOBS targets run at once (default: one
# per core), each with one fuzzing worker: a target's start (its workers,
# the run of its corpus) no longer leaves a core idle; the fuzzing CPU time
# is the same. Targets are found by name (func FuzzX in *_test.go), so a
# new one is run without editing this file.
#
#   ./scripts/fuzz.sh                 # every target, 3s each
#   FUZZTIME=30s ./scripts/fuzz.sh    # longer
#   FUZZTIME=500x ./scripts/fuzz.sh   # a number of executions instead
#   FUZZJOBS=1 ./scripts/fuzz.sh      # one target at a time
#   FUZZBUILDJOBS=1 ./scripts/fuzz.sh # one test binary built at a time
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

bins=$(mktemp -d)
trap 'rm -rf "$bins"' EXIT

# build DIR: DIR's instrumented test binary, $bins/<DIR with _ for />.test,
# with the directory of its corpus cache in <binary>.cache and the build's
# output in <binary>.log; no .cache file when the build failed.
build() {
  local dir=$1 name b
  name=$(printf '%s\n' "$targets" | awk -v d="$dir" '$1 == d { print $2; exit }')
  b="$bins/$(echo "$dir" | tr / _).test"
  # cd into the package: it may belong to another module (tools/).
  (cd "$dir" && go test -c -o "$b" -fuzz "^${name}\$" . &&
    echo "$(go env GOCACHE)/fuzz/$(go list -f '{{.ImportPath}}' .)" >"$b.cache") >"$b.log" 2>&1 || rm -f "$b.cache"
}
export -f build
export targets bins

# Build each package's instrumented test binary once: first, alone, the
# package with the most dependencies (the instrumented standard library
# and modules most others share, which two builds at once would both
# compile), then the others FUZZBUILDJOBS (default 2) at a time: one
# build's linking and loading leave a core idle that another's compiling
# takes. On 2 cores (busy with other work), 6 packages' binaries with an
# empty GOCACHE: 8m12s and 11m30s one at a time (two runs), 9m06s two at
# a time from the start, 4m56s so (README, "./scripts/fuzz.sh").
dirs=$(printf '%s\n' "$targets" | cut -d' ' -f1 | uniq)
first=$(go list -e -f '{{len .Deps}} {{.Dir}}' $dirs | sort -rn |
  awk -v pwd="$PWD/" 'NR == 1 { print index($2, pwd) == 1 ? "./" substr($2, length(pwd) + 1) : $2 }')
grep -qxF -- "$first" <<<"$dirs" || first=$(head -1 <<<"$dirs")
build "$first"
{ grep -vxF -- "$first" <<<"$dirs" || true; } | xargs -r -P "${FUZZBUILDJOBS:-2}" -I{} bash -c 'build "$1"' _ {}
declare -A bin=() cache=()
for dir in $dirs; do
  b="$bins/$(echo "$dir" | tr / _).test"
  if [ -f "$b.cache" ]; then
    bin[$dir]=$b cache[$dir]=$(cat "$b.cache")
  else
    bin[$dir]= cache[$dir]=
  fi
done

# fuzz_one DIR NAME LOG: one target, one fuzzing worker; exits 0 if it passed.
fuzz_one() {
  local dir=$1 name=$2 log=$3 b=${bin[$1]}
  # Without a binary, the package's test binary did not build: its log says why.
  if [ -z "$b" ]; then
    cat "$bins/$(echo "$dir" | tr / _).test.log" >"$log"
    return 1
  fi
  # A -fuzz that matches nothing passes (a target in a file a build
  # constraint leaves out): the target must be in the binary.
  if [ "$(cd "$dir" && "$b" -test.list "^${name}\$" 2>&1)" != "$name" ]; then
    echo "fuzz: $name is not in $dir's test binary (a build constraint?): it cannot run" >"$log"
    return 1
  fi
  (cd "$dir" && "$b" -test.run '^$' -test.fuzz "^${name}\$" -test.fuzztime "$fuzztime" \
    -test.parallel 1 -test.fuzzcachedir "${cache[$dir]}" -test.timeout 10m -test.paniconexit0) >"$log" 2>&1
}

# Run FUZZJOBS targets at once (default: one per core), each with one
# worker, and report each as it ends.
jobs_max=${FUZZJOBS:-$(nproc)}
declare -A running=()
i=0
report() {
  local pid=$1 rc=$2 entry=${running[$1]}
  unset "running[$1]"
  local n=${entry%% *} rest=${entry#* }
  local dir=${rest%% *} name=${rest#* }
  local log="$bins/$n.log"
  if [ "$rc" = 0 ]; then
    printf 'fuzz: %-40s %s ... ok (%ss)\n' "$dir" "$name" "$(($(date +%s) - $(cat "$bins/$n.start")))"
  else
    printf 'fuzz: %-40s %s ... FAIL\n' "$dir" "$name"
    echo "$dir $name" >>"$bins/failed"
    echo "---- $dir $name output ----"
    cat "$log"
    grep -h 'Failing input written to' "$log" | sed "s#^.*Failing input written to #    crasher: $dir/#" || true
    echo "---- end of $dir $name ----"
  fi
}
wait_one() {
  local pid rc=0
  wait -n -p pid "${!running[@]}" || rc=$?
  report "$pid" "$rc"
}
while read -r dir name; do
  while [ ${#running[@]} -ge "$jobs_max" ]; do wait_one; done
  i=$((i + 1))
  date +%s >"$bins/$i.start"
  fuzz_one "$dir" "$name" "$bins/$i.log" &
  running[$!]="$i $dir $name"
done <<<"$targets"
while [ ${#running[@]} -gt 0 ]; do wait_one; done

failed=()
if [ -f "$bins/failed" ]; then mapfile -t failed <"$bins/failed"; fi
if [ ${#failed[@]} -gt 0 ]; then
  echo
  echo "fuzz: ${#failed[@]} of $count targets FAILED:"
  printf '    %s\n' "${failed[@]}"
  echo "fuzz: replay with: (cd <dir> && go test -run '^<Name>$' .) — it runs the seeds and any saved crasher"
  exit 1
fi
echo "fuzz: all $count targets passed"
