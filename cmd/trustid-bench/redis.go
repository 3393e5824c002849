package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"time"

	"github.com/trustid-cn/trustid/internal/heldport"
)

// startRedis runs redis-server on a loopback port, without persistence,
// with its files in dir, until stop is called. redis-server cannot bind
// port 0 and report the port, so the port is held (heldport.Hold) from
// before redis-server starts until it is stopped: no other socket takes
// it in between.
func startRedis(ctx context.Context, dir string) (addr, pid string, stop func(), err error) {
	held, release, err := heldport.Hold()
	if err != nil {
		return "", "", nil, err
	}
	_, portText, _ := net.SplitHostPort(held)
	port, _ := strconv.Atoi(portText)
	addr, pid, stopRedis, err := startRedisOn(ctx, dir, port)
	if err != nil {
		release()
		return "", "", nil, err
	}
	return addr, pid, func() { stopRedis(); release() }, nil
}

// startRedisOn is startRedis on a given port, held by the caller (a
// restart reuses the port).
func startRedisOn(ctx context.Context, dir string, port int) (addr, pid string, stop func(), err error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", "", nil, errors.New("-redis: redis-server not found (apt-get install redis-server)")
	}
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return "", "", nil, err
	}
	stop = func() { cmd.Process.Kill(); cmd.Wait() }
	addr = "127.0.0.1:" + strconv.Itoa(port)
	for deadline := time.Now().Add(10 * time.Second); ctx.Err() == nil; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr, strconv.Itoa(cmd.Process.Pid), stop, nil
		}
		if time.Now().After(deadline) {
			break
		}
	}
	stop()
	return "", "", nil, fmt.Errorf("redis-server did not listen on %s", addr)
}
