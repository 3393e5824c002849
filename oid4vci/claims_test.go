package oid4vci

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"reflect"
	"sync"
	"testing"

	"github.com/trustid-cn/trustid/auth"
	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/login"
	"github.com/trustid-cn/trustid/store"
)

// recordingSigner keeps the credentials it is asked to sign.
type recordingSigner struct {
	mu  sync.Mutex
	got []map[string]any
}

func (r *recordingSigner) Sign(_ context.Context, req SignRequest) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, req.Credential)
	return "eyJhbGciOiJTTTIifQ.e30.c2ln", nil
}

// last is the subject of the last credential signed.
func (r *recordingSigner) last() map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got[len(r.got)-1]["credentialSubject"].(map[string]any)
}

// claimsService is an issuer of ResidenceCredential whose region claim
// the type requires, signing with a recordingSigner.
func claimsService(t *testing.T, login Login) (*Service, *recordingSigner) {
	t.Helper()
	m, _ := store.NewMemory(store.MemoryOptions{})
	t.Cleanup(func() { m.Close() })
	sig := &recordingSigner{}
	s, err := New(Config{Issuer: issuerURL, Signer: sig, Store: m, Login: login, Types: []CredentialType{{Type: "ResidenceCredential",
		Claims: []Claim{{Path: []string{"region"}, Mandatory: true}, {Path: []string{"since"}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	return s, sig
}

// wideSubject is an offered subject with nested claims and an array.
func wideSubject() map[string]any {
	return map[string]any{"region": "310000", "since": "2019-07-01", "name": "张三",
		"address": map[string]any{"street": "1 Century Ave", "city": "Shanghai"}, "langs": []any{"zh", "en", "fr"}}
}

func wideCredential() map[string]any {
	return map[string]any{"@context": []any{vc.ContextV2}, "type": []any{"VerifiableCredential", "ResidenceCredential"}, "credentialSubject": wideSubject()}
}

// claimsDetails is authorization_details naming id with claims (JSON).
func claimsDetails(id, claims string) string {
	return `[{"type":"openid_credential","credential_configuration_id":"` + id + `","claims":` + claims + `}]`
}

// TestClaimsMinimized: OID4VCI 1.0 §5.1.1 and Appendix B.1, C. The claims
// a wallet names in the pre-authorized token request's
// authorization_details (§6.1) are all of the subject the credential
// carries, with the claims the type requires (region) and, for the
// DID-bound formats, the holder's id; the token response grants them
// (claims beside credential_identifiers); without claims the credential
// is the offer's whole.
func TestClaimsMinimized(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name, config, claims string
		want                 map[string]any // without the id
	}{
		{"one claim", sdJWT, `[{"path":["since"]}]`, map[string]any{"region": "310000", "since": "2019-07-01"}},
		{"nested and every element", sdJWT, `[{"path":["address","city"]},{"path":["langs",null]},{"path":["vct"],"mandatory":true}]`,
			map[string]any{"region": "310000", "address": map[string]any{"city": "Shanghai"}, "langs": []any{"zh", "en", "fr"}}},
		{"an element, mandatory, the envelope", jwtVC, `[{"path":["credentialSubject","langs",2]},{"path":["credentialSubject","name"],"mandatory":true},{"path":["issuer"],"mandatory":true}]`,
			map[string]any{"region": "310000", "name": "张三", "langs": []any{"fr"}}},
		{"the whole subject", jwtVC, `[{"path":["credentialSubject"]}]`, wideSubject()},
		{"a claim the offer lacks", sdJWT, `[{"path":["nickname"]}]`, map[string]any{"region": "310000"}},
		{"none asked", sdJWT, ``, wideSubject()},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, sig := claimsService(t, nil)
			o, err := s.CreateOffer(ctx, OfferRequest{Client: "rp", ConfigurationIDs: []string{sdJWT, jwtVC}, Credential: wideCredential()})
			if err != nil {
				t.Fatal(err)
			}
			req := TokenRequest{GrantType: GrantPreAuthorized, PreAuthorizedCode: preAuthCode(t, o)}
			if c.claims != "" {
				req.AuthorizationDetails = claimsDetails(c.config, c.claims)
			}
			tok, err := s.Token(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			member := "credential_configuration_id"
			if c.claims != "" {
				member = "credential_identifier"
				var want []ClaimDescription
				_ = json.Unmarshal([]byte(c.claims), &want)
				if len(tok.AuthorizationDetails) != 1 || !reflect.DeepEqual(tok.AuthorizationDetails[0].Claims, want) {
					t.Fatalf("authorization_details %+v, want the claims %+v granted", tok.AuthorizationDetails, want)
				}
			}
			if err := credentialAs(t, s, Access{Scheme: "Bearer", Token: tok.AccessToken}, member, c.config); err != nil {
				t.Fatal(err)
			}
			got := sig.last()
			if c.config == jwtVC {
				if id, _ := got["id"].(string); len(id) < 8 || id[:8] != "did:jwk:" {
					t.Errorf("the subject id %v, want the holder's did:jwk", got["id"])
				}
				delete(got, "id")
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("signed subject %v, want %v", got, c.want)
			}
		})
	}
}

// TestClaimsRefused: malformed claims (Appendix B.1, C), repeated or
// contradicting ones (B.3), and a mandatory claim the offered credential
// does not have are invalid_authorization_details (RFC 9396 §5), before
// the pre-authorized code is spent.
func TestClaimsRefused(t *testing.T) {
	ctx := context.Background()
	s, _ := claimsService(t, nil)
	o, err := s.CreateOffer(ctx, OfferRequest{Client: "rp", ConfigurationIDs: []string{sdJWT, jwtVC}, Credential: wideCredential()})
	if err != nil {
		t.Fatal(err)
	}
	c := preAuthCode(t, o)
	for _, d := range []string{
		claimsDetails(sdJWT, `[]`),
		claimsDetails(sdJWT, `{}`),
		claimsDetails(sdJWT, `"since"`),
		claimsDetails(sdJWT, `[1]`),
		claimsDetails(sdJWT, `[{"mandatory":true}]`),
		claimsDetails(sdJWT, `[{"path":[]}]`),
		claimsDetails(sdJWT, `[{"path":"since"}]`),
		claimsDetails(sdJWT, `[{"path":["langs",-1]}]`),
		claimsDetails(sdJWT, `[{"path":["langs",1.5]}]`),
		claimsDetails(sdJWT, `[{"path":["langs",1e0]}]`),
		claimsDetails(sdJWT, `[{"path":[true]}]`),
		claimsDetails(sdJWT, `[{"path":[{"a":1}]}]`),
		claimsDetails(sdJWT, `[{"path":["since"],"mandatory":"yes"}]`),
		claimsDetails(sdJWT, `[{"path":["since"],"path":["name"]}]`),
		claimsDetails(sdJWT, `[{"path":["a","b","c","d","e","f","g","h","i","j","k","l","m","n","o","p","q"]}]`),
		// Appendix B.3.
		claimsDetails(sdJWT, `[{"path":["since"]},{"path":["since"],"mandatory":true}]`),
		claimsDetails(sdJWT, `[{"path":["langs",null]},{"path":["langs",0]}]`),
		claimsDetails(sdJWT, `[{"path":["address","city"]},{"path":["address",0]}]`),
		claimsDetails(sdJWT, `[{"path":["langs",null,"x"]},{"path":["langs",1,"y"]}]`),
		// One configuration named twice, with claims.
		`[{"type":"openid_credential","credential_configuration_id":"` + sdJWT + `","claims":[{"path":["since"]}]},{"type":"openid_credential","credential_configuration_id":"` + sdJWT + `"}]`,
		// Mandatory claims the offer cannot give.
		claimsDetails(sdJWT, `[{"path":["nickname"],"mandatory":true}]`),
		claimsDetails(sdJWT, `[{"path":["langs",7],"mandatory":true}]`),
		claimsDetails(jwtVC, `[{"path":["credentialSubject",0],"mandatory":true}]`),
		claimsDetails(jwtVC, `[{"path":[null],"mandatory":true}]`),
	} {
		if _, err := s.Token(ctx, TokenRequest{GrantType: GrantPreAuthorized, PreAuthorizedCode: c, AuthorizationDetails: d}); code(err) != CodeInvalidAuthorizationDetails {
			t.Errorf("authorization_details %s: %v, want invalid_authorization_details", d, err)
		}
	}
	// Other members of a claims description object are ignored (B.1).
	if _, err := s.Token(ctx, TokenRequest{GrantType: GrantPreAuthorized, PreAuthorizedCode: c,
		AuthorizationDetails: claimsDetails(sdJWT, `[{"path":["since"],"display":[{"name":"x"}]},{"path":["langs",0]},{"path":["langs",1]}]`)}); err != nil {
		t.Fatalf("after the refusals the code still redeems: %v", err)
	}
}

// TestClaimsAuthorizationCode: claims named in the authorization request
// are kept with the authorization (a mandatory one the offer lacks is
// refused there); a token request may narrow them (RFC 9396 §6.1), keeps
// them when it names none, and may not ask for a claim outside them
// (the type's required claims and the envelope are never outside).
func TestClaimsAuthorizationCode(t *testing.T) {
	ctx := context.Background()
	s, _ := claimsService(t, codeLogin{})
	o, err := s.CreateOffer(ctx, OfferRequest{Client: "bureau", ConfigurationIDs: []string{sdJWT, jwtVC}, Credential: wideCredential(),
		AuthorizationCode: true, Subject: "pairwise-sub-of-alice"})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Grants map[string]struct {
			State string `json:"issuer_state"`
		}
	}
	if err := json.Unmarshal(o.JSON, &doc); err != nil {
		t.Fatal(err)
	}
	q := url.Values{"issuer_state": {doc.Grants[GrantAuthorizationCode].State}, "scope": {sdJWT},
		"authorization_details": {claimsDetails(jwtVC, `[{"path":["credentialSubject","nickname"],"mandatory":true}]`)}}
	var le *login.Error
	if _, err := s.checkAuthorization(ctx, auth.Client{}, q); !errors.As(err, &le) || le.Code != CodeInvalidAuthorizationDetails {
		t.Fatalf("a mandatory claim the offer lacks: %v, want invalid_authorization_details", err)
	}
	q.Set("authorization_details", claimsDetails(jwtVC, `[{"path":["credentialSubject","address"]},{"path":["credentialSubject","langs",null]}]`))
	eg, err := s.checkAuthorization(ctx, auth.Client{}, q)
	if err != nil {
		t.Fatal(err)
	}
	var a authorization
	if err := json.Unmarshal(eg.Data, &a); err != nil {
		t.Fatal(err)
	}
	if !a.Details || len(a.Grant.Claims) != 1 || len(a.Grant.Claims[jwtVC]) != 2 || a.Grant.Claims[sdJWT] != nil || len(a.Grant.Configs) != 2 {
		t.Fatalf("authorization %+v: want jwt_vc_json with two claims, sd_jwt by scope, whole", a)
	}
	for _, c := range []struct {
		name, token string
		want        map[string]any // nil: refused
	}{
		{"none in the token request", "", map[string]any{"region": "310000", "address": map[string]any{"street": "1 Century Ave", "city": "Shanghai"}, "langs": []any{"zh", "en", "fr"}}},
		{"no claims in the token request", details(jwtVC), map[string]any{"region": "310000", "address": map[string]any{"street": "1 Century Ave", "city": "Shanghai"}, "langs": []any{"zh", "en", "fr"}}},
		{"narrowed", claimsDetails(jwtVC, `[{"path":["credentialSubject","address","city"]},{"path":["credentialSubject","langs",1]}]`), map[string]any{"region": "310000", "address": map[string]any{"city": "Shanghai"}, "langs": []any{"en"}}},
		{"required and envelope claims", claimsDetails(jwtVC, `[{"path":["credentialSubject","region"]},{"path":["issuer"]},{"path":["credentialSubject","id"]}]`), map[string]any{"region": "310000"}},
		{"more than authorized", claimsDetails(jwtVC, `[{"path":["credentialSubject","name"]}]`), nil},
		{"the whole subject", claimsDetails(jwtVC, `[{"path":["credentialSubject"]}]`), nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			data, _ := json.Marshal(a)
			s, sig := claimsService(t, codeLogin{data: data})
			tok, err := s.Token(ctx, TokenRequest{GrantType: GrantAuthorizationCode, Code: "c", RedirectURI: walletRedirect, ClientID: "wallet", AuthorizationDetails: c.token})
			if c.want == nil {
				if code(err) != CodeInvalidAuthorizationDetails {
					t.Fatalf("%v, want invalid_authorization_details", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := credentialAs(t, s, Access{Scheme: "Bearer", Token: tok.AccessToken}, "credential_identifier", jwtVC); err != nil {
				t.Fatal(err)
			}
			got := sig.last()
			delete(got, "id")
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("signed subject %v, want %v", got, c.want)
			}
		})
	}
}

// TestClaimsMetadata: Appendix B.2. The metadata's claims point into each
// format's credential (under credentialSubject for the W3C formats) and
// mark the claims the type requires mandatory.
func TestClaimsMetadata(t *testing.T) {
	s, _ := claimsService(t, nil)
	var meta struct {
		Configs map[string]struct {
			Meta struct {
				Claims []struct {
					Path      []string `json:"path"`
					Mandatory bool     `json:"mandatory"`
				} `json:"claims"`
			} `json:"credential_metadata"`
		} `json:"credential_configurations_supported"`
	}
	if err := json.Unmarshal(s.Metadata(), &meta); err != nil {
		t.Fatal(err)
	}
	for id, first := range map[string][]string{sdJWT: {"region"}, jwtVC: {"credentialSubject", "region"}} {
		cl := meta.Configs[id].Meta.Claims
		if len(cl) != 2 || !reflect.DeepEqual(cl[0].Path, first) || !cl[0].Mandatory || cl[1].Mandatory {
			t.Errorf("%s claims %+v, want %v mandatory first", id, cl, first)
		}
	}
	m := memoryStore(t)
	if _, err := New(Config{Issuer: issuerURL, Signer: &recordingSigner{}, Store: m,
		Types: []CredentialType{{Type: "ResidenceCredential", Claims: []Claim{{Path: []string{}}}}}}); err == nil {
		t.Error("a claim with an empty path was accepted")
	}
}
