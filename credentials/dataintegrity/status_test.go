package dataintegrity_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/credentials"
	di "github.com/trustid-cn/trustid/credentials/dataintegrity"
	"github.com/trustid-cn/trustid/credentials/jsonld"
	"github.com/trustid-cn/trustid/credentials/statuslist"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/testenv"
)

const statusBase = "https://trustid.example:8443"

// statusNode is a credentials.Verifier over a real status store (a file
// store in a temporary directory), as the node's verify endpoint has.
type statusNode struct {
	store    *statuslist.FileStore
	verifier *credentials.Verifier
	resolver *credentials.Resolver
}

func newStatusNode(t testing.TB) *statusNode {
	t.Helper()
	clock := func() time.Time { return now }
	st, err := statuslist.OpenFileStore(filepath.Join(t.TempDir(), "status"), statuslist.FileStoreOptions{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	res := &credentials.Resolver{Now: clock}
	v, err := credentials.NewVerifier(credentials.VerifierConfig{
		Trust:      credentials.AnyIssuer{},
		Algorithms: []string{gm.AlgSM2, gm.AlgES256, gm.AlgEdDSA},
		Resolver:   res,
		Status:     credentials.NewStatusChecker(&credentials.LocalStatusSource{BaseURL: statusBase, Store: st}, time.Minute, clock),
		Now:        clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &statusNode{store: st, verifier: v, resolver: res}
}

// entry allocates a status entry of purpose in the node's lists.
func (n *statusNode) entry(t testing.TB, purpose string) (map[string]any, func(uint8)) {
	t.Helper()
	ctx := context.Background()
	list, idx, err := n.store.Allocate(ctx, purpose)
	if err != nil {
		t.Fatal(err)
	}
	url := statusBase + "/status/" + list
	e := map[string]any{
		"id":                   url + "#" + strconv.Itoa(idx),
		"type":                 "BitstringStatusListEntry",
		"statusPurpose":        purpose,
		"statusListIndex":      strconv.Itoa(idx),
		"statusListCredential": url,
	}
	return e, func(v uint8) {
		if err := n.store.Set(ctx, list, idx, v); err != nil {
			t.Fatal(err)
		}
	}
}

// TestStatus: a Data Integrity credential's Bitstring Status List entries,
// at the top level of credentialStatus, are checked by the Checker
// (credentials.Verifier.CheckCredential) as a vc+jwt's are: valid, then
// suspended, then revoked, for every suite.
func TestStatus(t *testing.T) {
	ctx := context.Background()
	for alg, suite := range suiteOf {
		t.Run(suite, func(t *testing.T) {
			n := newStatusNode(t)
			revocation, revoke := n.entry(t, credentials.PurposeRevocation)
			suspension, suspend := n.entry(t, credentials.PurposeSuspension)
			k := newDIDKey(t, alg)
			c := credential(k.did)
			c["credentialStatus"] = []any{revocation, suspension}
			signed := sign(t, c, k, suite, di.Options{})
			v, err := di.NewVerifier(di.Config{Resolver: n.resolver, Cryptosuites: di.Cryptosuites(), Checker: di.CheckWith(n.verifier.CheckCredential), Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			check := func(want error) {
				t.Helper()
				_, err := v.VerifyCredential(ctx, marshal(t, signed))
				if (want == nil && err != nil) || !errors.Is(err, want) {
					t.Fatalf("got %v, want %v", err, want)
				}
			}
			check(nil)
			suspend(1)
			check(credentials.ErrSuspended)
			suspend(0)
			check(nil)
			revoke(1)
			check(credentials.ErrRevoked)
		})
	}
}

// BenchmarkDataIntegrity measures an SM2 Data Integrity credential
// (sm2-rdfc-2025) against bare SM2 and a vc+jwt of the same credential in
// one run (docs/BENCHMARKS.md, "Data Integrity"): canonicalizing the
// credential, hashData (both canonicalizations and the hash), bare sign
// and verify of hashData, issuing (AddProof), verifying the proof alone,
// and the full verification (data model, validity, trust, two status
// entries) beside VerifyCredential of the same credential as vc+jwt.
// BenchmarkDataIntegrityEdDSA and BenchmarkDataIntegrityECDSA do the same
// for eddsa-rdfc-2022 (Ed25519) and ecdsa-rdfc-2019 (P-256).
func BenchmarkDataIntegrity(b *testing.B)      { benchmarkSuite(b, gm.AlgSM2) }
func BenchmarkDataIntegrityEdDSA(b *testing.B) { benchmarkSuite(b, gm.AlgEdDSA) }
func BenchmarkDataIntegrityECDSA(b *testing.B) { benchmarkSuite(b, gm.AlgES256) }

func benchmarkSuite(b *testing.B, alg string) {
	ctx := context.Background()
	suite := suiteOf[alg]
	n := newStatusNode(b)
	revocation, _ := n.entry(b, credentials.PurposeRevocation)
	suspension, _ := n.entry(b, credentials.PurposeSuspension)
	k := newDIDKey(b, alg)
	c := credential(k.did)
	c["credentialStatus"] = []any{revocation, suspension}
	opts := di.Options{Cryptosuite: suite, VerificationMethod: k.vm, Created: now.Add(-time.Hour)}
	signed, err := di.AddProof(c, k.signer, opts)
	if err != nil {
		b.Fatal(err)
	}
	doc, err := jsonldCheck(c)
	if err != nil {
		b.Fatal(err)
	}
	proof := signed["proof"].(map[string]any)
	pub := k.signer.Public()
	hashData, err := di.HashData(doc, proof, suite, pub)
	if err != nil {
		b.Fatal(err)
	}
	bareSign, bareVerify := bare(b, k.signer, hashData)
	token, err := credentials.SignJWT(c, credentials.TypVCJWT, k.vm, k.signer)
	if err != nil {
		b.Fatal(err)
	}
	newV := func(checker di.CredentialChecker) *di.Verifier {
		v, err := di.NewVerifier(di.Config{Resolver: n.resolver, Cryptosuites: []string{suite},
			Checker: checker, ProofOnly: checker == nil, Now: func() time.Time { return now }})
		if err != nil {
			b.Fatal(err)
		}
		return v
	}
	proofOnly, full := newV(nil), newV(di.CheckWith(n.verifier.CheckCredential))
	data := marshal(b, signed)
	run := func(name string, f func() error) {
		b.Run(name, func(b *testing.B) {
			if err := f(); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			stop := testenv.CPUMeter(b)
			for b.Loop() {
				if err := f(); err != nil {
					b.Fatal(err)
				}
			}
			stop()
		})
	}
	run("Canonicalize", func() error { _, err := jsonldCanonicalize(doc); return err })
	run("HashData", func() error { _, err := di.HashData(doc, proof, suite, pub); return err })
	run("BareSign", bareSign)
	run("BareVerify", bareVerify)
	run("Issue", func() error { _, err := di.AddProof(c, k.signer, opts); return err })
	run("VerifyProof", func() error { _, err := proofOnly.VerifyCredential(ctx, data); return err })
	run("VerifyCredential", func() error { _, err := full.VerifyCredential(ctx, data); return err })
	run("IssueVCJWT", func() error {
		_, err := credentials.SignJWT(c, credentials.TypVCJWT, k.vm, k.signer)
		return err
	})
	run("VerifyVCJWT", func() error { _, err := n.verifier.VerifyCredential(ctx, token); return err })
}

// bare returns the suite's signature alone over hashData: SM2 (raw r||s,
// default user ID), Ed25519, or ECDSA P-256 over SHA-256(hashData).
func bare(b *testing.B, signer crypto.Signer, hashData []byte) (sign, verify func() error) {
	switch k := signer.(type) {
	case *gm.PrivateKey:
		sig, err := k.SignRaw(rand.Reader, hashData)
		if err != nil {
			b.Fatal(err)
		}
		pub := k.Public().(*gm.PublicKey)
		return func() error { _, err := k.SignRaw(rand.Reader, hashData); return err },
			func() error { return pub.Verify(hashData, sig) }
	}
	switch pub := signer.Public().(type) {
	case ed25519.PublicKey:
		sig, err := signer.Sign(rand.Reader, hashData, crypto.Hash(0))
		if err != nil {
			b.Fatal(err)
		}
		return func() error { _, err := signer.Sign(rand.Reader, hashData, crypto.Hash(0)); return err },
			func() error {
				if !ed25519.Verify(pub, hashData, sig) {
					return errors.New("bare Ed25519 verify failed")
				}
				return nil
			}
	case *ecdsa.PublicKey:
		d := sha256.Sum256(hashData)
		sig, err := signer.Sign(rand.Reader, d[:], crypto.SHA256)
		if err != nil {
			b.Fatal(err)
		}
		return func() error {
				d := sha256.Sum256(hashData)
				_, err := signer.Sign(rand.Reader, d[:], crypto.SHA256)
				return err
			},
			func() error {
				d := sha256.Sum256(hashData)
				if !ecdsa.VerifyASN1(pub, d[:], sig) {
					return errors.New("bare ECDSA verify failed")
				}
				return nil
			}
	}
	b.Fatalf("no bare signature for %T", signer)
	return nil, nil
}

// TestStatusNotHiddenByIRI: a revoked credential whose credentialStatus
// is respelled after signing as its IRI (the same RDF, so the proof
// holds) has no credentialStatus member for the status check to read: it
// verified. It is refused as not in compacted form.
func TestStatusNotHiddenByIRI(t *testing.T) {
	ctx := context.Background()
	n := newStatusNode(t)
	revocation, revoke := n.entry(t, credentials.PurposeRevocation)
	k := newDIDKey(t, gm.AlgEdDSA)
	c := credential(k.did)
	c["credentialStatus"] = revocation
	signed := sign(t, c, k, di.EdDSARDFC2022, di.Options{})
	v, err := di.NewVerifier(di.Config{Resolver: n.resolver, Cryptosuites: di.Cryptosuites(), Checker: di.CheckWith(n.verifier.CheckCredential), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	revoke(1)
	if _, err := v.VerifyCredential(ctx, marshal(t, signed)); !errors.Is(err, credentials.ErrRevoked) {
		t.Fatalf("revoked: %v, want %v", err, credentials.ErrRevoked)
	}
	raw := marshal(t, signed)
	for _, c := range []struct {
		name   string
		inline map[string]any // appended to @context, if any
		key    string         // the name credentialStatus is given
	}{
		{"its IRI", nil, "https://www.w3.org/2018/credentials#credentialStatus"},
		{"a prefix shorter than the VC vocabulary", map[string]any{"c": "https://www.w3.org/2018/"}, "c:credentials#credentialStatus"},
		{"an @prefix term", map[string]any{"c": map[string]any{"@id": "https://www.w3.org/2018/credentials", "@prefix": true}}, "c:#credentialStatus"},
		{"@vocab", map[string]any{"@vocab": "https://www.w3.org/2018/"}, "credentials#credentialStatus"},
	} {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		if c.inline != nil {
			m["@context"] = append(m["@context"].([]any), c.inline)
		}
		m[c.key] = m["credentialStatus"]
		delete(m, "credentialStatus")
		if _, err := v.VerifyCredential(ctx, marshal(t, m)); !errors.Is(err, jsonld.ErrNotCompacted) {
			t.Errorf("revoked, credentialStatus named by %s: %v, want %v", c.name, err, jsonld.ErrNotCompacted)
		}
	}
}

// TestValidUntilNotHiddenByPrefix: an expired credential whose validUntil
// is respelled after signing through an inline prefix shorter than the VC
// vocabulary (the same RDF) verified; it is refused as not compacted.
func TestValidUntilNotHiddenByPrefix(t *testing.T) {
	ctx := context.Background()
	n := newStatusNode(t)
	k := newDIDKey(t, gm.AlgEdDSA)
	c := credential(k.did)
	c["validUntil"] = "2020-06-01T00:00:00Z"
	signed := sign(t, c, k, di.EdDSARDFC2022, di.Options{})
	v, err := di.NewVerifier(di.Config{Resolver: n.resolver, Cryptosuites: di.Cryptosuites(), Checker: di.CheckWith(n.verifier.CheckCredential), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyCredential(ctx, marshal(t, signed)); err == nil {
		t.Fatal("expired: verified")
	}
	signed["@context"] = append(signed["@context"].([]any), map[string]any{"c": "https://www.w3.org/2018/"})
	signed["c:credentials#validUntil"] = map[string]any{"@value": "2020-06-01T00:00:00Z", "@type": "http://www.w3.org/2001/XMLSchema#dateTime"}
	delete(signed, "validUntil")
	if _, err := v.VerifyCredential(ctx, marshal(t, signed)); !errors.Is(err, jsonld.ErrNotCompacted) {
		t.Errorf("expired, validUntil named through a prefix: %v, want %v", err, jsonld.ErrNotCompacted)
	}
}
