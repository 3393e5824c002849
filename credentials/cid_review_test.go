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

// TestControllerDocumentRelativeHolderKid: a vp+jwt and a vp+cose by an
// https controlled identifier holder whose kid is relative ("#auth-1",
// which SignPresentation takes and holderKid resolves against the
// holder, as for a DID holder) verify, behind a RegistryResolver too:
// the kid was passed on relative, which no resolver took for an https
// holder.
func TestControllerDocumentRelativeHolderKid(t *testing.T) {
	ctx := context.Background()
	authKey, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	id, client := didtest.ServeCID(t, didtest.Method{Frag: "auth-1", Key: authKey, Authentication: true})
	for name, res := range map[string]KeyResolver{"Resolver": cidResolver(client), "RegistryResolver": &RegistryResolver{Next: cidResolver(client)}} {
		v, err := NewVerifier(VerifierConfig{Algorithms: allAlgs, Resolver: res, Trust: AnyIssuer{}, SkipStatus: true})
		if err != nil {
			t.Fatal(err)
		}
		opts := PresentOptions{Challenge: "c-3", Domain: "https://rp.example", IssuedAt: time.Now()}
		tok, err := SignPresentation(presentationOf(id), "#auth-1", opts, authKey)
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
		data, err := cose.SignPresentation(presentationOf(id), "#auth-1", opts, authKey)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cv.VerifyPresentation(ctx, data, "c-3", "https://rp.example"); err != nil {
			t.Errorf("%s: vp+cose: %v", name, err)
		}
	}
}

// TestControllerDocumentMethodTimes: a verification method's expires and
// revoked are XML Schema dateTimeStamps (Controlled Identifiers 1.0
// §2.2: "If provided, it MUST be an [XMLSCHEMA11-2] dateTimeStamp
// string"), as validFrom and a proof's created are: a comma before the
// fraction or an offset beyond ±14:00, which time.Parse takes, make the
// document malformed; a dateTimeStamp with an offset is taken.
func TestControllerDocumentMethodTimes(t *testing.T) {
	key, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	mb, _ := multikey.Encode(key.Public())
	did := "did:web:issuer.example"
	for at, ok := range map[string]bool{
		"2999-01-01T00:00:00Z":          true,
		"2999-01-01T08:00:00.5+08:00":   true,
		"2999-01-01T00:00:00,5Z":        false,
		"2999-01-01T00:00:00+14:30":     false,
		"2999-01-01T00:00:00.123-15:00": false,
	} {
		for _, member := range []string{"expires", "revoked"} {
			_, err := ParseControllerDocument([]byte(`{"id":"`+did+`","verificationMethod":[{"id":"#k","type":"Multikey","controller":"`+did+`","`+member+`":"`+at+`","publicKeyMultibase":"`+mb+`"}],"assertionMethod":["#k"]}`), did)
			if ok && err != nil || !ok && !errors.Is(err, ErrControllerDocument) {
				t.Errorf("%s %q: %v, want taken %v", member, at, err, ok)
			}
		}
	}
}
