// Package accessclaims is the claims of a TrustID access token (RFC 9068
// §2.2) as the node writes them and the node (auth) and the SDK's offline
// check (sdk) read them, so both take exactly the same tokens: dates are
// whole seconds since 1970, a JSON integer in range (a fraction, an
// exponent or a negative is refused); aud is one string or an array of
// strings.
package accessclaims

import (
	"errors"
	"math"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ErrDate is a date that is not whole seconds since 1970.
var ErrDate = errors.New("jwt: a date must be whole seconds since 1970")

// Date is a NumericDate claim; the zero value is "absent".
type Date struct {
	d  jwt.NumericDate
	ok bool
}

// New is the date of t, truncated to the second.
func New(t time.Time) Date {
	return Date{d: jwt.NumericDate{Time: t.Truncate(time.Second)}, ok: true}
}

// Set reports whether the claim was given.
func (u Date) Set() bool { return u.ok }

// Time is the date (the zero time when absent).
func (u Date) Time() time.Time { return u.d.Time }

// Get is the date for golang-jwt's validator (jwt.Claims): nil when absent.
func (u *Date) Get() (*jwt.NumericDate, error) {
	if !u.ok {
		return nil, nil
	}
	return &u.d, nil
}

// IsZero makes omitzero omit an absent date.
func (u Date) IsZero() bool { return !u.ok }

// UnmarshalJSON reads an integer number of seconds; null leaves the date
// absent.
func (u *Date) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*u = Date{}
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/int64(time.Second) {
		return ErrDate
	}
	*u = Date{d: jwt.NumericDate{Time: time.Unix(n, 0)}, ok: true}
	return nil
}

// MarshalJSON writes the seconds.
func (u Date) MarshalJSON() ([]byte, error) {
	return strconv.AppendInt(nil, u.d.Unix(), 10), nil
}
