package sdk_test

import (
	"context"
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/sdk"
)

// FuzzAccessTokenAsNode signs fuzzed headers and claims sets with the
// node's key and checks that the SDK's offline verification agrees with
// the node's (auth.Service.Authorize, scope qr:redeem): the SDK never
// accepts a token the node refuses, but for what it cannot see (a client
// the node does not know) and for an exp within its leeway past (the
// node, its tokens' clock, takes none), and refuses none the node
// accepts.
func FuzzAccessTokenAsNode(f *testing.F) {
	node := startExampleNode()
	defer node.Close()
	node.register("hotel", gm.AlgSM2, auth.ScopeQRRedeem)
	k, err := node.keys.Active(gm.AlgSM2)
	if err != nil {
		f.Fatal(err)
	}
	method, _ := gm.SigningMethod(k.Signer)
	v, err := sdk.NewAccessTokenVerifier(sdk.AccessTokenConfig{Issuer: node.URL, Audience: testAPI, Algorithms: auth.AccessTokenAlgorithms})
	if err != nil {
		f.Fatal(err)
	}
	header := `{"alg":"SM2","kid":"` + k.Kid + `","typ":"at+jwt"}`
	claims := `{"iss":"` + node.URL + `","aud":["` + node.URL + `","` + testAPI + `"],"sub":"hotel","client_id":"hotel","jti":"j1","exp":4102444800,"iat":1700000000,"scope":"qr:redeem"}`
	f.Add(header, claims)
	f.Add(header, claims[:len(claims)-1]+`,"nbf":1700000000,"aud":"x"}`)
	f.Add(header, claims[:len(claims)-1]+`,"Scope":"registry:admin"}`)
	f.Add(header, claims[:len(claims)-1]+`,"exp":4102444800.0}`)
	f.Add(`{"typ":"at+jwt",`+header[1:], claims)
	f.Add(header[:len(header)-1]+`,"crit":null}`, claims)
	f.Add(`{"alg":"SM2","kid":"`+k.Kid+`","typ":7}`, `null`)
	f.Add(header, `{"iss":"`+node.URL+`","aud":["`+node.URL+`","`+testAPI+`"],"sub":"hotel","client_id":"hotel","jti":"j1","exp":4102444800,"iat":1700000000,"scope":"qr:redeem \u0000"}`)
	enc := base64.RawURLEncoding.EncodeToString
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, h, c string) {
		input := enc([]byte(h)) + "." + enc([]byte(c))
		sig, err := method.Sign(input, k.Signer)
		if err != nil {
			t.Fatal(err)
		}
		tok := input + "." + enc(sig)
		_, nodeErr := node.auth.Authorize(ctx, tok, auth.ScopeQRRedeem)
		p, sdkErr := v.Verify(ctx, tok)
		if sdkErr != nil && !errors.Is(sdkErr, sdk.ErrInvalidToken) {
			t.Fatalf("the SDK: %v, want nil or ErrInvalidToken", sdkErr)
		}
		sdkOK := sdkErr == nil && p.HasScope(auth.ScopeQRRedeem)
		switch {
		case nodeErr == nil && !sdkOK:
			t.Fatalf("the node accepts %q %q, the SDK refuses: %+v %v", h, c, p, sdkErr)
		case nodeErr != nil && sdkOK && p.ClientID == "hotel" && time.Until(p.Expires) > 0:
			t.Fatalf("the node refuses %q %q (%v), the SDK accepts: %+v", h, c, nodeErr, p)
		}
	})
}
