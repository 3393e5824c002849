package credentials_test

import (
	"context"
	"crypto/rand"
	"errors"
	"maps"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/issuer"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/credentials/internal/jose"
	"github.com/trustid-cn/trustid/credentials/sdjwt"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/keystore"
	"github.com/trustid-cn/trustid/ledger"
)

// registryNode is a node whose issuer signs for accredited clients, over a
// real embedded ledger (region registered, view following it), with a
// verifier that takes keys and accreditations from the view (and the
// node's own keys, as if fetched, from its keystore).
type registryNode struct {
	*node
	ch       *chain
	verifier *Verifier
}

func newRegistryNode(t testing.TB) *registryNode {
	t.Helper()
	n := newNode(t, testBase)
	ch := openChain(t, t.TempDir(), false)
	did, _ := DIDWeb(testBase)
	registerRegion(t, ch.l, anchorRegion, did, testBase, n.keys)
	is, err := issuer.New(issuer.Config{BaseURL: testBase, Keys: n.keys, Status: n.status, Now: n.clock.Now,
		Registry: ch.view, Registrar: ch.c, IssuerKeys: n.keys, Region: anchorRegion})
	if err != nil {
		t.Fatal(err)
	}
	n.issuer = is
	v, err := NewVerifier(VerifierConfig{Algorithms: allAlgs, Now: n.clock.Now, Status: n.checker,
		Resolver: &RegistryResolver{Registry: ch.view, Next: &Resolver{Local: is.Local(), Now: n.clock.Now}},
		Trust:    &RegistryTrust{Registry: ch.view}})
	if err != nil {
		t.Fatal(err)
	}
	// The view learns of the region through its events.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, ok := ch.view.IssuerRegion(did); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the view never saw the region")
		}
	}
	return &registryNode{node: n, ch: ch, verifier: v}
}

func residence(subject string) map[string]any {
	return map[string]any{
		"@context":          []any{ContextV2},
		"type":              []any{TypeCredential, "ResidenceCredential"},
		"credentialSubject": map[string]any{"id": subject, "region": "310000"},
	}
}

const holderDID = "did:example:holder-7e21"

// TestClientIssuerAccreditation: a client issues only what it is
// accredited for, under its own issuer DID, and never what enrollment
// alone issues; verifiers check accreditations from the registry copy.
func TestClientIssuerAccreditation(t *testing.T) {
	n := newRegistryNode(t)
	ctx := context.Background()
	opts := issuer.IssueOptions{Client: "rp-1"}
	if _, err := n.issuer.IssueAsClient(ctx, residence(holderDID), opts); !errors.Is(err, ErrNotAccredited) {
		t.Fatalf("issue before accreditation: %v", err)
	}
	if _, err := n.issuer.Accredit(ctx, issuer.AccreditRequest{Client: "rp-1", Types: []string{"IdentityCredential"}}); !errors.Is(err, ErrReservedType) {
		t.Fatalf("accredited for IdentityCredential: %v", err)
	}
	rec, err := n.issuer.Accredit(ctx, issuer.AccreditRequest{Client: "rp-1", Name: "RP one", Types: []string{"ResidenceCredential"}})
	if err != nil {
		t.Fatal(err)
	}
	wantDID := "did:web:trustid.example%3A8443:issuers:rp-1"
	if rec.ID != wantDID || rec.Region != anchorRegion || len(rec.Keys) != 3 {
		t.Fatalf("record %+v", rec)
	}

	// Accredited: issued under the client's DID, verifies.
	iss, err := n.issuer.IssueAsClient(ctx, residence(holderDID), opts)
	if err != nil {
		t.Fatal(err)
	}
	c, err := n.verifier.VerifyCredential(ctx, iss.Token)
	if err != nil || c.Issuer != wantDID {
		t.Fatalf("verify: %v %+v", err, c)
	}
	sd, err := n.issuer.IssueAsClient(ctx, residence(holderDID), issuer.IssueOptions{Client: "rp-1", Format: issuer.FormatSDJWT, Algorithm: gm.AlgES256})
	if err != nil {
		t.Fatal(err)
	}
	r, err := n.verifier.VerifySDJWT(ctx, sd.Token, SDJWTOptions{})
	if err != nil || r.Claims["iss"] != wantDID || r.Claims["vct"] != testBase+"/vct/ResidenceCredential" {
		t.Fatalf("SD-JWT VC: %v %v", err, r)
	}

	// What enrollment alone issues, and what the client is not
	// accredited for, are refused at issue.
	identity := residence(holderDID)
	identity["type"] = []any{TypeCredential, TypeIdentityCredential}
	level := residence(holderDID)
	level["credentialSubject"].(map[string]any)[ClaimAssuranceLevel] = 4
	for name, tc := range map[string]struct {
		in   map[string]any
		opts issuer.IssueOptions
		want error
	}{
		"identity type":      {identity, opts, ErrReservedType},
		"identity SD-JWT":    {identity, issuer.IssueOptions{Client: "rp-1", Format: issuer.FormatSDJWT}, ErrReservedType},
		"assurance level":    {level, opts, ErrReservedClaim},
		"enrollment subject": {residence("urn:trustid:subject:015715ae7e41"), opts, ErrReservedSubject},
		"unaccredited type": {func() map[string]any {
			m := residence(holderDID)
			m["type"] = []any{TypeCredential, "DiplomaCredential"}
			return m
		}(), opts, ErrNotAccredited},
		"unaccredited vct": {residence(holderDID), issuer.IssueOptions{Client: "rp-1", Format: issuer.FormatSDJWT, VCT: "https://evil.example/vct/pid"}, ErrNotAccredited},
		// An accredited name under another host is another type.
		"accredited name, other host": {residence(holderDID), issuer.IssueOptions{Client: "rp-1", Format: issuer.FormatSDJWT, VCT: "https://evil.example/vct/ResidenceCredential"}, ErrNotAccredited},
		"identity vct":                {residence(holderDID), issuer.IssueOptions{Client: "rp-1", Format: issuer.FormatSDJWT, VCT: testBase + "/vct/IdentityCredential"}, ErrReservedType},
		"other client":                {residence(holderDID), issuer.IssueOptions{Client: "rp-2"}, ErrNotAccredited},
	} {
		if _, err := n.issuer.IssueAsClient(ctx, tc.in, tc.opts); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}

	// The client's real key signing what it is not accredited for: refused
	// by the verifier, offline, from the registry copy.
	key, err := n.keys.OwnerActive(wantDID, gm.AlgSM2)
	if err != nil {
		t.Fatal(err)
	}
	for name, typ := range map[string]string{"unaccredited": "DiplomaCredential", "identity": TypeIdentityCredential} {
		m := residence(holderDID)
		m["type"], m["issuer"], m["id"] = []any{TypeCredential, typ}, wantDID, "urn:uuid:"+name
		tok, err := SignJWT(m, TypVCJWT, wantDID+"#"+key.Kid, key.Signer)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.verifier.VerifyCredential(ctx, tok); !errors.Is(err, ErrNotAccredited) {
			t.Errorf("%s type signed by the client's key: %v", name, err)
		}
	}
	// SD-JWT VCs the client's key signs with a vct it is not accredited
	// for: the enrollment type (by name, or as the node's type URL), or an
	// accredited name under another host.
	for _, vct := range []string{TypeIdentityCredential, testBase + "/vct/IdentityCredential", "https://evil.example/vct/ResidenceCredential",
		"https://other-region.example/vct/IdentityCredential", "https://trustid.example:8443/vct/Identity%43redential/"} {
		payload, ds, err := (&sdjwt.Issuer{Rand: rand.Reader}).Conceal(map[string]any{"iss": wantDID, "vct": vct, "iat": n.clock.Now().Unix(),
			ClaimAssuranceLevel: 4, "name": "Mallory"}, &sdjwt.Frame{SD: []string{"name"}})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := jose.Sign(payload, map[string]any{"typ": TypSDJWTVC, "kid": wantDID + "#" + key.Kid}, key.Signer)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.verifier.VerifySDJWT(ctx, sdjwt.Serialize(tok, ds), SDJWTOptions{}); !errors.Is(err, ErrNotAccredited) {
			t.Errorf("SD-JWT VC of vct %s signed by the client's key: %v", vct, err)
		}
	}

	// An accreditation for an enrollment type written as a vct URL, of
	// any node: refused.
	for _, typ := range []string{testBase + "/vct/IdentityCredential", "https://other-region.example:443/vct/IdentityCredential"} {
		if _, err := n.issuer.Accredit(ctx, issuer.AccreditRequest{Client: "rp-1", Types: []string{"ResidenceCredential", typ}}); !errors.Is(err, ErrReservedType) {
			t.Errorf("accredited for %s: %v", typ, err)
		}
	}
	// The node's own key on another node's identity vct: not its type.
	ident, err := IdentityCredential(IdentityClaims{Subject: "urn:example:subject-1", AssuranceLevel: 2, Region: "310000",
		Name: "张三", BirthDate: "1990-03-07", Nationality: "CHN"}, n.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	for vct, want := range map[string]error{testBase + "/vct/IdentityCredential": nil, "https://other-region.example/vct/IdentityCredential": ErrNotAccredited} {
		sd, err := n.issuer.Issue(ctx, ident, issuer.IssueOptions{Format: issuer.FormatSDJWT, VCT: vct})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.verifier.VerifySDJWT(ctx, sd.Token, SDJWTOptions{}); !errors.Is(err, want) && (want != nil || err != nil) {
			t.Errorf("node-signed identity credential of vct %s: %v, want %v", vct, err, want)
		}
	}

	// The node itself is the enrollment issuer: it may not issue other
	// types in its own name.
	own, err := n.issuer.Issue(ctx, residence(holderDID), issuer.IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.verifier.VerifyCredential(ctx, own.Token); !errors.Is(err, ErrNotAccredited) {
		t.Errorf("node-signed ResidenceCredential: %v", err)
	}

	// The DID document lists the keys the registry lists.
	doc, err := n.issuer.ClientIssuerDocument("rp-1")
	if err != nil || doc.ID != wantDID || len(doc.VerificationMethod) != 3 {
		t.Fatalf("DID document: %v %+v", err, doc)
	}
	if _, err := n.issuer.ClientIssuerDocument("rp-2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("document of an unknown issuer: %v", err)
	}

	// Suspended in the registry: nothing it issued verifies, it issues
	// nothing.
	if _, err := n.issuer.Accredit(ctx, issuer.AccreditRequest{Client: "rp-1", Types: []string{"ResidenceCredential"}, Suspended: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.verifier.VerifyCredential(ctx, iss.Token); !errors.Is(err, ErrNotAccredited) {
		t.Errorf("credential of a suspended issuer: %v", err)
	}
	if _, err := n.issuer.IssueAsClient(ctx, residence(holderDID), opts); !errors.Is(err, ErrNotAccredited) {
		t.Errorf("suspended issuer issued: %v", err)
	}
}

// TestRegistryTrustStatusIssuer: a client issuer's credentials point into
// its region node's status lists, and the trust names that node as their
// issuer; an unknown issuer is not accredited.
func TestRegistryTrustStatusIssuer(t *testing.T) {
	n := newRegistryNode(t)
	ctx := context.Background()
	if _, err := n.issuer.Accredit(ctx, issuer.AccreditRequest{Client: "rp-1", Types: []string{"ResidenceCredential"}}); err != nil {
		t.Fatal(err)
	}
	trust := &RegistryTrust{Registry: n.ch.view}
	did, _ := DIDWeb(testBase)
	a, err := trust.Accreditation(did + ":issuers:rp-1")
	if err != nil || a.Enrollment || a.StatusIssuer(false) != did || a.StatusIssuer(true) != testBase {
		t.Fatalf("client issuer: %v %+v", err, a)
	}
	if a, err := trust.Accreditation(testBase); err != nil || !a.Enrollment || a.StatusIssuer(true) != testBase {
		t.Fatalf("region node: %v %+v", err, a)
	}
	if _, err := trust.Accreditation("did:web:elsewhere.example"); !errors.Is(err, ErrNotAccredited) {
		t.Errorf("unknown issuer: %v", err)
	}
	if _, err := NewVerifier(VerifierConfig{Algorithms: allAlgs, Resolver: &Resolver{}, SkipStatus: true}); err == nil || !strings.Contains(err.Error(), "trust") {
		t.Errorf("a verifier without an issuer trust: %v", err)
	}
	// A key of the registry record that is revoked no longer resolves.
	rec, _ := n.ch.view.Issuer(did + ":issuers:rp-1")
	rec.Keys[0].State = chaincode.KeyRevoked
	if _, err := n.ch.c.PutIssuer(ctx, rec); err != nil {
		t.Fatal(err)
	}
	res := &RegistryResolver{Registry: n.ch.view}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		_, err := res.ResolveKey(ctx, rec.ID, rec.ID+"#"+rec.Keys[0].Kid)
		if errors.Is(err, ErrUnknownKey) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("revoked key still resolves: %v", err)
		}
	}
	if _, err := res.ResolveKey(ctx, rec.ID, "did:web:other#"+rec.Keys[1].Kid); !errors.Is(err, ErrIssuerMismatch) {
		t.Errorf("kid of another DID: %v", err)
	}
	// A registry key of a DID serves both verification relationships (the
	// node publishes it in both); the region's base URL is no holder, and
	// a relationship neither names is refused.
	for _, rel := range []string{RelationshipAssertion, RelationshipAuthentication} {
		if _, err := res.ResolveKeyFor(ctx, rec.ID, rec.ID+"#"+rec.Keys[1].Kid, rel); err != nil {
			t.Errorf("%s: %v", rel, err)
		}
	}
	if _, err := res.ResolveKeyFor(ctx, testBase, "k1", RelationshipAuthentication); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("a base URL's key for authentication: %v", err)
	}
	if _, err := res.ResolveKeyFor(ctx, rec.ID, rec.ID+"#"+rec.Keys[1].Kid, "capabilityInvocation"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("another relationship: %v", err)
	}
}

// TestIssueGroupSharesFate: credentials issued together (one
// enrollment) are revoked, suspended and reinstated together.
func TestIssueGroupSharesFate(t *testing.T) {
	n := newNode(t, testBase)
	ctx := context.Background()
	group := func() []*issuer.Issued {
		out, err := n.issuer.IssueGroup(ctx, []issuer.GroupItem{
			{Credential: residence(holderDID), Options: issuer.IssueOptions{Client: "enroller"}},
			{Credential: residence(holderDID), Options: issuer.IssueOptions{Client: "enroller", Format: issuer.FormatSDJWT}},
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	verify := func(g []*issuer.Issued) (error, error) {
		_, e1 := n.verifier.VerifyCredential(ctx, g[0].Token)
		_, e2 := n.verifier.VerifySDJWT(ctx, g[1].Token, SDJWTOptions{})
		return e1, e2
	}
	g := group()
	if e1, e2 := verify(g); e1 != nil || e2 != nil {
		t.Fatalf("fresh group: %v %v", e1, e2)
	}
	if err := n.issuer.SetStatus(ctx, g[0].ID, issuer.ActionSuspend); err != nil {
		t.Fatal(err)
	}
	if e1, e2 := verify(g); !errors.Is(e1, ErrSuspended) || !errors.Is(e2, ErrSuspended) {
		t.Fatalf("after suspending the first: %v %v", e1, e2)
	}
	if err := n.issuer.SetStatus(ctx, g[1].ID, issuer.ActionReinstate); err != nil {
		t.Fatal(err)
	}
	if e1, e2 := verify(g); e1 != nil || e2 != nil {
		t.Fatalf("after reinstating the second: %v %v", e1, e2)
	}
	if err := n.issuer.SetStatus(ctx, g[0].ID, issuer.ActionRevoke); err != nil {
		t.Fatal(err)
	}
	if e1, e2 := verify(g); !errors.Is(e1, ErrRevoked) || !errors.Is(e2, ErrRevoked) {
		t.Fatalf("after revoking the first: %v %v", e1, e2)
	}
	if err := n.issuer.SetStatus(ctx, g[1].ID, issuer.ActionReinstate); !errors.Is(err, issuer.ErrStatusConflict) {
		t.Fatalf("reinstating the second after revocation: %v", err)
	}
	// Another group is untouched.
	if e1, e2 := verify(group()); e1 != nil || e2 != nil {
		t.Fatalf("another group: %v %v", e1, e2)
	}
}

// TestRegionKeysFromRegistry: a credential a region's node issued
// verifies at a verifier that has only the trust registry (no DID fetch,
// no local keys): the key comes from the region's record. Once the region
// retires that key in the registry, it no longer resolves.
func TestRegionKeysFromRegistry(t *testing.T) {
	n := newRegistryNode(t)
	ctx := context.Background()
	cred := residence(holderDID)
	cred["type"] = []any{TypeCredential, "IdentityCredential"}
	is, err := n.issuer.Issue(ctx, cred, issuer.IssueOptions{Client: "enroller"})
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(VerifierConfig{Algorithms: allAlgs, Now: n.clock.Now, Status: n.checker,
		Resolver: &RegistryResolver{Registry: n.ch.view}, Trust: &RegistryTrust{Registry: n.ch.view}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyCredential(ctx, is.Token); err != nil {
		t.Fatalf("from the registry alone: %v", err)
	}
	key, err := n.keys.Active(gm.AlgSM2)
	if err != nil {
		t.Fatal(err)
	}
	// The node's key named by a bare kid, without iss: the resolver would
	// read it as "#" + kid of the issuer, but VC-JOSE-COSE §4.3 wants an
	// absolute kid when iss is absent (CheckKid; found by review).
	jws, err := jose.Parse(is.Token, allAlgs, MaxDocument)
	if err != nil {
		t.Fatal(err)
	}
	payload := maps.Clone(jws.Payload)
	delete(payload, "iss")
	bare, err := jose.Sign(payload, map[string]any{"typ": TypVCJWT, "kid": key.Kid}, key.Signer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyCredential(ctx, bare); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("the node's key as a bare kid without iss: %v, want ErrUnknownKey", err)
	}
	if _, _, err := n.ch.l.Submit(ctx, "SetRegionKeyState", key.Kid, chaincode.KeyRetired); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		_, err := v.VerifyCredential(ctx, is.Token)
		if errors.Is(err, ErrUnknownKey) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a retired region key still verifies: %v", err)
		}
	}
}

// TestIssuerKeyRevokedAfterUse: an accredited issuer's key is parsed
// once, but whether it may verify is the registry's answer at each
// verification: revoked in the registry after a credential verified
// with it, the next verification of that credential is refused.
func TestIssuerKeyRevokedAfterUse(t *testing.T) {
	n := newRegistryNode(t)
	ctx := context.Background()
	rec, err := n.issuer.Accredit(ctx, issuer.AccreditRequest{Client: "rp-1", Name: "RP one", Types: []string{"ResidenceCredential"}})
	if err != nil {
		t.Fatal(err)
	}
	iss, err := n.issuer.IssueAsClient(ctx, residence(holderDID), issuer.IssueOptions{Client: "rp-1"})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second time from the parsed key
		if _, err := n.verifier.VerifyCredential(ctx, iss.Token); err != nil {
			t.Fatalf("verify: %v", err)
		}
	}
	if got := n.verifier.CachedKeys().Len(); got != 0 {
		t.Fatalf("%d registry keys in the verifier's key cache, want none", got)
	}
	revokeIssuerKeyOnChain(t, n, rec)
	if _, err := n.verifier.VerifyCredential(ctx, iss.Token); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("credential of a revoked issuer key: %v, want ErrUnknownKey", err)
	}
}

// TestAllowsLeavesTypes: Allows reads a vct under VCTBase as its type
// name without writing to the caller's list (it copies the list before
// its first change), and takes a list without one as it is.
func TestAllowsLeavesTypes(t *testing.T) {
	a := Accreditation{Issuer: "did:web:a.example", VCTBase: "https://a.example/", Types: []string{"ResidenceCredential"}}
	types := []string{TypeCredential, "https://a.example/vct/ResidenceCredential"}
	if err := a.Allows(types, nil, nil); err != nil {
		t.Fatal(err)
	}
	if types[1] != "https://a.example/vct/ResidenceCredential" {
		t.Fatalf("Allows changed the caller's types: %q", types)
	}
	if err := a.Allows([]string{TypeCredential, "ResidenceCredential"}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := a.Allows([]string{"https://a.example/vct/OtherCredential"}, nil, nil); !errors.Is(err, ErrNotAccredited) {
		t.Fatalf("a type not accredited: %v", err)
	}
}

// staleRegistry is a registry copy holding issuer records the contract
// refuses today, as a chain written before it did may: extra shadow the
// view's records.
type staleRegistry struct {
	*ledger.View
	extra map[string]chaincode.Issuer
}

func (s staleRegistry) Issuer(id string) (chaincode.Issuer, bool) {
	if x, ok := s.extra[id]; ok {
		return x, true
	}
	return s.View.Issuer(id)
}

// TestIssuerRecordNamedAsAnotherRegionsNode: region B may not write an
// issuer record named as region A's node (its DID) or on A's host (a
// client issuer DID of A's node), and a registry that holds such records
// (written before the contract refused them) neither lets B's key verify
// as A's, nor stops A's own credentials verifying, nor accredits the
// hosted one, nor has A's node serve its DID document.
func TestIssuerRecordNamedAsAnotherRegionsNode(t *testing.T) {
	n := newRegistryNode(t)
	ctx := context.Background()
	didA, _ := DIDWeb(testBase)
	squat := didA + ":issuers:squat"
	lb, err := n.ch.l.As(chaincode.RegionMSP("320000"))
	if err != nil {
		t.Fatal(err)
	}
	defer lb.Close()
	ca, cb := n.ch.c, ledger.Client{L: lb}
	realKey, err := n.keys.Active(gm.AlgSM2)
	if err != nil {
		t.Fatal(err)
	}
	genuine, err := SignJWT(map[string]any{"@context": []any{ContextV2}, "type": []any{TypeCredential, TypeIdentityCredential}, "issuer": didA,
		"credentialSubject": map[string]any{"id": "urn:trustid:subject:0157bb", ClaimAssuranceLevel: 2}}, TypVCJWT, didA+"#"+realKey.Kid, realKey.Signer)
	if err != nil {
		t.Fatal(err)
	}
	evil, err := gm.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk, err := gm.NewJWK(evil.Public(), "evil-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cb.RequestRegion(ctx, chaincode.RegionInput{Code: "320000", DID: "did:web:js.trustid.example",
		Endpoints: []chaincode.Endpoint{{Type: "api", URL: "https://js.trustid.example"}}, Keys: []gm.JWK{jwk}}); err != nil {
		t.Fatal(err)
	}
	if err := ca.Vote(ctx, chaincode.ActionAdmit, "320000"); err != nil {
		t.Fatal(err)
	}
	recOf := func(id string) chaincode.Issuer {
		return chaincode.Issuer{ID: id, Region: "320000", Name: "not A", Types: []string{"ResidenceCredential"},
			Keys: []chaincode.RegistryKey{{Kid: "evil-1", JWK: jwk, State: chaincode.KeyActive}}, Status: chaincode.EntryActive}
	}
	for _, id := range []string{didA, squat} {
		if _, err := cb.PutIssuer(ctx, recOf(id)); !errors.Is(err, chaincode.ErrForbidden) {
			t.Errorf("region B wrote issuer %s: %v", id, err)
		}
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, ok := n.ch.view.IssuerRegion("did:web:js.trustid.example"); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the view never saw region B admitted")
		}
	}

	stale := staleRegistry{n.ch.view, map[string]chaincode.Issuer{didA: recOf(didA), squat: recOf(squat)}}
	v, err := NewVerifier(VerifierConfig{Algorithms: allAlgs, Now: n.clock.Now, Status: n.checker,
		Resolver: &RegistryResolver{Registry: stale, Next: &Resolver{Local: n.issuer.Local(), Now: n.clock.Now}},
		Trust:    &RegistryTrust{Registry: stale}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyCredential(ctx, genuine); err != nil {
		t.Errorf("A's own credential beside B's record named as A: %v", err)
	}
	forged, err := SignJWT(map[string]any{"@context": []any{ContextV2}, "type": []any{TypeCredential, TypeIdentityCredential}, "issuer": didA,
		"credentialSubject": map[string]any{"id": "urn:trustid:subject:0157aa", ClaimAssuranceLevel: 4}}, TypVCJWT, didA+"#evil-1", evil)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := v.VerifyCredential(ctx, forged); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("region B's key verified as region A's node: %+v, %v", c, err)
	}
	hosted, err := SignJWT(map[string]any{"@context": []any{ContextV2}, "type": []any{TypeCredential, "ResidenceCredential"}, "issuer": squat,
		"credentialSubject": map[string]any{"id": holderDID}}, TypVCJWT, squat+"#evil-1", evil)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := v.VerifyCredential(ctx, hosted); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("region B's issuer on A's host verified: %+v, %v", c, err)
	}
	if a, err := (&RegistryTrust{Registry: stale}).Accreditation(squat); !errors.Is(err, ErrNotAccredited) {
		t.Errorf("region B's issuer on A's host accredited: %+v, %v", a, err)
	}
	is, err := issuer.New(issuer.Config{BaseURL: testBase, Keys: n.keys, Status: n.status, Now: n.clock.Now,
		Registry: stale, Registrar: n.ch.c, IssuerKeys: n.keys, Region: anchorRegion})
	if err != nil {
		t.Fatal(err)
	}
	if doc, err := is.ClientIssuerDocument("squat"); !errors.Is(err, ErrNotFound) {
		t.Errorf("A's node serves a DID document under its host with region B's key: %+v, %v", doc, err)
	}
}

// TestRegistryRecordHost: a registry issuer record whose identifier has
// no host (the registry's IDHost) is refused every time, however often it
// is asked, and one with a host resolves every time.
func TestRegistryRecordHost(t *testing.T) {
	n := newRegistryNode(t)
	ctx := context.Background()
	k, err := gm.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk, err := gm.NewJWK(k.Public(), "k-1")
	if err != nil {
		t.Fatal(err)
	}
	recOf := func(id string) chaincode.Issuer {
		return chaincode.Issuer{ID: id, Region: "310000", Name: "x", Types: []string{"ResidenceCredential"},
			Keys: []chaincode.RegistryKey{{Kid: "k-1", JWK: jwk, State: chaincode.KeyActive}}, Status: chaincode.EntryActive}
	}
	const hosted, hostless = "did:web:hosted.example", "urn:example:no-host"
	r := &RegistryResolver{Registry: staleRegistry{n.ch.view, map[string]chaincode.Issuer{hosted: recOf(hosted), hostless: recOf(hostless)}}}
	for range 3 {
		if _, err := r.ResolveKey(ctx, hostless, hostless+"#k-1"); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("record with no host: %v, want ErrUnknownKey", err)
		}
		pub, err := r.ResolveKey(ctx, hosted, hosted+"#k-1")
		if err != nil || !k.PublicKey().Equal(pub) {
			t.Fatalf("hosted record: %v", err)
		}
	}
}

// TestAccreditAfterKeyRevokedOnTheChain: an issuer key revoked on the
// chain (by hand, after a compromise) while the keystore still holds it
// as active does not stop the node from writing the issuer's record
// again: suspending the issuer, the operator's next step, succeeds and
// the key stays revoked. Before, Accredit sent the keystore's state,
// the contract refused revoked → active (key_transition), and the
// operator got 503 for as long as the key existed.
func TestAccreditAfterKeyRevokedOnTheChain(t *testing.T) {
	n := newRegistryNode(t)
	ctx := context.Background()
	rec, err := n.issuer.Accredit(ctx, issuer.AccreditRequest{Client: "rp-1", Name: "RP one", Types: []string{"ResidenceCredential"}})
	if err != nil {
		t.Fatal(err)
	}
	kid := revokeIssuerKeyOnChain(t, n, rec)
	out, err := n.issuer.Accredit(ctx, issuer.AccreditRequest{Client: "rp-1", Name: "RP one", Types: []string{"ResidenceCredential"}, Suspended: true})
	if err != nil {
		t.Fatalf("suspending the issuer after a key revocation: %v", err)
	}
	if out.Status != chaincode.EntrySuspended {
		t.Errorf("status %q, want suspended", out.Status)
	}
	for _, k := range out.Keys {
		if k.Kid == kid && k.State != chaincode.KeyRevoked {
			t.Errorf("revoked key is %s again", k.State)
		}
	}
}

// revokeIssuerKeyOnChain revokes, in rec on the chain (as an operator
// does by hand), the issuer's active SM2 key, which the node's keystore
// still holds as active, waits for the node's view to see it, and
// returns its kid.
func revokeIssuerKeyOnChain(t *testing.T, n *registryNode, rec chaincode.Issuer) string {
	t.Helper()
	key, err := n.keys.OwnerActive(rec.ID, gm.AlgSM2)
	if err != nil {
		t.Fatal(err)
	}
	for i := range rec.Keys {
		if rec.Keys[i].Kid == key.Kid {
			rec.Keys[i].State = chaincode.KeyRevoked
		}
	}
	if _, err := n.ch.c.PutIssuer(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if r, ok := n.ch.view.Issuer(rec.ID); ok {
			if _, ok := r.VerifyingKey(key.Kid); !ok {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the view never saw the revocation")
		}
	}
	return key.Kid
}

// TestIssueAtInstanceWithoutIssuerKeys: an instance whose keystore copy
// predates a client's accreditation (another instance made the keys)
// refuses the client's issue requests as not accredited, naming the
// keystore copy: accrediting again there makes no keys (Accredit keeps
// the record's), so "accredit it again" would send the operator round
// in a loop (docs/credentials.md, "Several instances of a region").
func TestIssueAtInstanceWithoutIssuerKeys(t *testing.T) {
	n := newRegistryNode(t)
	ctx := context.Background()
	if _, err := n.issuer.Accredit(ctx, issuer.AccreditRequest{Client: "rp-1", Name: "RP one", Types: []string{"ResidenceCredential"}}); err != nil {
		t.Fatal(err)
	}
	copyBefore, err := keystore.Open(filepath.Join(t.TempDir(), "keystore.json"), make([]byte, 16), keystore.Options{Now: n.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	other, err := issuer.New(issuer.Config{BaseURL: testBase, Keys: n.keys, Status: n.status, Now: n.clock.Now,
		Registry: n.ch.view, Registrar: n.ch.c, IssuerKeys: copyBefore, Region: anchorRegion})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // before and after accrediting again there
		_, err = other.IssueAsClient(ctx, residence(holderDID), issuer.IssueOptions{Client: "rp-1"})
		if !errors.Is(err, ErrNotAccredited) || !strings.Contains(err.Error(), "keystore copy") || strings.Contains(err.Error(), "accredit it again") {
			t.Errorf("issue at the instance without the issuer's keys: %v, want ErrNotAccredited naming the keystore copy only", err)
		}
		if _, err := other.Accredit(ctx, issuer.AccreditRequest{Client: "rp-1", Name: "RP one", Types: []string{"ResidenceCredential"}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := n.issuer.IssueAsClient(ctx, residence(holderDID), issuer.IssueOptions{Client: "rp-1"}); err != nil {
		t.Errorf("issue at the instance that holds the keys: %v", err)
	}
}
