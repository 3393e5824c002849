package identity

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/b64url"
	"github.com/trustid-cn/trustid/store"
)

// PINLen is the length of a PIN: six digits, as on bank cards and the
// national network identity app.
const PINLen = 6

// PIN attempt limits used when PINGuard leaves them zero: 5 attempts per
// 15 minutes per enrollment.
const (
	DefaultPINAttempts = 5
	DefaultPINWindow   = 15 * time.Minute
)

// pinDomain separates the PIN MAC and the sealing AAD from other uses of
// the node keys.
const pinDomain = "TrustID/pin/v1\x00"

// Formats of a sealed verifier (its first byte). Format 1 seals the PIN
// MAC; format 2 seals the enrollment's counter tag before it, so that
// PINGuard counts the attempts of every copy of an enrollment together.
// Both are checked; only format 2 is sealed.
const (
	sealedPINv1 = 1
	sealedPINv2 = 2
)

// pinTagSize is the size of the counter tag of a format 2 verifier.
const pinTagSize = 16

// ValidatePIN applies the PIN policy: exactly PINLen ASCII digits
// (ErrPINFormat), and not trivial (ErrPINTrivial): one digit repeated
// (000000), a run up or down (123456, 987654), a repeated pair or triple
// (121212, 123123) and, when doc is not zero, the holder's birth date as
// YYMMDD or MMDDYY (when the document gives it in full) or the last six
// characters of the document number.
func ValidatePIN(pin string, doc Document) error {
	if len(pin) != PINLen {
		return ErrPINFormat
	}
	for i := 0; i < PINLen; i++ {
		if !isDigit(pin[i]) {
			return ErrPINFormat
		}
	}
	up, down := true, true
	for i := 1; i < PINLen; i++ {
		up = up && pin[i] == pin[i-1]+1
		down = down && pin[i] == pin[i-1]-1
	}
	period := func(p int) bool {
		for i := p; i < PINLen; i++ {
			if pin[i] != pin[i-p] {
				return false
			}
		}
		return true
	}
	if up || down || period(1) || period(2) || period(3) {
		return ErrPINTrivial
	}
	if !doc.IsZero() {
		b := doc.BirthDate()
		yy, mm, dd := b.Year%100, b.Month, b.Day
		two := func(n int) string { return string([]byte{byte('0' + n/10), byte('0' + n%10)}) }
		dd2 := doc.get()
		num := string(dd2.num[:dd2.n])
		if b.Full() && (pin == two(yy)+two(mm)+two(dd) || pin == two(mm)+two(dd)+two(yy)) ||
			len(num) >= PINLen && subtle.ConstantTimeCompare([]byte(pin), []byte(num[len(num)-PINLen:])) == 1 {
			return ErrPINTrivial
		}
	}
	return nil
}

// SealedPIN is a sealed PIN verifier, in base64url: it travels inside the
// device-binding credential, so any instance of the region can check a PIN
// and no one without the node keys can test guesses offline. It holds no
// PIN, only HMAC-SM3 of it (under the node key "pin-mac", salted with the
// binding) encrypted with SM4-GCM (under the node key "pin-seal") and bound
// to the binding through the AAD, with a random tag shared by the copies
// of one enrollment (the attempt counter's key, only the node sees it).
type SealedPIN string

// sealKey is one version of the sealing key.
type sealKey struct {
	ver uint8
	key []byte
}

// PINSealer seals and checks PIN verifiers under the node's PIN keys. It
// is safe for concurrent use.
type PINSealer struct {
	macs  []macKey  // newest first
	seals []sealKey // newest first
	rand  io.Reader
}

// NewPINSealer returns a sealer with the versions of the PIN MAC key (at
// least 16 bytes each) and of the sealing key (SM4: exactly 16 bytes
// each). The highest versions seal; every version given can check. rand
// (nil: crypto/rand) gives the GCM nonces.
func NewPINSealer(macKeys, sealKeys []VersionedKey, rnd io.Reader) (*PINSealer, error) {
	macs, err := newMACKeys(macKeys)
	if err != nil {
		return nil, fmt.Errorf("PIN MAC key: %w", err)
	}
	if len(sealKeys) == 0 {
		return nil, fmt.Errorf("PIN sealing key: %w: no key", ErrKeys)
	}
	var seals []sealKey
	for _, k := range sealKeys {
		if k.Version < 1 || k.Version > 255 || len(k.Secret) != gm.SM4KeySize {
			return nil, fmt.Errorf("PIN sealing key: %w: version 1..255 and %d bytes required", ErrKeys, gm.SM4KeySize)
		}
		for _, o := range seals {
			if int(o.ver) == k.Version {
				return nil, fmt.Errorf("PIN sealing key: %w: version %d given twice", ErrKeys, k.Version)
			}
		}
		seals = append(seals, sealKey{ver: uint8(k.Version), key: append([]byte(nil), k.Secret...)})
	}
	for i := 1; i < len(seals); i++ { // newest first
		for j := i; j > 0 && seals[j].ver > seals[j-1].ver; j-- {
			seals[j], seals[j-1] = seals[j-1], seals[j]
		}
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	return &PINSealer{macs: macs, seals: seals, rand: rnd}, nil
}

// pinMAC is HMAC-SM3(K, pinDomain ‖ len(aad) ‖ aad ‖ pin).
func pinMAC(k *macKey, pin string, aad []byte) []byte {
	msg := make([]byte, 0, len(pinDomain)+4+len(aad)+len(pin))
	msg = append(msg, pinDomain...)
	msg = binary.BigEndian.AppendUint32(msg, uint32(len(aad)))
	msg = append(msg, aad...)
	msg = append(msg, pin...)
	sum := k.mac.Sum(nil, msg)
	clear(msg)
	return sum
}

func sealAAD(header []byte, aad []byte) []byte {
	out := make([]byte, 0, len(pinDomain)+len(header)+len(aad))
	out = append(out, pinDomain...)
	out = append(out, header...)
	return append(out, aad...)
}

// SealPIN makes the verifier of pin for one device binding, named by aad
// (for example its subject and key ID; the same bytes must be given to
// CheckPIN): SealPINs for an enrollment of one copy.
func (s *PINSealer) SealPIN(pin string, aad []byte) (SealedPIN, error) {
	v, err := s.SealPINs(pin, [][]byte{aad})
	if err != nil {
		return "", err
	}
	return v[0], nil
}

// SealPINs makes the verifiers of pin for the copies of one enrollment,
// one per binding named in aads: they share one fresh counter tag, so
// PINGuard counts their attempts together. The PIN must pass ValidatePIN
// without a document; callers that have the document should call
// ValidatePIN with it first.
func (s *PINSealer) SealPINs(pin string, aads [][]byte) ([]SealedPIN, error) {
	if err := ValidatePIN(pin, Document{}); err != nil {
		return nil, err
	}
	mk, sk := &s.macs[0], &s.seals[0]
	header := []byte{sealedPINv2, mk.ver, sk.ver}
	msg := make([]byte, pinTagSize, pinTagSize+gm.SM3Size)
	defer clear(msg[:cap(msg)])
	if _, err := io.ReadFull(s.rand, msg); err != nil {
		return nil, fmt.Errorf("identity: PIN counter tag: %w", err)
	}
	out := make([]SealedPIN, len(aads))
	for i, aad := range aads {
		mac := pinMAC(mk, pin, aad)
		sealed, err := gm.Seal(s.rand, sk.key, append(msg[:pinTagSize], mac...), sealAAD(header, aad))
		clear(mac)
		if err != nil {
			return nil, fmt.Errorf("identity: sealing PIN verifier: %w", err)
		}
		out[i] = SealedPIN(base64.RawURLEncoding.EncodeToString(append(header, sealed...)))
	}
	return out, nil
}

// maxSealedPIN bounds the text of a sealed verifier.
const maxSealedPIN = 256

// CheckPIN reports whether pin is the PIN sealed in sealed for the binding
// named by aad: nil, ErrPINMismatch, or ErrPINVerifier when the verifier
// cannot be opened (damaged, sealed under a key this node does not hold,
// or for another binding). The comparison takes constant time. It does
// not limit attempts: use PINGuard.
func (s *PINSealer) CheckPIN(sealed SealedPIN, pin string, aad []byte) error {
	v, err := s.open(sealed, aad)
	if err != nil {
		return err
	}
	defer clear(v.mac)
	return v.match(pin, aad)
}

// openedPIN is an opened verifier.
type openedPIN struct {
	mk  *macKey
	mac []byte // HMAC-SM3 of the PIN
	tag []byte // the enrollment's counter tag; nil in format 1
}

// open opens a sealed verifier for the binding named by aad, or returns
// ErrPINVerifier.
func (s *PINSealer) open(sealed SealedPIN, aad []byte) (openedPIN, error) {
	if len(sealed) > maxSealedPIN {
		return openedPIN{}, ErrPINVerifier
	}
	raw, err := b64url.DecodeString(string(sealed))
	if err != nil || len(raw) < 3 {
		return openedPIN{}, ErrPINVerifier
	}
	tagSize := 0
	switch raw[0] {
	case sealedPINv1:
	case sealedPINv2:
		tagSize = pinTagSize
	default:
		return openedPIN{}, ErrPINVerifier
	}
	header := raw[:3]
	mk := findKey(s.macs, int(header[1]))
	var sk *sealKey
	for i := range s.seals {
		if s.seals[i].ver == header[2] {
			sk = &s.seals[i]
		}
	}
	if mk == nil || sk == nil {
		return openedPIN{}, ErrPINVerifier
	}
	msg, err := gm.Open(sk.key, raw[3:], sealAAD(header, aad))
	if err != nil || len(msg) != tagSize+gm.SM3Size {
		clear(msg)
		return openedPIN{}, ErrPINVerifier
	}
	v := openedPIN{mk: mk, mac: msg[tagSize:]}
	if tagSize > 0 {
		v.tag = msg[:tagSize]
	}
	return v, nil
}

// match compares pin with the opened verifier in constant time: nil or
// ErrPINMismatch.
func (v openedPIN) match(pin string, aad []byte) error {
	if errors.Is(ValidatePIN(pin, Document{}), ErrPINFormat) {
		return ErrPINMismatch
	}
	got := pinMAC(v.mk, pin, aad)
	defer clear(got)
	if subtle.ConstantTimeCompare(got, v.mac) != 1 {
		return ErrPINMismatch
	}
	return nil
}

// AttemptLimiter counts PIN attempts; *store.Memory and *redisstore.Store
// implement it. Allow counts one attempt against key, at most limit per
// window, and says whether it may proceed and, if not, when; Reset forgets
// the count. Errors are failures of the store. It must be safe for
// concurrent use, and shared by every instance of a region.
type AttemptLimiter interface {
	Allow(ctx context.Context, key string, limit int, window time.Duration) (store.Decision, error)
	Reset(ctx context.Context, key string) error
}

// PINGuard checks PINs with attempt limiting per enrollment: each check
// counts one attempt before the PIN is looked at, under the counter tag
// sealed in the verifier (shared by every copy of the enrollment that
// holds the same PIN, the static code's too); past MaxAttempts within
// Window the enrollment's PIN is locked (LockedError) until the limiter
// lets one more attempt through (GCRA: one per Window/MaxAttempts); a
// correct PIN clears the count. Verifiers of format 1, sealed before the
// tag existed, are counted per binding.
type PINGuard struct {
	Sealer  *PINSealer     // required
	Limiter AttemptLimiter // required
	// MaxAttempts and Window: zero means DefaultPINAttempts and
	// DefaultPINWindow.
	MaxAttempts int
	Window      time.Duration
}

// LockedError is returned by PINGuard.Check when the PIN is locked. It
// matches ErrPINLocked.
type LockedError struct {
	RetryAfter time.Duration // until one more attempt is allowed
}

func (e *LockedError) Error() string {
	return ErrPINLocked.Error() + " (retry after " + strconv.Itoa(int(e.RetryAfter.Round(time.Second)/time.Second)) + "s)"
}

// Unwrap returns ErrPINLocked.
func (e *LockedError) Unwrap() error { return ErrPINLocked }

// Check opens the verifier, counts an attempt for its enrollment (for a
// format 1 verifier: for binding, e.g. the binding credential's ID) and
// then checks the PIN as PINSealer.CheckPIN does. A locked enrollment
// gets a *LockedError without the PIN being checked; a verifier that does
// not open, ErrPINVerifier without an attempt counted (no PIN can match
// it).
func (g *PINGuard) Check(ctx context.Context, binding string, sealed SealedPIN, pin string, aad []byte) error {
	if g.Sealer == nil || g.Limiter == nil {
		return errors.New("identity: PINGuard needs a Sealer and a Limiter")
	}
	if binding == "" {
		return ErrPINVerifier
	}
	n, w := g.MaxAttempts, g.Window
	if n <= 0 {
		n = DefaultPINAttempts
	}
	if w <= 0 {
		w = DefaultPINWindow
	}
	v, err := g.Sealer.open(sealed, aad)
	if err != nil {
		return err
	}
	defer clear(v.mac)
	key := "pin:" + binding
	if v.tag != nil {
		key = "pin-enrollment:" + base64.RawURLEncoding.EncodeToString(v.tag)
	}
	dec, err := g.Limiter.Allow(ctx, key, n, w)
	if err != nil {
		return fmt.Errorf("identity: PIN attempt limit: %w", err)
	}
	if !dec.Allowed {
		return &LockedError{RetryAfter: dec.RetryAfter}
	}
	if err := v.match(pin, aad); err != nil {
		return err
	}
	if err := g.Limiter.Reset(ctx, key); err != nil {
		return fmt.Errorf("identity: PIN attempt limit: %w", err)
	}
	return nil
}
