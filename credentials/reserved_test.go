package credentials_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	. "github.com/trustid-cn/trustid/credentials"

	"github.com/trustid-cn/trustid/credentials/issuer"
	"github.com/trustid-cn/trustid/gm"
)

// TestReservedExtensionPoints: VC Data Model 2.0 §5.10 reserves
// confidenceMethod and renderMethod, and "In order to avoid collisions
// regarding how the following properties are used, implementations MUST
// specify a type property in the value associated with the reserved
// property." A credential (at its top level or in a subject) or a
// presentation whose reserved property has a value without a type was
// taken, issued and verified; it is now invalid (invalid_credential,
// invalid_presentation). Typed values are taken as before.
func TestReservedExtensionPoints(t *testing.T) {
	const head = `{"@context":["https://www.w3.org/ns/credentials/v2"],"type":["VerifiableCredential"],"issuer":"did:example:1",`
	for _, c := range []struct {
		name, doc string
		want      error
	}{
		{"renderMethod typed", head + `"credentialSubject":{"a":1},"renderMethod":{"id":"https://r.example/t","type":"SvgRenderingTemplate"}}`, nil},
		{"renderMethod typed list", head + `"credentialSubject":{"a":1},"renderMethod":[{"type":"SvgRenderingTemplate"},{"type":["A","B"]}]}`, nil},
		{"confidenceMethod typed in a subject", head + `"credentialSubject":{"a":1,"confidenceMethod":{"type":"ExampleConfidence"}}}`, nil},
		{"renderMethod without type", head + `"credentialSubject":{"a":1},"renderMethod":{"id":"https://r.example/t"}}`, ErrInvalid},
		{"renderMethod a URL", head + `"credentialSubject":{"a":1},"renderMethod":"https://r.example/t"}`, ErrInvalid},
		{"renderMethod empty list", head + `"credentialSubject":{"a":1},"renderMethod":[]}`, ErrInvalid},
		{"renderMethod second item without type", head + `"credentialSubject":{"a":1},"renderMethod":[{"type":"A"},{"x":1}]}`, ErrInvalid},
		{"renderMethod empty type", head + `"credentialSubject":{"a":1},"renderMethod":{"type":""}}`, ErrInvalid},
		// §4.4 Identifiers: "The value of the id property MUST be a URL".
		{"renderMethod id not a URL", head + `"credentialSubject":{"a":1},"renderMethod":{"id":"template 1","type":"SvgRenderingTemplate"}}`, ErrInvalid},
		{"confidenceMethod without type", head + `"credentialSubject":{"a":1},"confidenceMethod":{"id":"https://c.example/1"}}`, ErrInvalid},
		{"confidenceMethod without type in a subject", head + `"credentialSubject":[{"a":1},{"b":2,"confidenceMethod":{"id":"https://c.example/1"}}]}`, ErrInvalid},
	} {
		_, err := ParseCredential([]byte(c.doc))
		if !errors.Is(err, c.want) && (c.want != nil || err != nil) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}

	vp := func(extra string) map[string]any {
		var m map[string]any
		if err := json.Unmarshal([]byte(`{"@context":["https://www.w3.org/ns/credentials/v2"],"type":"VerifiablePresentation","holder":"did:example:h"`+extra+`}`), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	if _, err := NewPresentation(vp(`,"renderMethod":{"type":"SvgRenderingTemplate"}`)); err != nil {
		t.Errorf("presentation with a typed renderMethod: %v", err)
	}
	if _, err := NewPresentation(vp(`,"renderMethod":{"id":"https://r.example/t"}`)); !errors.Is(err, ErrInvalidPresentation) {
		t.Errorf("presentation with a renderMethod without type: %v, want ErrInvalidPresentation", err)
	}

	// The issuer refuses to issue one, and the verifier refuses one
	// another issuer signed.
	n := newNode(t, testBase)
	ctx := context.Background()
	bad := sampleCredential()
	bad["renderMethod"] = map[string]any{"id": "https://r.example/t"}
	if _, err := n.issuer.Issue(ctx, bad, issuer.IssueOptions{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("issuing a credential with a renderMethod without type: %v, want ErrInvalid", err)
	}
	k, err := n.keys.Active(gm.AlgSM2)
	if err != nil {
		t.Fatal(err)
	}
	p := decodePayload(t, mustIssue(t, n, sampleCredential(), issuer.IssueOptions{}).Token)
	p["renderMethod"] = map[string]any{"id": "https://r.example/t"}
	pb, _ := json.Marshal(p)
	tok := resign(t, fmt.Sprintf(`{"alg":"SM2","typ":"vc+jwt","kid":%q}`, n.issuer.DID()+"#"+k.Kid), string(pb), k.Signer)
	if _, err := n.verifier.VerifyCredential(ctx, tok); !errors.Is(err, ErrInvalid) {
		t.Errorf("verifying a vc+jwt with a renderMethod without type: %v, want ErrInvalid", err)
	}
}
