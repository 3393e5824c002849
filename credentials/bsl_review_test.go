package credentials_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	. "github.com/trustid-cn/trustid/credentials"

	"github.com/trustid-cn/trustid/credentials/status"
)

// TestBitstringStatusEntryMembers: the rules of BSL v1.0 §2.1 on a
// BitstringStatusListEntry's optional members, which a conforming
// processor "MUST produce errors" for when broken (§1.3): id "MUST NOT be
// the URL for the status list"; statusMessage "MUST be an array, the
// length of which MUST equal the number of possible status messages"
// (two for the statusSize of 1), each with a 0x-prefixed hexadecimal
// status and a message; statusReference "MUST be a URL or an array of
// URLs".
func TestBitstringStatusEntryMembers(t *testing.T) {
	const list = "https://other.example/status/3"
	doc := func(extra string) []byte {
		return []byte(fmt.Sprintf(`{"@context":[%q],"type":["VerifiableCredential"],"issuer":"did:web:other.example","credentialSubject":{"id":"urn:x:1"},`+
			`"credentialStatus":{"type":"BitstringStatusListEntry","statusPurpose":"revocation","statusListIndex":"7","statusListCredential":%q%s}}`, ContextV2, list, extra))
	}
	const messages = `[{"status":"0x0","message":"valid"},{"status":"0x1","message":"revoked"}]`
	for _, extra := range []string{
		``,
		`,"id":"` + list + `#7"`,
		`,"statusSize":1,"statusMessage":` + messages,
		`,"statusMessage":` + messages,
		`,"statusMessage":[{"status":"0x00","message":"valid","lang":"en"},{"status":"0x01","message":"revoked"}]`,
		`,"statusReference":"https://other.example/status-dictionary/"`,
		`,"statusReference":["https://other.example/a","https://other.example/b"]`,
	} {
		if c, err := ParseCredential(doc(extra)); err != nil || len(c.Status) != 1 {
			t.Errorf("entry with %s: %v, want it taken", extra, err)
		}
	}
	for _, extra := range []string{
		`,"id":"` + list + `"`,
		`,"statusMessage":[{"status":"0x0","message":"valid"}]`,
		`,"statusMessage":[{"status":"0x0","message":"a"},{"status":"0x1","message":"b"},{"status":"0x2","message":"c"}]`,
		`,"statusMessage":{"status":"0x0","message":"valid"}`,
		`,"statusMessage":[{"status":"0","message":"valid"},{"status":"0x1","message":"revoked"}]`,
		`,"statusMessage":[{"status":"0x","message":"valid"},{"status":"0x1","message":"revoked"}]`,
		`,"statusMessage":[{"status":"0xg","message":"valid"},{"status":"0x1","message":"revoked"}]`,
		`,"statusMessage":[{"status":"0x0"},{"status":"0x1","message":"revoked"}]`,
		`,"statusMessage":[{"status":"0x0","message":1},{"status":"0x1","message":"revoked"}]`,
		`,"statusMessage":["valid","revoked"]`,
		`,"statusReference":"not a URL"`,
		`,"statusReference":["https://other.example/a",7]`,
		`,"statusReference":{"id":"https://other.example/a"}`,
	} {
		if _, err := ParseCredential(doc(extra)); !errors.Is(err, ErrInvalid) {
			t.Errorf("entry with %s: %v, want ErrInvalid", extra, err)
		}
	}
}

// TestStatusListLongTTL: a list's ttl (BSL v1.0 §2.2, milliseconds; Token
// Status List, seconds) too long for a time.Duration is cached as long as
// the checker allows, like any long ttl: it wrapped to a negative TTL,
// which a StatusChecker reads as "do not cache", so every check fetched
// the list again.
func TestStatusListLongTTL(t *testing.T) {
	served := newServedNode(t)
	n, srv := served.n, served.srv
	ctx := context.Background()
	_, src := remoteVerifier(t, n, served.client, nil)
	const path = "/status/00000000000000ab"
	uri := srv.URL + path
	bits, _ := status.NewBitstring(status.MinEntries)
	for _, ttl := range []int64{300000, 10_000_000_000_000, 1<<63 - 1} {
		served.serve(path, MediaTypeVCJWT, signListDoc(t, n, uri, func(_, s map[string]any) {
			s["statusPurpose"], s["encodedList"], s["ttl"] = PurposeRevocation, bits.Encode(), ttl
		}))
		bl, err := src.Bitstring(ctx, uri, n.issuer.DID())
		if err != nil {
			t.Fatal(err)
		}
		if bl.TTL < 5*time.Minute {
			t.Errorf("a Bitstring list of ttl %d ms: TTL %v, want at least 5m", ttl, bl.TTL)
		}
	}

	check := tokenListCheck(t, "/status/00000000000000ac")
	for _, ttl := range []int64{300, 10_000_000_000, 1<<63 - 1} {
		tl, err := check(map[string]any{"ttl": ttl})
		if err != nil {
			t.Fatal(err)
		}
		if tl.TTL < 5*time.Minute {
			t.Errorf("a Token Status List of ttl %d s: TTL %v, want at least 5m", ttl, tl.TTL)
		}
	}
}
