package qrcode

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"fmt"
	"io"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"

	"github.com/trustid-cn/trustid/gm"
)

// StatusRef locates an entry in a region's status list: the binding, static
// code or delegation is revoked by setting that entry.
type StatusRef struct {
	Region uint32 // the issuing region, e.g. 310000
	List   uint32 // the region's list number
	Index  uint32 // the entry in the list
}

// ListNumber is the QR list number of a node's status list ID (16 hex
// digits, statuslist IDs): its first 32 bits. A node makes a StatusRef
// only for a list whose number no other list of its region shares, and a
// verifier resolves a number to the one list of the region that has it.
func ListNumber(listID string) (uint32, bool) {
	if len(listID) != 16 {
		return 0, false
	}
	var n uint32
	for i := 0; i < 8; i++ {
		c := listID[i]
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		n = n<<4 | uint32(d)
	}
	return n, true
}

// Size bounds of issued and decoded fields.
const (
	MinSubjectSize = 16
	MaxSubjectSize = 48
	MaxClaims      = 8
	MaxClaimLen    = 32 // names and values
	MaxScope       = 8
	MaxAudienceLen = 32
	MaxChallenge   = 32
	MaxMaskedLen   = 64 // bytes of UTF-8
)

// Assurance levels, as proven at enrollment.
const (
	AssuranceDocument  = 1 // document checked
	AssuranceDevice    = 2 // + bound device
	AssurancePIN       = 3 // + PIN
	AssuranceBiometric = 4 // + biometric attestation by a terminal
)

// Issuer signs device bindings, delegations and static codes with a node's
// SM2 key. It is safe for concurrent use if its Signer is.
type Issuer struct {
	// Signer is the node's SM2 signing key (any crypto.Signer holding one,
	// such as a keystore key or a KMS handle).
	Signer crypto.Signer
	// Kid is the key's ID (keystore.Key.Kid); payloads carry KidHint(Kid).
	Kid string
	// Region is the issuing region, e.g. 310000.
	Region uint32
	// Rand is the signing randomness; nil means crypto/rand.
	Rand io.Reader
}

func (is *Issuer) rand() io.Reader {
	if is.Rand == nil {
		return rand.Reader
	}
	return is.Rand
}

func (is *Issuer) check() error {
	if is == nil || is.Signer == nil || is.Kid == "" {
		return fmt.Errorf("%w: issuer needs a signer and a kid", ErrInvalidArgument)
	}
	if !gm.IsSM2PublicKey(is.Signer.Public()) {
		return fmt.Errorf("%w: issuer key is not SM2", ErrInvalidArgument)
	}
	if !validRegionCode(is.Region) {
		return fmt.Errorf("%w: issuer region %d", ErrInvalidArgument, is.Region)
	}
	return nil
}

// sign wraps payload in the signed envelope.
func (is *Issuer) sign(context string, payload []byte) ([]byte, error) {
	kid := KidHint(is.Kid)
	sig, err := gm.SignWith(is.rand(), is.Signer, sigInput(context, kid, payload))
	if err != nil {
		return nil, fmt.Errorf("qrcode: sign: %w", err)
	}
	return marshal(signed{Kid: kid, Payload: payload, Sig: sig}), nil
}

// Binding is the issuer-signed device binding: it ties a device key to a
// subject handle, with the assurance level, validity and status entry. The
// holder's app keeps it (its holder copy, see IssueBinding) and presents it
// inside offline codes.
//
// Nothing in a binding is meant to be the same across a holder's bindings:
// enrollment issues several copies, each with its own device key, its own
// Subject (a per-copy handle, not a stable identifier of the person), its
// own status entry and its own claim salts, so two verifiers shown codes of
// two copies cannot tell they are the same person.
type Binding struct {
	// Subject is the copy's subject handle, MinSubjectSize to
	// MaxSubjectSize bytes. Only the issuing node can map it to the
	// holder (identity.BindingSubjects); offline verifiers learn nothing from
	// it but that a code comes from this copy.
	Subject   []byte
	DeviceKey *gm.PublicKey
	Assurance int // AssuranceDocument .. AssuranceBiometric
	Region    uint32
	IssuedAt  time.Time
	Expiry    time.Time
	Status    StatusRef
	// Claims are attested, non-identifying attributes the holder may
	// release (e.g. "age_over_18": "true"); at most MaxClaims. The signed
	// binding carries only a salted digest of each; the holder shows a
	// claim by adding its disclosure to a code. In a binding decoded
	// from an offline code, Claims holds only the claims that code shows.
	Claims map[string]string
}

type bindingWire struct {
	Subject     []byte   `cbor:"1,keyasint"`
	Device      []byte   `cbor:"2,keyasint"`
	Assurance   *uint8   `cbor:"3,keyasint"`
	Region      *uint32  `cbor:"4,keyasint"`
	IssuedAt    *uint64  `cbor:"5,keyasint"`
	Expiry      *uint64  `cbor:"6,keyasint"`
	StatusList  *uint32  `cbor:"7,keyasint"`
	StatusIndex *uint32  `cbor:"8,keyasint"`
	Digests     [][]byte `cbor:"10,keyasint,omitempty"` // claim digests, sorted
}

// Claim disclosures: a claim travels as the CBOR of [salt, name, value]
// (ClaimSaltSize random bytes of salt), and the signed binding carries
// ClaimDigestSize bytes of SM3 over a context and that encoding.
const (
	ClaimSaltSize   = 16
	ClaimDigestSize = 16
	maxDisclosure   = 128
)

type disclosureWire struct {
	_     struct{} `cbor:",toarray"`
	Salt  []byte
	Name  string
	Value string
}

// holderCopyWire is what the holder's app keeps: the signed binding and
// the disclosure of every claim it attests.
type holderCopyWire struct {
	_           struct{} `cbor:",toarray"`
	Binding     cbor.RawMessage
	Disclosures [][]byte
}

func claimDigest(disclosure []byte) []byte {
	h := gm.SM3(sigInput(ctxClaim, disclosure))
	return h[:ClaimDigestSize]
}

// IssueBinding signs a device binding. b.Region is set to the issuer's
// region. Each claim gets a fresh salt; the signed binding carries their
// digests in sorted order. It returns the holder copy (CBOR bytes: the
// signed binding and every claim's disclosure), which the holder's app
// stores and passes to NewOffline and in online code requests.
func (is *Issuer) IssueBinding(b Binding) ([]byte, error) {
	if err := is.check(); err != nil {
		return nil, err
	}
	b.Region = is.Region
	b.Status.Region = is.Region
	if b.DeviceKey == nil {
		return nil, fmt.Errorf("%w: binding without a device key", ErrInvalidArgument)
	}
	if err := checkClaims(b.Claims); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	names := make([]string, 0, len(b.Claims))
	for k := range b.Claims {
		names = append(names, k)
	}
	slices.Sort(names)
	var disclosures, digests [][]byte
	for _, name := range names {
		salt := make([]byte, ClaimSaltSize)
		if _, err := io.ReadFull(is.rand(), salt); err != nil {
			return nil, fmt.Errorf("qrcode: claim salt: %w", err)
		}
		d := marshal(disclosureWire{Salt: salt, Name: name, Value: b.Claims[name]})
		disclosures = append(disclosures, d)
		digests = append(digests, claimDigest(d))
	}
	slices.SortFunc(digests, bytes.Compare)
	w := bindingWire{
		Subject: b.Subject, Device: CompressKey(b.DeviceKey),
		Assurance: ptr(uint8(b.Assurance)), Region: ptr(b.Region),
		IssuedAt: ptr(unix(b.IssuedAt)), Expiry: ptr(unix(b.Expiry)),
		StatusList: ptr(b.Status.List), StatusIndex: ptr(b.Status.Index),
		Digests: digests,
	}
	if _, err := w.check(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	env, err := is.sign(ctxBinding, marshal(w))
	if err != nil {
		return nil, err
	}
	return marshal(holderCopyWire{Binding: env, Disclosures: disclosures}), nil
}

func ptr[T any](v T) *T { return &v }

// check validates a decoded (or to-be-issued) binding and converts it.
func (w *bindingWire) check() (Binding, error) {
	if w.Assurance == nil || w.Region == nil || w.IssuedAt == nil || w.Expiry == nil || w.StatusList == nil || w.StatusIndex == nil || w.Device == nil {
		return Binding{}, malformed("binding: missing field")
	}
	if err := checkSubject(w.Subject); err != nil {
		return Binding{}, fmt.Errorf("binding: %w", err)
	}
	if *w.Assurance < AssuranceDocument || *w.Assurance > AssuranceBiometric {
		return Binding{}, malformed("binding: assurance level %d out of range", *w.Assurance)
	}
	if !validRegionCode(*w.Region) {
		return Binding{}, malformed("binding: region %d", *w.Region)
	}
	if *w.IssuedAt == 0 || *w.IssuedAt > maxTime || *w.Expiry <= *w.IssuedAt || *w.Expiry > maxTime {
		return Binding{}, malformed("binding: validity out of range")
	}
	if len(w.Digests) > MaxClaims {
		return Binding{}, malformed("binding: more than %d claim digests", MaxClaims)
	}
	for i, d := range w.Digests {
		if len(d) != ClaimDigestSize || i > 0 && bytes.Compare(w.Digests[i-1], d) >= 0 {
			return Binding{}, malformed("binding: claim digests must be %d bytes, sorted and distinct", ClaimDigestSize)
		}
	}
	if len(w.Device) != CompressedKeySize {
		return Binding{}, malformed("binding: device key must be %d bytes", CompressedKeySize)
	}
	return Binding{
		Subject: w.Subject, Assurance: int(*w.Assurance), Region: *w.Region,
		IssuedAt: fromUnix(*w.IssuedAt), Expiry: fromUnix(*w.Expiry),
		Status: StatusRef{Region: *w.Region, List: *w.StatusList, Index: *w.StatusIndex},
	}, nil
}

func checkSubject(s []byte) error {
	if len(s) < MinSubjectSize || len(s) > MaxSubjectSize {
		return malformed("subject must be %d to %d bytes", MinSubjectSize, MaxSubjectSize)
	}
	return nil
}

// ValidToken reports whether s is a short token of [a-z0-9_.:-] (claim names, scope
// actions).
func ValidToken(s string) bool {
	if len(s) == 0 || len(s) > MaxClaimLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

func checkClaims(m map[string]string) error {
	if len(m) > MaxClaims {
		return malformed("more than %d claims", MaxClaims)
	}
	for k, v := range m {
		if !ValidToken(k) {
			return malformed("claim name is not a short token")
		}
		if len(v) > MaxClaimLen || !utf8.ValidString(v) {
			return malformed("claim value longer than %d bytes", MaxClaimLen)
		}
	}
	return nil
}

// ParseBinding decodes a holder copy (IssueBinding's result) WITHOUT
// verifying the issuer's signature (for a wallet showing what it holds),
// with every claim it attests. Verifiers use Verifier.
func ParseBinding(raw []byte) (Binding, error) {
	b, _, _, err := decodeHolderCopy(raw)
	return b, err
}

// decodeHolderCopy decodes a holder copy: the signed binding, as carried
// (for codes), decoded, and every claim, each checked against the
// binding's digests.
func decodeHolderCopy(raw []byte) (Binding, signed, []holderClaim, error) {
	var w holderCopyWire
	if err := unmarshal(raw, &w, "holder binding"); err != nil {
		return Binding{}, signed{}, nil, err
	}
	if len(w.Binding) == 0 {
		return Binding{}, signed{}, nil, malformed("holder binding: missing binding")
	}
	b, s, digests, err := decodeBinding(w.Binding)
	if err != nil {
		return Binding{}, s, nil, err
	}
	if len(w.Disclosures) != len(digests) {
		return Binding{}, s, nil, malformed("holder binding: %d disclosures for %d claim digests", len(w.Disclosures), len(digests))
	}
	claims, err := openDisclosures(digests, w.Disclosures)
	if err != nil {
		return Binding{}, s, nil, err
	}
	b.Claims = claimMap(claims)
	return b, s, claims, nil
}

// holderClaim is one checked disclosure.
type holderClaim struct {
	name, value string
	raw         []byte
}

func claimMap(cs []holderClaim) map[string]string {
	if len(cs) == 0 {
		return nil
	}
	m := make(map[string]string, len(cs))
	for _, c := range cs {
		m[c.name] = c.value
	}
	return m
}

// openDisclosures decodes disclosures strictly and checks each against
// the binding's digests: every one must match a digest, and no digest or
// claim name may be shown twice.
func openDisclosures(digests, list [][]byte) ([]holderClaim, error) {
	if len(list) > MaxClaims {
		return nil, malformed("more than %d claim disclosures", MaxClaims)
	}
	out := make([]holderClaim, 0, len(list))
	for _, raw := range list {
		if len(raw) == 0 || len(raw) > maxDisclosure {
			return nil, malformed("claim disclosure of %d bytes", len(raw))
		}
		var d disclosureWire
		if err := unmarshal(raw, &d, "claim disclosure"); err != nil {
			return nil, err
		}
		if len(d.Salt) != ClaimSaltSize || !ValidToken(d.Name) || len(d.Value) > MaxClaimLen {
			return nil, malformed("claim disclosure: salt, name or value out of range")
		}
		dig := claimDigest(raw)
		if !slices.ContainsFunc(digests, func(x []byte) bool { return bytes.Equal(x, dig) }) {
			return nil, fmt.Errorf("%w: a claim disclosure matches no digest of the binding", ErrSignature)
		}
		for _, c := range out {
			if c.name == d.Name || bytes.Equal(c.raw, raw) {
				return nil, fmt.Errorf("%w: claim %q disclosed twice", ErrDuplicateField, d.Name)
			}
		}
		out = append(out, holderClaim{name: d.Name, value: d.Value, raw: raw})
	}
	return out, nil
}

// decodeBinding decodes the signed binding (envelope, claims, device key)
// and returns its claim digests.
func decodeBinding(raw []byte) (Binding, signed, [][]byte, error) {
	s, err := decodeSigned(raw, "binding")
	if err != nil {
		return Binding{}, s, nil, err
	}
	var w bindingWire
	if err := unmarshal(s.Payload, &w, "binding claims"); err != nil {
		return Binding{}, s, nil, err
	}
	b, err := w.check()
	if err != nil {
		return Binding{}, s, nil, err
	}
	if b.DeviceKey, err = ParseCompressedKey(w.Device); err != nil {
		return Binding{}, s, nil, err
	}
	return b, s, w.Digests, nil
}
