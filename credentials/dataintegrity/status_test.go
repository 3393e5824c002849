package dataintegrity_test

import (
	"context"
	"crypto/rand"
	"errors"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/credentials"
	di "github.com/trustid-cn/trustid/credentials/dataintegrity"
	"github.com/trustid-cn/trustid/credentials/statuslist"
	"github.com/trustid-cn/trustid/gm"
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
// credential, hashData (both canonicalizations and SM3), bare SM2 sign and
// verify of hashData, issuing (AddProof), verifying the proof alone, and
// the full verification (data model, validity, trust, two status entries)
// beside VerifyCredential of the same credential as vc+jwt.
func BenchmarkDataIntegrity(b *testing.B) {
	ctx := context.Background()
	n := newStatusNode(b)
	revocation, _ := n.entry(b, credentials.PurposeRevocation)
	suspension, _ := n.entry(b, credentials.PurposeSuspension)
	k := newDIDKey(b, gm.AlgSM2)
	c := credential(k.did)
	c["credentialStatus"] = []any{revocation, suspension}
	opts := di.Options{Cryptosuite: di.SM2RDFC2025, VerificationMethod: k.vm, Created: now.Add(-time.Hour)}
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
	hashData, err := di.HashData(doc, proof, di.SM2RDFC2025, pub)
	if err != nil {
		b.Fatal(err)
	}
	sk, gpub := k.signer.(*gm.PrivateKey), pub.(*gm.PublicKey)
	sig, _ := sk.SignRaw(rand.Reader, hashData)
	token, err := credentials.SignJWT(c, credentials.TypVCJWT, k.vm, k.signer)
	if err != nil {
		b.Fatal(err)
	}
	newV := func(checker di.CredentialChecker) *di.Verifier {
		v, err := di.NewVerifier(di.Config{Resolver: n.resolver, Cryptosuites: []string{di.SM2RDFC2025},
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
			stop := cpuMeter(b)
			for b.Loop() {
				if err := f(); err != nil {
					b.Fatal(err)
				}
			}
			stop()
		})
	}
	run("Canonicalize", func() error { _, err := jsonldCanonicalize(doc); return err })
	run("HashData", func() error { _, err := di.HashData(doc, proof, di.SM2RDFC2025, pub); return err })
	run("BareSign", func() error { _, err := sk.SignRaw(rand.Reader, hashData); return err })
	run("BareVerify", func() error { return gpub.Verify(hashData, sig) })
	run("Issue", func() error { _, err := di.AddProof(c, k.signer, opts); return err })
	run("VerifyProof", func() error { _, err := proofOnly.VerifyCredential(ctx, data); return err })
	run("VerifyCredential", func() error { _, err := full.VerifyCredential(ctx, data); return err })
	run("VerifyVCJWT", func() error { _, err := n.verifier.VerifyCredential(ctx, token); return err })
}
