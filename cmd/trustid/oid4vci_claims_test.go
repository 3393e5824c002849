package main

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	sdkwallet "github.com/trustid-cn/trustid/sdk/wallet"
)

// TestOID4VCIWalletSDKClaims: the wallet SDK asks a real node for some
// claims only (RequestClaims: authorization_details with claims in the
// pre-authorized token request, OID4VCI 1.0 §5.1.1, §6.1) and requests
// the credentials by the credential identifiers the token response gave
// (§8.2). Each credential, verified by the node, carries the claims asked
// for and region (the type requires it), never the others. A mandatory
// claim the offer lacks is refused before the code is spent; bad claims
// never leave the wallet.
func TestOID4VCIWalletSDKClaims(t *testing.T) {
	const sd, jv = "ResidenceCredential_sd_jwt", "ResidenceCredential_jwt_vc_json"
	n := startVCINode(t)
	code, o, _ := n.do("POST", "/oid4vci/offers", n.rpToken, "application/json", `{"credential_configuration_ids":["`+sd+`","`+jv+`"],"tx_code":true,
	  "credential":{"@context":["https://www.w3.org/ns/credentials/v2"],"type":["VerifiableCredential","ResidenceCredential"],
	    "credentialSubject":{"region":"310000","since":"2019-07-01","household":"户主"}}}`)
	if code != 201 {
		t.Fatalf("offer: %d %v", code, o)
	}
	w, err := sdkwallet.NewHolder(n.base, sdkwallet.NewSoftwareKeys(), "device")
	if err != nil {
		t.Fatal(err)
	}
	offer, err := w.ReceiveOffer(o["offer_uri"].(string))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ config, claims string }{
		{"Other_sd_jwt", `[{"path":["since"]}]`},
		{sd, `[{"path":[]}]`},
		{sd, `[{"path":["since"]},{"path":["since"]}]`},
		{sd, `{"path":["since"]}`},
	} {
		if err := offer.RequestClaims(c.config, c.claims); !errors.Is(err, sdkwallet.ErrInvalidArgument) {
			t.Errorf("RequestClaims(%s, %s): %v, want ErrInvalidArgument", c.config, c.claims, err)
		}
	}
	store := sdkwallet.NewMemoryStore()
	tx := o["tx_code"].(string)
	if err := offer.RequestClaims(sd, `[{"path":["nickname"],"mandatory":true}]`); err != nil {
		t.Fatal(err)
	}
	if _, err := w.AcceptOffer(offer, "", tx, 1, store); err == nil || !strings.Contains(err.Error(), "invalid_authorization_details") {
		t.Fatalf("a mandatory claim the offer lacks: %v, want invalid_authorization_details", err)
	}
	if err := offer.RequestClaims(sd, `[{"path":["since"],"mandatory":true}]`); err != nil {
		t.Fatal(err)
	}
	if err := offer.RequestClaims(jv, `[{"path":["credentialSubject","household"]}]`); err != nil {
		t.Fatal(err)
	}
	ids, err := w.AcceptOffer(offer, "", tx, 2, store)
	if err != nil {
		t.Fatalf("the code after the refusal: %v", err)
	}
	want := map[string][]string{sd: {"region", "since"}, jv: {"household", "id", "region"}}
	got := 0
	for _, id := range strings.Split(ids, ",") {
		c, err := sdkwallet.LoadCredential(store, id)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(map[string]any{"verifiableCredential": c.Credential})
		code, v, _ := n.do("POST", "/credentials/verify", "", "application/json", string(body))
		if code != 200 || v["verified"] != true {
			t.Fatalf("verify %s: %d %v", c.Format, code, v)
		}
		cred := v["credential"].(map[string]any)
		var names []string
		if c.ConfigurationID == jv {
			for k := range cred["credentialSubject"].(map[string]any) {
				names = append(names, k)
			}
		} else {
			for _, k := range []string{"region", "since", "household", "sub"} {
				if _, ok := cred[k]; ok {
					names = append(names, k)
				}
			}
		}
		if strings.Join(slices.Sorted(slices.Values(names)), ",") != strings.Join(want[c.ConfigurationID], ",") {
			t.Errorf("%s carries %v, want %v", c.ConfigurationID, names, want[c.ConfigurationID])
		}
		got++
	}
	if got != 4 {
		t.Fatalf("%d credentials, want 2 of each configuration", got)
	}
}
