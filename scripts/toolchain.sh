# Sourced by every script that runs the go command (and mirrored in the
# Makefile): build, test, benchmark and vet with the Go toolchain go.mod's
# `toolchain` line names, which the go command fetches from the module
# proxy (golang.org/toolchain) on first use, whatever the machine's Go
# defaults to (its go.env may say GOTOOLCHAIN=local). A newer local Go is
# used as is. The toolchain line is what scripts/vulncheck.sh needs clean:
# older standard libraries have known vulnerabilities our code reaches.
export GOTOOLCHAIN=auto
