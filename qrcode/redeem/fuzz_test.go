package redeem

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/qrcode"
)

func FuzzHolderRequest(f *testing.F) {
	fx := newFixture(f)
	f.Add(fx.binding, int64(fx.now.Unix()), []byte("0123456789abcdef"), []byte{1})
	a := &BindingAuthenticator{Verifier: fx.verifier(f, nil), Nonces: newMemStore(f, nil), Region: "310000", Now: func() time.Time { return fx.now }}
	f.Fuzz(func(t *testing.T, binding []byte, ts int64, nonce, sig []byte) {
		a.AuthenticateHolder(context.Background(), &qrcode.HolderRequest{Purpose: qrcode.PurposeOnlineCode, Binding: binding, Time: ts, Nonce: nonce, Region: "310000", Sig: sig}, qrcode.PurposeOnlineCode)
	})
}

// FuzzPeerAnswer: a peer's answer to a redemption, whatever its status
// and body, never panics; a refusal is ErrPeer or a sentinel with a wire
// code; an accepted answer is a redemption of the asked region that
// encodes and decodes back to itself.
func FuzzPeerAnswer(f *testing.F) {
	ok, _ := json.Marshal(Redemption{PairwiseID: "5f2c9a0e7b1d4c3a", Assurance: 3, Region: "310000", Claims: map[string]string{"age_over_18": "true"}})
	f.Add(200, ok)
	f.Add(200, []byte(`{"pairwise_id":"p","assurance_level":2,"region":"310000"}`))
	f.Add(200, []byte(`{"pairwise_id":"p","PAIRWISE_ID":"q","region":"310000"}`))
	for _, e := range []error{qrcode.ErrCodeUsed, qrcode.ErrCodeExpired, qrcode.ErrRevoked, qrcode.ErrSuspended, qrcode.ErrWrongRegion,
		qrcode.ErrNoRoute, qrcode.ErrUnknownVerifier, qrcode.ErrPeerAuth, qrcode.ErrTooLarge, qrcode.ErrPrefix, qrcode.ErrVersion,
		qrcode.ErrKind, qrcode.ErrMalformed, qrcode.ErrUnavailable} {
		b, _ := json.Marshal(map[string]string{"error": qrcode.ErrorCode(e), "error_description": e.Error()})
		f.Add(409, b)
	}
	f.Add(503, []byte(`<html>busy</html>`))
	statuses := []int{200, 400, 401, 403, 409, 410, 413, 422, 429, 500, 503}
	f.Fuzz(func(t *testing.T, status int, data []byte) {
		status = statuses[uint(status)%uint(len(statuses))]
		r, err := decodePeerAnswer("310000", status, data)
		if err != nil {
			if !errors.Is(err, qrcode.ErrPeer) && qrcode.ErrorCode(err) == "" {
				t.Fatalf("refusal without ErrPeer or a wire code: %v", err)
			}
			return
		}
		if status != 200 || r.Region != "310000" || r.PairwiseID == "" {
			t.Fatalf("accepted %d %+v", status, r)
		}
		once, _ := json.Marshal(r)
		back, err := decodePeerAnswer("310000", 200, once)
		if err != nil {
			t.Fatalf("re-encoded answer refused: %v\n%s", err, once)
		}
		if twice, _ := json.Marshal(back); !bytes.Equal(once, twice) {
			t.Fatalf("not stable:\n%s\n%s", once, twice)
		}
	})
}
