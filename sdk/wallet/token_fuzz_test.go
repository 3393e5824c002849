package wallet

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/trustid-cn/trustid/oid4vci"
)

// FuzzTokenResponse feeds token responses from an untrusted issuer to
// the wallet: refused with ErrIssuer, or an access token of the type the
// request allows, whose credential identifier for a configuration is one
// the response grants it (ErrIssuer when it grants it none).
func FuzzTokenResponse(f *testing.F) {
	// Seeds: the node's token responses (oid4vci.TokenResponse).
	for _, r := range []oid4vci.TokenResponse{
		{AccessToken: "at-1", TokenType: "Bearer", ExpiresIn: 300},
		{AccessToken: "at-2", TokenType: "DPoP", ExpiresIn: 300, AuthorizationDetails: []oid4vci.AuthorizationDetail{
			{Type: "openid_credential", ConfigurationID: "ResidenceCredential_sd_jwt", CredentialIdentifiers: []string{"id-1", "id-2"}}}},
	} {
		b, err := json.Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, true, "ResidenceCredential_sd_jwt")
		f.Add(b, false, "other")
	}
	f.Add([]byte(`{"access_token":"x","token_type":"bearer","authorization_details":[{"type":"openid_credential","credential_configuration_id":"c","credential_identifiers":[]}]}`), false, "c")
	f.Add([]byte(`{"access_token":"","token_type":"Bearer"}`), false, "")
	f.Add([]byte(`null`), true, "")
	f.Fuzz(func(t *testing.T, body []byte, dpop bool, cfg string) {
		tok, err := parseTokenResponse(body, dpop)
		if err != nil {
			if !errors.Is(err, ErrIssuer) {
				t.Fatalf("refusal %v is not ErrIssuer", err)
			}
			return
		}
		if tok.AccessToken == "" || !(strings.EqualFold(tok.TokenType, "Bearer") || dpop && strings.EqualFold(tok.TokenType, "DPoP")) {
			t.Fatalf("accepted %+v (dpop %v)", tok, dpop)
		}
		id, err := tok.identifier(cfg)
		if err != nil {
			if !errors.Is(err, ErrIssuer) {
				t.Fatalf("identifier: %v is not ErrIssuer", err)
			}
			return
		}
		if len(tok.Details) == 0 {
			if id != "" {
				t.Fatalf("identifier %q without authorization_details", id)
			}
			return
		}
		granted := false
		for _, d := range tok.Details {
			granted = granted || d.Type == "openid_credential" && d.ConfigurationID == cfg && slices.Contains(d.Identifiers, id)
		}
		if !granted {
			t.Fatalf("identifier %q is not granted for %q in %s", id, cfg, body)
		}
	})
}
