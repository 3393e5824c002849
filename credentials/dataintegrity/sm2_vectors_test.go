package dataintegrity

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/credentials/jsonld"
	"github.com/trustid-cn/trustid/credentials/multikey"
	"github.com/trustid-cn/trustid/gm"
)

var update = flag.Bool("update", false, "regenerate testdata/sm2-rdfc-2025/vectors.json")

const sm2VectorFile = "testdata/sm2-rdfc-2025/vectors.json"

// sm2Vectors are the test vectors of docs/sm2-cryptosuite.md.
type sm2Vectors struct {
	PrivateKeyHex      string          `json:"privateKeyHex"`
	PublicKeyMultibase string          `json:"publicKeyMultibase"`
	Unsigned           json.RawMessage `json:"unsigned"`
	ProofOptions       json.RawMessage `json:"proofOptions"`
	CanonicalDocument  string          `json:"canonicalDocument"`
	DocumentHash       string          `json:"documentHashSM3"`
	CanonicalProof     string          `json:"canonicalProofConfig"`
	ProofHash          string          `json:"proofConfigHashSM3"`
	HashData           string          `json:"hashData"`
	Signed             json.RawMessage `json:"signed"`
}

// TestSM2Vectors recomputes the sm2-rdfc-2025 vectors: key, canonical
// forms, SM3 hashes and hashData must be equal to the recorded ones, and
// the recorded proofValue (SM2 signatures are randomized) must verify.
// With -update it signs anew and rewrites the file.
func TestSM2Vectors(t *testing.T) {
	var v sm2Vectors
	b, err := os.ReadFile(sm2VectorFile)
	if err != nil && !*update {
		t.Fatal(err)
	}
	if err == nil {
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
	}
	if *update {
		v.PrivateKeyHex = "3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8"
		v.Unsigned = json.RawMessage(`{
    "@context": [
      "https://www.w3.org/ns/credentials/v2",
      "https://www.w3.org/ns/credentials/examples/v2"
    ],
    "id": "urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33",
    "type": ["VerifiableCredential", "AlumniCredential"],
    "name": "Alumni Credential",
    "description": "A minimum viable example of an Alumni Credential.",
    "issuer": "did:key:PLACEHOLDER",
    "validFrom": "2023-01-01T00:00:00Z",
    "credentialSubject": {
      "id": "did:example:abcdefgh",
      "alumniOf": "The School of Examples"
    }
  }`)
	}
	d, err := hex.DecodeString(v.PrivateKeyHex)
	if err != nil {
		t.Fatal(err)
	}
	key, err := gm.NewPrivateKey(d)
	if err != nil {
		t.Fatal(err)
	}
	mk, err := multikey.Encode(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	did := "did:key:" + mk
	vm := did + "#" + mk
	if *update {
		v.PublicKeyMultibase = mk
		v.Unsigned = json.RawMessage(replaceOnce(string(v.Unsigned), "did:key:PLACEHOLDER", did))
		v.ProofOptions = json.RawMessage(`{
    "type": "DataIntegrityProof",
    "cryptosuite": "sm2-rdfc-2025",
    "created": "2025-06-01T08:00:00Z",
    "verificationMethod": "` + vm + `",
    "proofPurpose": "assertionMethod"
  }`)
	}
	if mk != v.PublicKeyMultibase {
		t.Errorf("publicKeyMultibase %s, want %s", mk, v.PublicKeyMultibase)
	}
	unsigned, err := jsonld.Parse(v.Unsigned, jsonld.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	opts, err := jsonld.Parse(v.ProofOptions, jsonld.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	proofCanon, docCanon, err := canonicalForms(unsigned, opts)
	if err != nil {
		t.Fatal(err)
	}
	hashData, err := HashData(unsigned, opts, SM2RDFC2025, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	got := sm2Vectors{
		CanonicalDocument: docCanon, DocumentHash: hex.EncodeToString(sm3Sum([]byte(docCanon))),
		CanonicalProof: proofCanon, ProofHash: hex.EncodeToString(sm3Sum([]byte(proofCanon))),
		HashData: hex.EncodeToString(hashData),
	}
	if *update {
		created, _ := time.Parse(time.RFC3339, opts["created"].(string))
		signed, err := AddProof(unsigned, key, Options{Cryptosuite: SM2RDFC2025, VerificationMethod: vm, Created: created, Rand: rand.Reader})
		if err != nil {
			t.Fatal(err)
		}
		v.CanonicalDocument, v.DocumentHash = got.CanonicalDocument, got.DocumentHash
		v.CanonicalProof, v.ProofHash, v.HashData = got.CanonicalProof, got.ProofHash, got.HashData
		if v.Signed, err = json.MarshalIndent(signed, "  ", "  "); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		enc := json.NewEncoder(&out)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll("testdata/sm2-rdfc-2025", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(sm2VectorFile, out.Bytes(), 0o644); err != nil {
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
	if got.HashData != got.ProofHash+got.DocumentHash {
		t.Error("hashData is not proof hash ‖ document hash")
	}
	signed, err := jsonld.Parse(v.Signed, jsonld.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyProofWithKey(signed, key.Public()); err != nil {
		t.Fatalf("recorded proofValue: %v", err)
	}
	p, _ := parseProof(signed)
	if len(p.sig) != gm.SignatureSize {
		t.Errorf("signature is %d bytes, want r‖s of %d", len(p.sig), gm.SignatureSize)
	}
	// The raw SM2 signature verifies over hashData with the default user ID.
	if err := key.PublicKey().Verify(hashData, p.sig); err != nil {
		t.Errorf("bare SM2 verification over hashData: %v", err)
	}
}

func replaceOnce(s, old, new string) string {
	for i := 0; i+len(old) <= len(s); i++ {
		if s[i:i+len(old)] == old {
			return s[:i] + new + s[i+len(old):]
		}
	}
	return s
}

// TestSM2VectorsInSpec: the values docs/sm2-cryptosuite.md §4 prints are
// the recorded vector's (key, public key, both SM3 hashes, the canonical
// proof configuration), and the proofValue it prints is a valid SM2
// signature of that key over the vector's hashData (SM2 is randomized:
// -update re-signs the file, not the document).
func TestSM2VectorsInSpec(t *testing.T) {
	spec, err := os.ReadFile("../../docs/sm2-cryptosuite.md")
	if err != nil {
		t.Fatal(err)
	}
	var v sm2Vectors
	b, err := os.ReadFile(sm2VectorFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	section := string(spec)
	if i := strings.Index(section, "## 4. Test vectors"); i >= 0 {
		section = section[i:]
	} else {
		t.Fatal("no section 4 in the spec")
	}
	for name, want := range map[string]string{
		"private key": "`" + v.PrivateKeyHex + "`", "publicKeyMultibase": "`" + v.PublicKeyMultibase + "`",
		"SM3 of the proof configuration": "`" + v.ProofHash + "`", "SM3 of the document": "`" + v.DocumentHash + "`",
		"canonical proof configuration": "```\n" + v.CanonicalProof + "```",
	} {
		if !strings.Contains(section, want) {
			t.Errorf("the spec does not print the vector's %s (%.60s)", name, want)
		}
	}
	m := regexp.MustCompile("\\| proofValue \\(one valid signature\\) \\| `(z[1-9A-HJ-NP-Za-km-z]+)` \\|").FindStringSubmatch(section)
	if m == nil {
		t.Fatal("the spec prints no proofValue")
	}
	sig, err := multikey.Base58Decode(m[1][1:])
	if err != nil {
		t.Fatal(err)
	}
	pub, err := multikey.Decode(v.PublicKeyMultibase)
	if err != nil {
		t.Fatal(err)
	}
	hashData, err := hex.DecodeString(v.HashData)
	if err != nil {
		t.Fatal(err)
	}
	k, err := keyFor(SM2RDFC2025, pub)
	if err != nil {
		t.Fatal(err)
	}
	if !k.verify(hashData, sig) {
		t.Error("the spec's proofValue does not verify over the vector's hashData")
	}
}
