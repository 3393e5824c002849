package auth

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/gm"
)

func sm2JWK(t testing.TB, kid string) gm.JWK {
	t.Helper()
	k, err := gm.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	j, _ := gm.NewJWK(k.Public(), kid)
	return j
}

func TestClientValidate(t *testing.T) {
	now := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	base := func() Registration {
		return Registration{ID: "svc-a", Name: "服务 A", Region: "310000", Scopes: []string{ScopeQRRedeem},
			JWKS: &gm.JWKS{Keys: []gm.JWK{sm2JWK(t, "k1")}}}
	}
	if _, _, err := NewClient(base(), now, rand.Reader); err != nil {
		t.Fatal(err)
	}
	ed, _ := gm.GenerateSigner(gm.AlgEdDSA, rand.Reader)
	edJWK, _ := gm.NewJWK(ed.Public(), "ed")
	bad := map[string]func(*Registration){
		"short id":             func(r *Registration) { r.ID = "ab" },
		"id with colon":        func(r *Registration) { r.ID = "svc:a" },
		"id starting with dot": func(r *Registration) { r.ID = ".svc" },
		"no name":              func(r *Registration) { r.Name = "" },
		"control in name":      func(r *Registration) { r.Name = "a\nb" },
		"city region":          func(r *Registration) { r.Region = "310100" },
		"unknown province":     func(r *Registration) { r.Region = "990000" },
		"no scopes":            func(r *Registration) { r.Scopes = nil },
		"unknown scope":        func(r *Registration) { r.Scopes = []string{"root"} },
		"repeated scope":       func(r *Registration) { r.Scopes = []string{ScopeQRRedeem, ScopeQRRedeem} },
		"unknown grant":        func(r *Registration) { r.GrantTypes = []string{"password"} },
		"bad claim name":       func(r *Registration) { r.Claims = []string{"Birth-Date"} },
		"bad sector":           func(r *Registration) { r.SectorIdentifier = "https://rp.example" },
		"http redirect":        func(r *Registration) { r.RedirectURIs = []string{"http://rp.example/cb"} },
		"fragment redirect":    func(r *Registration) { r.RedirectURIs = []string{"https://rp.example/cb#x"} },
		"code without redirect": func(r *Registration) {
			r.GrantTypes = []string{GrantAuthorizationCode}
		},
		"no keys":                       func(r *Registration) { r.JWKS = nil },
		"Ed25519 key":                   func(r *Registration) { r.JWKS = &gm.JWKS{Keys: []gm.JWK{edJWK}} },
		"encryption key":                func(r *Registration) { r.JWKS.Keys[0].Use = "enc" },
		"unknown method":                func(r *Registration) { r.AuthMethod = "client_secret_post" },
		"secret with jwks":              func(r *Registration) { r.AuthMethod = AuthClientSecretBasic },
		"too many keys":                 func(r *Registration) { r.JWKS.Keys = make([]gm.JWK, maxKeys+1) },
		"repeated kid":                  func(r *Registration) { r.JWKS.Keys = append(r.JWKS.Keys, r.JWKS.Keys[0]) },
		"key not on curve":              func(r *Registration) { r.JWKS.Keys[0].Y = r.JWKS.Keys[0].X },
		"alg does not match":            func(r *Registration) { r.JWKS.Keys[0].Alg = gm.AlgES256 },
		"id of 65":                      func(r *Registration) { r.ID = strings.Repeat("a", 65) },
		"id with slash":                 func(r *Registration) { r.ID = "svc/a" },
		"name over 200 bytes":           func(r *Registration) { r.Name = strings.Repeat("服", 67) },
		"name over 128 characters":      func(r *Registration) { r.Name = strings.Repeat("a", 129) },
		"replacement character in name": func(r *Registration) { r.Name = "A\uFFFD" },
		"invalid UTF-8 in name":         func(r *Registration) { r.Name = "A\xff" },
		"claim not carried":             func(r *Registration) { r.Claims = []string{"birth_date"} },
		"repeated claim":                func(r *Registration) { r.Claims = []string{"age_over_18", "age_over_18"} },
		"too many redirect_uris":        func(r *Registration) { r.RedirectURIs = manyURIs(maxListLen + 1) },
		"repeated redirect_uri": func(r *Registration) {
			r.RedirectURIs = []string{"https://rp.example/cb", "https://rp.example/cb"}
		},
		"long redirect_uri": func(r *Registration) {
			r.RedirectURIs = []string{"https://rp.example/" + strings.Repeat("a", maxURILen)}
		},
		"redirect_uri with user info":        func(r *Registration) { r.RedirectURIs = []string{"https://user@rp.example/cb"} },
		"redirect_uri with empty fragment":   func(r *Registration) { r.RedirectURIs = []string{"https://rp.example/cb#"} },
		"too many post_logout_redirect_uris": func(r *Registration) { r.PostLogoutRedirectURIs = manyURIs(maxListLen + 1) },
		"http post_logout_redirect_uri":      func(r *Registration) { r.PostLogoutRedirectURIs = []string{"http://rp.example/bye"} },
		"repeated post_logout_redirect_uri": func(r *Registration) {
			r.PostLogoutRedirectURIs = []string{"https://rp.example/bye", "https://rp.example/bye"}
		},
		"EdDSA ID tokens": func(r *Registration) { r.IDTokenAlg = gm.AlgEdDSA },
		"17 valid keys": func(r *Registration) {
			r.JWKS.Keys = nil
			for i := range maxKeys + 1 {
				r.JWKS.Keys = append(r.JWKS.Keys, sm2JWK(t, fmt.Sprintf("k%d", i)))
			}
		},
		"kid with a space": func(r *Registration) { r.JWKS.Keys[0].Kid = "k 1" },
		"kid of 129":       func(r *Registration) { r.JWKS.Keys[0].Kid = strings.Repeat("k", 129) },
		"kid not ASCII":    func(r *Registration) { r.JWKS.Keys[0].Kid = "ключ" },
		"empty kid":        func(r *Registration) { r.JWKS.Keys[0].Kid = "" },
	}
	for name, edit := range bad {
		r := base()
		edit(&r)
		if _, _, err := NewClient(r, now, rand.Reader); !errors.Is(err, ErrInvalidClientMetadata) {
			t.Errorf("%s: got %v", name, err)
		}
	}
	// Loopback http redirects are fine for development.
	r := base()
	r.GrantTypes = []string{GrantClientCredentials, GrantAuthorizationCode}
	r.RedirectURIs = []string{"http://127.0.0.1:9000/cb", "https://rp.example/cb"}
	if _, _, err := NewClient(r, now, rand.Reader); err != nil {
		t.Error(err)
	}
	// A generated ID.
	r = base()
	r.ID = ""
	c, _, err := NewClient(r, now, rand.Reader)
	if err != nil || !strings.HasPrefix(c.ID, "c-") || !ValidClientID(c.ID) {
		t.Errorf("generated id %q %v", c.ID, err)
	}
	// An ideographic space is printable text in a name; the registration
	// time is kept in UTC to the second.
	r = base()
	r.Name = "服务\u3000A"
	at := time.Date(2026, 11, 22, 8, 0, 0, 999_999_999, time.FixedZone("CST", 8*3600))
	if c, _, err := NewClient(r, at, rand.Reader); err != nil || !c.Created.Equal(now) || c.Created.Location() != time.UTC {
		t.Errorf("name with an ideographic space: %v, created %v", err, c.Created)
	}
}

// manyURIs is n distinct https redirect URIs.
func manyURIs(n int) []string {
	uris := make([]string, n)
	for i := range uris {
		uris[i] = fmt.Sprintf("https://rp.example/cb/%d", i)
	}
	return uris
}

// TestClientValidateStored: Validate refuses a stored client that
// NewClient would never make (a clients file, a store's Create): no
// grant type, a secret on a private_key_jwt client, a client_secret_basic
// client whose secret hash does not parse, no registration time.
func TestClientValidateStored(t *testing.T) {
	now := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	keyed, _, err := NewClient(Registration{ID: "svc-a", Name: "A", Region: "310000", Scopes: []string{ScopeQRRedeem},
		JWKS: &gm.JWKS{Keys: []gm.JWK{sm2JWK(t, "k1")}}}, now, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	secret, _, err := NewClient(Registration{ID: "svc-b", Name: "B", Region: "310000", Scopes: []string{ScopeQRRedeem},
		AuthMethod: AuthClientSecretBasic}, now, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]func() Client{
		"no grant types":                func() Client { c := keyed.clone(); c.GrantTypes = nil; return c },
		"private_key_jwt with a secret": func() Client { c := keyed.clone(); c.SecretHash = secret.SecretHash; return c },
		"client_secret_basic, bad hash": func() Client { c := secret.clone(); c.SecretHash = "hmac-sm3$x$y"; return c },
		"client_secret_basic, no hash":  func() Client { c := secret.clone(); c.SecretHash = ""; return c },
		"no registration time":          func() Client { c := keyed.clone(); c.Created = time.Time{}; return c },
	} {
		c := c()
		if err := c.Validate(); !errors.Is(err, ErrInvalidClientMetadata) {
			t.Errorf("%s: %v, want ErrInvalidClientMetadata", name, err)
		}
	}
}

func TestKeyRotation(t *testing.T) {
	c, _, err := NewClient(Registration{ID: "svc-a", Name: "A", Region: "110000", Scopes: []string{ScopeEnroll},
		JWKS: &gm.JWKS{Keys: []gm.JWK{sm2JWK(t, "k1")}}}, time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.RetireKey("k1"); !errors.Is(err, ErrInvalidClientMetadata) {
		t.Errorf("retiring the last key: %v", err)
	}
	if err := c.AddKey(sm2JWK(t, "k1")); !errors.Is(err, ErrInvalidClientMetadata) {
		t.Errorf("adding a kid twice: %v", err)
	}
	if err := c.AddKey(sm2JWK(t, "k2")); err != nil {
		t.Fatal(err)
	}
	if err := c.RetireKey("k1"); err != nil {
		t.Fatal(err)
	}
	if len(c.JWKS.Keys) != 1 || c.JWKS.Keys[0].Kid != "k2" {
		t.Errorf("keys %v", c.JWKS.Keys)
	}
	if err := c.RetireKey("k9"); !errors.Is(err, ErrInvalidClientMetadata) {
		t.Errorf("retiring an unknown kid: %v", err)
	}
	ed, _ := gm.GenerateSigner(gm.AlgEdDSA, rand.Reader)
	edJWK, _ := gm.NewJWK(ed.Public(), "ed")
	if err := c.AddKey(edJWK); !errors.Is(err, ErrInvalidClientMetadata) || len(c.JWKS.Keys) != 1 {
		t.Errorf("adding an Ed25519 key: %v, keys %d", err, len(c.JWKS.Keys))
	}
	secret, _, err := NewClient(Registration{ID: "svc-b", Name: "B", Region: "110000", Scopes: []string{ScopeEnroll},
		AuthMethod: AuthClientSecretBasic}, time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := secret.AddKey(sm2JWK(t, "k1")); !errors.Is(err, ErrInvalidClientMetadata) || len(secret.JWKS.Keys) != 0 {
		t.Errorf("adding a key to a client_secret_basic client: %v, keys %d", err, len(secret.JWKS.Keys))
	}
}

// TestKeyRotationLeavesCopies: a rotation changes the client it is made
// on, never a copy of it taken before (a value the caller kept, as a
// ClientStore's Update works on a copy).
func TestKeyRotationLeavesCopies(t *testing.T) {
	c, _, err := NewClient(Registration{ID: "svc-a", Name: "A", Region: "110000", Scopes: []string{ScopeEnroll},
		JWKS: &gm.JWKS{Keys: []gm.JWK{sm2JWK(t, "k1")}}}, time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, kid := range []string{"k2", "k3"} {
		if err := c.AddKey(sm2JWK(t, kid)); err != nil {
			t.Fatal(err)
		}
	}
	kids := func(c Client) string {
		var s []string
		for _, k := range c.JWKS.Keys {
			s = append(s, k.Kid)
		}
		return strings.Join(s, ",")
	}
	before := c
	if err := c.RetireKey("k1"); err != nil {
		t.Fatal(err)
	}
	if kids(before) != "k1,k2,k3" || kids(c) != "k2,k3" {
		t.Errorf("after retiring k1: copy %s, client %s", kids(before), kids(c))
	}
	before = c
	if err := c.AddKey(sm2JWK(t, "k4")); err != nil {
		t.Fatal(err)
	}
	if err := before.AddKey(sm2JWK(t, "k5")); err != nil {
		t.Fatal(err)
	}
	if kids(c) != "k2,k3,k4" || kids(before) != "k2,k3,k5" {
		t.Errorf("keys added to two copies: %s and %s", kids(c), kids(before))
	}
}

func TestSecretHash(t *testing.T) {
	secret, h, err := NewSecret(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if !h.Verify(secret) || h.Verify(secret+"x") || h.Verify("") || SecretHash("hmac-sm3$AAAA$BBBB").Verify(secret) {
		t.Error("verify")
	}
	_, h2, _ := NewSecret(bytes.NewReader(append([]byte(secret), make([]byte, 100)...)))
	if h2 == h {
		t.Error("equal hashes for different salts")
	}
	if strings.Contains(h.String(), string(h)[10:]) {
		t.Error("String shows the hash")
	}
	if _, _, err := NewSecret(bytes.NewReader(nil)); !errors.Is(err, ErrUnavailable) {
		t.Errorf("no randomness: %v", err)
	}
}

// BenchmarkSecretVerify checks a client secret against its stored hash,
// as each client_secret_basic request does.
func BenchmarkSecretVerify(b *testing.B) {
	secret, h, err := NewSecret(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if !h.Verify(secret) {
			b.Fatal("verify")
		}
	}
}

func TestParseRegistrationAndKeyChange(t *testing.T) {
	jwk, _ := json.Marshal(sm2JWK(t, "k1"))
	ok := `{"client_name":"A","region":"310000","scopes":["qr:redeem"],"jwks":{"keys":[` + string(jwk) + `]}}`
	reg, err := ParseRegistration([]byte(ok))
	if err != nil || reg.JWKS == nil || len(reg.JWKS.Keys) != 1 {
		t.Fatalf("%+v %v", reg, err)
	}
	for name, doc := range map[string]string{
		"unknown field": `{"client_name":"A","colour":"red"}`,
		"repeated key":  `{"client_name":"A","client_name":"B"}`,
		"nested repeat": `{"client_name":"A","jwks":{"keys":[],"keys":[]}}`,
		// encoding/json matches names case-insensitively; these must not
		// pass for the documented members.
		"repeated in another case":      `{"client_name":"A","CLIENT_NAME":"B"}`,
		"nested repeat in another case": `{"client_name":"A","jwks":{"keys":[],"Keys":[]}}`,
		"member in another case":        `{"Client_Name":"A"}`,
		"key member in another case":    strings.Replace(ok, `"kty"`, `"KTY"`, 1),
		"key member repeated in case":   strings.Replace(ok, `"kty"`, `"KTY":"EC","kty"`, 1),
		"trailing":                      ok + " {}",
		"not an object":                 `[]`,
		"private key":                   strings.Replace(ok, `"kty"`, `"d":"AAAA","kty"`, 1),
		"Ed25519":                       `{"client_name":"A","jwks":{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"e"}]}}`,
		"invalid utf8":                  "{\"client_name\":\"\xff\"}",
		"too deep":                      strings.Repeat("[", 40) + strings.Repeat("]", 40),
		"oversized":                     `{"client_name":"` + strings.Repeat("a", 70<<10) + `"}`,
		"truncated":                     `{"client_name":"A"`,
		"wrong type":                    `{"scopes":"qr:redeem"}`,
		"empty document":                ``,
	} {
		if _, err := ParseRegistration([]byte(doc)); !errors.Is(err, ErrInvalidClientMetadata) {
			t.Errorf("%s: %v", name, err)
		}
	}
	ch, err := ParseKeyChange([]byte(`{"add":` + string(jwk) + `}`))
	if err != nil || ch.Add == nil || ch.Add.Kid != "k1" {
		t.Errorf("add: %+v %v", ch, err)
	}
	ch, err = ParseKeyChange([]byte(`{"retire":"k1"}`))
	if err != nil || ch.Retire != "k1" {
		t.Errorf("retire: %+v %v", ch, err)
	}
	// A member given as null is absent.
	ch, err = ParseKeyChange([]byte(`{"add":null,"retire":"k1"}`))
	if err != nil || ch.Retire != "k1" || ch.Add != nil {
		t.Errorf("retire with a null add: %+v %v", ch, err)
	}
	reg, err = ParseRegistration([]byte(`{"client_name":"A","region":"310000","scopes":["qr:redeem"],"jwks":null}`))
	if err != nil || reg.JWKS != nil {
		t.Errorf("registration with a null jwks: %+v %v", reg, err)
	}
	for _, doc := range []string{`{}`, `{"retire":"k1","add":` + string(jwk) + `}`, `{"add":{"kty":"EC"}}`, `{"add":[1]}`, `{"retire":"k1","retire":"k2"}`,
		`{"retire":"k1","RETIRE":"k2"}`, `{"Retire":"k1"}`, `{"ADD":` + string(jwk) + `}`, `{"add":` + strings.Replace(string(jwk), `"kid"`, `"KID"`, 1) + `}`} {
		if _, err := ParseKeyChange([]byte(doc)); !errors.Is(err, ErrInvalidClientMetadata) {
			t.Errorf("%s: %v", doc, err)
		}
	}
}

// TestSecretHashMalformed: a stored hash whose salt or MAC is not exactly
// its size in strict base64url is refused, never a panic.
func TestSecretHashMalformed(t *testing.T) {
	secret, h, err := NewSecret(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(string(h), "$")
	if len(parts) != 3 {
		t.Fatalf("hash has %d parts", len(parts))
	}
	scheme, salt, mac := parts[0], parts[1], parts[2]
	for name, bad := range map[string]string{
		"salt short":    scheme + "$" + salt[1:] + "$" + mac,
		"salt long":     scheme + "$" + salt + "A$" + mac,
		"salt longer":   scheme + "$" + salt + "AAAA$" + mac,
		"salt newline":  scheme + "$" + salt[:10] + "\n" + salt[10:] + "$" + mac,
		"salt padded":   scheme + "$" + salt + "==$" + mac,
		"mac short":     scheme + "$" + salt + "$" + mac[1:],
		"mac long":      scheme + "$" + salt + "$" + mac + "A",
		"mac longer":    scheme + "$" + salt + "$" + mac + "AAAA",
		"mac bad char":  scheme + "$" + salt + "$" + mac[:len(mac)-1] + "+",
		"no mac":        scheme + "$" + salt,
		"extra part":    string(h) + "$x",
		"empty":         "",
		"other scheme":  "hmac-sha256$" + salt + "$" + mac,
		"mac bad final": scheme + "$" + salt + "$" + mac[:len(mac)-1] + "B",
	} {
		if bad == string(h) {
			continue
		}
		if SecretHash(bad).Verify(secret) {
			t.Errorf("%s: verified", name)
		}
		if SecretHash(bad).check() == nil {
			t.Errorf("%s: check passed", name)
		}
	}
}

// TestClientErrorsQuoteSafely: registration errors reach the admin API's
// error bodies: a value they quote from the request is cut short and made
// safe as an OAuth error_description (SafeDescription), never echoed raw.
func TestClientErrorsQuoteSafely(t *testing.T) {
	now := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	const hostile = "x\"y\\z\x01密"
	// A kid is printable ASCII without spaces (as the contract takes
	// it), a quote and a backslash included; longer than a quote keeps.
	kid := `k"1\` + strings.Repeat("k", 60)
	base := func() Registration {
		return Registration{ID: "svc-a", Name: "A", Region: "310000", Scopes: []string{ScopeQRRedeem},
			JWKS: &gm.JWKS{Keys: []gm.JWK{sm2JWK(t, kid)}}}
	}
	ed, _ := gm.GenerateSigner(gm.AlgEdDSA, rand.Reader)
	edJWK, _ := gm.NewJWK(ed.Public(), kid)
	errs := map[string]error{}
	for name, edit := range map[string]func(*Registration){
		"region":       func(r *Registration) { r.Region = hostile },
		"scope":        func(r *Registration) { r.Scopes = []string{hostile} },
		"grant type":   func(r *Registration) { r.GrantTypes = []string{hostile + strings.Repeat("-", 50)} },
		"repeated kid": func(r *Registration) { r.JWKS.Keys = append(r.JWKS.Keys, r.JWKS.Keys[0]) },
		"use":          func(r *Registration) { r.JWKS.Keys[0].Use = "enc" },
		"bad key":      func(r *Registration) { r.JWKS.Keys[0].Y = r.JWKS.Keys[0].X },
		"algorithm":    func(r *Registration) { r.JWKS = &gm.JWKS{Keys: []gm.JWK{edJWK}} },
	} {
		r := base()
		edit(&r)
		_, _, errs[name] = NewClient(r, now, rand.Reader)
	}
	c, _, err := NewClient(base(), now, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	errs["add kid"] = c.AddKey(sm2JWK(t, kid))
	errs["retire kid"] = c.RetireKey(hostile)
	_, errs["registration JSON"] = ParseRegistration([]byte(`{"client_id": "svc-a", "x\"y\\z": 1}`))
	_, errs["key change JSON"] = ParseKeyChange([]byte(`{"retire": "k1", "x\"y\\z": 1}`))
	_, errs["key change"] = ParseKeyChange([]byte(`{}`))
	for name, err := range errs {
		var e *Error
		if !errors.As(err, &e) || !errors.Is(err, ErrInvalidClientMetadata) {
			t.Errorf("%s: %v, want an invalid_client_metadata *Error", name, err)
			continue
		}
		if d := e.Description; SafeDescription(d) != d || strings.Contains(d, kid[:20]) {
			t.Errorf("%s: description %q quotes its input unsafely", name, d)
		}
	}
}

// TestSectorOfOneRedirectURI: a registration without sector_identifier
// and with one redirect URI takes the URI's host as its sector (OpenID
// Connect Core §8.1), as a DNS host name in lower case: an
// internationalized name as its A-label (RFC 5891 §5; the name a browser
// resolves and the WHATWG URL parser gives as the host, so the U-label
// and the A-label spellings of one site are one sector), without a
// final dot. An IP literal is no DNS name: such a party's sector is its
// client ID. Before, each of these was refused for a sector_identifier
// the registration never sent, although the redirect URI is allowed.
func TestSectorOfOneRedirectURI(t *testing.T) {
	now := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	for uri, want := range map[string]string{
		"https://rp.example/cb":             "rp.example",
		"https://RP.Example/cb":             "rp.example",
		"https://rp.example./cb":            "rp.example",
		"https://银行.中国/cb":                  "xn--jn2a72x.xn--fiqs8s",
		"https://xn--jn2a72x.xn--fiqs8s/cb": "xn--jn2a72x.xn--fiqs8s",
		"https://Bücher.example:8443/login": "xn--bcher-kva.example",
		"http://127.0.0.1:8080/cb":          "127.0.0.1",
		"http://[::1]:8080/cb":              "",
	} {
		c, _, err := NewClient(Registration{ID: "web-a", Name: "Web", Region: "310000", Scopes: []string{ScopeQRRedeem},
			GrantTypes: []string{GrantAuthorizationCode}, RedirectURIs: []string{uri}, AuthMethod: AuthClientSecretBasic}, now, rand.Reader)
		if err != nil || c.SectorIdentifier != want {
			t.Errorf("%s: sector %q, %v; want %q", uri, c.SectorIdentifier, err, want)
		}
	}
}

// TestSectorOfOneRedirectURIKeptAsBefore: the IDNA conversion of the
// sector of a party's one redirect URI (OpenID Connect Core §8.1: the
// host) changes only what it was added for. A lower-case DNS host name
// the node took as the sector before keeps exactly that sector, so the
// party's pairwise subs stay those of every other party at its host: a
// label with hyphens in its third and fourth places (r3---sn-…, as a CDN
// names its hosts), which IDNA's lookup refuses, had become the client
// ID. A host that is no DNS name and no IPv6 literal (an underscore, a
// name IDNA refuses) is refused, as before, not given the client ID as
// its sector, which docs/relying-party.md says of an IPv6 literal only.
func TestSectorOfOneRedirectURIKeptAsBefore(t *testing.T) {
	now := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	reg := func(uri string) Registration {
		return Registration{ID: "web-a", Name: "Web", Region: "310000", Scopes: []string{ScopeQRRedeem},
			GrantTypes: []string{GrantAuthorizationCode}, RedirectURIs: []string{uri}, AuthMethod: AuthClientSecretBasic}
	}
	for uri, want := range map[string]string{
		"https://r3---sn-abc.example/cb": "r3---sn-abc.example",
		"https://AB--CD.example:8443/cb": "ab--cd.example",
		"https://xn--zz.example/cb":      "xn--zz.example",
		"http://localhost:8080/cb":       "localhost",
	} {
		c, _, err := NewClient(reg(uri), now, rand.Reader)
		if err != nil || c.SectorIdentifier != want {
			t.Errorf("%s: sector %q, %v; want %q", uri, c.SectorIdentifier, err, want)
		}
	}
	for _, uri := range []string{"https://my_app.example/cb", "https://a.b-.example/cb", "https://☃☃\u200d.example/cb"} {
		c, _, err := NewClient(reg(uri), now, rand.Reader)
		if !errors.Is(err, ErrInvalidClientMetadata) || !strings.Contains(err.Error(), "redirect_uris") {
			t.Errorf("%s: sector %q, %v; want ErrInvalidClientMetadata naming redirect_uris", uri, c.SectorIdentifier, err)
		}
	}
	if _, _, err := NewClient(reg("https:///cb"), now, rand.Reader); err == nil || !strings.Contains(err.Error(), "absolute URL with a host") {
		t.Errorf("a redirect URI without a host: %v; want it refused as no absolute URL with a host", err)
	}
}
