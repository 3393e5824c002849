// Package sdjwt implements Selective Disclosure for JWTs (RFC 9901):
// issuing an SD-JWT with object-property and array-element disclosures,
// decoy digests and recursive disclosures; holders presenting a subset of
// disclosures with a Key Binding JWT (typ kb+jwt, aud, nonce, iat,
// sd_hash); and verifiers checking the issuer signature against an
// allow-list of algorithms, every disclosure against exactly one digest,
// and the key binding. Only the hash algorithm sha-256 is supported.
//
// The SD-JWT VC profile (typ dc+sd-jwt, vct, status) is applied by package
// credentials on top of this one.
package sdjwt

import (
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/credentials/internal/jose"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/b64url"
	"github.com/trustid-cn/trustid/internal/strictjson"
)

// Errors. Test with errors.Is.
var (
	ErrMalformed       = errors.New("sdjwt: malformed SD-JWT")
	ErrAlgorithm       = errors.New("sdjwt: algorithm not allowed")
	ErrType            = errors.New("sdjwt: wrong typ header")
	ErrSignature       = errors.New("sdjwt: issuer signature invalid")
	ErrHashAlgorithm   = errors.New("sdjwt: unsupported _sd_alg")
	ErrDisclosure      = errors.New("sdjwt: invalid disclosure")
	ErrUnmatched       = errors.New("sdjwt: disclosure matches no digest")
	ErrDuplicateDigest = errors.New("sdjwt: digest appears more than once")
	ErrReservedName    = errors.New("sdjwt: disclosure uses a reserved or existing claim name")
	ErrNotDisclosable  = errors.New("sdjwt: claim must not be selectively disclosable")
	ErrExpired         = errors.New("sdjwt: expired")
	ErrNotYetValid     = errors.New("sdjwt: not yet valid")
	ErrKeyBinding      = errors.New("sdjwt: key binding invalid")
	ErrNoKeyBinding    = errors.New("sdjwt: key binding required but absent")
	ErrNonce           = errors.New("sdjwt: key binding nonce mismatch")
	ErrAudience        = errors.New("sdjwt: key binding audience mismatch")
	ErrSDHash          = errors.New("sdjwt: key binding sd_hash mismatch")
	ErrStale           = errors.New("sdjwt: key binding iat outside the accepted window")
)

// Media types and names.
const (
	HashSHA256 = "sha-256"
	TypKB      = "kb+jwt"
	// Max bounds a whole SD-JWT presentation.
	Max = 512 << 10
	// maxDisclosures bounds the number of disclosures.
	maxDisclosures = 1024
)

var b64 = base64.RawURLEncoding

// Disclosure is one decoded disclosure.
type Disclosure struct {
	Salt  string
	Name  string // "" for an array element
	Value any
	// Array is true for an array-element disclosure [salt, value].
	Array   bool
	Encoded string // the base64url form as transmitted
	Digest  string // base64url(SHA-256(Encoded))
}

// Digest returns base64url(SHA-256(encoded)), the digest of a disclosure
// as it appears in _sd arrays and {"...": digest} elements.
func Digest(encoded string) string {
	sum := sha256.Sum256([]byte(encoded))
	return b64.EncodeToString(sum[:])
}

// reserved claim names that a disclosure must not carry.
var reserved = []string{"_sd", "...", "_sd_alg"}

// ParseDisclosure decodes one disclosure strictly: base64url of a JSON
// array [salt, name, value] or [salt, value], the salt a string, the name
// a string that is not a reserved name.
func ParseDisclosure(encoded string) (*Disclosure, error) {
	raw, err := b64url.DecodeString(encoded)
	if err != nil {
		return nil, fmt.Errorf("%w: not base64url", ErrDisclosure)
	}
	var arr []any
	if err := strictjson.Decode(raw, &arr, Max); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDisclosure, err)
	}
	d := &Disclosure{Encoded: encoded, Digest: Digest(encoded)}
	var ok bool
	switch len(arr) {
	case 3:
		if d.Name, ok = arr[1].(string); !ok {
			return nil, fmt.Errorf("%w: claim name must be a string", ErrDisclosure)
		}
		if slices.Contains(reserved, d.Name) {
			return nil, fmt.Errorf("%w: %q", ErrReservedName, d.Name)
		}
		d.Value = arr[2]
	case 2:
		d.Array, d.Value = true, arr[1]
	default:
		return nil, fmt.Errorf("%w: want 2 or 3 elements, got %d", ErrDisclosure, len(arr))
	}
	if d.Salt, ok = arr[0].(string); !ok || d.Salt == "" {
		return nil, fmt.Errorf("%w: salt must be a non-empty string", ErrDisclosure)
	}
	return d, nil
}

// encodeDisclosure builds a disclosure from its parts: a salt, a claim
// name (not reserved) and a value, or a salt and an array element. Its
// Value is the value given. The JSON is checked as ParseDisclosure
// checks it (limits, nesting), without decoding it again.
func encodeDisclosure(parts []any) (*Disclosure, error) {
	raw, err := strictjson.Marshal(parts)
	if err != nil {
		return nil, err
	}
	if err := strictjson.Check(raw, Max); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDisclosure, err)
	}
	e := b64.EncodeToString(raw)
	d := &Disclosure{Value: parts[len(parts)-1], Array: len(parts) == 2, Encoded: e, Digest: Digest(e)}
	d.Salt, _ = parts[0].(string)
	if !d.Array {
		d.Name, _ = parts[1].(string)
	}
	return d, nil
}

// Frame says which claims to make selectively disclosable. At each object
// level, SD lists the claim names to conceal and Nested gives frames for
// members (objects, recursively) or arrays; for an array, Elements lists
// the indices to conceal. Decoys adds that many decoy digests to each _sd
// array made (and to each concealed array).
type Frame struct {
	SD       []string
	Nested   map[string]*Frame
	Elements []int
	Decoys   int
}

// Issuer conceals claims. Rand provides salts and decoys.
type Issuer struct {
	Rand io.Reader
}

func (is *Issuer) salt() (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(is.Rand, b[:]); err != nil {
		return "", fmt.Errorf("sdjwt: random: %w", err)
	}
	return b64.EncodeToString(b[:]), nil
}

func (is *Issuer) decoy() (string, error) {
	s, err := is.salt()
	if err != nil {
		return "", err
	}
	return Digest(s), nil
}

// Conceal returns a copy of claims with the framed claims replaced by
// digests, and the disclosures, in the order made (inner ones first). The
// payload gets "_sd_alg": "sha-256".
func (is *Issuer) Conceal(claims map[string]any, frame *Frame) (map[string]any, []*Disclosure, error) {
	var all []*Disclosure
	out, err := is.concealObject(claims, frame, &all)
	if err != nil {
		return nil, nil, err
	}
	out["_sd_alg"] = HashSHA256
	return out, all, nil
}

func (is *Issuer) concealObject(obj map[string]any, f *Frame, all *[]*Disclosure) (map[string]any, error) {
	out := make(map[string]any, len(obj)+1)
	for k, v := range obj {
		if slices.Contains(reserved, k) {
			return nil, fmt.Errorf("%w: claim %q", ErrReservedName, k)
		}
		out[k] = v
	}
	if f == nil {
		return out, nil
	}
	for name, sub := range f.Nested {
		v, ok := out[name]
		if !ok {
			return nil, fmt.Errorf("sdjwt: frame names a missing claim %q", name)
		}
		switch t := v.(type) {
		case map[string]any:
			c, err := is.concealObject(t, sub, all)
			if err != nil {
				return nil, err
			}
			out[name] = c
		case []any:
			c, err := is.concealArray(t, sub, all)
			if err != nil {
				return nil, err
			}
			out[name] = c
		default:
			return nil, fmt.Errorf("sdjwt: frame nests into %q, which is not an object or array", name)
		}
	}
	var digests []string
	for _, name := range f.SD {
		v, ok := out[name]
		if !ok {
			return nil, fmt.Errorf("sdjwt: frame names a missing claim %q", name)
		}
		salt, err := is.salt()
		if err != nil {
			return nil, err
		}
		d, err := encodeDisclosure([]any{salt, name, v})
		if err != nil {
			return nil, err
		}
		*all = append(*all, d)
		digests = append(digests, d.Digest)
		delete(out, name)
	}
	if len(digests) > 0 || f.Decoys > 0 {
		for range f.Decoys {
			d, err := is.decoy()
			if err != nil {
				return nil, err
			}
			digests = append(digests, d)
		}
		slices.Sort(digests) // order reveals nothing about the claims
		list := make([]any, len(digests))
		for i, d := range digests {
			list[i] = d
		}
		out["_sd"] = list
	}
	return out, nil
}

func (is *Issuer) concealArray(arr []any, f *Frame, all *[]*Disclosure) ([]any, error) {
	out := slices.Clone(arr)
	for _, i := range f.Elements {
		if i < 0 || i >= len(out) {
			return nil, fmt.Errorf("sdjwt: frame conceals element %d of an array of %d", i, len(out))
		}
		salt, err := is.salt()
		if err != nil {
			return nil, err
		}
		d, err := encodeDisclosure([]any{salt, out[i]})
		if err != nil {
			return nil, err
		}
		*all = append(*all, d)
		out[i] = map[string]any{"...": d.Digest}
	}
	for range f.Decoys {
		d, err := is.decoy()
		if err != nil {
			return nil, err
		}
		out = append(out, map[string]any{"...": d})
	}
	return out, nil
}

// Serialize joins an issuer-signed JWT and disclosures into
// "<jwt>~<d1>~...~<dn>~" (an SD-JWT without key binding).
func Serialize(jwtCompact string, ds []*Disclosure) string {
	var b strings.Builder
	b.WriteString(jwtCompact)
	b.WriteByte('~')
	for _, d := range ds {
		b.WriteString(d.Encoded)
		b.WriteByte('~')
	}
	return b.String()
}

// SDJWT is a split, unverified SD-JWT.
type SDJWT struct {
	JWT         string
	Disclosures []*Disclosure
	KB          string // the Key Binding JWT, or ""
	// prefix is everything up to and including the last '~' before KB: the
	// input of sd_hash.
	prefix string
}

// Split parses the compact serialization without verifying anything but
// the disclosure syntax.
func Split(s string) (*SDJWT, error) {
	if len(s) > Max {
		return nil, fmt.Errorf("%w: over %d bytes", ErrMalformed, Max)
	}
	last := strings.LastIndexByte(s, '~')
	if last < 0 {
		return nil, fmt.Errorf("%w: no '~' separator", ErrMalformed)
	}
	out := &SDJWT{prefix: s[:last+1], KB: s[last+1:]}
	parts := strings.Split(s[:last], "~")
	out.JWT = parts[0]
	if out.JWT == "" {
		return nil, fmt.Errorf("%w: empty issuer-signed JWT", ErrMalformed)
	}
	if len(parts)-1 > maxDisclosures {
		return nil, fmt.Errorf("%w: too many disclosures", ErrMalformed)
	}
	for _, p := range parts[1:] {
		if p == "" {
			return nil, fmt.Errorf("%w: empty disclosure", ErrMalformed)
		}
		d, err := ParseDisclosure(p)
		if err != nil {
			return nil, err
		}
		out.Disclosures = append(out.Disclosures, d)
	}
	return out, nil
}

// SDHash returns base64url(SHA-256) of the presentation prefix that a
// KB-JWT's sd_hash covers.
func (s *SDJWT) SDHash() string { return Digest(s.prefix) }

// Present builds a presentation with the disclosures keep selects, then
// (when kb is not nil) a Key Binding JWT over it signed by the holder.
// Every disclosure keep selects must be reachable, its digest in the
// issuer-signed JWT or in another one selected (RFC 9901 §7.2): a holder
// revealing an inner claim reveals its parents too; else ErrUnmatched.
func (s *SDJWT) Present(keep func(*Disclosure) bool, kb *KeyBinding) (string, error) {
	var ds []*Disclosure
	for _, d := range s.Disclosures {
		if keep(d) {
			ds = append(ds, d)
		}
	}
	if err := s.reachable(ds); err != nil {
		return "", err
	}
	pres := Serialize(s.JWT, ds)
	if kb == nil {
		return pres, nil
	}
	claims := map[string]any{
		"iat":     kb.IssuedAt.Unix(),
		"aud":     kb.Audience,
		"nonce":   kb.Nonce,
		"sd_hash": Digest(pres),
	}
	if len(kb.TransactionDataHashes) > 0 {
		claims["transaction_data_hashes"] = kb.TransactionDataHashes
		if kb.TransactionDataHashesAlg != "" {
			claims["transaction_data_hashes_alg"] = kb.TransactionDataHashesAlg
		}
	}
	tok, err := jose.Sign(claims, map[string]any{"typ": TypKB}, kb.Signer)
	if err != nil {
		return "", err
	}
	return pres + tok, nil
}

// reachable checks, as a verifier will (Process), that every one of ds
// is reached from the issuer-signed JWT's payload, read unverified.
func (s *SDJWT) reachable(ds []*Disclosure) error {
	parts := strings.Split(s.JWT, ".")
	if len(parts) != 3 {
		return fmt.Errorf("%w: the issuer-signed JWT is not a compact JWS", ErrMalformed)
	}
	raw, err := b64url.DecodeString(parts[1])
	if err != nil {
		return fmt.Errorf("%w: the issuer-signed JWT's payload is not base64url", ErrMalformed)
	}
	payload, err := strictjson.Object(raw, Max)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if _, err := Process(payload, ds); err != nil {
		if errors.Is(err, ErrUnmatched) {
			return fmt.Errorf("%w: a disclosure selected is nested in one not selected", ErrUnmatched)
		}
		return err
	}
	return nil
}

// KeyBinding is what a holder signs into a KB-JWT.
type KeyBinding struct {
	Signer   crypto.Signer
	Audience string
	Nonce    string
	IssuedAt time.Time
	// TransactionDataHashes, when set, are the OID4VP transaction data
	// the holder authorizes (OID4VP 1.0 Appendix B.3.3), hashed with
	// TransactionDataHashesAlg (written only when set).
	TransactionDataHashes    []string
	TransactionDataHashesAlg string
}

// VerifyOptions configures Verify. Algorithms is required.
type VerifyOptions struct {
	// Algorithms allowed for the issuer JWT and the KB-JWT.
	Algorithms []string
	// Typs, when set, are the typs the issuer-signed JWT may have.
	Typs []string
	// Key returns the issuer's key for the JWT's header and payload (not
	// yet verified: use them only to find the key).
	Key func(header map[string]any, payload map[string]any) (crypto.PublicKey, error)
	// Now is the clock; Leeway the allowed skew.
	Now    func() time.Time
	Leeway time.Duration
	// RequireKeyBinding is the verifier's policy: it demands a KB-JWT,
	// whose nonce and aud must be Nonce and Audience and whose iat MaxAge
	// bounds (default 5 minutes). Without it, a KB-JWT the holder sent is
	// separated and not checked (RFC 9901 §7.3: whether Key Binding is
	// checked "MUST NOT be based on whether or not a Key Binding JWT is
	// provided by the Holder"; its steps check one only "If Key Binding
	// is required").
	RequireKeyBinding bool
	Audience, Nonce   string
	MaxAge            time.Duration
}

// Verified is a verified SD-JWT.
type Verified struct {
	Header map[string]any
	// Claims are the processed claims: disclosed values in place, _sd,
	// _sd_alg and undisclosed array elements removed.
	Claims      map[string]any
	Disclosures []*Disclosure
	// Payload is the issuer-signed JWT's payload as signed (digests in
	// place). Read only.
	Payload map[string]any
	// KeyBound reports that a KB-JWT was required and verified; KBClaims
	// are its claims then, nil otherwise.
	KeyBound bool
	KBClaims map[string]any
}

// Verify checks an SD-JWT or SD-JWT+KB presentation (RFC 9901 §7.1,
// §7.3): the issuer-signed JWT and the disclosures, then, only when
// opts.RequireKeyBinding, the KB-JWT.
func Verify(s string, opts VerifyOptions) (*Verified, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	sd, err := Split(s)
	if err != nil {
		return nil, err
	}
	// Refused before the issuer's key is asked for (a resolution, for a
	// did:web issuer a fetch): a presentation without its KB-JWT.
	if sd.KB == "" && opts.RequireKeyBinding {
		return nil, ErrNoKeyBinding
	}
	hdr, err := jose.ParseHeader(sd.JWT, opts.Algorithms)
	if err != nil {
		return nil, mapJose(err)
	}
	if len(opts.Typs) > 0 && !slices.Contains(opts.Typs, hdr.String("typ")) {
		return nil, fmt.Errorf("%w: typ %q, want %q", ErrType, hdr.String("typ"), opts.Typs[0])
	}
	parser, err := gm.NewJWTParser(opts.Algorithms, jwt.WithTimeFunc(opts.Now), jwt.WithLeeway(opts.Leeway))
	if err != nil {
		return nil, err
	}
	claims := &jose.Claims{Max: Max}
	_, err = parser.ParseWithClaims(sd.JWT, claims, func(t *jwt.Token) (any, error) {
		pub, err := opts.Key(hdr, claims.Raw)
		if err != nil {
			return nil, err
		}
		if !jose.KeyMatches(pub, hdr.String("alg")) {
			return nil, fmt.Errorf("%w: key does not match alg %s", ErrAlgorithm, hdr.String("alg"))
		}
		return pub, nil
	})
	if err != nil {
		return nil, mapJWT(err)
	}
	out := &Verified{Header: hdr, Disclosures: sd.Disclosures, Payload: claims.Raw}
	if out.Claims, err = Process(claims.Raw, sd.Disclosures); err != nil {
		return nil, err
	}
	// RFC 9901 §7.3 step 5: "If Key Binding is required", and only then,
	// the KB-JWT is verified; the policy, not its presence, decides.
	if !opts.RequireKeyBinding {
		return out, nil
	}
	if out.KBClaims, err = verifyKB(sd, out.Claims, opts); err != nil {
		return nil, err
	}
	out.KeyBound = true
	return out, nil
}

// CheckClear refuses (ErrNotDisclosable) a top-level claim of names, those
// a profile requires in the clear, that is selectively disclosable: given
// by a disclosure, or holding digests in the issuer-signed JWT (an _sd
// member or a {"...": digest} element, disclosed or not). A claim made
// selectively disclosable and withheld leaves no trace to check: that is
// the issuer's to avoid.
func (v *Verified) CheckClear(names []string) error {
	for _, n := range names {
		val, signed := v.Payload[n]
		if _, disclosed := v.Claims[n]; disclosed && !signed {
			return fmt.Errorf("%w: %q is given by a disclosure", ErrNotDisclosable, n)
		}
		if signed && hasDigests(val) {
			return fmt.Errorf("%w: %q holds selectively disclosable members", ErrNotDisclosable, n)
		}
	}
	return nil
}

// CheckNoneWithheld refuses (ErrNotDisclosable) a digest at the top level
// of the issuer-signed JWT that no presented disclosure matches: a claim
// withheld, or a decoy, which a verifier cannot tell apart. A profile needs
// it where a withheld claim could be one CheckClear requires in the clear
// (CheckClear cannot see a claim that is not there): when the issuer-signed
// JWT's signer is not the only one who presents it.
func (v *Verified) CheckNoneWithheld() error {
	list, _ := v.Payload["_sd"].([]any)
	for _, x := range list {
		dg, _ := x.(string)
		if !slices.ContainsFunc(v.Disclosures, func(d *Disclosure) bool { return d.Digest == dg }) {
			return fmt.Errorf("%w: a top-level claim is withheld", ErrNotDisclosable)
		}
	}
	return nil
}

// hasDigests reports whether v holds, at any depth, an object with an _sd
// member or a "..." one (an array element's digest: Process has checked
// the shapes).
func hasDigests(v any) bool {
	switch t := v.(type) {
	case map[string]any:
		_, sd := t["_sd"]
		_, el := t["..."]
		if sd || el {
			return true
		}
		for _, x := range t {
			if hasDigests(x) {
				return true
			}
		}
	case []any:
		for _, x := range t {
			if hasDigests(x) {
				return true
			}
		}
	}
	return false
}

func mapJose(err error) error {
	switch {
	case errors.Is(err, jose.ErrAlgorithm):
		return fmt.Errorf("%w: %w", ErrAlgorithm, err)
	default:
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
}

func mapJWT(err error) error {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return fmt.Errorf("%w: %w", ErrExpired, err)
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return fmt.Errorf("%w: %w", ErrNotYetValid, err)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return fmt.Errorf("%w: %w", ErrSignature, err)
	case errors.Is(err, jwt.ErrTokenMalformed), errors.Is(err, jwt.ErrTokenInvalidClaims):
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return err // key lookup errors keep their own sentinel
}

// Process replaces digests by the disclosed values (RFC 9901 §7.1, steps
// 3-5): every digest may appear once, every disclosure must match exactly
// one digest of the right kind, disclosed names must not be reserved or
// already present. The payload is not modified.
func Process(payload map[string]any, ds []*Disclosure) (map[string]any, error) {
	if alg, ok := payload["_sd_alg"]; ok && alg != HashSHA256 {
		return nil, fmt.Errorf("%w: %v", ErrHashAlgorithm, alg)
	}
	byDigest := make(map[string]*Disclosure, len(ds))
	for _, d := range ds {
		if _, dup := byDigest[d.Digest]; dup {
			return nil, fmt.Errorf("%w: a disclosure is given twice", ErrDuplicateDigest)
		}
		byDigest[d.Digest] = d
	}
	p := processor{byDigest: byDigest, seen: map[string]bool{}, used: map[string]bool{}}
	out, err := p.object(payload, 0)
	if err != nil {
		return nil, err
	}
	delete(out, "_sd_alg")
	for _, d := range ds {
		if !p.used[d.Digest] {
			return nil, ErrUnmatched
		}
	}
	return out, nil
}

type processor struct {
	byDigest map[string]*Disclosure
	seen     map[string]bool // digests met in the payload
	used     map[string]bool // disclosures consumed
}

func (p *processor) see(digest any) (string, error) {
	s, ok := digest.(string)
	if !ok || s == "" {
		return "", fmt.Errorf("%w: digests must be strings", ErrMalformed)
	}
	if p.seen[s] {
		return "", ErrDuplicateDigest
	}
	p.seen[s] = true
	return s, nil
}

func (p *processor) value(v any, depth int) (any, error) {
	if depth > strictjson.MaxDepth {
		return nil, fmt.Errorf("%w: nesting too deep", ErrMalformed)
	}
	switch t := v.(type) {
	case map[string]any:
		return p.object(t, depth+1)
	case []any:
		return p.array(t, depth+1)
	}
	return v, nil
}

// object processes an object of the payload (depth 0: the payload
// itself) or of a disclosed value. RFC 9901 §4.1: the payload "MUST NOT
// contain the claims _sd or ... except for the purpose of conveying
// digests" (an _sd array here; "..." only as the one member of an array
// element, which array reads), and §4.1.1: _sd_alg "MUST appear at the
// top level of the SD-JWT payload. It MUST NOT be used in any object
// nested within the payload." Either elsewhere is refused, whatever its
// value.
func (p *processor) object(obj map[string]any, depth int) (map[string]any, error) {
	if _, ok := obj["..."]; ok {
		return nil, fmt.Errorf("%w: \"...\" outside an array element", ErrMalformed)
	}
	if _, ok := obj["_sd_alg"]; ok && depth > 0 {
		return nil, fmt.Errorf("%w: _sd_alg in a nested object", ErrMalformed)
	}
	out := make(map[string]any, len(obj))
	for k, v := range obj {
		if k == "_sd" {
			continue
		}
		pv, err := p.value(v, depth)
		if err != nil {
			return nil, err
		}
		out[k] = pv
	}
	sdv, ok := obj["_sd"]
	if !ok {
		return out, nil
	}
	list, ok := sdv.([]any)
	if !ok {
		return nil, fmt.Errorf("%w: _sd must be an array", ErrMalformed)
	}
	for _, x := range list {
		dg, err := p.see(x)
		if err != nil {
			return nil, err
		}
		d, ok := p.byDigest[dg]
		if !ok {
			continue // a decoy or an undisclosed claim
		}
		if d.Array {
			return nil, fmt.Errorf("%w: array-element disclosure referenced from _sd", ErrDisclosure)
		}
		if _, exists := out[d.Name]; exists {
			return nil, fmt.Errorf("%w: %q already present", ErrReservedName, d.Name)
		}
		p.used[dg] = true
		pv, err := p.value(d.Value, depth)
		if err != nil {
			return nil, err
		}
		out[d.Name] = pv
	}
	return out, nil
}

func (p *processor) array(arr []any, depth int) ([]any, error) {
	out := make([]any, 0, len(arr))
	for _, el := range arr {
		if m, ok := el.(map[string]any); ok {
			if dv, ok := m["..."]; ok {
				if len(m) != 1 {
					return nil, fmt.Errorf("%w: an array digest object must have only \"...\"", ErrMalformed)
				}
				dg, err := p.see(dv)
				if err != nil {
					return nil, err
				}
				d, ok := p.byDigest[dg]
				if !ok {
					continue // undisclosed element or decoy: removed
				}
				if !d.Array {
					return nil, fmt.Errorf("%w: object-property disclosure referenced from an array", ErrDisclosure)
				}
				p.used[dg] = true
				pv, err := p.value(d.Value, depth)
				if err != nil {
					return nil, err
				}
				out = append(out, pv)
				continue
			}
		}
		pv, err := p.value(el, depth)
		if err != nil {
			return nil, err
		}
		out = append(out, pv)
	}
	return out, nil
}

// ConfirmationKey returns the public key a cnf claim (RFC 7800 §3.2)
// confirms by value, its jwk, read as RFC 7517 asks: member names match
// exactly (one that matches a known name only in another case is
// refused), members not understood are ignored (§4: they "MUST be
// ignored": key_ops, ext, x5c, ...), and a private key (d) is refused.
// Other confirmation methods (kid, jku, jkt) are not supported.
func ConfirmationKey(cnf any) (crypto.PublicKey, error) {
	m, _ := cnf.(map[string]any)
	jwkv, ok := m["jwk"].(map[string]any)
	if !ok {
		return nil, errors.New("no cnf.jwk")
	}
	raw, _ := json.Marshal(jwkv)
	var jwk gm.JWK
	if err := strictjson.DecodeOpen(raw, &jwk, 8<<10); err != nil {
		return nil, fmt.Errorf("cnf.jwk: %v", err)
	}
	if _, priv := jwkv["d"]; priv {
		return nil, errors.New("cnf.jwk holds a private key")
	}
	pub, err := jwk.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("cnf.jwk: %v", err)
	}
	return pub, nil
}

// verifyKB checks the KB-JWT against cnf.jwk of the processed claims.
func verifyKB(sd *SDJWT, claims map[string]any, opts VerifyOptions) (map[string]any, error) {
	if _, ok := claims["cnf"]; !ok {
		return nil, fmt.Errorf("%w: a KB-JWT is present but the SD-JWT has no cnf.jwk", ErrKeyBinding)
	}
	holder, err := ConfirmationKey(claims["cnf"])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeyBinding, err)
	}
	hdr, err := jose.ParseHeader(sd.KB, opts.Algorithms)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeyBinding, mapJose(err))
	}
	if hdr.String("typ") != TypKB {
		return nil, fmt.Errorf("%w: %w: KB-JWT typ %q", ErrKeyBinding, ErrType, hdr.String("typ"))
	}
	if !jose.KeyMatches(holder, hdr.String("alg")) {
		return nil, fmt.Errorf("%w: %w: holder key does not match alg", ErrKeyBinding, ErrAlgorithm)
	}
	parser, err := gm.NewJWTParser(opts.Algorithms, jwt.WithoutClaimsValidation())
	if err != nil {
		return nil, err
	}
	kc := &jose.Claims{Max: 16 << 10}
	if _, err := parser.ParseWithClaims(sd.KB, kc, func(*jwt.Token) (any, error) { return holder, nil }); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeyBinding, mapJWT(err))
	}
	iat, err := kc.GetIssuedAt()
	if err != nil || iat == nil {
		return nil, fmt.Errorf("%w: iat is required", ErrKeyBinding)
	}
	maxAge := opts.MaxAge
	if maxAge == 0 {
		maxAge = 5 * time.Minute
	}
	now := opts.Now()
	if iat.After(now.Add(opts.Leeway)) || iat.Before(now.Add(-maxAge-opts.Leeway)) {
		return nil, fmt.Errorf("%w: %w", ErrKeyBinding, ErrStale)
	}
	// RFC 7519 §4.1.4: not accepted on or after exp (plus the leeway).
	if exp, err := kc.GetExpirationTime(); err != nil || (exp != nil && !now.Before(exp.Add(opts.Leeway))) {
		return nil, fmt.Errorf("%w: %w", ErrKeyBinding, ErrExpired)
	}
	// RFC 9901 §7.3: "a valid JWT in all other respects, per [RFC7519]",
	// whose §4.1.5 says it "MUST NOT be accepted" before its nbf.
	if nbf, err := kc.GetNotBefore(); err != nil || (nbf != nil && now.Add(opts.Leeway).Before(nbf.Time)) {
		return nil, fmt.Errorf("%w: %w", ErrKeyBinding, ErrNotYetValid)
	}
	if n, _ := kc.Raw["nonce"].(string); n == "" || n != opts.Nonce {
		return nil, fmt.Errorf("%w: %w", ErrKeyBinding, ErrNonce)
	}
	if a, _ := kc.Raw["aud"].(string); a == "" || a != opts.Audience {
		return nil, fmt.Errorf("%w: %w", ErrKeyBinding, ErrAudience)
	}
	if h, _ := kc.Raw["sd_hash"].(string); h != sd.SDHash() {
		return nil, fmt.Errorf("%w: %w", ErrKeyBinding, ErrSDHash)
	}
	return kc.Raw, nil
}
