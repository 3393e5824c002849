package qrcode

import (
	"bytes"
	"crypto"
	"fmt"
	"io"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"

	"github.com/trustid-cn/trustid/gm"
)

// Presentation is what the holder's device signs into each offline code.
type Presentation struct {
	// Time is when the code was made; verifiers accept it within their
	// freshness window.
	Time time.Time
	// Counter increases with every code the device makes; verifiers that
	// saw a higher or equal counter for the binding reject the code
	// (replay or a cloned device).
	Counter uint64
	// Audience is an optional hint naming the verifier (at most 32 bytes).
	Audience string
	// Challenge is the optional verifier-supplied challenge of an
	// interactive check (at most 32 bytes).
	Challenge []byte
	// Claims names the attested claims the holder picked for this code
	// (NewOffline adds their disclosures; the others stay hidden behind
	// their salted digests). In a decoded code: the claims it shows, sorted.
	Claims []string
}

type presentationWire struct {
	Time      *uint64 `cbor:"1,keyasint"`
	Counter   *uint64 `cbor:"2,keyasint"`
	Audience  string  `cbor:"3,keyasint,omitempty"`
	Challenge []byte  `cbor:"4,keyasint,omitempty"`
}

func (w *presentationWire) check() (Presentation, error) {
	if w.Time == nil || w.Counter == nil {
		return Presentation{}, malformed("presentation: missing field")
	}
	if *w.Time == 0 || *w.Time > maxTime {
		return Presentation{}, malformed("presentation: time out of range")
	}
	if len(w.Audience) > MaxAudienceLen || !utf8.ValidString(w.Audience) {
		return Presentation{}, malformed("presentation: audience longer than %d bytes", MaxAudienceLen)
	}
	if w.Challenge != nil && (len(w.Challenge) == 0 || len(w.Challenge) > MaxChallenge) {
		return Presentation{}, malformed("presentation: challenge must be 1 to %d bytes", MaxChallenge)
	}
	return Presentation{Time: fromUnix(*w.Time), Counter: *w.Counter, Audience: w.Audience, Challenge: w.Challenge}, nil
}

// offlineWire is the whole offline code: the binding and the optional
// delegation as the issuer signed them, the device-signed presentation and
// the device signature.
type offlineWire struct {
	Binding      cbor.RawMessage `cbor:"1,keyasint"`
	Presentation []byte          `cbor:"2,keyasint"`
	Sig          []byte          `cbor:"3,keyasint"`
	Delegation   cbor.RawMessage `cbor:"4,keyasint,omitempty"`
	Disclosures  [][]byte        `cbor:"5,keyasint,omitempty"`
}

// deviceInput is what the device signs: the binding and delegation exactly
// as carried, the presentation and the disclosures shown.
func deviceInput(binding, delegation, presentation []byte, disclosures [][]byte) []byte {
	var ds []byte
	if len(disclosures) > 0 {
		ds = marshal(disclosures)
	}
	return sigInput(ctxOffline, binding, delegation, presentation, ds)
}

// NewOffline makes an offline code on the holder's device from its holder
// copy of a binding (IssueBinding's result): it signs p with the device
// key over the issuer-signed binding (and delegation, when acting for
// someone; nil otherwise) and the disclosures of the claims named in
// p.Claims, and returns the text form (prefix "TIDOFF2:"). The code shows
// only those claims. The device key must be the binding's device key.
// A code longer than MaxOfflineLen, which every decoder refuses (too many
// or too long claims shown, with a delegation), is not made: ErrTooLarge.
// rand nil means crypto/rand.
func NewOffline(rand io.Reader, device crypto.Signer, holderCopy, delegation []byte, p Presentation) (string, error) {
	b, s, claims, err := decodeHolderCopy(holderCopy)
	if err != nil {
		return "", fmt.Errorf("%w: binding: %w", ErrInvalidArgument, err)
	}
	binding := marshal(s)
	var shown [][]byte
	for i, name := range p.Claims {
		j := slices.IndexFunc(claims, func(c holderClaim) bool { return c.name == name })
		if j < 0 || slices.Contains(p.Claims[:i], name) {
			return "", fmt.Errorf("%w: claim %q is not attested by the binding, or named twice", ErrInvalidArgument, clip(name))
		}
		shown = append(shown, claims[j].raw)
	}
	slices.SortFunc(shown, bytes.Compare)
	if !b.DeviceKey.Equal(device.Public()) {
		if pk, ok := device.Public().(*gm.PublicKey); !ok || !b.DeviceKey.Equal(pk.ECDSA()) {
			return "", fmt.Errorf("%w: the device key is not the binding's", ErrInvalidArgument)
		}
	}
	if delegation != nil {
		if _, _, err := decodeDelegation(delegation); err != nil {
			return "", fmt.Errorf("%w: delegation: %w", ErrInvalidArgument, err)
		}
	}
	pw := presentationWire{Time: ptr(unix(p.Time)), Counter: ptr(p.Counter), Audience: p.Audience, Challenge: p.Challenge}
	if _, err := pw.check(); err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	pres := marshal(pw)
	if rand == nil {
		rand = defaultRand
	}
	sig, err := gm.SignWith(rand, device, deviceInput(binding, delegation, pres, shown))
	if err != nil {
		return "", fmt.Errorf("qrcode: device sign: %w", err)
	}
	text := sealText(KindOffline, marshal(offlineWire{Binding: binding, Presentation: pres, Sig: sig, Delegation: delegation, Disclosures: shown}))
	if len(text) > MaxOfflineLen {
		return "", fmt.Errorf("%w: %d characters for an offline code (cap %d): show fewer claims", ErrTooLarge, len(text), MaxOfflineLen)
	}
	return text, nil
}

// offlineParts is a decoded, not yet verified, offline code.
type offlineParts struct {
	binding       Binding
	bindingSigned signed
	delegation    *Delegation
	delegSigned   signed
	pres          Presentation
	deviceMsg     []byte
	deviceSig     []byte
}

// decodeOffline decodes every layer of an offline code strictly.
func decodeOffline(text string) (*offlineParts, error) {
	raw, err := openText(text, KindOffline)
	if err != nil {
		return nil, err
	}
	var w offlineWire
	if err := unmarshal(raw, &w, "offline code"); err != nil {
		return nil, err
	}
	if len(w.Binding) == 0 || len(w.Presentation) == 0 {
		return nil, malformed("offline code: missing field")
	}
	if len(w.Sig) != gm.SignatureSize {
		return nil, malformed("offline code: device signature must be %d bytes", gm.SignatureSize)
	}
	p := &offlineParts{deviceSig: w.Sig}
	var digests [][]byte
	if p.binding, p.bindingSigned, digests, err = decodeBinding(w.Binding); err != nil {
		return nil, err
	}
	if w.Disclosures != nil && len(w.Disclosures) == 0 {
		return nil, malformed("offline code: empty disclosure list")
	}
	shown, err := openDisclosures(digests, w.Disclosures)
	if err != nil {
		return nil, err
	}
	p.binding.Claims = claimMap(shown)
	if w.Delegation != nil {
		d, s, err := decodeDelegation(w.Delegation)
		if err != nil {
			return nil, err
		}
		p.delegation, p.delegSigned = &d, s
	}
	var pw presentationWire
	if err := unmarshal(w.Presentation, &pw, "presentation"); err != nil {
		return nil, err
	}
	if p.pres, err = pw.check(); err != nil {
		return nil, err
	}
	for _, c := range shown {
		p.pres.Claims = append(p.pres.Claims, c.name)
	}
	slices.Sort(p.pres.Claims)
	p.deviceMsg = deviceInput(w.Binding, w.Delegation, w.Presentation, w.Disclosures)
	return p, nil
}

// DecodeOffline decodes an offline code WITHOUT verifying any signature,
// returning the binding, the delegation (nil when none) and the
// presentation. Use it to inspect a code; use Verifier to trust one.
func DecodeOffline(text string) (Binding, *Delegation, Presentation, error) {
	p, err := decodeOffline(text)
	if err != nil {
		return Binding{}, nil, Presentation{}, err
	}
	return p.binding, p.delegation, p.pres, nil
}
