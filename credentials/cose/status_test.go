package cose

import (
	"context"
	"errors"
	"strconv"
	"testing"

	"github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/status"
)

// statusListDoc is a BitstringStatusListCredential for url with the
// given indexes set.
func statusListDoc(t *testing.T, issuer, url, purpose string, set ...int) map[string]any {
	t.Helper()
	bits, err := status.NewBitstring(status.MinEntries)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range set {
		if err := bits.Set(i, true); err != nil {
			t.Fatal(err)
		}
	}
	enc := bits.Encode()
	return map[string]any{
		"@context":  []any{credentials.ContextV2},
		"id":        url,
		"type":      []any{credentials.TypeCredential, credentials.TypeBitstringStatusListCredential},
		"issuer":    issuer,
		"validFrom": "2026-05-01T00:00:00Z",
		"credentialSubject": map[string]any{
			"id": url + "#list", "type": credentials.TypeBitstringStatusList, "statusPurpose": purpose, "encodedList": enc,
		},
	}
}

func withStatus(doc map[string]any, url, purpose string, idx int) map[string]any {
	doc["credentialStatus"] = []any{credentials.StatusEntry{ID: url + "#" + strconv.Itoa(idx), Purpose: purpose, Index: idx, ListCredential: url}.Map()}
	return doc
}

// TestStatusListCOSE: the issuer secures a status list credential as
// vc+cose and serves it; a verifier checks a vc+cose credential's status
// against it (revoked index refused, clear index accepted), refuses a list
// whose signature fails without falling back, and still reads lists served
// as vc+jwt (the form the source asks for last).
func TestStatusListCOSE(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	is := f.parties["SM2"]
	url := f.srv.URL + "/status/rev1"
	list, err := SecureStatusList(statusListDoc(t, is.did, url, credentials.PurposeRevocation, 7), is.kid, is.key)
	if err != nil {
		t.Fatal(err)
	}
	f.serve("/status/rev1", MediaTypeVC, string(list))

	revoked, _ := SignCredential(withStatus(credentialDoc(is.did), url, credentials.PurposeRevocation, 7), is.kid, is.key)
	if _, err := f.v.VerifyCredential(ctx, revoked); !errors.Is(err, credentials.ErrRevoked) {
		t.Fatalf("revoked credential: %v", err)
	}
	clear, _ := SignCredential(withStatus(credentialDoc(is.did), url, credentials.PurposeRevocation, 8), is.kid, is.key)
	if _, err := f.v.VerifyCredential(ctx, clear); err != nil {
		t.Fatalf("clear credential: %v", err)
	}

	// A list signed by another key: fail closed.
	other := f.parties["ES256"]
	forged, _ := SecureStatusList(statusListDoc(t, is.did, f.srv.URL+"/status/rev2", credentials.PurposeRevocation), is.kid, other.key)
	url2 := f.serve("/status/rev2", MediaTypeVC, string(forged))
	c2, _ := SignCredential(withStatus(credentialDoc(is.did), url2, credentials.PurposeRevocation, 8), is.kid, is.key)
	if _, err := f.v.VerifyCredential(ctx, c2); !errors.Is(err, credentials.ErrStatusUnavailable) {
		t.Fatalf("forged list: %v", err)
	}

	// A vc+jwt list of the same issuer is fetched in that form.
	url3 := f.srv.URL + "/status/rev3"
	tok, err := credentials.SignJWT(statusListDoc(t, is.did, url3, credentials.PurposeRevocation, 9), credentials.TypVCJWT, is.kid, is.key)
	if err != nil {
		t.Fatal(err)
	}
	f.serve("/status/rev3", credentials.MediaTypeVCJWT, tok)
	c3, _ := SignCredential(withStatus(credentialDoc(is.did), url3, credentials.PurposeRevocation, 9), is.kid, is.key)
	if _, err := f.v.VerifyCredential(ctx, c3); !errors.Is(err, credentials.ErrRevoked) {
		t.Fatalf("vc+jwt list: %v", err)
	}

	// A list credential of another issuer is refused.
	if _, err := f.v.VerifyStatusList(ctx, list, url, other.did); !errors.Is(err, credentials.ErrIssuerMismatch) {
		t.Fatalf("list of another issuer: %v", err)
	}
	// A credential of the list's issuer is no list unless typed one (BSL
	// v1.0 §2.1 statusListCredential): signed without SecureStatusList's
	// check, it is refused when read as the list.
	notList := statusListDoc(t, is.did, url, credentials.PurposeRevocation)
	notList["type"] = []any{credentials.TypeCredential}
	signed, err := Sign(notList, MediaTypeVC, is.kid, is.key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.v.VerifyStatusList(ctx, signed, url, is.did); !errors.Is(err, credentials.ErrInvalid) {
		t.Fatalf("a credential not typed %s: %v, want ErrInvalid", credentials.TypeBitstringStatusListCredential, err)
	}
	// SecureStatusList takes only status list credentials.
	if _, err := SecureStatusList(credentialDoc(is.did), is.kid, is.key); !errors.Is(err, credentials.ErrInvalid) {
		t.Fatalf("SecureStatusList of a plain credential: %v", err)
	}
}
