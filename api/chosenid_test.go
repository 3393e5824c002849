package api

import (
	"strings"
	"testing"
)

// TestReservedIDCase: URN scheme and NID are case-insensitive (RFC 8141
// §3.1), so "URN:TRUSTID:vc:…" names the same URN as the node's minted
// "urn:trustid:vc:…": a chosen ID in any case of the reserved prefix is
// refused.
func TestReservedIDCase(t *testing.T) {
	e := newVCEnv(t)
	body := strings.Replace(credBody, `"type"`, `"id":"URN:TRUSTID:vc:AQABAgMEBQYHCAEb-hnahia9QQEAAAc","type"`, 1)
	body = strings.Replace(body, "%s", "", 1)
	if code, resp := e.post(t, "/credentials/issue", issueToken, body); code != 422 || resp["error"] != "reserved_credential_id" {
		t.Fatalf("a case variant of the node's namespace: %d %v", code, resp)
	}
}
