package oid4vci

import (
	"context"
	"testing"

	"github.com/trustid-cn/trustid/login"
)

// walletLoopback is a loopback IP redirect URI the test wallet also
// registered, without a port.
const walletLoopback = "http://127.0.0.1/cb"

// TestLoopbackRedirectAnyPort: a wallet, a native app, may name its
// registered loopback IP redirect URI on the port it listens on now, and
// the code goes there (RFC 8252 §7.3: "The authorization server MUST
// allow any port to be specified at the time of the request for loopback
// IP redirect URIs"; RFC 9700 §4.1.3: "the authorization server MUST
// allow variable port numbers as described in Section 7.3 of
// [RFC8252]"); the token request names that same URI (RFC 6749 §4.1.3).
// Anything else but the port must match: another loopback address, path
// or query, localhost by name, https, or user info is refused, never
// redirected.
func TestLoopbackRedirectAnyPort(t *testing.T) {
	m := memoryStore(t)
	lp := approvingLogin(t, m)
	s := newServiceWith(t, Config{Store: m, Login: lp})
	ctx := context.Background()
	for _, bad := range []string{
		"http://127.0.0.2:51004/cb", "http://127.0.0.1:51004/cb/", "http://127.0.0.1:51004/cb?x=1", "http://127.0.0.1:51004/other",
		"http://localhost:51004/cb", "https://127.0.0.1:51004/cb", "http://[::1]:51004/cb", "http://127.0.0.1:0/cb",
		"http://127.0.0.1:65536/cb", "http://127.0.0.1:x/cb", "http://u@127.0.0.1:51004/cb", "http://127.0.0.1:51004:1/cb",
	} {
		q := authorizationRequest(t, s)
		q.Set("redirect_uri", bad)
		_, err := s.Authorize(ctx, q)
		ae, ok := err.(*login.AuthorizeError)
		if !ok || ae.RedirectURI != "" || ae.Err.Code != login.CodeInvalidRequest {
			t.Errorf("redirect_uri %s: %v, want invalid_request, not redirected", bad, err)
		}
	}
	const asked = "http://127.0.0.1:51004/cb"
	q := authorizationRequest(t, s)
	q.Set("redirect_uri", asked)
	c := approvedCode(t, s, lp, q)
	req := codeRequest(c)
	req.RedirectURI = walletLoopback
	if _, err := s.Token(ctx, req); code(err) != CodeInvalidGrant {
		t.Fatalf("the code redeemed with the registered URI, not the one asked: %v, want invalid_grant", err)
	}
	q = authorizationRequest(t, s)
	q.Set("redirect_uri", asked)
	req = codeRequest(approvedCode(t, s, lp, q))
	req.RedirectURI = asked
	if _, err := s.Token(ctx, req); err != nil {
		t.Fatalf("the code of the loopback redirect on port 51004: %v", err)
	}
}
