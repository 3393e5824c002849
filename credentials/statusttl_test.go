package credentials_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/credentials/issuer"
	"github.com/trustid-cn/trustid/gm"
)

// TestStatusTTLWholeSeconds: a Token Status List's ttl is the longest a
// consumer may cache it, a positive number of seconds
// (draft-ietf-oauth-status-list, Status List Token). An issuer whose
// StatusTTL is below a second, which would publish ttl 0, is refused
// at New; one of 1.5 s publishes 1 (cut down: rounding up would let
// consumers cache longer than configured).
func TestStatusTTLWholeSeconds(t *testing.T) {
	n := newNode(t, testBase)
	for _, d := range []time.Duration{time.Nanosecond, time.Millisecond, 999 * time.Millisecond} {
		if _, err := issuer.New(issuer.Config{BaseURL: testBase, Keys: n.keys, Status: n.status, Now: n.clock.Now, StatusTTL: d}); err == nil || !strings.Contains(err.Error(), "below one second") {
			t.Errorf("StatusTTL %v: %v, want refused (below one second)", d, err)
		}
	}
	is, err := issuer.New(issuer.Config{BaseURL: testBase, Keys: n.keys, Status: n.status, Now: n.clock.Now, StatusTTL: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	n.issuer = is
	holder, _ := holderKey(t, gm.AlgES256)
	hj, _ := gm.NewJWK(holder.Public(), "")
	sd := mustIssue(t, n, identityRequest(t, n), issuer.IssueOptions{Format: issuer.FormatSDJWT, HolderKey: &hj})
	_, token, err := is.StatusList(context.Background(), sd.Status[0].ListID)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(token, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		TTL *int64 `json:"ttl"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil || claims.TTL == nil || *claims.TTL != 1 {
		t.Fatalf("the Token Status List of an issuer with StatusTTL 1.5 s: ttl %v (%v), want 1", claims.TTL, err)
	}
}

// TestStatusTTLWithinTokenLife: a StatusTTL over half of a Status List
// Token's 24 h is refused; at the most allowed, a token served at the end
// of the issuer's cache still outlives the ttl it advertises.
func TestStatusTTLWithinTokenLife(t *testing.T) {
	n := newNode(t, testBase)
	for _, d := range []time.Duration{12*time.Hour + time.Second, 25 * time.Hour} {
		if _, err := issuer.New(issuer.Config{BaseURL: testBase, Keys: n.keys, Status: n.status, Now: n.clock.Now, StatusTTL: d}); err == nil || !strings.Contains(err.Error(), "more than half") {
			t.Errorf("StatusTTL %v: %v, want refused (more than half of a token's life)", d, err)
		}
	}
	is, err := issuer.New(issuer.Config{BaseURL: testBase, Keys: n.keys, Status: n.status, Now: n.clock.Now, StatusTTL: 12 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	n.issuer = is
	holder, _ := holderKey(t, gm.AlgES256)
	hj, _ := gm.NewJWK(holder.Public(), "")
	sd := mustIssue(t, n, identityRequest(t, n), issuer.IssueOptions{Format: issuer.FormatSDJWT, HolderKey: &hj})
	_, first, err := is.StatusList(context.Background(), sd.Status[0].ListID)
	if err != nil {
		t.Fatal(err)
	}
	n.clock.Advance(12*time.Hour - time.Second)
	_, token, err := is.StatusList(context.Background(), sd.Status[0].ListID)
	if err != nil {
		t.Fatal(err)
	}
	if token != first {
		t.Fatal("the list was encoded again within its cache time; the test needs the cached token")
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct{ Exp, TTL int64 }
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	if left := claims.Exp - n.clock.Now().Unix(); left < claims.TTL {
		t.Fatalf("a token served at the end of the cache has %d s left, less than its ttl %d s", left, claims.TTL)
	}
}
