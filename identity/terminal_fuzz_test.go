package identity

import (
	"errors"
	"testing"
	"time"
)

// FuzzParseTerminalsFile: a terminals.json of any bytes is refused with
// ErrTerminalFile or gives terminals that marshal back to a file that
// parses to the same terminals.
func FuzzParseTerminalsFile(f *testing.F) {
	t1, _ := NewTerminal("counter-1", "Counter 1", "310104", sm2Key(f).Public(), testNow)
	t2, _ := NewTerminal("counter-2", "徐汇 counter 2", "310104", sm2Key(f).Public(), testNow)
	t2.State, t2.Revoked = TerminalRevoked, testNow.Add(time.Hour)
	for _, list := range [][]Terminal{{t1}, {t1, t2}, nil} {
		raw, err := MarshalTerminalsFile(list)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add([]byte(`{"format":"trustid-terminals/1","terminals":[{"id":"a","key":{"kty":"EC","crv":"SM2"}}]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		list, err := ParseTerminalsFile(raw)
		if err != nil {
			if !errors.Is(err, ErrTerminalFile) {
				t.Fatalf("error %v is not ErrTerminalFile", err)
			}
			return
		}
		again, err := MarshalTerminalsFile(list)
		if err != nil {
			t.Fatalf("marshal what parsed: %v", err)
		}
		back, err := ParseTerminalsFile(again)
		if err != nil || len(back) != len(list) {
			t.Fatalf("round trip: %v, %d terminals for %d", err, len(back), len(list))
		}
		for i, b := range back {
			a := list[i]
			if a.ID != b.ID || a.Name != b.Name || a.Region != b.Region || a.State != b.State ||
				!a.Created.Equal(b.Created) || !a.Revoked.Equal(b.Revoked) || !samePublicKey(a.PublicKey, b.PublicKey) {
				t.Fatalf("terminal %d: %+v != %+v", i, b, a)
			}
		}
	})
}
