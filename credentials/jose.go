package credentials

import (
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/credentials/internal/jose"
)

// JOSE media types (typ) and content types (cty) of W3C VC-JOSE-COSE.
const (
	TypVCJWT = "vc+jwt"
	TypVPJWT = "vp+jwt"
	// TypSDJWTVC is the typ of an SD-JWT VC issuer JWT.
	TypSDJWTVC = "dc+sd-jwt"
	// TypVCSDJWT is the typ of a W3C credential secured with SD-JWT, and
	// that of an SD-JWT VC until November 2024, which verifiers still
	// take for one without an @context (VerifySDJWT).
	TypVCSDJWT = "vc+sd-jwt"
	CtyVC      = "vc"
	CtyVP      = "vp"
)

// SignJWT secures a credential or presentation document as a compact JWS
// whose payload is the document itself: typ vc+jwt (or vp+jwt), cty vc (or
// vp), and kid (a DID URL of the signing key; relative to the issuer only
// beside an iss, CheckKid). A document with a vc or vp member is refused
// (ErrInvalid, ErrInvalidPresentation for vp+jwt).
func SignJWT(doc map[string]any, typ, kid string, signer crypto.Signer) (string, error) {
	cty, invalid := CtyVC, ErrInvalid
	if typ == TypVPJWT {
		cty, invalid = CtyVP, ErrInvalidPresentation
	} else if typ != TypVCJWT {
		return "", fmt.Errorf("%w: typ %q", ErrUnsupported, typ)
	}
	if err := checkJOSEClaimNames(doc, invalid); err != nil {
		return "", err
	}
	if iss, err := idOf(doc["issuer"], true); err == nil && typ == TypVCJWT {
		if err := CheckKid(iss, kid, doc["iss"]); err != nil {
			return "", err
		}
	}
	return jose.Sign(doc, map[string]any{"typ": typ, "cty": cty, "kid": kid}, signer)
}

// joseMediaTypeIs reports whether v, a JOSE typ or cty header value,
// names the media type application/<sub>: RFC 7515 §4.1.9-4.1.10 read a
// value without '/' as if "application/" were prepended (so vc+jwt and
// application/vc+jwt are one media type) and, per RFC 2045, compare media
// types case-insensitively.
func joseMediaTypeIs(v any, sub string) bool {
	s, ok := v.(string)
	if !ok {
		return false
	}
	if len(s) > len("application/") && strings.EqualFold(s[:len("application/")], "application/") {
		s = s[len("application/"):]
	}
	return strings.EqualFold(s, sub)
}

// checkJOSEClaimNames refuses a vc+jwt or vp+jwt payload with a vc or vp
// member: VC-JOSE-COSE §3.1.3, "The JWT Claim Names vc and vp MUST NOT be
// present" (the payload is the credential or presentation itself, not a
// VC 1.1 JWT wrapping one).
func checkJOSEClaimNames(doc map[string]any, invalid error) error {
	for _, name := range []string{"vc", "vp"} {
		if _, ok := doc[name]; ok {
			return &FieldError{Err: invalid, Field: name, Rule: "must not be present in a vc+jwt or vp+jwt (VC-JOSE-COSE §3.1.3): the JWT claims are the document itself"}
		}
	}
	return nil
}

// CheckKid checks the kid of a credential or presentation secured with
// JOSE, SD-JWT or COSE (vc+jwt, vc+sd-jwt, vc+cose, vp+jwt, vp+sd-jwt,
// vp+cose) signed for signer, its issuer or holder, given its iss (nil or
// "" when absent), before any key is resolved. VC-JOSE-COSE §4.3 (Using
// Controlled Identifier Documents): "When iss is absent, and the issuer
// is identified as a [URL], the kid MUST be an absolute [URL] to a
// verification method listed in a controlled identifier documents or a
// DID Document", and "When the holder is identified as a [URL], and iss
// is absent, the kid MUST be an absolute [URL] to a verification method
// listed in a controlled identifier document". Every issuer and holder
// is a URL (VC 2.0 §4.7, §4.13), so a kid relative to signer ("#key-1",
// or "key-1" of a signer that is not https, which the resolvers read as
// a method of signer's document) is taken
// only beside an iss that is signer (§4.1.2: kid then "is used to
// distinguish the specific key used"); else ErrUnknownKey. An absolute
// kid is the resolver's to check, as is a kid that names no method but a
// key of SD-JWT VC issuer metadata (§4.2.1), which no controlled
// identifier document lists.
func CheckKid(signer, kid string, iss any) error {
	// A bare kid ("key-1") of an https signer may name a key of its
	// issuer metadata; of any other signer, the resolvers read it, as
	// "#key-1", against the signer's document.
	relative := strings.HasPrefix(kid, "#") || !hasScheme(kid) && !strings.HasPrefix(signer, "https://")
	if s, _ := iss.(string); relative && s != signer {
		return fmt.Errorf("%w: a kid relative to the issuer or holder needs an iss naming it; without one, VC-JOSE-COSE §4.3 requires kid to be an absolute URL of a verification method", ErrUnknownKey)
	}
	return nil
}

// hasScheme reports whether s begins with a URI scheme and its colon
// (RFC 3986 §3.1: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":"): an
// absolute URI, where "#key-1" and "key-1" are references relative to a
// base (§4.2), which the resolvers read against the signer.
func hasScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ':':
			return i > 0
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return false
}

// CheckJOSEClaims checks a credential to be secured as a vc+jwt, whose
// JWT claims it is, for what JOSE requires of them (ErrInvalid, naming the
// claim): no vc or vp (VC-JOSE-COSE §3.1.3); an iss, if present, that is
// the issuer, issuer.id when an object (§4.1.2: it "MUST match"); exp, nbf
// and iat NumericDates (RFC 7519 §4.1.4-4.1.6) that a verifier can read.
// Issuers call it before anything is spent.
func CheckJOSEClaims(doc map[string]any) error {
	if err := checkJOSEClaimNames(doc, ErrInvalid); err != nil {
		return err
	}
	if iss, ok := doc["iss"]; ok {
		if id, err := idOf(doc["issuer"], true); err != nil || iss != id {
			return &FieldError{Err: ErrInvalid, Field: "iss", Rule: "must be the issuer (VC-JOSE-COSE §4.1.2)"}
		}
	}
	for _, name := range []string{"exp", "nbf", "iat"} {
		v, ok := doc[name]
		if !ok {
			continue
		}
		switch n := v.(type) {
		case float64, int, int64:
			v = json.Number(fmt.Sprint(n)) // a document built in Go
		}
		if _, _, err := jose.NumericDate(map[string]any{name: v}, name); err != nil {
			return &FieldError{Err: ErrInvalid, Field: name, Rule: "must be a NumericDate: seconds since 1970 (RFC 7519)"}
		}
	}
	return nil
}

// Envelope wraps a secured token as an EnvelopedVerifiableCredential (or
// EnvelopedVerifiablePresentation) with a data: URL id.
func Envelope(token, mediaType string) map[string]any {
	typ := TypeEnvelopedCredential
	if strings.HasPrefix(mediaType, "application/vp+") {
		typ = "EnvelopedVerifiablePresentation"
	}
	sep := ","
	if strings.HasSuffix(mediaType, "+cose") {
		sep = ";base64," // COSE is binary: token is its standard base64
	}
	return map[string]any{
		"@context": []any{ContextV2},
		"id":       "data:" + mediaType + sep + token,
		"type":     typ,
	}
}

// Unenvelope returns the media type and token of an enveloped credential
// or presentation object (JOSE media types only, as ParseDataURL).
func Unenvelope(env map[string]any) (mediaType, token string, err error) {
	return unenvelope(env, joseMediaType)
}

func unenvelope(env map[string]any, known func(string) bool) (mediaType, token string, err error) {
	if err := checkContext(env["@context"]); err != nil {
		return "", "", fmt.Errorf("%w: envelope: %v", ErrInvalid, err)
	}
	typ, ok := env["type"].(string) // most envelopes: no list to make
	if !ok {
		if types, err := typeList(env["type"]); err == nil && len(types) == 1 {
			typ = types[0]
		}
	}
	if typ != TypeEnvelopedCredential && typ != "EnvelopedVerifiablePresentation" {
		return "", "", fmt.Errorf("%w: envelope type must be EnvelopedVerifiableCredential or EnvelopedVerifiablePresentation", ErrInvalid)
	}
	id, _ := env["id"].(string)
	mediaType, token, err = parseDataURL(id, known)
	if err != nil {
		return "", "", err
	}
	if isVP := strings.HasPrefix(mediaType, "application/vp+"); isVP != (typ == "EnvelopedVerifiablePresentation") {
		return "", "", fmt.Errorf("%w: envelope type %s does not fit media type %s", ErrInvalid, typ, mediaType)
	}
	return mediaType, token, nil
}

// joseMediaType reports whether mt is one of the JOSE media types of
// VC-JOSE-COSE (application/vc+jwt, vp+jwt, vc+sd-jwt, vp+sd-jwt) or SD-JWT
// VC's application/dc+sd-jwt.
func joseMediaType(mt string) bool {
	switch mt {
	case MediaTypeVCJWT, MediaTypeVPJWT, MediaTypeSDJWT, MediaTypeVCSDJWT, MediaTypeVPSDJWT:
		return true
	}
	return false
}

// ParseDataURL splits an RFC 2397 data: URL, "data:<media type>,<token>"
// or "data:<media type>;base64,<base64 of the token>", into the media type
// and the token. The media types are the JOSE ones (joseMediaType); no
// other parameter is accepted.
func ParseDataURL(s string) (mediaType, token string, err error) {
	return parseDataURL(s, joseMediaType)
}

// parseDataURL is ParseDataURL for the media types known accepts. The
// content of a JOSE media type is a token (base64 of one, when flagged);
// any other is returned as it is, or base64-decoded (binary: COSE).
func parseDataURL(s string, known func(string) bool) (mediaType, content string, err error) {
	rest, ok := strings.CutPrefix(s, "data:")
	if !ok {
		return "", "", fmt.Errorf("%w: envelope id must be a data: URL", ErrInvalid)
	}
	mediaType, content, ok = strings.Cut(rest, ",")
	if !ok || content == "" {
		return "", "", fmt.Errorf("%w: data: URL has no content", ErrInvalid)
	}
	mediaType, b64, _ := strings.Cut(mediaType, ";")
	if !known(mediaType) {
		return "", "", fmt.Errorf("%w: envelope media type %q", ErrUnsupported, truncate(mediaType))
	}
	switch b64 {
	case "":
	case "base64":
		raw, err := base64.StdEncoding.DecodeString(content)
		if err != nil || len(raw) == 0 || (joseMediaType(mediaType) && (!utf8.Valid(raw) || strings.ContainsAny(string(raw), " \t\r\n,"))) {
			return "", "", fmt.Errorf("%w: data: URL content is not base64 of a token", ErrInvalid)
		}
		content = string(raw)
	default:
		return "", "", fmt.Errorf("%w: data: URL parameter %q (only base64)", ErrInvalid, truncate(b64))
	}
	return mediaType, content, nil
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
	case errors.Is(err, ErrResolve), errors.Is(err, ErrRegionSuspended), errors.Is(err, ErrUnknownKey), errors.Is(err, ErrIssuerMismatch),
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
