package oid4vci

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/login"
)

const (
	sdJWT = "ResidenceCredential_sd_jwt"
	jwtVC = "ResidenceCredential_jwt_vc_json"
)

// details is an authorization_details parameter naming configuration id.
func details(id string) string {
	return `[{"type":"openid_credential","credential_configuration_id":"` + id + `"}]`
}

// credentialAs asks for one credential with a fresh c_nonce, naming it by
// member (credential_configuration_id or credential_identifier).
func credentialAs(t *testing.T, s *Service, access Access, member, id string) error {
	t.Helper()
	n, err := s.Nonce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{member: id, "proofs": map[string]any{"jwt": []string{proof(t, n.CNonce, time.Now())}}})
	_, err = s.Credential(context.Background(), access, b)
	return err
}

// TestPreAuthorizedAuthorizationDetails: OID4VCI 1.0 §6.1, §6.2, §8.2. A
// token request of the pre-authorized code grant may name, in
// authorization_details, configurations of the offer: the token covers
// those alone, the response names them with credential_identifiers, and
// credential requests must use credential_identifier (exactly those),
// never credential_configuration_id. Refused details (RFC 9396 §5:
// invalid_authorization_details) leave the code unspent.
func TestPreAuthorizedAuthorizationDetails(t *testing.T) {
	s := newService(t, memoryStore(t), nil)
	ctx := context.Background()
	o, err := s.CreateOffer(ctx, OfferRequest{Client: "rp", ConfigurationIDs: []string{sdJWT, jwtVC}, Credential: residence()})
	if err != nil {
		t.Fatal(err)
	}
	c := preAuthCode(t, o)
	for _, d := range []string{
		`[{"type":"other","credential_configuration_id":"` + jwtVC + `"}]`,
		details("ResidenceCredential_ldp_vc_sm2-rdfc-2025"), // not a configuration of this issuer
		details("Unknown_sd_jwt"),
		`[{"type":"openid_credential","credential_configuration_id":"` + jwtVC + `","credential_configuration_id":"` + jwtVC + `"}]`,
		`[{"type":"openid_credential","credential_configuration_id":1}]`,
		`[{"type":"openid_credential","credential_configuration_id":"` + jwtVC + `","locations":["https://other.example"]}]`,
		`{"type":"openid_credential"}`,
		`[]`,
	} {
		if _, err := s.Token(ctx, TokenRequest{GrantType: GrantPreAuthorized, PreAuthorizedCode: c, AuthorizationDetails: d}); code(err) != CodeInvalidAuthorizationDetails {
			t.Errorf("authorization_details %s: %v, want invalid_authorization_details", d, err)
		}
	}
	// A configuration the offer does not name.
	other, _ := s.CreateOffer(ctx, OfferRequest{Client: "rp", ConfigurationIDs: []string{sdJWT}, Credential: residence()})
	if _, err := s.Token(ctx, TokenRequest{GrantType: GrantPreAuthorized, PreAuthorizedCode: preAuthCode(t, other), AuthorizationDetails: details(jwtVC)}); code(err) != CodeInvalidAuthorizationDetails {
		t.Errorf("a configuration not in the offer: %v, want invalid_authorization_details", err)
	}
	// §5.1.1: openid_credential is "never considered invalid due to
	// unknown fields" (an extension); claims are read (claims_test.go).
	tok, err := s.Token(ctx, TokenRequest{GrantType: GrantPreAuthorized, PreAuthorizedCode: c,
		AuthorizationDetails: `[{"type":"openid_credential","credential_configuration_id":"` + jwtVC + `","locations":["` + issuerURL + `"],` +
			`"claims":[{"path":["credentialSubject","region"]}],"x_extension":{"a":1}}]`})
	if err != nil {
		t.Fatalf("after the refusals the code still redeems: %v", err)
	}
	want := []AuthorizationDetail{{Type: DetailsType, ConfigurationID: jwtVC, CredentialIdentifiers: []string{jwtVC}}}
	if !slices.EqualFunc(tok.AuthorizationDetails, want, func(a, b AuthorizationDetail) bool {
		return a.Type == b.Type && a.ConfigurationID == b.ConfigurationID && slices.Equal(a.CredentialIdentifiers, b.CredentialIdentifiers)
	}) {
		t.Fatalf("authorization_details %+v, want %+v", tok.AuthorizationDetails, want)
	}
	access := Access{Scheme: "Bearer", Token: tok.AccessToken}
	if err := credentialAs(t, s, access, "credential_configuration_id", jwtVC); code(err) != CodeInvalidCredentialRequest {
		t.Errorf("credential_configuration_id after credential_identifiers: %v, want invalid_credential_request", err)
	}
	if err := credentialAs(t, s, access, "credential_identifier", sdJWT); code(err) != CodeUnknownIdentifier {
		t.Errorf("an identifier the token was not given (the offer's other configuration): %v, want unknown_credential_identifier", err)
	}
	if err := credentialAs(t, s, access, "credential_identifier", jwtVC); err != nil {
		t.Fatalf("the granted identifier: %v", err)
	}
	if err := credentialAs(t, s, access, "credential_identifier", jwtVC); code(err) != CodeInvalidToken {
		t.Errorf("the identifier again (the token's only one): %v, want invalid_token", err)
	}
	// Without authorization_details: no identifiers, the whole offer.
	plain, _ := s.CreateOffer(ctx, OfferRequest{Client: "rp", ConfigurationIDs: []string{sdJWT, jwtVC}, Credential: residence()})
	tok, err = s.Token(ctx, TokenRequest{GrantType: GrantPreAuthorized, PreAuthorizedCode: preAuthCode(t, plain)})
	if err != nil || tok.AuthorizationDetails != nil {
		t.Fatalf("without authorization_details: %+v, %v", tok, err)
	}
	access = Access{Scheme: "Bearer", Token: tok.AccessToken}
	if err := credentialAs(t, s, access, "credential_identifier", jwtVC); code(err) != CodeUnknownIdentifier {
		t.Errorf("an identifier without credential_identifiers: %v, want unknown_credential_identifier", err)
	}
	for _, id := range []string{sdJWT, jwtVC} {
		if err := credentialAs(t, s, access, "credential_configuration_id", id); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
}

// codeLogin is a Login whose codes redeem to a fixed authorization.
type codeLogin struct {
	Login
	data []byte
}

func (l codeLogin) Redeem(context.Context, string, login.Redemption) (*login.Redeemed, error) {
	return &login.Redeemed{Data: l.data, Family: "f"}, nil
}

func (codeLogin) Revoked(context.Context, string) bool { return false }

// TestAuthorizationCodeTokenDetails: in the authorization code grant a
// token request's authorization_details may narrow what was authorized
// (OID4VCI 1.0 §6.1, RFC 9396 §6.1), and makes the response carry
// credential_identifiers also when the authorization named scope only; it
// may not ask for more.
func TestAuthorizationCodeTokenDetails(t *testing.T) {
	m := memoryStore(t)
	ctx := context.Background()
	for _, c := range []struct {
		name    string
		details bool // the authorization used authorization_details
		token   string
		want    []string // the identifiers; nil: none
		refused bool
	}{
		{"scope, none in the token request", false, "", nil, false},
		{"scope, narrowed", false, details(jwtVC), []string{jwtVC}, false},
		{"details, none in the token request", true, "", []string{sdJWT, jwtVC}, false},
		{"details, narrowed", true, details(sdJWT), []string{sdJWT}, false},
		{"more than authorized", true, details(jwtVC), nil, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			configs := []string{sdJWT, jwtVC}
			if c.refused {
				configs = configs[:1] // sdJWT alone
			}
			data, _ := json.Marshal(authorization{Grant: grant{Client: "rp", Configs: configs, Credential: residence()}, Details: c.details})
			s := newServiceWith(t, Config{Store: m, Login: codeLogin{data: data}})
			tok, err := s.Token(ctx, TokenRequest{GrantType: GrantAuthorizationCode, Code: "c", RedirectURI: "https://wallet.example/cb", ClientID: "wallet", AuthorizationDetails: c.token})
			if c.refused {
				if code(err) != CodeInvalidAuthorizationDetails {
					t.Fatalf("%v, want invalid_authorization_details", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range tok.AuthorizationDetails {
				got = append(got, d.CredentialIdentifiers...)
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("credential_identifiers %v, want %v", got, c.want)
			}
			member := "credential_configuration_id"
			if c.want != nil {
				member = "credential_identifier"
			}
			if err := credentialAs(t, s, Access{Scheme: "Bearer", Token: tok.AccessToken}, member, jwtVC); (err == nil) != (c.want == nil || slices.Contains(c.want, jwtVC)) {
				t.Errorf("%s %s: %v", member, jwtVC, err)
			}
		})
	}
}

// TestTokenGrantType: a token request without grant_type is
// invalid_request, one of a grant this issuer does not serve
// unsupported_grant_type, and neither spends the code (RFC 6749 §5.2:
// invalid_request, "The request is missing a required parameter";
// unsupported_grant_type, "The authorization grant type is not supported
// by the authorization server"; §4.1.3, §4.4.2: grant_type REQUIRED).
func TestTokenGrantType(t *testing.T) {
	s := newService(t, memoryStore(t), nil)
	ctx := context.Background()
	o, err := s.CreateOffer(ctx, OfferRequest{Client: "rp", ConfigurationIDs: []string{"ResidenceCredential_sd_jwt"}, Credential: residence()})
	if err != nil {
		t.Fatal(err)
	}
	c := preAuthCode(t, o)
	if _, err := s.Token(ctx, TokenRequest{PreAuthorizedCode: c}); code(err) != CodeInvalidRequest {
		t.Errorf("no grant_type: %v, want invalid_request", err)
	}
	for _, g := range []string{"password", "authorization_code"} {
		if _, err := s.Token(ctx, TokenRequest{GrantType: g, PreAuthorizedCode: c}); code(err) != CodeUnsupportedGrantType {
			t.Errorf("grant_type %s: %v, want unsupported_grant_type", g, err)
		}
	}
	if _, err := s.Token(ctx, TokenRequest{GrantType: GrantPreAuthorized, PreAuthorizedCode: c}); err != nil {
		t.Errorf("the code after the refused requests: %v", err)
	}
}
