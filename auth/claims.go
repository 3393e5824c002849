package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// accessClaims are the claims of an access token (RFC 9068 §2.2), with
// field types that decode without the generic paths of jwt.NumericDate
// and jwt.ClaimStrings (a float parse and an allocation per date, a
// decode into interface{} for aud). Validating a token is mostly one SM2
// verification; this keeps the rest small. It implements jwt.Claims, so
// the gm.NewJWTParser validator checks exp, iat, nbf, iss and aud.
type accessClaims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  audience `json:"aud"`
	Expires   unixTime `json:"exp"`
	IssuedAt  unixTime `json:"iat"`
	NotBefore unixTime `json:"nbf,omitzero"`
	ID        string   `json:"jti"`
	ClientID  string   `json:"client_id"`
	Scope     string   `json:"scope"`
}

func (c *accessClaims) GetExpirationTime() (*jwt.NumericDate, error) { return c.Expires.get() }
func (c *accessClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.IssuedAt.get() }
func (c *accessClaims) GetNotBefore() (*jwt.NumericDate, error)      { return c.NotBefore.get() }
func (c *accessClaims) GetIssuer() (string, error)                   { return c.Issuer, nil }
func (c *accessClaims) GetSubject() (string, error)                  { return c.Subject, nil }
func (c *accessClaims) GetAudience() (jwt.ClaimStrings, error) {
	return jwt.ClaimStrings(c.Audience), nil
}

// unixTime is a JWT NumericDate: seconds since the epoch. Decoding accepts
// a JSON number with an integer value in range; fractions are refused
// (this node never writes them). The zero value is "absent".
type unixTime struct {
	d  jwt.NumericDate
	ok bool
}

func newUnixTime(t time.Time) unixTime {
	return unixTime{d: jwt.NumericDate{Time: t.Truncate(time.Second)}, ok: true}
}

func (u *unixTime) get() (*jwt.NumericDate, error) {
	if !u.ok {
		return nil, nil
	}
	return &u.d, nil
}

// IsZero makes omitzero omit an absent date.
func (u unixTime) IsZero() bool { return !u.ok }

var errNumericDate = errors.New("auth: a date must be whole seconds since 1970")

func (u *unixTime) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*u = unixTime{}
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/int64(time.Second) {
		return errNumericDate
	}
	*u = unixTime{d: jwt.NumericDate{Time: time.Unix(n, 0)}, ok: true}
	return nil
}

func (u unixTime) MarshalJSON() ([]byte, error) {
	return strconv.AppendInt(nil, u.d.Unix(), 10), nil
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
