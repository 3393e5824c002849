package oid4vp_test

import (
	"context"
	"crypto/rand"
	"net/url"
	"testing"
	"time"

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

// FuzzStoredTransaction: a transaction and its result read back from the
// store, whatever their bytes (sealed under the transaction ID, as the
// node seals them), give a request object, a refusal of a
// response no holder signed, and a result of a status the node writes,
// or an error; never a panic.
func FuzzStoredTransaction(f *testing.F) {
	ctx := context.Background()
	e := newEnv(f)
	// Seeds: a transaction as Create writes it, in each mode, and the
	// result a wallet's refusal leaves.
	for _, mode := range []string{oid4vp.ModeDirectPost, oid4vp.ModeDirectPostJWT} {
		r := e.open(f, "shop-1", ageQuery, mode)
		rec, err := e.store.Get(ctx, "oid4vp:tx:"+r.id)
		if err == nil {
			rec, err = oid4vp.OpenRecord("tx", r.id, rec)
		}
		if err != nil {
			f.Fatal(err)
		}
		if _, err := e.verifier.HandleResponse(ctx, r.id, form(f, r, map[string]any{"error": "access_denied", "state": r.state})); err != nil {
			f.Fatal(err)
		}
		res, err := e.store.Get(ctx, "oid4vp:result:"+r.id)
		if err == nil {
			res, err = oid4vp.OpenRecord("result", r.id, res)
		}
		if err != nil {
			f.Fatal(err)
		}
		f.Add(rec, res)
	}
	f.Add([]byte(`{"rp":"shop-1","exp":99999999999,"dcql_query":7,"response_mode":"x"}`), []byte(`{"status":"verified","rp":"shop-1","credentials":{"pid":null}}`))
	f.Add([]byte(`null`), []byte(`{"rp":"shop-1","status":"","code_hash":"00"}`))
	id := e.open(f, "shop-1", ageQuery, oid4vp.ModeDirectPost).id
	seal := func(t *testing.T, purpose string, plain []byte) []byte {
		sealed, err := e.verifier.SealRecord(purpose, id, plain)
		if err != nil {
			t.Fatal(err)
		}
		return sealed
	}
	f.Fuzz(func(t *testing.T, rec, res []byte) {
		if err := e.store.Set(ctx, "oid4vp:tx:"+id, seal(t, "tx", rec), time.Minute); err != nil {
			t.Fatal(err)
		}
		e.verifier.RequestObject(ctx, id)
		if _, err := e.verifier.HandleResponse(ctx, id, url.Values{"vp_token": {`{"pid":["a~b~"]}`}, "state": {"s"}}); err == nil {
			t.Fatal("a response no holder signed was accepted")
		}
		if err := e.store.Set(ctx, "oid4vp:result:"+id, seal(t, "result", res), time.Minute); err != nil {
			t.Fatal(err)
		}
		got, err := e.verifier.FetchResult(ctx, "shop-1", id, "")
		if err == nil && got.Status != oid4vp.StatusPending && got.Status != oid4vp.StatusVerified && got.Status != oid4vp.StatusRefused {
			t.Fatalf("a result of status %q", got.Status)
		}
	})
}
