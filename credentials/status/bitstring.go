package status

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"encoding/base64"
	"errors"
	"fmt"
	"io"

	"github.com/trustid-cn/trustid/internal/b64url"
)

// Errors.
var (
	// ErrEncoding: an encoded list is malformed, too small or too large.
	ErrEncoding = errors.New("statuslist: invalid encoded list")
	// ErrIndex: an index is outside the list.
	ErrIndex = errors.New("statuslist: index out of range")
	// ErrValue: a status value does not fit the list's bits.
	ErrValue = errors.New("statuslist: status value out of range")
)

// MinEntries is the smallest Bitstring Status List the specification
// allows (16 KiB of bits), which gives group privacy.
const MinEntries = 131072

// MaxEntries bounds every list, and those a node reads from its own files (16
// MiB of bits).
const MaxEntries = 1 << 27

// MaxRemoteEntries bounds the lists the decoders accept by default: lists
// fetched from other nodes, whose size an attacker may choose. 2^20
// entries is eight times the Bitstring Status List minimum and what a
// FileStore creates at most (see FileStoreOptions.Size), so a decoded
// remote list holds at most 128 KiB (one bit per entry) or 256 KiB (a
// two-bit token list), and decompression stops as soon as the output
// passes that.
const MaxRemoteEntries = 1 << 20

// MaxRemoteTokenBytes bounds the decoded bytes of a Token Status List
// fetched for status checks: MaxRemoteEntries two-bit statuses (the
// node's own lists), 256 KiB: a list of 4 or 8 bits a status holds
// proportionally fewer than MaxRemoteEntries.
const MaxRemoteTokenBytes = MaxRemoteEntries * 2 / 8

var b64 = base64.RawURLEncoding

// Bitstring is a W3C Bitstring Status List with one bit per entry. Bit i
// is bit 7-(i%8) of byte i/8 (the first index is the leftmost bit).
type Bitstring struct {
	bits []byte
	n    int
}

// NewBitstring returns an all-zero list of n entries (n a multiple of 8).
func NewBitstring(n int) (*Bitstring, error) {
	if n <= 0 || n%8 != 0 || n > MaxEntries {
		return nil, fmt.Errorf("%w: size %d must be a positive multiple of 8 up to %d", ErrEncoding, n, MaxEntries)
	}
	return &Bitstring{bits: make([]byte, n/8), n: n}, nil
}

// BitstringFromBytes returns the list whose bits are b (8 entries a byte);
// the list keeps b.
func BitstringFromBytes(b []byte) *Bitstring { return &Bitstring{bits: b, n: len(b) * 8} }

// Bytes returns the list's bits, not a copy: callers must not modify them.
func (b *Bitstring) Bytes() []byte { return b.bits }

// Clone returns a copy of the list.
func (b *Bitstring) Clone() *Bitstring { return &Bitstring{bits: bytes.Clone(b.bits), n: b.n} }

// Len returns the number of entries.
func (b *Bitstring) Len() int { return b.n }

// Get returns entry i. It panics for i outside [0, Len()); use Check for
// untrusted indices.
func (b *Bitstring) Get(i int) bool { return b.bits[i>>3]&(0x80>>(i&7)) != 0 }

// Check reports whether i is an index of the list.
func (b *Bitstring) Check(i int) error {
	if i < 0 || i >= b.n {
		return fmt.Errorf("%w: %d not in [0, %d)", ErrIndex, i, b.n)
	}
	return nil
}

// Set sets entry i.
func (b *Bitstring) Set(i int, v bool) error {
	if err := b.Check(i); err != nil {
		return err
	}
	if v {
		b.bits[i>>3] |= 0x80 >> (i & 7)
	} else {
		b.bits[i>>3] &^= 0x80 >> (i & 7)
	}
	return nil
}

// AppendBinary appends the list's bytes, bit 0 in the most significant
// bit of the first byte (the bytes encodedList compresses), to dst.
func (b *Bitstring) AppendBinary(dst []byte) ([]byte, error) {
	return append(dst, b.bits...), nil
}

// Encode returns the encodedList value: 'u' + base64url(GZIP(bits)).
func (b *Bitstring) Encode() string {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(b.bits)
	zw.Close()
	return "u" + b64.EncodeToString(buf.Bytes())
}

// DecodeBitstring decodes an encodedList. It accepts base64url with or
// without padding (multibase 'u' is unpadded; some encoders pad), needs at
// least MinEntries and at most max entries (MaxRemoteEntries when max <= 0;
// never more than MaxEntries). The bits are those of every GZIP member
// (RFC 1952 §2.2: a gzip file "consists of a series of members"); bytes
// after the last that are no member are refused. It stops decompressing
// as soon as the output passes max/8 bytes.
func DecodeBitstring(encoded string, max int) (*Bitstring, error) {
	if max <= 0 {
		max = MaxRemoteEntries
	}
	max = min(max, MaxEntries)
	if len(encoded) < 2 || encoded[0] != 'u' {
		return nil, fmt.Errorf("%w: encodedList must be multibase base64url ('u' prefix)", ErrEncoding)
	}
	s := encoded[1:]
	for len(s) > 0 && s[len(s)-1] == '=' {
		s = s[:len(s)-1]
	}
	if len(s) > max/2 { // compressed data is far smaller than the bits
		return nil, fmt.Errorf("%w: encodedList too long", ErrEncoding)
	}
	raw, err := b64.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: base64url: %v", ErrEncoding, err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("%w: gzip: %v", ErrEncoding, err)
	}
	bits, err := readBounded(zr, max/8)
	if err != nil {
		return nil, err
	}
	if len(bits)*8 < MinEntries {
		return nil, fmt.Errorf("%w: %d entries, the minimum is %d", ErrEncoding, len(bits)*8, MinEntries)
	}
	return &Bitstring{bits: bits, n: len(bits) * 8}, nil
}

// readBounded reads r to the end, failing beyond limit bytes. It never
// reads more than limit+1 bytes from r (the decompressor), so a small
// input that expands enormously costs at most limit+1 bytes of output.
func readBounded(r io.Reader, limit int) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(min(limit+1, 64<<10))
	n, err := io.Copy(&buf, io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("%w: decompress: %v", ErrEncoding, err)
	}
	if n > int64(limit) {
		return nil, fmt.Errorf("%w: more than %d bytes decompressed", ErrEncoding, limit)
	}
	return buf.Bytes(), nil
}

// Token Status List values (IETF draft-ietf-oauth-status-list).
const (
	TokenValid     = 0x00
	TokenInvalid   = 0x01
	TokenSuspended = 0x02
)

// TokenList is an IETF Token Status List: Bits (1, 2, 4 or 8) per status,
// index 0 in the least significant bits of the first byte.
type TokenList struct {
	bits int
	data []byte
	n    int
}

// NewTokenList returns an all-zero (VALID) list of n statuses.
func NewTokenList(bits, n int) (*TokenList, error) {
	if !validBits(bits) {
		return nil, fmt.Errorf("%w: bits must be 1, 2, 4 or 8", ErrEncoding)
	}
	if n <= 0 || n*bits%8 != 0 || n > MaxEntries {
		return nil, fmt.Errorf("%w: size %d must fill whole bytes and be at most %d", ErrEncoding, n, MaxEntries)
	}
	return &TokenList{bits: bits, data: make([]byte, n*bits/8), n: n}, nil
}

// TokenListFromBytes returns the list of bits-wide statuses held in data;
// the list keeps data.
func TokenListFromBytes(bits int, data []byte) (*TokenList, error) {
	if !validBits(bits) {
		return nil, fmt.Errorf("%w: bits must be 1, 2, 4 or 8", ErrEncoding)
	}
	return &TokenList{bits: bits, data: data, n: len(data) * 8 / bits}, nil
}

// Bytes returns the list's packed statuses, not a copy: callers must not
// modify them.
func (t *TokenList) Bytes() []byte { return t.data }

// Clone returns a copy of the list.
func (t *TokenList) Clone() *TokenList {
	return &TokenList{bits: t.bits, data: bytes.Clone(t.data), n: t.n}
}

func validBits(b int) bool { return b == 1 || b == 2 || b == 4 || b == 8 }

// Bits returns the bits per status.
func (t *TokenList) Bits() int { return t.bits }

// Len returns the number of statuses.
func (t *TokenList) Len() int { return t.n }

// Get returns status i, or ErrIndex.
func (t *TokenList) Get(i int) (uint8, error) {
	if i < 0 || i >= t.n {
		return 0, fmt.Errorf("%w: %d not in [0, %d)", ErrIndex, i, t.n)
	}
	per := 8 / t.bits
	shift := (i % per) * t.bits
	mask := byte(1<<t.bits - 1)
	return (t.data[i/per] >> shift) & mask, nil
}

// Set sets status i.
func (t *TokenList) Set(i int, v uint8) error {
	if i < 0 || i >= t.n {
		return fmt.Errorf("%w: %d not in [0, %d)", ErrIndex, i, t.n)
	}
	if t.bits < 8 && v >= 1<<t.bits {
		return fmt.Errorf("%w: %d does not fit in %d bits", ErrValue, v, t.bits)
	}
	per := 8 / t.bits
	shift := (i % per) * t.bits
	mask := byte(1<<t.bits-1) << shift
	t.data[i/per] = t.data[i/per]&^mask | (v<<shift)&mask
	return nil
}

// AppendBinary appends the list's bytes, index 0 in the least significant
// bits of the first byte (the bytes lst compresses), to dst.
func (t *TokenList) AppendBinary(dst []byte) ([]byte, error) {
	return append(dst, t.data...), nil
}

// Encode returns the lst value: base64url(ZLIB(bytes)), no padding.
func (t *TokenList) Encode() string {
	var buf bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&buf, zlib.BestCompression)
	zw.Write(t.data)
	zw.Close()
	return b64.EncodeToString(buf.Bytes())
}

// DecodeTokenList decodes lst for the given bits, up to max statuses
// (MaxRemoteEntries when max <= 0; never more than MaxEntries). It stops
// decompressing as soon as the output passes max*bits/8 bytes.
func DecodeTokenList(bits int, lst string, max int) (*TokenList, error) {
	if !validBits(bits) {
		return nil, fmt.Errorf("%w: bits must be 1, 2, 4 or 8", ErrEncoding)
	}
	if max <= 0 {
		max = MaxRemoteEntries
	}
	max = min(max, MaxEntries)
	if len(lst) > max*bits/8*2+64 { // base64 of even incompressible data is smaller
		return nil, fmt.Errorf("%w: lst too long", ErrEncoding)
	}
	raw, err := b64url.DecodeString(lst)
	if err != nil {
		return nil, fmt.Errorf("%w: base64url: %v", ErrEncoding, err)
	}
	zr, err := zlib.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("%w: zlib: %v", ErrEncoding, err)
	}
	data, err := readBounded(zr, max*bits/8)
	if err != nil {
		return nil, err
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: empty list", ErrEncoding)
	}
	return &TokenList{bits: bits, data: data, n: len(data) * 8 / bits}, nil
}
