package wallet

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

// FuzzParseOffer feeds offer links and offer objects from an untrusted
// issuer (or QR code) to the wallet's parsers: they refuse what they do
// not accept with ErrInvalidArgument or ErrIssuer, never panic, and an
// accepted offer has an issuer, configurations and a code or the
// authorization_code grant.
func FuzzParseOffer(f *testing.F) {
	good := `{"credential_issuer":"https://node.example","credential_configuration_ids":["ResidenceCredential_sd_jwt"],` +
		`"grants":{"urn:ietf:params:oauth:grant-type:pre-authorized_code":{"pre-authorized_code":"abc","tx_code":{"input_mode":"numeric","length":6}}}}`
	f.Add("openid-credential-offer://?credential_offer=" + url.QueryEscape(good))
	f.Add("openid-credential-offer://?credential_offer_uri=https%3A%2F%2Fnode.example%2Foid4vci%2Foffers%2Fx")
	f.Add("https://wallet.example/offer?credential_offer=%7B%7D")
	f.Add("openid-credential-offer://?credential_offer=1&credential_offer_uri=2")
	f.Add(`openid-credential-offer://?credential_offer={"credential_issuer":"http://evil.example"}`)
	f.Add("openid-credential-offer://?credential_offer=" + url.QueryEscape(`{"credential_issuer":"https://node.example","credential_configuration_ids":["A_sd_jwt"],"grants":{"authorization_code":{"issuer_state":"s"}}}`))
	f.Fuzz(func(t *testing.T, link string) {
		doc, ref, err := parseOfferLink(link)
		if err != nil {
			if !errors.Is(err, ErrInvalidArgument) && !errors.Is(err, ErrIssuer) {
				t.Fatalf("link error %v is neither ErrInvalidArgument nor ErrIssuer", err)
			}
			return
		}
		if ref != "" {
			if checkURL(ref) != nil {
				t.Fatalf("accepted reference %q", ref)
			}
			return
		}
		o, _, err := parseOffer(doc)
		if err != nil {
			if !errors.Is(err, ErrIssuer) {
				t.Fatalf("offer error %v is not ErrIssuer", err)
			}
			return
		}
		if o.issuer == "" || len(o.configs) == 0 || (o.code == "" && !o.authCode) || checkURL(o.issuer) != nil {
			t.Fatalf("accepted an incomplete offer: %+v", o)
		}
	})
}

// FuzzAuthorizationResponse feeds redirects (from a browser the wallet
// does not control) to the authorization response parser: it refuses
// with ErrInvalidArgument or ErrIssuer, never panics, and returns a code
// only for the expected redirect URI, state and issuer.
func FuzzAuthorizationResponse(f *testing.F) {
	const redirect, state, iss = "https://wallet.example/cb", "st", "https://node.example/oid4vci"
	f.Add("https://wallet.example/cb?code=abc&state=st&iss=https%3A%2F%2Fnode.example%2Foid4vci")
	f.Add("https://wallet.example/cb?error=access_denied&state=st&iss=https%3A%2F%2Fnode.example%2Foid4vci")
	f.Add("https://wallet.example/cb?code=abc&state=st")
	f.Add("https://evil.example/cb?code=abc&state=st")
	f.Add("https://wallet.example/cb?code=a&code=b&state=st")
	f.Add("https://wallet.example/cb?%zz")
	f.Fuzz(func(t *testing.T, got string) {
		for _, required := range []bool{false, true} {
			code, err := parseAuthorizationResponse(got, redirect, state, iss, required)
			if err != nil {
				if !errors.Is(err, ErrInvalidArgument) && !errors.Is(err, ErrIssuer) {
					t.Fatalf("error %v is neither ErrInvalidArgument nor ErrIssuer", err)
				}
				continue
			}
			_, rawq, _ := strings.Cut(got, "?")
			rawq, _, _ = strings.Cut(rawq, "#")
			q, perr := url.ParseQuery(rawq)
			if perr != nil || code == "" || q.Get("code") != code {
				t.Fatalf("accepted %q (code %q)", got, code)
			}
			if q.Get("state") != state || q.Get("error") != "" || (required && q.Get("iss") != iss) || !strings.HasPrefix(got, redirect) {
				t.Fatalf("accepted %q", got)
			}
		}
	})
}
