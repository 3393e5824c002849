package redeem

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/internal/testredis"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/store"
	redisstore "github.com/trustid-cn/trustid/store/redis"
)

// hmacPairwise is a real pairwise deriver: HMAC-SM3 of sector and subject
// under a region key.
type hmacPairwise struct{ key []byte }

func (p hmacPairwise) Pairwise(subject []byte, sector identity.Sector) (string, error) {
	if err := sector.Check(); err != nil {
		return "", err
	}
	msg := append([]byte{byte(sector.Kind)}, sector.Name+"\x00"...)
	return hex.EncodeToString(gm.HMACSM3(p.key, append(msg, subject...))[:16]), nil
}

// rpTable is a real in-memory relying-party registry.
type rpTable map[string]RelyingParty

func (t rpTable) RelyingParty(_ context.Context, id string) (RelyingParty, error) {
	rp, ok := t[id]
	if !ok {
		return RelyingParty{}, qrcode.ErrUnknownVerifier
	}
	return rp, nil
}

var testRPs = rpTable{
	"hotel":   {ClientID: "hotel", Sector: "hotel.example", AllowedClaims: []string{"age_over_18"}},
	"station": {ClientID: "station", Sector: "rail.example"},
}

// peerTable is an in-memory trust registry of other regions' relying
// parties: by home region and client ID, each with the one sector it
// holds and its registered claims.
type peerTable map[[2]string]RelyingParty

func (t peerTable) PeerParty(_ context.Context, region, clientID, sector string) (RelyingParty, error) {
	rp, ok := t[[2]string{region, clientID}]
	if !ok {
		return RelyingParty{}, fmt.Errorf("%w: not registered with %s", qrcode.ErrUnknownVerifier, region)
	}
	if rp.Sector != sector {
		return RelyingParty{}, fmt.Errorf("%w: sector not held", qrcode.ErrUnknownVerifier)
	}
	return rp, nil
}

// testPeers: region 440000's hotel (registered for age_over_18 and
// resident), bank-app (sector bank.example) and bank.example (no sector).
var testPeers = peerTable{
	{"440000", "hotel"}:        {ClientID: "hotel", Sector: "hotel.example", AllowedClaims: []string{"age_over_18", "resident"}},
	{"440000", "bank-app"}:     {ClientID: "bank-app", Sector: "bank.example"},
	{"440000", "bank.example"}: {ClientID: "bank.example"},
}

// peerReq is the peer request of rp for code.
func peerReq(rp RelyingParty, code string) PeerRedeemRequest {
	return PeerRedeemRequest{Code: code, ClientID: rp.ClientID, Sector: rp.Sector}
}

func newService(t testing.TB, st TokenStore, region string, now func() time.Time) *Service {
	t.Helper()
	return newServiceWith(t, st, region, now, &memStatus{})
}

// newServiceWith is newService with the binding status source given.
func newServiceWith(t testing.TB, st TokenStore, region string, now func() time.Time, status qrcode.StatusChecker) *Service {
	t.Helper()
	s, err := NewService(ServiceConfig{
		Region: region, Store: st, Pairwise: hmacPairwise{key: []byte("region pairwise key " + region)},
		RelyingParties: testRPs, PeerParties: testPeers, Status: status, Now: now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newMemStore(t testing.TB, now func() time.Time) *store.Memory {
	t.Helper()
	m, err := store.NewMemory(store.MemoryOptions{Now: now, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

var holder = Holder{
	Subject: bytes.Repeat([]byte{0xa1}, 16), Assurance: qrcode.AssurancePIN, Region: 310000,
	Status: qrcode.StatusRef{Region: 310000, List: 7, Index: 4242},
	Claims: map[string]string{"age_over_18": "true", "resident": "310000"},
}

// TestIssueEndsWithBinding: an online code answers for its binding, so
// it expires with the binding when that comes before the code's TTL (an
// offline code of the binding is refused from then on too), and a
// binding expired already gets no code; the authenticator hands the
// binding's expiry on.
func TestIssueEndsWithBinding(t *testing.T) {
	ctx := context.Background()
	now := testNow
	clock := func() time.Time { return now }
	s := newService(t, newMemStore(t, clock), "310000", clock)
	h := holder
	h.Expiry = now.Add(10 * time.Second)
	is, err := s.Issue(ctx, h, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !is.ExpiresAt.Equal(h.Expiry) || is.ExpiresIn != 10*time.Second {
		t.Errorf("issued until %v (in %v), want the binding's expiry %v", is.ExpiresAt, is.ExpiresIn, h.Expiry)
	}
	now = h.Expiry
	if _, err := s.Redeem(ctx, "hotel", is.Text); !errors.Is(err, qrcode.ErrCodeExpired) {
		t.Errorf("redeemed as the binding expires: %v, want ErrCodeExpired", err)
	}
	if _, err := s.Issue(ctx, h, nil); !errors.Is(err, qrcode.ErrBindingExpired) {
		t.Errorf("issued for an expired binding: %v", err)
	}
	now = testNow
	h.Expiry = now.Add(time.Hour)
	if is, err := s.Issue(ctx, h, nil); err != nil || !is.ExpiresAt.Equal(now.Add(DefaultCodeTTL)) || is.ExpiresIn != DefaultCodeTTL {
		t.Errorf("a binding valid past the TTL: %+v, %v", is, err)
	}

	f := newFixture(t)
	a := &BindingAuthenticator{Verifier: f.verifier(t, nil), Nonces: newMemStore(t, nil), Region: "310000", Now: func() time.Time { return f.now }}
	r := &qrcode.HolderRequest{Purpose: qrcode.PurposeOnlineCode, Binding: f.binding, Time: f.now.Unix(), Nonce: bytes.Repeat([]byte{1}, 16), Region: "310000"}
	if err := qrcode.SignHolderRequest(nil, f.device, r); err != nil {
		t.Fatal(err)
	}
	if got, err := a.AuthenticateHolder(ctx, r, qrcode.PurposeOnlineCode); err != nil || !got.Expiry.Equal(testNow.AddDate(1, 0, 0)) {
		t.Errorf("authenticated holder's expiry %v (%v), want the binding's", got.Expiry, err)
	}
}

func TestServiceIssueRedeem(t *testing.T) {
	ctx := context.Background()
	now := testNow
	clock := func() time.Time { return now }
	st := newMemStore(t, clock)
	s := newService(t, st, "310000", clock)

	is, err := s.Issue(ctx, holder, []string{"age_over_18", "resident"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(is.Text, "TIDON1:") || is.ExpiresAt != now.Add(DefaultCodeTTL) {
		t.Errorf("issued %+v", is)
	}
	r, err := s.Redeem(ctx, "hotel", is.Text)
	if err != nil {
		t.Fatal(err)
	}
	// Only the consented ∩ allowed claims: the hotel may see age_over_18.
	if r.Region != "310000" || r.Assurance != qrcode.AssurancePIN || len(r.Claims) != 1 || r.Claims["age_over_18"] != "true" || len(r.PairwiseID) != 32 {
		t.Errorf("redemption %+v", r)
	}
	if _, err := s.Redeem(ctx, "hotel", is.Text); !errors.Is(err, qrcode.ErrCodeUsed) {
		t.Errorf("second redemption: %v", err)
	}

	// Pairwise IDs differ by sector and are stable.
	is2, _ := s.Issue(ctx, holder, nil)
	r2, err := s.Redeem(ctx, "station", is2.Text)
	if err != nil {
		t.Fatal(err)
	}
	is3, _ := s.Issue(ctx, holder, nil)
	r3, _ := s.Redeem(ctx, "hotel", is3.Text)
	if r2.PairwiseID == r.PairwiseID || r3.PairwiseID != r.PairwiseID || r3.Claims != nil {
		t.Errorf("pairwise: hotel %s station %s hotel again %s claims %v", r.PairwiseID, r2.PairwiseID, r3.PairwiseID, r3.Claims)
	}

	// Expiry: within the grace period the error is precise.
	is4, _ := s.Issue(ctx, holder, nil)
	now = now.Add(DefaultCodeTTL)
	if _, err := s.Redeem(ctx, "hotel", is4.Text); !errors.Is(err, qrcode.ErrCodeExpired) {
		t.Errorf("expired code: %v", err)
	}
	now = testNow

	// Consent to an unattested claim, an unknown verifier, another region.
	if _, err := s.Issue(ctx, holder, []string{"name"}); !errors.Is(err, qrcode.ErrConsent) {
		t.Errorf("consent to an unattested claim: %v", err)
	}
	is5, _ := s.Issue(ctx, holder, nil)
	if _, err := s.Redeem(ctx, "stranger", is5.Text); !errors.Is(err, qrcode.ErrUnknownVerifier) {
		t.Errorf("unknown verifier: %v", err)
	}
	other := qrcode.OnlineCode{Region: 440000}
	if _, err := s.Redeem(ctx, "hotel", other.String()); !errors.Is(err, qrcode.ErrNoRoute) {
		t.Errorf("no route: %v", err)
	}
	if _, err := s.RedeemForPeer(ctx, "440000", peerReq(testRPs["hotel"], other.String())); !errors.Is(err, qrcode.ErrWrongRegion) {
		t.Errorf("peer redemption of a foreign code: %v", err)
	}
	if _, err := s.Redeem(ctx, "hotel", "TIDON1:ZZZ"); !errors.Is(err, qrcode.ErrMalformed) {
		t.Errorf("garbage: %v", err)
	}
}

// TestRedeemChecksBindingStatus: a code issued before its binding was
// revoked (or suspended) is refused at redemption and used up; a status
// source that cannot answer fails closed; other holders are unaffected.
func TestRedeemChecksBindingStatus(t *testing.T) {
	ctx := context.Background()
	status := &memStatus{}
	s := newServiceWith(t, newMemStore(t, nil), "310000", nil, status)
	other := holder
	other.Subject = bytes.Repeat([]byte{0xb2}, 16)
	other.Status = qrcode.StatusRef{Region: 310000, List: 7, Index: 4243}

	// Issue, revoke, redeem: refused, and the code is gone.
	is, err := s.Issue(ctx, holder, []string{"age_over_18"})
	if err != nil {
		t.Fatal(err)
	}
	isOther, _ := s.Issue(ctx, other, nil)
	status.set(holder.Status, qrcode.StatusRevoked)
	if r, err := s.Redeem(ctx, "hotel", is.Text); !errors.Is(err, qrcode.ErrRevoked) || r != nil {
		t.Fatalf("code of a revoked binding: %+v %v", r, err)
	}
	if _, err := s.Redeem(ctx, "hotel", is.Text); !errors.Is(err, qrcode.ErrCodeUsed) {
		t.Errorf("refused code redeemed again: %v", err)
	}
	if _, err := s.Redeem(ctx, "hotel", isOther.Text); err != nil {
		t.Errorf("another binding's code: %v", err)
	}
	// Through a peer too (the home node checks).
	is, _ = s.Issue(ctx, holder, nil)
	if _, err := s.RedeemForPeer(ctx, "440000", peerReq(testRPs["hotel"], is.Text)); !errors.Is(err, qrcode.ErrRevoked) {
		t.Errorf("peer redemption of a revoked binding's code: %v", err)
	}

	// Suspension stops codes as well, and lifting it lets new ones pass.
	status.set(holder.Status, qrcode.StatusSuspended)
	is, _ = s.Issue(ctx, holder, nil)
	if _, err := s.Redeem(ctx, "hotel", is.Text); !errors.Is(err, qrcode.ErrSuspended) {
		t.Errorf("code of a suspended binding: %v", err)
	}
	status.set(holder.Status, qrcode.StatusValid)
	is, _ = s.Issue(ctx, holder, nil)
	if _, err := s.Redeem(ctx, "hotel", is.Text); err != nil {
		t.Errorf("after the suspension was lifted: %v", err)
	}

	// The status source is down: fail closed, and the code is used up.
	is, _ = s.Issue(ctx, holder, nil)
	status.mu.Lock()
	status.down = true
	status.mu.Unlock()
	if _, err := s.Redeem(ctx, "hotel", is.Text); !errors.Is(err, qrcode.ErrStatusUnavailable) {
		t.Errorf("status down: %v", err)
	}
	status.mu.Lock()
	status.down = false
	status.mu.Unlock()
	if _, err := s.Redeem(ctx, "hotel", is.Text); !errors.Is(err, qrcode.ErrCodeUsed) {
		t.Errorf("after the status failure: %v", err)
	}
	// A checker failing with an error of its own is also unavailable.
	failing := newServiceWith(t, newMemStore(t, nil), "310000", nil, failingStatus{})
	is, _ = failing.Issue(ctx, holder, nil)
	if _, err := failing.Redeem(ctx, "hotel", is.Text); !errors.Is(err, qrcode.ErrStatusUnavailable) {
		t.Errorf("failing checker: %v", err)
	}

	// A record without a status reference (an older version's) is refused.
	mem := newMemStore(t, nil)
	s2 := newServiceWith(t, mem, "310000", nil, &memStatus{})
	code, err := qrcode.NewOnlineCode(defaultRand, 310000)
	if err != nil {
		t.Fatal(err)
	}
	old, _ := recordEnc.Marshal(struct {
		Subject   []byte `cbor:"1,keyasint"`
		Assurance uint8  `cbor:"2,keyasint"`
		Region    uint32 `cbor:"3,keyasint"`
		Expiry    int64  `cbor:"4,keyasint"`
	}{holder.Subject, qrcode.AssurancePIN, 310000, time.Now().Add(time.Minute).UnixMilli()})
	sealed, _ := gm.Seal(defaultRand, recordKey(code.Ref[:]), old, code.Ref[:])
	if err := mem.Put(ctx, storeKey(code.Ref[:]), sealed, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Redeem(ctx, "hotel", code.String()); !errors.Is(err, qrcode.ErrStatusUnavailable) {
		t.Errorf("record without a status reference: %v", err)
	}

	// The service needs a status checker.
	if _, err := NewService(ServiceConfig{Region: "310000", Store: mem, Pairwise: hmacPairwise{}, RelyingParties: testRPs}); !errors.Is(err, qrcode.ErrInvalidArgument) {
		t.Errorf("no status checker: %v", err)
	}
}

// failingStatus is a status source whose own error is not one of ours.
type failingStatus struct{}

func (failingStatus) Status(context.Context, qrcode.StatusRef) (qrcode.Status, error) {
	return 0, errors.New("connection refused")
}

// TestRecordHoldsNoClearData: the stored value is sealed; neither the
// subject nor claim values appear in it, and the key is not the reference.
func TestRecordHoldsNoClearData(t *testing.T) {
	rec := &recordingStore{TokenStore: newMemStore(t, nil)}
	s := newService(t, rec, "310000", nil)
	if _, err := s.Issue(context.Background(), holder, []string{"resident"}); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(rec.value, holder.Subject) || bytes.Contains(rec.value, []byte("310000")) || bytes.Contains(rec.value, []byte("resident")) {
		t.Error("record stored in clear")
	}
}

type recordingStore struct {
	TokenStore
	value []byte
}

func (r *recordingStore) Put(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	r.value = append([]byte(nil), value...)
	return r.TokenStore.Put(ctx, key, value, ttl)
}

// TestExactlyOneRedemption races many redemptions of each code, against
// the in-memory store and a real Redis.
func TestExactlyOneRedemption(t *testing.T) {
	stores := map[string]func(*testing.T) TokenStore{
		"memory": func(t *testing.T) TokenStore { return newMemStore(t, nil) },
		"redis": func(t *testing.T) TokenStore {
			r, err := redisstore.New(testredis.StartClient(t), redisstore.Options{Prefix: "qrtest:"})
			if err != nil {
				t.Fatal(err)
			}
			return r
		},
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			s := newService(t, open(t), "310000", nil)
			ctx := context.Background()
			for range 20 {
				is, err := s.Issue(ctx, holder, nil)
				if err != nil {
					t.Fatal(err)
				}
				var wins, used atomic.Int32
				var wg sync.WaitGroup
				for range 16 {
					wg.Go(func() {
						_, err := s.Redeem(ctx, "hotel", is.Text)
						switch {
						case err == nil:
							wins.Add(1)
						case errors.Is(err, qrcode.ErrCodeUsed):
							used.Add(1)
						default:
							t.Error(err)
						}
					})
				}
				wg.Wait()
				if wins.Load() != 1 || used.Load() != 15 {
					t.Fatalf("%d redemptions succeeded, %d refused", wins.Load(), used.Load())
				}
			}
		})
	}
}

// TestCrossRegionPeers: a verifier of region B redeems a code of region A;
// B forwards with a signed node assertion, A authenticates it, consumes
// the code and answers. Replayed assertions, unknown peers and a second
// redemption fail with their own errors.
func TestCrossRegionPeers(t *testing.T) {
	ctx := context.Background()
	keyA, keyB := mustKey(t, 0x61), mustKey(t, 0x62)
	memA, memB := newMemStore(t, nil), newMemStore(t, nil)
	svcA := newService(t, memA, "310000", nil)
	authA := &NodeAssertions{Region: "310000", SigningKey: FixedKey(keyA, "kid-a"), Nonces: memA,
		Keys: keyTable{"440000": {"kid-b": keyB.Public()}}}
	var lastAuth string
	srvA := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lastAuth = r.Header.Get("Authorization")
		w.Header().Set("Content-Type", "application/json")
		region, err := authA.AuthenticatePeer(r)
		if err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, `{"error":%q}`, qrcode.ErrorCode(err))
			return
		}
		var req PeerRedeemRequest
		json.NewDecoder(r.Body).Decode(&req)
		red, err := svcA.RedeemForPeer(r.Context(), region, req)
		if err != nil {
			w.WriteHeader(http.StatusConflict)
			fmt.Fprintf(w, `{"error":%q}`, qrcode.ErrorCode(err))
			return
		}
		json.NewEncoder(w).Encode(red)
	}))
	defer srvA.Close()

	credB := &NodeAssertions{Region: "440000", SigningKey: FixedKey(keyB, "kid-b")}
	svcB, err := NewService(ServiceConfig{
		Region: "440000", Store: memB, Pairwise: hmacPairwise{key: []byte("b")}, RelyingParties: testRPs, Status: &memStatus{},
		Peers: &HTTPPeers{Directory: dirTable{"310000": srvA.URL}, Credentials: credB},
	})
	if err != nil {
		t.Fatal(err)
	}
	is, err := svcA.Issue(ctx, holder, []string{"age_over_18"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := svcB.Redeem(ctx, "hotel", is.Text)
	if err != nil {
		t.Fatal(err)
	}
	local, _ := svcA.Issue(ctx, holder, nil)
	rl, _ := svcA.Redeem(ctx, "hotel", local.Text)
	if r.Region != "310000" || r.Claims["age_over_18"] != "true" || r.PairwiseID != rl.PairwiseID {
		t.Errorf("forwarded redemption %+v (local pairwise %s)", r, rl.PairwiseID)
	}
	if _, err := svcB.Redeem(ctx, "hotel", is.Text); !errors.Is(err, qrcode.ErrCodeUsed) {
		t.Errorf("second forwarded redemption: %v", err)
	}
	// Replay B's last assertion directly.
	req, _ := http.NewRequest("POST", srvA.URL+PeerRedeemPath, strings.NewReader(`{}`))
	req.Header.Set("Authorization", lastAuth)
	if _, err := authA.AuthenticatePeer(req); !errors.Is(err, qrcode.ErrPeerAuth) {
		t.Errorf("replayed assertion: %v", err)
	}
	// A node A does not know.
	credC := &NodeAssertions{Region: "440000", SigningKey: FixedKey(mustKey(t, 0x63), "kid-b")}
	svcC, _ := NewService(ServiceConfig{Region: "440000", Store: memB, Pairwise: hmacPairwise{}, RelyingParties: testRPs, Status: &memStatus{},
		Peers: &HTTPPeers{Directory: dirTable{"310000": srvA.URL}, Credentials: credC}})
	is2, _ := svcA.Issue(ctx, holder, nil)
	if _, err := svcC.Redeem(ctx, "hotel", is2.Text); !errors.Is(err, qrcode.ErrPeer) {
		t.Errorf("impostor node: %v", err)
	}
	// The code is still redeemable by an authenticated node.
	if _, err := svcB.Redeem(ctx, "hotel", is2.Text); err != nil {
		t.Errorf("after the impostor: %v", err)
	}
	if _, err := svcB.Redeem(ctx, "hotel", (qrcode.OnlineCode{Region: 110000}).String()); !errors.Is(err, qrcode.ErrNoRoute) {
		t.Errorf("no peer: %v", err)
	}
}

func TestHolderAuthentication(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	nonces := newMemStore(t, nil)
	a := &BindingAuthenticator{Verifier: f.verifier(t, nil), Nonces: nonces, Region: "310000", Now: func() time.Time { return f.now }}
	req := func(nonce byte, mod func(*qrcode.HolderRequest)) *qrcode.HolderRequest {
		r := &qrcode.HolderRequest{Purpose: qrcode.PurposeOnlineCode, Binding: f.binding, Time: f.now.Unix(), Nonce: bytes.Repeat([]byte{nonce}, 16), Region: "310000", Consent: []string{"age_over_18"}}
		if err := qrcode.SignHolderRequest(nil, f.device, r); err != nil {
			t.Fatal(err)
		}
		if mod != nil {
			mod(r)
		}
		return r
	}
	h, err := a.AuthenticateHolder(ctx, req(1, nil), qrcode.PurposeOnlineCode)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(h.Subject, f.subject) || h.Assurance != qrcode.AssurancePIN || h.Claims["age_over_18"] != "true" {
		t.Errorf("holder %+v", h)
	}
	for name, c := range map[string]struct {
		r    *qrcode.HolderRequest
		want error
	}{
		"nonce reused":    {req(1, nil), qrcode.ErrHolderAuth},
		"consent changed": {req(2, func(r *qrcode.HolderRequest) { r.Consent = []string{"resident"} }), qrcode.ErrHolderAuth},
		"other region":    {req(3, func(r *qrcode.HolderRequest) { r.Region = "440000" }), qrcode.ErrHolderAuth},
		"stale":           {req(4, func(r *qrcode.HolderRequest) { r.Time -= 120 }), qrcode.ErrHolderAuth},
		"short nonce":     {req(5, func(r *qrcode.HolderRequest) { r.Nonce = r.Nonce[:8] }), qrcode.ErrHolderAuth},
		"garbage binding": {req(6, func(r *qrcode.HolderRequest) { r.Binding = []byte{0xa0} }), qrcode.ErrMalformed},
		"purpose changed": {req(8, func(r *qrcode.HolderRequest) { r.Purpose = qrcode.PurposeLoginApprove }), qrcode.ErrHolderAuth},
	} {
		if _, err := a.AuthenticateHolder(ctx, c.r, qrcode.PurposeOnlineCode); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	// Requests the device signed as they are: for another region's node,
	// out of the time window, over a binding a rogue key signed under the
	// real kid, over a binding not valid now, with a short nonce. ("other
	// region", "stale" and "short nonce" above are refused for their
	// signature alone.)
	issue := func(key *gm.PrivateKey, issued, expiry time.Time) []byte {
		b, err := (&qrcode.Issuer{Signer: key, Kid: f.kid, Region: 310000}).IssueBinding(qrcode.Binding{Subject: f.subject, DeviceKey: f.device.PublicKey(),
			Assurance: qrcode.AssurancePIN, IssuedAt: issued, Expiry: expiry, Status: qrcode.StatusRef{List: 3, Index: 70001}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	year := f.now.AddDate(1, 0, 0)
	for i, c := range []struct {
		name    string
		binding []byte
		time    time.Time
		region  string
		want    error
	}{
		{"another region", f.binding, f.now, "440000", qrcode.ErrHolderAuth},
		{"signed 2 minutes ago", f.binding, f.now.Add(-2 * time.Minute), "310000", qrcode.ErrHolderAuth},
		{"signed 2 minutes ahead", f.binding, f.now.Add(2 * time.Minute), "310000", qrcode.ErrHolderAuth},
		{"rogue binding", issue(mustKey(t, 0x44), f.now.Add(-time.Hour), year), f.now, "310000", qrcode.ErrSignature},
		{"expired binding", issue(f.issuerKey, f.now.AddDate(-1, 0, 0), f.now), f.now, "310000", qrcode.ErrBindingExpired},
		{"binding issued ahead", issue(f.issuerKey, f.now.Add(2*time.Minute), year), f.now, "310000", qrcode.ErrBindingExpired},
	} {
		r := &qrcode.HolderRequest{Purpose: qrcode.PurposeOnlineCode, Binding: c.binding, Time: c.time.Unix(), Nonce: bytes.Repeat([]byte{byte(20 + i)}, 16), Region: c.region}
		if err := qrcode.SignHolderRequest(nil, f.device, r); err != nil {
			t.Fatal(err)
		}
		if _, err := a.AuthenticateHolder(ctx, r, qrcode.PurposeOnlineCode); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	short := &qrcode.HolderRequest{Purpose: qrcode.PurposeOnlineCode, Binding: f.binding, Time: f.now.Unix(), Nonce: bytes.Repeat([]byte{30}, 8), Region: "310000"}
	if err := qrcode.SignHolderRequest(nil, f.device, short); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AuthenticateHolder(ctx, short, qrcode.PurposeOnlineCode); !errors.Is(err, qrcode.ErrHolderAuth) {
		t.Errorf("a signed 8-byte nonce: %v", err)
	}
	// A request signed for one purpose is refused for another, and its
	// purpose cannot be changed under the signature.
	approval := &qrcode.HolderRequest{Purpose: qrcode.PurposeLoginApprove, Binding: f.binding, Time: f.now.Unix(), Nonce: bytes.Repeat([]byte{9}, 16), Region: "310000"}
	if err := qrcode.SignHolderRequest(nil, f.device, approval); err != nil {
		t.Fatal(err)
	}
	for _, purpose := range []string{qrcode.PurposeOnlineCode, qrcode.PurposeLoginDeny, ""} {
		if _, err := a.AuthenticateHolder(ctx, approval, purpose); !errors.Is(err, qrcode.ErrHolderAuth) {
			t.Errorf("a login approval taken for %q: %v", purpose, err)
		}
	}
	denial := *approval
	denial.Purpose = qrcode.PurposeLoginDeny
	if _, err := a.AuthenticateHolder(ctx, &denial, qrcode.PurposeLoginDeny); !errors.Is(err, qrcode.ErrHolderAuth) {
		t.Errorf("an approval relabelled as a refusal: %v", err)
	}
	if _, err := a.AuthenticateHolder(ctx, approval, qrcode.PurposeLoginApprove); err != nil {
		t.Errorf("the approval for its purpose (its nonce not burnt by the refusals): %v", err)
	}
	// The forged request ("consent changed") did not burn nonce 2.
	if _, err := a.AuthenticateHolder(ctx, req(2, nil), qrcode.PurposeOnlineCode); err != nil {
		t.Errorf("nonce burnt by a forged request: %v", err)
	}
	// Revocation takes effect at once.
	f.status.set(qrcode.StatusRef{Region: 310000, List: 3, Index: 70001}, qrcode.StatusRevoked)
	if _, err := a.AuthenticateHolder(ctx, req(7, nil), qrcode.PurposeOnlineCode); !errors.Is(err, qrcode.ErrRevoked) {
		t.Errorf("revoked binding: %v", err)
	}
}

// TestHolderNonceSpentForItsRequestOnly: a nonce is spent for the
// binding and purpose that signed it, so no other holder's request,
// through another route, spends it first. A login's challenge is public
// (GET /login/sessions/{id}, for whoever reads the QR): a bystander's
// online code request signed over it burnt the challenge, and every
// approval of the person at the browser was refused as a reused nonce
// until the session ended. A replay of the one request is still refused.
func TestHolderNonceSpentForItsRequestOnly(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a := &BindingAuthenticator{Verifier: f.verifier(t, nil), Nonces: newMemStore(t, nil), Region: "310000", Now: func() time.Time { return f.now }}
	other := mustKey(t, 0x33)
	otherBinding, err := (&qrcode.Issuer{Signer: f.issuerKey, Kid: f.kid, Region: 310000}).IssueBinding(qrcode.Binding{
		Subject: bytes.Repeat([]byte{0xb2}, 33), DeviceKey: other.PublicKey(), Assurance: qrcode.AssurancePIN,
		IssuedAt: f.now.Add(-time.Hour), Expiry: f.now.AddDate(1, 0, 0), Status: qrcode.StatusRef{List: 3, Index: 70002}})
	if err != nil {
		t.Fatal(err)
	}
	challenge := bytes.Repeat([]byte{0x5c}, 32)
	sign := func(key *gm.PrivateKey, binding []byte, purpose string) *qrcode.HolderRequest {
		r := &qrcode.HolderRequest{Purpose: purpose, Binding: binding, Time: f.now.Unix(), Nonce: challenge, Region: "310000"}
		if err := qrcode.SignHolderRequest(nil, key, r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	// The bystander's online code request and refusal over the challenge.
	for _, purpose := range []string{qrcode.PurposeOnlineCode, qrcode.PurposeLoginDeny} {
		if _, err := a.AuthenticateHolder(ctx, sign(other, otherBinding, purpose), purpose); err != nil {
			t.Fatalf("the bystander's %s: %v", purpose, err)
		}
	}
	approval := sign(f.device, f.binding, qrcode.PurposeLoginApprove)
	if _, err := a.AuthenticateHolder(ctx, approval, qrcode.PurposeLoginApprove); err != nil {
		t.Errorf("the holder's approval after a bystander's requests over its nonce: %v", err)
	}
	if _, err := a.AuthenticateHolder(ctx, approval, qrcode.PurposeLoginApprove); !errors.Is(err, qrcode.ErrHolderAuth) {
		t.Errorf("the approval replayed: %v", err)
	}
	again := sign(f.device, f.binding, qrcode.PurposeLoginApprove)
	if _, err := a.AuthenticateHolder(ctx, again, qrcode.PurposeLoginApprove); !errors.Is(err, qrcode.ErrHolderAuth) {
		t.Errorf("the same nonce signed again by the same device for the same purpose: %v", err)
	}
}

// TestCheckHolderSpendsNothing: CheckHolder checks a request without
// spending its nonce, as often as asked (a login answer refused after it
// leaves the challenge as it was); SpendHolder spends it once, and the
// request is then refused as a replay.
func TestCheckHolderSpendsNothing(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a := &BindingAuthenticator{Verifier: f.verifier(t, nil), Nonces: newMemStore(t, nil), Region: "310000", Now: func() time.Time { return f.now }}
	r := &qrcode.HolderRequest{Purpose: qrcode.PurposeLoginApprove, Binding: f.binding, Time: f.now.Unix(), Nonce: bytes.Repeat([]byte{0x5d}, 32), Region: "310000"}
	if err := qrcode.SignHolderRequest(nil, f.device, r); err != nil {
		t.Fatal(err)
	}
	var h Holder
	for i := range 2 {
		var err error
		if h, err = a.CheckHolder(ctx, r, qrcode.PurposeLoginApprove); err != nil || !bytes.Equal(h.Subject, f.subject) {
			t.Fatalf("check %d: %+v %v", i, h, err)
		}
	}
	if err := a.SpendHolder(ctx, r, qrcode.PurposeLoginApprove, h); err != nil {
		t.Fatalf("spend after checks: %v", err)
	}
	if err := a.SpendHolder(ctx, r, qrcode.PurposeLoginApprove, h); !errors.Is(err, qrcode.ErrHolderAuth) {
		t.Errorf("spent twice: %v", err)
	}
	if _, err := a.AuthenticateHolder(ctx, r, qrcode.PurposeLoginApprove); !errors.Is(err, qrcode.ErrHolderAuth) {
		t.Errorf("authenticated after it was spent: %v", err)
	}
}

// TestPeerRedemptionChecksTheParty: a peer request naming an invalid
// sector (the internal binding sector, a NUL, over 255 bytes) or no
// client ID is refused before the code is consumed, so the holder's code
// still works for a valid party.
func TestPeerRedemptionChecksTheParty(t *testing.T) {
	ctx := context.Background()
	s := newService(t, newMemStore(t, nil), "310000", nil)
	is, err := s.Issue(ctx, holder, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, rp := range []RelyingParty{
		{ClientID: "hotel", Sector: "trustid:binding"},
		{ClientID: "hotel", Sector: "hotel.example\x00"},
		{ClientID: "hotel", Sector: strings.Repeat("a", 256)},
		{ClientID: "hotel", Sector: "Hotel.Example"},
		{Sector: "hotel.example"},
		{ClientID: "a\x00b"},
	} {
		if _, err := s.RedeemForPeer(ctx, "440000", peerReq(rp, is.Text)); !errors.Is(err, qrcode.ErrInvalidArgument) {
			t.Errorf("party %+q: %v", rp, err)
		}
	}
	if _, err := s.RedeemForPeer(ctx, "440000", peerReq(testRPs["hotel"], is.Text)); err != nil {
		t.Errorf("the code was consumed by a refused party: %v", err)
	}
}

// TestClientIDIsNotASector: a party with no sector identifier whose client
// ID is another party's sector identifier gets other pairwise IDs.
func TestClientIDIsNotASector(t *testing.T) {
	ctx := context.Background()
	s := newService(t, newMemStore(t, nil), "310000", nil)
	bySector := RelyingParty{ClientID: "bank-app", Sector: "bank.example"}
	byClientID := RelyingParty{ClientID: "bank.example"}
	var ids []string
	for _, rp := range []RelyingParty{bySector, byClientID} {
		is, _ := s.Issue(ctx, holder, nil)
		r, err := s.RedeemForPeer(ctx, "440000", peerReq(rp, is.Text))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.PairwiseID)
	}
	if ids[0] == ids[1] {
		t.Errorf("client ID %q and sector %q gave one pairwise ID", byClientID.ClientID, bySector.Sector)
	}
}

// TestPeerRedemptionBindsTheParty: the home node resolves the party from
// the registry under the calling region: a party of another home region
// and a sector the party does not hold are refused without consuming the
// code, and the claims released are the registry's, not the caller's.
func TestPeerRedemptionBindsTheParty(t *testing.T) {
	ctx := context.Background()
	s := newService(t, newMemStore(t, nil), "310000", nil)
	is, err := s.Issue(ctx, holder, []string{"age_over_18"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RedeemForPeer(ctx, "320000", PeerRedeemRequest{Code: is.Text, ClientID: "hotel", Sector: "hotel.example"}); !errors.Is(err, qrcode.ErrUnknownVerifier) {
		t.Errorf("party of another home region: %v", err)
	}
	if _, err := s.RedeemForPeer(ctx, "440000", PeerRedeemRequest{Code: is.Text, ClientID: "hotel", Sector: "bank.example"}); !errors.Is(err, qrcode.ErrUnknownVerifier) {
		t.Errorf("sector held by another party: %v", err)
	}
	r, err := s.RedeemForPeer(ctx, "440000", PeerRedeemRequest{Code: is.Text, ClientID: "hotel", Sector: "hotel.example"})
	if err != nil {
		t.Fatalf("the refusals consumed the code: %v", err)
	}
	if r.Claims["age_over_18"] != "true" || len(r.Claims) != 1 {
		t.Errorf("claims %v", r.Claims)
	}
	// Without a registry of other regions' parties, none is served.
	s2, _ := NewService(ServiceConfig{Region: "310000", Store: newMemStore(t, nil), Pairwise: hmacPairwise{}, RelyingParties: testRPs, Status: &memStatus{}})
	is2, _ := s2.Issue(ctx, holder, nil)
	if _, err := s2.RedeemForPeer(ctx, "440000", peerReq(testRPs["hotel"], is2.Text)); !errors.Is(err, qrcode.ErrUnknownVerifier) {
		t.Errorf("no peer parties: %v", err)
	}
}

// TestRedeemChecksRecordRegion: two regions' nodes sharing one store (a
// misconfiguration) do not redeem each other's codes: a code of 310000
// with its region rewritten to 440000 finds the record, which says
// 310000, and is refused.
func TestRedeemChecksRecordRegion(t *testing.T) {
	ctx := context.Background()
	clock := func() time.Time { return testNow }
	st := newMemStore(t, clock)
	sh, gz := newService(t, st, "310000", clock), newService(t, st, "440000", clock)
	is, err := sh.Issue(ctx, holder, nil)
	if err != nil {
		t.Fatal(err)
	}
	code, err := qrcode.DecodeOnline(is.Text)
	if err != nil {
		t.Fatal(err)
	}
	code.Region = 440000
	if _, err := gz.Redeem(ctx, "hotel", code.String()); !errors.Is(err, qrcode.ErrWrongRegion) {
		t.Errorf("another region's record: %v, want ErrWrongRegion", err)
	}
}

// TestRecordKeyIsPerCode: an online code's record is sealed under a key
// derived from the code's own reference, so one code's key does not open
// another code's record (a fixed key would open every record in Redis).
func TestRecordKeyIsPerCode(t *testing.T) {
	ctx := context.Background()
	rec := &recordingStore{TokenStore: newMemStore(t, nil)}
	s := newService(t, rec, "310000", nil)
	var refs [2][]byte
	var sealed [2][]byte
	for i := range 2 {
		is, err := s.Issue(ctx, holder, []string{"resident"})
		if err != nil {
			t.Fatal(err)
		}
		code, err := qrcode.DecodeOnline(is.Text)
		if err != nil {
			t.Fatal(err)
		}
		refs[i] = append([]byte(nil), code.Ref[:]...)
		sealed[i] = rec.value
	}
	if _, err := gm.Open(recordKey(refs[0]), sealed[1], refs[1]); err == nil {
		t.Fatal("code 0's record key opens code 1's record: the key is not derived from the reference")
	}
}

// TestOnlineCodeIsABearerCode pins a property of the design
// (docs/SECURITY.md, known gap 7): an online code names no verifier, so
// whichever registered party redeems it first within its life gets the
// answer, with its own pairwise ID for the holder (never another
// party's) and the consented claims its registration allows; the party
// the holder meant is then refused qr_code_used.
func TestOnlineCodeIsABearerCode(t *testing.T) {
	ctx := context.Background()
	clock := func() time.Time { return testNow }
	s := newService(t, newMemStore(t, clock), "310000", clock)
	own, _ := s.Issue(ctx, holder, nil)
	mine, err := s.Redeem(ctx, "hotel", own.Text)
	if err != nil {
		t.Fatal(err)
	}
	shown, _ := s.Issue(ctx, holder, []string{"age_over_18"}) // shown to the hotel
	taken, err := s.Redeem(ctx, "station", shown.Text)        // read off the screen by the station
	if err != nil {
		t.Fatalf("another party's redemption: %v", err)
	}
	if taken.PairwiseID == mine.PairwiseID {
		t.Fatal("the other party was given the hotel's pairwise ID")
	}
	if _, err := s.Redeem(ctx, "hotel", shown.Text); !errors.Is(err, qrcode.ErrCodeUsed) {
		t.Fatalf("the hotel after the station: %v, want ErrCodeUsed", err)
	}
}
