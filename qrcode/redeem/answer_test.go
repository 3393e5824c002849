package redeem

import (
	"context"
	"crypto"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/qrcode"
)

// answerPair is region 440000's node (the caller, knowing A's key from
// its registry) and region 310000's node (the callee).
func answerPair(t testing.TB) (caller, callee *NodeAssertions) {
	keyA, keyB := mustKey(t, 0x61), mustKey(t, 0x62)
	caller = &NodeAssertions{Region: "440000", SigningKey: FixedKey(keyB, "kid-b"), Keys: keyTable{"310000": {"kid-a": keyA.Public()}}}
	callee = &NodeAssertions{Region: "310000", SigningKey: FixedKey(keyA, "kid-a")}
	return caller, callee
}

// asserted is a request of caller to 310000 with its node assertion.
func asserted(t testing.TB, caller *NodeAssertions, body string) *http.Request {
	t.Helper()
	req, _ := http.NewRequest("POST", "https://a.example"+PeerRedeemPath, strings.NewReader(body))
	if err := caller.Authorize(context.Background(), req, "310000"); err != nil {
		t.Fatal(err)
	}
	return req
}

// TestSignedPeerAnswers: the caller accepts an answer signed by the
// callee's registered key for this request, status and body; unsigned,
// signed by another key, for another request, region, status or body, or
// malformed, it is refused, each with its own error.
func TestSignedPeerAnswers(t *testing.T) {
	ctx := context.Background()
	caller, callee := answerPair(t)
	req := asserted(t, caller, `{"code":"x"}`)
	body := []byte(`{"pairwise_id":"p1"}`)
	sig, err := callee.SignAnswer(req, "440000", 200, body)
	if err != nil {
		t.Fatal(err)
	}
	if err := caller.VerifyAnswer(ctx, req, "310000", 200, body, sig); err != nil {
		t.Fatalf("signed answer: %v", err)
	}

	other := asserted(t, caller, `{"code":"x"}`) // same body, another jti
	forOther, _ := callee.SignAnswer(other, "440000", 200, body)
	toC, _ := callee.SignAnswer(req, "450000", 200, body)
	forged := &NodeAssertions{Region: "310000", SigningKey: FixedKey(mustKey(t, 0x63), "kid-a")}
	forgedSig, _ := forged.SignAnswer(req, "440000", 200, body)
	unknownKid := &NodeAssertions{Region: "310000", SigningKey: FixedKey(mustKey(t, 0x61), "kid-x")}
	unknownSig, _ := unknownKid.SignAnswer(req, "440000", 200, body)
	keyA, _, _ := callee.SigningKey()
	m, _ := gm.SigningMethod(keyA)
	untyped := jwt.NewWithClaims(m, answerClaims{RegisteredClaims: jwt.RegisteredClaims{Issuer: "trustid-node:310000", Audience: jwt.ClaimStrings{"trustid-node:440000"}},
		InReplyTo: "x", Status: 200, BodySM3: bodyDigest(body)})
	untyped.Header["kid"] = "kid-a"
	untypedSig, _ := untyped.SignedString(keyA)
	// Signed with region 310000's key, claiming to be another region's.
	misissued := jwt.NewWithClaims(m, answerClaims{RegisteredClaims: jwt.RegisteredClaims{Issuer: "trustid-node:320000", Audience: jwt.ClaimStrings{"trustid-node:440000"}},
		InReplyTo: "x", Status: 200, BodySM3: bodyDigest(body)})
	misissued.Header["kid"], misissued.Header["typ"] = "kid-a", PeerAnswerType
	misissuedSig, _ := misissued.SignedString(keyA)
	for name, c := range map[string]struct {
		region string
		status int
		body   string
		sig    string
		want   error
	}{
		"unsigned":                  {"310000", 200, string(body), "", ErrAnswerUnsigned},
		"another key, same kid":     {"310000", 200, string(body), forgedSig, ErrAnswerInvalid},
		"a kid not in the registry": {"310000", 200, string(body), unknownSig, ErrAnswerInvalid},
		"another region asked":      {"320000", 200, string(body), sig, ErrAnswerInvalid},
		"in reply to another":       {"310000", 200, string(body), forOther, ErrAnswerMismatch},
		"for another caller":        {"310000", 200, string(body), toC, ErrAnswerMismatch},
		"another status":            {"310000", 409, string(body), sig, ErrAnswerMismatch},
		"another body":              {"310000", 200, `{"pairwise_id":"p2"}`, sig, ErrAnswerMismatch},
		"no typ":                    {"310000", 200, string(body), untypedSig, ErrAnswerInvalid},
		"another issuer":            {"310000", 200, string(body), misissuedSig, ErrAnswerInvalid},
		"not a JWS":                 {"310000", 200, string(body), "a.b.c", ErrAnswerInvalid},
		"oversized":                 {"310000", 200, string(body), strings.Repeat("a", 5000), ErrAnswerInvalid},
	} {
		if err := caller.VerifyAnswer(ctx, req, c.region, c.status, []byte(c.body), c.sig); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
}

// TestPeersCheckAnswers: with Answers, HTTPPeers takes a signed answer,
// refuses an unsigned or replayed 200 (ErrPeer) and passes on a refusal
// only when it is signed: a signed 429 as ErrPeerLimited with the wait
// its body signs (retry_after), or its Retry-After header when the body
// has none, bounded to 1 s .. MaxPeerRetryAfter. An unsigned 429 is the
// peer's limit per address (PeerLimitAddress) with its Retry-After; one
// whose signature fails is ErrUnavailable.
func TestPeersCheckAnswers(t *testing.T) {
	caller, callee := answerPair(t)
	var status int
	var body, replay, retryAfter string
	sign := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if sign {
			sig, err := callee.SignAnswer(r, "440000", status, []byte(body))
			if err != nil {
				t.Error(err)
			}
			if replay == "" {
				replay = sig
			}
			w.Header().Set(PeerAnswerHeader, sig)
		} else if replay != "" {
			w.Header().Set(PeerAnswerHeader, replay)
		}
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	defer srv.Close()
	refused := 0
	peers := &HTTPPeers{Directory: dirTable{"310000": srv.URL}, Credentials: caller, Answers: caller, OnRefuse: func(error) { refused++ }}
	redeem := func(s int, b string) error {
		status, body = s, b
		_, err := peers.RedeemAt(context.Background(), "310000", RelyingParty{ClientID: "hotel"}, "TIDON1:00")
		return err
	}
	ok := `{"pairwise_id":"p1","assurance_level":3,"region":"310000"}`
	if err := redeem(200, ok); err != nil {
		t.Fatalf("signed answer: %v", err)
	}
	if err := redeem(409, `{"error":"qr_code_used"}`); !errors.Is(err, qrcode.ErrCodeUsed) {
		t.Errorf("signed refusal: %v", err)
	}
	limited := `{"error":"rate_limited","error_description":"too many requests"}`
	for _, c := range []struct {
		retryAfter string
		want       time.Duration
	}{{"7", 7 * time.Second}, {"0", time.Second}, {"", time.Second}, {"-5", time.Second}, {"Wed, 21 Oct 2026 07:28:00 GMT", time.Second},
		{"60", MaxPeerRetryAfter}, {"3600", MaxPeerRetryAfter}, {"99999999999999999999999", MaxPeerRetryAfter}} {
		retryAfter = c.retryAfter
		var pl *PeerLimitedError
		if err := redeem(429, limited); !errors.Is(err, qrcode.ErrPeerLimited) || errors.Is(err, qrcode.ErrUnavailable) || !errors.As(err, &pl) || pl.RetryAfter != c.want || pl.Region != "310000" {
			t.Errorf("signed 429, Retry-After %q: %v, want ErrPeerLimited after %v", c.retryAfter, err, c.want)
		}
	}
	// The signed wait in the body is the one read, whatever the header
	// says (a relay may change it); bounded as the header is.
	retryAfter = "60"
	for body, want := range map[string]time.Duration{
		`{"error":"rate_limited","limit":"qr-peer-party","retry_after":3}`:     3 * time.Second,
		`{"error":"rate_limited","limit":"qr-peer-region","retry_after":7200}`: MaxPeerRetryAfter,
		`{"error":"rate_limited","retry_after":0}`:                             time.Second,
		`{"error":"rate_limited","retry_after":"3"}`:                           time.Second,
	} {
		var pl *PeerLimitedError
		if err := redeem(429, body); !errors.As(err, &pl) || pl.RetryAfter != want {
			t.Errorf("signed 429 %s, Retry-After %q: %v, want ErrPeerLimited after %v", body, retryAfter, err, want)
		}
	}
	retryAfter = "7"
	sign = false // the first answer's signature, replayed
	if err := redeem(200, ok); !errors.Is(err, ErrAnswerMismatch) || !errors.Is(err, qrcode.ErrPeer) {
		t.Errorf("replayed signature: %v", err)
	}
	replay = ""
	if err := redeem(200, ok); !errors.Is(err, ErrAnswerUnsigned) || !errors.Is(err, qrcode.ErrPeer) {
		t.Errorf("unsigned answer: %v", err)
	}
	if err := redeem(409, `{"error":"qr_code_used"}`); errors.Is(err, qrcode.ErrCodeUsed) || !errors.Is(err, qrcode.ErrUnavailable) || !errors.Is(err, ErrAnswerUnsigned) {
		t.Errorf("unsigned refusal: %v", err)
	}
	// An unsigned 429 is the peer's limit per calling address, checked
	// before it can sign: its header's wait, whatever its body says.
	var pl *PeerLimitedError
	if err := redeem(429, `{"error":"rate_limited","limit":"qr-peer-party","retry_after":30}`); !errors.As(err, &pl) || pl.Limit != PeerLimitAddress || pl.RetryAfter != 7*time.Second || errors.Is(err, qrcode.ErrUnavailable) {
		t.Errorf("unsigned 429: %v, want ErrPeerLimited by %s after 7 s", err, PeerLimitAddress)
	}
	if refused != 3 {
		t.Errorf("%d refusals reported, want 3", refused)
	}
	// A 429 whose signature fails is not the peer's.
	replay, sign = "", true
	if err := redeem(200, ok); err != nil {
		t.Fatal(err)
	}
	sign = false
	if err := redeem(429, limited); errors.Is(err, qrcode.ErrPeerLimited) || !errors.Is(err, qrcode.ErrUnavailable) || !errors.Is(err, ErrAnswerMismatch) {
		t.Errorf("429 with another answer's signature: %v", err)
	}
}

// FuzzVerifyAnswer: arbitrary signatures never panic and are never
// accepted.
func FuzzVerifyAnswer(f *testing.F) {
	caller, callee := answerPair(f)
	req := asserted(f, caller, `{}`)
	good, _ := callee.SignAnswer(req, "440000", 200, []byte(`{}`))
	f.Add(good[:len(good)-2] + "AA")
	f.Add("")
	f.Add("e30.e30.")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add(good + ".x")
	f.Fuzz(func(t *testing.T, sig string) {
		if sig == good {
			return
		}
		if err := caller.VerifyAnswer(context.Background(), req, "310000", 200, []byte(`{}`), sig); err == nil {
			t.Fatalf("accepted %q", sig)
		}
	})
}

// BenchmarkPeerAnswer: what signing an answer costs the callee and
// checking it costs the caller, per node-to-node call.
func BenchmarkPeerAnswer(b *testing.B) {
	caller, callee := answerPair(b)
	req := asserted(b, caller, `{"code":"x"}`)
	body := []byte(`{"pairwise_id":"p1","assurance_level":3,"region":"310000"}`)
	ctx := context.Background()
	b.Run("sign", func(b *testing.B) {
		for b.Loop() {
			if _, err := callee.SignAnswer(req, "440000", 200, body); err != nil {
				b.Fatal(err)
			}
		}
	})
	sig, _ := callee.SignAnswer(req, "440000", 200, body)
	b.Run("verify", func(b *testing.B) {
		for b.Loop() {
			if err := caller.VerifyAnswer(ctx, req, "310000", 200, body, sig); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestPeerJWSCrit: RFC 7515 §4.1.11, "If any of the listed extension
// Header Parameters are not understood and supported by the recipient,
// then the JWS is invalid." A node assertion or a signed answer with
// crit, otherwise good and signed by the registered key, is refused; the
// node understands no extension.
func TestPeerJWSCrit(t *testing.T) {
	ctx := context.Background()
	caller, callee := answerPair(t)
	// The callee knows the caller's key (kid-b of 440000).
	keyB, _, _ := caller.SigningKey()
	callee.Keys = keyTable{"440000": {"kid-b": keyB.Public()}}
	callee.Nonces = newMemStore(t, time.Now)
	crit := map[string]any{"crit": []string{"urn:example:x"}, "urn:example:x": true}

	// The assertion: caller's Authorize, re-signed with crit.
	req := asserted(t, caller, `{"code":"x"}`)
	tok, _, err := jwt.NewParser().ParseUnverified(strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer "), jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := gm.SigningMethod(keyB)
	withCrit := jwt.NewWithClaims(m, tok.Claims)
	withCrit.Header["kid"] = "kid-b"
	for n, v := range crit {
		withCrit.Header[n] = v
	}
	s, err := withCrit.SignedString(keyB)
	if err != nil {
		t.Fatal(err)
	}
	critReq, _ := http.NewRequest("POST", "https://a.example"+PeerRedeemPath, strings.NewReader(`{"code":"x"}`))
	critReq.Header.Set("Authorization", "Bearer "+s)
	if _, err := callee.AuthenticatePeer(critReq); !errors.Is(err, qrcode.ErrPeerAuth) {
		t.Errorf("an assertion with crit: %v, want ErrPeerAuth", err)
	}
	if region, err := callee.AuthenticatePeer(req); err != nil || region != "440000" {
		t.Fatalf("the assertion without crit: %q %v", region, err)
	}

	// The answer: signed by the callee's key for this request, with crit.
	body := []byte(`{"pairwise_id":"p1"}`)
	jti, _ := assertionID(req)
	keyA, _, _ := callee.SigningKey()
	ma, _ := gm.SigningMethod(keyA)
	ans := jwt.NewWithClaims(ma, answerClaims{RegisteredClaims: jwt.RegisteredClaims{Issuer: "trustid-node:310000", Audience: jwt.ClaimStrings{"trustid-node:440000"}},
		InReplyTo: jti, Status: 200, BodySM3: bodyDigest(body)})
	ans.Header["kid"], ans.Header["typ"] = "kid-a", PeerAnswerType
	for n, v := range crit {
		ans.Header[n] = v
	}
	sig, err := ans.SignedString(keyA)
	if err != nil {
		t.Fatal(err)
	}
	if err := caller.VerifyAnswer(ctx, req, "310000", 200, body, sig); !errors.Is(err, ErrAnswerInvalid) {
		t.Errorf("an answer with crit: %v, want ErrAnswerInvalid", err)
	}
	good, _ := callee.SignAnswer(req, "440000", 200, body)
	if err := caller.VerifyAnswer(ctx, req, "310000", 200, body, good); err != nil {
		t.Errorf("the answer without crit: %v", err)
	}
}

// algKey is a registry of one region key whatever the region and kid,
// recorded with alg.
type algKey struct {
	pub crypto.PublicKey
	alg string
}

func (k algKey) RegionKey(context.Context, string, string) (crypto.PublicKey, string, error) {
	return k.pub, k.alg, nil
}

// TestPeerAlgOfTheRegistryKey: a node assertion and a signed answer are
// verified only with the algorithm their registry key is recorded with,
// an empty one included (the chaincode records one for every key, as
// auth's federation.TestForeignTokenAlgOfTheRegistryKey has it): a key
// recorded without one, or with another, verifies neither.
func TestPeerAlgOfTheRegistryKey(t *testing.T) {
	ctx := context.Background()
	for _, alg := range []string{"", gm.AlgES256, gm.AlgSM2} {
		caller, callee := answerPair(t)
		keyB, _, _ := caller.SigningKey()
		keyA, _, _ := callee.SigningKey()
		callee.Keys, callee.Nonces = algKey{keyB.Public(), alg}, newMemStore(t, time.Now)
		caller.Keys = algKey{keyA.Public(), alg}
		req := asserted(t, caller, `{"code":"x"}`)
		region, err := callee.AuthenticatePeer(req)
		if alg == gm.AlgSM2 {
			if err != nil || region != "440000" {
				t.Errorf("alg %q: the assertion: %q %v", alg, region, err)
			}
		} else if !errors.Is(err, qrcode.ErrPeerAuth) || !strings.Contains(err.Error(), "the registry key's is") {
			t.Errorf("alg %q: the assertion: %v, want refused for its alg", alg, err)
		}
		body := []byte(`{"pairwise_id":"p1"}`)
		sig, err := callee.SignAnswer(req, "440000", 200, body)
		if err != nil {
			t.Fatal(err)
		}
		err = caller.VerifyAnswer(ctx, req, "310000", 200, body, sig)
		if alg == gm.AlgSM2 {
			if err != nil {
				t.Errorf("alg %q: the answer: %v", alg, err)
			}
		} else if !errors.Is(err, ErrAnswerInvalid) || !strings.Contains(err.Error(), "the registry key's is") {
			t.Errorf("alg %q: the answer: %v, want refused for its alg", alg, err)
		}
	}
}
