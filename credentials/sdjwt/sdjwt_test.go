package sdjwt

import (
	"crypto"
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/credentials/internal/jose"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/strictjson"
)

type rfcVectors struct {
	IssuerJWK   gm.JWK `json:"issuer_jwk"`
	IssuerTyp   string `json:"issuer_typ"`
	Disclosures []struct {
		Encoded, Digest, Salt, Name string
	} `json:"disclosures"`
	Issuance51   string         `json:"issuance_5_1"`
	Processed51  map[string]any `json:"processed_5_1"`
	Presentation string         `json:"presentation_5_2"`
	KB           struct {
		Aud, Nonce, SDHash string
		Iat                int64
	} `json:"kb_5_2"`
	PresentationA string                           `json:"presentation_a_1"`
	ProcessedA    map[string]any                   `json:"processed_a_1"`
	A1GivenName   struct{ Encoded, Digest string } `json:"a_1_given_name"`
}

func loadRFC(t testing.TB) rfcVectors {
	raw, err := os.ReadFile("testdata/rfc9901.json")
	if err != nil {
		t.Fatal(err)
	}
	var v rfcVectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	v.KB.SDHash = "0_Af-2B-EhLWX5ydh_w2xzwmO6iM66B_2QCEanI4fUY"
	return v
}

var allAlgs = []string{gm.AlgSM2, gm.AlgES256, gm.AlgEdDSA}

func rfcOptions(t testing.TB, v rfcVectors) VerifyOptions {
	pub, err := v.IssuerJWK.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	var typs []string
	if v.IssuerTyp != "" {
		typs = []string{v.IssuerTyp}
	}
	return VerifyOptions{
		Algorithms: []string{gm.AlgES256},
		Typs:       typs,
		Key:        func(map[string]any, map[string]any) (crypto.PublicKey, error) { return pub, nil },
		Now:        func() time.Time { return time.Unix(v.KB.Iat+60, 0) },
		Audience:   v.KB.Aud,
		Nonce:      v.KB.Nonce,
	}
}

// normalize round-trips through JSON so numbers compare equal.
func normalize(t testing.TB, v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	json.Unmarshal(b, &out)
	return out
}

func TestRFCDisclosureDigests(t *testing.T) {
	v := loadRFC(t)
	for _, d := range v.Disclosures {
		got, err := ParseDisclosure(d.Encoded)
		if err != nil {
			t.Fatal(err)
		}
		if got.Digest != d.Digest || Digest(d.Encoded) != d.Digest {
			t.Errorf("digest of %s = %s, RFC says %s", d.Name, got.Digest, d.Digest)
		}
		if got.Salt != d.Salt || got.Name != d.Name || got.Array != (d.Name == "") {
			t.Errorf("parsed %+v, RFC %+v", got, d)
		}
	}
	if Digest(v.A1GivenName.Encoded) != v.A1GivenName.Digest {
		t.Error("Appendix A.1 given_name digest")
	}
}

func TestRFCIssuance(t *testing.T) {
	v := loadRFC(t)
	got, err := Verify(v.Issuance51, rfcOptions(t, v))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(normalize(t, got.Claims), normalize(t, v.Processed51)) {
		t.Fatalf("processed payload\n got %v\nwant %v", normalize(t, got.Claims), normalize(t, v.Processed51))
	}
	if got.KeyBound {
		t.Error("no KB-JWT, yet key bound")
	}
	// Without its KB-JWT, refused before the issuer's key is asked for
	// (for a did:web issuer, a fetch).
	o := rfcOptions(t, v)
	o.RequireKeyBinding = true
	keys := 0
	key := o.Key
	o.Key = func(h, p map[string]any) (crypto.PublicKey, error) { keys++; return key(h, p) }
	if _, err := Verify(v.Issuance51, o); !errors.Is(err, ErrNoKeyBinding) || keys != 0 {
		t.Errorf("KB required: %v after %d key lookups, want none", err, keys)
	}
}

func TestRFCPresentationWithKeyBinding(t *testing.T) {
	v := loadRFC(t)
	o := rfcOptions(t, v)
	o.RequireKeyBinding = true
	got, err := Verify(v.Presentation, o)
	if err != nil {
		t.Fatal(err)
	}
	if !got.KeyBound || got.KBClaims["sd_hash"] != v.KB.SDHash {
		t.Fatalf("kb %v", got.KBClaims)
	}
	sd, _ := Split(v.Presentation)
	if sd.SDHash() != v.KB.SDHash {
		t.Fatalf("sd_hash %s, RFC %s", sd.SDHash(), v.KB.SDHash)
	}
	if got.Claims["given_name"] != "John" || got.Claims["email"] != nil {
		t.Fatalf("claims %v", got.Claims)
	}
	if n := got.Claims["nationalities"].([]any); len(n) != 1 || n[0] != "US" {
		t.Fatalf("nationalities %v", n)
	}

	bad := func(name string, mut func(*VerifyOptions), pres string, want error) {
		t.Helper()
		o := rfcOptions(t, v)
		o.RequireKeyBinding = true
		if mut != nil {
			mut(&o)
		}
		if _, err := Verify(pres, o); !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", name, err, want)
		}
	}
	bad("wrong nonce", func(o *VerifyOptions) { o.Nonce = "other" }, v.Presentation, ErrNonce)
	bad("wrong aud", func(o *VerifyOptions) { o.Audience = "https://evil.example" }, v.Presentation, ErrAudience)
	bad("stale iat", func(o *VerifyOptions) { o.Now = func() time.Time { return time.Unix(v.KB.Iat+3600, 0) } }, v.Presentation, ErrStale)
	bad("future iat", func(o *VerifyOptions) { o.Now = func() time.Time { return time.Unix(v.KB.Iat-3600, 0) } }, v.Presentation, ErrStale)
	// Dropping a disclosure after the KB-JWT was made breaks sd_hash.
	parts := strings.Split(v.Presentation, "~")
	dropped := strings.Join(append(append([]string{}, parts[:2]...), parts[3:]...), "~")
	bad("disclosure removed", nil, dropped, ErrSDHash)
	// A KB-JWT with its signature changed.
	bad("kb signature", nil, v.Presentation[:len(v.Presentation)-4]+"AAAA", ErrKeyBinding)
	bad("issuer key only ES256 but SM2 allowed only", func(o *VerifyOptions) { o.Algorithms = []string{gm.AlgSM2} }, v.Presentation, ErrAlgorithm)
}

// TestKeyBindingNotRequired: RFC 9901 §7.3, "Determine if Key Binding is
// to be checked according to the Verifier's policy for the use case at
// hand. This decision MUST NOT be based on whether or not a Key Binding
// JWT is provided by the Holder", and its KB-JWT checks apply only "If Key
// Binding is required". A verifier whose policy asks for no key binding
// checked a KB-JWT the holder sent anyway, and refused the presentation
// for it (for another verifier's nonce, a broken signature, with no
// nonce of its own to compare: always); now the KB-JWT is separated and
// left unchecked, and the result says no key binding (KeyBound false,
// KBClaims nil). Required, the same KB-JWT is checked as before.
func TestKeyBindingNotRequired(t *testing.T) {
	v := loadRFC(t)
	for name, c := range map[string]struct {
		pres string
		mut  func(*VerifyOptions)
		want error // when key binding is required
	}{
		"another verifier's nonce":  {v.Presentation, func(o *VerifyOptions) { o.Nonce = "other" }, ErrNonce},
		"no nonce or audience":      {v.Presentation, func(o *VerifyOptions) { o.Nonce, o.Audience = "", "" }, ErrNonce},
		"a broken KB-JWT signature": {v.Presentation[:len(v.Presentation)-4] + "AAAA", nil, ErrKeyBinding},
	} {
		o := rfcOptions(t, v)
		if c.mut != nil {
			c.mut(&o)
		}
		got, err := Verify(c.pres, o)
		if err != nil || got.KeyBound || got.KBClaims != nil || got.Claims["given_name"] != "John" {
			t.Errorf("%s, key binding not required: %v (key bound %v, %v), want verified without key binding", name, err, got != nil && got.KeyBound, got)
		}
		o.RequireKeyBinding = true
		if _, err := Verify(c.pres, o); !errors.Is(err, c.want) {
			t.Errorf("%s, key binding required: %v, want %v", name, err, c.want)
		}
	}
}

func TestRFCAppendixA1(t *testing.T) {
	v := loadRFC(t)
	got, err := Verify(v.PresentationA, rfcOptions(t, v))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(normalize(t, got.Claims), normalize(t, v.ProcessedA)) {
		t.Fatalf("got %v want %v", got.Claims, v.ProcessedA)
	}
}

func TestRFCNegative(t *testing.T) {
	v := loadRFC(t)
	o := rfcOptions(t, v)
	// A disclosure from another SD-JWT matches no digest of this one.
	if _, err := Verify(v.PresentationA+v.Disclosures[2].Encoded+"~", o); !errors.Is(err, ErrUnmatched) {
		t.Errorf("unmatched disclosure: %v", err)
	}
	// The same disclosure twice.
	if _, err := Verify(v.Issuance51+v.Disclosures[0].Encoded+"~", o); !errors.Is(err, ErrDuplicateDigest) {
		t.Errorf("repeated disclosure: %v", err)
	}
	// Tampered issuer payload.
	jwtPart := strings.Split(v.Issuance51, "~")[0]
	segs := strings.Split(jwtPart, ".")
	var payload map[string]any
	raw, _ := b64.DecodeString(segs[1])
	json.Unmarshal(raw, &payload)
	payload["sub"] = "user_43"
	tb, _ := json.Marshal(payload)
	tampered := segs[0] + "." + b64.EncodeToString(tb) + "." + segs[2] + "~"
	if _, err := Verify(tampered, o); !errors.Is(err, ErrSignature) {
		t.Errorf("tampered payload: %v", err)
	}
	// Wrong typ.
	o2 := o
	o2.Typs = []string{"dc+sd-jwt"}
	if _, err := Verify(v.Issuance51, o2); !errors.Is(err, ErrType) {
		t.Errorf("wrong typ: %v", err)
	}
	// alg none.
	none := b64.EncodeToString([]byte(`{"alg":"none","typ":"example+sd-jwt"}`)) + "." + segs[1] + ".~"
	if _, err := Verify(none, o); !errors.Is(err, ErrAlgorithm) {
		t.Errorf("alg none: %v", err)
	}
	// Malformed serializations.
	for _, s := range []string{"", "abc", "~", jwtPart + "~~", jwtPart + "~!!~"} {
		if _, err := Verify(s, o); err == nil {
			t.Errorf("accepted %q", s)
		}
	}
}

// signed builds an SD-JWT over payload with an SM2 key.
func signed(t testing.TB, key crypto.Signer, payload map[string]any, ds []*Disclosure) string {
	tok, err := jose.Sign(payload, map[string]any{"typ": "dc+sd-jwt"}, key)
	if err != nil {
		t.Fatal(err)
	}
	return Serialize(tok, ds)
}

func TestStrictProcessing(t *testing.T) {
	key, _ := gm.GenerateKey(rand.Reader)
	o := VerifyOptions{Algorithms: allAlgs, Key: func(map[string]any, map[string]any) (crypto.PublicKey, error) { return key.Public(), nil }}
	d1, _ := encodeDisclosure([]any{"salt1", "name", "x"})
	reservedSD := b64.EncodeToString([]byte(`["salt2","_sd",[]]`))
	reservedDots := b64.EncodeToString([]byte(`["salt3","...","x"]`))
	existing, _ := encodeDisclosure([]any{"salt4", "iss", "https://evil.example"})
	arrayD, _ := encodeDisclosure([]any{"salt5", "US"})
	nestedDots, _ := encodeDisclosure([]any{"salt6", "address", map[string]any{"...": nil, "city": "Shanghai"}})
	nestedAlg, _ := encodeDisclosure([]any{"salt7", "address", map[string]any{"_sd_alg": "sha-256", "city": "Shanghai"}})
	cases := []struct {
		name    string
		payload map[string]any
		ds      []*Disclosure
		raw     []string
		want    error
	}{
		{"duplicate digest in _sd", map[string]any{"_sd": []any{d1.Digest, d1.Digest}}, []*Disclosure{d1}, nil, ErrDuplicateDigest},
		{"digest in _sd and in array", map[string]any{"_sd": []any{arrayD.Digest}, "a": []any{map[string]any{"...": arrayD.Digest}}}, nil, nil, ErrDuplicateDigest},
		{"reserved _sd", map[string]any{"_sd": []any{"x"}}, nil, []string{reservedSD}, ErrReservedName},
		{"reserved ...", map[string]any{"_sd": []any{"x"}}, nil, []string{reservedDots}, ErrReservedName},
		{"overwrites a claim", map[string]any{"iss": "https://issuer.example", "_sd": []any{existing.Digest}}, []*Disclosure{existing}, nil, ErrReservedName},
		{"array disclosure in _sd", map[string]any{"_sd": []any{arrayD.Digest}}, []*Disclosure{arrayD}, nil, ErrDisclosure},
		{"object disclosure in array", map[string]any{"a": []any{map[string]any{"...": d1.Digest}}}, []*Disclosure{d1}, nil, ErrDisclosure},
		{"sha-512", map[string]any{"_sd_alg": "sha-512", "_sd": []any{d1.Digest}}, []*Disclosure{d1}, nil, ErrHashAlgorithm},
		{"_sd not an array", map[string]any{"_sd": "x"}, nil, nil, ErrMalformed},
		{"digest not a string", map[string]any{"_sd": []any{1}}, nil, nil, ErrMalformed},
		{"empty digest", map[string]any{"_sd": []any{""}}, nil, nil, ErrMalformed},
		{"... outside an array", map[string]any{"a": map[string]any{"...": arrayD.Digest}}, nil, nil, ErrMalformed},
		{"... with siblings", map[string]any{"a": []any{map[string]any{"...": arrayD.Digest, "b": 1}}}, []*Disclosure{arrayD}, nil, ErrMalformed},
		// RFC 9901 §4.1: the payload "MUST NOT contain the claims _sd or
		// ... except for the purpose of conveying digests": a "..." member
		// of an object is refused whatever its value (a null one was
		// dropped from the claims).
		{"... null outside an array", map[string]any{"a": map[string]any{"...": nil, "b": 1}}, nil, nil, ErrMalformed},
		{"... null at the top", map[string]any{"...": nil}, nil, nil, ErrMalformed},
		{"... null in a disclosed object", map[string]any{"_sd": []any{nestedDots.Digest}}, []*Disclosure{nestedDots}, nil, ErrMalformed},
		// RFC 9901 §4.1.1: _sd_alg "MUST appear at the top level of the
		// SD-JWT payload. It MUST NOT be used in any object nested within
		// the payload." (it was kept as a claim of the nested object).
		{"nested _sd_alg", map[string]any{"a": map[string]any{"_sd_alg": "sha-256", "b": 1}}, nil, nil, ErrMalformed},
		{"_sd_alg in an array element", map[string]any{"a": []any{map[string]any{"_sd_alg": "sha-256"}}}, nil, nil, ErrMalformed},
		{"_sd_alg in a disclosed object", map[string]any{"_sd": []any{nestedAlg.Digest}}, []*Disclosure{nestedAlg}, nil, ErrMalformed},
		{"unmatched", map[string]any{"_sd": []any{"AAAA"}}, []*Disclosure{d1}, nil, ErrUnmatched},
	}
	for _, c := range cases {
		s := signed(t, key, c.payload, c.ds)
		for _, r := range c.raw {
			s += r + "~"
		}
		if _, err := Verify(s, o); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// Duplicate JSON keys in a disclosure.
	dupKey := b64.EncodeToString([]byte(`["s","n",{"a":1,"a":2}]`))
	if _, err := ParseDisclosure(dupKey); !errors.Is(err, ErrDisclosure) {
		t.Errorf("duplicate key in disclosure: %v", err)
	}
	for _, bad := range []string{`["s"]`, `[1,"n","v"]`, `["","n","v"]`, `["s",1,"v"]`, `{"a":1}`, `["s","n","v","w"]`} {
		if _, err := ParseDisclosure(b64.EncodeToString([]byte(bad))); err == nil {
			t.Errorf("accepted disclosure %s", bad)
		}
	}
}

// TestRoundTrip issues with SM2, conceals nested, array and recursive
// claims with decoys, presents a subset with an Ed25519 holder key and
// verifies.
func TestRoundTrip(t *testing.T) {
	issuerKey, _ := gm.GenerateKey(rand.Reader)
	holder, _ := gm.GenerateSigner(gm.AlgEdDSA, rand.Reader)
	hj, _ := gm.NewJWK(holder.Public(), "")
	hjm := map[string]any{}
	b, _ := json.Marshal(hj)
	json.Unmarshal(b, &hjm)
	claims := map[string]any{
		"iss": "https://issuer.example", "vct": "urn:example:id",
		"given_name": "Li", "birthdate": "1990-05-01", "age_over_18": true,
		"address":       map[string]any{"region": "310000", "street": "secret"},
		"nationalities": []any{"CN", "HK"},
		"cnf":           map[string]any{"jwk": hjm},
	}
	is := &Issuer{Rand: rand.Reader}
	payload, ds, err := is.Conceal(claims, &Frame{
		SD:     []string{"given_name", "birthdate", "age_over_18", "address"},
		Decoys: 3,
		Nested: map[string]*Frame{
			"address":       {SD: []string{"street"}, Decoys: 1},
			"nationalities": {Elements: []int{0, 1}, Decoys: 1},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 7 {
		t.Fatalf("%d disclosures", len(ds))
	}
	if len(payload["_sd"].([]any)) != 4+3 {
		t.Fatalf("_sd %v", payload["_sd"])
	}
	if _, ok := payload["given_name"]; ok {
		t.Fatal("concealed claim left in clear")
	}
	issued := signed(t, issuerKey, payload, ds)
	sd, err := Split(issued)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	pres, err := sd.Present(func(d *Disclosure) bool {
		return d.Name == "age_over_18" || d.Name == "address" || (d.Array && d.Value == "CN")
	}, &KeyBinding{Signer: holder, Audience: "https://rp.example", Nonce: "n-123", IssuedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	o := VerifyOptions{
		Algorithms: allAlgs, Typs: []string{"dc+sd-jwt"}, RequireKeyBinding: true,
		Key:      func(map[string]any, map[string]any) (crypto.PublicKey, error) { return issuerKey.Public(), nil },
		Now:      func() time.Time { return now.Add(10 * time.Second) },
		Audience: "https://rp.example", Nonce: "n-123",
	}
	got, err := Verify(pres, o)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"iss": "https://issuer.example", "vct": "urn:example:id", "age_over_18": true,
		"address": map[string]any{"region": "310000"}, "nationalities": []any{"CN"}, "cnf": map[string]any{"jwk": hjm}}
	if !reflect.DeepEqual(normalize(t, got.Claims), normalize(t, want)) {
		t.Fatalf("got %v\nwant %v", got.Claims, want)
	}
	// The holder's KB-JWT must be signed by the cnf key.
	other, _ := gm.GenerateSigner(gm.AlgEdDSA, rand.Reader)
	forged, _ := sd.Present(func(*Disclosure) bool { return false }, &KeyBinding{Signer: other, Audience: "https://rp.example", Nonce: "n-123", IssuedAt: now})
	if _, err := Verify(forged, o); !errors.Is(err, ErrKeyBinding) {
		t.Fatalf("KB-JWT by another key: %v", err)
	}
}

// TestKeyBindingJWKExactNames: cnf.jwk is read with exact member names.
// encoding/json would read {"KTY":...,"CRV":...} as the key; a verifier
// that follows RFC 7517 sees a JWK without kty, so the SD-JWT is refused.
func TestKeyBindingJWKExactNames(t *testing.T) {
	issuerKey, _ := gm.GenerateKey(rand.Reader)
	holder, _ := gm.GenerateSigner(gm.AlgEdDSA, rand.Reader)
	hj, _ := gm.NewJWK(holder.Public(), "")
	now := time.Unix(1_800_000_000, 0)
	present := func(jwk map[string]any) error {
		claims := map[string]any{"iss": "https://issuer.example", "vct": "urn:example:id", "age_over_18": true, "cnf": map[string]any{"jwk": jwk}}
		payload, ds, err := (&Issuer{Rand: rand.Reader}).Conceal(claims, &Frame{SD: []string{"age_over_18"}})
		if err != nil {
			t.Fatal(err)
		}
		sd, err := Split(signed(t, issuerKey, payload, ds))
		if err != nil {
			t.Fatal(err)
		}
		pres, err := sd.Present(func(*Disclosure) bool { return true }, &KeyBinding{Signer: holder, Audience: "https://rp.example", Nonce: "n-1", IssuedAt: now})
		if err != nil {
			t.Fatal(err)
		}
		_, err = Verify(pres, VerifyOptions{
			Algorithms: allAlgs, Typs: []string{"dc+sd-jwt"}, RequireKeyBinding: true,
			Key:      func(map[string]any, map[string]any) (crypto.PublicKey, error) { return issuerKey.Public(), nil },
			Now:      func() time.Time { return now.Add(10 * time.Second) },
			Audience: "https://rp.example", Nonce: "n-1",
		})
		return err
	}
	if err := present(map[string]any{"kty": hj.Kty, "crv": hj.Crv, "x": hj.X}); err != nil {
		t.Fatalf("exact names: %v", err)
	}
	if err := present(map[string]any{"KTY": hj.Kty, "Crv": hj.Crv, "x": hj.X}); !errors.Is(err, ErrKeyBinding) {
		t.Fatalf("names in another case: %v", err)
	}
}

func FuzzSplitVerify(f *testing.F) {
	v := loadRFC(f)
	f.Add(v.Issuance51)
	f.Add(v.Presentation)
	f.Add(v.PresentationA)
	o := rfcOptions(f, v)
	f.Fuzz(func(t *testing.T, s string) {
		Verify(s, o)
	})
}

// TestConcealDisclosuresParse: every disclosure Conceal makes is what
// ParseDisclosure reads from its encoding (salt, name, array flag,
// digest, value as JSON), and a value nested deeper than holders accept
// is refused at issuance.
func TestConcealDisclosuresParse(t *testing.T) {
	claims := map[string]any{"given_name": "李四", "age": 42, "nationalities": []any{"CN", "FR"},
		"address": map[string]any{"locality": "上海", "postal_code": "200000"}}
	frame := &Frame{SD: []string{"given_name", "age", "address"}, Nested: map[string]*Frame{
		"nationalities": {Elements: []int{0, 1}}, "address": {SD: []string{"locality"}}}}
	_, ds, err := (&Issuer{Rand: rand.Reader}).Conceal(claims, frame)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 6 {
		t.Fatalf("%d disclosures, want 6", len(ds))
	}
	for _, d := range ds {
		p, err := ParseDisclosure(d.Encoded)
		if err != nil {
			t.Fatalf("%s: %v", d.Encoded, err)
		}
		want, _ := json.Marshal(p.Value)
		got, _ := json.Marshal(d.Value)
		if p.Salt != d.Salt || p.Name != d.Name || p.Array != d.Array || p.Digest != d.Digest || string(got) != string(want) {
			t.Errorf("Conceal made %+v, the encoding reads %+v", d, p)
		}
	}
	var deep any = "x"
	for range 70 {
		deep = []any{deep}
	}
	if _, _, err := (&Issuer{Rand: rand.Reader}).Conceal(map[string]any{"deep": deep}, &Frame{SD: []string{"deep"}}); !errors.Is(err, ErrDisclosure) {
		t.Fatalf("a value nested 70 deep: %v, want ErrDisclosure", err)
	}
}

// TestProcessingBounds: an SD-JWT with more than maxDisclosures
// disclosures is refused before any is decoded, and recursive disclosures
// nested past strictjson.MaxDepth are refused, though each is shallow.
func TestProcessingBounds(t *testing.T) {
	d, _ := encodeDisclosure([]any{"salt", "n", "v"})
	if _, err := Split("a.b.c~" + strings.Repeat(d.Encoded+"~", maxDisclosures+1)); !errors.Is(err, ErrMalformed) {
		t.Errorf("%d disclosures: %v", maxDisclosures+1, err)
	}
	key, _ := gm.GenerateKey(rand.Reader)
	o := VerifyOptions{Algorithms: allAlgs, Key: func(map[string]any, map[string]any) (crypto.PublicKey, error) { return key.Public(), nil }}
	var ds []*Disclosure
	value := map[string]any{}
	for i := range strictjson.MaxDepth + 2 {
		d, _ := encodeDisclosure([]any{"salt" + strconv.Itoa(i), "n", value})
		ds = append(ds, d)
		value = map[string]any{"_sd": []any{d.Digest}}
	}
	if _, err := Verify(signed(t, key, value, ds), o); !errors.Is(err, ErrMalformed) {
		t.Errorf("disclosures nested %d deep: %v", len(ds), err)
	}
}
