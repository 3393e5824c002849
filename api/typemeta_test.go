package api

import (
	"testing"

	"github.com/trustid-cn/trustid/credentials"
)

// TestMountTypeMetadata serves each document by its vct, 404 for others,
// and refuses a malformed document or a vct given twice.
func TestMountTypeMetadata(t *testing.T) {
	const base = "https://node.example"
	s, _ := newTestServer(t, nil)
	if err := s.MountTypeMetadata(base, []credentials.TypeMetadata{credentials.IdentityCredentialMetadata(base)}); err != nil {
		t.Fatal(err)
	}
	if resp, m := do(t, s.Handler(), "GET", "/vct/IdentityCredential", nil); resp.StatusCode != 200 || m["vct"] != base+"/vct/IdentityCredential" ||
		resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("GET /vct/IdentityCredential: %d %v", resp.StatusCode, m)
	}
	if resp, m := do(t, s.Handler(), "GET", "/vct/Other", nil); resp.StatusCode != 404 || m["error"] != "not_found" {
		t.Errorf("GET /vct/Other: %d %v", resp.StatusCode, m)
	}
	bad := credentials.IdentityCredentialMetadata(base)
	bad.Claims[0].SD = "maybe"
	for name, types := range map[string][]credentials.TypeMetadata{
		"malformed":  {bad},
		"twice":      {credentials.IdentityCredentialMetadata(base), credentials.IdentityCredentialMetadata(base)},
		"other node": {credentials.IdentityCredentialMetadata("https://other.example")},
	} {
		s, _ := newTestServer(t, nil)
		if err := s.MountTypeMetadata(base, types); err == nil {
			t.Errorf("%s: mounted", name)
		}
	}
}
