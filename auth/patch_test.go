package auth_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/auth"
)

// TestClientPatch: a JSON Merge Patch (RFC 7396) of a registration
// replaces the members it names (an array the whole list), null clears
// one (grant types fall back to client_credentials), and keeps the
// others; a member a patch cannot change, an unknown or repeated member,
// a value of the wrong type and an empty patch are refused with
// ErrInvalidClientMetadata naming why.
func TestClientPatch(t *testing.T) {
	ctx := context.Background()
	s := auth.NewMemoryStore(nil)
	c, secret, err := auth.NewClient(auth.Registration{ID: "rp-a", Name: "A", Region: "310000", Scopes: []string{auth.ScopeQRRedeem},
		GrantTypes: []string{auth.GrantClientCredentials, auth.GrantAuthorizationCode}, RedirectURIs: []string{"https://a.example/cb"},
		Claims: []string{"age_over_18"}, Resources: []string{"https://api.a.example"}, AccessTokenAlg: "ES256",
		AuthMethod: auth.AuthClientSecretBasic}, time.Now(), strings.NewReader(strings.Repeat("x", 64)))
	if err != nil || secret == "" {
		t.Fatal(err)
	}
	if err := s.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	p, err := auth.ParseClientPatch([]byte(`{"client_name":"A2","resources":["https://api.a.example/v2","https://b.a.example"],"claims":null,"access_token_signed_response_alg":null,"grant_types":null,"redirect_uris":null}`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Update(ctx, "rp-a", func(c *auth.Client) error { p.Apply(c); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "A2" || !slices.Equal(got.Resources, []string{"https://api.a.example/v2", "https://b.a.example"}) ||
		got.Claims != nil || got.AccessTokenAlg != "" || !slices.Equal(got.GrantTypes, []string{auth.GrantClientCredentials}) ||
		got.RedirectURIs != nil || got.SectorIdentifier != "a.example" || !slices.Equal(got.Scopes, c.Scopes) || got.SecretHash != c.SecretHash {
		t.Errorf("patched: %+v", got)
	}
	for _, tc := range []struct{ doc, want string }{
		{`{"client_id":"rp-b"}`, "client_id cannot be changed"},
		{`{"sector_identifier":"b.example"}`, "pairwise"},
		{`{"jwks":{"keys":[]}}`, "jwks cannot be changed"},
		{`{"region":"440000"}`, "region cannot be changed"},
		{`{"disabled":true}`, "disabled cannot be changed"},
		{`{"resource":["https://x.example"]}`, "unknown member 'resource'"},
		{`{"resources":"https://x.example"}`, "resources must be an array of strings or null"},
		{`{"resources":[1]}`, "resources[0] must be a string"},
		{`{"client_name":["x"]}`, "client_name must be a string"},
		{`{"client_name":"x","client_name":"y"}`, "not a JSON object"},
		{`{"client_name":"x"} {}`, "not a JSON object"},
		{`[]`, "not a JSON object"},
	} {
		_, err := auth.ParseClientPatch([]byte(tc.doc))
		if !errors.Is(err, auth.ErrInvalidClientMetadata) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want %q", tc.doc, err, tc.want)
		}
	}
	// {} is a valid merge patch that changes nothing (RFC 7396 §2).
	if p, err := auth.ParseClientPatch([]byte(` { } `)); err != nil || !p.Empty() {
		t.Errorf("{}: %+v %v; want an empty patch", p, err)
	}
	// Values are checked by Update, as a new client's: nothing changes.
	for _, doc := range []string{`{"client_name":null}`, `{"scopes":[]}`, `{"resources":["http://api.example"]}`, `{"resources":["https://api.example?x=1"]}`,
		`{"grant_types":["authorization_code"]}`, `{"id_token_signed_response_alg":"RS256"}`} {
		p, err := auth.ParseClientPatch([]byte(doc))
		if err != nil {
			t.Fatalf("%s: %v", doc, err)
		}
		if _, err := s.Update(ctx, "rp-a", func(c *auth.Client) error { p.Apply(c); return nil }); !errors.Is(err, auth.ErrInvalidClientMetadata) {
			t.Errorf("%s applied: %v", doc, err)
		}
	}
	if now, _ := s.Get(ctx, "rp-a"); now.Name != "A2" || len(now.Resources) != 2 {
		t.Errorf("a refused patch changed the client: %+v", now)
	}
}
