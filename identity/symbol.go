package identity

import (
	"crypto/subtle"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/trustid-cn/trustid/gm"
)

// SymbolSize is the length in bytes of the MAC a symbol or pairwise ID
// keeps: the first 160 bits of HMAC-SM3.
const SymbolSize = 20

// TextLen is the length of the text form of a symbol or pairwise ID: one
// key-version character, 32 characters of MAC, one check character.
const TextLen = 1 + SymbolSize*8/5 + 1

// MaxKeyVersion is the highest key version the text form can carry (one
// Crockford base32 character; version 0 is never used).
const MaxKeyVersion = 31

// symbolDomain separates symbol derivation from every other use of the key.
// Its version changes only with the derivation itself.
const symbolDomain = "TrustID/symbol/v1\x00"

// VersionedKey is one version of a national key (the symbol key or the
// pairwise key), as kept in the node keystore.
type VersionedKey struct {
	Version int    // 1..MaxKeyVersion
	Secret  []byte // at least gm.MinMACKeySize bytes; 32 recommended
}

// ident is the value shared by symbols and pairwise IDs: a key version and
// a truncated MAC. The zero ident (version 0) is no identifier.
type ident struct {
	ver uint8
	mac [SymbolSize]byte
}

func (x *ident) equal(y *ident) bool {
	var a, b [1 + SymbolSize]byte
	a[0], b[0] = x.ver, y.ver
	copy(a[1:], x.mac[:])
	copy(b[1:], y.mac[:])
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// Crockford base32 (https://www.crockford.com/base32.html): digits and
// upper-case letters without I, L, O and U; the check symbol is the value
// mod 37, with *, ~, $, = and U for 32..36.
const (
	crockford      = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	crockfordCheck = crockford + "*~$=U"
)

// crockfordValue maps a byte to its value: 0..31 for symbols (either case,
// with the aliases O→0 and I, L→1), 32..36 for the check-only symbols, and
// 0xFF for anything else.
var crockfordValue = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xFF
	}
	for i := 0; i < len(crockfordCheck); i++ {
		c := crockfordCheck[i]
		t[c] = byte(i)
		if c >= 'A' && c <= 'Z' {
			t[c|0x20] = byte(i)
		}
	}
	for _, a := range [...]struct {
		c byte
		v byte
	}{{'O', 0}, {'o', 0}, {'I', 1}, {'i', 1}, {'L', 1}, {'l', 1}} {
		t[a.c] = a.v
	}
	return t
}()

// pow40mod37 is 2^40 mod 37, for computing the check value one 40-bit
// group (8 characters) at a time.
const pow40mod37 = (1 << 40) % 37

// appendText appends the 34-character text form of x: the version, the
// MAC in four groups of 5 bytes (8 characters each), and the check
// character of the whole value (version·2^160 + MAC) mod 37.
func (x *ident) appendText(dst []byte) []byte {
	var b [TextLen]byte
	b[0] = crockford[x.ver&31]
	r := uint64(x.ver & 31)
	for g := 0; g < SymbolSize/5; g++ {
		m := x.mac[g*5 : g*5+5]
		v := uint64(m[0])<<32 | uint64(m[1])<<24 | uint64(m[2])<<16 | uint64(m[3])<<8 | uint64(m[4])
		out := b[1+g*8 : 1+g*8+8]
		for i := range out {
			out[i] = crockford[v>>(35-5*i)&31]
		}
		r = (r*pow40mod37 + v%37) % 37
	}
	b[TextLen-1] = crockfordCheck[r]
	return append(dst, b[:]...)
}

// parseIdent decodes a text form: exactly TextLen characters of Crockford
// base32 (case-insensitive, with its aliases), a version from 1 to
// MaxKeyVersion and a matching check character.
func parseIdent(s string) (ident, error) {
	if len(s) != TextLen {
		return ident{}, ErrIdentifierLength
	}
	var x ident
	var vals [TextLen - 1]byte
	r := uint32(0)
	for i := 0; i < TextLen-1; i++ {
		v := crockfordValue[s[i]]
		if v > 31 {
			return ident{}, ErrIdentifierCharacter
		}
		vals[i] = v
		r = (r*32 + uint32(v)) % 37
	}
	c := crockfordValue[s[TextLen-1]]
	if c > 36 {
		return ident{}, ErrIdentifierCharacter
	}
	if uint32(c) != r {
		return ident{}, ErrIdentifierCheck
	}
	if vals[0] == 0 {
		return ident{}, ErrUnknownKeyVersion
	}
	x.ver = vals[0]
	for g := 0; g < SymbolSize/5; g++ {
		var v uint64
		for i := 0; i < 8; i++ {
			v = v<<5 | uint64(vals[1+g*8+i])
		}
		m := x.mac[g*5 : g*5+5]
		m[0], m[1], m[2], m[3], m[4] = byte(v>>32), byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
	}
	return x, nil
}

// short is the display form: the version and the first 6 characters of
// the MAC, then an ellipsis (30 bits: enough to tell symbols apart by eye
// in a log, too few to link a person across services).
func (x *ident) short() string {
	var b [TextLen]byte
	t := x.appendText(b[:0])
	return string(t[:7]) + "…"
}

// Symbol is a person's identity symbol: a version of the national symbol
// key and the first 160 bits of HMAC-SM3 under it of the document type and
// normalized number. The same document and key version give the same
// symbol on every node; the raw number cannot be recovered from it without
// the key.
//
// A Symbol cannot be compared with == (use Equal, which takes constant
// time). Formatting it (fmt with any verb, slog) shows only a short prefix
// such as "1K3M9QZ…"; Text and MarshalText give the full canonical form. The
// zero Symbol is no symbol.
type Symbol struct {
	_ [0]func() // not comparable
	x ident
}

// ParseSymbol decodes the text form of a symbol: exactly TextLen (34)
// characters of Crockford base32, case-insensitive (O is read as 0, I and
// L as 1), the first being the key version (1 to MaxKeyVersion) and the
// last the mod-37 check character. It does not know which key versions a
// node holds: use Deriver.ParseSymbol for that.
func ParseSymbol(s string) (Symbol, error) {
	x, err := parseIdent(s)
	if err != nil {
		return Symbol{}, err
	}
	return Symbol{x: x}, nil
}

// IsZero reports whether s is the zero Symbol.
func (s Symbol) IsZero() bool { return s.x.ver == 0 }

// Version returns the version of the symbol key it was derived under.
func (s Symbol) Version() int { return int(s.x.ver) }

// Equal reports in constant time whether s and o are the same symbol
// (same key version and MAC).
func (s Symbol) Equal(o Symbol) bool { return s.x.equal(&o.x) }

// Text returns the full canonical text form (34 upper-case characters), or
// "" for the zero Symbol. It identifies a person: keep it out of logs.
func (s Symbol) Text() string {
	if s.IsZero() {
		return ""
	}
	var b [TextLen]byte
	return string(s.x.appendText(b[:0]))
}

// AppendText appends the canonical text form to dst (nothing for the zero
// Symbol) without allocating when dst has room.
func (s Symbol) AppendText(dst []byte) []byte {
	if s.IsZero() {
		return dst
	}
	return s.x.appendText(dst)
}

// MarshalText implements encoding.TextMarshaler with the full form.
func (s Symbol) MarshalText() ([]byte, error) {
	if s.IsZero() {
		return nil, ErrZeroIdentifier
	}
	return s.x.appendText(make([]byte, 0, TextLen)), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with ParseSymbol.
func (s *Symbol) UnmarshalText(b []byte) error {
	v, err := ParseSymbol(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// String returns the short display form, e.g. "1K3M9QZ…", safe to log.
func (s Symbol) String() string {
	if s.IsZero() {
		return "symbol(zero)"
	}
	return s.x.short()
}

// GoString is used by %#v; it shows only the short form.
func (s Symbol) GoString() string { return "identity.Symbol(" + s.String() + ")" }

// Format prints the short form for every verb.
func (s Symbol) Format(f fmt.State, verb rune) { formatShort(f, verb, s.String(), s.GoString()) }

// LogValue implements slog.LogValuer with the short form.
func (s Symbol) LogValue() slog.Value { return slog.StringValue(s.String()) }

func formatShort(f fmt.State, verb rune, short, gostr string) {
	switch {
	case verb == 'v' && f.Flag('#'):
		fmt.Fprint(f, gostr)
	case verb == 'q':
		fmt.Fprintf(f, fmt.FormatString(f, 'q'), short)
	default:
		fmt.Fprintf(f, fmt.FormatString(f, 's'), short)
	}
}

var (
	_ fmt.Formatter  = Symbol{}
	_ slog.LogValuer = Symbol{}
)

// macKey is one version of a national key with its HMAC state precomputed.
type macKey struct {
	ver uint8
	mac *gm.MACKey
}

// newMACKeys validates a key set: at least one key, versions 1..31 and
// distinct, secrets of at least gm.MinMACKeySize bytes. The result is sorted
// newest first.
func newMACKeys(keys []VersionedKey) ([]macKey, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no key", ErrKeys)
	}
	out := make([]macKey, 0, len(keys))
	for _, k := range keys {
		if k.Version < 1 || k.Version > MaxKeyVersion {
			return nil, fmt.Errorf("%w: version %d out of 1..%d", ErrKeys, k.Version, MaxKeyVersion)
		}
		for _, o := range out {
			if int(o.ver) == k.Version {
				return nil, fmt.Errorf("%w: version %d given twice", ErrKeys, k.Version)
			}
		}
		m, err := gm.NewMACKey(k.Secret)
		if err != nil {
			return nil, fmt.Errorf("%w: version %d: %w", ErrKeys, k.Version, err)
		}
		out = append(out, macKey{ver: uint8(k.Version), mac: m})
	}
	slices.SortFunc(out, func(a, b macKey) int { return int(b.ver) - int(a.ver) })
	return out, nil
}

func findKey(keys []macKey, version int) *macKey {
	for i := range keys {
		if int(keys[i].ver) == version {
			return &keys[i]
		}
	}
	return nil
}

// Deriver derives identity symbols under the national symbol key. Build it
// once, at start-up, from every version of the key the node holds: each
// version's HMAC state is precomputed, so a derivation costs two SM3
// compressions and no allocation. It is safe for concurrent use.
type Deriver struct {
	keys    []macKey // newest first
	scratch sync.Pool
}

// scratchSize holds the longest message: the domain, the longest type name
// and its separator, and the longest number.
const scratchSize = 96

// NewDeriver returns a Deriver for the given versions of the symbol key.
// The highest version is current: Derive uses it; DeriveAll and
// DeriveVersion reach the older ones (for migration). The secrets are
// copied.
func NewDeriver(keys ...VersionedKey) (*Deriver, error) {
	mk, err := newMACKeys(keys)
	if err != nil {
		return nil, err
	}
	d := &Deriver{keys: mk}
	d.scratch.New = func() any { return new([scratchSize]byte) }
	return d, nil
}

// Version returns the current key version.
func (d *Deriver) Version() int { return int(d.keys[0].ver) }

// Versions returns every key version held, newest first.
func (d *Deriver) Versions() []int {
	out := make([]int, len(d.keys))
	for i, k := range d.keys {
		out[i] = int(k.ver)
	}
	return out
}

// Derive returns the symbol of doc under the current key version.
func (d *Deriver) Derive(doc Document) (Symbol, error) {
	if doc.IsZero() {
		return Symbol{}, fmt.Errorf("%w: zero document", ErrUnsupportedDocument)
	}
	dd := doc.get()
	return d.derive(&d.keys[0], dd.typ, dd.num[:dd.n]), nil
}

// DeriveVersion returns the symbol of doc under one key version.
func (d *Deriver) DeriveVersion(doc Document, version int) (Symbol, error) {
	if doc.IsZero() {
		return Symbol{}, fmt.Errorf("%w: zero document", ErrUnsupportedDocument)
	}
	k := findKey(d.keys, version)
	if k == nil {
		return Symbol{}, ErrUnknownKeyVersion
	}
	dd := doc.get()
	return d.derive(k, dd.typ, dd.num[:dd.n]), nil
}

// DeriveAll returns the symbols of doc under every key version held,
// newest (current) first. After a change of symbol key, a holder who
// re-presents the document is found under the old symbol and re-issued
// under the new one, and the node records the link (see docs/identity.md).
func (d *Deriver) DeriveAll(doc Document) ([]Symbol, error) {
	if doc.IsZero() {
		return nil, fmt.Errorf("%w: zero document", ErrUnsupportedDocument)
	}
	dd := doc.get()
	out := make([]Symbol, len(d.keys))
	for i := range d.keys {
		out[i] = d.derive(&d.keys[i], dd.typ, dd.num[:dd.n])
	}
	return out, nil
}

// ParseSymbol is ParseSymbol that also requires the symbol's key version
// to be one this Deriver holds (ErrUnknownKeyVersion otherwise).
func (d *Deriver) ParseSymbol(s string) (Symbol, error) {
	sym, err := ParseSymbol(s)
	if err != nil {
		return Symbol{}, err
	}
	if findKey(d.keys, sym.Version()) == nil {
		return Symbol{}, ErrUnknownKeyVersion
	}
	return sym, nil
}

// derive computes HMAC-SM3(K_v, symbolDomain ‖ type name ‖ 0x00 ‖ number)
// truncated to SymbolSize bytes.
func (d *Deriver) derive(k *macKey, t DocType, num []byte) Symbol {
	buf := d.scratch.Get().(*[scratchSize]byte)
	msg := append(buf[:0], symbolDomain...)
	msg = append(msg, t.String()...)
	msg = append(msg, 0)
	msg = append(msg, num...)
	// The MAC is written after the message, in the same scratch buffer.
	sum := k.mac.Sum(msg[len(msg):len(msg)], msg)
	s := Symbol{x: ident{ver: k.ver}}
	copy(s.x.mac[:], sum)
	clear(buf[:])
	d.scratch.Put(buf)
	return s
}
