package credentials_test

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
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
	served := newServedNode(t)
	n, srv := served.n, served.srv
	ctx := context.Background()
	_, src := remoteVerifier(t, n, served.client, nil)
	k, err := n.keys.Active(gm.AlgSM2)
	if err != nil {
		t.Fatal(err)
	}
	const path = "/status/00000000000000ab"
	uri := srv.URL + path
	bits, _ := status.NewBitstring(status.MinEntries)

	served.serve(path, MediaTypeVCJWT, signBitstringList(t, n, uri, PurposeRevocation, 1, bits))
	if _, err := src.Bitstring(ctx, uri, n.issuer.DID()); err != nil {
		t.Fatalf("the issuer's list: %v", err)
	}
	if _, err := src.Bitstring(ctx, uri, "did:web:other.example"); !errors.Is(err, ErrIssuerMismatch) {
		t.Errorf("a list of another issuer than the credential's: %v, want ErrIssuerMismatch", err)
	}
	served.serve(path, MediaTypeVCJWT, signBitstringList(t, n, srv.URL+"/status/00000000000000ac", PurposeRevocation, 1, bits))
	if _, err := src.Bitstring(ctx, uri, n.issuer.DID()); !errors.Is(err, ErrInvalid) {
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
	served.serve(path, MediaTypeStatusListJWT, tokenList(TypStatusListJWT, uri))
	if _, err := src.Token(ctx, uri, srv.URL); err != nil {
		t.Fatalf("the issuer's token list: %v", err)
	}
	served.serve(path, MediaTypeStatusListJWT, tokenList("JWT", uri))
	if _, err := src.Token(ctx, uri, srv.URL); !errors.Is(err, ErrType) {
		t.Errorf("a token list of typ JWT: %v, want ErrType", err)
	}
	served.serve(path, MediaTypeStatusListJWT, tokenList(TypStatusListJWT, srv.URL+"/status/00000000000000ac"))
	if _, err := src.Token(ctx, uri, srv.URL); !errors.Is(err, ErrIssuerMismatch) {
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

// TestStatusListNeedsItsType: Bitstring Status List v1.0 §2.1
// (statusListCredential): the credential the URL dereferences to "MUST
// have type property that includes the BitstringStatusListCredential
// value". Another credential of the list's issuer is not taken for its
// list, in any form (parseStatusListCredential; vc+cose:
// cose.TestStatusListCOSE).
func TestStatusListNeedsItsType(t *testing.T) {
	served := newServedNode(t)
	n, srv := served.n, served.srv
	ctx := context.Background()
	_, src := remoteVerifier(t, n, served.client, nil)
	const path = "/status/00000000000000ab"
	uri := srv.URL + path

	served.serve(path, MediaTypeVCJWT, signListDoc(t, n, uri, func(map[string]any, map[string]any) {}))
	if _, err := src.Bitstring(ctx, uri, n.issuer.DID()); err != nil {
		t.Fatalf("a well-formed list: %v", err)
	}
	served.serve(path, MediaTypeVCJWT, signListDoc(t, n, uri, func(doc, _ map[string]any) {
		doc["type"] = []any{TypeCredential, "IdentityCredential"}
	}))
	if _, err := src.Bitstring(ctx, uri, n.issuer.DID()); !errors.Is(err, ErrInvalid) {
		t.Errorf("a credential whose type lacks %s taken as the status list: %v, want ErrInvalid", TypeBitstringStatusListCredential, err)
	}
}

// TestStatusListPurposes: Bitstring Status List v1.0 §2.2:
// credentialSubject.statusPurpose "MUST be one or more strings", and an
// entry's purpose must equal "a statusPurpose value in the
// statusListCredential" (§3.2 step 5); the subject's type "MUST be
// BitstringStatusList", which JSON-LD reads the same as a string or an
// array of it alone. Anything else fails closed.
func TestStatusListPurposes(t *testing.T) {
	served := newServedNode(t)
	n, srv := served.n, served.srv
	ctx := context.Background()
	_, src := remoteVerifier(t, n, served.client, nil)
	const path = "/status/00000000000000ab"
	uri := srv.URL + path
	check := func(purpose string) error {
		checker := NewStatusChecker(src, time.Minute, n.clock.Now)
		return checker.Check(ctx, n.issuer.DID(), []StatusEntry{{Purpose: purpose, Index: 7, ListCredential: uri}})
	}

	served.serve(path, MediaTypeVCJWT, signListDoc(t, n, uri, func(_, s map[string]any) {
		s["statusPurpose"] = []any{PurposeRevocation}
		s["type"] = []any{TypeBitstringStatusList}
	}))
	if err := check(PurposeRevocation); err != nil {
		t.Errorf("an entry of a list whose statusPurpose and type are arrays: %v, want nil", err)
	}
	bits, _ := status.NewBitstring(status.MinEntries)
	bits.Set(7, true)
	served.serve(path, MediaTypeVCJWT, signListDoc(t, n, uri, func(_, s map[string]any) {
		s["statusPurpose"] = []any{PurposeRevocation, PurposeSuspension}
		s["encodedList"] = bits.Encode()
	}))
	if err := check(PurposeSuspension); !errors.Is(err, ErrSuspended) {
		t.Errorf("a set suspension entry of a revocation and suspension list: %v, want ErrSuspended", err)
	}
	if err := check(PurposeRevocation); !errors.Is(err, ErrRevoked) {
		t.Errorf("a set revocation entry of a revocation and suspension list: %v, want ErrRevoked", err)
	}

	served.serve(path, MediaTypeVCJWT, signListDoc(t, n, uri, func(_, s map[string]any) {
		s["statusPurpose"] = []any{PurposeRevocation, "refresh"}
	}))
	if err := check(PurposeSuspension); !errors.Is(err, ErrStatusUnavailable) {
		t.Errorf("a suspension entry of a list without that purpose: %v, want ErrStatusUnavailable", err)
	}

	for name, edit := range map[string]func(s map[string]any){
		"no statusPurpose":           func(s map[string]any) { delete(s, "statusPurpose") },
		"statusPurpose []":           func(s map[string]any) { s["statusPurpose"] = []any{} },
		"statusPurpose a number":     func(s map[string]any) { s["statusPurpose"] = 1 },
		"statusPurpose with \"\"":    func(s map[string]any) { s["statusPurpose"] = []any{PurposeRevocation, ""} },
		"type with another":          func(s map[string]any) { s["type"] = []any{TypeBitstringStatusList, "Other"} },
		"type []":                    func(s map[string]any) { s["type"] = []any{} },
		"type BitstringStatusListEn": func(s map[string]any) { s["type"] = TypeBitstringStatusListEntry },
	} {
		served.serve(path, MediaTypeVCJWT, signListDoc(t, n, uri, func(_, s map[string]any) { edit(s) }))
		if _, err := src.Bitstring(ctx, uri, n.issuer.DID()); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
		if err := check(PurposeRevocation); !errors.Is(err, ErrStatusUnavailable) {
			t.Errorf("%s: entry checked: %v, want ErrStatusUnavailable", name, err)
		}
	}
}

// TestStatusRefreshAndMessageEntries: Bitstring Status List v1.0 §2.1. A
// refresh status "does not invalidate the verifiable credential": its
// entry is skipped (its list not even fetched) and the others are checked
// as ever. A message status means what the issuer's statusMessage says,
// which this verifier does not act on: the credential is refused as
// unsupported, naming status messages, before any list is fetched; so is
// an entry of a purpose the specification does not define.
func TestStatusRefreshAndMessageEntries(t *testing.T) {
	ctx := context.Background()
	const u, refresh = "https://other.example/status/0000000000000001", "https://other.example/status/0000000000000002"
	src := newMemSource(t, u)
	checker := NewStatusChecker(src, time.Minute, nil)
	withRefresh := append(entryFor(u), StatusEntry{Purpose: PurposeRefresh, Index: 3, ListCredential: refresh})
	if err := checker.Check(ctx, "did:web:other.example", withRefresh); err != nil {
		t.Errorf("a valid credential with a refresh entry beside its revocation entry: %v, want nil", err)
	}
	if src.count(refresh) != 0 {
		t.Errorf("the refresh list was fetched %d times", src.count(refresh))
	}
	src.lists[u].Set(7, true)
	if err := NewStatusChecker(src, time.Minute, nil).Check(ctx, "did:web:other.example", withRefresh); !errors.Is(err, ErrRevoked) {
		t.Errorf("a revoked credential with a refresh entry: %v, want ErrRevoked", err)
	}

	for _, purpose := range []string{PurposeMessage, "custom"} {
		before := src.count(u)
		err := checker.Check(ctx, "did:web:other.example", []StatusEntry{{Purpose: purpose, Index: 3, ListCredential: u}})
		if !errors.Is(err, ErrUnsupported) || (purpose == PurposeMessage && !strings.Contains(err.Error(), "status messages are not supported")) {
			t.Errorf("a %s entry: %v, want ErrUnsupported", purpose, err)
		}
		if src.count(u) != before {
			t.Errorf("a %s entry fetched its list", purpose)
		}
	}

	// A message entry with statusSize > 1 (and its statusMessage) is
	// refused when the credential is read (invalid, as any entry of
	// statusSize other than 1), naming status messages.
	doc := fmt.Sprintf(`{"@context":[%q],"type":["VerifiableCredential"],"issuer":"did:web:other.example","credentialSubject":{"id":"urn:x:1"},"credentialStatus":{"type":"BitstringStatusListEntry","statusPurpose":"message","statusSize":2,"statusMessage":[{"status":"0x0","message":"pending_review"},{"status":"0x1","message":"accepted"},{"status":"0x2","message":"rejected"},{"status":"0x3","message":"undefined"}],"statusListIndex":"7","statusListCredential":%q}}`,
		ContextV2, u)
	if _, err := ParseCredential([]byte(doc)); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "status messages are not supported") {
		t.Errorf("a message entry of statusSize 2: %v, want ErrInvalid naming status messages", err)
	}
	if _, err := ParseCredential([]byte(strings.Replace(doc, `"message","statusSize"`, `"revocation","statusSize"`, 1))); !errors.Is(err, ErrInvalid) {
		t.Errorf("a revocation entry of statusSize 2: %v, want ErrInvalid", err)
	}
}
