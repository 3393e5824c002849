package sdk_test

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/multikey"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/sdk"
)

// TestHostedIssuerKeyTimes: the key of an issuer a node hosts
// (did:web:<node>:issuers:<client>) is refused once the verification
// method's revoked or expires time has passed (W3C Controlled Identifiers
// 1.0 §3.3), as the node's own resolver does; before it, or without one,
// it resolves.
func TestHostedIssuerKeyTimes(t *testing.T) {
	k, err := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := multikey.Encode(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	var times string // the method's revoked/expires members, as JSON
	var did string
	node := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/issuers/rp1/did.json" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"id":"` + did + `","verificationMethod":[{"id":"#k","type":"Multikey","controller":"` + did +
			`","publicKeyMultibase":"` + mb + `"` + times + `}],"assertionMethod":["#k"]}`))
	}))
	defer node.Close()
	nodeDID, err := vc.DIDWeb(node.URL)
	if err != nil {
		t.Fatal(err)
	}
	did = nodeDID + ":issuers:rp1"
	for _, c := range []struct {
		times string
		want  error // nil: resolved
	}{
		{"", nil},
		{`,"expires":"2026-12-05T12:00:01Z"`, nil},
		{`,"revoked":"2026-12-06T00:00:00Z"`, nil},
		{`,"expires":"2026-12-05T12:00:00Z"`, vc.ErrMethodRevoked},
		{`,"revoked":"2026-12-05T11:59:59Z"`, vc.ErrMethodRevoked},
		{`,"expires":"2027-01-01T00:00:00Z","revoked":"2026-01-01T00:00:00Z"`, vc.ErrMethodRevoked},
	} {
		times = c.times
		// A fresh Nodes each time: documents are cached for KeyTTL.
		nodes := &sdk.Nodes{Bases: []string{node.URL}, Algorithms: []string{gm.AlgSM2}, Now: func() time.Time { return now }}
		pub, err := nodes.ResolveKey(context.Background(), did, did+"#k")
		if c.want == nil {
			if err != nil || pub == nil {
				t.Errorf("%q: %v", c.times, err)
			}
			continue
		}
		if !errors.Is(err, c.want) || !errors.Is(err, vc.ErrUnknownKey) || pub != nil {
			t.Errorf("%q: %v, want %v", c.times, err, c.want)
		}
	}
}
