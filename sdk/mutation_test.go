package sdk_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/sdk"
)

// TestAccessTokenLengthBoundAsNode: a token signed by the node's key of
// exactly the node's bound (8 KiB) is accepted by the node and the SDK;
// one byte longer both refuse.
func TestAccessTokenLengthBoundAsNode(t *testing.T) {
	node := startExampleNode()
	defer node.Close()
	node.register("hotel", gm.AlgSM2, auth.ScopeQRRedeem)
	ctx := context.Background()
	k, err := node.keys.Active(gm.AlgSM2)
	if err != nil {
		t.Fatal(err)
	}
	method, _ := gm.SigningMethod(k.Signer)
	enc := base64.RawURLEncoding.EncodeToString
	now := time.Now().Unix()
	// sized signs a token of exactly n bytes: an ignored pad claim and
	// spaces in the header make up the length.
	sized := func(n int) string {
		for sp := 0; sp < 4; sp++ {
			h := `{"alg":"SM2","kid":"` + k.Kid + `","typ":"at+jwt"` + strings.Repeat(" ", sp) + "}"
			for pad := 0; pad < n; pad++ {
				c := `{"iss":"` + node.URL + `","aud":["` + node.URL + `","` + testAPI + `"],"sub":"hotel","client_id":"hotel","jti":"j1","exp":` +
					strconv.FormatInt(now+300, 10) + `,"iat":` + strconv.FormatInt(now, 10) + `,"scope":"qr:redeem","pad":"` + strings.Repeat("a", pad) + `"}`
				input := enc([]byte(h)) + "." + enc([]byte(c))
				if l := len(input) + 1 + 86; l > n {
					break
				} else if l < n {
					continue
				}
				sig, err := method.Sign(input, k.Signer)
				if err != nil {
					t.Fatal(err)
				}
				return input + "." + enc(sig)
			}
		}
		t.Fatalf("no token of %d bytes", n)
		return ""
	}
	v, err := sdk.NewAccessTokenVerifier(sdk.AccessTokenConfig{Issuer: node.URL, Audience: testAPI, Algorithms: []string{gm.AlgSM2}})
	if err != nil {
		t.Fatal(err)
	}
	at := sized(8 << 10)
	if _, err := node.auth.Authorize(ctx, at, auth.ScopeQRRedeem); err != nil {
		t.Fatalf("8 KiB: the node: %v", err)
	}
	if _, err := v.Verify(ctx, at); err != nil {
		t.Fatalf("8 KiB: the SDK: %v", err)
	}
	over := sized(8<<10 + 1)
	if _, err := node.auth.Authorize(ctx, over, auth.ScopeQRRedeem); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("8 KiB + 1: the node: %v, want auth.ErrInvalidToken", err)
	}
	if p, err := v.Verify(ctx, over); !errors.Is(err, sdk.ErrInvalidToken) {
		t.Errorf("8 KiB + 1: the SDK: %+v %v, want ErrInvalidToken", p, err)
	}
}

// TestAccessTokenMediaTypeAsNode: typ application/at+jwt is at+jwt with
// its prefix (RFC 7515 §4.1.9: "the "application/" prefix ... MAY be
// omitted"; recipients treat both as one): the node and the SDK accept it.
func TestAccessTokenMediaTypeAsNode(t *testing.T) {
	node := startExampleNode()
	defer node.Close()
	node.register("hotel", gm.AlgSM2, auth.ScopeQRRedeem)
	ctx := context.Background()
	k, err := node.keys.Active(gm.AlgSM2)
	if err != nil {
		t.Fatal(err)
	}
	method, _ := gm.SigningMethod(k.Signer)
	enc := base64.RawURLEncoding.EncodeToString
	now := time.Now().Unix()
	v, err := sdk.NewAccessTokenVerifier(sdk.AccessTokenConfig{Issuer: node.URL, Audience: testAPI, Algorithms: []string{gm.AlgSM2}})
	if err != nil {
		t.Fatal(err)
	}
	for typ, ok := range map[string]bool{"at+jwt": true, "application/at+jwt": true, "AT+JWT": true, "application/jwt": false, "x/at+jwt": false} {
		h := `{"alg":"SM2","kid":"` + k.Kid + `","typ":"` + typ + `"}`
		c := `{"iss":"` + node.URL + `","aud":["` + node.URL + `","` + testAPI + `"],"sub":"hotel","client_id":"hotel","jti":"j1","exp":` +
			strconv.FormatInt(now+300, 10) + `,"iat":` + strconv.FormatInt(now, 10) + `,"scope":"qr:redeem"}`
		input := enc([]byte(h)) + "." + enc([]byte(c))
		sig, err := method.Sign(input, k.Signer)
		if err != nil {
			t.Fatal(err)
		}
		tok := input + "." + enc(sig)
		if _, err := node.auth.Authorize(ctx, tok, auth.ScopeQRRedeem); (err == nil) != ok {
			t.Errorf("typ %s: the node: %v, want accepted %v", typ, err, ok)
		}
		if _, err := v.Verify(ctx, tok); (err == nil) != ok || (!ok && !errors.Is(err, sdk.ErrInvalidToken)) {
			t.Errorf("typ %s: the SDK: %v, want accepted %v", typ, err, ok)
		}
	}
}

// TestAccessTokenWithoutClientIDOrSub: a token signed by the node's key
// with neither client_id nor sub (so that sub equals client_id, both
// empty) is refused.
func TestAccessTokenWithoutClientIDOrSub(t *testing.T) {
	node := startExampleNode()
	defer node.Close()
	ctx := context.Background()
	k, err := node.keys.Active(gm.AlgSM2)
	if err != nil {
		t.Fatal(err)
	}
	method, _ := gm.SigningMethod(k.Signer)
	enc := base64.RawURLEncoding.EncodeToString
	now := time.Now().Unix()
	h := `{"alg":"SM2","kid":"` + k.Kid + `","typ":"at+jwt"}`
	c := `{"iss":"` + node.URL + `","aud":["` + node.URL + `","` + testAPI + `"],"jti":"j1","exp":` +
		strconv.FormatInt(now+300, 10) + `,"iat":` + strconv.FormatInt(now, 10) + `,"scope":"qr:redeem"}`
	input := enc([]byte(h)) + "." + enc([]byte(c))
	sig, err := method.Sign(input, k.Signer)
	if err != nil {
		t.Fatal(err)
	}
	v, err := sdk.NewAccessTokenVerifier(sdk.AccessTokenConfig{Issuer: node.URL, Audience: testAPI, Algorithms: []string{gm.AlgSM2}})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := v.Verify(ctx, input+"."+enc(sig)); !errors.Is(err, sdk.ErrInvalidToken) {
		t.Errorf("no client_id and no sub: %+v %v, want ErrInvalidToken", p, err)
	}
}

// fixedClock is a clock that moves only when set.
type fixedClock struct{ t atomic.Int64 }

func (c *fixedClock) Now() time.Time { return time.Unix(0, c.t.Load()) }

// TestKeySetUsedForTTLAndNoLonger: a fetched set is used for TTL, not
// at its end: a lookup TTL after the fetch fetches again.
func TestKeySetUsedForTTLAndNoLonger(t *testing.T) {
	node := newJWKSServer(t)
	clock := &fixedClock{}
	t0 := time.Now()
	clock.t.Store(t0.UnixNano())
	ks := &sdk.KeySet{URL: node.URL, Now: clock.Now, TTL: time.Minute, MinRefresh: time.Second}
	ctx := context.Background()
	if _, err := ks.Key(ctx, "k1"); err != nil || ks.Fetches() != 1 {
		t.Fatalf("first lookup: %v, %d fetches", err, ks.Fetches())
	}
	clock.t.Store(t0.Add(time.Minute - time.Nanosecond).UnixNano())
	if _, err := ks.Key(ctx, "k1"); err != nil || ks.Fetches() != 1 {
		t.Fatalf("just before TTL: %v, %d fetches, want 1", err, ks.Fetches())
	}
	clock.t.Store(t0.Add(time.Minute).UnixNano())
	if _, err := ks.Key(ctx, "k1"); err != nil || ks.Fetches() != 2 {
		t.Fatalf("at TTL: %v, %d fetches, want 2", err, ks.Fetches())
	}
}

// TestNodeAnswerSizeBound: a node's answer is read up to 1 MiB; a token
// answer of 1 MiB is used and one a byte longer refused.
func TestNodeAnswerSizeBound(t *testing.T) {
	key, err := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	answer := `{"access_token":"t","token_type":"Bearer","expires_in":300}`
	var size atomic.Int64
	node := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(answer + strings.Repeat(" ", int(size.Load())-len(answer))))
	}))
	defer node.Close()
	for n, ok := range map[int64]bool{1 << 20: true, 1<<20 + 1: false} {
		size.Store(n)
		ts, err := sdk.NewTokenSource(sdk.ClientConfig{Node: node.URL, ClientID: "hotel", Key: key})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ts.Token(context.Background()); (err == nil) != ok {
			t.Errorf("answer of %d bytes: %v, want accepted %v", n, err, ok)
		}
	}
}

// TestIDTokenIATBound: an ID token without iat is refused (OIDC Core
// §2: iat is REQUIRED), and one whose iat is older than MaxAge plus the
// leeway (10 minutes and 30 s) by 20 s too.
func TestIDTokenIATBound(t *testing.T) {
	p := newProvider(t)
	l := newLogin(t, p.URL, gm.AlgSM2)
	for name, tok := range map[string]string{
		"no iat":              p.idToken(t, p.sm2, func(c jwt.MapClaims) { delete(c, "iat") }),
		"iat 10 min 50 s ago": p.idToken(t, p.sm2, func(c jwt.MapClaims) { c["iat"] = time.Now().Add(-10*time.Minute - 50*time.Second).Unix() }),
	} {
		if id, err := l.VerifyIDToken(context.Background(), tok, "n-1"); !errors.Is(err, sdk.ErrIDToken) {
			t.Errorf("%s: %+v %v, want ErrIDToken", name, id, err)
		}
	}
}

// TestTokenAnswerNeedsALifetime: a token answer whose expires_in is 0 or
// negative is refused (the token could not be cached for any time).
func TestTokenAnswerNeedsALifetime(t *testing.T) {
	key, err := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, exp := range []string{"0", "-5"} {
		node := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"access_token":"t","token_type":"Bearer","expires_in":` + exp + `}`))
		}))
		ts, err := sdk.NewTokenSource(sdk.ClientConfig{Node: node.URL, ClientID: "hotel", Key: key})
		if err != nil {
			t.Fatal(err)
		}
		if tok, err := ts.Token(context.Background()); !errors.Is(err, sdk.ErrToken) {
			t.Errorf("expires_in %s: %q %v, want ErrToken", exp, tok, err)
		}
		node.Close()
	}
}
