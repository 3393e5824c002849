package identity

import (
	"fmt"
	"log/slog"
	"sync"
	"unicode/utf8"
)

// pairwiseDomain separates pairwise derivation from every other use of the
// pairwise key.
const pairwiseDomain = "TrustID/pairwise/v1\x00"

// MaxSectorLen bounds a sector identifier, in bytes.
const MaxSectorLen = 255

// PairwiseID is what a relying party knows a person by: HMAC-SM3 under the
// national pairwise key (a key separate from the symbol key) of the
// person's symbol and the party's sector identifier, truncated to 160 bits.
// It is stable for one sector and unlinkable across sectors without the
// pairwise key.
//
// Its text form has the same shape as a symbol's (34 characters: the
// pairwise key version, 32 characters of MAC, a check character), so the
// two are told apart by where they appear, never by their text: relying
// parties only ever see pairwise IDs. Like Symbol it has no ==, a
// constant-time Equal, and a String that shows only a short prefix.
type PairwiseID struct {
	_ [0]func() // not comparable
	x ident
}

// ParsePairwiseID decodes the text form of a pairwise ID, with the rules
// of ParseSymbol.
func ParsePairwiseID(s string) (PairwiseID, error) {
	x, err := parseIdent(s)
	if err != nil {
		return PairwiseID{}, err
	}
	return PairwiseID{x: x}, nil
}

// IsZero reports whether p is the zero PairwiseID.
func (p PairwiseID) IsZero() bool { return p.x.ver == 0 }

// Version returns the version of the pairwise key it was derived under.
func (p PairwiseID) Version() int { return int(p.x.ver) }

// Equal reports in constant time whether p and o are the same.
func (p PairwiseID) Equal(o PairwiseID) bool { return p.x.equal(&o.x) }

// Text returns the full text form (for the relying party, e.g. as the
// OpenID Connect "sub"), or "" for the zero PairwiseID.
func (p PairwiseID) Text() string {
	if p.IsZero() {
		return ""
	}
	var b [TextLen]byte
	return string(p.x.appendText(b[:0]))
}

// MarshalText implements encoding.TextMarshaler with the full form.
func (p PairwiseID) MarshalText() ([]byte, error) {
	if p.IsZero() {
		return nil, ErrZeroIdentifier
	}
	return p.x.appendText(make([]byte, 0, TextLen)), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with ParsePairwiseID.
func (p *PairwiseID) UnmarshalText(b []byte) error {
	v, err := ParsePairwiseID(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// String returns the short display form, safe to log.
func (p PairwiseID) String() string {
	if p.IsZero() {
		return "pairwise(zero)"
	}
	return p.x.short()
}

// GoString is used by %#v; it shows only the short form.
func (p PairwiseID) GoString() string { return "identity.PairwiseID(" + p.String() + ")" }

// Format prints the short form for every verb.
func (p PairwiseID) Format(f fmt.State, verb rune) { formatShort(f, verb, p.String(), p.GoString()) }

// LogValue implements slog.LogValuer with the short form.
func (p PairwiseID) LogValue() slog.Value { return slog.StringValue(p.String()) }

// PairwiseDeriver derives pairwise IDs under the national pairwise key.
// Build it once from every version the node holds; it is safe for
// concurrent use.
type PairwiseDeriver struct {
	keys    []macKey // newest first
	scratch sync.Pool
}

// NewPairwiseDeriver returns a PairwiseDeriver for the given versions of
// the pairwise key (never the symbol key: using one key for both would
// make a pairwise ID computable from the symbol key alone). The highest
// version is current.
func NewPairwiseDeriver(keys ...VersionedKey) (*PairwiseDeriver, error) {
	mk, err := newMACKeys(keys)
	if err != nil {
		return nil, err
	}
	p := &PairwiseDeriver{keys: mk}
	p.scratch.New = func() any { return new([len(pairwiseDomain) + 1 + SymbolSize + MaxSectorLen + 32]byte) }
	return p, nil
}

// Version returns the current pairwise key version.
func (p *PairwiseDeriver) Version() int { return int(p.keys[0].ver) }

// Derive returns the pairwise ID of sym for a relying party's sector
// identifier under the current pairwise key. sector is the host of the
// party's sector_identifier_uri (OpenID Connect Core 1.0, section 8.1), or
// its client ID when it registered none; it is used as given, so pass it
// in one canonical form (hosts in lower case). It must be 1 to
// MaxSectorLen bytes of UTF-8 without control characters.
func (p *PairwiseDeriver) Derive(sym Symbol, sector string) (PairwiseID, error) {
	return p.derive(&p.keys[0], sym, sector)
}

// DeriveVersion is Derive under one version of the pairwise key.
func (p *PairwiseDeriver) DeriveVersion(sym Symbol, sector string, version int) (PairwiseID, error) {
	k := findKey(p.keys, version)
	if k == nil {
		return PairwiseID{}, ErrUnknownKeyVersion
	}
	return p.derive(k, sym, sector)
}

// derive computes HMAC-SM3(P_v, pairwiseDomain ‖ symbol version ‖ symbol
// MAC ‖ sector) truncated to SymbolSize bytes. The symbol part has a fixed
// length, so the sector needs no delimiter.
func (p *PairwiseDeriver) derive(k *macKey, sym Symbol, sector string) (PairwiseID, error) {
	if sym.IsZero() {
		return PairwiseID{}, ErrZeroIdentifier
	}
	if err := checkSector(sector); err != nil {
		return PairwiseID{}, err
	}
	buf := p.scratch.Get().(*[len(pairwiseDomain) + 1 + SymbolSize + MaxSectorLen + 32]byte)
	msg := append(buf[:0], pairwiseDomain...)
	msg = append(msg, sym.x.ver)
	msg = append(msg, sym.x.mac[:]...)
	msg = append(msg, sector...)
	sum := k.mac.Sum(msg[len(msg):len(msg)], msg)
	id := PairwiseID{x: ident{ver: k.ver}}
	copy(id.x.mac[:], sum)
	clear(buf[:])
	p.scratch.Put(buf)
	return id, nil
}

func checkSector(s string) error {
	if len(s) == 0 || len(s) > MaxSectorLen || !utf8.ValidString(s) {
		return ErrInvalidSector
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ErrInvalidSector
		}
	}
	return nil
}

// derivedKeyDomain separates keys derived from the pairwise key from
// pairwise IDs: it is not a prefix of pairwiseDomain, nor the reverse.
const derivedKeyDomain = "TrustID/pairwise-derived-key/v1\x00"

// DeriveKey returns 32 bytes derived from version of the pairwise key for
// the use named by label: HMAC-SM3(P_v, "TrustID/pairwise-derived-key/v1"
// ‖ 0x00 ‖ label). Whoever lacks the pairwise key cannot compute it; each
// label gives an independent key. For node-side sealing of data only the
// holders of the pairwise key should read (api.BindingSubjects).
func (p *PairwiseDeriver) DeriveKey(version int, label string) ([]byte, error) {
	k := findKey(p.keys, version)
	if k == nil {
		return nil, ErrUnknownKeyVersion
	}
	if label == "" {
		return nil, fmt.Errorf("%w: empty label", ErrKeys)
	}
	return k.mac.Sum(nil, []byte(derivedKeyDomain+label)), nil
}
