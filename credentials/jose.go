package credentials

import (
	"crypto"
	"errors"
	"fmt"
	"strings"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/credentials/internal/jose"
)

// JOSE media types (typ) and content types (cty) of W3C VC-JOSE-COSE.
const (
	TypVCJWT = "vc+jwt"
	TypVPJWT = "vp+jwt"
	CtyVC    = "vc"
	CtyVP    = "vp"
)

// SignJWT secures a credential or presentation document as a compact JWS
// whose payload is the document itself: typ vc+jwt (or vp+jwt), cty vc (or
// vp), and kid (a DID URL of the signing key).
func SignJWT(doc map[string]any, typ, kid string, signer crypto.Signer) (string, error) {
	cty := CtyVC
	if typ == TypVPJWT {
		cty = CtyVP
	} else if typ != TypVCJWT {
		return "", fmt.Errorf("%w: typ %q", ErrUnsupported, typ)
	}
	return jose.Sign(doc, map[string]any{"typ": typ, "cty": cty, "kid": kid}, signer)
}

// Envelope wraps a secured token as an EnvelopedVerifiableCredential (or
// EnvelopedVerifiablePresentation) with a data: URL id.
func Envelope(token, mediaType string) map[string]any {
	typ := TypeEnvelopedCredential
	if mediaType == MediaTypeVPJWT {
		typ = "EnvelopedVerifiablePresentation"
	}
	return map[string]any{
		"@context": []any{ContextV2},
		"id":       "data:" + mediaType + "," + token,
		"type":     typ,
	}
}

// Unenvelope returns the media type and token of an enveloped credential
// or presentation object.
func Unenvelope(env map[string]any) (mediaType, token string, err error) {
	if err := checkContext(env["@context"]); err != nil {
		return "", "", fmt.Errorf("%w: envelope: %w", ErrInvalid, err)
	}
	types, err := typeList(env["type"])
	if err != nil || len(types) != 1 || (types[0] != TypeEnvelopedCredential && types[0] != "EnvelopedVerifiablePresentation") {
		return "", "", fmt.Errorf("%w: envelope type must be EnvelopedVerifiableCredential or EnvelopedVerifiablePresentation", ErrInvalid)
	}
	id, _ := env["id"].(string)
	return ParseDataURL(id)
}

// ParseDataURL splits "data:<media type>,<token>" (no base64 flag, no
// parameters: tokens are already URL-safe).
func ParseDataURL(s string) (mediaType, token string, err error) {
	rest, ok := strings.CutPrefix(s, "data:")
	if !ok {
		return "", "", fmt.Errorf("%w: envelope id must be a data: URL", ErrInvalid)
	}
	mediaType, token, ok = strings.Cut(rest, ",")
	if !ok || token == "" {
		return "", "", fmt.Errorf("%w: data: URL has no content", ErrInvalid)
	}
	switch mediaType {
	case MediaTypeVCJWT, MediaTypeVPJWT, MediaTypeSDJWT:
	default:
		return "", "", fmt.Errorf("%w: envelope media type %q", ErrUnsupported, truncate(mediaType))
	}
	return mediaType, token, nil
}

func mapJoseErr(err error) error {
	if errors.Is(err, jose.ErrAlgorithm) {
		return fmt.Errorf("%w: %w", ErrAlgorithm, err)
	}
	return fmt.Errorf("%w: %w", ErrMalformed, err)
}

// mapJWTErr turns golang-jwt errors into this package's sentinels; errors
// returned by key lookup keep their own.
func mapJWTErr(err error) error {
	switch {
	case errors.Is(err, ErrResolve), errors.Is(err, ErrUnknownKey), errors.Is(err, ErrIssuerMismatch),
		errors.Is(err, ErrAlgorithm), errors.Is(err, ErrUnsupported), errors.Is(err, ErrType):
		return err
	case errors.Is(err, jwt.ErrTokenExpired):
		return fmt.Errorf("%w: %w", ErrExpired, err)
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return fmt.Errorf("%w: %w", ErrNotYetValid, err)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return fmt.Errorf("%w: %w", ErrSignature, err)
	case errors.Is(err, jwt.ErrTokenInvalidIssuer), errors.Is(err, jwt.ErrTokenInvalidSubject):
		return fmt.Errorf("%w: %w", ErrIssuerMismatch, err)
	}
	return fmt.Errorf("%w: %w", ErrMalformed, err)
}
