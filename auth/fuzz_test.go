package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/accessclaims"
	"github.com/trustid-cn/trustid/internal/strictjson"
)

// FuzzParseRegistration: the admin API's parsers of a registration, a
// key change and a client patch never panic and fail only with
// ErrInvalidClientMetadata; a patch accepted is empty only for {}.
func FuzzParseRegistration(f *testing.F) {
	f.Add([]byte(`{"client_name":"A","region":"310000","scopes":["qr:redeem"]}`))
	f.Add([]byte(`{"client_name":"A","jwks":{"keys":[{"kty":"EC","crv":"SM2","x":"AA","y":"AA","kid":"k"}]}}`))
	f.Add([]byte(`{"a":{"b":[1,{"c":null}]},"a":2}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"add":{"kty":"EC"},"retire":""}`))
	f.Add([]byte(`{"resources":["https://api.example"],"claims":null,"client_name":"B"}`))
	f.Add([]byte(`{"grant_types":[],"scopes":[1],"jwks":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := ParseRegistration(data); err != nil && !errors.Is(err, ErrInvalidClientMetadata) {
			t.Fatalf("unexpected error kind: %v", err)
		}
		if _, err := ParseKeyChange(data); err != nil && !errors.Is(err, ErrInvalidClientMetadata) {
			t.Fatalf("unexpected error kind: %v", err)
		}
		p, err := ParseClientPatch(data)
		if err != nil && !errors.Is(err, ErrInvalidClientMetadata) {
			t.Fatalf("unexpected error kind: %v", err)
		}
		if m, _ := strictjson.Object(data, maxClientPatch); err == nil && p.Empty() != (len(m) == 0) {
			t.Fatalf("accepted patch %+v for a document of %d members", p, len(m))
		}
	})
}

// FuzzParseClientsFile: the registry file parser never panics, and what it
// accepts is all valid.
func FuzzParseClientsFile(f *testing.F) {
	f.Add([]byte(`{"format":"trustid-clients/1","clients":[]}`))
	f.Add([]byte(`{"format":"trustid-clients/1","clients":[{"client_id":"abc","client_name":"x","region":"310000","jwks":{"keys":[]},"grant_types":["client_credentials"],"scopes":["qr:redeem"],"token_endpoint_auth_method":"client_secret_basic","secret_hash":"hmac-sm3$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","created":"2026-01-01T00:00:00Z"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		clients, err := parseClientsFile(data)
		if err != nil {
			return
		}
		for _, c := range clients {
			if err := c.Validate(); err != nil {
				t.Fatalf("accepted an invalid client: %v", err)
			}
		}
	})
}

// FuzzAuthorize: any bearer string is refused with invalid_token (or
// accepted only if it is the real token), and any client assertion with
// invalid_client; never a panic.
func FuzzAuthorize(f *testing.F) {
	e := newEnv(f)
	c := e.register("svc-a", gm.AlgSM2)
	valid := e.token(c, "")
	f.Add(valid)
	f.Add(e.assertion(c, nil))
	f.Add("eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.")
	f.Add("a.b.c")
	f.Add("")
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, token string) {
		_, err := e.svc.Authorize(ctx, token, ScopeQRRedeem)
		if err != nil && !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("bearer: unexpected error kind: %v", err)
		}
		if err == nil && token != valid {
			t.Fatalf("accepted a token that was never issued: %q", token)
		}
		_, err = e.svc.AuthenticateClient(ctx, Credentials{AssertionType: AssertionType, Assertion: token})
		if err != nil && !errors.Is(err, ErrInvalidClient) {
			t.Fatalf("assertion: unexpected error kind: %v", err)
		}
		_, err = e.svc.AuthenticateClient(ctx, Credentials{Basic: true, BasicID: token, BasicSecret: token})
		if err == nil || !errors.Is(err, ErrInvalidClient) {
			t.Fatalf("basic: %v", err)
		}
	})
}

// FuzzParseAccessJWS checks the node's access-token parse against
// golang-jwt's (ParseUnverified with strict base64 and the algorithm
// allow-list, what ParseWithClaims ran before), and to itself given the
// node's own header segments decoded (nodeKeySet.headers): whatever it accepts,
// golang-jwt accepts too, with the same algorithm, kid, signature,
// signing input and claims. It may refuse more (a member twice, one
// differing only in case from a member the node reads, invalid UTF-8).
func FuzzParseAccessJWS(f *testing.F) {
	e := newEnv(f)
	c := e.register("svc-a", gm.AlgSM2)
	f.Add(e.token(c, ""))
	f.Add(e.assertion(c, nil))
	f.Add("eyJhbGciOiJTTTIiLCJ0eXAiOiJhdCtqd3QifQ.e30.AA")
	f.Add("eyJhbGciOiJTTTIiLCJhbGciOiJFUzI1NiJ9.e30.AA")
	f.Add("eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.")
	f.Add("a.b.c.d")
	b64 := base64.RawURLEncoding.EncodeToString
	for _, claims := range []string{`{"iss":"a","ISS":"b"}`, `{"aud":["a","b"],"x":{"y":[1]},"exp":1,"iat":null}`, `{"Sub":"a"}`, `{"aud":"\u0061"}`, `null`} {
		f.Add(b64([]byte(`{"alg":"SM2","typ":"at+jwt","kid":"k"}`)) + "." + b64([]byte(claims)) + ".AA")
	}
	p := jwt.NewParser(jwt.WithStrictDecoding(), jwt.WithValidMethods(AccessTokenAlgorithms))
	known := e.svc.currentKeys(e.clock.Now()).headers
	for seg := range known {
		for _, claims := range []string{`{"iss":"a","ISS":"b"}`, `null`, `{"exp":1.5}`} {
			f.Add(seg + "." + b64([]byte(claims)) + ".AA")
		}
		f.Add(seg + ".e30.A")
	}
	f.Fuzz(func(t *testing.T, token string) {
		j, err := parseAccessJWS(token, nil)
		// The node's own header segments, taken decoded, change nothing.
		if k, kerr := parseAccessJWS(token, known); (err == nil) != (kerr == nil) ||
			err != nil && err.Error() != kerr.Error() || err == nil && !reflect.DeepEqual(j, k) {
			t.Fatalf("with the known headers: %+v, %v\nwithout: %+v, %v", k, kerr, j, err)
		}
		if err != nil {
			if !errors.Is(err, jwt.ErrTokenMalformed) && !errors.Is(err, jwt.ErrTokenUnverifiable) && !errors.Is(err, jwt.ErrTokenSignatureInvalid) {
				t.Fatalf("an error golang-jwt's kinds do not name: %v", err)
			}
			return
		}
		var claims accessclaims.Claims
		tok, parts, err := p.ParseUnverified(token, &claims)
		if err != nil {
			t.Fatalf("accepted what golang-jwt refuses: %v", err)
		}
		kid, _ := tok.Header["kid"].(string)
		typ, _ := tok.Header["typ"].(string)
		_, crit := tok.Header["crit"]
		if !slices.Contains(AccessTokenAlgorithms, tok.Method.Alg()) || typ != string(j.header.Typ) || crit != bool(j.header.Crit) {
			t.Fatalf("headers differ: %+v; golang-jwt: %v", j, tok.Header)
		}
		if j.method.Alg() != tok.Method.Alg() || j.kid != kid || !bytes.Equal(j.sig, tok.Signature) ||
			j.input != parts[0]+"."+parts[1] || !reflect.DeepEqual(j.claims, claims) {
			t.Fatalf("parses differ: %+v\ngolang-jwt: %+v %+v", j, tok, claims)
		}
	})
}
