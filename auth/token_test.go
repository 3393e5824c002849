package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/gm"
)

func TestClientCredentialsSM2AndES256(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, alg := range AssertionAlgorithms {
		c := e.register("svc-"+strings.ToLower(alg), alg, ScopeCredentialsIssue, ScopeQRRedeem)
		cl, err := e.svc.AuthenticateClient(ctx, Credentials{AssertionType: AssertionType, Assertion: e.assertion(c, nil), ClientID: c.ID})
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		resp, err := e.svc.Token(ctx, cl, TokenRequest{GrantType: GrantClientCredentials})
		if err != nil {
			t.Fatal(err)
		}
		if resp.TokenType != "Bearer" || resp.ExpiresIn != 600 || resp.Scope != "credentials:issue qr:redeem" {
			t.Errorf("%s: response %+v", alg, resp)
		}
		// The header and claims RFC 9068 asks for.
		parts := strings.Split(resp.AccessToken, ".")
		var h map[string]any
		var claims map[string]any
		hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
		cb, _ := base64.RawURLEncoding.DecodeString(parts[1])
		json.Unmarshal(hb, &h)
		json.Unmarshal(cb, &claims)
		k, _ := e.keys.Active(gm.AlgSM2)
		if h["typ"] != "at+jwt" || h["alg"] != "SM2" || h["kid"] != k.Kid {
			t.Errorf("header %v", h)
		}
		for _, name := range []string{"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"} {
			if _, ok := claims[name]; !ok {
				t.Errorf("claim %s missing: %v", name, claims)
			}
		}
		if claims["sub"] != c.ID || claims["client_id"] != c.ID || claims["iss"] != testIssuer {
			t.Errorf("claims %v", claims)
		}
		p, err := e.svc.Authorize(ctx, resp.AccessToken, ScopeQRRedeem)
		if err != nil {
			t.Fatal(err)
		}
		if p.ClientID != c.ID || p.Region != "310000" || !p.HasScope(ScopeCredentialsIssue) || p.TokenID == "" {
			t.Errorf("principal %+v", p)
		}
		if _, err := e.svc.Authorize(ctx, resp.AccessToken, ScopeStatusWrite); !errors.Is(err, ErrInsufficientScope) {
			t.Errorf("scope not granted: %v", err)
		}
	}
}

func TestAssertionWithoutKidTriesClientKeys(t *testing.T) {
	e := newEnv(t)
	c := e.register("svc-a", gm.AlgSM2)
	// A second key: the assertion is signed by it and names no kid.
	other := e.register("svc-b", gm.AlgSM2)
	if _, err := e.clients.Update(context.Background(), c.ID, func(cl *Client) error { return cl.AddKey(other.JWKS.Keys[0]) }); err != nil {
		t.Fatal(err)
	}
	signedByOther := testClient{Client: c.Client, signer: other.signer, kid: other.kid}
	a := e.assertion(signedByOther, func(h map[string]any, _ *jwt.RegisteredClaims) { delete(h, "kid") })
	if _, err := e.svc.AuthenticateClient(context.Background(), Credentials{AssertionType: AssertionType, Assertion: a}); err != nil {
		t.Fatal(err)
	}
}

// TestAssertionRefused: every way a client assertion can be wrong is
// invalid_client, never anything that would become a 500.
func TestAssertionRefused(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.register("svc-a", gm.AlgSM2)
	es := e.register("svc-es", gm.AlgES256)
	disabled := e.register("svc-off", gm.AlgSM2)
	if _, err := e.clients.Update(ctx, disabled.ID, func(cl *Client) error { cl.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	stranger := e.register("svc-x", gm.AlgSM2)
	notRegistered := testClient{Client: Client{ID: "svc-ghost"}, signer: stranger.signer, kid: stranger.kid}
	wrongKey := testClient{Client: c.Client, signer: stranger.signer, kid: c.kid}
	unknownKid := testClient{Client: c.Client, signer: c.signer, kid: "not-a-kid"}

	replayed := e.assertion(c, nil)
	if _, err := e.svc.AuthenticateClient(ctx, Credentials{AssertionType: AssertionType, Assertion: replayed}); err != nil {
		t.Fatal(err)
	}
	hs256 := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{Issuer: c.ID, Subject: c.ID,
		Audience: jwt.ClaimStrings{testIssuer}, ExpiresAt: jwt.NewNumericDate(e.clock.Now().Add(time.Minute)), ID: "x"})
	hs256.Header["kid"] = c.kid
	hsTok, _ := hs256.SignedString([]byte("secret-known-to-nobody-but-the-attacker"))
	none := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.RegisteredClaims{Issuer: c.ID, Subject: c.ID,
		Audience: jwt.ClaimStrings{testIssuer}, ExpiresAt: jwt.NewNumericDate(e.clock.Now().Add(time.Minute)), ID: "y"})
	noneTok, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	// An ES256 signature presented as SM2 with the ES256 client's kid.
	algSwap := e.assertion(es, nil)
	parts := strings.Split(algSwap, ".")
	hdr, _ := json.Marshal(map[string]any{"alg": "SM2", "kid": es.kid, "typ": "JWT"})
	algSwap = base64.RawURLEncoding.EncodeToString(hdr) + "." + parts[1] + "." + parts[2]

	cases := []struct {
		name      string
		assertion string
		typ       string
		want      string
	}{
		{"replayed", replayed, "", "replayed"},
		{"other audience", e.assertion(c, func(_ map[string]any, cl *jwt.RegisteredClaims) {
			cl.Audience = jwt.ClaimStrings{"https://other.example/oauth2/token"}
		}), "", "aud"},
		{"expired", e.assertion(c, func(_ map[string]any, cl *jwt.RegisteredClaims) {
			cl.ExpiresAt = jwt.NewNumericDate(e.clock.Now().Add(-2 * time.Minute))
		}), "", "expired"},
		{"future iat", e.assertion(c, func(_ map[string]any, cl *jwt.RegisteredClaims) {
			cl.IssuedAt = jwt.NewNumericDate(e.clock.Now().Add(2 * time.Minute))
		}), "", "iat"},
		{"exp too far ahead", e.assertion(c, func(_ map[string]any, cl *jwt.RegisteredClaims) {
			cl.ExpiresAt = jwt.NewNumericDate(e.clock.Now().Add(time.Hour))
		}), "", "ahead"},
		{"exp a second past the maximum age", e.assertion(c, func(_ map[string]any, cl *jwt.RegisteredClaims) {
			cl.ExpiresAt = jwt.NewNumericDate(e.clock.Now().Add(DefaultMaxAssertionAge + DefaultLeeway + time.Second))
		}), "", "ahead"},
		{"no exp", e.assertion(c, func(_ map[string]any, cl *jwt.RegisteredClaims) { cl.ExpiresAt = nil }), "", "required claim"},
		{"no jti", e.assertion(c, func(_ map[string]any, cl *jwt.RegisteredClaims) { cl.ID = "" }), "", "jti"},
		{"sub differs", e.assertion(c, func(_ map[string]any, cl *jwt.RegisteredClaims) { cl.Subject = "svc-b" }), "", "sub"},
		{"unknown client", e.assertion(notRegistered, nil), "", clientAuthFailed},
		{"bad client id", e.assertion(c, func(_ map[string]any, cl *jwt.RegisteredClaims) { cl.Issuer = "a b" }), "", "client_id"},
		{"disabled client", e.assertion(disabled, nil), "", clientAuthFailed},
		{"kid not in JWKS", e.assertion(unknownKid, nil), "", clientAuthFailed},
		{"signed by another key", e.assertion(wrongKey, nil), "", clientAuthFailed},
		{"kid not a string", e.assertion(c, func(h map[string]any, _ *jwt.RegisteredClaims) { h["kid"] = 7 }), "", "kid"},
		{"crit header", e.assertion(c, func(h map[string]any, _ *jwt.RegisteredClaims) { h["crit"] = []string{"x"} }), "", "critical"},
		{"HS256", hsTok, "", "signature"},
		{"alg none", noneTok, "", "signature"},
		{"alg swapped", algSwap, "", clientAuthFailed},
		{"malformed", "not.a.jwt", "", "malformed"},
		{"two segments", "abc.def", "", "malformed"},
		{"wrong assertion type", e.assertion(c, nil), "urn:ietf:params:oauth:client-assertion-type:saml2-bearer", "client_assertion_type"},
		{"type without assertion", "", AssertionType, "missing"},
		{"huge", strings.Repeat("a", maxTokenLen+1), "", "too long"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			typ := tc.typ
			if typ == "" {
				typ = AssertionType
			}
			_, err := e.svc.AuthenticateClient(ctx, Credentials{AssertionType: typ, Assertion: tc.assertion})
			if !errors.Is(err, ErrInvalidClient) {
				t.Fatalf("got %v, want invalid_client", err)
			}
			var ae *Error
			if !errors.As(err, &ae) || !strings.Contains(ae.Description, tc.want) {
				t.Errorf("description %q does not say %q", ae.Description, tc.want)
			}
		})
	}
}

func TestAuthenticationMethods(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	jwtClient := e.register("svc-a", gm.AlgSM2)
	c, secret, err := NewClient(Registration{ID: "svc-basic", Name: "Basic", Region: "440000", Scopes: []string{ScopeQRRedeem},
		AuthMethod: AuthClientSecretBasic}, e.clock.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if len(secret) != 43 || strings.Contains(string(c.SecretHash), secret) {
		t.Fatalf("secret %d chars, hash %q", len(secret), c.SecretHash)
	}
	if err := e.clients.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	got, err := e.svc.AuthenticateClient(ctx, Credentials{Basic: true, BasicID: "svc-basic", BasicSecret: secret})
	if err != nil || got.ID != "svc-basic" {
		t.Fatalf("basic: %v", err)
	}
	// Change the secret's last character for another (it is often "A").
	wrong := secret[:len(secret)-1] + "A"
	if wrong == secret {
		wrong = secret[:len(secret)-1] + "E"
	}
	refused := []struct {
		name string
		cred Credentials
		kind error
	}{
		{"wrong secret", Credentials{Basic: true, BasicID: "svc-basic", BasicSecret: wrong}, ErrInvalidClient},
		{"empty secret", Credentials{Basic: true, BasicID: "svc-basic"}, ErrInvalidClient},
		{"unknown client", Credentials{Basic: true, BasicID: "svc-nobody", BasicSecret: secret}, ErrInvalidClient},
		{"basic for a private_key_jwt client", Credentials{Basic: true, BasicID: jwtClient.ID, BasicSecret: secret}, ErrInvalidClient},
		{"assertion for a basic client", Credentials{AssertionType: AssertionType,
			Assertion: e.assertion(testClient{Client: c, signer: jwtClient.signer, kid: jwtClient.kid}, nil)}, ErrInvalidClient},
		{"no authentication", Credentials{ClientID: "svc-basic"}, ErrInvalidClient},
		{"two methods", Credentials{Basic: true, BasicID: "svc-basic", BasicSecret: secret, AssertionType: AssertionType, Assertion: "x"}, ErrInvalidRequest},
		// RFC 6749 §5.2: invalid_client is "Client authentication failed
		// (e.g., unknown client, no client authentication included, or
		// unsupported authentication method)"; invalid_request a request
		// that "utilizes more than one mechanism for authenticating the
		// client".
		{"client_secret_post", Credentials{ClientID: "svc-basic", ClientSecret: secret}, ErrInvalidClient},
		{"client_secret_post beside basic", Credentials{Basic: true, BasicID: "svc-basic", BasicSecret: secret, ClientSecret: secret}, ErrInvalidRequest},
		{"client_id mismatch", Credentials{Basic: true, BasicID: "svc-basic", BasicSecret: secret, ClientID: "svc-a"}, ErrInvalidClient},
	}
	for _, tc := range refused {
		if _, err := e.svc.AuthenticateClient(ctx, tc.cred); !errors.Is(err, tc.kind) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.kind)
		}
	}
	if _, err := e.clients.Update(ctx, "svc-basic", func(c *Client) error { c.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.AuthenticateClient(ctx, Credentials{Basic: true, BasicID: "svc-basic", BasicSecret: secret}); !errors.Is(err, ErrInvalidClient) {
		t.Errorf("disabled basic client: %v", err)
	}
}

func TestGrantAndScope(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.register("svc-a", gm.AlgSM2, ScopeQRRedeem, ScopeEnroll)
	cases := []struct {
		req  TokenRequest
		want string
		err  error
	}{
		{TokenRequest{GrantType: GrantClientCredentials}, "qr:redeem identity:enroll", nil},
		{TokenRequest{GrantType: GrantClientCredentials, Scope: "identity:enroll"}, "identity:enroll", nil},
		{TokenRequest{GrantType: GrantClientCredentials, Scope: "identity:enroll qr:redeem identity:enroll"}, "qr:redeem identity:enroll", nil},
		{TokenRequest{GrantType: GrantClientCredentials, Scope: "registry:admin"}, "", ErrInvalidScope},
		{TokenRequest{GrantType: GrantClientCredentials, Scope: "qr:redeem nonsense"}, "", ErrInvalidScope},
		{TokenRequest{GrantType: GrantClientCredentials, Scope: "qr:redeem  identity:enroll"}, "", ErrInvalidScope},
		{TokenRequest{GrantType: "password"}, "", ErrUnsupportedGrantType},
		{TokenRequest{GrantType: GrantAuthorizationCode}, "", ErrUnsupportedGrantType},
		{TokenRequest{}, "", ErrInvalidRequest},
	}
	for _, tc := range cases {
		resp, err := e.svc.Token(ctx, c.Client, tc.req)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("%+v: got %v, want %v", tc.req, err, tc.err)
			}
			continue
		}
		if err != nil || resp.Scope != tc.want {
			t.Errorf("%+v: scope %q, %v", tc.req, resp.Scope, err)
		}
	}
	// A client registered only for user login may not use client credentials.
	login, _, err := NewClient(Registration{ID: "web-login", Name: "Login", Region: "310000", Scopes: []string{ScopeQRRedeem},
		GrantTypes: []string{GrantAuthorizationCode}, RedirectURIs: []string{"https://rp.example/cb"}, JWKS: &c.JWKS}, e.clock.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Token(ctx, login, TokenRequest{GrantType: GrantClientCredentials}); !errors.Is(err, ErrUnauthorizedClient) {
		t.Errorf("login-only client: %v", err)
	}
	if login.SectorIdentifier != "rp.example" {
		t.Errorf("sector identifier %q", login.SectorIdentifier)
	}
}

// TestNoClientEnumeration: whatever the registry says about a client (not
// registered, disabled, registered for another method, another key), a
// caller without the client's credentials gets one answer.
func TestNoClientEnumeration(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.register("svc-a", gm.AlgSM2)
	disabled := e.register("svc-off", gm.AlgSM2)
	if _, err := e.clients.Update(ctx, disabled.ID, func(c *Client) error { c.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	basic, secret, err := NewClient(Registration{ID: "svc-basic", Name: "Basic", Region: "440000", Scopes: []string{ScopeQRRedeem},
		AuthMethod: AuthClientSecretBasic}, e.clock.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.clients.Create(ctx, basic); err != nil {
		t.Fatal(err)
	}
	// A disabled client that authenticates with its own secret learns no
	// more than one with a wrong secret.
	basicOff, secretOff, err := NewClient(Registration{ID: "svc-basic-off", Name: "Basic off", Region: "440000", Scopes: []string{ScopeQRRedeem},
		AuthMethod: AuthClientSecretBasic}, e.clock.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	basicOff.Disabled = true
	if err := e.clients.Create(ctx, basicOff); err != nil {
		t.Fatal(err)
	}
	attacker := e.register("svc-attacker", gm.AlgSM2)
	forge := func(id string) Credentials {
		forged := testClient{Client: Client{ID: id}, signer: attacker.signer, kid: c.kid}
		return Credentials{AssertionType: AssertionType, Assertion: e.assertion(forged, nil)}
	}
	cases := map[string]Credentials{
		"assertion, unknown client":       forge("svc-nobody"),
		"assertion, registered":           forge(c.ID),
		"assertion, disabled":             forge(disabled.ID),
		"assertion, a basic client":       forge(basic.ID),
		"basic, unknown client":           {Basic: true, BasicID: "svc-nobody", BasicSecret: secret + "x"},
		"basic, registered":               {Basic: true, BasicID: basic.ID, BasicSecret: secret + "x"},
		"basic, a private_key_jwt client": {Basic: true, BasicID: c.ID, BasicSecret: secret},
		"basic, disabled, its secret":     {Basic: true, BasicID: basicOff.ID, BasicSecret: secretOff},
	}
	for name, cred := range cases {
		_, err := e.svc.AuthenticateClient(ctx, cred)
		var ae *Error
		if !errors.As(err, &ae) || ae.Kind != ErrInvalidClient || ae.Description != clientAuthFailed {
			t.Errorf("%s: %v, want %q", name, err, clientAuthFailed)
		}
	}
}

// TestSecretChangeTakesEffect: a client's new secret hash is used at
// once, though the old one was parsed and kept (secretCache); the old
// secret stops working.
func TestSecretChangeTakesEffect(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c, secret, err := NewClient(Registration{ID: "svc-basic", Name: "Basic", Region: "440000", Scopes: []string{ScopeQRRedeem},
		AuthMethod: AuthClientSecretBasic}, e.clock.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.clients.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.AuthenticateClient(ctx, Credentials{Basic: true, BasicID: c.ID, BasicSecret: secret}); err != nil {
		t.Fatal(err)
	}
	next, hash, err := NewSecret(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.clients.Update(ctx, c.ID, func(c *Client) error { c.SecretHash = hash; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.AuthenticateClient(ctx, Credentials{Basic: true, BasicID: c.ID, BasicSecret: secret}); !errors.Is(err, ErrInvalidClient) {
		t.Errorf("old secret after the change: %v", err)
	}
	if _, err := e.svc.AuthenticateClient(ctx, Credentials{Basic: true, BasicID: c.ID, BasicSecret: next}); err != nil {
		t.Errorf("new secret: %v", err)
	}
}

// TestVisitorsOnlyIntrospect: a party of Config.Visitors (another
// region's) authenticates only at introspection, marked Visiting (the
// login branch of the introspection endpoint answers it nothing); at the
// token endpoint it is an unknown client, and a home party is never
// Visiting.
func TestVisitorsOnlyIntrospect(t *testing.T) {
	visitors := NewMemoryStore(nil)
	e := newEnv(t, func(c *Config) { c.Visitors = visitors })
	ctx := context.Background()
	h, homeSecret, err := NewClient(Registration{ID: "svc-home", Name: "Home", Region: "310000", Scopes: []string{ScopeQRRedeem},
		AuthMethod: AuthClientSecretBasic}, e.clock.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.clients.Create(ctx, h); err != nil {
		t.Fatal(err)
	}
	v, secret, err := NewClient(Registration{ID: "svc-visitor", Name: "Visitor", Region: "320000", Scopes: []string{ScopeRegistryAdmin},
		AuthMethod: AuthClientSecretBasic}, e.clock.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := visitors.Create(ctx, v); err != nil {
		t.Fatal(err)
	}
	cred := Credentials{Basic: true, BasicID: "svc-visitor", BasicSecret: secret}
	if got, err := e.svc.AuthenticateIntrospector(ctx, cred); err != nil || !got.Visiting() {
		t.Fatalf("visitor at introspection: %+v %v, want Visiting", got, err)
	}
	if _, err := e.svc.AuthenticateClient(ctx, cred); !errors.Is(err, ErrInvalidClient) {
		t.Fatalf("visitor at the token endpoint: %v, want invalid_client", err)
	}
	if got, err := e.svc.AuthenticateIntrospector(ctx, Credentials{Basic: true, BasicID: "svc-home", BasicSecret: homeSecret}); err != nil || got.Visiting() {
		t.Fatalf("home party at introspection: %+v %v", got, err)
	}
}
