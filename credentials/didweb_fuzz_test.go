package credentials_test

import (
	"errors"
	"net/url"
	"path"
	"strings"
	"testing"

	. "github.com/trustid-cn/trustid/credentials"
)

// FuzzDIDWebDocumentURL: a did:web identifier from a credential, however
// written, gives the https URL of a did.json on its own host, with no
// user, query, fragment or dot segment that would name another resource
// (what the server's path decoding gives too), or ErrResolve.
func FuzzDIDWebDocumentURL(f *testing.F) {
	for _, s := range []string{"did:web:issuer.example", "did:web:host.example%3A8443:users:alice", "did:web:host.example:users:a%40b",
		"did:web:host.example:a%20b:%E7%94%A8%E6%88%B7", "did:web:h:%2E%2E:x", "did:web:h%2Fx", "did:web:h%3A0", "did:web:h:a%2fb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, did string) {
		doc, err := DIDWebDocumentURL(did)
		if err != nil {
			if !errors.Is(err, ErrResolve) {
				t.Fatalf("refusal %v is not ErrResolve", err)
			}
			return
		}
		u, err := url.Parse(doc)
		if err != nil || u.Scheme != "https" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" ||
			!strings.HasSuffix(u.Path, "/did.json") || path.Clean(u.Path) != u.Path {
			t.Fatalf("%q: document URL %q (%v)", did, doc, err)
		}
		host, _ := url.PathUnescape(strings.Split(strings.TrimPrefix(did, "did:web:"), ":")[0])
		if u.Host != host {
			t.Fatalf("%q: document on host %q", did, u.Host)
		}
		// Back to the identifier: the document's base names the same DID.
		base := strings.TrimSuffix(strings.TrimSuffix(doc, "/.well-known/did.json"), "/did.json")
		if back, err := DIDWeb(base); err != nil || !strings.EqualFold(back, did) {
			t.Fatalf("%q: base %q gives %q, %v", did, base, back, err)
		}
	})
}
