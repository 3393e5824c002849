package auth

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/internal/jwtdate"
)

// accessClaims are the claims of an access token (RFC 9068 §2.2), with
// field types that decode without the generic paths of jwt.NumericDate
// and jwt.ClaimStrings (a float parse and an allocation per date, a
// decode into interface{} for aud). Validating a token is mostly one SM2
// verification; this keeps the rest small. It implements jwt.Claims, so
// the gm.NewJWTParser validator checks exp, iat, nbf, iss and aud.
type accessClaims struct {
	Issuer    string       `json:"iss"`
	Subject   string       `json:"sub"`
	Audience  audience     `json:"aud"`
	Expires   jwtdate.Date `json:"exp"`
	IssuedAt  jwtdate.Date `json:"iat"`
	NotBefore jwtdate.Date `json:"nbf,omitzero"`
	ID        string       `json:"jti"`
	ClientID  string       `json:"client_id"`
	Scope     string       `json:"scope"`
}

func (c *accessClaims) GetExpirationTime() (*jwt.NumericDate, error) { return c.Expires.Get() }
func (c *accessClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.IssuedAt.Get() }
func (c *accessClaims) GetNotBefore() (*jwt.NumericDate, error)      { return c.NotBefore.Get() }
func (c *accessClaims) GetIssuer() (string, error)                   { return c.Issuer, nil }
func (c *accessClaims) GetSubject() (string, error)                  { return c.Subject, nil }
func (c *accessClaims) GetAudience() (jwt.ClaimStrings, error) {
	return jwt.ClaimStrings(c.Audience), nil
}

// audience is the aud claim: one string or an array of strings. It is
// written as one string.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	// b is one JSON value encoding/json has already checked: a string
	// without escapes and in valid UTF-8 is the bytes between its quotes.
	if len(b) >= 2 && b[0] == '"' && bytes.IndexByte(b, '\\') < 0 && utf8.Valid(b) {
		*a = audience{string(b[1 : len(b)-1])}
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = audience{s}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return err
	}
	*a = list
	return nil
}

func (a audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}
