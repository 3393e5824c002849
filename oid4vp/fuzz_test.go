package oid4vp_test

import (
	"context"
	"crypto/rand"
	"net/url"
	"testing"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/oid4vp"
)

// FuzzHandleResponse feeds arbitrary wallet responses (form bodies) to
// transactions in both modes: never a panic, every refusal an *Error with
// a protocol code, and nothing a forger makes is accepted.
func FuzzHandleResponse(f *testing.F) {
	e := newEnv(f)
	holder, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	cred := e.issue(f, holder)
	plain := e.open(f, "shop-1", ageQuery, oid4vp.ModeDirectPost)
	enc := e.open(f, "shop-1", ageQuery, oid4vp.ModeDirectPostJWT)
	good := e.present(f, cred.Token, holder, plain.clientID, "other-nonce", "age_over_18")
	f.Add(form(f, plain, map[string]any{"vp_token": token("pid", good), "state": plain.state}).Encode(), false)
	f.Add(form(f, enc, map[string]any{"vp_token": token("pid", good), "state": enc.state}).Encode(), true)
	f.Add("vp_token=%7B%22pid%22%3A%5B%22a~b~c%22%5D%7D&state=x", false)
	f.Add("response=a.b.c.d.e", true)
	f.Add("error=access_denied&state=nope", false)
	f.Fuzz(func(t *testing.T, body string, encrypted bool) {
		vals, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		id := plain.id
		if encrypted {
			id = enc.id
		}
		_, err = e.verifier.HandleResponse(context.Background(), id, vals)
		if err == nil {
			t.Fatalf("a forged response was accepted: %q", body)
		}
		if oid4vp.CodeOf(err) == "" {
			t.Fatalf("refusal without a protocol code: %v", err)
		}
	})
}
