package attestation

import (
	"context"
	"crypto"
	"crypto/rand"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/gm"
)

const (
	providerID = "https://wallet-provider.example"
	as         = "https://node.example/oid4vci"
)

type fixture struct {
	now                time.Time
	provider, other    crypto.Signer
	instance, stranger crypto.Signer
	v                  *Verifier
}

func newFixture(t testing.TB, alg string) *fixture {
	t.Helper()
	f := &fixture{now: time.Unix(1_800_000_000, 0)}
	var err error
	for _, k := range []*crypto.Signer{&f.provider, &f.other, &f.instance, &f.stranger} {
		if *k, err = gm.GenerateSigner(alg, rand.Reader); err != nil {
			t.Fatal(err)
		}
	}
	pj, _ := gm.NewJWK(f.provider.Public(), "p1")
	f.v, err = NewVerifier(Config{Providers: []Provider{{Issuer: providerID, Keys: []gm.JWK{pj}, ClientIDs: []string{"wallet-app"}}}, Algorithms: gm.JWTAlgorithms,
		Audience: as, Now: func() time.Time { return f.now }, MaxAge: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) attestation(t testing.TB) string {
	t.Helper()
	a, err := Sign(f.provider, "p1", Attestation{Issuer: providerID, ClientID: "wallet-app", InstanceKey: f.instance.Public(),
		WalletName: "TrustID 钱包", WalletLink: "https://wallet-provider.example/about", IssuedAt: f.now.Add(-time.Hour), Expires: f.now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (f *fixture) pop(t testing.TB, challenge string) string {
	t.Helper()
	p, err := NewPoP(f.instance, as, challenge, f.now, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestVerify: an attestation and its PoP verify, with each algorithm,
// giving the client_id, the provider, the display claims, the instance
// key's thumbprint, the PoP's jti and challenge.
func TestVerify(t *testing.T) {
	for _, alg := range []string{gm.AlgSM2, gm.AlgES256, gm.AlgEdDSA} {
		f := newFixture(t, alg)
		r, err := f.v.Verify([]string{f.attestation(t)}, []string{f.pop(t, "c1")}, "wallet-app")
		ij, _ := gm.NewJWK(f.instance.Public(), "")
		jkt, _ := ij.Thumbprint()
		if err != nil || r.ClientID != "wallet-app" || r.Provider != providerID || r.WalletName != "TrustID 钱包" || r.JKT != jkt ||
			len(r.JTI) != 22 || r.Challenge != "c1" || !r.Expires.Equal(f.now.Add(time.Hour)) {
			t.Fatalf("%s: %+v %v", alg, r, err)
		}
		// Without client_id in the request (a pre-authorized code), and
		// without a kid: every key of the provider is tried.
		a, _ := Sign(f.provider, "", Attestation{Issuer: providerID, ClientID: "wallet-app", InstanceKey: f.instance.Public(), IssuedAt: f.now, Expires: f.now.Add(time.Hour)})
		if _, err := f.v.Verify([]string{a}, []string{f.pop(t, "")}, ""); err != nil {
			t.Fatalf("%s without kid: %v", alg, err)
		}
	}
}

// signed makes a JWT with header members and claims (nil deletes one).
func signed(t testing.TB, k crypto.Signer, header map[string]any, claims jwt.MapClaims) string {
	t.Helper()
	m, _ := gm.SigningMethod(k)
	tok := jwt.NewWithClaims(m, claims)
	for h, v := range header {
		if v == nil {
			delete(tok.Header, h)
		} else {
			tok.Header[h] = v
		}
	}
	s, err := tok.SignedString(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestVerifyRefuses: every check, negative, with the error it names.
func TestVerifyRefuses(t *testing.T) {
	f := newFixture(t, gm.AlgES256)
	ij, _ := gm.NewJWK(f.instance.Public(), "")
	ij.Use, ij.Alg = "", ""
	sm2, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	sm2JWK, _ := gm.NewJWK(sm2.Public(), "")
	attClaims := func(edit func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"iss": providerID, "sub": "wallet-app", "iat": f.now.Add(-time.Hour).Unix(), "exp": f.now.Add(time.Hour).Unix(), "cnf": map[string]any{"jwk": ij}}
		if edit != nil {
			edit(c)
		}
		return c
	}
	att := func(edit func(jwt.MapClaims), header map[string]any) string {
		h := map[string]any{"typ": TypAttestation, "kid": "p1"}
		for k, v := range header {
			h[k] = v
		}
		return signed(t, f.provider, h, attClaims(edit))
	}
	popClaimsOf := func(edit func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"aud": as, "jti": "j1", "iat": f.now.Unix()}
		if edit != nil {
			edit(c)
		}
		return c
	}
	pop := func(edit func(jwt.MapClaims), header map[string]any) string {
		h := map[string]any{"typ": TypPoP}
		for k, v := range header {
			h[k] = v
		}
		return signed(t, f.instance, h, popClaimsOf(edit))
	}
	set := func(k string, v any) func(jwt.MapClaims) {
		return func(c jwt.MapClaims) {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
	}
	goodAtt, goodPoP := att(nil, nil), pop(nil, nil)
	hs256 := func() string {
		s, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, attClaims(nil)).SignedString([]byte("secret"))
		return s
	}()
	for name, c := range map[string]struct {
		atts, pops []string
		clientID   string
		want       error
		reason     string
	}{
		"no attestation":             {nil, []string{goodPoP}, "", ErrInvalid, "exactly one OAuth-Client-Attestation"},
		"two attestations":           {[]string{goodAtt, goodAtt}, []string{goodPoP}, "", ErrInvalid, "exactly one"},
		"no PoP":                     {[]string{goodAtt}, nil, "", ErrInvalid, "exactly one OAuth-Client-Attestation-PoP"},
		"two PoPs":                   {[]string{goodAtt}, []string{goodPoP, goodPoP}, "", ErrInvalid, "exactly one"},
		"huge":                       {[]string{strings.Repeat("a", MaxJWT+1)}, []string{goodPoP}, "", ErrInvalid, "bytes"},
		"not a JWS":                  {[]string{"a.b"}, []string{goodPoP}, "", ErrInvalid, "compact JWS"},
		"attestation typ":            {[]string{att(nil, map[string]any{"typ": "JWT"})}, []string{goodPoP}, "", ErrInvalid, "typ must be " + TypAttestation},
		"HS256 attestation":          {[]string{hs256}, []string{goodPoP}, "", ErrInvalid, "alg is not one allowed"},
		"untrusted iss":              {[]string{att(set("iss", "https://evil.example"), nil)}, []string{goodPoP}, "", ErrInvalid, "not a trusted wallet provider"},
		"no iss":                     {[]string{att(set("iss", nil), nil)}, []string{goodPoP}, "", ErrInvalid, "not a trusted wallet provider"},
		"unknown kid":                {[]string{att(nil, map[string]any{"kid": "p2"})}, []string{goodPoP}, "", ErrInvalid, "kid"},
		"another provider key":       {[]string{signed(t, f.other, map[string]any{"typ": TypAttestation, "kid": "p1"}, attClaims(nil))}, []string{goodPoP}, "", ErrInvalid, "signature"},
		"no sub":                     {[]string{att(set("sub", nil), nil)}, []string{goodPoP}, "", ErrInvalid, "sub"},
		"sub not attestable":         {[]string{att(set("sub", "other-app"), nil)}, []string{goodPoP}, "other-app", ErrInvalid, "not trusted to attest this client_id"},
		"status not an object":       {[]string{att(set("status", "revoked"), nil)}, []string{goodPoP}, "", ErrInvalid, "status must be a JSON object"},
		"status without list":        {[]string{att(set("status", map[string]any{"other": map[string]any{}}), nil)}, []string{goodPoP}, "", ErrInvalid, "names no status_list"},
		"status idx negative":        {[]string{att(set("status", map[string]any{"status_list": map[string]any{"idx": -1, "uri": "https://wp.example/s/1"}}), nil)}, []string{goodPoP}, "", ErrInvalid, "non-negative integer"},
		"status idx fraction":        {[]string{att(set("status", map[string]any{"status_list": map[string]any{"idx": 1.5, "uri": "https://wp.example/s/1"}}), nil)}, []string{goodPoP}, "", ErrInvalid, "non-negative integer"},
		"status idx string":          {[]string{att(set("status", map[string]any{"status_list": map[string]any{"idx": "1", "uri": "https://wp.example/s/1"}}), nil)}, []string{goodPoP}, "", ErrInvalid, "non-negative integer"},
		"status no uri":              {[]string{att(set("status", map[string]any{"status_list": map[string]any{"idx": 1}}), nil)}, []string{goodPoP}, "", ErrInvalid, "idx and uri"},
		"status http uri":            {[]string{att(set("status", map[string]any{"status_list": map[string]any{"idx": 1, "uri": "http://wp.example/s/1"}}), nil)}, []string{goodPoP}, "", ErrInvalid, "https URL"},
		"client_id not sub":          {[]string{goodAtt}, []string{goodPoP}, "other-app", ErrInvalid, "client_id"},
		"no exp":                     {[]string{att(set("exp", nil), nil)}, []string{goodPoP}, "", ErrInvalid, "exp is required"},
		"expired":                    {[]string{att(set("exp", f.now.Add(-2*time.Minute).Unix()), nil)}, []string{goodPoP}, "", ErrStale, "expired"},
		"expired at the leeway":      {[]string{att(set("exp", f.now.Add(-time.Minute).Unix()), nil)}, []string{goodPoP}, "", ErrStale, "expired"},
		"no iat":                     {[]string{att(set("iat", nil), nil)}, []string{goodPoP}, "", ErrInvalid, "iat is required"},
		"iat ahead":                  {[]string{att(set("iat", f.now.Add(5*time.Minute).Unix()), nil)}, []string{goodPoP}, "", ErrInvalid, "future"},
		"too old":                    {[]string{att(set("iat", f.now.Add(-25*time.Hour).Unix()), nil)}, []string{goodPoP}, "", ErrStale, "issued over"},
		"nbf ahead":                  {[]string{att(set("nbf", f.now.Add(5*time.Minute).Unix()), nil)}, []string{goodPoP}, "", ErrInvalid, "nbf"},
		"nbf past int64 seconds":     {[]string{att(set("nbf", 1e19), nil)}, []string{goodPoP}, "", ErrInvalid, "nbf"},
		"iat past int64 seconds":     {[]string{att(set("iat", 1e19), nil)}, []string{goodPoP}, "", ErrInvalid, "future"},
		"exp a string":               {[]string{att(set("exp", "soon"), nil)}, []string{goodPoP}, "", ErrInvalid, "right types"},
		"wallet_name a number":       {[]string{att(set("wallet_name", 7), nil)}, []string{goodPoP}, "", ErrInvalid, "wallet_name"},
		"no cnf":                     {[]string{att(set("cnf", nil), nil)}, []string{goodPoP}, "", ErrInvalid, "cnf"},
		"cnf without jwk":            {[]string{att(set("cnf", map[string]any{"jkt": "x"}), nil)}, []string{goodPoP}, "", ErrInvalid, "cnf"},
		"private cnf.jwk":            {[]string{att(set("cnf", map[string]any{"jwk": map[string]any{"kty": "EC", "crv": "P-256", "x": ij.X, "y": ij.Y, "d": "AAAA"}}), nil)}, []string{goodPoP}, "", ErrInvalid, "private"},
		"cnf.jwk of another alg":     {[]string{att(set("cnf", map[string]any{"jwk": sm2JWK}), nil)}, []string{goodPoP}, "", ErrInvalid, "alg does not match"},
		"PoP typ":                    {[]string{goodAtt}, []string{pop(nil, map[string]any{"typ": "JWT"})}, "", ErrInvalid, "typ must be " + TypPoP},
		"attestation crit":           {[]string{att(nil, map[string]any{"crit": []string{"urn:example:x"}, "urn:example:x": true})}, []string{goodPoP}, "", ErrInvalid, "crit"},
		"PoP crit":                   {[]string{goodAtt}, []string{pop(nil, map[string]any{"crit": []string{"urn:example:x"}, "urn:example:x": true})}, "", ErrInvalid, "crit"},
		"PoP by another key":         {[]string{goodAtt}, []string{signed(t, f.stranger, map[string]any{"typ": TypPoP}, popClaimsOf(nil))}, "", ErrInvalid, "PoP's signature"},
		"PoP not a JWS":              {[]string{goodAtt}, []string{"x.y"}, "", ErrInvalid, "compact JWS"},
		"no aud":                     {[]string{goodAtt}, []string{pop(set("aud", nil), nil)}, "", ErrInvalid, "aud"},
		"other aud":                  {[]string{goodAtt}, []string{pop(set("aud", "https://other.example"), nil)}, "", ErrInvalid, "aud"},
		"two auds":                   {[]string{goodAtt}, []string{pop(set("aud", []string{as, "https://other.example"}), nil)}, "", ErrInvalid, "aud"},
		"no jti":                     {[]string{goodAtt}, []string{pop(set("jti", nil), nil)}, "", ErrInvalid, "jti"},
		"jti a number":               {[]string{goodAtt}, []string{pop(set("jti", 5), nil)}, "", ErrInvalid, "jti"},
		"no PoP iat":                 {[]string{goodAtt}, []string{pop(set("iat", nil), nil)}, "", ErrInvalid, "iat is required"},
		"stale PoP":                  {[]string{goodAtt}, []string{pop(set("iat", f.now.Add(-6*time.Minute).Unix()), nil)}, "", ErrInvalid, "window"},
		"PoP ahead":                  {[]string{goodAtt}, []string{pop(set("iat", f.now.Add(2*time.Minute).Unix()), nil)}, "", ErrInvalid, "window"},
		"PoP expired":                {[]string{goodAtt}, []string{pop(set("exp", f.now.Add(-2*time.Minute).Unix()), nil)}, "", ErrInvalid, "PoP has expired"},
		"PoP expired at the leeway":  {[]string{goodAtt}, []string{pop(set("exp", f.now.Add(-time.Minute).Unix()), nil)}, "", ErrInvalid, "PoP has expired"},
		"PoP nbf ahead":              {[]string{goodAtt}, []string{pop(set("nbf", f.now.Add(2*time.Minute).Unix()), nil)}, "", ErrInvalid, "nbf"},
		"PoP nbf past int64 seconds": {[]string{goodAtt}, []string{pop(set("nbf", 1e19), nil)}, "", ErrInvalid, "nbf"},
		"challenge a number":         {[]string{goodAtt}, []string{pop(set("challenge", 1), nil)}, "", ErrInvalid, "challenge"},
		"duplicate member":           {[]string{"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIiwic3ViIjoiYiJ9.AAAA"}, []string{goodPoP}, "", ErrInvalid, "JSON object"},
	} {
		_, err := f.v.Verify(c.atts, c.pops, c.clientID)
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.reason) {
			t.Errorf("%s: %v, want %v %q", name, err, c.want, c.reason)
		}
	}
	if _, err := f.v.Verify([]string{goodAtt}, []string{goodPoP}, "wallet-app"); err != nil {
		t.Fatalf("the good pair: %v", err)
	}
	// RFC 7519 §4.1.4: refused on or after exp, here plus the minute of
	// leeway (above); a second before that, both are taken.
	last := f.now.Add(-time.Minute + time.Second).Unix()
	if _, err := f.v.Verify([]string{att(set("exp", last), nil)}, []string{pop(set("exp", last), nil)}, "wallet-app"); err != nil {
		t.Fatalf("a second before exp + leeway: %v", err)
	}
}

// TestVerifyStatus: an attestation's status claim comes back as its
// Token Status List entry for the caller to check; one without has none.
func TestVerifyStatus(t *testing.T) {
	f := newFixture(t, gm.AlgES256)
	ref := &StatusListRef{Index: 7, URI: "https://wallet-provider.example/status/1"}
	a, err := Sign(f.provider, "p1", Attestation{Issuer: providerID, ClientID: "wallet-app", InstanceKey: f.instance.Public(),
		IssuedAt: f.now, Expires: f.now.Add(time.Hour), Status: ref})
	if err != nil {
		t.Fatal(err)
	}
	r, err := f.v.Verify([]string{a}, []string{f.pop(t, "")}, "wallet-app")
	if err != nil || r.Status == nil || *r.Status != *ref {
		t.Fatalf("with a status: %+v %v", r, err)
	}
	r, err = f.v.Verify([]string{f.attestation(t)}, []string{f.pop(t, "")}, "")
	if err != nil || r.Status != nil {
		t.Fatalf("without a status: %+v %v", r, err)
	}
}

// TestKeysResolveKey: a provider's key by kid, its only key without one;
// another provider, an unknown kid, and no kid among several keys fail.
func TestKeysResolveKey(t *testing.T) {
	k1, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	k2, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	j1, _ := gm.NewJWK(k1.Public(), "a")
	j2, _ := gm.NewJWK(k2.Public(), "b")
	keys, err := NewKeys([]Provider{{Issuer: "https://one.example", Keys: []gm.JWK{j1}, ClientIDs: []string{"w"}},
		{Issuer: "https://two.example", Keys: []gm.JWK{j1, j2}, ClientIDs: []string{"w"}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if pub, err := keys.ResolveKey(ctx, "https://one.example", ""); err != nil || !k1.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(pub) {
		t.Errorf("only key: %v", err)
	}
	if pub, err := keys.ResolveKey(ctx, "https://two.example", "b"); err != nil || !k2.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(pub) {
		t.Errorf("by kid: %v", err)
	}
	for _, c := range [][2]string{{"https://evil.example", ""}, {"https://two.example", ""}, {"https://one.example", "b"}} {
		if _, err := keys.ResolveKey(ctx, c[0], c[1]); !errors.Is(err, ErrKey) {
			t.Errorf("%v: %v", c, err)
		}
	}
}

func TestNewVerifierRefuses(t *testing.T) {
	k, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	k2, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	j, _ := gm.NewJWK(k.Public(), "same")
	j2, _ := gm.NewJWK(k2.Public(), "same")
	ids := []string{"wallet-app"}
	for name, cfg := range map[string]Config{
		"no provider":     {Algorithms: gm.JWTAlgorithms, Audience: as},
		"no audience":     {Providers: []Provider{{Issuer: providerID, Keys: []gm.JWK{j}, ClientIDs: ids}}, Algorithms: gm.JWTAlgorithms},
		"no algs":         {Providers: []Provider{{Issuer: providerID, Keys: []gm.JWK{j}, ClientIDs: ids}}, Audience: as},
		"HS256":           {Providers: []Provider{{Issuer: providerID, Keys: []gm.JWK{j}, ClientIDs: ids}}, Audience: as, Algorithms: []string{"HS256"}},
		"no keys":         {Providers: []Provider{{Issuer: providerID}}, Algorithms: gm.JWTAlgorithms, Audience: as},
		"listed twice":    {Providers: []Provider{{Issuer: providerID, Keys: []gm.JWK{j}, ClientIDs: ids}, {Issuer: providerID, Keys: []gm.JWK{j}, ClientIDs: ids}}, Algorithms: gm.JWTAlgorithms, Audience: as},
		"no client_id":    {Providers: []Provider{{Issuer: providerID, Keys: []gm.JWK{j}}}, Algorithms: gm.JWTAlgorithms, Audience: as},
		"empty client_id": {Providers: []Provider{{Issuer: providerID, Keys: []gm.JWK{j}, ClientIDs: []string{""}}}, Algorithms: gm.JWTAlgorithms, Audience: as},
		"client_id twice": {Providers: []Provider{{Issuer: providerID, Keys: []gm.JWK{j}, ClientIDs: []string{"w", "w"}}}, Algorithms: gm.JWTAlgorithms, Audience: as},
		"duplicate kid":   {Providers: []Provider{{Issuer: providerID, Keys: []gm.JWK{j, j2}, ClientIDs: ids}}, Algorithms: gm.JWTAlgorithms, Audience: as},
	} {
		if _, err := NewVerifier(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// The same provider's config is taken once kids and client_ids are
	// distinct: the refusals above are for what they name.
	j2.Kid = "other"
	if _, err := NewVerifier(Config{Providers: []Provider{{Issuer: providerID, Keys: []gm.JWK{j, j2}, ClientIDs: []string{"w", "v"}}}, Algorithms: gm.JWTAlgorithms, Audience: as}); err != nil {
		t.Errorf("distinct kids and client_ids: %v", err)
	}
}

// FuzzParseStatus: any bytes are a status_list entry (a non-negative
// idx, an https uri) or an ErrInvalid, never a panic.
func FuzzParseStatus(f *testing.F) {
	f.Add([]byte(`{"status_list":{"idx":0,"uri":"https://wp.example/s/1"}}`))
	f.Add([]byte(`{"status_list":{"idx":2147483648,"uri":"https://wp.example/s/1"}}`))
	f.Add([]byte(`{"status_list":{"idx":1e3,"uri":"https://wp.example/s/1"}}`))
	f.Add([]byte(`{"status_list":{"idx":1,"uri":"https://wp.example/s/1"},"other":{}}`))
	f.Add([]byte(`{"status_list":{"idx":1,"idx":2,"uri":"https://a"}}`))
	f.Add([]byte(`{"status_list":[]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := ParseStatus(raw)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if r.Index < 0 || !strings.HasPrefix(r.URI, "https://") || len(r.URI) > MaxStatusURI {
			t.Fatalf("accepted %+v", r)
		}
	})
}

// FuzzVerify: any pair of strings is a verified attestation or an error
// of this package, never a panic.
func FuzzVerify(f *testing.F) {
	fx := newFixture(f, gm.AlgES256)
	att, pop := fx.attestation(f), fx.pop(f, "c")
	f.Add(att, pop)
	f.Add(att[:len(att)-4], pop)
	f.Add(att, pop[:40])
	f.Add("eyJhbGciOiJub25lIn0.e30.", "a.b.c")
	f.Fuzz(func(t *testing.T, a, p string) {
		r, err := fx.v.Verify([]string{a}, []string{p}, "")
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrStale) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if r.ClientID == "" || r.JKT == "" || r.JTI == "" {
			t.Fatalf("verified without client_id, jkt or jti: %+v", r)
		}
	})
}

// FuzzVerifyTimes: an attestation and its PoP, signed, with any exp, iat
// and nbf (NumericDates, RFC 7519 §2, any JSON number), are taken exactly
// when the times read as real numbers are within the windows Verify
// documents (exp + Leeway after now, iat and nbf at most Leeway ahead,
// iat at most MaxAge or PoPMaxAge behind): a date past what int64
// seconds hold is far ahead, not far behind. Dates are read to the
// second below (a fraction is within the leeway).
func FuzzVerifyTimes(f *testing.F) {
	fx := newFixture(f, gm.AlgES256)
	ij, _ := gm.NewJWK(fx.instance.Public(), "")
	ij.Use, ij.Alg = "", ""
	now := float64(fx.now.Unix())
	const leeway, maxAge, popMaxAge = 60, 24 * 3600, 5 * 60
	f.Add(now+3600, now-3600, now, false, now+60, now, now, false, false)
	f.Add(now-60, now-3600, now, true, now-59, now, now+60, true, true)
	f.Add(now+3600, now-3600, 1e19, true, now+60, now, 1e19, false, true)
	f.Add(now+3600, 1e19, now, false, now+60, -1e19, now, false, false)
	f.Add(1e300, now-maxAge, now+leeway+0.5, true, -1.5, now-popMaxAge, 0.0, true, true)
	f.Fuzz(func(t *testing.T, exp, iat, nbf float64, hasNbf bool, pexp, piat, pnbf float64, hasPexp, hasPnbf bool) {
		for _, x := range []float64{exp, iat, nbf, pexp, piat, pnbf} {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return // no JSON number
			}
		}
		ac := jwt.MapClaims{"iss": providerID, "sub": "wallet-app", "iat": iat, "exp": exp, "cnf": map[string]any{"jwk": ij}}
		pc := jwt.MapClaims{"aud": as, "jti": "j1", "iat": piat}
		if hasNbf {
			ac["nbf"] = nbf
		}
		if hasPexp {
			pc["exp"] = pexp
		}
		if hasPnbf {
			pc["nbf"] = pnbf
		}
		att := signed(t, fx.provider, map[string]any{"typ": TypAttestation, "kid": "p1"}, ac)
		pop := signed(t, fx.instance, map[string]any{"typ": TypPoP}, pc)
		sec := math.Floor
		want := sec(exp)+leeway > now && sec(iat) <= now+leeway && iat >= now-maxAge && (!hasNbf || sec(nbf) <= now+leeway) &&
			sec(piat) <= now+leeway && piat >= now-popMaxAge && (!hasPexp || sec(pexp)+leeway > now) && (!hasPnbf || sec(pnbf) <= now+leeway)
		r, err := fx.v.Verify([]string{att}, []string{pop}, "wallet-app")
		switch {
		case err != nil && !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrStale):
			t.Fatalf("unexpected error %v", err)
		case (err == nil) != want:
			t.Fatalf("attestation exp %v iat %v nbf %v (%v), PoP exp %v (%v) iat %v nbf %v (%v): %+v %v, want taken %v",
				exp, iat, nbf, hasNbf, pexp, hasPexp, piat, pnbf, hasPnbf, r, err, want)
		}
	})
}

// TestKeysRefuseEncryptionKey: a wallet provider configured with a key
// for encryption is refused at start, naming it, since that key verifies
// no attestation (RFC 7517 §4.2: "The "use" (public key use) parameter
// identifies the intended use of the public key", "enc" for encryption;
// §4.3: "key_ops", "verify" for signatures); a key with no use is taken.
// (The encryption key verified attestations.)
func TestKeysRefuseEncryptionKey(t *testing.T) {
	k, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	for _, c := range []struct {
		use, ops string
		ok       bool
	}{{"", "", true}, {"enc", "", false}, {"", `["encrypt"]`, false}, {"", `["verify"]`, true}} {
		j, _ := gm.NewJWK(k.Public(), "a")
		j.Use, j.KeyOps = c.use, gm.KeyOps(c.ops)
		_, err := NewKeys([]Provider{{Issuer: "https://one.example", Keys: []gm.JWK{j}, ClientIDs: []string{"w"}}})
		if c.ok != (err == nil) || !c.ok && !errors.Is(err, gm.ErrJWKUse) {
			t.Errorf("use %q key_ops %s: %v, want ok %v (else gm.ErrJWKUse)", c.use, c.ops, err, c.ok)
		}
	}
}
