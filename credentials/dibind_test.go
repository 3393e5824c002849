package credentials_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	. "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/dataintegrity"
	"github.com/trustid-cn/trustid/credentials/issuer"
	"github.com/trustid-cn/trustid/credentials/jsonld"
	"github.com/trustid-cn/trustid/gm"
)

// TestDIRespelledEnrollmentOnly: what only enrollment issues (a
// urn:trustid:subject: subject id, an enrollment type), signed with Data
// Integrity by an accredited client's real key and respelled after
// signing so that the JSON the registry's check reads lacks it ("@id"
// for id, a subject under the IRI of credentialSubject, the type stated
// by an @included node of the credential's id),
// while the RDF
// the proof covers says it: the check (EnrollmentOnly, through
// SubjectIDs and the types) saw nothing and the credential verified. It
// is refused as not in compacted form (jsonld.ErrNotCompacted); spelled
// as compaction writes it, it is refused by the registry's check as
// before.
func TestDIRespelledEnrollmentOnly(t *testing.T) {
	n := newRegistryNode(t)
	ctx := context.Background()
	if _, err := n.issuer.Accredit(ctx, issuer.AccreditRequest{Client: "rp-1", Name: "RP one", Types: []string{"ResidenceCredential"}}); err != nil {
		t.Fatal(err)
	}
	const client = "did:web:trustid.example%3A8443:issuers:rp-1"
	key, err := n.keys.OwnerActive(client, gm.AlgSM2)
	if err != nil {
		t.Fatal(err)
	}
	resolver := &RegistryResolver{Registry: n.ch.view, Next: &Resolver{Local: n.issuer.Local(), Now: n.clock.Now}}
	v, err := dataintegrity.NewVerifier(dataintegrity.Config{Resolver: resolver, Cryptosuites: dataintegrity.Cryptosuites(),
		Checker: dataintegrity.CheckWith(n.verifier.CheckCredential)}) // SignCredential stamps created with the real clock
	if err != nil {
		t.Fatal(err)
	}
	sign := func(m map[string]any) map[string]any {
		m["issuer"] = client
		s, err := dataintegrity.SignCredential(dataintegrity.SM2RDFC2025, m, client+"#"+key.Kid, key.Signer)
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]any
		if err := json.Unmarshal([]byte(s), &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	verify := func(m map[string]any) error {
		b, _ := json.Marshal(m)
		_, err := v.VerifyCredential(ctx, b)
		return err
	}
	if err := verify(sign(residence(holderDID))); err != nil {
		t.Fatalf("an accredited credential: %v", err)
	}
	subject := sign(residence("urn:trustid:subject:015715ae7e41"))
	if err := verify(subject); !errors.Is(err, ErrReservedSubject) {
		t.Errorf("an enrollment subject id: %v, want %v", err, ErrReservedSubject)
	}
	s := subject["credentialSubject"].(map[string]any)
	s["@id"] = s["id"]
	delete(s, "id")
	if err := verify(subject); !errors.Is(err, jsonld.ErrNotCompacted) {
		t.Errorf("an enrollment subject id respelled @id: %v, want %v", err, jsonld.ErrNotCompacted)
	}
	// The enrollment subject beside another, named by the property's
	// IRI rather than the term credentialSubject.
	two := residence(holderDID)
	two["credentialSubject"] = []any{map[string]any{"region": "310000"}, map[string]any{"id": "urn:trustid:subject:015715ae7e41"}}
	hidden := sign(two)
	hidden["credentialSubject"] = map[string]any{"region": "310000"}
	hidden["https://www.w3.org/2018/credentials#credentialSubject"] = map[string]any{"id": "urn:trustid:subject:015715ae7e41"}
	if err := verify(hidden); !errors.Is(err, jsonld.ErrNotCompacted) {
		t.Errorf("an enrollment subject under the IRI of credentialSubject: %v, want %v", err, jsonld.ErrNotCompacted)
	}
	identity := residence(holderDID)
	identity["id"] = "urn:uuid:0b7e4c2a-enrollment-type"
	identity["type"] = []any{TypeCredential, "ResidenceCredential", TypeIdentityCredential}
	typed := sign(identity)
	if err := verify(typed); !errors.Is(err, ErrReservedType) {
		t.Errorf("an enrollment type: %v, want %v", err, ErrReservedType)
	}
	// The type said of the credential's node from an included node of
	// the same id: the same statements.
	typed["type"] = []any{TypeCredential, "ResidenceCredential"}
	typed["@included"] = []any{map[string]any{"id": identity["id"], "type": TypeIdentityCredential}}
	if err := verify(typed); !errors.Is(err, jsonld.ErrNotCompacted) {
		t.Errorf("an enrollment type moved to an @included node: %v, want %v", err, jsonld.ErrNotCompacted)
	}
}
