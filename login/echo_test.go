package login

import (
	"context"
	"errors"
	"net/url"
	"testing"
)

// TestStateAndNonceEchoedExactly: the state goes back to the client and
// the nonce into the ID token exactly as received (RFC 6749 §4.1.2: "The
// exact value received from the client"; OpenID Connect Core §2: "passed
// through unmodified"). Both travel in the session the node stores as
// JSON, which holds UTF-8 only, so a value that is not valid UTF-8 is
// refused (invalid_request) rather than sent back changed. Before, state
// "s\xff" was taken and the browser came back with "s\uFFFD".
func TestStateAndNonceEchoedExactly(t *testing.T) {
	p := newTestProvider(t)
	a := newAnswering(t, p)
	ctx := context.Background()

	q := goodQuery()
	q.Set("state", "s\xff")
	_, err := a.Authorize(ctx, q)
	var ae *AuthorizeError
	if !errors.As(err, &ae) || ae.Err.Code != CodeInvalidRequest || ae.RedirectURI != testRedirect || ae.State != "" {
		t.Errorf("state not UTF-8: %v (%+v), want invalid_request sent back without the state", err, ae)
	}
	q = goodQuery()
	q.Set("nonce", "n\xfe")
	if _, err := a.Authorize(ctx, q); !errors.As(err, &ae) || ae.Err.Code != CodeInvalidRequest || ae.State != "s1" {
		t.Errorf("nonce not UTF-8: %v (%+v), want invalid_request", err, ae)
	}

	// Any UTF-8 comes back as it was sent.
	const state = "状态 <&>\u2028\U00020000"
	q = goodQuery()
	q.Set("state", state)
	st, err := a.Authorize(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Approve(ctx, st.ID, a.holder(t, st.ID)); err != nil {
		t.Fatal(err)
	}
	out, err := a.Wait(ctx, st.ID, st.Browser, 0)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(out.Redirect)
	if err != nil || u.Query().Get("state") != state {
		t.Errorf("redirect %q: state %q, want %q", out.Redirect, u.Query().Get("state"), state)
	}
}
