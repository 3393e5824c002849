package ledger

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// TestAppendAuditLineIsCanonical: the line commit builds by hand is the
// line json.Marshal gives for the same AuditEntry, with the hash
// AuditEntry.digest computes (what VerifyAuditLog checks), for entries
// with and without a symbol and details, and with characters JSON
// escapes.
func TestAppendAuditLineIsCanonical(t *testing.T) {
	at := time.Date(2026, 12, 4, 20, 1, 2, 345678000, time.UTC)
	for _, e := range []AuditEntry{
		{Seq: 1, Time: at, Kind: AuditLogCreated, Details: map[string]string{"node": "node-a"}, Prev: auditGenesisPrev},
		{Seq: 2, Time: at.Truncate(time.Second), Kind: AuditEnrollment, Symbol: "1K3M9QZ…", Prev: auditGenesisPrev},
		{Seq: 1 << 40, Time: at, Kind: "status_change", Symbol: `<a href="x">&'`, Prev: auditGenesisPrev,
			Details: map[string]string{"z": "last", "a": "first \u2028 \x01 \"quoted\" \\ <>&", "level": "L4", "region": "310000"}},
		{Seq: 3, Time: at, Kind: "k", Prev: auditGenesisPrev},
	} {
		time, err := json.Marshal(e.Time)
		if err != nil {
			t.Fatal(err)
		}
		body, err := json.Marshal(auditBody{Kind: e.Kind, Symbol: e.Symbol, Details: e.Details})
		if err != nil {
			t.Fatal(err)
		}
		got := appendAuditLine([]byte("before"), e.Seq, time, body[1:len(body)-1], e.Prev)
		if e.Hash, err = e.digest(); err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		want = append(append([]byte("before"), want...), '\n')
		if !bytes.Equal(got, want) {
			t.Errorf("line\n%s\nwant\n%s", got, want)
		}
		if _, err := parseAuditLine(got[len("before") : len(got)-1]); err != nil {
			t.Errorf("the line does not parse back: %v", err)
		}
	}
}
