package dataintegrity_test

import (
	"errors"
	"testing"

	di "github.com/trustid-cn/trustid/credentials/dataintegrity"
	"github.com/trustid-cn/trustid/gm"
)

// TestAddProofRefusesDuplicateIDs: AddProof refuses a document whose
// proofs already share an id (Add Proof Set/Chain: ids must identify one
// proof each), as the verifier would.
func TestAddProofRefusesDuplicateIDs(t *testing.T) {
	issuer := newDIDKey(t, gm.AlgEdDSA)
	notary := newDIDKey(t, gm.AlgSM2)
	const id1 = "urn:uuid:60102d04-b51e-11ed-acfe-2fcd717666a7"
	first := sign(t, credential(issuer.did), issuer, di.EdDSARDFC2022, di.Options{ID: id1})
	p := proofsOf(first)[0]
	twice := clone(t, first)
	twice["proof"] = []any{p, p}
	_, err := di.AddProof(twice, notary.signer, di.Options{Cryptosuite: di.SM2RDFC2025, VerificationMethod: notary.vm, ID: "urn:x:2"})
	if !errors.Is(err, di.ErrPreviousProof) {
		t.Fatalf("adding to two proofs with one id: %v, want ErrPreviousProof", err)
	}
}
