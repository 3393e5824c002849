package qrcode

import (
	"context"
	"crypto"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/trustid-cn/trustid/gm"
)

// HolderRequest is a holder app's request to its node, signed by its
// bound device key: for an online code, or to approve or refuse a login.
// Purpose says which, under the signature, and each endpoint takes only
// its own (VerifyHolderRequest), so a request made for one is never
// accepted as another. Binding is opaque to the request (the holder copy
// of a binding of this package for the node's BindingAuthenticator in
// package qrcode/redeem, with every claim's disclosure: the node issued
// them and may read them; another authenticator may take a binding
// credential).
type HolderRequest struct {
	Purpose string   `json:"purpose"` // PurposeOnlineCode, PurposeLoginApprove or PurposeLoginDeny
	Binding []byte   `json:"binding"`
	Time    int64    `json:"time"`  // unix seconds
	Nonce   []byte   `json:"nonce"` // 16 to 32 random bytes, single use
	Region  string   `json:"region"`
	Consent []string `json:"consent,omitempty"`
	Sig     []byte   `json:"sig"` // raw SM2 r‖s by the device key
}

// The purposes of a holder request.
const (
	// PurposeOnlineCode asks for an online code (POST /v1/qr).
	PurposeOnlineCode = "qr-issue"
	// PurposeLoginApprove approves the login session whose challenge is
	// the request's nonce (POST /login/sessions/{id}/approve).
	PurposeLoginApprove = "login-approve"
	// PurposeLoginDeny refuses the login session whose challenge is the
	// request's nonce (POST /login/sessions/{id}/deny).
	PurposeLoginDeny = "login-deny"
)

// maxHolderCopy bounds a request's holder copy: the signed binding (under
// 400 bytes at the format's maxima) and MaxClaims disclosures of at most
// maxDisclosure bytes, so every holder copy IssueBinding makes fits (one
// attesting MaxClaims claims of the longest names and values is about
// 1,040 bytes).
const maxHolderCopy = 512 + MaxClaims*(maxDisclosure+2)

// signedBytes is what the device signs.
func (r *HolderRequest) signedBytes() []byte {
	var t [8]byte
	binary.BigEndian.PutUint64(t[:], uint64(r.Time))
	return sigInput(ctxHolderReq, []byte(r.Purpose), r.Binding, t[:], r.Nonce, []byte(r.Region), []byte(strings.Join(r.Consent, "\x00")))
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

// VerifyHolderRequest checks a holder's signed request for purpose (one
// of the Purpose constants) to the node of region at now, with window the
// accepted clock distance: the purpose, the fields' ranges, the region, the time, the issuer's signature on the binding (the
// holder copy), the device signature, the binding's validity and its
// status. It returns the binding; spending the request's nonce (single
// use) is the caller's. Errors match ErrHolderAuth, ErrBindingExpired,
// ErrRevoked, ErrSuspended, ErrStatusUnavailable, ErrUnknownKey,
// ErrSignature or a decoding sentinel.
func (v *Verifier) VerifyHolderRequest(ctx context.Context, r *HolderRequest, purpose, region string, now time.Time, window time.Duration) (Binding, error) {
	if r.Purpose != purpose {
		return Binding{}, fmt.Errorf("%w: the request is for %q, not %q", ErrHolderAuth, r.Purpose, purpose)
	}
	if len(r.Nonce) < 16 || len(r.Nonce) > 32 || len(r.Sig) != gm.SignatureSize || len(r.Binding) == 0 || len(r.Binding) > maxHolderCopy {
		return Binding{}, fmt.Errorf("%w: request fields out of range", ErrHolderAuth)
	}
	if r.Region != region {
		return Binding{}, fmt.Errorf("%w: request for another region", ErrHolderAuth)
	}
	if d := now.Sub(time.Unix(r.Time, 0)); d > window || d < -window {
		return Binding{}, fmt.Errorf("%w: request time outside the window", ErrHolderAuth)
	}
	b, s, _, err := decodeHolderCopy(r.Binding)
	if err != nil {
		return Binding{}, err
	}
	if err := v.checkSigned(ctx, ctxBinding, b.Region, s); err != nil {
		return Binding{}, fmt.Errorf("binding: %w", err)
	}
	if b.DeviceKey.Verify(r.signedBytes(), r.Sig) != nil {
		return Binding{}, fmt.Errorf("%w: device signature", ErrHolderAuth)
	}
	if now.Before(b.IssuedAt.Add(-window)) || !now.Before(b.Expiry) {
		return Binding{}, ErrBindingExpired
	}
	if err := v.checkStatus(ctx, b.Status, "device binding"); err != nil {
		return Binding{}, err
	}
	return b, nil
}
