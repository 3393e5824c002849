package redeem

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/gm"
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

// FuzzStoredRecord: a code's record read back from the store (opened
// with the code's key, so past the seal), whatever its bytes, redeems
// as Issue could have written it (this region, an assurance level, a
// claim the party may see), or is refused with an error that has a
// wire code; never a panic.
func FuzzStoredRecord(f *testing.F) {
	ctx := context.Background()
	clock := func() time.Time { return testNow }
	st := newMemStore(f, clock)
	s := newService(f, st, "310000", clock)
	seal := func(ref, plain []byte) []byte {
		b, err := gm.Seal(rand.Reader, recordKey(ref), plain, ref)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	// Seeds: records as Issue writes them.
	for _, consent := range [][]string{nil, {"age_over_18", "resident"}} {
		is, err := s.Issue(ctx, holder, consent)
		if err != nil {
			f.Fatal(err)
		}
		sealed, err := st.Consume(ctx, storeKey(is.Code.Ref[:]))
		if err != nil {
			f.Fatal(err)
		}
		plain, err := gm.Open(recordKey(is.Code.Ref[:]), sealed, is.Code.Ref[:])
		if err != nil {
			f.Fatal(err)
		}
		f.Add(plain)
	}
	r, l, i := uint32(310000), uint32(7), uint32(1)
	f.Add(marshalRecord(record{Subject: holder.Subject, Assurance: 9, Region: 310000, Expiry: testNow.Add(time.Minute).UnixMilli(), StatusRegion: &r, StatusList: &l, StatusIndex: &i}))
	f.Add(marshalRecord(record{Region: 310000, Expiry: testNow.Add(time.Minute).UnixMilli(), StatusRegion: &r, StatusList: &l, StatusIndex: &i}))
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, plain []byte) {
		is, err := s.Issue(ctx, holder, nil)
		if err != nil {
			t.Fatal(err)
		}
		ref := is.Code.Ref[:]
		if _, err := st.Consume(ctx, storeKey(ref)); err != nil {
			t.Fatal(err)
		}
		if err := st.Put(ctx, storeKey(ref), seal(ref, plain), time.Minute); err != nil {
			t.Fatal(err)
		}
		red, err := s.Redeem(ctx, "hotel", is.Text)
		if err != nil {
			if qrcode.ErrorCode(err) == "" {
				t.Fatalf("error without a wire code: %v", err)
			}
			return
		}
		if red.Region != "310000" || red.Assurance < int(qrcode.AssuranceDocument) || red.Assurance > int(qrcode.AssuranceBiometric) || red.PairwiseID == "" {
			t.Fatalf("redeemed %+v", red)
		}
		for name := range red.Claims {
			if name != "age_over_18" {
				t.Fatalf("claim %q the hotel may not see", name)
			}
		}
	})
}
