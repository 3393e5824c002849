package chaincode

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
)

// bindingValue returns a well-formed binding value (a version-1 credential
// ID encoding with one entry) made from seed.
func bindingValue(seed byte) string {
	raw := []byte{1, 0, seed, 2, 3, 4, 5, 6, 7, 8, 1, 0x1b, 0xfa, 0x19, 0xda, 0x86, 0x26, 0xbd, 0x41, 1, 0, 0, 7}
	for i := range 16 {
		raw = append(raw, seed+byte(i))
	}
	return base64.RawURLEncoding.EncodeToString(raw)
}

func bindingKey(seed byte) string { return strings.Repeat(string("0123456789abcdef"[seed%16])+"a", 32) }

func bindings(region string, bs ...CredentialBinding) BindingsInput {
	return BindingsInput{Region: region, Bindings: bs}
}

// TestBindCredentialIDs: a region binds keys once, a replay of the same
// binding is a no-op, and another value for a bound key is refused with
// ErrBindingExists naming the key, writing nothing (the new keys of the
// same transaction neither); the event lists what was written, and any
// region reads a binding.
func TestBindCredentialIDs(t *testing.T) {
	l := consortium(t)
	b1 := CredentialBinding{Key: bindingKey(1), Value: bindingValue(1)}
	b2 := CredentialBinding{Key: bindingKey(2), Value: bindingValue(2)}
	out := l.must(t, msp31, "BindCredentialIDs", js(t, bindings("310000", b1, b2)))
	var res BindingsResult
	if err := json.Unmarshal(out, &res); err != nil || res.Bound != 2 || res.Replayed != 0 {
		t.Fatalf("result %s %v", out, err)
	}
	if len(l.st.Events) != 1 || l.st.Events[0].Name != EventCredentialBindings {
		t.Fatalf("events %v", l.st.Events)
	}
	var ev BindingsEvent
	if err := json.Unmarshal(l.st.Events[0].Payload, &ev); err != nil || ev.Region != "310000" || len(ev.Bindings) != 2 || ev.Bindings[1] != b2 {
		t.Fatalf("event %s %v", l.st.Events[0].Payload, err)
	}

	// A replay writes nothing and emits nothing.
	before := maps.Clone(l.st.KV)
	out = l.must(t, msp31, "BindCredentialIDs", js(t, bindings("310000", b1)))
	if err := json.Unmarshal(out, &res); err != nil || res.Bound != 0 || res.Replayed != 1 || len(l.st.Events) != 0 || !maps.EqualFunc(before, l.st.KV, func(a, b []byte) bool { return string(a) == string(b) }) {
		t.Fatalf("replay: %s %v, %d events", out, err, len(l.st.Events))
	}

	// Another value for b1's key, with a new key beside it: refused as a
	// whole.
	other := CredentialBinding{Key: b1.Key, Value: bindingValue(9)}
	b3 := CredentialBinding{Key: bindingKey(3), Value: bindingValue(3)}
	_, err := l.call(msp31, "BindCredentialIDs", js(t, bindings("310000", b3, other)))
	if !errors.Is(err, ErrBindingExists) || !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate: %v", err)
	}
	if got := TakenKeys(err); len(got) != 1 || got[0] != b1.Key {
		t.Fatalf("taken keys %v from %v", got, err)
	}
	if got := TakenKeys(FromWire(WireMessage(err))); len(got) != 1 || got[0] != b1.Key {
		t.Fatalf("taken keys over the wire %v", got)
	}
	if !maps.EqualFunc(before, l.st.KV, func(a, b []byte) bool { return string(a) == string(b) }) {
		t.Fatal("a refused transaction wrote")
	}

	// Any region reads; the first value stands.
	var sb StoredBinding
	if err := json.Unmarshal(l.must(t, msp32, "GetCredentialBinding", "310000", b1.Key), &sb); err != nil || sb.Value != b1.Value || sb.Region != "310000" {
		t.Fatalf("stored %+v %v", sb, err)
	}
	if _, err := l.call(msp31, "GetCredentialBinding", "310000", b3.Key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("b3 written: %v", err)
	}
	// Bindings are per region: 320000 may bind the same key.
	l.must(t, msp32, "BindCredentialIDs", js(t, bindings("320000", other)))
}

// TestBindCredentialIDsBadInput: malformed arguments, another region's or
// an unknown region code, repeated keys and a caller that is not an
// active region are refused with their specific errors and write nothing.
func TestBindCredentialIDsBadInput(t *testing.T) {
	good := CredentialBinding{Key: bindingKey(1), Value: bindingValue(1)}
	many := make([]CredentialBinding, MaxBindings+1)
	for i := range many {
		many[i] = CredentialBinding{Key: strings.Repeat("0", 60) + strings.Repeat(string("0123456789abcdef"[i%16]), 1) + strings.Repeat(string("0123456789abcdef"[(i/16)%16]), 1) + strings.Repeat(string("0123456789abcdef"[(i/256)%16]), 2), Value: bindingValue(1)}
	}
	short := base64.RawURLEncoding.EncodeToString([]byte{1, 0, 1, 2})
	v2 := []byte(bindingValue(1))
	raw, _ := base64.RawURLEncoding.DecodeString(string(v2))
	raw[0] = 2
	cases := []struct {
		name, msp, arg string
		want           error
	}{
		{"not JSON", msp31, `{"region":"310000","bindings":[`, ErrInvalid},
		{"unknown member", msp31, `{"region":"310000","bindings":[],"x":1}`, ErrInvalid},
		{"no bindings", msp31, js(t, bindings("310000")), ErrInvalid},
		{"too many", msp31, js(t, bindings("310000", many...)), ErrInvalid},
		{"key upper case", msp31, js(t, bindings("310000", CredentialBinding{Key: strings.ToUpper(good.Key), Value: good.Value})), ErrInvalid},
		{"key short", msp31, js(t, bindings("310000", CredentialBinding{Key: good.Key[:62], Value: good.Value})), ErrInvalid},
		{"key is an ID", msp31, js(t, bindings("310000", CredentialBinding{Key: "urn:uuid:8c1f0a52-7f43-4a0e-9a51-0c7b6f8e2d11", Value: good.Value})), ErrInvalid},
		{"value empty", msp31, js(t, bindings("310000", CredentialBinding{Key: good.Key})), ErrInvalid},
		{"value padded", msp31, js(t, bindings("310000", CredentialBinding{Key: good.Key, Value: good.Value + "="})), ErrInvalid},
		{"value short", msp31, js(t, bindings("310000", CredentialBinding{Key: good.Key, Value: short})), ErrInvalid},
		{"value version 2", msp31, js(t, bindings("310000", CredentialBinding{Key: good.Key, Value: base64.RawURLEncoding.EncodeToString(raw)})), ErrInvalid},
		{"value too long", msp31, js(t, bindings("310000", CredentialBinding{Key: good.Key, Value: strings.Repeat("A", maxBindingValue+1)})), ErrInvalid},
		{"key repeated", msp31, js(t, bindings("310000", good, CredentialBinding{Key: good.Key, Value: bindingValue(2)})), ErrInvalid},
		{"another region", msp31, js(t, bindings("320000", good)), ErrForbidden},
		{"unknown region code", msp31, js(t, bindings("990000", good)), ErrUnknownRegion},
		{"not a region's MSP", "OrdererMSP", js(t, bindings("310000", good)), ErrUnknownCaller},
		{"region not admitted", msp44, js(t, bindings("440000", good)), ErrForbidden},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := consortium(t)
			before := maps.Clone(l.st.KV)
			_, err := l.call(c.msp, "BindCredentialIDs", c.arg)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if len(l.st.KV) != len(before) || len(l.st.Events) != 0 {
				t.Fatal("a refused binding wrote")
			}
		})
	}
	l := consortium(t)
	if _, err := l.call(msp31, "GetCredentialBinding", "310000", "urn:uuid:x"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("get with a malformed key: %v", err)
	}
	if _, err := l.call(msp31, "GetCredentialBinding", "310000"); !errors.Is(err, ErrArgumentsCount) {
		t.Fatalf("get with one argument: %v", err)
	}
}

// TestTakenKeysOtherErrors: only ErrBindingExists names taken keys.
func TestTakenKeysOtherErrors(t *testing.T) {
	if k := TakenKeys(errors.New("keys " + bindingKey(1))); k != nil {
		t.Fatalf("%v", k)
	}
	if k := TakenKeys(nil); k != nil {
		t.Fatalf("%v", k)
	}
}

// FuzzBindCredentialIDs: any argument is refused with a contract error
// writing nothing, or binds keys that are 64 hex digits to values of the
// checked form; a second call with the same argument is a replay.
func FuzzBindCredentialIDs(f *testing.F) {
	f.Add(`{"region":"310000","bindings":[{"key":"` + bindingKey(1) + `","value":"` + bindingValue(1) + `"}]}`)
	f.Add(`{"region":"310000","bindings":[{"key":"` + bindingKey(1) + `","value":"` + bindingValue(1) + `"},{"key":"` + bindingKey(1) + `","value":"` + bindingValue(2) + `"}]}`)
	f.Add(`{"region":"320000","bindings":[]}`)
	f.Add(`{"region":"310000","bindings":[{"key":"","value":"AQ"}]}`)
	f.Fuzz(func(t *testing.T, arg string) {
		l := consortium(t)
		before := maps.Clone(l.st.KV)
		out, err := l.call(msp31, "BindCredentialIDs", arg)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("not a contract error: %v", err)
			}
			if len(l.st.KV) != len(before) {
				t.Fatal("a refused call wrote")
			}
			return
		}
		var res BindingsResult
		if err := json.Unmarshal(out, &res); err != nil || res.Bound == 0 {
			t.Fatalf("result %s %v", out, err)
		}
		for k, v := range l.st.KV {
			if _, ok := before[k]; ok {
				continue
			}
			var sb StoredBinding
			if err := json.Unmarshal(v, &sb); err != nil || (CredentialBinding{Key: sb.Key, Value: sb.Value}).check() != nil || sb.Region != "310000" {
				t.Fatalf("stored %q: %s", k, v)
			}
		}
		if out, err = l.call(msp31, "BindCredentialIDs", arg); err != nil {
			t.Fatalf("replay: %v", err)
		}
		if err := json.Unmarshal(out, &res); err != nil || res.Bound != 0 {
			t.Fatalf("replay %s %v", out, err)
		}
	})
}

// FuzzTakenKeys: whatever an error message says, TakenKeys returns only
// 64-hex-digit keys, each once.
func FuzzTakenKeys(f *testing.F) {
	f.Add("keys " + bindingKey(1) + " " + bindingKey(2))
	f.Add("keys  x " + bindingKey(1) + bindingKey(1))
	f.Fuzz(func(t *testing.T, detail string) {
		got := TakenKeys(FromWire(WireMessage(fmt.Errorf("%w: %s", ErrBindingExists, detail))))
		seen := map[string]bool{}
		for _, k := range got {
			if !reHex256.MatchString(k) || seen[k] {
				t.Fatalf("key %q in %v", k, got)
			}
			seen[k] = true
		}
	})
}
