package credentials_test

import (
	"context"
	"testing"

	. "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/issuer"
	"github.com/trustid-cn/trustid/internal/testenv"
)

// BenchmarkVerifyCrossRegion is issue 14's figure for credentials: one
// credential the region's node issued (SM2, two status entries), verified
// by that node's own verifier (its key from the registry record of its
// region, its accreditation its own) and by another region's verifier
// that has only the trust registry (the issuing region's key and
// accreditation from the ledger view; no network), side by side in one
// run. Status is the same in-process checker for both (another region's
// lists are fetched once and kept while their anchored head holds), so
// the difference is key resolution and trust from the registry.
func BenchmarkVerifyCrossRegion(b *testing.B) {
	n := newRegistryNode(b)
	ctx := context.Background()
	cred := residence(holderDID)
	cred["type"] = []any{TypeCredential, "IdentityCredential"}
	is, err := n.issuer.Issue(ctx, cred, issuer.IssueOptions{Client: "enroller"})
	if err != nil {
		b.Fatal(err)
	}
	same, err := NewVerifier(VerifierConfig{Algorithms: allAlgs, Now: n.clock.Now, Status: n.checker,
		Resolver: &RegistryResolver{Registry: n.ch.view, Next: &Resolver{Local: n.issuer.Local(), Now: n.clock.Now}},
		Trust:    &RegistryTrust{Local: n.issuer.Local(), Registry: n.ch.view}})
	if err != nil {
		b.Fatal(err)
	}
	other, err := NewVerifier(VerifierConfig{Algorithms: allAlgs, Now: n.clock.Now, Status: n.checker,
		Resolver: &RegistryResolver{Registry: n.ch.view}, Trust: &RegistryTrust{Registry: n.ch.view}})
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		v    *Verifier
	}{{"same-region", same}, {"cross-region", other}} {
		b.Run(c.name, func(b *testing.B) {
			if _, err := c.v.VerifyCredential(ctx, is.Token); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			stop := testenv.CPUMeter(b)
			for b.Loop() {
				if _, err := c.v.VerifyCredential(ctx, is.Token); err != nil {
					b.Fatal(err)
				}
			}
			stop()
		})
	}
}
