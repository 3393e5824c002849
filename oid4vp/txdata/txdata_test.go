package txdata

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// TestParse: good objects round-trip; each bad one is refused with its
// sentinel.
func TestParse(t *testing.T) {
	good := &Item{Type: TypeConfirmation, CredentialIDs: []string{"pid"}, Summary: "向 商店 支付 ¥120.00"}
	enc, err := Encode(good)
	if err != nil {
		t.Fatal(err)
	}
	it, err := Parse(enc)
	if err != nil || it.Summary != good.Summary || it.CredentialIDs[0] != "pid" {
		t.Fatalf("%+v %v", it, err)
	}
	if a, err := it.Alg(); a != HashSHA256 || err != nil {
		t.Fatalf("default alg %q %v", a, err)
	}
	// The known answer: base64url(SHA-256("abc")).
	if h, _ := Hash("abc", HashSHA256); h != "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0" {
		t.Fatalf("hash %s", h)
	}
	if _, err := Hash("abc", "sha-384"); !errors.Is(err, ErrUnsupportedAlg) {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, json string
		want       error
	}{
		{"other type", `{"type":"payment","credential_ids":["pid"],"amount":3}`, ErrUnsupportedType},
		{"no type", `{"credential_ids":["pid"],"summary":"x"}`, ErrInvalid},
		{"type not a string", `{"type":1,"credential_ids":["pid"],"summary":"x"}`, ErrInvalid},
		{"unknown member", `{"type":"` + TypeConfirmation + `","credential_ids":["pid"],"summary":"x","amount":1}`, ErrInvalid},
		{"no credential_ids", `{"type":"` + TypeConfirmation + `","summary":"x"}`, ErrInvalid},
		{"empty credential_ids", `{"type":"` + TypeConfirmation + `","credential_ids":[],"summary":"x"}`, ErrInvalid},
		{"repeated id", `{"type":"` + TypeConfirmation + `","credential_ids":["a","a"],"summary":"x"}`, ErrInvalid},
		{"no summary", `{"type":"` + TypeConfirmation + `","credential_ids":["pid"]}`, ErrInvalid},
		{"control in summary", `{"type":"` + TypeConfirmation + `","credential_ids":["pid"],"summary":"a\u0007b"}`, ErrInvalid},
		{"long summary", `{"type":"` + TypeConfirmation + `","credential_ids":["pid"],"summary":"` + strings.Repeat("x", MaxSummary+1) + `"}`, ErrInvalid},
		{"only sha-384", `{"type":"` + TypeConfirmation + `","credential_ids":["pid"],"summary":"x","transaction_data_hashes_alg":["sha-384"]}`, ErrUnsupportedAlg},
		{"empty algs", `{"type":"` + TypeConfirmation + `","credential_ids":["pid"],"summary":"x","transaction_data_hashes_alg":[]}`, ErrInvalid},
		{"duplicate member", `{"type":"` + TypeConfirmation + `","credential_ids":["pid"],"summary":"x","summary":"y"}`, ErrInvalid},
		{"array", `[]`, ErrInvalid},
	} {
		if _, err := Parse(b64(c.json)); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := Parse(enc + "="); !errors.Is(err, ErrInvalid) {
		t.Errorf("padded: %v", err)
	}
	if _, err := Parse(strings.Repeat("A", 8<<10)); !errors.Is(err, ErrInvalid) {
		t.Errorf("long: %v", err)
	}
	withAlg := `{"type":"` + TypeConfirmation + `","credential_ids":["pid"],"summary":"x","transaction_data_hashes_alg":["sha-384","sha-256"]}`
	if it, err := Parse(b64(withAlg)); err != nil || len(it.HashAlgs) != 2 {
		t.Errorf("two algorithms: %v", err)
	}
}

// TestParseRequest: the request's array and its credential ids.
func TestParseRequest(t *testing.T) {
	enc, _ := Encode(&Item{Type: TypeConfirmation, CredentialIDs: []string{"pid", "other"}, Summary: "ok"})
	if _, items, err := ParseRequest([]any{enc}, []string{"pid", "other"}); err != nil || len(items) != 1 {
		t.Fatal(err)
	}
	for name, v := range map[string]any{
		"not an array": enc, "empty": []any{}, "not strings": []any{1.0},
		"too many":         []any{enc, enc, enc, enc, enc, enc, enc, enc, enc},
		"unknown query id": []any{enc},
	} {
		ids := []string{"pid", "other"}
		if name == "unknown query id" {
			ids = []string{"pid"}
		}
		if _, _, err := ParseRequest(v, ids); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// FuzzParse: any string is parsed or refused with a sentinel, never a
// panic; what parses encodes again.
func FuzzParse(f *testing.F) {
	enc, _ := Encode(&Item{Type: TypeConfirmation, CredentialIDs: []string{"pid"}, Summary: "pay 1"})
	f.Add(enc)
	f.Add(b64(`{"type":"payment","credential_ids":["pid"]}`))
	f.Add(b64(`{"type":"` + TypeConfirmation + `","credential_ids":["a","b"],"summary":"x","transaction_data_hashes_alg":["sha-256"]}`))
	f.Add("")
	f.Add("!!")
	f.Fuzz(func(t *testing.T, s string) {
		it, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrUnsupportedType) && !errors.Is(err, ErrUnsupportedAlg) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if _, err := Encode(it); err != nil {
			t.Fatalf("parsed but does not encode: %v", err)
		}
	})
}
