package qrcode

import (
	"errors"
	"fmt"
)

// base45Alphabet is the RFC 9285 alphabet: exactly the 45 characters of the
// QR code alphanumeric mode, so a base45 string is encoded at 5.5 bits per
// character.
const base45Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"

// ErrBase45 means a string is not valid base45 (RFC 9285): a character
// outside the alphabet, a length of 1 modulo 3, or a group above 65535
// (or 255 for a final pair).
var ErrBase45 = errors.New("qrcode: invalid base45")

var base45Values = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(base45Alphabet); i++ {
		t[base45Alphabet[i]] = int8(i)
	}
	return t
}()

// Base45Len returns the length of the base45 encoding of n bytes.
func Base45Len(n int) int { return n/2*3 + n%2*2 }

// AppendBase45 appends the RFC 9285 encoding of src to dst.
func AppendBase45(dst, src []byte) []byte {
	for i := 0; i+1 < len(src); i += 2 {
		n := int(src[i])<<8 | int(src[i+1])
		dst = append(dst, base45Alphabet[n%45], base45Alphabet[n/45%45], base45Alphabet[n/2025])
	}
	if len(src)%2 == 1 {
		n := int(src[len(src)-1])
		dst = append(dst, base45Alphabet[n%45], base45Alphabet[n/45])
	}
	return dst
}

// EncodeBase45 returns the RFC 9285 encoding of src.
func EncodeBase45(src []byte) string {
	return string(AppendBase45(make([]byte, 0, Base45Len(len(src))), src))
}

// DecodeBase45 decodes an RFC 9285 string. Lower-case letters are not
// part of the alphabet and are rejected.
func DecodeBase45(s string) ([]byte, error) {
	if len(s)%3 == 1 {
		return nil, fmt.Errorf("%w: length %d is 1 modulo 3", ErrBase45, len(s))
	}
	out := make([]byte, 0, len(s)/3*2+len(s)%3/2)
	for i := 0; i < len(s); i += 3 {
		g := s[i:min(i+3, len(s))]
		n := 0
		for j := len(g) - 1; j >= 0; j-- {
			v := base45Values[g[j]]
			if v < 0 {
				return nil, fmt.Errorf("%w: character at offset %d outside the alphabet", ErrBase45, i+j)
			}
			n = n*45 + int(v)
		}
		if len(g) == 3 {
			if n > 0xffff {
				return nil, fmt.Errorf("%w: group at offset %d exceeds 65535", ErrBase45, i)
			}
			out = append(out, byte(n>>8), byte(n))
		} else {
			if n > 0xff {
				return nil, fmt.Errorf("%w: final pair exceeds 255", ErrBase45)
			}
			out = append(out, byte(n))
		}
	}
	return out, nil
}
