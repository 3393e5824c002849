package redeem

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/qrcode"
)

// TestPeerAssertionClaims feeds AuthenticatePeer assertions signed by a
// known peer key but with missing or inconsistent claims: each must be
// refused with ErrPeerAuth (never a panic), and a correct one accepted.
func TestPeerAssertionClaims(t *testing.T) {
	now := time.Unix(1_750_000_000, 0)
	key := mustKey(t, 0x62)
	auth := &NodeAssertions{Region: "310000", Nonces: newMemStore(t, func() time.Time { return now }),
		// This region's own key is in the registry too: "this region" is
		// refused for its issuer, not for a key not found.
		Keys: keyTable{"440000": {"kid-b": key.Public()}, "310000": {"kid-b": key.Public()}},
		Now:  func() time.Time { return now }}
	method, err := gm.SigningMethod(key)
	if err != nil {
		t.Fatal(err)
	}
	good := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": "trustid-node:440000", "sub": "trustid-node:440000", "aud": "trustid-node:310000",
			"iat": now.Unix(), "exp": now.Add(30 * time.Second).Unix(), "jti": "j-" + t.Name(), "body_sm3": bodyDigest(nil)}
	}
	try := func(claims jwt.MapClaims) error {
		tok := jwt.NewWithClaims(method, claims)
		tok.Header["kid"] = "kid-b"
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodPost, "https://node.example"+PeerRedeemPath, nil)
		req.Header.Set("Authorization", "Bearer "+s)
		_, err = auth.AuthenticatePeer(req)
		return err
	}
	for name, mod := range map[string]func(jwt.MapClaims){
		"no iat":        func(c jwt.MapClaims) { delete(c, "iat") },
		"no exp":        func(c jwt.MapClaims) { delete(c, "exp") },
		"no sub":        func(c jwt.MapClaims) { delete(c, "sub") },
		"other sub":     func(c jwt.MapClaims) { c["sub"] = "trustid-node:310000" },
		"no jti":        func(c jwt.MapClaims) { delete(c, "jti") },
		"long lifetime": func(c jwt.MapClaims) { c["exp"] = now.Add(10 * time.Minute).Unix() },
		"iat in future": func(c jwt.MapClaims) { c["iat"] = now.Add(time.Minute).Unix() },
		"no body_sm3":   func(c jwt.MapClaims) { delete(c, "body_sm3") },
		"this region":   func(c jwt.MapClaims) { c["iss"], c["sub"] = "trustid-node:310000", "trustid-node:310000" },
		"other body":    func(c jwt.MapClaims) { c["body_sm3"] = bodyDigest([]byte("{}")) },
	} {
		c := good()
		c["jti"] = "j-" + name
		mod(c)
		if err := try(c); !errors.Is(err, qrcode.ErrPeerAuth) {
			t.Errorf("%s: %v, want ErrPeerAuth", name, err)
		}
	}
	// Refusals with a reason of their own (a metric label each).
	for name, c := range map[string]struct {
		mod  func(jwt.MapClaims)
		want error
	}{
		"expired": {func(c jwt.MapClaims) {
			c["iat"], c["exp"] = now.Add(-50*time.Second).Unix(), now.Add(-10*time.Second).Unix()
		}, ErrAssertionExpired},
		"iat in future": {func(c jwt.MapClaims) {
			c["iat"], c["exp"] = now.Add(time.Minute).Unix(), now.Add(80*time.Second).Unix()
		}, ErrAssertionExpired},
		"other audience": {func(c jwt.MapClaims) { c["aud"] = "trustid-node:320000" }, ErrAssertionAudience},
		"two audiences":  {func(c jwt.MapClaims) { c["aud"] = []string{"trustid-node:310000", "trustid-node:320000"} }, ErrAssertionAudience},
	} {
		cl := good()
		cl["jti"] = "j-" + name
		c.mod(cl)
		if err := try(cl); !errors.Is(err, qrcode.ErrPeerAuth) || !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want ErrPeerAuth and %v", name, err, c.want)
		}
	}
	if err := try(good()); err != nil {
		t.Fatalf("good assertion: %v", err)
	}
	if err := try(good()); !errors.Is(err, qrcode.ErrPeerAuth) {
		t.Errorf("replayed assertion: %v", err)
	}
}

// TestPeerAssertionCoversTheBody: an assertion made for one request body
// does not authenticate another (a changed code, client or sector), nor a
// body over MaxPeerBody; the body it covers is accepted and left readable
// for the handler.
func TestPeerAssertionCoversTheBody(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_750_000_000, 0)
	key := mustKey(t, 0x62)
	caller := &NodeAssertions{Region: "440000", SigningKey: FixedKey(key, "kid-b"), Now: func() time.Time { return now }}
	callee := &NodeAssertions{Region: "310000", Nonces: newMemStore(t, func() time.Time { return now }),
		Keys: keyTable{"440000": {"kid-b": key.Public()}}, Now: func() time.Time { return now }}
	body := `{"code":"TIDON1:X","client_id":"hotel"}`
	send := func(signed, sent string) (string, error) {
		req, _ := http.NewRequest(http.MethodPost, "https://node.example"+PeerRedeemPath, strings.NewReader(signed))
		if err := caller.Authorize(ctx, req, "310000"); err != nil {
			t.Fatal(err)
		}
		in, _ := http.NewRequest(http.MethodPost, "https://node.example"+PeerRedeemPath, strings.NewReader(sent))
		in.Header = req.Header
		if _, err := callee.AuthenticatePeer(in); err != nil {
			return "", err
		}
		got, err := io.ReadAll(in.Body)
		return string(got), err
	}
	if got, err := send(body, body); err != nil || got != body {
		t.Fatalf("the body signed: %q %v", got, err)
	}
	for name, sent := range map[string]string{
		"other client": `{"code":"TIDON1:X","client_id":"bank"}`,
		"other sector": `{"code":"TIDON1:X","client_id":"hotel","sector":"bank.example"}`,
		"empty":        "",
		"too large":    body + strings.Repeat(" ", MaxPeerBody),
	} {
		if _, err := send(body, sent); !errors.Is(err, qrcode.ErrPeerAuth) {
			t.Errorf("%s: %v, want ErrPeerAuth", name, err)
		}
	}
}

// FuzzAuthenticatePeer: arbitrary bearer tokens never panic and are
// refused with ErrPeerAuth (or ErrUnavailable from the nonce store).
func FuzzAuthenticatePeer(f *testing.F) {
	now := time.Unix(1_750_000_000, 0)
	key := mustKey(f, 0x62)
	auth := &NodeAssertions{Region: "310000", Nonces: newMemStore(f, func() time.Time { return now }),
		Keys: keyTable{"440000": {"kid-b": key.Public()}},
		Now:  func() time.Time { return now }}
	method, _ := gm.SigningMethod(key)
	for _, c := range []jwt.MapClaims{
		{"iss": "trustid-node:440000", "aud": "trustid-node:310000", "exp": now.Add(30 * time.Second).Unix(), "jti": "x"},
		{"iss": "trustid-node:440000", "sub": "trustid-node:440000", "aud": "trustid-node:310000", "iat": now.Unix(), "exp": now.Add(30 * time.Second).Unix()},
	} {
		tok := jwt.NewWithClaims(method, c)
		tok.Header["kid"] = "kid-b"
		s, _ := tok.SignedString(key)
		f.Add(s)
	}
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, tok string) {
		req, _ := http.NewRequest(http.MethodPost, "https://node.example"+PeerRedeemPath, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		if _, err := auth.AuthenticatePeer(req); err == nil {
			t.Fatal("a fuzzed assertion was accepted")
		} else if !errors.Is(err, qrcode.ErrPeerAuth) && !errors.Is(err, qrcode.ErrUnavailable) {
			t.Fatalf("error outside the contract: %v", err)
		}
	})
}

// TestPeerAnswerStrict: HTTPPeers reads a peer's answer with the
// project's strict decoder. encoding/json would take {"pairwise_id":"a",
// "PAIRWISE_ID":"b"} as "b" and "Region" as region; such answers, one
// naming an actor or action (a redemption of an online code is never
// delegated), and an error code under another name, are invalid answers
// (ErrPeer), while the exact ones pass.
func TestPeerAnswerStrict(t *testing.T) {
	var status int
	var body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	defer srv.Close()
	peers := &HTTPPeers{Directory: dirTable{"310000": srv.URL}}
	redeem := func(s int, b string) (*Redemption, error) {
		status, body = s, b
		return peers.RedeemAt(context.Background(), "310000", RelyingParty{ClientID: "hotel", Sector: "hotel.example"}, "TIDON1:00")
	}
	if r, err := redeem(200, `{"pairwise_id":"p1","assurance_level":3,"region":"310000","claims":{"age_over_18":"true"}}`); err != nil || r.PairwiseID != "p1" {
		t.Fatalf("exact answer: %+v %v", r, err)
	}
	if _, err := redeem(409, `{"error":"qr_code_used","error_description":"used"}`); !errors.Is(err, qrcode.ErrCodeUsed) {
		t.Fatalf("exact error answer: %v", err)
	}
	for name, b := range map[string]string{
		"repeated in another case":        `{"pairwise_id":"p1","PAIRWISE_ID":"p2","assurance_level":3,"region":"310000"}`,
		"nested repeated in another case": `{"pairwise_id":"p1","assurance_level":3,"region":"310000","claims":{"age_over_18":"true","AGE_OVER_18":"false"}}`,
		"named in another case":           `{"pairwise_id":"p1","assurance_level":3,"Region":"310000"}`,
		"unknown member":                  `{"pairwise_id":"p1","assurance_level":3,"region":"310000","extra":1}`,
		"trailing data":                   `{"pairwise_id":"p1","assurance_level":3,"region":"310000"} {}`,
		// An online code is never delegated.
		"an actor":  `{"pairwise_id":"p1","assurance_level":3,"region":"310000","act":{"pairwise_id":"p2","relationship":"guardian"}}`,
		"an action": `{"pairwise_id":"p1","assurance_level":3,"region":"310000","action":"pickup"}`,
		// The answer is for the region asked, not another.
		"another region": `{"pairwise_id":"p1","assurance_level":3,"region":"440000"}`,
	} {
		if r, err := redeem(200, b); !errors.Is(err, qrcode.ErrPeer) {
			t.Errorf("%s: %+v %v", name, r, err)
		}
	}
	for name, b := range map[string]string{
		"error code named in another case":    `{"ERROR":"qr_code_used"}`,
		"error code repeated in another case": `{"error":"qr_code_used","Error":"qr_revoked"}`,
	} {
		if _, err := redeem(409, b); !errors.Is(err, qrcode.ErrPeer) || errors.Is(err, qrcode.ErrCodeUsed) || errors.Is(err, qrcode.ErrRevoked) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestPeerAnswerAssuranceLevel: a peer's 200 answer whose
// assurance_level is missing or outside 1 to 4 (the Redemption schema of
// api/openapi.json) is not a redemption: the forwarding node refuses it
// (ErrPeer: 502 qr_peer_failed) instead of passing a level its own API
// never gives to its relying party.
func TestPeerAnswerAssuranceLevel(t *testing.T) {
	var body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) }))
	defer srv.Close()
	svc, err := NewService(ServiceConfig{
		Region: "440000", Store: newMemStore(t, nil), Pairwise: hmacPairwise{key: []byte("b")}, RelyingParties: testRPs, Status: &memStatus{},
		Peers: &HTTPPeers{Directory: dirTable{"310000": srv.URL}},
	})
	if err != nil {
		t.Fatal(err)
	}
	code := (qrcode.OnlineCode{Region: 310000}).String()
	for level := 1; level <= 4; level++ {
		body = fmt.Sprintf(`{"pairwise_id":"p1","assurance_level":%d,"region":"310000"}`, level)
		if r, err := svc.Redeem(context.Background(), "hotel", code); err != nil || r.Assurance != level {
			t.Errorf("level %d: %+v %v", level, r, err)
		}
	}
	for name, b := range map[string]string{
		"missing": `{"pairwise_id":"p1","region":"310000"}`,
		"zero":    `{"pairwise_id":"p1","assurance_level":0,"region":"310000"}`,
		"five":    `{"pairwise_id":"p1","assurance_level":5,"region":"310000"}`,
		"minus":   `{"pairwise_id":"p1","assurance_level":-1,"region":"310000"}`,
	} {
		body = b
		if r, err := svc.Redeem(context.Background(), "hotel", code); !errors.Is(err, qrcode.ErrPeer) || errors.Is(err, qrcode.ErrUnavailable) {
			t.Errorf("%s: %+v %v, want ErrPeer", name, r, err)
		}
	}
}

// TestPeerFailureIsNotARefusal: a peer's own failures (401
// qr_peer_unauthorized, 503 temporarily_unavailable, 502 qr_peer_failed)
// are not refusals of the code to pass on: each is ErrUnavailable (503
// to the relying party), though every one is a wire code of a sentinel.
func TestPeerFailureIsNotARefusal(t *testing.T) {
	for status, code := range map[int]string{401: "qr_peer_unauthorized", 503: "temporarily_unavailable", 502: "qr_peer_failed"} {
		if qrcode.ErrorFromCode(code) == nil {
			t.Errorf("%s reads back as no sentinel", code)
		}
		body := fmt.Sprintf(`{"error":%q}`, code)
		if _, err := decodePeerAnswer("310000", status, []byte(body)); !errors.Is(err, qrcode.ErrUnavailable) || !errors.Is(err, qrcode.ErrPeer) {
			t.Errorf("%d %s: %v, want ErrUnavailable and ErrPeer", status, code, err)
		}
	}
}

// countingServer answers every request with h and counts them.
func countingServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// TestPeersDoNotFollowRedirects: neither the redemption (which carries
// the node assertion) nor the key fetch follows a redirect.
func TestPeersDoNotFollowRedirects(t *testing.T) {
	var leaked atomic.Value
	target, targetHits := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		leaked.Store(r.Header.Get("Authorization"))
		w.WriteHeader(200)
	})
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer redirect.Close()

	peers := &HTTPPeers{
		Directory:   dirTable{"310000": redirect.URL},
		Client:      &http.Client{Timeout: 5 * time.Second},
		Credentials: &NodeAssertions{Region: "440000", SigningKey: FixedKey(mustKey(t, 0x62), "kid-b")},
	}
	if _, err := peers.RedeemAt(context.Background(), "310000", testRPs["hotel"], (qrcode.OnlineCode{Region: 310000}).String()); !errors.Is(err, qrcode.ErrPeer) {
		t.Errorf("redirected redemption: %v", err)
	}
	if n := targetHits.Load(); n != 0 {
		t.Errorf("the redirect target was called %d times (Authorization %v)", n, leaked.Load())
	}
}

// TestForwardedAnswerIsFiltered: a peer that answers with claims the
// relying party is not registered for (name, id_number) does not get them
// to the verifier.
func TestForwardedAnswerIsFiltered(t *testing.T) {
	peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(Redemption{PairwiseID: "pw", Assurance: 3, Region: "310000",
			Claims: map[string]string{"age_over_18": "true", "name": "张三", "id_number": "11010519491231002X"}})
	}))
	defer peer.Close()
	svc, err := NewService(ServiceConfig{
		Region: "440000", Store: newMemStore(t, nil), Pairwise: hmacPairwise{key: []byte("b")}, RelyingParties: testRPs, Status: &memStatus{},
		Peers: &HTTPPeers{Directory: dirTable{"310000": peer.URL}},
	})
	if err != nil {
		t.Fatal(err)
	}
	code := (qrcode.OnlineCode{Region: 310000}).String()
	r, err := svc.Redeem(context.Background(), "hotel", code)
	if err != nil || len(r.Claims) != 1 || r.Claims["age_over_18"] != "true" {
		t.Errorf("hotel: %+v %v", r, err)
	}
	r, err = svc.Redeem(context.Background(), "station", code)
	if err != nil || r.Claims != nil {
		t.Errorf("station: %+v %v", r, err)
	}
}

// dirTable is an in-memory registry of region node URLs; a region
// missing from it is not active.
type dirTable map[string]string

func (d dirTable) PeerURL(region string) (string, error) {
	if u, ok := d[region]; ok {
		return u, nil
	}
	return "", errors.New("region not active")
}

// TestPeersFromTheDirectory: a region is reached at the URL the
// directory gives; a region the directory refuses (not active), or any
// region without a directory, is not called (ErrNoRoute).
func TestPeersFromTheDirectory(t *testing.T) {
	srv, hits := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"pairwise_id":"p1","assurance_level":3,"region":"310000"}`)
	})
	code := (qrcode.OnlineCode{Region: 310000}).String()
	peers := &HTTPPeers{Directory: dirTable{"310000": srv.URL}}
	if r, err := peers.RedeemAt(context.Background(), "310000", testRPs["hotel"], code); err != nil || r.PairwiseID != "p1" {
		t.Fatalf("registered region: %+v %v", r, err)
	}
	peers = &HTTPPeers{Directory: dirTable{}}
	if _, err := peers.RedeemAt(context.Background(), "310000", testRPs["hotel"], code); !errors.Is(err, qrcode.ErrNoRoute) {
		t.Errorf("suspended region: %v", err)
	}
	if _, err := (&HTTPPeers{}).RedeemAt(context.Background(), "310000", testRPs["hotel"], code); !errors.Is(err, qrcode.ErrNoRoute) {
		t.Errorf("no directory: %v", err)
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("peer called %d times, want 1", n)
	}
}

// TestPeerLimitNamed: a peer's 429 names the limit that refused the call
// in its limit member, which is taken only as a name (a-z 0-9 '-', 1 to
// 64 characters), never as other text to log; a body that names none (a
// node of an older release) or is no JSON object gives no name. Its
// retry_after member is read whatever its limit member says.
func TestPeerLimitNamed(t *testing.T) {
	for body, want := range map[string][2]string{
		`{"error":"rate_limited","limit":"qr-peer-party","retry_after":7}`:   {PeerLimitParty, "7"},
		`{"error":"rate_limited","limit":"qr-peer-region"}`:                  {PeerLimitRegion, ""},
		`{"error":"rate_limited"}`:                                           {"", ""},
		`{"error":"rate_limited","limit":"party\nlevel=ERROR"}`:              {"", ""},
		`{"error":"rate_limited","limit":"Qr-Peer-Party","retry_after":3}`:   {"", "3"},
		`{"error":"rate_limited","limit":"` + strings.Repeat("a", 65) + `"}`: {"", ""},
		`{"error":"rate_limited","limit":7}`:                                 {"", ""},
		`{"error":"rate_limited","retry_after":"7"}`:                         {"", `"7"`},
		`not json`: {"", ""},
	} {
		if limit, wait := peerLimit([]byte(body)); limit != want[0] || wait != want[1] {
			t.Errorf("%.60q: %q %q, want %q", body, limit, wait, want)
		}
	}
}
