package wallet

import (
	"errors"
	"testing"
)

// TestRequestObjectTyp: the request object's typ must be
// oauth-authz-req+jwt (RFC 9101 §10.8) and the attestation's
// verifier-attestation+jwt (OpenID4VP 1.0 §5.9.3); either JWT with
// another typ, or none, is refused.
func TestRequestObjectTyp(t *testing.T) {
	const responseURI = "https://rp.example/response"
	for _, which := range []string{"ro", "att"} {
		for _, typ := range []any{"JWT", nil} {
			_, err := resolveAttested(t, nil, responseURI, func(w string, h map[string]any) {
				if w == which {
					if typ == nil {
						delete(h, "typ")
					} else {
						h["typ"] = typ
					}
				}
			})
			if !errors.Is(err, ErrPresentationRequest) {
				t.Errorf("%s typ %v: %v, want ErrPresentationRequest", which, typ, err)
			}
		}
	}
}
