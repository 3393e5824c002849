//go:build benchpprof

package main

import (
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof" // the profiling handlers, on http.DefaultServeMux only
	"os"
	"runtime"
	"strconv"
	"strings"
)

// A trustid built with -tags benchpprof serves net/http/pprof on the
// loopback address in TRUSTID_PPROF_ADDR, on a listener of its own (the
// node's routes use their own mux, which never carries these handlers),
// and prints the address it bound on stderr ("trustid: pprof listening
// on 127.0.0.1:PORT": port 0 picks one; cmd/trustid-bench reads it).
// scripts/soak.sh builds it so (SOAK_PPROF=1) to take heap profiles of
// the node during a soak; the trustid users run is built without the tag
// and has no such listener. TRUSTID_PPROF_BLOCK_RATE and
// TRUSTID_PPROF_MUTEX_FRACTION, when set, switch on the block and mutex
// profiles (runtime.SetBlockProfileRate, runtime.SetMutexProfileFraction)
// to find what serializes requests; both are off otherwise.
func init() {
	addr := os.Getenv("TRUSTID_PPROF_ADDR")
	if addr == "" {
		return
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "trustid: pprof listener:", err)
		os.Exit(1)
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
		fmt.Fprintln(os.Stderr, "trustid: TRUSTID_PPROF_ADDR must be a loopback address")
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "trustid: pprof listening on", ln.Addr())
	// Sample an allocation every 4 KiB on average (the default, 512 KiB,
	// misses most of a heap of a few MiB), unless GODEBUG=memprofilerate=N
	// chose a rate: CPU profiles want the default, since recording every
	// 4 KiB costs ~10 % of the CPU of an allocation-heavy route.
	if !strings.Contains(os.Getenv("GODEBUG"), "memprofilerate=") {
		runtime.MemProfileRate = 4096
	}
	block, mutex, err := contentionRates(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "trustid:", err)
		os.Exit(1)
	}
	runtime.SetBlockProfileRate(block)
	runtime.SetMutexProfileFraction(mutex)
	go http.Serve(ln, nil)
}

// contentionRates reads TRUSTID_PPROF_BLOCK_RATE and
// TRUSTID_PPROF_MUTEX_FRACTION through getenv: 0 when unset, an error
// naming the variable when not a non-negative integer.
func contentionRates(getenv func(string) string) (block, mutex int, err error) {
	read := func(name string) (int, error) {
		v := getenv(name)
		if v == "" {
			return 0, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%s %q: want a non-negative integer", name, v)
		}
		return n, nil
	}
	if block, err = read("TRUSTID_PPROF_BLOCK_RATE"); err != nil {
		return 0, 0, err
	}
	mutex, err = read("TRUSTID_PPROF_MUTEX_FRACTION")
	return block, mutex, err
}
