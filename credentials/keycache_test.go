package credentials_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"
	"weak"

	. "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/issuer"

	"github.com/trustid-cn/trustid/gm"
)

// TestKeyCacheOnlyVerified: resolving a key for an unverified token does
// not put it in the verifier's cache; a verified signature does; the
// cache is bounded; an expired entry is dropped and the key resolved
// again; did:key and did:jwk keys are never cached.
func TestKeyCacheOnlyVerified(t *testing.T) {
	srv, n, hits := issuerServer(t)
	ctx := context.Background()
	res := &Resolver{Client: loopbackClient(t, srv.Client()), TTL: time.Hour, Now: n.clock.Now}
	v, err := NewVerifier(VerifierConfig{Trust: AnyIssuer{}, Algorithms: allAlgs, Resolver: res, SkipStatus: true, Now: n.clock.Now,
		KeyTTL: time.Minute, KeyCacheSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	iss := mustIssue(t, n, sampleCredential(), issuer.IssueOptions{})
	k, _ := n.keys.Active(gm.AlgSM2)
	hdr := `{"alg":"SM2","typ":"vc+jwt","cty":"vc","kid":"` + n.issuer.DID() + "#" + k.Kid + `"}`
	pb, _ := json.Marshal(decodePayload(t, iss.Token))

	// Forged: the issuer's kid, another key's signature. The document is
	// fetched (the key is needed to check), but the key is not cached.
	forger, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	for range 3 {
		if _, err := v.VerifyCredential(ctx, resign(t, hdr, string(pb), forger)); !errors.Is(err, ErrSignature) {
			t.Fatalf("forged: %v", err)
		}
	}
	if v.CachedKeys().Len() != 0 {
		t.Fatalf("%d keys cached from forged tokens", v.CachedKeys().Len())
	}
	// Verified: cached.
	if _, err := v.VerifyCredential(ctx, iss.Token); err != nil {
		t.Fatal(err)
	}
	if v.CachedKeys().Len() != 1 {
		t.Fatalf("%d keys cached after a verified signature, want 1", v.CachedKeys().Len())
	}
	// A second key of the issuer: the cache holds one key (KeyCacheSize).
	if _, err := n.keys.Rotate(gm.AlgSM2); err != nil {
		t.Fatal(err)
	}
	n.clock.Advance(2 * time.Hour) // past the document cache: fetch the rotated document
	iss2 := mustIssue(t, n, sampleCredential(), issuer.IssueOptions{})
	if _, err := v.VerifyCredential(ctx, iss2.Token); err != nil {
		t.Fatal(err)
	}
	if v.CachedKeys().Len() != 1 {
		t.Fatalf("cache over its size: %d", v.CachedKeys().Len())
	}
	// Expiry: past KeyTTL, the key is resolved again (from the document
	// cache, which lives longer) and the expired entry is dropped.
	n.clock.Advance(2 * time.Minute)
	if _, ok := v.CachedKeys().Get(KeyID(RelationshipAssertion, n.issuer.DID(), decodeHeader(t, iss2.Token)["kid"].(string)), n.clock.Now()); ok {
		t.Fatal("expired key returned")
	}
	if v.CachedKeys().Len() != 0 {
		t.Fatalf("expired key kept: %d", v.CachedKeys().Len())
	}
	before := hits.Load()
	if _, err := v.VerifyCredential(ctx, iss2.Token); err != nil {
		t.Fatal(err)
	}
	if hits.Load() != before {
		t.Errorf("document refetched inside its TTL")
	}

	// did:key: verified, never cached.
	holder, did := holderKey(t, gm.AlgEdDSA)
	v2, _ := NewVerifier(VerifierConfig{Trust: AnyIssuer{}, Algorithms: allAlgs, Resolver: &Resolver{}, SkipStatus: true, Now: n.clock.Now})
	doc := sampleCredential()
	doc["issuer"] = did
	tok, err := SignJWT(doc, TypVCJWT, did+"#"+did[len("did:key:"):], holder)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v2.VerifyCredential(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if v2.CachedKeys().Len() != 0 {
		t.Errorf("did:key key cached")
	}
}

// TestKeyTTLNegativeCachesNothing: with KeyTTL < 0 (a node's and the
// SDK's verifiers, whose resolvers cache documents and check a method's
// times on every call) no key is cached, verified or not.
func TestKeyTTLNegativeCachesNothing(t *testing.T) {
	srv, n, _ := issuerServer(t)
	res := &Resolver{Client: loopbackClient(t, srv.Client()), TTL: time.Hour, Now: n.clock.Now}
	v, err := NewVerifier(VerifierConfig{Trust: AnyIssuer{}, Algorithms: allAlgs, Resolver: res, SkipStatus: true, Now: n.clock.Now, KeyTTL: -1})
	if err != nil {
		t.Fatal(err)
	}
	iss := mustIssue(t, n, sampleCredential(), issuer.IssueOptions{})
	for range 2 {
		if _, err := v.VerifyCredential(context.Background(), iss.Token); err != nil {
			t.Fatal(err)
		}
	}
	if v.CachedKeys().Len() != 0 {
		t.Errorf("%d keys cached with KeyTTL < 0", v.CachedKeys().Len())
	}
}

// TestResolverCacheBounded: the document cache holds at most CacheSize
// documents.
func TestResolverCacheBounded(t *testing.T) {
	srv, n, hits := issuerServer(t)
	ctx := context.Background()
	res := &Resolver{Client: loopbackClient(t, srv.Client()), CacheSize: 1, Now: n.clock.Now}
	k, _ := n.keys.Active(gm.AlgSM2)
	for range 2 {
		if _, err := res.ResolveKey(ctx, n.issuer.DID(), "#"+k.Kid); err != nil {
			t.Fatal(err)
		}
		if _, err := res.ResolveKey(ctx, srv.URL, k.Kid); err != nil {
			t.Fatal(err)
		}
	}
	if res.CachedDocs().Len() != 1 {
		t.Fatalf("%d documents cached, want 1", res.CachedDocs().Len())
	}
	if hits.Load() != 4 {
		t.Fatalf("%d fetches, want 4 (each evicts the other)", hits.Load())
	}
}

// TestKeyCacheKeepsNoDocument: a cached key is named by copies of the
// issuer and kid, not by the verified credential's strings (substrings of
// one copy of its payload, which they would keep whole).
func TestKeyCacheKeepsNoDocument(t *testing.T) {
	srv, n, _ := issuerServer(t)
	res := &Resolver{Client: loopbackClient(t, srv.Client()), TTL: time.Hour, Now: n.clock.Now}
	v, err := NewVerifier(VerifierConfig{Trust: AnyIssuer{}, Algorithms: allAlgs, Resolver: res, SkipStatus: true, Now: n.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	c := sampleCredential()
	c["credentialSubject"].(map[string]any)["pad"] = strings.Repeat("p", 150<<10)
	tok := mustIssue(t, n, c, issuer.IssueOptions{}).Token
	held := func() weak.Pointer[byte] {
		ver, err := v.VerifyCredential(context.Background(), tok)
		if err != nil {
			t.Fatal(err)
		}
		pad := ver.Map()["credentialSubject"].(map[string]any)["pad"].(string)
		return weak.Make(unsafe.StringData(pad))
	}()
	for range 3 {
		runtime.GC()
	}
	if held.Value() != nil {
		t.Fatal("the key cache holds the credential's document")
	}
	if v.CachedKeys().Len() != 1 {
		t.Fatalf("%d keys cached, want 1", v.CachedKeys().Len())
	}
	runtime.KeepAlive(v)
}
