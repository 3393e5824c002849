package credentials_test

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/base64"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/trustid-cn/trustid/credentials"

	"github.com/trustid-cn/trustid/credentials/internal/jose"
	"github.com/trustid-cn/trustid/credentials/issuer"
	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/gm"
)

// TestStatusListRefusals: a fetched list counts only when it is the one
// the entry names: signed by the credential's issuer, under the URL it
// was fetched from, of the entry's purpose, and (a Status List Token) of
// typ statuslist+jwt.
func TestStatusListRefusals(t *testing.T) {
	var n *node
	var tamper atomicTamper
	srv := listServer(t, &n, &tamper.p)
	n = newNode(t, srv.URL)
	ctx := context.Background()
	_, src := remoteVerifier(t, n, fetchClientFor(t, srv), nil)
	k, err := n.keys.Active(gm.AlgSM2)
	if err != nil {
		t.Fatal(err)
	}
	const path = "/status/00000000000000ab"
	uri := srv.URL + path
	bits, _ := status.NewBitstring(status.MinEntries)

	tamper.serve(path, MediaTypeVCJWT, signBitstringList(t, n, uri, PurposeRevocation, 1, bits))
	if _, _, _, err := src.Bitstring(ctx, uri, n.issuer.DID()); err != nil {
		t.Fatalf("the issuer's list: %v", err)
	}
	if _, _, _, err := src.Bitstring(ctx, uri, "did:web:other.example"); !errors.Is(err, ErrIssuerMismatch) {
		t.Errorf("a list of another issuer than the credential's: %v, want ErrIssuerMismatch", err)
	}
	tamper.serve(path, MediaTypeVCJWT, signBitstringList(t, n, srv.URL+"/status/00000000000000ac", PurposeRevocation, 1, bits))
	if _, _, _, err := src.Bitstring(ctx, uri, n.issuer.DID()); !errors.Is(err, ErrInvalid) {
		t.Errorf("a list whose id is another URL: %v, want ErrInvalid", err)
	}

	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	zw.Write(make([]byte, 1<<14)) // all valid
	zw.Close()
	lst := base64.RawURLEncoding.EncodeToString(buf.Bytes())
	tokenList := func(typ, sub string) string {
		now := n.clock.Now()
		tok, err := jose.Sign(map[string]any{
			"sub": sub, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
			"status_list": map[string]any{"bits": 1, "lst": lst},
		}, map[string]any{"typ": typ, "kid": k.Kid}, k.Signer)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	tamper.serve(path, MediaTypeStatusListJWT, tokenList(TypStatusListJWT, uri))
	if _, _, err := src.Token(ctx, uri, srv.URL); err != nil {
		t.Fatalf("the issuer's token list: %v", err)
	}
	tamper.serve(path, MediaTypeStatusListJWT, tokenList("JWT", uri))
	if _, _, err := src.Token(ctx, uri, srv.URL); !errors.Is(err, ErrType) {
		t.Errorf("a token list of typ JWT: %v, want ErrType", err)
	}
	tamper.serve(path, MediaTypeStatusListJWT, tokenList(TypStatusListJWT, srv.URL+"/status/00000000000000ac"))
	if _, _, err := src.Token(ctx, uri, srv.URL); !errors.Is(err, ErrIssuerMismatch) {
		t.Errorf("a token list whose sub is another URL: %v, want ErrIssuerMismatch", err)
	}
}

// TestStatusPurposeMismatch: an entry is checked only against a list of
// its own purpose, remote or the node's own; a suspension entry that
// points into a revocation list is refused, not read as valid.
func TestStatusPurposeMismatch(t *testing.T) {
	ctx := context.Background()
	const u = "https://other.example/status/0000000000000001"
	remote := NewStatusChecker(newMemSource(t, u), time.Minute, nil) // revocation lists
	if err := remote.Check(ctx, "did:web:other.example", entryFor(u)); err != nil {
		t.Fatalf("revocation entry in a revocation list: %v", err)
	}
	entry := entryFor(u)
	entry[0].Purpose = PurposeSuspension
	if err := remote.Check(ctx, "did:web:other.example", entry); !errors.Is(err, ErrStatusUnavailable) {
		t.Errorf("remote list: suspension entry in a revocation list: %v, want ErrStatusUnavailable", err)
	}

	n := newNode(t, testBase)
	c, err := n.verifier.VerifyCredential(ctx, mustIssue(t, n, sampleCredential(), issuer.IssueOptions{}).Token)
	if err != nil || len(c.Status) == 0 {
		t.Fatalf("no status entry issued: %v", err)
	}
	for _, e := range c.Status {
		if err := n.checker.Check(ctx, n.issuer.DID(), []StatusEntry{e}); err != nil {
			t.Fatalf("own %s entry: %v", e.Purpose, err)
		}
		swapped := e
		swapped.Purpose = PurposeSuspension
		if e.Purpose == PurposeSuspension {
			swapped.Purpose = PurposeRevocation
		}
		if err := n.checker.Check(ctx, n.issuer.DID(), []StatusEntry{swapped}); !errors.Is(err, ErrStatusUnavailable) {
			t.Errorf("own list: %s entry given as %s: %v, want ErrStatusUnavailable", e.Purpose, swapped.Purpose, err)
		}
	}
}

// atomicTamper serves one path's answer in place of listServer's.
type atomicTamper struct{ p atomic.Pointer[tamperFunc] }

func (a *atomicTamper) serve(path, ct, body string) {
	f := tamperFunc(func(p string) (string, string, bool) { return ct, body, p == path })
	a.p.Store(&f)
}
