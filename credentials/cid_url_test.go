package credentials_test

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"strings"
	"testing"

	. "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/multikey"
	"github.com/trustid-cn/trustid/gm"
)

// TestControllerDocumentURLCanonical: an https verification method URL
// that the URL Standard would rewrite (dot segments, raw or
// percent-encoded or behind an encoded slash, a backslash, an upper-case
// or trailing-dot or non-ASCII host, a default or empty port) is refused
// with ErrVerificationMethodURL before anything is fetched. Compared as
// strings, such a URL names a document other than the one fetched: a
// server that normalizes its paths serves mallory's document for
// https://host/users/alice/../mallory/cid, which names that URL as its
// id, and the credential then verifies with an issuer that reads as
// alice's.
func TestControllerDocumentURLCanonical(t *testing.T) {
	ctx := context.Background()
	key, _ := gm.GenerateSigner(gm.AlgEdDSA, rand.Reader)
	mb, _ := multikey.Encode(key.Public())
	var srv *httptest.Server
	var docID string
	hits := 0
	// A server that resolves dot segments of the decoded path (as common
	// web servers do) and serves mallory's document.
	srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if path.Clean(r.URL.Path) != "/users/mallory/cid" {
			http.NotFound(w, r)
			return
		}
		hits++
		w.Header().Set("Content-Type", "application/cid")
		w.Write([]byte(`{"id":"` + docID + `","verificationMethod":[{"id":"` + docID + `#key-1","type":"Multikey","controller":"` + docID +
			`","publicKeyMultibase":"` + mb + `"}],"assertionMethod":["#key-1"]}`))
	}))
	t.Cleanup(srv.Close)
	client, err := NewFetchClient(srv.Client(), FetchOptions{AllowHost: AllowHosts("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	res := cidResolver(client)
	docID = srv.URL + "/users/mallory/cid"
	if _, err := res.ResolveKeyFor(ctx, docID, docID+"#key-1", RelationshipAssertion); err != nil {
		t.Fatalf("mallory's own URL: %v", err)
	}
	for _, p := range []string{"/users/alice/../mallory/cid", "/users/alice/%2e%2e/mallory/cid", "/users/alice%2F..%2Fmallory/cid",
		"/users/alice/./../mallory/cid", "/users/alice%2F%2E%2E%2Fmallory/cid", `/users/alice\..\mallory/cid`, "/users/alice%5C..%5Cmallory/cid"} {
		docID = srv.URL + p
		hits = 0
		_, err := res.ResolveKeyFor(ctx, docID, docID+"#key-1", RelationshipAssertion)
		if !errors.Is(err, ErrVerificationMethodURL) || hits != 0 {
			t.Errorf("%s: %v (%d fetches)", p, err, hits)
		}
	}
	for _, vm := range []string{"https://Issuer.example/doc#k", "https://issuer.example./doc#k", "https://issuer.example:443/doc#k",
		"https://issuer.example:/doc#k", "https://іssuer.example/doc#k", "HTTPS://issuer.example/doc#k",
		"https://[2001:db8:0::1]/doc#k", "https://[::ffff:203.0.113.7]/doc#k", "https://203.0.113.007/doc#k", "https://127.1/doc#k", "https://0x7f.1/doc#k", "https://2130706433/doc#k"} {
		if _, err := ControllerDocumentURL(vm); !errors.Is(err, ErrVerificationMethodURL) {
			t.Errorf("%s: %v", vm, err)
		}
	}
	for vm, want := range map[string]string{
		"https://issuer.example/doc#k":          "https://issuer.example/doc",
		"https://issuer.example:8443/a/b?x=1#k": "https://issuer.example:8443/a/b?x=1",
		"https://[2001:db8::1]/doc#k":           "https://[2001:db8::1]/doc",
		"https://203.0.113.7/doc#k":             "https://203.0.113.7/doc",
		"https://issuer-1.example/doc#k":        "https://issuer-1.example/doc",
		"https://cafe.example.bad/doc#k":        "https://cafe.example.bad/doc",
		"https://issuer.example/a%20b/..c#k":    "https://issuer.example/a%20b/..c",
	} {
		if got, err := ControllerDocumentURL(vm); err != nil || got != want {
			t.Errorf("%s: %s, %v", vm, got, err)
		}
	}
}

// TestDIDWebEncodedDotSegments: a did:web path segment that decodes to a
// dot segment or holds an encoded slash or backslash is refused, as the
// literal "." and ".." are: did:web:host:users:alice:%2E%2E:mallory
// would fetch https://host/users/alice/%2E%2E/mallory/did.json, which a
// normalizing server answers with mallory's document.
func TestDIDWebEncodedDotSegments(t *testing.T) {
	for _, bad := range []string{"did:web:host.example:users:alice:%2E%2E:mallory", "did:web:host.example:users:alice:%2e:x",
		"did:web:host.example:users:alice%2F..%2Fmallory", "did:web:host.example:users:alice%5C..%5Cmallory", "did:web:host.example:a:%zz"} {
		if _, err := DIDWebDocumentURL(bad); !errors.Is(err, ErrResolve) {
			t.Errorf("DIDWebDocumentURL(%s): %v", bad, err)
		}
	}
	if got, err := DIDWebDocumentURL("did:web:host.example:users:a%40b"); err != nil || !strings.HasSuffix(got, "/users/a%40b/did.json") {
		t.Errorf("an encoded @ in a segment: %s, %v", got, err)
	}
}

// FuzzControllerDocumentURL: any verification method URL never panics; a
// refusal matches ErrResolve and ErrVerificationMethodURL; an accepted
// one is its document's URL, a '#' and a fragment, and the document's
// URL holds no dot segment (decoded) or backslash and a lower-case host.
func FuzzControllerDocumentURL(f *testing.F) {
	for _, s := range []string{"https://controller.example/123#key-1", "https://h/users/alice/../mallory/cid#k", "https://h/a%2F..%2Fb#k",
		"https://H/x#k", "https://h:443/x#k", "https://h./x#k", "https://[::1]/x#k", "http://127.0.0.1:8080/x#k", "https://h/x?q#k", "https://u@h/x#k", "https://h/x#"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, vm string) {
		doc, err := ControllerDocumentURL(vm)
		if err != nil {
			if !errors.Is(err, ErrResolve) || !errors.Is(err, ErrVerificationMethodURL) {
				t.Fatalf("refusal without its reason: %v", err)
			}
			return
		}
		if !strings.HasPrefix(vm, doc+"#") || len(vm) == len(doc)+1 {
			t.Fatalf("%q: document %q", vm, doc)
		}
		u, err := url.Parse(doc)
		if err != nil || u.Hostname() != strings.ToLower(u.Hostname()) || strings.Contains(u.Path, `\`) {
			t.Fatalf("%q: document %q (%v)", vm, doc, err)
		}
		for _, seg := range strings.Split(u.Path, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("%q: dot segment in %q", vm, doc)
			}
		}
	})
}

// TestDIDWebHostIsAHost: the did:web domain-name, once its %3A is
// decoded, must be a host and optional port alone, written as it is:
// %3A is its only percent-encoding (did:web:%69ssuer.example is not
// did:web:issuer.example, yet would fetch its document). An encoded ?, #, \,
// space or a second colon would make the document URL another resource
// (did:web:host.example%3F fetched https://host.example?/.well-known/
// did.json: the site's root page with a query).
func TestDIDWebHostIsAHost(t *testing.T) {
	for _, bad := range []string{"did:web:host.example%3F", "did:web:host.example%3Fx", "did:web:host.example%23",
		"did:web:host.example%23:users:alice", "did:web:host.example%5Cx", "did:web:host%20.example",
		"did:web:host.example%3A8443%3A1", "did:web:host.example%3A", "did:web:host.example%3Ax", "did:web:%3A8443",
		"did:web:host.example%25", "did:web:0%700", "did:web:issuer%2Eexample", "did:web:%69ssuer.example"} {
		if got, err := DIDWebDocumentURL(bad); !errors.Is(err, ErrResolve) {
			t.Errorf("DIDWebDocumentURL(%s) = %s, %v", bad, got, err)
		}
	}
	for in, want := range map[string]string{
		"did:web:host.example%3A8443":        "https://host.example:8443/.well-known/did.json",
		"did:web:127.0.0.1%3A8080:issuers:x": "https://127.0.0.1:8080/issuers/x/did.json",
		"did:web:xn--fiqs8s.example":         "https://xn--fiqs8s.example/.well-known/did.json",
		"did:web:localhost%3a3000":           "https://localhost:3000/.well-known/did.json",
	} {
		if got, err := DIDWebDocumentURL(in); err != nil || got != want {
			t.Errorf("DIDWebDocumentURL(%s) = %s, %v; want %s", in, got, err, want)
		}
	}
}

// TestDIDWebSyntax: a did:web whose method-specific id holds a character
// DID syntax does not allow (DID Core §3.1: idchar is ALPHA, DIGIT, ".",
// "-", "_" or a percent-encoded octet) is not a DID and is not resolved:
// did:web:host.example:a b would fetch https://host.example/a%20b/did.json,
// the document of did:web:host.example:a%20b.
func TestDIDWebSyntax(t *testing.T) {
	for _, bad := range []string{"did:web:host.example:a b", "did:web:host.example:用户", "did:web:host.example:a%4", "did:web:host.example:a+b",
		"did:web:host.example:a~b", "did:web:host.example:a@b", "did:web:host.example:", "did:web:host.example::a"} {
		if got, err := DIDWebDocumentURL(bad); !errors.Is(err, ErrResolve) {
			t.Errorf("DIDWebDocumentURL(%q) = %s, %v", bad, got, err)
		}
	}
	if got, err := DIDWebDocumentURL("did:web:host.example:a%20b:%E7%94%A8%E6%88%B7"); err != nil || got != "https://host.example/a%20b/%E7%94%A8%E6%88%B7/did.json" {
		t.Errorf("percent-encoded segments: %s, %v", got, err)
	}
}
