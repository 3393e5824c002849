package jose

import (
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/strictjson"
)

const testMax = 64 << 10

var (
	testNow   = time.Unix(1772352000, 0)
	testAllow = []string{gm.AlgSM2, gm.AlgES256, gm.AlgEdDSA}
)

// fast is the path verifiers take: Parse, Verify, CheckTimes.
func fast(tok string, allow []string, pub crypto.PublicKey, now time.Time, leeway time.Duration) error {
	j, err := Parse(tok, allow, testMax)
	if err != nil {
		return err
	}
	if err := j.Verify(pub); err != nil {
		return err
	}
	return CheckTimes(j.Payload, now, leeway)
}

// reference is the path Parse replaces: ParseHeader, then golang-jwt's
// parser (allow-list, signature, exp/nbf) over the strict Claims.
func reference(tok string, allow []string, pub crypto.PublicKey, now time.Time, leeway time.Duration) error {
	hdr, err := ParseHeader(tok, allow)
	if err != nil {
		return err
	}
	p, err := gm.NewJWTParser(allow, jwt.WithTimeFunc(func() time.Time { return now }), jwt.WithLeeway(leeway))
	if err != nil {
		return err
	}
	_, err = p.ParseWithClaims(tok, &Claims{Max: testMax}, func(*jwt.Token) (any, error) {
		if !KeyMatches(pub, hdr.String("alg")) {
			return nil, ErrAlgorithm
		}
		return pub, nil
	})
	return err
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// signRaw signs header.payload (given as JSON text) with signer.
func signRaw(t testing.TB, hdr, payload string, signer crypto.Signer) string {
	t.Helper()
	return signParts(t, b64(hdr)+"."+b64(payload), signer)
}

// signParts signs an encoded signing input as it is.
func signParts(t testing.TB, in string, signer crypto.Signer) string {
	t.Helper()
	m, err := gm.SigningMethod(signer)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := m.Sign(in, signer)
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func testSigners(t testing.TB) map[string]crypto.Signer {
	t.Helper()
	out := map[string]crypto.Signer{}
	for _, alg := range testAllow {
		s, err := gm.GenerateSigner(alg, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		out[alg] = s
	}
	return out
}

// TestParseMatchesJWTParser runs each case through the one-pass path and
// through ParseHeader + jwt.Parser: both must accept or both reject, and
// the one-pass path must name the failure. The cases marked stricter are
// the ones jwt.Parser accepts and Parse refuses on purpose: a payload
// that is not a JSON object (RFC 7519 §7.2) and non-canonical base64url.
func TestParseMatchesJWTParser(t *testing.T) {
	signers := testSigners(t)
	for _, alg := range testAllow {
		t.Run(alg, func(t *testing.T) {
			s := signers[alg]
			otherAlg := gm.AlgSM2
			if alg == gm.AlgSM2 {
				otherAlg = gm.AlgES256
			}
			other := signers[otherAlg]
			otherSame, _ := gm.GenerateSigner(alg, rand.Reader)
			hdr := `{"alg":"` + alg + `","typ":"vc+jwt","kid":"k1"}`
			var err error
			ok := signRaw(t, hdr, `{"iss":"did:web:a.example","n":1}`, s)
			parts := strings.Split(ok, ".")
			flip := func(p string) string {
				b := []byte(p)
				if b[3] == 'A' {
					b[3] = 'B'
				} else {
					b[3] = 'A'
				}
				return string(b)
			}
			// SM2 signers return DER, which a JWS must not carry.
			der := []byte("not a signature of any length that verifies")
			if alg == gm.AlgSM2 {
				if der, err = s.Sign(rand.Reader, []byte(parts[0]+"."+parts[1]), crypto.Hash(0)); err != nil {
					t.Fatal(err)
				}
			}
			cases := []struct {
				name   string
				tok    string
				pub    crypto.PublicKey
				leeway time.Duration
				want   error // nil: accepted
			}{
				{"valid", ok, s.Public(), 0, nil},
				{"exp in the future", signRaw(t, hdr, `{"exp":`+jsonNum(testNow.Add(time.Second))+`}`, s), s.Public(), 0, nil},
				{"exp now", signRaw(t, hdr, `{"exp":`+jsonNum(testNow)+`}`, s), s.Public(), 0, ErrExpired},
				{"exp past", signRaw(t, hdr, `{"exp":`+jsonNum(testNow.Add(-time.Hour))+`}`, s), s.Public(), 0, ErrExpired},
				{"exp past within leeway", signRaw(t, hdr, `{"exp":`+jsonNum(testNow.Add(-time.Minute))+`}`, s), s.Public(), 2 * time.Minute, nil},
				{"exp fraction truncated", signRaw(t, hdr, `{"exp":`+jsonNum(testNow)+`.9}`, s), s.Public(), 0, ErrExpired},
				{"nbf now", signRaw(t, hdr, `{"nbf":`+jsonNum(testNow)+`}`, s), s.Public(), 0, nil},
				{"nbf future", signRaw(t, hdr, `{"nbf":`+jsonNum(testNow.Add(time.Second))+`}`, s), s.Public(), 0, ErrNotYetValid},
				{"nbf future within leeway", signRaw(t, hdr, `{"nbf":`+jsonNum(testNow.Add(time.Minute))+`}`, s), s.Public(), 2 * time.Minute, nil},
				{"iat in the future is not checked", signRaw(t, hdr, `{"iat":`+jsonNum(testNow.Add(time.Hour))+`}`, s), s.Public(), 0, nil},
				{"exp a string", signRaw(t, hdr, `{"exp":"soon"}`, s), s.Public(), 0, ErrMalformed},
				{"nbf negative", signRaw(t, hdr, `{"nbf":-1}`, s), s.Public(), 0, ErrMalformed},
				{"exp huge", signRaw(t, hdr, `{"exp":1e300}`, s), s.Public(), 0, ErrMalformed},
				{"tampered payload", parts[0] + "." + b64(`{"iss":"did:web:b.example","n":1}`) + "." + parts[2], s.Public(), 0, ErrSignature},
				{"tampered signature", parts[0] + "." + parts[1] + "." + flip(parts[2]), s.Public(), 0, ErrSignature},
				{"empty signature", parts[0] + "." + parts[1] + ".", s.Public(), 0, ErrSignature},
				{"DER or junk signature", parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(der), s.Public(), 0, ErrSignature},
				{"another key of the alg", ok, otherSame.Public(), 0, ErrSignature},
				{"key of another alg", ok, other.Public(), 0, ErrAlgorithm},
				{"alg not allowed", signRaw(t, hdr, `{}`, s), s.Public(), 0, ErrAlgorithm},
				{"alg none", b64(`{"alg":"none"}`) + "." + parts[1] + ".", s.Public(), 0, ErrAlgorithm},
				{"alg HS256", b64(`{"alg":"HS256"}`) + "." + parts[1] + "." + parts[2], s.Public(), 0, ErrAlgorithm},
				{"crit", signRaw(t, `{"alg":"`+alg+`","crit":["exp"],"exp":1}`, `{}`, s), s.Public(), 0, ErrMalformed},
				{"duplicate header member", signRaw(t, `{"alg":"`+alg+`","kid":"a","kid":"b"}`, `{}`, s), s.Public(), 0, ErrMalformed},
				{"duplicate payload key", signRaw(t, hdr, `{"iss":"a","iss":"b"}`, s), s.Public(), 0, ErrMalformed},
				{"nested duplicate payload key", signRaw(t, hdr, `{"a":{"x":1,"x":2}}`, s), s.Public(), 0, ErrMalformed},
				{"payload trailing data", signRaw(t, hdr, `{} {}`, s), s.Public(), 0, ErrMalformed},
				{"payload not an object", signRaw(t, hdr, `[1]`, s), s.Public(), 0, ErrMalformed},
				{"payload null", signRaw(t, hdr, `null`, s), s.Public(), 0, ErrMalformed},
				{"payload non-canonical base64url", signParts(t, b64(hdr)+"."+nonCanonical(`{"n":12}`), s), s.Public(), 0, ErrMalformed},
				{"payload invalid UTF-8", signRaw(t, hdr, "{\"a\":\"\xff\"}", s), s.Public(), 0, ErrMalformed},
				{"payload too large", signRaw(t, hdr, `{"a":"`+strings.Repeat("x", testMax)+`"}`, s), s.Public(), 0, ErrMalformed},
				{"payload not base64url", parts[0] + ".***." + parts[2], s.Public(), 0, ErrMalformed},
				{"payload padded", parts[0] + "." + base64.URLEncoding.EncodeToString([]byte(`{"n":12}`)) + "." + parts[2], s.Public(), 0, ErrMalformed},
				{"header not base64url", "!!." + parts[1] + "." + parts[2], s.Public(), 0, ErrMalformed},
				{"signature not base64url", parts[0] + "." + parts[1] + ".+/", s.Public(), 0, ErrMalformed},
				{"line break in the signature", parts[0] + "." + parts[1] + "." + parts[2][:8] + "\r\n" + parts[2][8:], s.Public(), 0, ErrMalformed},
				{"line break in the header", parts[0][:4] + "\n" + parts[0][4:] + "." + parts[1] + "." + parts[2], s.Public(), 0, ErrMalformed},
				{"two parts", parts[0] + "." + parts[1], s.Public(), 0, ErrMalformed},
				{"four parts", ok + ".x", s.Public(), 0, ErrMalformed},
				{"empty", "", s.Public(), 0, ErrMalformed},
			}
			// jwt.Parser accepts these; Parse refuses them on purpose.
			stricter := map[string]bool{"payload null": true, "payload non-canonical base64url": true}
			for _, c := range cases {
				allow := testAllow
				if c.name == "alg not allowed" {
					allow = []string{otherAlg}
				}
				got := fast(c.tok, allow, c.pub, testNow, c.leeway)
				ref := reference(c.tok, allow, c.pub, testNow, c.leeway)
				if (got == nil) != (c.want == nil) || (c.want != nil && !errors.Is(got, c.want)) {
					t.Errorf("%s: got %v, want %v", c.name, got, c.want)
				}
				if stricter[c.name] {
					if ref != nil {
						t.Errorf("%s: jwt.Parser now refuses it too (%v): drop the stricter mark", c.name, ref)
					}
				} else if (got == nil) != (ref == nil) {
					t.Errorf("%s: one-pass %v, jwt.Parser %v", c.name, got, ref)
				}
			}
		})
	}
}

// jsonNum writes t as NumericDate seconds.
func jsonNum(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// nonCanonical encodes s with nonzero unused bits in its last character,
// which lenient base64 decoders ignore.
func nonCanonical(s string) string {
	e := []byte(b64(s))
	if len(s)%3 == 0 {
		panic("nonCanonical needs a length that is not a multiple of 3")
	}
	e[len(e)-1]++ // the last character carries unused low bits, all zero
	return string(e)
}

// FuzzParse checks that Parse never panics, and that whatever the
// one-pass path accepts, ParseHeader + jwt.Parser accept too.
func FuzzParse(f *testing.F) {
	signers := testSigners(f)
	pubs := map[string]crypto.PublicKey{}
	for alg, s := range signers {
		pubs[alg] = s.Public()
		f.Add(signRaw(f, `{"alg":"`+alg+`","typ":"vc+jwt","kid":"k"}`, `{"iss":"did:web:a.example","exp":`+jsonNum(testNow.Add(time.Hour))+`,"a":[1,{"b":null}]}`, s))
	}
	f.Add(b64(`{"alg":"none"}`) + "." + b64(`{}`) + ".")
	f.Add("a.b.c")
	f.Add("..")
	f.Fuzz(func(t *testing.T, tok string) {
		j, err := Parse(tok, testAllow, testMax)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrAlgorithm) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if _, err := ParseHeader(tok, testAllow); err != nil {
			t.Fatalf("Parse accepted a header ParseHeader refuses: %v", err)
		}
		pub := pubs[j.Header.String("alg")]
		if fast(tok, testAllow, pub, testNow, 0) == nil {
			if err := reference(tok, testAllow, pub, testNow, 0); err != nil {
				t.Fatalf("one-pass accepted what jwt.Parser refuses: %v", err)
			}
		}
	})
}

// TestSignRoundTrip: Sign, for every algorithm and from goroutines that
// share its scratch buffers, makes a token whose parts are exactly the
// strict JSON of header and payload and whose signature verifies with
// the signer's key, through both Parse and golang-jwt's parser.
func TestSignRoundTrip(t *testing.T) {
	signers := testSigners(t)
	for _, alg := range testAllow {
		t.Run(alg, func(t *testing.T) {
			s := signers[alg]
			var wg sync.WaitGroup
			for g := range 8 {
				wg.Go(func() {
					// Payloads of several sizes, so that pooled buffers
					// of one size are reused for another.
					payload := map[string]any{"iss": "did:web:a.example", "n": g, "pad": strings.Repeat("x<&>", 300*g)}
					tok, err := Sign(payload, map[string]any{"typ": "vc+jwt", "kid": "k1"}, s)
					if err != nil {
						t.Error(err)
						return
					}
					parts := strings.Split(tok, ".")
					want, _ := strictjson.Marshal(payload)
					if len(parts) != 3 || parts[1] != base64.RawURLEncoding.EncodeToString(want) {
						t.Errorf("payload part of %d bytes is not the payload's JSON", len(parts[1]))
						return
					}
					hdr, _ := strictjson.Marshal(map[string]any{"alg": alg, "typ": "vc+jwt", "kid": "k1"})
					if parts[0] != base64.RawURLEncoding.EncodeToString(hdr) {
						t.Errorf("header part %s", parts[0])
					}
					if err := fast(tok, testAllow, s.Public(), testNow, 0); err != nil {
						t.Error(err)
					}
					if err := reference(tok, testAllow, s.Public(), testNow, 0); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
		})
	}
	if _, err := Sign(map[string]any{"bad": make(chan int)}, nil, signers[gm.AlgSM2]); err == nil {
		t.Fatal("an unencodable payload was signed")
	}
}
