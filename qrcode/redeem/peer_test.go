package redeem

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
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
		PeerKeys: map[string]qrcode.IssuerKeySource{"440000": qrcode.StaticKeys{{Kid: "kid-b", Public: key.Public()}}},
		Now:      func() time.Time { return now }}
	method, err := gm.SigningMethod(key)
	if err != nil {
		t.Fatal(err)
	}
	good := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": "trustid-node:440000", "sub": "trustid-node:440000", "aud": "trustid-node:310000",
			"iat": now.Unix(), "exp": now.Add(30 * time.Second).Unix(), "jti": "j-" + t.Name()}
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
	} {
		c := good()
		c["jti"] = "j-" + name
		mod(c)
		if err := try(c); !errors.Is(err, qrcode.ErrPeerAuth) {
			t.Errorf("%s: %v, want ErrPeerAuth", name, err)
		}
	}
	if err := try(good()); err != nil {
		t.Fatalf("good assertion: %v", err)
	}
	if err := try(good()); !errors.Is(err, qrcode.ErrPeerAuth) {
		t.Errorf("replayed assertion: %v", err)
	}
}

// FuzzAuthenticatePeer: arbitrary bearer tokens never panic and are
// refused with ErrPeerAuth (or ErrUnavailable from the nonce store).
func FuzzAuthenticatePeer(f *testing.F) {
	now := time.Unix(1_750_000_000, 0)
	key := mustKey(f, 0x62)
	auth := &NodeAssertions{Region: "310000", Nonces: newMemStore(f, func() time.Time { return now }),
		PeerKeys: map[string]qrcode.IssuerKeySource{"440000": qrcode.StaticKeys{{Kid: "kid-b", Public: key.Public()}}},
		Now:      func() time.Time { return now }}
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
// "PAIRWISE_ID":"b"} as "b" and "Region" as region; such answers, and an
// error code under another name, are invalid answers (ErrPeer), while the
// exact ones pass.
func TestPeerAnswerStrict(t *testing.T) {
	var status int
	var body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	defer srv.Close()
	peers := &HTTPPeers{Peers: map[string]Peer{"310000": {BaseURL: srv.URL}}}
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
