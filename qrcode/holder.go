package qrcode

import (
	"context"
	"crypto"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/store"
)

// HolderRequest is a holder app's request for an online code, signed by
// its bound device key. Binding is opaque to the interface (the holder
// copy of a binding of this package for BindingAuthenticator, with every
// claim's disclosure: the node issued them and may read them; another
// authenticator may take a binding credential).
type HolderRequest struct {
	Binding []byte   `json:"binding"`
	Time    int64    `json:"time"`  // unix seconds
	Nonce   []byte   `json:"nonce"` // 16 to 32 random bytes, single use
	Region  string   `json:"region"`
	Consent []string `json:"consent,omitempty"`
	Sig     []byte   `json:"sig"` // raw SM2 r‖s by the device key
}

// signedBytes is what the device signs.
func (r *HolderRequest) signedBytes() []byte {
	var t [8]byte
	binary.BigEndian.PutUint64(t[:], uint64(r.Time))
	return sigInput(ctxHolderReq, r.Binding, t[:], r.Nonce, []byte(r.Region), []byte(strings.Join(r.Consent, "\x00")))
}

// SignHolderRequest fills in Sig with the device key (wallet side).
func SignHolderRequest(rand io.Reader, device crypto.Signer, r *HolderRequest) error {
	if rand == nil {
		rand = defaultRand
	}
	sig, err := gm.SignWith(rand, device, r.signedBytes())
	if err != nil {
		return fmt.Errorf("qrcode: device sign: %w", err)
	}
	r.Sig = sig
	return nil
}

// HolderAuthenticator authenticates a holder's signed request and returns
// the facts of its device binding. Errors match ErrHolderAuth (bad or
// stale request, reused nonce), ErrRevoked or ErrSuspended (binding
// revoked or suspended: online this takes effect at once),
// ErrBindingExpired, ErrUnknownKey or ErrMalformed.
// Safe for concurrent use.
type HolderAuthenticator interface {
	AuthenticateHolder(ctx context.Context, r *HolderRequest) (Holder, error)
}

// NonceStore records single-use nonces; store.Memory and redisstore.Store
// satisfy it. MarkUsed returns an error matching store.ErrReplayed for a
// nonce already marked.
type NonceStore interface {
	MarkUsed(ctx context.Context, key string, ttl time.Duration) error
}

// BindingAuthenticator is the HolderAuthenticator for devices holding a
// binding of this package: it checks the issuer's signature (with the
// verifier's keys), the binding's validity and status, the request's
// region, time and device signature, then spends the nonce.
type BindingAuthenticator struct {
	// Verifier supplies the issuer keys and the status checker (for a node,
	// its own current lists). Required.
	Verifier *Verifier
	// Nonces spends request nonces. Required.
	Nonces NonceStore
	// Region is this node's region: requests must name it.
	Region string
	// Window is the accepted clock distance; zero means DefaultWindow.
	Window time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

var _ HolderAuthenticator = (*BindingAuthenticator)(nil)

// AuthenticateHolder implements HolderAuthenticator.
func (a *BindingAuthenticator) AuthenticateHolder(ctx context.Context, r *HolderRequest) (Holder, error) {
	if a.Verifier == nil || a.Nonces == nil {
		return Holder{}, fmt.Errorf("%w: authenticator not configured", ErrUnavailable)
	}
	now, window := time.Now(), a.Window
	if a.Now != nil {
		now = a.Now()
	}
	if window <= 0 {
		window = DefaultWindow
	}
	if len(r.Nonce) < 16 || len(r.Nonce) > 32 || len(r.Sig) != gm.SignatureSize || len(r.Binding) == 0 || len(r.Binding) > 1024 {
		return Holder{}, fmt.Errorf("%w: request fields out of range", ErrHolderAuth)
	}
	if r.Region != a.Region {
		return Holder{}, fmt.Errorf("%w: request for another region", ErrHolderAuth)
	}
	if d := now.Sub(time.Unix(r.Time, 0)); d > window || d < -window {
		return Holder{}, fmt.Errorf("%w: request time outside the window", ErrHolderAuth)
	}
	b, s, _, err := decodeHolderCopy(r.Binding)
	if err != nil {
		return Holder{}, err
	}
	if err := a.Verifier.checkSigned(ctx, ctxBinding, s); err != nil {
		return Holder{}, fmt.Errorf("binding: %w", err)
	}
	if b.DeviceKey.Verify(r.signedBytes(), r.Sig) != nil {
		return Holder{}, fmt.Errorf("%w: device signature", ErrHolderAuth)
	}
	if now.Before(b.IssuedAt.Add(-window)) || !now.Before(b.Expiry) {
		return Holder{}, ErrBindingExpired
	}
	if err := a.Verifier.checkStatus(ctx, b.Status, "device binding"); err != nil {
		return Holder{}, err
	}
	err = a.Nonces.MarkUsed(ctx, "qr-holder:"+string(r.Nonce), 2*window)
	if errors.Is(err, store.ErrReplayed) {
		return Holder{}, fmt.Errorf("%w: nonce reused", ErrHolderAuth)
	}
	if err != nil {
		return Holder{}, fmt.Errorf("%w: nonce store: %w", ErrUnavailable, err)
	}
	return Holder{Subject: b.Subject, Assurance: b.Assurance, Region: b.Region, Status: b.Status, Claims: b.Claims}, nil
}
