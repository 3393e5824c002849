package identity

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"unicode/utf8"
)

// pairwiseDomain separates pairwise derivation from every other use of the
// pairwise key. Version 2 added the sector kind.
const pairwiseDomain = "TrustID/pairwise/v2\x00"

// MaxSectorLen bounds a sector's name, in bytes.
const MaxSectorLen = 255

// SectorKind says what a sector's name is. It is a byte of the derivation
// input ahead of the name, so names of different kinds never give one
// pairwise ID: a client registered with the client ID "bank.example" and
// no sector identifier does not get the IDs of the party whose sector
// identifier is bank.example.
type SectorKind byte

// Sector kinds.
const (
	// SectorClientID: the name is a client ID, used because the relying
	// party registered no sector identifier.
	SectorClientID SectorKind = 0x01
	// SectorIdentifier: the name is a registered sector identifier, the
	// lower-case DNS host of the party's sector_identifier_uri (OpenID
	// Connect Core 1.0, section 8.1), unique in the consortium.
	SectorIdentifier SectorKind = 0x02
	// SectorInternal: the name is a sector of the nodes' own (such as the
	// binding subject's), never a relying party's.
	SectorInternal SectorKind = 0x03
)

// Sector is what a pairwise ID is derived for: a kind and a name.
type Sector struct {
	Kind SectorKind
	Name string
}

// Check reports ErrInvalidSector unless s has a known kind and a name of
// 1 to MaxSectorLen bytes of UTF-8 without control characters; the name
// of a SectorIdentifier must be a lower-case DNS host name (ValidHost).
func (s Sector) Check() error {
	switch s.Kind {
	case SectorClientID, SectorInternal:
		return checkSectorName(s.Name)
	case SectorIdentifier:
		if !ValidHost(s.Name) {
			return ErrInvalidSector
		}
		return nil
	}
	return ErrInvalidSector
}

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
	p.scratch.New = func() any { return new([len(pairwiseDomain) + 2 + SymbolSize + MaxSectorLen + 32]byte) }
	return p, nil
}

// Version returns the current pairwise key version.
func (p *PairwiseDeriver) Version() int { return int(p.keys[0].ver) }

// Derive returns the pairwise ID of sym for a sector under the current
// pairwise key: a relying party's sector identifier, or its client ID
// when it registered none. The sector must pass Sector.Check.
func (p *PairwiseDeriver) Derive(sym Symbol, sector Sector) (PairwiseID, error) {
	return p.derive(&p.keys[0], sym, sector)
}

// DeriveVersion is Derive under one version of the pairwise key.
func (p *PairwiseDeriver) DeriveVersion(sym Symbol, sector Sector, version int) (PairwiseID, error) {
	k := findKey(p.keys, version)
	if k == nil {
		return PairwiseID{}, ErrUnknownKeyVersion
	}
	return p.derive(k, sym, sector)
}

// derive computes HMAC-SM3(P_v, pairwiseDomain ‖ sector kind ‖ symbol
// version ‖ symbol MAC ‖ sector name) truncated to SymbolSize bytes. The
// kind and the symbol part have fixed lengths, so the name needs no
// delimiter.
func (p *PairwiseDeriver) derive(k *macKey, sym Symbol, sector Sector) (PairwiseID, error) {
	if sym.IsZero() {
		return PairwiseID{}, ErrZeroIdentifier
	}
	if err := sector.Check(); err != nil {
		return PairwiseID{}, err
	}
	buf := p.scratch.Get().(*[len(pairwiseDomain) + 2 + SymbolSize + MaxSectorLen + 32]byte)
	msg := append(buf[:0], pairwiseDomain...)
	msg = append(msg, byte(sector.Kind), sym.x.ver)
	msg = append(msg, sym.x.mac[:]...)
	msg = append(msg, sector.Name...)
	sum := k.mac.Sum(msg[len(msg):len(msg)], msg)
	id := PairwiseID{x: ident{ver: k.ver}}
	copy(id.x.mac[:], sum)
	clear(buf[:])
	p.scratch.Put(buf)
	return id, nil
}

func checkSectorName(s string) error {
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

// ValidHost reports whether s is a lower-case DNS host name: dot-separated
// labels of 1 to 63 characters from a-z 0-9 -, not starting or ending with
// a hyphen, 253 bytes at most. A sector identifier is one.
func ValidHost(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// derivedKeyDomain separates keys derived from the pairwise key from
// pairwise IDs: it is not a prefix of pairwiseDomain, nor the reverse.
const derivedKeyDomain = "TrustID/pairwise-derived-key/v1\x00"

// DeriveKey returns 32 bytes derived from version of the pairwise key for
// the use named by label: HMAC-SM3(P_v, "TrustID/pairwise-derived-key/v1"
// ‖ 0x00 ‖ label). Whoever lacks the pairwise key cannot compute it; each
// label gives an independent key. For node-side sealing of data only the
// holders of the pairwise key should read (BindingSubjects).
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
