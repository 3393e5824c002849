package redeem

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/store"
)

// HolderAuthenticator authenticates a holder's signed request for purpose
// (a qrcode.Purpose constant: a request for another is refused) and returns
// the facts of its device binding. Errors match ErrHolderAuth (bad or
// stale request, reused nonce), ErrRevoked or ErrSuspended (binding
// revoked or suspended: online this takes effect at once),
// ErrBindingExpired, ErrUnknownKey or ErrMalformed.
// Safe for concurrent use.
type HolderAuthenticator interface {
	AuthenticateHolder(ctx context.Context, r *qrcode.HolderRequest, purpose string) (Holder, error)
}

// NonceStore records single-use nonces; store.Memory and redisstore.Store
// satisfy it. MarkUsed returns an error matching store.ErrReplayed for a
// nonce already marked.
type NonceStore interface {
	MarkUsed(ctx context.Context, key string, ttl time.Duration) error
}

// holderNonceKey is the store key that spends nonce for the binding whose
// subject handle is subject, for purpose: a replay (the same signed
// request) is that key again, while no other holder's request, nor one
// for another route, spends it. A login's challenge is a nonce anyone
// who reads its session URL knows; spent for any request, a bystander's
// online code request over it blocked the person's approval.
func holderNonceKey(purpose string, subject, nonce []byte) string {
	return fmt.Sprintf("qr-holder:%s:%x:%x", purpose, subject, nonce)
}

// BindingAuthenticator is the HolderAuthenticator for devices holding a
// binding of package qrcode: it checks the issuer's signature (with the
// verifier's keys), the binding's validity and status, the request's
// region, time and device signature, then spends the nonce.
type BindingAuthenticator struct {
	// Verifier supplies the issuer keys and the status checker (for a node,
	// its own current lists). Required.
	Verifier *qrcode.Verifier
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

// AuthenticateHolder implements HolderAuthenticator: CheckHolder, then
// SpendHolder.
func (a *BindingAuthenticator) AuthenticateHolder(ctx context.Context, r *qrcode.HolderRequest, purpose string) (Holder, error) {
	h, err := a.CheckHolder(ctx, r, purpose)
	if err != nil {
		return Holder{}, err
	}
	if err := a.SpendHolder(ctx, r, purpose, h); err != nil {
		return Holder{}, err
	}
	return h, nil
}

// CheckHolder is AuthenticateHolder without spending the nonce, for a
// request its caller may still refuse (a login answer): the caller spends
// it (SpendHolder) once it takes the request, so that a refusal spends
// nothing.
func (a *BindingAuthenticator) CheckHolder(ctx context.Context, r *qrcode.HolderRequest, purpose string) (Holder, error) {
	if a.Verifier == nil || a.Nonces == nil {
		return Holder{}, fmt.Errorf("%w: authenticator not configured", qrcode.ErrUnavailable)
	}
	now, window := a.clock()
	b, err := a.Verifier.VerifyHolderRequest(ctx, r, purpose, a.Region, now, window)
	if err != nil {
		return Holder{}, err
	}
	return Holder{Subject: b.Subject, Assurance: b.Assurance, Region: b.Region, Status: b.Status, Claims: b.Claims, Expiry: b.Expiry}, nil
}

// SpendHolder spends the nonce of r, a request CheckHolder returned h
// for, for h's binding and purpose: ErrHolderAuth when it was spent
// already (a replay), ErrUnavailable when the store fails.
func (a *BindingAuthenticator) SpendHolder(ctx context.Context, r *qrcode.HolderRequest, purpose string, h Holder) error {
	if a.Nonces == nil {
		return fmt.Errorf("%w: authenticator not configured", qrcode.ErrUnavailable)
	}
	_, window := a.clock()
	err := a.Nonces.MarkUsed(ctx, holderNonceKey(purpose, h.Subject, r.Nonce), 2*window)
	if errors.Is(err, store.ErrReplayed) {
		return fmt.Errorf("%w: nonce reused", qrcode.ErrHolderAuth)
	}
	if err != nil {
		return fmt.Errorf("%w: nonce store: %w", qrcode.ErrUnavailable, err)
	}
	return nil
}

// clock is the time now and the accepted clock distance.
func (a *BindingAuthenticator) clock() (time.Time, time.Duration) {
	now, window := time.Now(), a.Window
	if a.Now != nil {
		now = a.Now()
	}
	if window <= 0 {
		window = qrcode.DefaultWindow
	}
	return now, window
}
