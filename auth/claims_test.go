package auth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/jwtdate"
)

func TestAccessClaimsJSON(t *testing.T) {
	c := accessClaims{Issuer: "https://x", Subject: "a", Audience: audience{"https://x"}, Expires: jwtdate.New(time.Unix(1800000000, 0)),
		IssuedAt: jwtdate.New(time.Unix(1799999400, 0)), ID: "j", ClientID: "a", Scope: "qr:redeem"}
	b, _ := json.Marshal(&c)
	want := `{"iss":"https://x","sub":"a","aud":"https://x","exp":1800000000,"iat":1799999400,"jti":"j","client_id":"a","scope":"qr:redeem"}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	var back accessClaims
	if err := json.Unmarshal(b, &back); err != nil || back.Expires.Time().Unix() != 1800000000 || back.NotBefore.Set() || len(back.Audience) != 1 {
		t.Errorf("round trip: %+v %v", back, err)
	}
	for doc, ok := range map[string]bool{
		`{"aud":["a","b"],"exp":1}`: true,
		`{"aud":"a","nbf":null}`:    true,
		`{"exp":1.5}`:               false,
		`{"exp":"1"}`:               false,
		`{"exp":-1}`:                false,
		`{"exp":1e3}`:               false,
		`{"exp":99999999999999999}`: false,
		`{"aud":7}`:                 false,
		`{"aud":["a",1]}`:           false,
		`{"aud":"\u0061"}`:          true,
		`{"aud":""}`:                true,
		`{"aud":"a\"b"}`:            true,
		"{\"aud\":\"a\xffb\"}":      true,
		`{"iat":9223372036}`:        true,
		`{"iat":92233720369}`:       false,
	} {
		var c accessClaims
		if err := json.Unmarshal([]byte(doc), &c); (err == nil) != ok {
			t.Errorf("%s: %v", doc, err)
		}
	}
	for doc, want := range map[string]string{`{"aud":"https://x"}`: "https://x", `{"aud":"\u0061/"}`: "a/", `{"aud":"a\"b"}`: `a"b`, "{\"aud\":\"a\xffb\"}": "a\uFFFDb", `{"aud":""}`: ""} {
		var c accessClaims
		if err := json.Unmarshal([]byte(doc), &c); err != nil || len(c.Audience) != 1 || c.Audience[0] != want {
			t.Errorf("%s: %q %v, want %q", doc, c.Audience, err, want)
		}
	}
	if d, _ := (&accessClaims{}).GetExpirationTime(); d != nil {
		t.Error("absent exp is not nil")
	}
}

// BenchmarkAccessTokenParseUnverified is golang-jwt's parse of an access
// token without its signature check: the base64 of the three parts and
// the JSON of header and claims, the part of a validation around the SM2
// verification that the claims' decoder decides.
func BenchmarkAccessTokenParseUnverified(b *testing.B) {
	e := newEnv(b)
	c := e.register("svc-a", gm.AlgSM2, ScopeQRRedeem)
	token := e.token(c, "")
	p := jwt.NewParser(jwt.WithStrictDecoding())
	b.ReportAllocs()
	for b.Loop() {
		var claims accessClaims
		if _, _, err := p.ParseUnverified(token, &claims); err != nil || claims.ClientID == "" {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseAccessJWS is the node's one parse of an access token
// (parseAccessJWS), which replaced the ParseUnverified inside
// ParseWithClaims (BenchmarkAccessTokenParseUnverified).
func BenchmarkParseAccessJWS(b *testing.B) {
	e := newEnv(b)
	c := e.register("svc-a", gm.AlgSM2, ScopeQRRedeem)
	token := e.token(c, "")
	b.ReportAllocs()
	for b.Loop() {
		if j, err := parseAccessJWS(token, nil); err != nil || j.claims.ClientID == "" {
			b.Fatal(err)
		}
	}
}

// TestParseAccessJWSRefusals: what parseAccessJWS refuses before any key
// is looked up, and as which golang-jwt error kind: segments, strict
// unpadded base64url (no padding, no set bits past the data), a header
// that strictjson refuses, an alg outside AccessTokenAlgorithms (none
// among them) or unknown, claims that do not decode.
func TestParseAccessJWSRefusals(t *testing.T) {
	e := newEnv(t)
	c := e.register("svc-a", gm.AlgSM2, ScopeQRRedeem)
	good := e.token(c, "")
	if _, err := parseAccessJWS(good, nil); err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")
	b64 := base64.RawURLEncoding.EncodeToString
	// loose sets a bit past the data in the last character of an
	// unpadded segment (one base64.RawURLEncoding ignores, Strict not).
	loose := func(seg string) string {
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		if len(seg)%4 == 0 {
			t.Fatalf("segment %q has no spare bits", seg)
		}
		i := strings.IndexByte(alphabet, seg[len(seg)-1])
		return seg[:len(seg)-1] + string(alphabet[i+1])
	}
	hdr := func(json string) string { return b64([]byte(json)) }
	odd := `{"alg":"SM2","typ":"at+jwt"}`
	for len(b64([]byte(odd)))%4 == 0 {
		odd = odd[:len(odd)-1] + ` }`
	}
	for _, c := range []struct {
		name, token string
		want        error
	}{
		{"two segments", parts[0] + "." + parts[1], jwt.ErrTokenMalformed},
		{"four segments", good + ".x", jwt.ErrTokenMalformed},
		{"padded header", parts[0] + "=." + parts[1] + "." + parts[2], jwt.ErrTokenMalformed},
		{"padded signature", parts[0] + "." + parts[1] + "." + parts[2] + "==", jwt.ErrTokenMalformed},
		{"header bits past the data", loose(hdr(odd)) + "." + parts[1] + "." + parts[2], jwt.ErrTokenMalformed},
		{"standard base64 alphabet", strings.NewReplacer("-", "+", "_", "/").Replace(parts[0]) + "+." + parts[1] + "." + parts[2], jwt.ErrTokenMalformed},
		{"alg twice", hdr(`{"alg":"SM2","alg":"ES256","typ":"at+jwt"}`) + "." + parts[1] + "." + parts[2], jwt.ErrTokenMalformed},
		{"alg in another case too", hdr(`{"alg":"SM2","ALG":"none","typ":"at+jwt"}`) + "." + parts[1] + "." + parts[2], jwt.ErrTokenMalformed},
		{"unpaired surrogate in the header", hdr(`{"alg":"SM2","typ":"at+jwt","kid":"\ud800"}`) + "." + parts[1] + "." + parts[2], jwt.ErrTokenMalformed},
		{"header not an object", hdr(`["SM2"]`) + "." + parts[1] + "." + parts[2], jwt.ErrTokenMalformed},
		{"claims not JSON", parts[0] + "." + b64([]byte(`{"iss":`)) + "." + parts[2], jwt.ErrTokenMalformed},
		{"claims of the wrong type", parts[0] + "." + b64([]byte(`{"exp":"soon"}`)) + "." + parts[2], jwt.ErrTokenMalformed},
		{"alg none", hdr(`{"alg":"none","typ":"at+jwt"}`) + "." + parts[1] + ".", jwt.ErrTokenSignatureInvalid},
		{"alg HS256", hdr(`{"alg":"HS256","typ":"at+jwt"}`) + "." + parts[1] + "." + parts[2], jwt.ErrTokenSignatureInvalid},
		{"alg unknown", hdr(`{"alg":"SM3withSM2","typ":"at+jwt"}`) + "." + parts[1] + "." + parts[2], jwt.ErrTokenUnverifiable},
		{"alg missing", hdr(`{"typ":"at+jwt"}`) + "." + parts[1] + "." + parts[2], jwt.ErrTokenUnverifiable},
		{"alg not a string", hdr(`{"alg":1,"typ":"at+jwt"}`) + "." + parts[1] + "." + parts[2], jwt.ErrTokenUnverifiable},
		{"header null", hdr(`null`) + "." + parts[1] + "." + parts[2], jwt.ErrTokenMalformed},
		{"kid in another case", hdr(`{"alg":"SM2","typ":"at+jwt","KID":"k"}`) + "." + parts[1] + "." + parts[2], jwt.ErrTokenMalformed},
		{"claim twice", parts[0] + "." + b64([]byte(`{"sub":"a","sub":"b"}`)) + "." + parts[2], jwt.ErrTokenMalformed},
		{"claim in another case", parts[0] + "." + b64([]byte(`{"iss":"a","ISS":"b"}`)) + "." + parts[2], jwt.ErrTokenMalformed},
		{"claim only in another case", parts[0] + "." + b64([]byte(`{"Client_ID":"a"}`)) + "." + parts[2], jwt.ErrTokenMalformed},
		{"unpaired surrogate in a claim", parts[0] + "." + b64([]byte(`{"scope":"\udc00"}`)) + "." + parts[2], jwt.ErrTokenMalformed},
		{"unpaired surrogate in an unknown claim", parts[0] + "." + b64([]byte(`{"x":["\ud800"]}`)) + "." + parts[2], jwt.ErrTokenMalformed},
		{"claims not UTF-8", parts[0] + "." + b64([]byte("{\"sub\":\"\xff\"}")) + "." + parts[2], jwt.ErrTokenMalformed},
		{"data after the claims", parts[0] + "." + b64([]byte(`{"sub":"a"} {}`)) + "." + parts[2], jwt.ErrTokenMalformed},
		{"aud of the wrong type", parts[0] + "." + b64([]byte(`{"aud":[1]}`)) + "." + parts[2], jwt.ErrTokenMalformed},
	} {
		if _, err := parseAccessJWS(c.token, nil); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// Members the node does not read are ignored (RFC 7515 §4, RFC 7519
	// §4), whatever their value.
	extra := hdr(`{"alg":"SM2","typ":"at+jwt","kid":"k","x5u":{"a":[1,null]},"cty":"x"}`) + "." +
		b64([]byte(`{"sub":"a","client_id":"a","cnf":{"jkt":"x"},"n":1e3,"l":[true]}`)) + "." + parts[2]
	j, err := parseAccessJWS(extra, nil)
	if err != nil || j.kid != "k" || j.header.Typ != "at+jwt" || j.claims.Subject != "a" || j.claims.ClientID != "a" {
		t.Fatalf("unknown members: %+v, %v", j, err)
	}
}

// TestIssuedTokensTakeKnownHeader: the header segment of a token the
// node issues is among its key set's known headers, decoded as
// decodeHeader decodes it, so parseAccessJWS does not decode it again.
func TestIssuedTokensTakeKnownHeader(t *testing.T) {
	e := newEnv(t)
	c := e.register("svc-a", gm.AlgSM2, ScopeQRRedeem)
	tok := e.token(c, "")
	set := e.svc.currentKeys(e.clock.Now())
	if len(set.headers) != len(set.keys) {
		t.Errorf("%d known headers for %d keys", len(set.headers), len(set.keys))
	}
	seg, _, _ := strings.Cut(tok, ".")
	hd, ok := set.headers[seg]
	if !ok {
		t.Fatalf("the issued header %q is not known", seg)
	}
	var want accessHeader
	if _, err := decodeHeader(nil, seg, &want); err != nil || hd != want {
		t.Errorf("known header %+v, decoded %+v (%v)", hd, want, err)
	}
}
