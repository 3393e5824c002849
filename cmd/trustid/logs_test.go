package main

import (
	"bytes"
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
