package credentials_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	. "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/cose"
	"github.com/trustid-cn/trustid/credentials/internal/didtest"
	"github.com/trustid-cn/trustid/credentials/multikey"
	"github.com/trustid-cn/trustid/gm"
)

// TestControllerDocumentDuplicateMethodID: a controller document that
// defines one verification method id twice (a key listed only in
// authentication, and under the same id another key embedded in
// assertionMethod) is refused, for an https controller and a did:web
// document alike: the lookup would otherwise take the first method for
// the id and the relationship of the second, so a key its controller
// listed for authentication only would sign credentials.
func TestControllerDocumentDuplicateMethodID(t *testing.T) {
	ctx := context.Background()
	authKey, _ := gm.GenerateSigner(gm.AlgEdDSA, rand.Reader)
	assertKey, _ := gm.GenerateSigner(gm.AlgEdDSA, rand.Reader)
	authMB, _ := multikey.Encode(authKey.Public())
	assertMB, _ := multikey.Encode(assertKey.Public())
	document := func(id string) []byte {
		return []byte(`{"id":"` + id + `","verificationMethod":[{"id":"#key-1","type":"Multikey","controller":"` + id + `","publicKeyMultibase":"` + authMB +
			`"}],"authentication":["#key-1"],"assertionMethod":[{"id":"#key-1","type":"Multikey","controller":"` + id + `","publicKeyMultibase":"` + assertMB + `"}]}`)
	}
	s := newCIDServer(t)
	u := s.serve("/dup", "application/cid", document(s.srv.URL+"/dup"))
	pub, err := cidResolver(s.client).ResolveKeyFor(ctx, u, u+"#key-1", RelationshipAssertion)
	if !errors.Is(err, ErrControllerDocument) {
		t.Errorf("https controller: %v (the authentication key: %v)", err, pub != nil && samePublic(pub, authKey.Public()))
	}
	did := "did:web:issuer.example"
	if _, err := ParseControllerDocument(document(did), did); !errors.Is(err, ErrControllerDocument) || !errors.Is(err, ErrResolve) {
		t.Errorf("did:web document: %v", err)
	}
	ka := []byte(`{"id":"` + did + `","verificationMethod":[{"id":"#key-1","type":"Multikey","controller":"` + did + `","publicKeyMultibase":"` + assertMB +
		`"}],"assertionMethod":["#key-1"],"keyAgreement":[{"id":"#key-1","type":"Multikey","controller":"` + did + `","publicKeyMultibase":"` + authMB + `"}]}`)
	if _, err := ParseControllerDocument(ka, did); !errors.Is(err, ErrControllerDocument) {
		t.Errorf("an id defined again in keyAgreement: %v", err)
	}
	// The same method listed by reference in both relationships, or
	// embedded in both with the same content, is one method.
	method := `{"id":"#key-1","type":"Multikey","controller":"` + did + `","publicKeyMultibase":"` + assertMB + `"}`
	for name, once := range map[string]string{
		"referenced": `{"id":"` + did + `","verificationMethod":[` + method + `],"authentication":["#key-1"],"assertionMethod":["` + did + `#key-1"]}`,
		"embedded":   `{"id":"` + did + `","verificationMethod":[` + method + `],"authentication":[` + method + `],"assertionMethod":[` + method + `],"keyAgreement":[` + method + `]}`,
	} {
		doc, err := ParseControllerDocument([]byte(once), did)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := doc.AssertionKey(did+"#key-1", time.Now()); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// samePublic reports whether a and b are the same public key.
func samePublic(a, b crypto.PublicKey) bool {
	x, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && x.Equal(b)
}

// TestDIDWebMethodWithoutController: a did:web verification method
// without a controller is refused (ErrMethodController), as DID Core
// §5.2 makes controller required and Controlled Identifiers 1.0 §3.3
// compares it with the document's id; before https controllers, a
// missing controller was taken as the document's. A method controlled by
// the DID resolves.
func TestDIDWebMethodWithoutController(t *testing.T) {
	key, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	mb, _ := multikey.Encode(key.Public())
	did := "did:web:issuer.example"
	for controller, want := range map[string]error{"": ErrMethodController, `,"controller":"did:web:other.example"`: ErrMethodController, `,"controller":"` + did + `"`: nil} {
		doc, err := ParseControllerDocument([]byte(`{"id":"`+did+`","verificationMethod":[{"id":"#k","type":"Multikey"`+controller+`,"publicKeyMultibase":"`+mb+`"}],"assertionMethod":["#k"]}`), did)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := doc.AssertionKey(did+"#k", time.Now()); !errors.Is(err, want) || (want != nil && !errors.Is(err, ErrUnknownKey)) {
			t.Errorf("controller %q: %v, want %v", controller, err, want)
		}
	}
}

// TestControllerDocumentRelativeHolderKid: a vp+jwt by an https
// controlled identifier holder whose kid is relative ("#auth-1") and
// whose iss is the holder verifies, behind a RegistryResolver too: the
// resolvers read the kid against the holder, as for a DID holder (it was
// passed on relative, which no resolver took for an https holder).
// Without iss, VC-JOSE-COSE §4.3 wants an absolute kid ("When the holder
// is identified as a [URL], and iss is absent, the kid MUST be an
// absolute [URL] to a verification method listed in a controlled
// identifier document"): SignPresentation and cose.SignPresentation
// refuse to make one, and a vp+cose (whose CWT claims cose.Sign does not
// write) so signed is refused (TestRelativeKidNeedsIss has the rest).
func TestControllerDocumentRelativeHolderKid(t *testing.T) {
	ctx := context.Background()
	authKey, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	id, client := didtest.ServeCID(t, didtest.Method{Frag: "auth-1", Key: authKey, Authentication: true})
	opts := PresentOptions{Challenge: "c-3", Domain: "https://rp.example", IssuedAt: time.Now()}
	if _, err := SignPresentation(presentationOf(id), "#auth-1", opts, authKey); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("SignPresentation with a relative kid: %v, want ErrUnknownKey", err)
	}
	if _, err := cose.SignPresentation(presentationOf(id), "#auth-1", opts, authKey); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("cose.SignPresentation with a relative kid: %v, want ErrUnknownKey", err)
	}
	doc := presentationOf(id)
	doc["nonce"], doc["aud"], doc["iat"] = opts.Challenge, opts.Domain, opts.IssuedAt.Unix()
	for name, res := range map[string]KeyResolver{"Resolver": cidResolver(client), "RegistryResolver": &RegistryResolver{Next: cidResolver(client)}} {
		v, err := NewVerifier(VerifierConfig{Algorithms: allAlgs, Resolver: res, Trust: AnyIssuer{}, SkipStatus: true})
		if err != nil {
			t.Fatal(err)
		}
		withIss := map[string]any{"iss": id}
		for k, val := range doc {
			withIss[k] = val
		}
		tok, err := SignJWT(withIss, TypVPJWT, "#auth-1", authKey)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.VerifyPresentation(ctx, tok, "c-3", "https://rp.example"); err != nil {
			t.Errorf("%s: vp+jwt: %v", name, err)
		}
		cv, err := cose.NewVerifier(v, allAlgs)
		if err != nil {
			t.Fatal(err)
		}
		data, err := cose.Sign(doc, cose.MediaTypeVP, "#auth-1", authKey)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cv.VerifyPresentation(ctx, data, "c-3", "https://rp.example"); !errors.Is(err, ErrUnknownKey) {
			t.Errorf("%s: vp+cose without iss: %v, want ErrUnknownKey", name, err)
		}
	}
}
