package ledger_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/ledger"
)

// FuzzBindingsEvent: a credential bindings event of any payload is
// refused, leaving the index as it was, or adds its region's bindings:
// those of an event as the chaincode emits them (each key once, with a
// value) are found by Lookup with their value.
func FuzzBindingsEvent(f *testing.F) {
	const region = "310000"
	f.Add([]byte(`{"region":"310000","bindings":[{"key":"k1","value":"v1"},{"key":"k2","value":"v2"}]}`))
	f.Add([]byte(`{"region":"320000","bindings":[{"key":"k1","value":"v1"}]}`))
	f.Add([]byte(`{"region":"310000","bindings":[{"key":"k1","value":"v1"},{"key":"","value":"v2"}]}`))
	f.Add([]byte(`{"region":"310000","bindings":[{"key":"k1","value":"v1"},{"key":"k1","value":"v2"}]}`))
	f.Add([]byte(`{"region":"310000","bindings":null}`))
	x, err := ledger.OpenBindingIndex(filepath.Join(f.TempDir(), "bindings.db"), region, failingReader{}, time.Millisecond)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { x.Close() })
	// A binding every run starts with: a refused event must leave it.
	if err := x.Add([]chaincode.CredentialBinding{{Key: "held", Value: "v0"}}); err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, payload []byte) {
		before := x.Len()
		err := x.ApplyEvent(ledger.Event{Name: chaincode.EventCredentialBindings, Payload: payload})
		var ev chaincode.BindingsEvent
		if err != nil {
			if x.Len() != before {
				t.Fatalf("refused event (%v) changed the index: %d bindings, had %d", err, x.Len(), before)
			}
			return
		}
		if json.Unmarshal(payload, &ev) != nil {
			t.Fatalf("event %q accepted", payload)
		}
		// The chaincode emits each key once, with a value: only such an
		// event is checked further.
		bound := map[string]string{}
		for _, b := range ev.Bindings {
			if _, dup := bound[b.Key]; dup || b.Key == "" || b.Value == "" {
				return
			}
			bound[b.Key] = b.Value
		}
		for k, v := range bound {
			if ev.Region != region {
				break
			}
			if got, err := x.Lookup(ctx, k); err != nil || got != v {
				t.Fatalf("key %q: %q, %v; the event bound %q", k, got, err, v)
			}
		}
	})
}
