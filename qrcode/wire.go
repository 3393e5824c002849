package qrcode

import (
	"bytes"
	"crypto/elliptic"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/b64url"
)

// Kind is the kind of a TrustID QR payload, named by its text prefix.
type Kind uint8

// Payload kinds.
const (
	// KindOnline is a dynamic online code: an opaque single-use reference
	// and the issuing region, redeemed at the region's node.
	KindOnline Kind = iota + 1
	// KindOffline is a device-signed code carrying the issuer-signed device
	// binding (and optionally a delegation), verified without network.
	KindOffline
	// KindStatic is a long-lived, issuer-signed printable code showing only
	// masked data.
	KindStatic
)

// kindVersions is the one payload version of each kind this package reads
// and writes. Offline codes are at version 2: per-copy subject handles and
// holder-picked claims (see Binding).
var kindVersions = [...]int{KindOnline: 1, KindOffline: 2, KindStatic: 1}

var kindTags = [...]string{KindOnline: "ON", KindOffline: "OFF", KindStatic: "ST"}

// Version returns the payload version of kind k this package reads and
// writes (0 for an unknown kind).
func (k Kind) Version() int {
	if k < KindOnline || k > KindStatic {
		return 0
	}
	return kindVersions[k]
}

func (k Kind) String() string {
	switch k {
	case KindOnline:
		return "online"
	case KindOffline:
		return "offline"
	case KindStatic:
		return "static"
	}
	return "unknown"
}

// Prefix returns the text prefix of payloads of kind k, e.g. "TIDOFF2:".
func (k Kind) Prefix() string {
	if k < KindOnline || k > KindStatic {
		return ""
	}
	return "TID" + kindTags[k] + strconv.Itoa(kindVersions[k]) + ":"
}

// Size caps of the text form of each kind, in characters. The online cap
// is far above a real code; the others are within the alphanumeric
// capacity of a version 25 QR code at level M (1451), well above a static
// code or an offline code showing a few claims. NewOffline refuses to
// make a longer code (eight long claims shown can exceed it).
const (
	MaxOnlineLen  = 128
	MaxOfflineLen = 1400
	MaxStaticLen  = 1400
)

func maxLen(k Kind) int {
	switch k {
	case KindOnline:
		return MaxOnlineLen
	case KindOffline:
		return MaxOfflineLen
	}
	return MaxStaticLen
}

// DetectKind reads the prefix of a payload and returns its kind. It fails
// with ErrPrefix for text that is not a TrustID payload, ErrVersion for a
// known kind of another version, and ErrTooLarge above the kind's cap.
func DetectKind(s string) (Kind, error) {
	k, _, err := splitPrefix(s)
	return k, err
}

// splitPrefix parses "TID" kind version ":" and returns the kind and the
// base45 body.
func splitPrefix(s string) (Kind, string, error) {
	if len(s) > MaxOfflineLen && len(s) > MaxStaticLen {
		return 0, "", fmt.Errorf("%w: %d characters", ErrTooLarge, len(s))
	}
	if !strings.HasPrefix(s, "TID") {
		return 0, "", ErrPrefix
	}
	rest := s[3:]
	i := 0
	for i < len(rest) && i < 4 && rest[i] >= 'A' && rest[i] <= 'Z' {
		i++
	}
	tag := rest[:i]
	var kind Kind
	for k := KindOnline; k <= KindStatic; k++ {
		if kindTags[k] == tag {
			kind = k
		}
	}
	if kind == 0 {
		return 0, "", ErrPrefix
	}
	rest = rest[i:]
	j := 0
	for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	if j == 0 || j >= len(rest) || rest[j] != ':' {
		return 0, "", ErrPrefix
	}
	if v, err := strconv.Atoi(rest[:j]); err != nil || v != kind.Version() || rest[0] == '0' {
		return 0, "", fmt.Errorf("%w: %s version %s", ErrVersion, kind, clip(rest[:j]))
	}
	if len(s) > maxLen(kind) {
		return 0, "", fmt.Errorf("%w: %d characters for a %s code (cap %d)", ErrTooLarge, len(s), kind, maxLen(kind))
	}
	return kind, rest[j+1:], nil
}

// openText checks the prefix is of kind want and returns the decoded bytes.
func openText(s string, want Kind) ([]byte, error) {
	k, body, err := splitPrefix(s)
	if err != nil {
		return nil, err
	}
	if k != want {
		return nil, fmt.Errorf("%w: got %s, want %s", ErrKind, k, want)
	}
	b, err := DecodeBase45(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return b, nil
}

// sealText returns the text form: prefix and base45.
func sealText(k Kind, b []byte) string {
	p := k.Prefix()
	out := make([]byte, 0, len(p)+Base45Len(len(b)))
	out = append(out, p...)
	return string(AppendBase45(out, b))
}

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	encMode, err = cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	decMode, err = cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		MaxNestedLevels:   4,
		MaxArrayElements:  16,
		MaxMapPairs:       16,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		UTF8:              cbor.UTF8RejectInvalid,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// unmarshal decodes one CBOR item strictly into v and turns the library's
// errors into this package's sentinels. what names the structure. The
// input must be exactly the package's canonical encoding of what it
// decodes to (map keys in order, shortest integer and length heads, no
// empty optional fields): any other encoding of the same content fails
// with ErrNonCanonical, so one content has one text.
func unmarshal(data []byte, v any, what string) error {
	err := decMode.Unmarshal(data, v)
	if err == nil {
		if b, merr := encMode.Marshal(v); merr != nil || !bytes.Equal(b, data) {
			return fmt.Errorf("%w: %w: %s", ErrMalformed, ErrNonCanonical, what)
		}
		return nil
	}
	var (
		dup   *cbor.DupMapKeyError
		unk   *cbor.UnknownFieldError
		extra *cbor.ExtraneousDataError
	)
	switch {
	case errors.As(err, &dup):
		return fmt.Errorf("%w: %s: %v", ErrDuplicateField, what, err)
	case errors.As(err, &unk):
		return fmt.Errorf("%w: %s: %v", ErrUnknownField, what, err)
	case errors.As(err, &extra):
		return fmt.Errorf("%w: %s", ErrTrailingData, what)
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return fmt.Errorf("%w: %s", ErrTruncated, what)
	}
	return fmt.Errorf("%w: %s: %v", ErrMalformed, what, err)
}

func marshal(v any) []byte {
	b, err := encMode.Marshal(v)
	if err != nil {
		// Only the package's own fixed structures are marshalled.
		panic(fmt.Sprintf("qrcode: marshal %T: %v", v, err))
	}
	return b
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// signed is the COSE_Sign1-like envelope of every issuer-signed structure:
// [kid hint, payload, signature]. The payload is kept as bytes, so the
// signature is checked over exactly what was sent.
type signed struct {
	_       struct{} `cbor:",toarray"`
	Kid     []byte
	Payload []byte
	Sig     []byte
}

// KidHintSize is the length of the key ID hint carried in payloads.
const KidHintSize = 8

// KidHint returns the compact key ID carried in payloads: the first 8 bytes
// of the base64url-decoded kid (an RFC 7638 thumbprint for node keys), or
// of SM3(kid) when the kid is not base64url of at least 8 bytes.
func KidHint(kid string) []byte {
	if b, err := b64url.DecodeString(kid); err == nil && len(b) >= KidHintSize {
		return b[:KidHintSize]
	}
	h := gm.SM3([]byte(kid))
	return append([]byte(nil), h[:KidHintSize]...)
}

// sigInput is the byte string an issuer or device signs: a context naming
// the structure, then each part with a 16-bit length.
func sigInput(context string, parts ...[]byte) []byte {
	n := len(context) + 1
	for _, p := range parts {
		n += 2 + len(p)
	}
	b := make([]byte, 0, n)
	b = append(b, context...)
	b = append(b, 0)
	for _, p := range parts {
		b = binary.BigEndian.AppendUint16(b, uint16(len(p)))
		b = append(b, p...)
	}
	return b
}

// Signature contexts.
const (
	ctxBinding    = "TrustID QR binding v2"
	ctxDelegation = "TrustID QR delegation v1"
	ctxStatic     = "TrustID QR static v1"
	ctxOffline    = "TrustID QR offline v2"
	ctxClaim      = "TrustID QR claim v2"
	ctxHolderReq  = "TrustID QR holder request v2"
)

// decodeSigned decodes the envelope and checks its shape.
func decodeSigned(b []byte, what string) (signed, error) {
	var s signed
	if err := unmarshal(b, &s, what); err != nil {
		return s, err
	}
	if len(s.Kid) != KidHintSize {
		return s, malformed("%s: kid must be %d bytes", what, KidHintSize)
	}
	if len(s.Sig) != gm.SignatureSize {
		return s, malformed("%s: signature must be %d bytes", what, gm.SignatureSize)
	}
	if len(s.Payload) == 0 {
		return s, malformed("%s: empty payload", what)
	}
	return s, nil
}

// CompressedKeySize is the size of a compressed SM2 public key.
const CompressedKeySize = 33

// CompressKey returns the 33-byte SEC 1 compressed form of an SM2 key.
func CompressKey(pub *gm.PublicKey) []byte {
	k := pub.ECDSA()
	return elliptic.MarshalCompressed(k.Curve, k.X, k.Y)
}

// ParseCompressedKey parses a 33-byte compressed SM2 public key. The
// keys it has parsed are kept (deviceKeys), so a holder's device key,
// which every offline code of theirs carries, is decompressed and
// checked once.
func ParseCompressedKey(b []byte) (*gm.PublicKey, error) {
	if len(b) != CompressedKeySize || (b[0] != 2 && b[0] != 3) {
		return nil, malformed("device key must be a 33-byte compressed SM2 point")
	}
	k := [CompressedKeySize]byte(b)
	if pub := deviceKeys.get(k); pub != nil {
		return pub, nil
	}
	pub, err := gm.ParseCompressedPublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("%w: device key: %v", ErrMalformed, err)
	}
	deviceKeys.put(k, pub)
	return pub, nil
}

// keyCache holds parsed public keys by their exact encoding, at most max
// of them (a full cache drops one at random, Go's map order, for each
// new key). Only keys gm accepted are kept, and a key is a function of
// its bytes, so an answer from the cache is what parsing would give.
type keyCache struct {
	mu   sync.Mutex
	keys map[[CompressedKeySize]byte]*gm.PublicKey
	max  int
}

// deviceKeys is ParseCompressedKey's cache: 4,096 keys, about 1.5 MB.
var deviceKeys = &keyCache{keys: map[[CompressedKeySize]byte]*gm.PublicKey{}, max: 4096}

func (c *keyCache) get(k [CompressedKeySize]byte) *gm.PublicKey {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.keys[k]
}

func (c *keyCache) put(k [CompressedKeySize]byte, pub *gm.PublicKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.keys) >= c.max {
		for old := range c.keys {
			delete(c.keys, old)
			break
		}
	}
	c.keys[k] = pub
}

// sm2Public returns pub as *gm.PublicKey, or an error for another type.
func sm2Public(pub any) (*gm.PublicKey, error) {
	n, err := gm.NormalizePublicKey(pub)
	if err != nil {
		return nil, err
	}
	k, ok := n.(*gm.PublicKey)
	if !ok {
		return nil, gm.ErrNotSM2Key
	}
	return k, nil
}

// Region codes travel as integers (310000); they must be GB/T 2260
// province-level codes.
func validRegionCode(r uint32) bool {
	return r >= 110000 && r <= 839999 && r%10000 == 0
}

// ParseRegion parses a six-digit province-level region code such as
// "310000".
func ParseRegion(s string) (uint32, error) {
	if len(s) != 6 {
		return 0, fmt.Errorf("%w: region %q is not six digits", ErrInvalidArgument, s)
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || !validRegionCode(uint32(n)) {
		return 0, fmt.Errorf("%w: region %q is not a province-level GB/T 2260 code", ErrInvalidArgument, s)
	}
	return uint32(n), nil
}

func regionString(r uint32) string { return strconv.FormatUint(uint64(r), 10) }

func unix(t time.Time) uint64 {
	if t.Unix() < 0 {
		return 0
	}
	return uint64(t.Unix())
}

// maxTime bounds decoded times (year 2200) so conversions cannot overflow.
const maxTime = 7258118400

func fromUnix(s uint64) time.Time { return time.Unix(int64(s), 0).UTC() }

// clip shortens a caller's string for an error message.
func clip(s string) string {
	if len(s) > MaxClaimLen {
		return s[:MaxClaimLen] + "..."
	}
	return s
}
