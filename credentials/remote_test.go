package credentials_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/issuer"

	"github.com/trustid-cn/trustid/credentials/sdjwt"
	"github.com/trustid-cn/trustid/gm"
)

// TestRemoteVerifier verifies a node's credentials from another machine:
// keys through did:web and jwt-vc-issuer metadata, status through signed
// status lists fetched over TLS; then the node goes away and status
// checks fail closed once the cache expires.
func TestRemoteVerifier(t *testing.T) {
	var n *node
	var down atomic.Bool
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() && strings.HasPrefix(r.URL.Path, "/status/") {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/.well-known/did.json":
			d, _ := n.issuer.DIDDocument()
			json.NewEncoder(w).Encode(d)
		case r.URL.Path == "/.well-known/jwt-vc-issuer":
			m, _ := n.issuer.Metadata()
			json.NewEncoder(w).Encode(m)
		case strings.HasPrefix(r.URL.Path, "/status/"):
			_, tok, err := n.issuer.StatusList(r.Context(), strings.TrimPrefix(r.URL.Path, "/status/"))
			if err != nil {
				http.NotFound(w, r)
				return
			}
			if strings.HasPrefix(tok, "eyJ") && strings.Contains(r.Header.Get("Accept"), "statuslist") {
				w.Header().Set("Content-Type", MediaTypeStatusListJWT)
			} else {
				w.Header().Set("Content-Type", MediaTypeVCJWT)
			}
			w.Write([]byte(tok))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	n = newNode(t, srv.URL)
	ctx := context.Background()

	client := loopbackClient(t, srv.Client())
	res := &Resolver{Client: client, Now: n.clock.Now}
	listVerifier, _ := NewVerifier(VerifierConfig{Trust: AnyIssuer{}, Algorithms: allAlgs, Resolver: res, SkipStatus: true, Now: n.clock.Now})
	source := &HTTPStatusSource{Client: client, Verifier: listVerifier, Resolver: res, Algorithms: allAlgs, Now: n.clock.Now}
	checker := NewStatusChecker(source, time.Minute, n.clock.Now)
	v, _ := NewVerifier(VerifierConfig{Trust: AnyIssuer{}, Algorithms: allAlgs, Resolver: res, Status: checker, Now: n.clock.Now})

	vc := mustIssue(t, n, sampleCredential(), issuer.IssueOptions{})
	holder, _ := holderKey(t, gm.AlgEdDSA)
	hj, _ := gm.NewJWK(holder.Public(), "")
	sd := mustIssue(t, n, identityRequest(t, n), issuer.IssueOptions{Format: issuer.FormatSDJWT, HolderKey: &hj})
	if _, err := v.VerifyCredential(ctx, vc.Token); err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyToken(ctx, sd.Token); err != nil {
		t.Fatal(err)
	}
	if err := n.issuer.SetStatus(ctx, vc.ID, issuer.ActionRevoke); err != nil {
		t.Fatal(err)
	}
	if err := n.issuer.SetStatus(ctx, sd.ID, issuer.ActionSuspend); err != nil {
		t.Fatal(err)
	}
	// Cached lists still say valid until their ttl passes.
	if _, err := v.VerifyCredential(ctx, vc.Token); err != nil {
		t.Fatalf("within the cache ttl: %v", err)
	}
	n.clock.Advance(2 * time.Minute)
	if _, err := v.VerifyCredential(ctx, vc.Token); !errors.Is(err, ErrRevoked) {
		t.Fatalf("revoked remotely: %v", err)
	}
	sdj, _ := sdjwt.Split(sd.Token)
	pres, _ := sdj.Present(func(d *sdjwt.Disclosure) bool { return d.Name == "age_over_18" },
		&sdjwt.KeyBinding{Signer: holder, Audience: "https://rp.example", Nonce: "n1", IssuedAt: n.clock.Now()})
	if _, err := v.VerifySDJWT(ctx, pres, SDJWTOptions{RequireKeyBinding: true, Audience: "https://rp.example", Nonce: "n1"}); !errors.Is(err, ErrSuspended) {
		t.Fatalf("suspended remotely: %v", err)
	}
	// The status lists become unreachable: after the cache expires,
	// verification fails closed.
	other := mustIssue(t, n, sampleCredential(), issuer.IssueOptions{})
	down.Store(true)
	n.clock.Advance(10 * time.Minute)
	_, err := v.VerifyCredential(ctx, other.Token)
	if !errors.Is(err, ErrStatusUnavailable) || !strings.Contains(err.Error(), "HTTP 503") {
		t.Fatalf("lists unreachable: %v", err)
	}
}
