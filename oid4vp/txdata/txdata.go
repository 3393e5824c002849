// Package txdata reads and writes the transaction data of OpenID for
// Verifiable Presentations 1.0 (§5.1 transaction_data, §8.4): typed
// objects, each sent base64url-encoded in the request, that the holder
// authorizes by presenting one of the credentials the object names, whose
// key binding proof then carries a hash of the encoded string. It links
// no server dependency: the node's verifier (package oid4vp) and the
// wallet SDK (sdk/wallet) share it, so both accept exactly the same
// objects.
package txdata

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/trustid-cn/trustid/internal/b64url"
	"github.com/trustid-cn/trustid/internal/strictjson"
)

// Errors. A wallet answers each with the OID4VP error code
// invalid_transaction_data.
var (
	// ErrInvalid: the object is malformed, misses a required member, has
	// a member its type does not define or a value out of range.
	ErrInvalid = errors.New("txdata: invalid transaction data")
	// ErrUnsupportedType: the type is not one this package knows.
	ErrUnsupportedType = errors.New("txdata: unsupported transaction data type")
	// ErrUnsupportedAlg: none of the object's hash algorithms is supported.
	ErrUnsupportedAlg = errors.New("txdata: no supported transaction_data_hashes_alg")
	// ErrSummaryText: the summary holds a code point that is not shown
	// as itself (a control or format character, private use, unassigned,
	// a line or paragraph separator, another default-ignorable or blank
	// character, a variation selector but U+FE0F after a symbol, over 4
	// combining marks in a row). It wraps ErrInvalid.
	ErrSummaryText = fmt.Errorf("%w: summary holds a character that is not displayed as itself", ErrInvalid)
)

// TypeConfirmation is TrustID's transaction data type: the holder
// confirms a statement the relying party makes (a payment, a signature,
// a consent), shown to them as Summary.
const TypeConfirmation = "urn:trustid:transaction-data:confirmation"

// HashSHA256 is the one hash algorithm supported (the default, §8.4 and
// Appendix B.3.3: "sha-256" in the IANA Named Information registry).
const HashSHA256 = "sha-256"

// Limits.
const (
	// MaxEncoded bounds one encoded object, in bytes.
	MaxEncoded = 4 << 10
	// MaxItems bounds the transaction data of one request.
	MaxItems = 8
	// MaxSummary bounds a confirmation's summary, in bytes of UTF-8.
	MaxSummary = 500
	maxIDs     = 16
	maxIDLen   = 64
	maxAlgs    = 8
)

// Item is one transaction data object.
type Item struct {
	// Type is the transaction data type (TypeConfirmation).
	Type string `json:"type"`
	// CredentialIDs are the DCQL credential query ids whose credential
	// may authorize the transaction; the wallet uses exactly one.
	CredentialIDs []string `json:"credential_ids"`
	// HashAlgs, when set, are the hash algorithms the wallet may use
	// (transaction_data_hashes_alg); absent means sha-256, and then the
	// key binding proof names none.
	HashAlgs []string `json:"transaction_data_hashes_alg,omitempty"`
	// Summary is what the holder confirms (TypeConfirmation): 1 to 500
	// bytes of UTF-8 whose every code point is graphic (letters, marks,
	// numbers, punctuation, symbols, spaces): no control or format
	// characters (bidirectional overrides and isolates, zero-width
	// characters, the byte order mark), private-use or unassigned code
	// points, so that the consent screen shows what is signed.
	Summary string `json:"summary"`
}

// Check checks it: a known type, 1 to 16 distinct credential IDs, hash
// algorithms that include a supported one, and the type's members.
func (it *Item) Check() error {
	if it.Type != TypeConfirmation {
		return fmt.Errorf("%w: %q", ErrUnsupportedType, short(it.Type))
	}
	if len(it.CredentialIDs) == 0 || len(it.CredentialIDs) > maxIDs {
		return fmt.Errorf("%w: credential_ids must hold 1 to %d ids", ErrInvalid, maxIDs)
	}
	for i, id := range it.CredentialIDs {
		if id == "" || len(id) > maxIDLen || slices.Contains(it.CredentialIDs[:i], id) {
			return fmt.Errorf("%w: credential_ids must be distinct non-empty ids of at most %d bytes", ErrInvalid, maxIDLen)
		}
	}
	if it.HashAlgs != nil {
		if len(it.HashAlgs) == 0 || len(it.HashAlgs) > maxAlgs {
			return fmt.Errorf("%w: transaction_data_hashes_alg must hold 1 to %d names", ErrInvalid, maxAlgs)
		}
		if _, err := it.Alg(); err != nil {
			return err
		}
	}
	if it.Summary == "" || len(it.Summary) > MaxSummary || !utf8.ValidString(it.Summary) {
		return fmt.Errorf("%w: summary must be 1 to %d bytes of UTF-8", ErrInvalid, MaxSummary)
	}
	marks, prev := 0, rune(-1)
	for _, r := range it.Summary {
		// IsGraphic is L, M, N, P, S and Zs: it leaves out Cc, Cf
		// (U+202E, U+2066-2069, U+200B-200F, U+FEFF...), Co, Cn, Zl, Zp.
		if !unicode.IsGraphic(r) || r == utf8.RuneError || invisible(r, prev) {
			return fmt.Errorf("%w: U+%04X", ErrSummaryText, r)
		}
		marks++
		if !unicode.In(r, unicode.Mn, unicode.Me) {
			marks = 0
		}
		if marks > maxMarks {
			return fmt.Errorf("%w: U+%04X is over %d combining marks in a row", ErrSummaryText, r, maxMarks)
		}
		prev = r
	}
	return nil
}

// maxMarks bounds a run of combining marks (Mn, Me) in a summary: enough
// for Vietnamese, Indic or Tibetan stacks, too few to pile marks over the
// text around it.
const maxMarks = 4

// invisible reports a graphic code point that shows as nothing or as a
// blank, so two summaries that differ by it look the same: the other
// Default_Ignorable code points (Hangul fillers U+115F, U+1160, U+3164,
// U+FFA0, the combining grapheme joiner...), the Braille blank U+2800,
// and variation selectors, except one U+FE0F (emoji presentation) right
// after a symbol (So), as in "❤️".
func invisible(r, prev rune) bool {
	switch {
	case r == 0x2800:
		return true
	case r == 0xFE0F:
		return !unicode.Is(unicode.So, prev)
	}
	return unicode.In(r, unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector)
}

// Alg is the hash algorithm the wallet uses for it: sha-256, which must
// be among HashAlgs when they are given.
func (it *Item) Alg() (string, error) {
	if it.HashAlgs == nil || slices.Contains(it.HashAlgs, HashSHA256) {
		return HashSHA256, nil
	}
	return "", ErrUnsupportedAlg
}

// Decode reads a JSON object (as a relying party sends it to the node)
// and checks it.
func Decode(raw []byte) (*Item, error) {
	if len(raw) > MaxEncoded {
		return nil, fmt.Errorf("%w: over %d bytes", ErrInvalid, MaxEncoded)
	}
	m, err := strictjson.Object(raw, MaxEncoded)
	if err != nil {
		return nil, fmt.Errorf("%w: not a JSON object", ErrInvalid)
	}
	// The type first: an unknown type is refused as such, whatever its
	// members.
	typ, ok := m["type"].(string)
	if !ok {
		return nil, fmt.Errorf("%w: type is required", ErrInvalid)
	}
	if typ != TypeConfirmation {
		return nil, fmt.Errorf("%w: %q", ErrUnsupportedType, short(typ))
	}
	var it Item
	if err := strictjson.Decode(raw, &it, MaxEncoded); err != nil {
		return nil, fmt.Errorf("%w: a member is unknown to the type or malformed", ErrInvalid)
	}
	if err := it.Check(); err != nil {
		return nil, err
	}
	return &it, nil
}

// Parse reads one string of a request's transaction_data: base64url
// (unpadded) of a JSON object, checked as Decode does.
func Parse(encoded string) (*Item, error) {
	if len(encoded) > MaxEncoded*4/3+4 {
		return nil, fmt.Errorf("%w: over %d bytes", ErrInvalid, MaxEncoded)
	}
	raw, err := b64url.DecodeString(encoded)
	if err != nil {
		return nil, fmt.Errorf("%w: not unpadded base64url", ErrInvalid)
	}
	return Decode(raw)
}

// Encode checks it and returns its request form: base64url of its JSON.
func Encode(it *Item) (string, error) {
	if err := it.Check(); err != nil {
		return "", err
	}
	raw, err := strictjson.Marshal(it)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(raw), nil
}

// ParseRequest reads a request's transaction_data (a JSON array of
// strings, as decoded into []any) against its DCQL credential query ids:
// 1 to 8 items, each naming only ids of the query.
func ParseRequest(v any, queryIDs []string) ([]string, []*Item, error) {
	list, ok := v.([]any)
	if !ok || len(list) == 0 || len(list) > MaxItems {
		return nil, nil, fmt.Errorf("%w: transaction_data must be an array of 1 to %d strings", ErrInvalid, MaxItems)
	}
	encoded := make([]string, 0, len(list))
	items := make([]*Item, 0, len(list))
	for _, x := range list {
		s, ok := x.(string)
		if !ok {
			return nil, nil, fmt.Errorf("%w: transaction_data must be an array of strings", ErrInvalid)
		}
		it, err := Parse(s)
		if err != nil {
			return nil, nil, err
		}
		if err := it.CheckIDs(queryIDs); err != nil {
			return nil, nil, err
		}
		encoded, items = append(encoded, s), append(items, it)
	}
	return encoded, items, nil
}

// CheckIDs checks that every credential ID is one of the query's.
func (it *Item) CheckIDs(queryIDs []string) error {
	for _, id := range it.CredentialIDs {
		if !slices.Contains(queryIDs, id) {
			return fmt.Errorf("%w: credential_ids names %q, no credential query of the request", ErrInvalid, short(id))
		}
	}
	return nil
}

// Hash is the transaction_data_hashes entry of an encoded item: base64url
// of the hash, under alg, of the string exactly as the request carried it.
func Hash(encoded, alg string) (string, error) {
	if alg != HashSHA256 {
		return "", ErrUnsupportedAlg
	}
	sum := sha256.Sum256([]byte(encoded))
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

func short(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}
