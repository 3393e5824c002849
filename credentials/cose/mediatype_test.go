package cose

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
)

// TestMediaTypeCase: the typ (RFC 9596 §2) and content type (RFC 9052
// §3.1) header parameters hold media types, whose type and subtype names
// "are case-insensitive" (RFC 6838 §4.2): Application/VC+COSE is
// application/vc+cose, as the JOSE paths read VC+JWT. Another issuer's
// vc+cose writing either in another case was refused (ErrType); another
// media type still is.
func TestMediaTypeCase(t *testing.T) {
	f := newFixture(t)
	es := f.parties["ES256"]
	payload, _ := json.Marshal(credentialDoc(es.did))
	for _, c := range []struct {
		typ, cty string
		want     error
	}{
		{"Application/VC+COSE", "application/vc", nil},
		{"application/vc+cose", "APPLICATION/VC", nil},
		{"APPLICATION/VC+COSE", "Application/Vc", nil},
		{"application/vp+cose", "application/vc", ErrType},
		{"application/vc+cose", "application/vp", ErrType},
		// RFC 9596 has no JOSE-like short form: a typ without a '/' is
		// malformed (go-cose refuses it while decoding).
		{"vc+cose", "application/vc", ErrMalformed},
	} {
		h := vcHeaders(AlgES256, es.kid)
		h[16], h[3] = c.typ, c.cty
		_, err := f.v.VerifyCredential(context.Background(), handSign1(t, h, nil, payload, es.key, AlgES256))
		if !errors.Is(err, c.want) && (c.want != nil || err != nil) {
			t.Errorf("typ %q, content type %q: %v, want %v", c.typ, c.cty, err, c.want)
		}
	}
}
