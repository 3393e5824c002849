package api

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/auth/clientstoretest"
	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/issuer"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/keystore"
	"github.com/trustid-cn/trustid/oid4vci"
	"github.com/trustid-cn/trustid/oid4vp"
	"github.com/trustid-cn/trustid/store"
)

// The routes that keep something in the store for each call of a client
// with credentials (an OID4VP transaction, an OID4VCI offer) count the
// calls per client: one party's credentials cannot fill the store, whose
// memory form refuses every new key once full (logins and rate limits of
// everyone too). Over the limit the call is 429 with Retry-After and
// stores nothing; another client is not held up by it.

// clientLimitCall posts body to path with token and returns the status,
// the Retry-After header and the error code, if any.
func clientLimitCall(t *testing.T, srv *httptest.Server, path, token string, body any) (int, string, string) {
	t.Helper()
	st, retry, m := vciPost(t, srv, path, token, body)
	code, _ := m["error"].(string)
	return st, retry, code
}

// checkClientLimit makes limit calls of token, each 201 and each storing
// something, then one more, which must be 429 rate_limited and store
// nothing; then a call of otherToken (another client), which is 201.
func checkClientLimit(t *testing.T, mem *store.Memory, srv *httptest.Server, path, token, otherToken string, limit int, body any) {
	t.Helper()
	for i := range limit {
		before := mem.Len()
		if st, _, code := clientLimitCall(t, srv, path, token, body); st != http.StatusCreated {
			t.Fatalf("call %d: %d %s, want 201", i+1, st, code)
		}
		if mem.Len() <= before {
			t.Fatalf("call %d stored nothing: the test does not see what it bounds", i+1)
		}
	}
	before := mem.Len()
	st, retry, code := clientLimitCall(t, srv, path, token, body)
	if st != http.StatusTooManyRequests || code != CodeRateLimited || retry == "" {
		t.Fatalf("call %d: %d %q, Retry-After %q; want 429 %s with Retry-After", limit+1, st, code, retry, CodeRateLimited)
	}
	if mem.Len() != before {
		t.Fatalf("the refused call stored %d entries", mem.Len()-before)
	}
	if st, _, code := clientLimitCall(t, srv, path, otherToken, body); st != http.StatusCreated {
		t.Fatalf("another client: %d %s, want 201 (the limit is per client)", st, code)
	}
}

func TestOID4VPRequestsLimitedPerClient(t *testing.T) {
	mem, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mem.Close() })
	clients := auth.NewMemoryStore(nil)
	for _, id := range []string{"test-client", "other-client"} {
		rp := clientstoretest.Client(t, id)
		rp.Claims = []string{"age_over_18"}
		if err := clients.Create(context.Background(), rp); err != nil {
			t.Fatal(err)
		}
	}
	ks, err := keystore.Open(filepath.Join(t.TempDir(), "keystore.json"), make([]byte, 16), keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	key, err := ks.Active(gm.AlgES256)
	if err != nil {
		t.Fatal(err)
	}
	cv, err := vc.NewVerifier(vc.VerifierConfig{Algorithms: gm.JWTAlgorithms, Resolver: &vc.Resolver{}, Trust: vc.AnyIssuer{}, SkipStatus: true})
	if err != nil {
		t.Fatal(err)
	}
	v, err := oid4vp.New(oid4vp.Config{BaseURL: "https://node.example", Key: func() (crypto.Signer, string, error) { return key.Signer, key.Kid, nil },
		Secret: make([]byte, 32), Store: mem, NotFound: func(err error) bool { return errors.Is(err, store.ErrNotFound) },
		Clients: oid4vp.RegistryClients{Store: clients}, Verifier: cv})
	if err != nil {
		t.Fatal(err)
	}
	s := New(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	s.SetAuthorizer(bearerAuthorizer{"rp-token": auth.ScopePresentationRequest, "other-rp-token": auth.ScopePresentationRequest})
	limit := 3
	if err := s.MountOID4VP(OID4VPConfig{Verifier: v, Limiter: mem, ClientLimit: &RateLimit{Limit: limit, Window: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	body := map[string]any{"dcql_query": map[string]any{"credentials": []any{map[string]any{"id": "pid", "format": "dc+sd-jwt",
		"meta": map[string]any{"vct_values": []any{"https://node.example/vct/IdentityCredential"}}, "claims": []any{map[string]any{"path": []any{"age_over_18"}}}}}}}
	checkClientLimit(t, mem, srv, "/v1/oid4vp/requests", "rp-token", "other-rp-token", limit, body)
}

func TestOID4VCIOffersLimitedPerClient(t *testing.T) {
	mem, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mem.Close() })
	svc, err := oid4vci.New(oid4vci.Config{Issuer: "https://node.example", Types: []oid4vci.CredentialType{{Type: "ResidenceCredential"}},
		Signer: &stubSigner{fail: func(int64) bool { return false }}, Store: mem})
	if err != nil {
		t.Fatal(err)
	}
	s := New(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	s.SetAuthorizer(bearerAuthorizer{"issuer-token": auth.ScopeCredentialsIssue, "other-issuer-token": auth.ScopeCredentialsIssue})
	limit := 3
	if err := s.MountOID4VCI(OID4VCIConfig{Service: svc, Limiter: mem, OfferLimit: &RateLimit{Limit: limit, Window: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	body := map[string]any{"credential_configuration_ids": []any{"ResidenceCredential_sd_jwt"},
		"credential": map[string]any{"@context": []any{vc.ContextV2}, "type": []any{"VerifiableCredential", "ResidenceCredential"},
			"credentialSubject": map[string]any{"region": "310000"}}}
	checkClientLimit(t, mem, srv, oid4vci.PathOffers, "issuer-token", "other-issuer-token", limit, body)
}

// TestVCAPIIssueAndStatusLimitedPerClient: each issuance takes status
// entries and each status change writes the list, so both count per
// client: over the limit the call is 429 rate_limited with Retry-After,
// takes no entry and changes no status; another client is not held up.
func TestVCAPIIssueAndStatusLimitedPerClient(t *testing.T) {
	mem, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mem.Close() })
	limit := 2
	e := newVCEnv(t, func(c *CredentialsConfig) {
		c.Limiter = mem
		c.IssueLimit = &RateLimit{Limit: limit, Window: time.Hour}
		c.StatusLimit = &RateLimit{Limit: limit, Window: time.Hour}
	})
	if _, err := e.iss.Accredit(context.Background(), issuer.AccreditRequest{Client: "other-client", Types: []string{"ResidenceCredential"}}); err != nil {
		t.Fatal(err)
	}
	index := filepath.Join(e.dir, "status", "index.log")
	indexSize := func() int64 {
		fi, err := os.Stat(index)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	cred := json.RawMessage(strings.Replace(credBody, "%s", "", 1))
	// issue issues a credential as token and returns its envelope and id.
	issue := func(token string) (json.RawMessage, string) {
		t.Helper()
		st, _, body := vciPost(t, e.srv, "/credentials/issue", token, cred)
		if st != http.StatusCreated {
			t.Fatalf("issue: %d %v", st, body)
		}
		env, _ := json.Marshal(body["verifiableCredential"])
		code, v := e.post(t, "/credentials/verify", "", `{"verifiableCredential":`+string(env)+`}`)
		if code != http.StatusOK {
			t.Fatalf("verify: %d %v", code, v)
		}
		return env, v["credential"].(map[string]any)["id"].(string)
	}
	var envs []json.RawMessage
	var ids []string
	for range limit {
		env, id := issue(issueToken)
		envs, ids = append(envs, env), append(ids, id)
	}
	before := indexSize()
	if st, retry, body := vciPost(t, e.srv, "/credentials/issue", issueToken, cred); st != http.StatusTooManyRequests || body["error"] != CodeRateLimited || retry == "" {
		t.Fatalf("issue %d: %d %v, Retry-After %q; want 429 %s with Retry-After", limit+1, st, body, retry, CodeRateLimited)
	}
	if indexSize() != before {
		t.Fatal("the refused issuance bound status entries")
	}
	issue(otherIssueToken) // the limit is per client

	statusPath := func(id string) string { return "/v1/credentials/" + url.PathEscape(id) + "/status" }
	for i, action := range []string{"suspend", "reinstate"}[:limit] {
		if code, body := e.post(t, statusPath(ids[0]), statusToken, `{"action":"`+action+`"}`); code != http.StatusOK {
			t.Fatalf("status change %d: %d %v", i+1, code, body)
		}
	}
	st, retry, body := vciPost(t, e.srv, statusPath(ids[1]), statusToken, json.RawMessage(`{"action":"revoke"}`))
	if st != http.StatusTooManyRequests || body["error"] != CodeRateLimited || retry == "" {
		t.Fatalf("status change %d: %d %v, Retry-After %q; want 429 %s with Retry-After", limit+1, st, body, retry, CodeRateLimited)
	}
	e.clock.Advance(2 * time.Minute)
	if code, body := e.post(t, "/credentials/verify", "", `{"verifiableCredential":`+string(envs[1])+`}`); code != http.StatusOK || body["verified"] != true {
		t.Fatalf("the refused revocation changed the credential's status: %d %v", code, body)
	}
	if code, body := e.post(t, statusPath(ids[1]), otherStatusToken, `{"action":"revoke"}`); code != http.StatusNotFound {
		t.Fatalf("another client's status change: %d %v, want 404 (not its credential; the limit is per client)", code, body)
	}
}
