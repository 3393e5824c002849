package oid4vci

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/issuer"
	"github.com/trustid-cn/trustid/credentials/statuslist"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/claimpath"
	"github.com/trustid-cn/trustid/internal/leakcheck"
	"github.com/trustid-cn/trustid/internal/testredis"
	"github.com/trustid-cn/trustid/keystore"
	"github.com/trustid-cn/trustid/login"
	"github.com/trustid-cn/trustid/store"
	redisstore "github.com/trustid-cn/trustid/store/redis"
)

const issuerURL = "https://node.example"

// nodeSigner signs with a real credential issuer (as the node: these
// tests are about the protocol, not accreditation).
type nodeSigner struct{ is *issuer.Issuer }

func (s nodeSigner) Sign(ctx context.Context, req SignRequest) (string, error) {
	opts := issuer.IssueOptions{Client: req.Client, Format: issuer.FormatVCJWT}
	if req.Format == FormatSDJWT {
		k := req.HolderKey
		opts.Format, opts.HolderKey = issuer.FormatSDJWT, &k
	}
	iss, err := s.is.Issue(ctx, req.Credential, opts)
	if err != nil {
		return "", err
	}
	return iss.Token, nil
}

// stores runs f against the memory store and a real Redis.
func stores(t *testing.T, f func(t *testing.T, st Store)) {
	t.Run("memory", func(t *testing.T) { f(t, memoryStore(t)) })
	t.Run("redis", func(t *testing.T) {
		r, err := redisstore.New(testredis.StartClient(t), redisstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		if _, err := r.InitEpoch(t.Context()); err != nil { // a new server: its replay history is complete
			t.Fatal(err)
		}
		f(t, r)
	})
}

// memoryStore is a memory store closed when the test ends.
func memoryStore(t testing.TB) *store.Memory {
	t.Helper()
	m, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func newService(t testing.TB, st Store, now func() time.Time) *Service {
	t.Helper()
	return newServiceWith(t, Config{Store: st, Now: now})
}

// newServiceWith is newService with cfg's store, clock and login.
func newServiceWith(t testing.TB, cfg Config) *Service {
	t.Helper()
	dir := t.TempDir()
	ks, err := keystore.Open(filepath.Join(dir, "keystore.json"), make([]byte, 16), keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sl, err := statuslist.OpenFileStore(filepath.Join(dir, "status"), statuslist.FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	is, err := issuer.New(issuer.Config{BaseURL: issuerURL, Keys: ks, Status: sl})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Issuer, cfg.Types, cfg.Signer = issuerURL, []CredentialType{{Type: "ResidenceCredential"}}, nodeSigner{is}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func residence() map[string]any {
	return map[string]any{"@context": []any{vc.ContextV2}, "type": []any{"VerifiableCredential", "ResidenceCredential"},
		"credentialSubject": map[string]any{"region": "310000", "name": "张三"}}
}

func preAuthCode(t testing.TB, o *Offer) string {
	var doc struct {
		Grants map[string]struct {
			Code string `json:"pre-authorized_code"`
		}
	}
	if err := json.Unmarshal(o.JSON, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Grants[GrantPreAuthorized].Code
}

func proof(t testing.TB, nonce string, iat time.Time) string {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	j, _ := gm.NewJWK(&k.PublicKey, "")
	j.Use, j.Alg = "", ""
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"aud": issuerURL, "iat": iat.Unix(), "nonce": nonce})
	tok.Header["typ"] = ProofTyp
	tok.Header["jwk"] = j
	s, err := tok.SignedString(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// TestRedeemedOnce: of concurrent token requests for one pre-authorized
// code, exactly one gets a token.
func TestRedeemedOnce(t *testing.T) {
	stores(t, func(t *testing.T, st Store) {
		s := newService(t, st, nil)
		ctx := context.Background()
		o, err := s.CreateOffer(ctx, OfferRequest{Client: "rp", ConfigurationIDs: []string{"ResidenceCredential_sd_jwt"}, Credential: residence()})
		if err != nil {
			t.Fatal(err)
		}
		c := preAuthCode(t, o)
		var ok, refused atomic.Int32
		var wg sync.WaitGroup
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.Token(ctx, TokenRequest{GrantType: GrantPreAuthorized, PreAuthorizedCode: c})
				switch {
				case err == nil:
					ok.Add(1)
				case code(err) == CodeInvalidGrant:
					refused.Add(1)
				default:
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if ok.Load() != 1 || refused.Load() != 15 {
			t.Fatalf("%d tokens, %d refusals; want 1 and 15", ok.Load(), refused.Load())
		}
	})
}

// TestNonceSpentOnce: two requests with one c_nonce (under two tokens):
// one is served, the other gets invalid_nonce.
func TestNonceSpentOnce(t *testing.T) {
	stores(t, func(t *testing.T, st Store) {
		s := newService(t, st, nil)
		ctx := context.Background()
		n, err := s.Nonce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var results [2]error
		var wg sync.WaitGroup
		for i := range results {
			o, _ := s.CreateOffer(ctx, OfferRequest{Client: "rp", ConfigurationIDs: []string{"ResidenceCredential_sd_jwt"}, Credential: residence()})
			tok, err := s.Token(ctx, TokenRequest{GrantType: GrantPreAuthorized, PreAuthorizedCode: preAuthCode(t, o)})
			if err != nil {
				t.Fatal(err)
			}
			body, _ := json.Marshal(map[string]any{"credential_configuration_id": "ResidenceCredential_sd_jwt", "proofs": map[string]any{"jwt": []string{proof(t, n.CNonce, time.Now())}}})
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, results[i] = s.Credential(ctx, Access{Scheme: "Bearer", Token: tok.AccessToken}, body)
			}()
		}
		wg.Wait()
		if (results[0] == nil) == (results[1] == nil) || code(results[0])+code(results[1]) != CodeInvalidNonce {
			t.Fatalf("results %v, %v: want one credential and one invalid_nonce", results[0], results[1])
		}
	})
}

// TestProofClock: a proof from the future (beyond a minute's leeway) or
// older than ProofMaxAge is refused with invalid_proof.
func TestProofClock(t *testing.T) {
	m := memoryStore(t)
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	s := newService(t, m, func() time.Time { return now })
	ctx := context.Background()
	o, _ := s.CreateOffer(ctx, OfferRequest{Client: "rp", ConfigurationIDs: []string{"ResidenceCredential_sd_jwt"}, Credential: residence()})
	tok, err := s.Token(ctx, TokenRequest{GrantType: GrantPreAuthorized, PreAuthorizedCode: preAuthCode(t, o)})
	if err != nil {
		t.Fatal(err)
	}
	n, _ := s.Nonce(ctx)
	for _, iat := range []time.Time{now.Add(2 * time.Minute), now.Add(-6 * time.Minute)} {
		body, _ := json.Marshal(map[string]any{"credential_configuration_id": "ResidenceCredential_sd_jwt", "proofs": map[string]any{"jwt": []string{proof(t, n.CNonce, iat)}}})
		if _, err := s.Credential(ctx, Access{Scheme: "Bearer", Token: tok.AccessToken}, body); code(err) != CodeInvalidProof {
			t.Errorf("iat %v: %v, want invalid_proof", iat.Sub(now), err)
		}
	}
	body, _ := json.Marshal(map[string]any{"credential_configuration_id": "ResidenceCredential_sd_jwt", "proofs": map[string]any{"jwt": []string{proof(t, n.CNonce, now.Add(-4*time.Minute))}}})
	if _, err := s.Credential(ctx, Access{Scheme: "Bearer", Token: tok.AccessToken}, body); err != nil {
		t.Fatalf("a 4-minute-old proof: %v", err)
	}
}

// TestNothingInClearInRedis: after an offer (by reference, with a
// transaction code), its redemption and issuance, no Redis key or value
// holds the pre-authorized code, the transaction code, the access token,
// the offer reference or a claim.
func TestNothingInClearInRedis(t *testing.T) {
	client := testredis.StartClient(t)
	r, err := redisstore.New(client, redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// A new server: its replay history is complete (the spent c_nonce
	// is a marker).
	if _, err := r.InitEpoch(t.Context()); err != nil {
		t.Fatal(err)
	}
	s := newService(t, r, nil)
	ctx := context.Background()
	o, err := s.CreateOffer(ctx, OfferRequest{Client: "rp", ConfigurationIDs: []string{"ResidenceCredential_sd_jwt"}, Credential: residence(), TxCode: true, ByReference: true})
	if err != nil {
		t.Fatal(err)
	}
	ref := o.URI[strings.LastIndex(o.URI, "%2F")+3:]
	if _, err := s.OfferByReference(ctx, ref); err != nil {
		t.Fatal(err)
	}
	c := preAuthCode(t, o)
	tok, err := s.Token(ctx, TokenRequest{GrantType: GrantPreAuthorized, PreAuthorizedCode: c, TxCode: o.TxCode})
	if err != nil {
		t.Fatal(err)
	}
	n, _ := s.Nonce(ctx)
	body, _ := json.Marshal(map[string]any{"credential_configuration_id": "ResidenceCredential_sd_jwt", "proofs": map[string]any{"jwt": []string{proof(t, n.CNonce, time.Now())}}})
	resp, err := s.Credential(ctx, Access{Scheme: "Bearer", Token: tok.AccessToken}, body)
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{c, o.TxCode, tok.AccessToken, ref, n.CNonce, resp.NotificationID, "310000", "张三", "ResidenceCredential"}
	keys, err := client.Keys(ctx, "*").Result()
	if err != nil || len(keys) < 4 {
		t.Fatalf("%d keys in Redis (%v): the check would be vacuous", len(keys), err)
	}
	// Every key and value of every database, read by type and decoded
	// (DUMP's form is compressed); the canary proves the scan sees them.
	scan := leakcheck.New(t, secrets...)
	scan.PlantRedis(client)
	if hits := scan.Redis(client); len(hits) > 0 {
		t.Errorf("a secret or claim in Redis: %v", hits)
	}
}

// FuzzCredentialRequest sends arbitrary bodies to the credential
// endpoint's logic: never a panic, and every refusal is a protocol error
// with one of the codes the endpoint may use.
func FuzzCredentialRequest(f *testing.F) {
	m, _ := store.NewMemory(store.MemoryOptions{})
	f.Cleanup(func() { m.Close() })
	s := newService(f, m, nil)
	ctx := context.Background()
	n, _ := s.Nonce(ctx)
	f.Add([]byte(`{"credential_configuration_id":"ResidenceCredential_sd_jwt","proofs":{"jwt":["` + proof(f, n.CNonce, time.Now()) + `"]}}`))
	f.Add([]byte(`{"credential_configuration_id":"ResidenceCredential_jwt_vc_json","proofs":{"jwt":["a.b.c"]}}`))
	f.Add([]byte(`{"credential_identifier":"x"}`))
	f.Add([]byte(`{"credential_configuration_id":"ResidenceCredential_sd_jwt","x_ext":{"a":[1]},"proofs":{"jwt":["a.b.c"]}}`))
	f.Add([]byte(`{"credential_configuration_id":"a","credential_configuration_id":"b"}`))
	f.Add([]byte(`{"credential_configuration_id":"ResidenceCredential_ldp_vc_sm2-rdfc-2025","proofs":{"ldp_vp":[{}],"jwt":["a.b.c"]}}`))
	f.Add([]byte(`{"credential_configuration_id":"ResidenceCredential_jwt_vc_json","proofs":{"jwt":"a.b.c"}}`))
	f.Add([]byte(`{"proof":{"proof_type":"jwt"}}`))
	f.Add([]byte(`[]`))
	allowed := map[string]bool{CodeInvalidCredentialRequest: true, CodeUnknownConfiguration: true, CodeUnknownIdentifier: true,
		CodeInvalidProof: true, CodeInvalidNonce: true, CodeInvalidEncryption: true}
	f.Fuzz(func(t *testing.T, body []byte) {
		o, err := s.CreateOffer(ctx, OfferRequest{Client: "rp", ConfigurationIDs: []string{"ResidenceCredential_sd_jwt"}, Credential: residence()})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := s.Token(ctx, TokenRequest{GrantType: GrantPreAuthorized, PreAuthorizedCode: preAuthCode(t, o)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Credential(ctx, Access{Scheme: "Bearer", Token: tok.AccessToken}, body); err != nil && !allowed[code(err)] {
			t.Fatalf("refusal %v has no credential endpoint error code", err)
		}
	})
}

// TestNumbersKeptExact: a claim number beyond float64's exact range
// reaches the signed credential unchanged through the sealed offer.
func TestNumbersKeptExact(t *testing.T) {
	s := newService(t, memoryStore(t), nil)
	ctx := context.Background()
	cred, err := vc.ParseJSONObject([]byte(`{"@context":["https://www.w3.org/ns/credentials/v2"],"type":["VerifiableCredential","ResidenceCredential"],"credentialSubject":{"household":9007199254740993}}`))
	if err != nil {
		t.Fatal(err)
	}
	o, err := s.CreateOffer(ctx, OfferRequest{Client: "rp", ConfigurationIDs: []string{"ResidenceCredential_jwt_vc_json"}, Credential: cred})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Token(ctx, TokenRequest{GrantType: GrantPreAuthorized, PreAuthorizedCode: preAuthCode(t, o)})
	if err != nil {
		t.Fatal(err)
	}
	n, _ := s.Nonce(ctx)
	body, _ := json.Marshal(map[string]any{"credential_configuration_id": "ResidenceCredential_jwt_vc_json", "proofs": map[string]any{"jwt": []string{proof(t, n.CNonce, time.Now())}}})
	resp, err := s.Credential(ctx, Access{Scheme: "Bearer", Token: tok.AccessToken}, body)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(resp.Credentials[0].Credential.(string), ".")[1])
	if err != nil || !strings.Contains(string(payload), `"household":9007199254740993`) {
		t.Fatalf("the signed credential changed the number: %s", payload)
	}
}

// FuzzAuthorizationDetails feeds the authorization_details parameter (from
// any wallet) to its parser: it returns known configurations, without
// repeats, each with no claims or 1 to 32 claims description objects
// whose paths are non-empty, of keys, nulls and non-negative indexes,
// and none naming a claim another names or contradicting it (Appendix
// B.3); or an invalid_authorization_details error; it never panics.
func FuzzAuthorizationDetails(f *testing.F) {
	m, _ := store.NewMemory(store.MemoryOptions{})
	f.Cleanup(func() { m.Close() })
	s := newService(f, m, nil)
	f.Add(`[{"type":"openid_credential","credential_configuration_id":"ResidenceCredential_sd_jwt"}]`)
	f.Add(`[{"type":"openid_credential","credential_configuration_id":"ResidenceCredential_sd_jwt","locations":["https://node.example"]}]`)
	f.Add(`[{"type":"openid_credential","format":"jwt_vc_json"}]`)
	f.Add(`[{"type":"openid_credential","credential_configuration_id":"ResidenceCredential_sd_jwt","claims":[{"path":["a"]}]}]`)
	f.Add(`[{"type":"openid_credential","credential_configuration_id":"ResidenceCredential_jwt_vc_json","claims":[{"path":["credentialSubject","a",null,"b"],"mandatory":true},{"path":["credentialSubject","c",0]},{"path":["x"],"display":1}]}]`)
	f.Add(`[{"type":"openid_credential","credential_configuration_id":"ResidenceCredential_sd_jwt","claims":[{"path":["a",null]},{"path":["a",1]}]}]`)
	f.Add(`[{"type":"openid_credential","credential_configuration_id":"ResidenceCredential_sd_jwt","claims":[{"path":["a",-1]}]}]`)
	f.Add(`[{"type":"openid_credential","credential_configuration_id":"a","credential_configuration_id":"b"}]`)
	f.Add(`[]`)
	f.Add(`[1]`)
	f.Add(`{}`)
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := s.ParseAuthorizationDetails(raw)
		if err != nil {
			if code(err) != CodeInvalidAuthorizationDetails {
				t.Fatalf("refusal %v is not invalid_authorization_details", err)
			}
			return
		}
		if len(got) == 0 {
			t.Fatal("accepted no configuration")
		}
		for i, r := range got {
			if _, ok := s.configs[r.ConfigurationID]; !ok || slices.ContainsFunc(got[:i], func(p RequestedCredential) bool { return p.ConfigurationID == r.ConfigurationID }) {
				t.Fatalf("accepted %q in %v", r.ConfigurationID, got)
			}
			if r.Claims != nil && (len(r.Claims) == 0 || len(r.Claims) > claimpath.MaxClaims) {
				t.Fatalf("accepted %d claims", len(r.Claims))
			}
			for j, c := range r.Claims {
				if len(c.Path) == 0 {
					t.Fatal("accepted an empty path")
				}
				for _, e := range c.Path {
					if n, isInt := e.(int); e != nil && !isInt {
						if _, isKey := e.(string); !isKey {
							t.Fatalf("accepted path element %#v", e)
						}
					} else if isInt && n < 0 {
						t.Fatalf("accepted index %d", n)
					}
				}
				for _, prev := range r.Claims[:j] {
					if claimpath.Conflict(prev.Path, c.Path) != nil {
						t.Fatalf("accepted conflicting paths %v and %v", prev.Path, c.Path)
					}
				}
			}
		}
	})
}

// TestLDPConfigurations: ldp_vc configurations take known cryptosuites
// and a credential_definition @context beginning with the VC 2.0 one.
func TestLDPConfigurations(t *testing.T) {
	m, _ := store.NewMemory(store.MemoryOptions{})
	t.Cleanup(func() { m.Close() })
	mk := func(ct CredentialType) error {
		_, err := New(Config{Issuer: "https://node.example", Types: []CredentialType{ct}, Signer: nodeSigner{}, Store: m})
		return err
	}
	if err := mk(CredentialType{Type: "ResidenceCredential", Cryptosuites: []string{"sm2-rdfc-2025", "eddsa-rdfc-2022"}}); err != nil {
		t.Fatal(err)
	}
	for name, ct := range map[string]CredentialType{
		"unknown cryptosuite": {Type: "ResidenceCredential", Cryptosuites: []string{"Ed25519Signature2018"}},
		"context not VC 2.0":  {Type: "ResidenceCredential", Cryptosuites: []string{"sm2-rdfc-2025"}, Contexts: []string{"https://www.w3.org/2018/credentials/v1"}},
		"empty contexts":      {Type: "ResidenceCredential", Cryptosuites: []string{"sm2-rdfc-2025"}, Contexts: []string{}},
	} {
		if err := mk(ct); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestMetadataArrays: the issuer metadata has no empty display array
// (OID4VCI 1.0 §12.2.4: display is "A non-empty array of objects", for
// the issuer and in credential_metadata) and no batch_credential_issuance
// for a batch of one (batch_size "MUST be 2 or greater").
func TestMetadataArrays(t *testing.T) {
	m := memoryStore(t)
	for _, c := range []struct {
		batch int
		want  bool
	}{{1, false}, {2, true}, {0, true}} {
		s := newServiceWith(t, Config{Store: m, BatchSize: c.batch})
		var meta map[string]any
		if err := json.Unmarshal(s.Metadata(), &meta); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(s.Metadata()), `"display":[]`) {
			t.Errorf("an empty display array: %s", s.Metadata())
		}
		if _, ok := meta["batch_credential_issuance"]; ok != c.want {
			t.Errorf("BatchSize %d: batch_credential_issuance %v, want present %v", c.batch, meta["batch_credential_issuance"], c.want)
		}
	}
}

// TestRedeemedCodeDeleted: a redeemed pre-authorized code's record,
// which holds the credential's claims, is deleted at redemption, not
// left for the offer's lifetime.
func TestRedeemedCodeDeleted(t *testing.T) {
	stores(t, func(t *testing.T, st Store) {
		s := newService(t, st, nil)
		ctx := context.Background()
		o, err := s.CreateOffer(ctx, OfferRequest{Client: "rp", ConfigurationIDs: []string{"ResidenceCredential_sd_jwt"}, Credential: residence()})
		if err != nil {
			t.Fatal(err)
		}
		c := preAuthCode(t, o)
		if _, err := st.Get(ctx, "oid4vci:code:"+c); err != nil {
			t.Fatalf("the offer's code record: %v", err)
		}
		if _, err := s.Token(ctx, TokenRequest{GrantType: GrantPreAuthorized, PreAuthorizedCode: c}); err != nil {
			t.Fatal(err)
		}
		if b, err := st.Get(ctx, "oid4vci:code:"+c); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the redeemed code's record is kept (%d bytes, %v)", len(b), err)
		}
	})
}

// failingWrites is a real store whose writes (Set, Put) of keys
// starting with fail fail, as a store unavailable for them (the memory
// store full, Redis failing over); it records the keys its Sets wrote.
type failingWrites struct {
	Store
	fail string
	set  []string
}

func (f *failingWrites) Set(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	if strings.HasPrefix(key, f.fail) {
		return store.ErrUnavailable
	}
	err := f.Store.Set(ctx, key, v, ttl)
	if err == nil {
		f.set = append(f.set, key)
	}
	return err
}

func (f *failingWrites) Put(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	if strings.HasPrefix(key, f.fail) {
		return store.ErrUnavailable
	}
	return f.Store.Put(ctx, key, v, ttl)
}

// TestFailedWriteLeavesNoRecord: an offer, a pushed request or an access
// token whose second write fails is an error, and the sealed record
// written before it (the credential's claims, or the pushed request) is
// deleted: no one was given its secret, so it served nothing until it
// expired, up to 10 minutes (PIPL Art. 19: the minimum period necessary).
// On the memory store and Redis.
func TestFailedWriteLeavesNoRecord(t *testing.T) {
	stores(t, func(t *testing.T, st Store) {
		ctx := context.Background()
		cfg := []string{"ResidenceCredential_sd_jwt"}
		cases := []struct {
			name, fail string
			run        func(s *Service) error
		}{
			{"pre-authorized offer", "oid4vci:redeem:", func(s *Service) error {
				_, err := s.CreateOffer(ctx, OfferRequest{Client: "rp", ConfigurationIDs: cfg, Credential: residence()})
				return err
			}},
			{"pre-authorized offer by reference", "oid4vci:offer:", func(s *Service) error {
				_, err := s.CreateOffer(ctx, OfferRequest{Client: "rp", ConfigurationIDs: cfg, Credential: residence(), ByReference: true})
				return err
			}},
			{"authorization offer", "oid4vci:state-once:", func(s *Service) error {
				_, err := s.CreateOffer(ctx, OfferRequest{Client: "rp", ConfigurationIDs: cfg, Credential: residence(), AuthorizationCode: true, Subject: "pairwise-subject-1", Level: 2})
				return err
			}},
			{"authorization offer by reference", "oid4vci:offer:", func(s *Service) error {
				_, err := s.CreateOffer(ctx, OfferRequest{Client: "rp", ConfigurationIDs: cfg, Credential: residence(), AuthorizationCode: true, Subject: "pairwise-subject-1", Level: 2, ByReference: true})
				return err
			}},
			{"pushed request", "oid4vci:par-once:", func(s *Service) error {
				_, err := s.push(ctx, url.Values{"client_id": {"wallet"}, "response_type": {"code"}})
				return err
			}},
			{"access token", "oid4vci:issue:", func(s *Service) error {
				_, err := s.issueToken(ctx, grant{Client: "rp", Configs: cfg, Credential: residence()})
				return err
			}},
		}
		for _, c := range cases {
			f := &failingWrites{Store: st, fail: c.fail}
			if err := c.run(newServiceWith(t, Config{Store: f, Login: newLogin(t, st.(login.Store))})); err == nil {
				t.Fatalf("%s: a failed write succeeded", c.name)
			}
			if len(f.set) == 0 {
				t.Fatalf("%s: no sealed record was written", c.name)
			}
			for _, key := range f.set {
				if b, err := st.Get(ctx, key); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("%s: %s is kept after the failure (%d bytes, %v)", c.name, key[:strings.LastIndex(key, ":")], len(b), err)
				}
			}
		}
	})
}
