package cose

import (
	"crypto"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/trustid-cn/trustid/credentials"
)

// Enveloped forms (VC-JOSE-COSE with the VC data model's
// EnvelopedVerifiableCredential and EnvelopedVerifiablePresentation): the
// id is a data: URL, "data:application/vc+cose;base64,<COSE_Sign1>"
// (application/vp+cose for a presentation). COSE is binary, so the
// base64 form of RFC 2397 is the only one.

const typeEnvelopedPresentation = "EnvelopedVerifiablePresentation"

// DataURL returns the data: URL of a COSE_Sign1 of mediaType.
func DataURL(data []byte, mediaType string) string {
	return "data:" + mediaType + ";base64," + base64.StdEncoding.EncodeToString(data)
}

// Envelope wraps a vc+cose (or vp+cose) as an enveloped credential (or
// presentation) object.
func Envelope(data []byte, mediaType string) map[string]any {
	typ := credentials.TypeEnvelopedCredential
	if mediaType == MediaTypeVP {
		typ = typeEnvelopedPresentation
	}
	return map[string]any{
		"@context": []any{credentials.ContextV2},
		"id":       DataURL(data, mediaType),
		"type":     typ,
	}
}

// isCOSEDataURL reports whether s is a data: URL of a COSE media type.
func isCOSEDataURL(s string) bool {
	return strings.HasPrefix(s, "data:"+MediaTypeVC+";") || strings.HasPrefix(s, "data:"+MediaTypeVC+",") ||
		strings.HasPrefix(s, "data:"+MediaTypeVP+";") || strings.HasPrefix(s, "data:"+MediaTypeVP+",")
}

// ParseDataURL decodes "data:application/vc+cose;base64,..." (or vp+cose)
// into the media type and the COSE_Sign1 bytes. No other parameter, and
// padded standard base64 only.
func ParseDataURL(s string) (mediaType string, data []byte, err error) {
	rest, ok := strings.CutPrefix(s, "data:")
	if !ok {
		return "", nil, fmt.Errorf("%w: envelope id must be a data: URL", credentials.ErrInvalid)
	}
	head, body, ok := strings.Cut(rest, ",")
	if !ok || body == "" {
		return "", nil, fmt.Errorf("%w: data: URL has no content", credentials.ErrInvalid)
	}
	mediaType, param, _ := strings.Cut(head, ";")
	if mediaType != MediaTypeVC && mediaType != MediaTypeVP {
		return "", nil, fmt.Errorf("%w: not a COSE media type", credentials.ErrUnsupported)
	}
	if param != "base64" {
		return "", nil, fmt.Errorf("%w: a COSE data: URL must be ;base64", credentials.ErrInvalid)
	}
	if len(body) > base64.StdEncoding.EncodedLen(MaxMessage) {
		return "", nil, fmt.Errorf("%w: over %d bytes", ErrMalformed, MaxMessage)
	}
	data, err = base64.StdEncoding.DecodeString(body)
	if err != nil {
		return "", nil, fmt.Errorf("%w: data: URL content is not base64", credentials.ErrInvalid)
	}
	return mediaType, data, nil
}

// Unenvelope returns the media type and COSE_Sign1 of an enveloped
// credential or presentation object; its type must fit the media type.
func Unenvelope(env map[string]any) (mediaType string, data []byte, err error) {
	if !contextOK(env["@context"]) {
		return "", nil, fmt.Errorf("%w: envelope @context must begin with %s", credentials.ErrInvalid, credentials.ContextV2)
	}
	typ := env["type"]
	if l, ok := typ.([]any); ok && len(l) == 1 {
		typ = l[0]
	}
	id, _ := env["id"].(string)
	mediaType, data, err = ParseDataURL(id)
	if err != nil {
		return "", nil, err
	}
	want := credentials.TypeEnvelopedCredential
	if mediaType == MediaTypeVP {
		want = typeEnvelopedPresentation
	}
	if typ != want {
		return "", nil, fmt.Errorf("%w: envelope of %s must have type %s", credentials.ErrInvalid, mediaType, want)
	}
	return mediaType, data, nil
}

// contextOK: the VC 2.0 context, alone as a string or first in a list.
func contextOK(c any) bool {
	if l, ok := c.([]any); ok && len(l) > 0 {
		c = l[0]
	}
	return c == credentials.ContextV2
}

// SignToken secures a credential as vc+cose and returns it as standard
// base64 text: the form an issuer that carries secured credentials as
// strings (a securing "format" whose result is enveloped) keeps, so that
// "data:application/vc+cose;base64," + token is its enveloped id.
func SignToken(doc map[string]any, kid string, key crypto.Signer) (string, error) {
	data, err := SignCredential(doc, kid, key)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(data), nil
}
