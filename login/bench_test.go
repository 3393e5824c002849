package login

import (
	"context"
	"testing"
)

// BenchmarkRefresh measures one refresh-token rotation at the token
// endpoint (the refresh_token grant: the family record read and
// replaced, a new access token, refresh token and SM2 ID token issued)
// on the memory store.
func BenchmarkRefresh(b *testing.B) {
	p := newTestProvider(b)
	ctx := context.Background()
	shop, err := p.cfg.Clients.Get(ctx, "shop")
	if err != nil {
		b.Fatal(err)
	}
	resp, err := shopTokens(ctx, p, shop, "family-bench")
	if err != nil {
		b.Fatal(err)
	}
	form := map[string]string{"grant_type": GrantRefreshToken}
	b.ReportAllocs()
	for b.Loop() {
		form["refresh_token"] = resp.RefreshToken
		if resp, err = p.Token(ctx, shop, form); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCodeExchange measures one authorization code's issue and
// redemption at the token endpoint (the code stored, spent, an access
// token and SM2 ID token issued) on the memory store.
func BenchmarkCodeExchange(b *testing.B) {
	p := newTestProvider(b)
	ctx := context.Background()
	shop, err := p.cfg.Clients.Get(ctx, "shop")
	if err != nil {
		b.Fatal(err)
	}
	s := &session{ClientID: "shop", RedirectURI: testRedirect, CodeChallenge: goodQuery().Get("code_challenge"), Scope: "openid",
		Approved: &grant{Sub: "pairwise-1", ACR: "L2", AMR: []string{"hwk"}}}
	form := map[string]string{"grant_type": "authorization_code", "redirect_uri": testRedirect, "code_verifier": rfcVerifier}
	b.ReportAllocs()
	for b.Loop() {
		if form["code"], err = p.issueCode(ctx, s); err != nil {
			b.Fatal(err)
		}
		if _, err := p.Token(ctx, shop, form); err != nil {
			b.Fatal(err)
		}
	}
}
