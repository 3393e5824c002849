package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/api"
	"github.com/trustid-cn/trustid/holder"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/internal/testnode"
	"github.com/trustid-cn/trustid/internal/testredis"
)

// checkJSONObject decodes one JSON value and fails on a key repeated in
// any object: a log pipeline keeps one of two equal keys, often the wrong
// one.
func checkJSONObject(line []byte) error {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	if err := walkValue(dec); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data after the object")
	}
	return nil
}

func walkValue(dec *json.Decoder) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return err
			}
			key := k.(string)
			if seen[key] {
				return fmt.Errorf("key %q repeated", key)
			}
			seen[key] = true
			if err := walkValue(dec); err != nil {
				return err
			}
		}
		_, err = dec.Token()
		return err
	case json.Delim('['):
		for dec.More() {
			if err := walkValue(dec); err != nil {
				return err
			}
		}
		_, err = dec.Token()
		return err
	}
	return nil
}

// TestLogLinesAreStrictJSON runs an enrollment at L4 with a PIN, a PIN
// check, an online QR code and its redemption on a node logging JSON, and
// parses every line the node wrote with a duplicate-key check: no
// attribute may shadow slog's time, level, msg or source.
func TestLogLinesAreStrictJSON(t *testing.T) {
	f := newEnrollFixture(t)
	p := newPerson(t, "11010519900307123", "张三")
	att, err := f.terminal.Attest(p.doc, p.name, p.device.Public(), identity.Liveness{Method: identity.LivenessFaceMatch, Passed: true, Score: 0.95}, true)
	if err != nil {
		t.Fatal(err)
	}
	code, r, m := f.enroll(f.enrollBody(p, att, "135790", nil))
	if code != 201 || r.AssuranceLevel != "L4" {
		t.Fatalf("enroll: %d %v", code, m)
	}
	proof, err := holder.NewDeviceProof(p.device, f.base, time.Now(), rand.Text())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]string{"binding_credential": r.BindingCredential.Credential, "device_proof": proof, "pin": "135790"})
	if c, m, _ := f.do("POST", api.PINCheckPath, "", "application/json", string(b)); c != 200 {
		t.Fatalf("PIN check: %d %v", c, m)
	}
	c, qr := f.onlineCode(p.device, r.QRBinding, "age_over_18")
	if c != 201 {
		t.Fatalf("QR code: %d %v", c, qr)
	}
	if c, m := f.redeem(f.hotelTok, qr["code"].(string)); c != 200 {
		t.Fatalf("redeem: %d %v", c, m)
	}
	// Stopped first: the access log is buffered and written out at shutdown,
	// so the scan reads every line the node wrote.
	f.stop()
	lines := strings.Split(strings.TrimSpace(f.logs.String()), "\n")
	kinds := map[string]bool{}
	for _, line := range lines {
		if err := checkJSONObject([]byte(line)); err != nil {
			t.Errorf("log line %s: %v", line, err)
			continue
		}
		var rec map[string]any
		json.Unmarshal([]byte(line), &rec)
		kinds[fmt.Sprint(rec["msg"])] = true
	}
	for _, msg := range []string{"enrolled", "pin verified", "http"} {
		if !kinds[msg] {
			t.Errorf("no %q line among %d lines: %v", msg, len(lines), kinds)
		}
	}
}

// TestAccessLogFlush: the node's request lines reach its log without a
// shutdown, within --access-log-flush; with 0 each is there when the
// response is; a negative interval is refused.
func TestAccessLogFlush(t *testing.T) {
	t.Setenv("TRUSTID_KEK", testKEK)
	for _, every := range []string{"100ms", "0"} {
		n := testnode.Start(t, serveMain, "--data", t.TempDir(), "--access-log-flush", every)
		if code, _ := get(t, n.Base+"/healthz"); code != 200 {
			t.Fatalf("healthz: %d", code)
		}
		line := `"route":"GET /healthz","status":200`
		if every == "0" && !strings.Contains(n.Logs.String(), line) {
			t.Errorf("--access-log-flush 0: no request line once answered:\n%s", n.Logs.String())
		}
		waitFor(t, func() bool { return strings.Contains(n.Logs.String(), line) }, "the request line with --access-log-flush "+every)
		n.Stop()
	}
	if _, _, err := run(t, context.Background(), "serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0", "--access-log-flush", "-1s"); err == nil || !strings.Contains(err.Error(), "--access-log-flush") {
		t.Errorf("a negative interval: %v", err)
	}
}

// TestRedisClientLogsAreJSON: with Redis gone, go-redis's own complaints
// (a failed dial) reach the node's log as lines of its format: before,
// go-redis wrote them as plain text on the process's stderr, in the
// middle of a JSON log.
func TestRedisClientLogsAreJSON(t *testing.T) {
	t.Setenv("TRUSTID_KEK", testKEK)
	rs := testredis.StartServer(t)
	n := testnode.Start(t, serveMain, "--data", t.TempDir(), "--redis-url", "redis://"+rs.Addr, "--access-log-flush", "0")
	rs.Kill()
	waitFor(t, func() bool {
		code, _ := get(t, n.Base+"/readyz")
		return code == 503 && strings.Contains(n.Logs.String(), `"msg":"redis client"`)
	}, "/readyz 503 and go-redis's dial failure in the node's log")
	n.Stop()
	for _, line := range strings.Split(strings.TrimSpace(n.Logs.String()), "\n") {
		if err := checkJSONObject([]byte(line)); err != nil {
			t.Errorf("log line %s: %v", line, err)
		}
	}
}

// TestWakeFailureLogged: a node whose Redis user may not use the wake
// channel (an ACL without &trustid:REGION:wake) starts, serves, and
// says in its log why its login polls are not woken across instances,
// naming the channel and Redis's refusal.
func TestWakeFailureLogged(t *testing.T) {
	t.Setenv("TRUSTID_KEK", testKEK)
	rs := testredis.StartServer(t)
	admin := testredis.Client(t, rs.Addr)
	if err := admin.Do(t.Context(), "ACL", "SETUSER", "nowake", "on", ">secret", "~*", "resetchannels", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	n := testnode.Start(t, serveMain, "--data", t.TempDir(), "--redis-url", "redis://nowake:secret@"+rs.Addr, "--access-log-flush", "0")
	if code, _ := get(t, n.Base+"/readyz"); code != 200 {
		t.Errorf("/readyz %d with the wake channel refused, want 200", code)
	}
	n.Stop()
	var found bool
	for _, line := range strings.Split(strings.TrimSpace(n.Logs.String()), "\n") {
		if strings.Contains(line, `"msg":"redis: the wake subscription failed`) {
			found = strings.Contains(line, `"level":"WARN"`) && strings.Contains(line, "NOPERM") && strings.Contains(line, `"channel":"trustid:`)
		}
	}
	if !found {
		t.Errorf("no warning naming the refusal and the channel:\n%s", n.Logs.String())
	}
}
