# Sourced by the checks that run a Go tool at a pinned version
# (scripts/deadcode.sh, scripts/vulncheck.sh), after scripts/toolchain.sh.
#
#   go_tool CMD_PATH VERSION   install golang.org/... CMD_PATH@VERSION once
#                              and set TOOL to the binary's path
#   go_outside ARGS...         run the go command outside the module
#   not_run MESSAGE            say the check did not run; exit 0, or 2
#                              when CI is set: a missing component fails CI
#
# Tools live in $TRUSTID_TOOLS (default ~/.cache/trustid-tools), one
# directory per tool, version and Go. They are built by the Go of go.mod's
# toolchain line: the analysers type-check the standard library of the Go
# that built them, so it must be the one the module is built with.

TOOLS=${TRUSTID_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/trustid-tools}
GOVERSION=$(go env GOVERSION)

not_run() {
  echo "$(basename "$0" .sh) NOT RUN: $*" >&2
  if [ -n "${CI:-}" ]; then exit 2; fi
  exit 0
}

# Outside the module, so our go.mod is neither read nor changed, and with
# go.mod's Go, which the go command would otherwise not pick there.
go_outside() {
  mkdir -p "$TOOLS"
  (cd "$TOOLS" && GOTOOLCHAIN=$GOVERSION GOFLAGS= go "$@")
}

go_tool() {
  local name
  name=$(basename "$1")
  local bin=$TOOLS/$name@$2-$GOVERSION
  TOOL=$bin/$name
  if [ ! -x "$TOOL" ]; then
    echo "installing $name $2 into $bin"
    mkdir -p "$bin"
    GOBIN=$bin go_outside install "$1@$2" ||
      not_run "cannot install $1@$2 from the Go module proxy"
  fi
}
