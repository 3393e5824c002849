package sdk_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/sdk"
)

// TestRedeemQRRefusalsMatchSentinels: what a node answers POST
// /v1/qr/verify for an offline code it refuses (api's qrErrors: status
// and code) comes back from RedeemQR as a *NodeError matching the qrcode
// sentinel, as RedeemQR documents (qrcode.ErrReplayed, ...).
func TestRedeemQRRefusalsMatchSentinels(t *testing.T) {
	for _, c := range []struct {
		status int
		code   string
		want   error
	}{
		{409, "qr_replayed", qrcode.ErrReplayed},
		{409, "qr_clone_suspected", qrcode.ErrCloneSuspected},
		{403, "qr_binding_expired", qrcode.ErrBindingExpired},
		{403, "qr_unknown_key", qrcode.ErrUnknownKey},
		{403, "qr_bad_signature", qrcode.ErrSignature},
		{400, "qr_stale", qrcode.ErrStale},
		{400, "qr_challenge_mismatch", qrcode.ErrChallenge},
		{400, "qr_audience_mismatch", qrcode.ErrAudience},
		{409, "qr_code_used", qrcode.ErrCodeUsed},
		{403, "qr_revoked", qrcode.ErrRevoked},
		// A decoding refusal: qr_malformed is ErrMalformed (a code that
		// is not canonical, truncated...), not ErrPrefix, which shares
		// the code.
		{400, "qr_malformed", qrcode.ErrMalformed},
		{400, "qr_unsupported_version", qrcode.ErrVersion},
		{400, "qr_wrong_kind", qrcode.ErrKind},
		{413, "qr_too_large", qrcode.ErrTooLarge},
	} {
		node := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			if r.URL.Path == sdk.TokenPath {
				fmt.Fprint(w, `{"access_token":"at","token_type":"Bearer","expires_in":600}`)
				return
			}
			w.WriteHeader(c.status)
			fmt.Fprintf(w, `{"error":%q,"error_description":"refused"}`, c.code)
		}))
		key, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
		tokens, err := sdk.NewTokenSource(sdk.ClientConfig{Node: node.URL, ClientID: "hotel", Key: key})
		if err != nil {
			t.Fatal(err)
		}
		_, err = (&sdk.Client{Node: node.URL, Tokens: tokens}).RedeemQR(context.Background(), "TIDOFF2:x")
		var ne *sdk.NodeError
		if !errors.As(err, &ne) || ne.Code != c.code || !errors.Is(err, c.want) {
			t.Errorf("%d %s: %v, want a NodeError matching %v", c.status, c.code, err, c.want)
		}
		node.Close()
	}
}

// TestRedeemQRPeerFailed: the node's 502 qr_peer_failed (the code's
// region answered it wrongly, docs/qr.md) reaches RedeemQR as a
// *NodeError matching qrcode.ErrPeer, as docs/sdk.md says of every node
// error; it is not taken for the node's own unavailability.
func TestRedeemQRPeerFailed(t *testing.T) {
	node := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == sdk.TokenPath {
			fmt.Fprint(w, `{"access_token":"at","token_type":"Bearer","expires_in":600}`)
			return
		}
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprint(w, `{"error":"qr_peer_failed","error_description":"the code's region did not answer correctly"}`)
	}))
	defer node.Close()
	key, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	tokens, err := sdk.NewTokenSource(sdk.ClientConfig{Node: node.URL, ClientID: "hotel", Key: key})
	if err != nil {
		t.Fatal(err)
	}
	_, err = (&sdk.Client{Node: node.URL, Tokens: tokens}).RedeemQR(context.Background(), "TIDON1:x")
	var ne *sdk.NodeError
	if !errors.As(err, &ne) || ne.Code != "qr_peer_failed" || !errors.Is(err, qrcode.ErrPeer) || errors.Is(err, qrcode.ErrUnavailable) {
		t.Errorf("%v, want a NodeError matching qrcode.ErrPeer", err)
	}
}

// TestRedeemQRAfterTheTokenWasRevoked: a cached access token revoked at
// the node (401 invalid_token) is replaced, and the code redeemed with the
// new one; before, every redemption failed with the revoked token until
// it expired (10 minutes by default). A node that refuses the new token
// too gets one more request, not a loop.
func TestRedeemQRAfterTheTokenWasRevoked(t *testing.T) {
	node := startExampleNode()
	defer node.Close()
	key := node.register("hotel", gm.AlgSM2, auth.ScopeQRRedeem)
	tokens, err := sdk.NewTokenSource(sdk.ClientConfig{Node: node.URL, ClientID: "hotel", Key: key})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	client := &sdk.Client{Node: node.URL, Tokens: tokens}
	if _, err := client.RedeemQR(ctx, node.onlineCode("11010519491231002X", nil)); err != nil {
		t.Fatal(err)
	}
	revoked, _ := tokens.Token(ctx)
	if err := node.auth.Revoke(ctx, auth.Client{ID: "hotel"}, revoked); err != nil {
		t.Fatal(err)
	}
	if _, err := client.RedeemQR(ctx, node.onlineCode("11010519491231002X", nil)); err != nil {
		t.Errorf("redeemed after the cached token was revoked: %v", err)
	}
	if tok, _ := tokens.Token(ctx); tok == revoked {
		t.Error("the revoked token is still cached")
	}

	var posts atomic.Int32
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == sdk.TokenPath {
			fmt.Fprint(w, `{"access_token":"at","token_type":"Bearer","expires_in":600}`)
			return
		}
		posts.Add(1)
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":"invalid_token","error_description":"the access token is invalid or expired"}`)
	}))
	defer refusing.Close()
	tokens, _ = sdk.NewTokenSource(sdk.ClientConfig{Node: refusing.URL, ClientID: "hotel", Key: key})
	_, err = (&sdk.Client{Node: refusing.URL, Tokens: tokens}).RedeemQR(ctx, "TIDON1:x")
	var ne *sdk.NodeError
	if !errors.As(err, &ne) || ne.Code != "invalid_token" || posts.Load() != 2 {
		t.Errorf("a node refusing every token: %v after %d requests, want invalid_token after 2", err, posts.Load())
	}
}

// TestNodeErrorRetryAfter: a node's 429 rate_limited (api's limiter
// answers it with Retry-After in seconds, docs/relying-party.md "Rate
// limits") carries how long to wait in the NodeError, which a caller
// needs to retry; it was dropped.
func TestNodeErrorRetryAfter(t *testing.T) {
	limited := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == sdk.TokenPath {
			fmt.Fprint(w, `{"access_token":"at","token_type":"Bearer","expires_in":600}`)
			return
		}
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, `{"error":"rate_limited","error_description":"too many requests"}`)
	}))
	defer limited.Close()
	key, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	tokens, _ := sdk.NewTokenSource(sdk.ClientConfig{Node: limited.URL, ClientID: "hotel", Key: key})
	_, err := (&sdk.Client{Node: limited.URL, Tokens: tokens}).RedeemQR(context.Background(), "TIDON1:x")
	var ne *sdk.NodeError
	if !errors.As(err, &ne) || ne.Code != "rate_limited" || ne.RetryAfter != 7*time.Second {
		t.Errorf("429 with Retry-After 7: %#v, want rate_limited, 7s", err)
	}
}
