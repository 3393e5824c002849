package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestShutdownEndsLoginLongPoll: a login page's long poll (up to 25 s)
// in flight when the node stops answers "pending" at once (the page
// polls again, through the balancer, on another instance) instead of
// holding the drain to its end: the node stops promptly and its
// background work (the last audit anchor) is waited for
// (docs/operations.md, "Stopping an instance").
func TestShutdownEndsLoginLongPoll(t *testing.T) {
	f := newEnrollFixture(t, "--shutdown-timeout", "8s")
	a := f.addLoginRP("shop-web", "shopweb.example").start(t)
	type answer struct {
		status int
		body   map[string]string
		err    error
	}
	polled := make(chan answer, 1)
	go func() {
		resp, err := a.browser.Get(a.waitURL)
		if err != nil {
			polled <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		var m map[string]string
		err = json.NewDecoder(resp.Body).Decode(&m)
		polled <- answer{status: resp.StatusCode, body: m, err: err}
	}()
	time.Sleep(500 * time.Millisecond) // the poll is waiting
	start := time.Now()
	f.node.Stop()
	took := time.Since(start)
	select {
	case got := <-polled:
		if got.err != nil || got.status != 200 || got.body["status"] != "pending" {
			t.Errorf("the long poll answered %d %v (%v), want 200 pending", got.status, got.body, got.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the long poll is still open after the node stopped")
	}
	if took > 4*time.Second {
		t.Errorf("the node took %v to stop: the long poll held its drain", took)
	}
	if logs := f.logs.String(); strings.Contains(logs, "did not finish within the drain time") {
		t.Errorf("the node did not wait for its background work:\n%s", logs)
	}
}
