package dataintegrity

import (
	"bytes"
	"context"
	"crypto"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/credentials/jsonld"
	"github.com/trustid-cn/trustid/credentials/multikey"
	"github.com/trustid-cn/trustid/gm"
)

const sm2ChainVectorFile = "testdata/sm2-rdfc-2025/chain.json"

// sm2ChainVector is the proof-chain vector of docs/sm2-cryptosuite.md: the
// credential of vectors.json signed by its key (proof id first), then
// counter-signed by a notary key whose proof names the first in
// previousProof. The canonical document is the one the notary's proof
// secures: the credential with its proof set to the first proof.
type sm2ChainVector struct {
	NotaryPrivateKeyHex string          `json:"notaryPrivateKeyHex"`
	NotaryMultibase     string          `json:"notaryPublicKeyMultibase"`
	CanonicalDocument   string          `json:"canonicalDocument"`
	DocumentHash        string          `json:"documentHashSM3"`
	CanonicalProof      string          `json:"canonicalProofConfig"`
	ProofHash           string          `json:"proofConfigHashSM3"`
	HashData            string          `json:"hashData"`
	Signed              json.RawMessage `json:"signed"`
}

// multikeyResolver resolves a did:key verification method from its
// fragment (the vectors' keys only).
type multikeyResolver struct{}

func (multikeyResolver) ResolveKey(_ context.Context, _, vm string) (crypto.PublicKey, error) {
	_, frag, _ := strings.Cut(vm, "#")
	return multikey.Decode(frag)
}

// TestSM2ChainVector recomputes the recorded chain: the canonical
// document with the first proof as a proof graph, the notary proof's
// canonical configuration (with id and previousProof), their SM3 hashes
// and hashData; both recorded proofValues verify. -update re-signs.
func TestSM2ChainVector(t *testing.T) {
	var base sm2Vectors
	b, err := os.ReadFile(sm2VectorFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &base); err != nil {
		t.Fatal(err)
	}
	var v sm2ChainVector
	if b, err := os.ReadFile(sm2ChainVectorFile); err == nil {
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
	} else if !*update {
		t.Fatal(err)
	}
	const id1, id2 = "urn:uuid:0f3c6a2e-9d1b-4c57-8e2a-3b6f4d5c7a01", "urn:uuid:0f3c6a2e-9d1b-4c57-8e2a-3b6f4d5c7a02"
	if *update {
		v.NotaryPrivateKeyHex = "1f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c5b6a7988"
	}
	keyOf := func(h string) (*gm.PrivateKey, string) {
		d, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		k, err := gm.NewPrivateKey(d)
		if err != nil {
			t.Fatal(err)
		}
		mk, err := multikey.Encode(k.Public())
		if err != nil {
			t.Fatal(err)
		}
		return k, "did:key:" + mk + "#" + mk
	}
	issuer, issuerVM := keyOf(base.PrivateKeyHex)
	notary, notaryVM := keyOf(v.NotaryPrivateKeyHex)
	if *update {
		_, v.NotaryMultibase, _ = strings.Cut(notaryVM, "#")
		unsigned, err := jsonld.Parse(base.Unsigned, jsonld.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		first, err := AddProof(unsigned, issuer, Options{Cryptosuite: SM2RDFC2025, VerificationMethod: issuerVM, ID: id1,
			Created: time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)})
		if err != nil {
			t.Fatal(err)
		}
		chain, err := AddProof(first, notary, Options{Cryptosuite: SM2RDFC2025, VerificationMethod: notaryVM, ID: id2,
			PreviousProof: []string{id1}, Created: time.Date(2025, 6, 2, 8, 0, 0, 0, time.UTC)})
		if err != nil {
			t.Fatal(err)
		}
		if v.Signed, err = json.MarshalIndent(chain, "  ", "  "); err != nil {
			t.Fatal(err)
		}
	}
	signed, err := jsonld.Parse(v.Signed, jsonld.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	proofs := signed["proof"].([]any)
	input := map[string]any{}
	for k, x := range signed {
		input[k] = x
	}
	input["proof"] = []any{proofs[0]}
	proofCanon, docCanon, err := canonicalForms(input, proofs[1].(map[string]any))
	if err != nil {
		t.Fatal(err)
	}
	hashData, err := HashData(input, proofs[1].(map[string]any), SM2RDFC2025, notary.Public())
	if err != nil {
		t.Fatal(err)
	}
	got := sm2ChainVector{
		CanonicalDocument: docCanon, DocumentHash: hex.EncodeToString(sm3Sum([]byte(docCanon))),
		CanonicalProof: proofCanon, ProofHash: hex.EncodeToString(sm3Sum([]byte(proofCanon))),
		HashData: hex.EncodeToString(hashData),
	}
	if *update {
		v.CanonicalDocument, v.DocumentHash = got.CanonicalDocument, got.DocumentHash
		v.CanonicalProof, v.ProofHash, v.HashData = got.CanonicalProof, got.ProofHash, got.HashData
		var out bytes.Buffer
		enc := json.NewEncoder(&out)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(sm2ChainVectorFile, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range [][3]string{
		{"canonical document", got.CanonicalDocument, v.CanonicalDocument},
		{"document hash", got.DocumentHash, v.DocumentHash},
		{"canonical proof configuration", got.CanonicalProof, v.CanonicalProof},
		{"proof configuration hash", got.ProofHash, v.ProofHash},
		{"hashData", got.HashData, v.HashData},
	} {
		if c[1] != c[2] {
			t.Errorf("%s:\n got %q\nwant %q", c[0], c[1], c[2])
		}
	}
	// The first proof is a named graph of the secured document.
	if !strings.Contains(docCanon, "<https://w3id.org/security#proof> _:") || !strings.Contains(docCanon, "<"+id1+"> <https://w3id.org/security#proofValue>") {
		t.Errorf("the canonical document does not hold the first proof's graph:\n%s", docCanon)
	}
	if !strings.Contains(proofCanon, "<"+id2+"> <https://w3id.org/security#previousProof> <"+id1+">") {
		t.Errorf("the canonical proof configuration does not name the previous proof:\n%s", proofCanon)
	}
	ver, err := NewVerifier(Config{Resolver: multikeyResolver{}, Cryptosuites: []string{SM2RDFC2025}, ProofOnly: true,
		Now: func() time.Time { return time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ver.VerifyCredential(context.Background(), v.Signed); err != nil {
		t.Errorf("recorded chain: %v", err)
	}
}
