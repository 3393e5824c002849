package sdk_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/multikey"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/sdk"
)

// hostedIssuer is a node (an httptest server) hosting one issuer,
// did:web:<node>:issuers:rp1, whose DID document has one SM2 method "#k"
// listed in assertionMethod, with the revoked/expires members in times.
type hostedIssuer struct {
	node   *httptest.Server
	did    string
	signer *gm.PrivateKey
	times  string // the method's revoked/expires members, as JSON
	// docs counts the requests for the issuer's DID document.
	docs atomic.Int32
}

func newHostedIssuer(t *testing.T) *hostedIssuer {
	t.Helper()
	k, err := gm.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := multikey.Encode(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	h := &hostedIssuer{signer: k}
	h.node = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/issuers/rp1/did.json" {
			http.NotFound(w, r)
			return
		}
		h.docs.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"id":"` + h.did + `","verificationMethod":[{"id":"#k","type":"Multikey","controller":"` + h.did +
			`","publicKeyMultibase":"` + mb + `"` + h.times + `}],"assertionMethod":["#k"]}`))
	}))
	t.Cleanup(h.node.Close)
	nodeDID, err := vc.DIDWeb(h.node.URL)
	if err != nil {
		t.Fatal(err)
	}
	h.did = nodeDID + ":issuers:rp1"
	return h
}

// credential is a vc+jwt of the hosted issuer about subject, valid from
// validFrom, with no status entry.
func (h *hostedIssuer) credential(t *testing.T, subject string, validFrom time.Time) string {
	t.Helper()
	tok, err := vc.SignJWT(map[string]any{
		"@context":          []any{"https://www.w3.org/ns/credentials/v2"},
		"type":              []any{"VerifiableCredential", "ResidenceCredential"},
		"issuer":            h.did,
		"validFrom":         validFrom.UTC().Format(time.RFC3339),
		"credentialSubject": map[string]any{"id": subject, "region": "310000"},
	}, vc.TypVCJWT, h.did+"#k", h.signer)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (h *hostedIssuer) nodes(now *time.Time) *sdk.Nodes {
	return &sdk.Nodes{Bases: []string{h.node.URL}, Algorithms: []string{gm.AlgSM2, gm.AlgES256},
		Issuers: map[string][]string{h.did: {"ResidenceCredential"}}, Now: func() time.Time { return *now }}
}

// TestHostedIssuerKeyTimes: the key of an issuer a node hosts
// (did:web:<node>:issuers:<client>) is refused once the verification
// method's revoked or expires time has passed (W3C Controlled Identifiers
// 1.0 §3.3), as the node's own resolver does; before it, or without one,
// it resolves.
func TestHostedIssuerKeyTimes(t *testing.T) {
	h := newHostedIssuer(t)
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
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
		h.times = c.times
		// A fresh Nodes each time: documents are cached for KeyTTL.
		pub, err := h.nodes(&now).ResolveKey(context.Background(), h.did, h.did+"#k")
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

// TestUnacceptedHostedIssuerNotFetched: a credential of an issuer the
// node hosts that the verifier does not accept (not in Issuers, no Trust)
// is refused as not accredited without its DID document being fetched,
// for a credential, a presentation or a key asked directly. It was
// fetched before the refusal (and kept, evicting accepted issuers'
// documents from the cache): a credential naming any made-up hosted
// issuer sent the node a request.
func TestUnacceptedHostedIssuerNotFetched(t *testing.T) {
	h := newHostedIssuer(t)
	now := time.Now().UTC().Truncate(time.Second)
	nodes := h.nodes(&now)
	nodes.Issuers = map[string][]string{h.did + "x": {"ResidenceCredential"}}
	v, err := sdk.NewCredentialVerifier(nodes, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyToken(context.Background(), h.credential(t, "did:example:holder", now.Add(-time.Hour))); !errors.Is(err, vc.ErrNotAccredited) {
		t.Errorf("credential: %v, want ErrNotAccredited", err)
	}
	for _, rel := range []string{vc.RelationshipAssertion, vc.RelationshipAuthentication} {
		if _, err := nodes.ResolveKeyFor(context.Background(), h.did, h.did+"#k", rel); !errors.Is(err, vc.ErrNotAccredited) {
			t.Errorf("ResolveKeyFor %s: %v, want ErrNotAccredited", rel, err)
		}
	}
	if n := h.docs.Load(); n != 0 {
		t.Errorf("the unaccepted issuer's DID document was fetched %d times", n)
	}
	// Accepted, it is fetched (once: cached).
	nodes = h.nodes(&now)
	if v, err = sdk.NewCredentialVerifier(nodes, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyToken(context.Background(), h.credential(t, "did:example:holder", now.Add(-time.Hour))); err != nil {
		t.Errorf("accepted issuer: %v", err)
	}
	if n := h.docs.Load(); n != 1 {
		t.Errorf("the accepted issuer's DID document was fetched %d times, want 1", n)
	}
}

// TestVerifierRechecksHostedKeyTimes: a credential that verified while
// its issuer's method was usable is refused once the method expires, with
// the document still cached and the key already used: the SDK's verifier
// caches no key past the method's times (nor does a node's).
func TestVerifierRechecksHostedKeyTimes(t *testing.T) {
	h := newHostedIssuer(t)
	now := time.Now().UTC().Truncate(time.Second)
	h.times = `,"expires":"` + now.Add(10*time.Second).Format(time.RFC3339) + `"`
	v, err := sdk.NewCredentialVerifier(h.nodes(&now), 0)
	if err != nil {
		t.Fatal(err)
	}
	tok := h.credential(t, "did:example:holder", now.Add(-time.Hour))
	if _, err := v.VerifyToken(context.Background(), tok); err != nil {
		t.Fatalf("before the method expires: %v", err)
	}
	now = now.Add(11 * time.Second)
	if _, err := v.VerifyToken(context.Background(), tok); !errors.Is(err, vc.ErrMethodRevoked) {
		t.Fatalf("after the method expired: %v, want ErrMethodRevoked", err)
	}
}

// TestVerifierLeeway: the SDK allows a node's clock skew by default (a
// credential valid from 3 s ahead of the verifier's clock verifies), and
// none when Leeway is negative.
func TestVerifierLeeway(t *testing.T) {
	h := newHostedIssuer(t)
	now := time.Now().UTC().Truncate(time.Second)
	tok := h.credential(t, "did:example:holder", now.Add(3*time.Second))
	nodes := h.nodes(&now)
	v, err := sdk.NewCredentialVerifier(nodes, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyToken(context.Background(), tok); err != nil {
		t.Errorf("3 s of skew, default leeway: %v", err)
	}
	strict := h.nodes(&now)
	strict.Leeway = -1
	if v, err = sdk.NewCredentialVerifier(strict, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyToken(context.Background(), tok); err == nil {
		t.Error("3 s of skew, no leeway: accepted")
	}
}

// TestVerifyPresentationDIDJWKHolder: a holder whose DID is a did:jwk
// presents a hosted issuer's credential about it; the SDK reads the
// holder's key from the DID, as a node does.
func TestVerifyPresentationDIDJWKHolder(t *testing.T) {
	h := newHostedIssuer(t)
	now := time.Now().UTC().Truncate(time.Second)
	holderKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	j, err := gm.NewJWK(&holderKey.PublicKey, "")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(map[string]any{"kty": j.Kty, "crv": j.Crv, "x": j.X, "y": j.Y})
	holder := "did:jwk:" + base64.RawURLEncoding.EncodeToString(raw)
	cred := h.credential(t, holder, now.Add(-time.Hour))
	vp, err := vc.SignPresentation(map[string]any{
		"@context":             []any{"https://www.w3.org/ns/credentials/v2"},
		"type":                 []any{"VerifiablePresentation"},
		"holder":               holder,
		"verifiableCredential": []any{vc.Envelope(cred, vc.MediaTypeVCJWT)},
	}, holder+"#0", vc.PresentOptions{Challenge: "c-1", Domain: "https://rp.example", IssuedAt: now}, holderKey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := sdk.NewCredentialVerifier(h.nodes(&now), 0)
	if err != nil {
		t.Fatal(err)
	}
	res, err := v.VerifyPresentation(context.Background(), vp, "c-1", "https://rp.example")
	if err != nil {
		t.Fatalf("did:jwk holder: %v", err)
	}
	if res.Holder != holder || len(res.Credentials) != 1 {
		t.Fatalf("holder %q, %d credentials", res.Holder, len(res.Credentials))
	}
	// A presentation signed with the hosted issuer's key (assertionMethod
	// only) is refused: it is no authentication key.
	vp2, err := vc.SignPresentation(map[string]any{
		"@context": []any{"https://www.w3.org/ns/credentials/v2"}, "type": []any{"VerifiablePresentation"}, "holder": h.did,
	}, h.did+"#k", vc.PresentOptions{Challenge: "c-2", Domain: "https://rp.example", IssuedAt: now}, h.signer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyPresentation(context.Background(), vp2, "c-2", "https://rp.example"); !errors.Is(err, vc.ErrMethodRelationship) {
		t.Errorf("hosted issuer's assertion key signing a presentation: %v, want ErrMethodRelationship", err)
	}
}

// TestKidOfTheNodeDIDForItsBaseURL: a credential whose issuer is a node's
// base URL names its key by a plain kid; a kid under the node's DID
// (did:web:<node>#k) is another identifier's, refused as the node's own
// resolver refuses it.
func TestKidOfTheNodeDIDForItsBaseURL(t *testing.T) {
	h := newHostedIssuer(t)
	nodeDID, _ := vc.DIDWeb(h.node.URL)
	now := time.Now()
	_, err := h.nodes(&now).ResolveKey(context.Background(), h.node.URL, nodeDID+"#k")
	if !errors.Is(err, vc.ErrIssuerMismatch) {
		t.Fatalf("SDK: %v, want ErrIssuerMismatch", err)
	}
	_, err = (&vc.Resolver{}).ResolveKey(context.Background(), h.node.URL, nodeDID+"#k")
	if !errors.Is(err, vc.ErrIssuerMismatch) {
		t.Fatalf("node's resolver: %v, want ErrIssuerMismatch", err)
	}
}

// TestLeewayBounded: every SDK verifier takes at most MaxLeeway of clock
// skew, as AccessTokenConfig already did: a Login or Nodes configured
// with more (which would take an ID token or credential that long after
// it expired) is refused; MaxLeeway itself is taken.
func TestLeewayBounded(t *testing.T) {
	h := newHostedIssuer(t)
	key, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	for _, c := range []struct {
		leeway time.Duration
		ok     bool
	}{{sdk.MaxLeeway, true}, {sdk.MaxLeeway + time.Second, false}, {time.Hour, false}} {
		_, err := sdk.NewLogin(sdk.LoginConfig{Issuer: h.node.URL, ClientID: "rp", RedirectURI: "https://rp.example/cb", Key: key,
			Algorithms: []string{gm.AlgSM2}, Leeway: c.leeway})
		if (err == nil) != c.ok {
			t.Errorf("Login with leeway %v: %v", c.leeway, err)
		}
		now := time.Now()
		nodes := h.nodes(&now)
		nodes.Leeway = c.leeway
		_, err = sdk.NewCredentialVerifier(nodes, 0)
		if (err == nil) != c.ok {
			t.Errorf("Nodes with leeway %v: %v", c.leeway, err)
		}
	}
}

// TestNodeWithAPathIsNotHostedByTheRoot: with a node at a host's root and
// another under a path of it (https://gw.example and
// https://gw.example/sh), the second's DID (did:web:gw.example:sh) is
// that node, an enrollment issuer whose keys are its own JWKS, in either
// order of Bases. Listed after the root, it was taken for an issuer the
// root hosts: its credentials were refused as not accredited.
func TestNodeWithAPathIsNotHostedByTheRoot(t *testing.T) {
	jwks := func(kid string) []byte {
		k, err := gm.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		j, err := gm.NewJWK(k.Public(), kid)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(gm.JWKS{Keys: []gm.JWK{j}})
		return b
	}
	sets := map[string][]byte{"/.well-known/jwks.json": jwks("root"), "/sh/.well-known/jwks.json": jwks("sh")}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := sets[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	}))
	defer srv.Close()
	shDID, err := vc.DIDWeb(srv.URL + "/sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, bases := range [][]string{{srv.URL, srv.URL + "/sh"}, {srv.URL + "/sh", srv.URL}} {
		nodes := &sdk.Nodes{Bases: bases, Algorithms: []string{gm.AlgSM2}}
		if acc, err := nodes.Accreditation(shDID); err != nil || !acc.Enrollment {
			t.Errorf("%v: the path node's accreditation: %+v, %v", bases, acc, err)
		}
		if pub, err := nodes.ResolveKey(context.Background(), shDID, shDID+"#sh"); err != nil || pub == nil {
			t.Errorf("%v: the path node's key: %v", bases, err)
		}
	}
}
