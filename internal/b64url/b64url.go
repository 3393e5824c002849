// Package b64url decodes base64url as JOSE and the specifications built on
// it define it (RFC 7515 §2, RFC 4648 §5): the URL-safe alphabet, no
// padding, no line breaks, whitespace or other characters, and zero bits
// after the last byte. encoding/base64 skips '\r' and '\n' anywhere in its
// input, so one value would have many encodings (a token with a line break
// in its signature would verify as the token without); these functions
// refuse them, so each value has exactly one.
//
// Encoding needs no such care: use base64.RawURLEncoding for it.
package b64url

import (
	"bytes"
	"encoding/base64"
	"unsafe"
)

// strict is the decoder once line breaks are ruled out.
var strict = base64.RawURLEncoding.Strict()

// DecodeString is the bytes s encodes. Its errors are
// base64.CorruptInputError, as the standard library's.
func DecodeString(s string) ([]byte, error) {
	if i := lineBreak(unsafe.Slice(unsafe.StringData(s), len(s))); i >= 0 {
		return nil, base64.CorruptInputError(i)
	}
	return strict.DecodeString(s)
}

// Decode decodes src into dst, which must hold DecodedLen(len(src))
// bytes, and returns how many it wrote.
func Decode(dst, src []byte) (int, error) {
	if i := lineBreak(src); i >= 0 {
		return 0, base64.CorruptInputError(i)
	}
	return strict.Decode(dst, src)
}

// AppendDecode appends the bytes src encodes to dst. On an error dst is
// returned as it was.
func AppendDecode(dst, src []byte) ([]byte, error) {
	if i := lineBreak(src); i >= 0 {
		return dst, base64.CorruptInputError(i)
	}
	out, err := strict.AppendDecode(dst, src)
	if err != nil {
		return dst, err // not the bytes decoded before the error
	}
	return out, nil
}

// lineBreak is the index of the first '\r' or '\n' in b, or -1: two
// vectorised scans, far fewer instructions than IndexAny's byte loop.
func lineBreak(b []byte) int {
	i, j := bytes.IndexByte(b, '\r'), bytes.IndexByte(b, '\n')
	if i < 0 || j >= 0 && j < i {
		return j
	}
	return i
}

// DecodedLen is the most bytes n characters decode to.
func DecodedLen(n int) int { return strict.DecodedLen(n) }
