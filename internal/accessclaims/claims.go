package accessclaims

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// Claims are the claims of an access token, with field types that decode
// without the generic paths of jwt.NumericDate and jwt.ClaimStrings (a
// float parse and an allocation per date, a decode into interface{} for
// aud): validating a token is mostly one SM2 verification, this keeps the
// rest small. It implements jwt.Claims, so golang-jwt's validator checks
// exp, iat, nbf, iss and aud.
type Claims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  Audience `json:"aud"`
	Expires   Date     `json:"exp"`
	IssuedAt  Date     `json:"iat"`
	NotBefore Date     `json:"nbf,omitzero"`
	ID        string   `json:"jti"`
	ClientID  string   `json:"client_id"`
	Scope     string   `json:"scope"`
}

func (c *Claims) GetExpirationTime() (*jwt.NumericDate, error) { return c.Expires.Get() }
func (c *Claims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.IssuedAt.Get() }
func (c *Claims) GetNotBefore() (*jwt.NumericDate, error)      { return c.NotBefore.Get() }
func (c *Claims) GetIssuer() (string, error)                   { return c.Issuer, nil }
func (c *Claims) GetSubject() (string, error)                  { return c.Subject, nil }
func (c *Claims) GetAudience() (jwt.ClaimStrings, error)       { return jwt.ClaimStrings(c.Audience), nil }

// Audience is the aud claim: one string or an array of strings. It is
// written as one string when it has one.
type Audience []string

func (a *Audience) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	// b is one JSON value encoding/json has already checked: a string
	// without escapes and in valid UTF-8 is the bytes between its quotes.
	if len(b) >= 2 && b[0] == '"' && bytes.IndexByte(b, '\\') < 0 && utf8.Valid(b) {
		*a = Audience{string(b[1 : len(b)-1])}
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = Audience{s}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return err
	}
	*a = list
	return nil
}

func (a Audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}
