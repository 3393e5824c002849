package wallet

import (
	"errors"
	"net/url"
	"testing"
)

// FuzzParseOffer feeds offer links and offer objects from an untrusted
// issuer (or QR code) to the wallet's parsers: they refuse what they do
// not accept with ErrInvalidArgument or ErrIssuer, never panic, and an
// accepted offer has an issuer, configurations and a code.
func FuzzParseOffer(f *testing.F) {
	good := `{"credential_issuer":"https://node.example","credential_configuration_ids":["ResidenceCredential_sd_jwt"],` +
		`"grants":{"urn:ietf:params:oauth:grant-type:pre-authorized_code":{"pre-authorized_code":"abc","tx_code":{"input_mode":"numeric","length":6}}}}`
	f.Add("openid-credential-offer://?credential_offer=" + url.QueryEscape(good))
	f.Add("openid-credential-offer://?credential_offer_uri=https%3A%2F%2Fnode.example%2Foid4vci%2Foffers%2Fx")
	f.Add("https://wallet.example/offer?credential_offer=%7B%7D")
	f.Add("openid-credential-offer://?credential_offer=1&credential_offer_uri=2")
	f.Add(`openid-credential-offer://?credential_offer={"credential_issuer":"http://evil.example"}`)
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
		if o.issuer == "" || len(o.configs) == 0 || o.code == "" || checkURL(o.issuer) != nil {
			t.Fatalf("accepted an incomplete offer: %+v", o)
		}
	})
}
