package oid4vp_test

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/trustid-cn/trustid/oid4vp"
)

// TestWalletErrorChecks: a wallet's error answer needs the transaction's
// state like any answer; an error code outside OpenID4VP 1.0 §8.5's is
// recorded as invalid_request; and a refused transaction gets no
// response_code redirect (finish issues one to a verified result only),
// so its result is fetched without one.
func TestWalletErrorChecks(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r := e.open(t, "shop-1", ageQuery, oid4vp.ModeDirectPost)
	_, err := e.verifier.HandleResponse(ctx, r.id, url.Values{"error": {"access_denied"}})
	wantCode(t, err, oid4vp.CodeInvalidRequest, "state")

	if _, err := e.verifier.HandleResponse(ctx, r.id, url.Values{"error": {"x_made_up"}, "state": {r.state}}); err != nil {
		t.Fatal(err)
	}
	res, err := e.verifier.FetchResult(ctx, "shop-1", r.id, "")
	if err != nil || res.Status != oid4vp.StatusRefused || res.Error != oid4vp.CodeInvalidRequest {
		t.Fatalf("unknown error code: %+v %v, want refused with invalid_request", res, err)
	}

	c, err := e.verifier.Create(ctx, "shop-1", oid4vp.CreateRequest{Query: json.RawMessage(ageQuery), RedirectURI: "https://shop.example/done"})
	if err != nil {
		t.Fatal(err)
	}
	r = e.openExisting(t, c.TransactionID)
	out, err := e.verifier.HandleResponse(ctx, r.id, url.Values{"error": {"access_denied"}, "state": {r.state}})
	if err != nil || out.RedirectURI != "" {
		t.Fatalf("refused with a redirect_uri: %+v %v, want no redirect", out, err)
	}
	if res, err := e.verifier.FetchResult(ctx, "shop-1", r.id, ""); err != nil || res.Status != oid4vp.StatusRefused {
		t.Fatalf("refused result without a response_code: %+v %v", res, err)
	}
}

// TestMalformedTransactionIDAsksNoStore: an empty transaction id, or one
// longer than any the verifier makes (64 bytes), is an unknown
// transaction without a store lookup: with the store down it is still
// invalid_request_uri (and FetchResult's not_found), while a well-formed
// id gets the store's failure.
func TestMalformedTransactionIDAsksNoStore(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.store.Close()
	if _, err := e.verifier.RequestObject(ctx, strings.Repeat("a", 64)); err == nil || oid4vp.CodeOf(err) != "" {
		t.Fatalf("a well-formed id with the store down: %v, want the store's failure", err)
	}
	for _, id := range []string{"", strings.Repeat("a", 65)} {
		if _, err := e.verifier.RequestObject(ctx, id); oid4vp.CodeOf(err) != oid4vp.CodeInvalidRequestURI {
			t.Errorf("request object of id %q: %v, want invalid_request_uri", id, err)
		}
		if _, err := e.verifier.HandleResponse(ctx, id, url.Values{}); oid4vp.CodeOf(err) != oid4vp.CodeInvalidRequest {
			t.Errorf("response to id %q: %v, want invalid_request", id, err)
		}
		if _, err := e.verifier.FetchResult(ctx, "shop-1", id, ""); oid4vp.CodeOf(err) != oid4vp.CodeNotFound {
			t.Errorf("result of id %q: %v, want not_found", id, err)
		}
	}
}
