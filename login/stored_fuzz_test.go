package login

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/store"
)

// rfcChallenge is the S256 challenge of rfcVerifier (RFC 7636 Appendix B).
const rfcChallenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// isError fails t unless err is nil or an *Error.
func isError(t *testing.T, what string, err error) {
	t.Helper()
	var e *Error
	if err != nil && !errors.As(err, &e) {
		t.Fatalf("%s: %v is not an *Error", what, err)
	}
}

// dailyStore gives p a memory store whose clock is a day on for each
// call of next (once per input), so that an input's records, and the
// spent ones kept for an hour, expire before the next: the store is
// swept and never full. Every storeDays inputs p gets a new store, its
// clock back at now, before the clock would pass what the store's times
// hold (UnixNano, the year 2262), however long the fuzzer runs. next
// returns a number no input of this worker got before.
func dailyStore(f *testing.F, p *Provider) (next func() int64) {
	const storeDays = 10_000
	day := new(atomic.Int64)
	open := func() *store.Memory {
		base := time.Now()
		mem, err := store.NewMemory(store.MemoryOptions{Now: func() time.Time { return base.Add(time.Duration(day.Load()%storeDays) * 24 * time.Hour) }})
		if err != nil {
			panic(err)
		}
		return mem
	}
	mem := open()
	f.Cleanup(func() { mem.Close() })
	p.cfg.Store = mem
	return func() int64 {
		d := day.Add(1)
		if d%storeDays == 0 {
			mem.Close()
			mem = open()
			p.cfg.Store = mem
		}
		return d
	}
}

// FuzzStoredSession: a login session read back from the store, whatever
// its bytes, is described, resumed, waited on and completed, or refused
// with an *Error; never a panic.
func FuzzStoredSession(f *testing.F) {
	ctx := context.Background()
	p := newTestProvider(f)
	next := dailyStore(f, p)
	st, err := p.Authorize(ctx, goodQuery())
	if err != nil {
		f.Fatal(err)
	}
	// Seeds: the session as Authorize writes it, approved and denied.
	s, rec, err := p.readSession(ctx, st.ID)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(rec)
	s.Approved = &grant{Sub: "sub-1", ACR: "L2", AMR: []string{"hwk"}, AuthTime: 1, Claims: map[string]string{"age_over_18": "true"}}
	s.Purpose = &Purpose{Action: "sign", Objects: []string{"contract"}, From: "Shop"}
	f.Add(mustJSON(f, s))
	s.Approved, s.Denied = nil, true
	f.Add(mustJSON(f, s))
	s.Denied, s.Audience, s.Iss, s.Data = false, "https://node.example/oid4vp", "https://node.example", []byte("sealed")
	s.Approved = &grant{Sub: "sub-1"}
	f.Add(mustJSON(f, s))
	s.Approved = &grant{Sub: "sub-1", ACR: "L3", AMR: []string{"hwk"}, AuthTime: 1, Status: &StatusEntry{Region: 310000, List: 7, Index: 42}}
	s.Audience, s.Iss, s.Data, s.Level, s.ACRValues = "", "", nil, 3, []identity.Level{identity.L3, identity.L4}
	f.Add(mustJSON(f, s))
	f.Add([]byte(`{"expires":99999999999,"acr_values":["L9"],"approved":{"sub":"s","status":{"region":"x"}}}`))
	f.Add([]byte(`{"expires":99999999999,"purpose":"old"}`))
	f.Add([]byte(`{"expires":99999999999,"approved":null,"level":-7,"purpose_of":{}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		next()
		st, err := p.Authorize(ctx, goodQuery())
		if err != nil {
			t.Fatal(err)
		}
		if err := p.cfg.Store.Set(ctx, sessionKey(st.ID), data, time.Minute); err != nil {
			t.Fatal(err)
		}
		_, err = p.Describe(ctx, st.ID)
		isError(t, "describe", err)
		isError(t, "pending", p.Pending(ctx, st.ID, st.Browser))
		_, err = p.Resume(ctx, st.ID, st.Browser)
		isError(t, "resume", err)
		out, err := p.Wait(ctx, st.ID, st.Browser, 0)
		isError(t, "wait", err)
		if out != nil && out.Redirect == "" {
			t.Fatalf("an outcome without a redirect")
		}
	})
}

// FuzzStoredTokens: a code (of a login or an extension's), refresh or
// access token record read back from the store, whatever its bytes, is redeemed, rotated, introspected,
// revoked or answered for, or refused with an *Error; never a panic, and
// never tokens for another client than the record's, nor of a login whose
// approver's status entry is revoked or suspended (grantLive).
func FuzzStoredTokens(f *testing.F) {
	ctx := context.Background()
	p := newTestProvider(f)
	next := dailyStore(f, p)
	revoked, suspended := StatusEntry{Region: 310000, List: 7, Index: 42}, StatusEntry{Region: 310000, List: 7, Index: 43}
	p.cfg.Status = &entries{st: map[qrcode.StatusRef]qrcode.Status{
		{Region: revoked.Region, List: revoked.List, Index: revoked.Index}:       qrcode.StatusRevoked,
		{Region: suspended.Region, List: suspended.List, Index: suspended.Index}: qrcode.StatusSuspended,
	}}
	c, err := p.cfg.Clients.Get(ctx, "shop")
	if err != nil {
		f.Fatal(err)
	}
	// Seeds: a code as issueCode writes it, and a refresh token and an
	// access token as tokens writes them.
	g := grant{Sub: "sub-1", ACR: "L2", AMR: []string{"hwk"}, AuthTime: 1, Claims: map[string]string{"age_over_18": "true"}}
	code, err := p.issueCode(ctx, &session{ClientID: "shop", RedirectURI: testRedirect, CodeChallenge: rfcChallenge, Nonce: "n1",
		Scope: "openid offline_access age_over_18", Approved: &g})
	if err != nil {
		f.Fatal(err)
	}
	rec, err := p.cfg.Store.Peek(ctx, codeKey(code))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(rec)
	resp, err := p.tokens(ctx, c, refresh{ClientID: "shop", Scope: "openid offline_access", Family: "fam", Grant: g}, "n1")
	if err != nil {
		f.Fatal(err)
	}
	handle, ok := tokenHandle(resp.RefreshToken)
	if !ok {
		f.Fatalf("refresh token %q of no handle", resp.RefreshToken)
	}
	if rec, err = p.cfg.Store.Get(ctx, familyKey(handle)); err != nil {
		f.Fatal(err)
	}
	f.Add(rec)
	const aud = "https://node.example/oid4vci"
	xc, err := p.issueExtensionCode(ctx, "session-1", &session{ClientID: "shop", RedirectURI: testRedirect, CodeChallenge: rfcChallenge,
		Audience: aud, Approved: &g})
	if err != nil {
		f.Fatal(err)
	}
	if rec, err = p.cfg.Store.Peek(ctx, xcodeKey(aud, xc)); err != nil {
		f.Fatal(err)
	}
	f.Add(rec)
	// Each record again, of a login approved by a binding whose status
	// entry is valid, revoked or suspended; and a malformed entry.
	for _, entry := range []StatusEntry{{Region: 310000, List: 7, Index: 41}, revoked, suspended} {
		g := g
		g.Status = &entry
		code, err := p.issueCode(ctx, &session{ClientID: "shop", RedirectURI: testRedirect, CodeChallenge: rfcChallenge, Nonce: "n1",
			Scope: "openid offline_access", Approved: &g})
		if err != nil {
			f.Fatal(err)
		}
		if rec, err = p.cfg.Store.Peek(ctx, codeKey(code)); err != nil {
			f.Fatal(err)
		}
		f.Add(rec)
		xc, err := p.issueExtensionCode(ctx, "session-1", &session{ClientID: "shop", RedirectURI: testRedirect, CodeChallenge: rfcChallenge,
			Audience: aud, Approved: &g})
		if err != nil {
			f.Fatal(err)
		}
		if rec, err = p.cfg.Store.Peek(ctx, xcodeKey(aud, xc)); err != nil {
			f.Fatal(err)
		}
		f.Add(rec)
		resp, err := p.tokens(ctx, c, refresh{ClientID: "shop", Scope: "openid offline_access", Family: "fam", Grant: g}, "n1")
		if err != nil {
			f.Fatal(err)
		}
		handle, _ := tokenHandle(resp.RefreshToken)
		if rec, err = p.cfg.Store.Get(ctx, familyKey(handle)); err != nil {
			f.Fatal(err)
		}
		f.Add(rec)
	}
	f.Add([]byte(`{"client_id":"shop","redirect_uri":"` + testRedirect + `","code_challenge":"` + rfcChallenge +
		`","grant":{"sub":"s","status":{"region":-1,"list":7,"index":42}}}`))
	f.Add([]byte(`{"client_id":"shop","redirect_uri":"` + testRedirect + `","code_challenge":"` + rfcChallenge +
		`","grant":{"sub":"s","status":"310000/7/42"}}`))
	f.Add([]byte(`{"client_id":"other","grant":{"claims":{"age_over_18":"x"}}}`))
	f.Add([]byte(`{"client_id":"shop","redirect_uri":"` + testRedirect + `","code_challenge":"` + rfcChallenge + `","grant":null}`))
	f.Add([]byte(`[]`))
	form := map[string]string{"grant_type": "authorization_code", "redirect_uri": testRedirect, "code_verifier": rfcVerifier}
	f.Fuzz(func(t *testing.T, data []byte) {
		tok := fmt.Sprintf("token-%d", next())
		form["code"] = tok
		if err := p.cfg.Store.Put(ctx, codeKey(tok), data, time.Minute); err != nil {
			t.Fatal(err)
		}
		resp, err := p.Token(ctx, c, form)
		isError(t, "code", err)
		checkIssued(t, p, resp)
		if err := p.cfg.Store.Put(ctx, xcodeKey(aud, tok), data, time.Minute); err != nil {
			t.Fatal(err)
		}
		red, err := p.Redeem(ctx, aud, Redemption{Code: tok, ClientID: "shop", RedirectURI: testRedirect, Verifier: rfcVerifier})
		isError(t, "extension code", err)
		if red != nil && (red.Family != codeFamily(tok) || p.Standing(ctx, red.Approver) != nil) {
			t.Fatalf("redeemed %+v", red)
		}
		if err := p.cfg.Store.Put(ctx, refreshKey(tok), data, time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := p.cfg.Store.Set(ctx, accessKey(tok), data, time.Minute); err != nil {
			t.Fatal(err)
		}
		_, err = p.UserInfo(ctx, tok)
		isError(t, "userinfo", err)
		// A refresh token of this node's form: its family record.
		rt := fmt.Sprintf("%016d", next()) + strings.Repeat("A", 32)
		h, _ := tokenHandle(rt)
		if err := p.cfg.Store.Set(ctx, familyKey(h), data, time.Minute); err != nil {
			t.Fatal(err)
		}
		for _, tok := range []string{tok, rt} {
			_, err = p.Introspect(ctx, c, tok)
			isError(t, "introspect", err)
			resp, err = p.Token(ctx, c, map[string]string{"grant_type": GrantRefreshToken, "refresh_token": tok})
			isError(t, "refresh", err)
			checkIssued(t, p, resp)
			isError(t, "revoke", p.Revoke(ctx, c, tok))
			_, err = p.Introspect(ctx, c, tok)
			isError(t, "introspect after rotation", err)
		}
	})
}

// checkIssued fails t unless resp, if any, is tokens of the shop.
func checkIssued(t *testing.T, p *Provider, resp *TokenResponse) {
	t.Helper()
	if resp == nil {
		return
	}
	in, err := p.Introspect(context.Background(), mustShop(t, p), resp.AccessToken)
	if err != nil || !in.Active || in.ClientID != "shop" {
		t.Fatalf("issued %+v: introspected %+v, %v", resp, in, err)
	}
}

func mustShop(t *testing.T, p *Provider) auth.Client {
	t.Helper()
	c, err := p.cfg.Clients.Get(context.Background(), "shop")
	if err != nil {
		t.Fatal(err)
	}
	return c
}
