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
	if err := s.MountTypeMetadata(base, []credentials.TypeMetadata{credentials.IdentityCredentialMetadata(base)}, func(typ string) bool { return typ == "AgeCredential" }); err != nil {
		t.Fatal(err)
	}
	if resp, m := do(t, s.Handler(), "GET", "/vct/IdentityCredential", nil); resp.StatusCode != 200 || m["vct"] != base+"/vct/IdentityCredential" ||
		resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("GET /vct/IdentityCredential: %d %v", resp.StatusCode, m)
	}
	// An accredited type the node does not describe: its vct and name.
	if resp, m := do(t, s.Handler(), "GET", "/vct/AgeCredential", nil); resp.StatusCode != 200 || m["vct"] != base+"/vct/AgeCredential" ||
		m["name"] != "AgeCredential" || len(m) != 2 {
		t.Errorf("GET /vct/AgeCredential: %d %v", resp.StatusCode, m)
	}
	for _, other := range []string{"Other", "ageCredential", "Age%2FCredential"} {
		if resp, m := do(t, s.Handler(), "GET", "/vct/"+other, nil); resp.StatusCode != 404 || m["error"] != "not_found" {
			t.Errorf("GET /vct/%s: %d %v", other, resp.StatusCode, m)
		}
	}
	bad := credentials.IdentityCredentialMetadata(base)
	bad.Claims[0].SD = "maybe"
	for name, types := range map[string][]credentials.TypeMetadata{
		"malformed":  {bad},
		"twice":      {credentials.IdentityCredentialMetadata(base), credentials.IdentityCredentialMetadata(base)},
		"other node": {credentials.IdentityCredentialMetadata("https://other.example")},
	} {
		s, _ := newTestServer(t, nil)
		if err := s.MountTypeMetadata(base, types, nil); err == nil {
			t.Errorf("%s: mounted", name)
		}
	}
}
