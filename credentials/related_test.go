package credentials_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	. "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/contexts"
)

// Known answers, computed outside Go:
//
//	openssl dgst -sha384 -binary credentials/contexts/<file> | base64
//	echo -n abc | openssl dgst -sm3     (GB/T 32905 example: 66c7f0f4…8f4ba8e0)
//
// and the multibase forms with Python (hashlib; multihash prefix
// varint(code) varint(size); base64url without padding, base58btc).
const (
	examplesURL = "https://www.w3.org/ns/credentials/examples/v2"
	// VC Data Model 2.0 Example 25 prints this digest with a stray leading
	// "M" (65 characters, not base64 of 48 bytes); without it, it is the
	// SHA-384 of the bundled examples context.
	examplesSRI384       = "sha384-zNNbQTWCSUSi0bbz7dbua+RcENv7C6FvlmYJ1Y+I727HsPOHdzwELMYO9Mz68M26"
	examplesSRI384AsSpec = "sha384-MzNNbQTWCSUSi0bbz7dbua+RcENv7C6FvlmYJ1Y+I727HsPOHdzwELMYO9Mz68M26"
	examplesSRI256       = "sha256-Vzk/vGnW77m5tdyctrmICwlENgq/4ur0WcnljPInnXw="
	examplesSRI512       = "sha512-jVYwl+qxI5Zr1/uIolZtGfs2kRLav96brf1VPAThAb6yMJGPWPW5J4gfezLRYEX4rA9gG0V07rCVIb+/nlOWaQ=="
	// VC Data Model 2.0 Example 26, as printed: sha2-256, base64url.
	examplesMB256  = "uEiBXOT-8adbvubm13Jy2uYgLCUQ2Cr_i6vRZyeWM8iedfA"
	examplesMB256Z = "zQmUD8oxr4TGr1GutuzFfxgvjG7crAS8k9JGoYuY9YRJxMq"
	examplesMB384  = "uIDDM01tBNYJJRKLRtvPt1u5r5FwQ2_sLoW-WZgnVj4jvbsew84d3PAQsxg70zPrwzbo"
	examplesMB512Z = "z8VvcRsUbVLTNEHkjg4WgdAkE2tQzRDqY3EmgkjmVa1RHGj3q8Y83iYwFrNTVBHhEUSkNiMoxJPPxVFfPLgniBPftgQ"
	examplesMB3384 = "uFTBJMK39NW_L5Afo8IDwgMfu3DR2wGyCR7ASX1WMIPC9QJU_PkzXR1SGswb1_ZDzYwA"

	// The bundled https://www.w3.org/ns/credentials/v2.
	v2SRI384 = "sha384-EaEHDYHVh+ght5pBe25QBPlGw66epa/aOsW+B6vzVmVWUaCELuDXzfkVLDOl3tRM"
	v2MB256  = "uEiCkvtjaeiCzi92U3Kg9zkE16z1ttpkNM06G32sauukkwA"
	// VC Data Model 2.0 Examples 25 and 26 for the v2 context (without
	// the stray "M"): digests of the context as W3C serves it, which is
	// not byte-identical to the bundled copy (contexts/README.md).
	v2SpecSRI384 = "sha384-l/HrjlBCNWyAX91hr6LFV2Y3heB5Tcr6IeE4/Tje8YyzYBM8IhqjHWiWpr8+ZbYU"
	v2SpecMB256  = "uEiBZlVztZpfWHgPyslVv6-UwirFoQoRvW1htfx963sknNA"

	// SM3("abc") as multihash sm3-256 (code 0x534d, varint cd a6 01).
	abcSM3U = "uzaYBIGbH8PRi7u3Z0fLUa9wQ5OJBZ8SHXPL3oil9oCuPS6jg"
	abcSM3Z = "z2Za1oJqomsEUhpjdW4yGXTNsAnW3ohLYEGmeT5qcUpgHUcZYNs"
)

func bundled(t testing.TB, url string) []byte {
	t.Helper()
	b, ok := contexts.Document(url)
	if !ok {
		t.Fatalf("%s is not bundled", url)
	}
	return b
}

// relatedCred is a credential document with one related resource.
func relatedCred(id string, fields map[string]any) map[string]any {
	r := map[string]any{"id": id}
	for k, v := range fields {
		r[k] = v
	}
	return map[string]any{"relatedResource": []any{r}}
}

func verifyOne(t *testing.T, id string, fields map[string]any, content []byte) (RelatedResult, error) {
	t.Helper()
	res, err := VerifyRelated(context.Background(), relatedCred(id, fields), RelatedOptions{Content: map[string][]byte{id: content}})
	if len(res) != 1 {
		t.Fatalf("%d results, err %v", len(res), err)
	}
	return res[0], err
}

func TestRelatedKnownAnswers(t *testing.T) {
	examples := bundled(t, examplesURL)
	v2 := bundled(t, ContextV2)
	for _, tc := range []struct {
		name    string
		fields  map[string]any
		content []byte
	}{
		{"sri sha384", map[string]any{"digestSRI": examplesSRI384}, examples},
		{"sri sha256", map[string]any{"digestSRI": examplesSRI256}, examples},
		{"sri sha512", map[string]any{"digestSRI": examplesSRI512}, examples},
		{"sri base64url", map[string]any{"digestSRI": strings.NewReplacer("+", "-", "/", "_").Replace(strings.TrimRight(examplesSRI512, "="))}, examples},
		{"sri with options", map[string]any{"digestSRI": examplesSRI384 + "?ct=application/ld+json"}, examples},
		{"sri algorithm case", map[string]any{"digestSRI": "SHA384" + strings.TrimPrefix(examplesSRI384, "sha384")}, examples},
		{"spec example 26", map[string]any{"digestMultibase": examplesMB256}, examples},
		{"base58btc sha2-256", map[string]any{"digestMultibase": examplesMB256Z}, examples},
		{"sha2-384", map[string]any{"digestMultibase": examplesMB384}, examples},
		{"base58btc sha2-512", map[string]any{"digestMultibase": examplesMB512Z}, examples},
		{"sha3-384", map[string]any{"digestMultibase": examplesMB3384}, examples},
		{"sm3-256 base64url", map[string]any{"digestMultibase": abcSM3U}, []byte("abc")},
		{"sm3-256 base58btc", map[string]any{"digestMultibase": abcSM3Z}, []byte("abc")},
		{"multibase list", map[string]any{"digestMultibase": []any{examplesMB256, examplesMB512Z}}, examples},
		{"both", map[string]any{"digestSRI": examplesSRI384, "digestMultibase": examplesMB256}, examples},
		{"bundled v2", map[string]any{"digestSRI": v2SRI384, "digestMultibase": v2MB256}, v2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := verifyOne(t, examplesURL, tc.fields, tc.content)
			if err != nil || r.Outcome != RelatedVerified || r.Err != nil || r.Fetched {
				t.Fatalf("got %+v, %v", r, err)
			}
		})
	}
}

// The helpers that issuers use produce the known answers.
func TestRelatedDigestHelpers(t *testing.T) {
	examples := bundled(t, examplesURL)
	if s, err := SRIDigest("sha384", examples); err != nil || s != examplesSRI384 {
		t.Errorf("SRIDigest = %q, %v", s, err)
	}
	if s, err := MultibaseDigest(MultihashSHA2_256, examples); err != nil || s != examplesMB256 {
		t.Errorf("MultibaseDigest = %q, %v", s, err)
	}
	if s, err := MultibaseDigest(MultihashSM3_256, []byte("abc")); err != nil || s != abcSM3U {
		t.Errorf("MultibaseDigest(sm3) = %q, %v", s, err)
	}
	if _, err := SRIDigest("md5", examples); !errors.Is(err, ErrDigestUnsupported) {
		t.Errorf("SRIDigest(md5): %v", err)
	}
}

func TestRelatedSpecExamples(t *testing.T) {
	// Example 25 as printed is not a digest at all.
	r, err := verifyOne(t, examplesURL, map[string]any{"digestSRI": examplesSRI384AsSpec}, bundled(t, examplesURL))
	if r.Outcome != RelatedInvalid || !errors.Is(err, ErrDigestMalformed) {
		t.Errorf("spec example 25 as printed: %+v, %v", r, err)
	}
	// The spec's digests of the v2 context are of a copy that differs
	// from the bundled one: a mismatch, which is what a verifier must
	// report.
	for _, f := range []map[string]any{{"digestSRI": v2SpecSRI384}, {"digestMultibase": v2SpecMB256}} {
		r, err := verifyOne(t, ContextV2, f, bundled(t, ContextV2))
		if r.Outcome != RelatedMismatch || !errors.Is(err, ErrRelatedMismatch) {
			t.Errorf("%v: %+v, %v", f, r, err)
		}
	}
}

func TestRelatedMismatch(t *testing.T) {
	examples := bundled(t, examplesURL)
	tampered := append([]byte(nil), examples...)
	tampered[len(tampered)-2] ^= 1
	for name, f := range map[string]map[string]any{
		"sri":                     {"digestSRI": examplesSRI384},
		"multibase":               {"digestMultibase": examplesMB256},
		"sm3":                     {"digestMultibase": abcSM3U},
		"one of a multibase list": {"digestMultibase": []any{examplesMB256, v2MB256}},
	} {
		content := tampered
		if name == "one of a multibase list" {
			content = examples
		}
		r, err := verifyOne(t, examplesURL, f, content)
		if r.Outcome != RelatedMismatch || !errors.Is(r.Err, ErrRelatedMismatch) || !errors.Is(err, ErrRelatedMismatch) {
			t.Errorf("%s: %+v, %v", name, r, err)
		}
	}
	// Both digests: each must match.
	r, err := verifyOne(t, examplesURL, map[string]any{"digestSRI": examplesSRI384, "digestMultibase": v2MB256}, examples)
	if r.Outcome != RelatedMismatch || !errors.Is(err, ErrRelatedMismatch) {
		t.Errorf("sri right, multibase wrong: %+v, %v", r, err)
	}
	r, err = verifyOne(t, examplesURL, map[string]any{"digestSRI": v2SRI384, "digestMultibase": examplesMB256}, examples)
	if r.Outcome != RelatedMismatch || !errors.Is(err, ErrRelatedMismatch) {
		t.Errorf("sri wrong, multibase right: %+v, %v", r, err)
	}
}

// SRI: only the strongest algorithm present counts; any of its digests
// may match; unknown algorithms are ignored.
func TestRelatedStrongestAlgorithm(t *testing.T) {
	examples := bundled(t, examplesURL)
	wrong256, _ := SRIDigest("sha256", []byte("other"))
	wrong384, _ := SRIDigest("sha384", []byte("other"))
	wrong512, _ := SRIDigest("sha512", []byte("other"))
	for _, tc := range []struct {
		sri  string
		want RelatedOutcome
	}{
		{wrong256 + " " + examplesSRI384, RelatedVerified},  // sha256 does not count
		{examplesSRI256 + " " + wrong384, RelatedMismatch},  // sha384 is what counts
		{examplesSRI384 + " " + wrong512, RelatedMismatch},  // sha512 is stronger
		{wrong384 + "\t" + examplesSRI384, RelatedVerified}, // any sha384 may match
		{"md5-AAAA " + examplesSRI384, RelatedVerified},     // unknown: ignored
		{"sha1-deadbeef  " + examplesSRI256 + "\n", RelatedVerified},
		{"sha384 " + examplesSRI256, RelatedVerified}, // not a hash-expression: ignored
		{"md5-AAAA sha1-AAAA", RelatedInvalid},        // nothing usable
		{"sha384-AAAA " + examplesSRI512, RelatedInvalid},
	} {
		r, err := verifyOne(t, examplesURL, map[string]any{"digestSRI": tc.sri}, examples)
		if r.Outcome != tc.want {
			t.Errorf("%q: %+v, %v", tc.sri, r, err)
		}
		if tc.want == RelatedInvalid && !errors.Is(err, ErrDigestUnsupported) && !errors.Is(err, ErrDigestMalformed) {
			t.Errorf("%q: %v", tc.sri, err)
		}
	}
	if _, err := ParseSRI("md5-AAAA sha1-AAAA"); !errors.Is(err, ErrDigestUnsupported) || !errors.Is(err, ErrUnsupported) {
		t.Errorf("no usable algorithm: %v", err)
	}
	if _, err := ParseSRI("sha384-AAAA"); !errors.Is(err, ErrDigestMalformed) {
		t.Errorf("short digest: %v", err)
	}
}

func TestParseMultibaseDigest(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     error
	}{
		{"base64 multibase (m) is not taken", "m" + strings.TrimPrefix(examplesMB256, "u"), ErrDigestMalformed},
		{"no prefix", "EiBXOT-8adbvubm13Jy2uYgLCUQ2Cr_i6vRZyeWM8iedfA", ErrDigestMalformed},
		{"bad base64url", "uEiBXOT+8adbvubm13Jy2uYgLCUQ2Cr/i6vRZyeWM8iedfA", ErrDigestMalformed},
		{"padded base64url", examplesMB256 + "=", ErrDigestMalformed},
		{"bad base58", "z0OIl", ErrDigestMalformed},
		{"truncated", examplesMB256[:20], ErrDigestMalformed},
		{"empty multihash", "u", ErrDigestMalformed},
		{"non-minimal varint", "u" + "kgA", ErrDigestMalformed},                   // 0x92 0x00 ...
		{"sha2-256 of 16 bytes", "uEhAAAAAAAAAAAAAAAAAAAAAA", ErrDigestMalformed}, // 0x12 0x10 + 16 bytes
		{"unknown code (md5, 0xd5)", "u1QEQAAAAAAAAAAAAAAAAAAAAAA", ErrDigestUnsupported},
		{"identity multihash", "uAAA", ErrDigestUnsupported},
	} {
		_, err := ParseMultibaseDigest(tc.in)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// An unknown code next to a usable digest is ignored; alone it leaves
	// nothing to check.
	examples := bundled(t, examplesURL)
	r, err := verifyOne(t, examplesURL, map[string]any{"digestMultibase": []any{"u1QEQAAAAAAAAAAAAAAAAAAAAAA", examplesMB256}}, examples)
	if r.Outcome != RelatedVerified || err != nil {
		t.Errorf("unknown + usable: %+v, %v", r, err)
	}
	r, err = verifyOne(t, examplesURL, map[string]any{"digestMultibase": "u1QEQAAAAAAAAAAAAAAAAAAAAAA"}, examples)
	if r.Outcome != RelatedInvalid || !errors.Is(err, ErrDigestUnsupported) {
		t.Errorf("unknown alone: %+v, %v", r, err)
	}
}

func TestRelatedUnavailable(t *testing.T) {
	ctx := context.Background()
	cred := map[string]any{"relatedResource": []any{
		map[string]any{"id": examplesURL, "digestSRI": examplesSRI384},
		map[string]any{"id": "https://resources.example/logo.png", "digestMultibase": examplesMB256, "mediaType": "image/png"},
	}}
	given := map[string][]byte{examplesURL: bundled(t, examplesURL), "https://unlisted.example/": []byte("x")}
	res, err := VerifyRelated(ctx, cred, RelatedOptions{Content: given})
	if err != nil || len(res) != 2 || res[0].Outcome != RelatedVerified || res[1].Outcome != RelatedUnavailable ||
		!errors.Is(res[1].Err, ErrRelatedUnavailable) || res[1].MediaType != "image/png" {
		t.Fatalf("got %+v, %v", res, err)
	}
	if _, err := VerifyRelated(ctx, cred, RelatedOptions{Content: given, RequireAll: true}); !errors.Is(err, ErrRelatedUnavailable) {
		t.Errorf("RequireAll: %v", err)
	}
	// Content over MaxSize is not hashed.
	res, err = VerifyRelated(ctx, cred, RelatedOptions{Content: given, MaxSize: 10})
	if err != nil || res[0].Outcome != RelatedUnavailable {
		t.Errorf("oversized: %+v, %v", res, err)
	}
	// No relatedResource: nothing to do.
	if res, err := VerifyRelated(ctx, map[string]any{"id": "urn:x"}, RelatedOptions{}); err != nil || res != nil {
		t.Errorf("none: %+v, %v", res, err)
	}
	// The data model is checked again.
	bad := map[string]any{"relatedResource": []any{map[string]any{"id": examplesURL}}}
	if _, err := VerifyRelated(ctx, bad, RelatedOptions{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("no digest: %v", err)
	}
	bad = map[string]any{"relatedResource": []any{map[string]any{"id": examplesURL, "digestSRI": examplesSRI384, "mediaType": "not a type"}}}
	if _, err := VerifyRelated(ctx, bad, RelatedOptions{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad mediaType: %v", err)
	}
}

func TestRelatedFetch(t *testing.T) {
	ctx := context.Background()
	examples := bundled(t, examplesURL)
	var hits atomic.Int32
	var accept atomic.Value
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		accept.Store(r.Header.Get("Accept"))
		switch r.URL.Path {
		case "/ctx":
			w.Header().Set("Content-Type", "application/ld+json; charset=utf-8")
			w.Write(examples)
		case "/wrong-type":
			w.Header().Set("Content-Type", "text/html")
			w.Write(examples)
		case "/redirect":
			http.Redirect(w, r, "/ctx", http.StatusFound)
		case "/big":
			w.Write(make([]byte, 4096))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	cred := func(path string) map[string]any {
		return relatedCred(srv.URL+path, map[string]any{"digestSRI": examplesSRI384, "mediaType": "application/ld+json"})
	}
	loop := loopbackClient(t, srv.Client())

	// Allowed, and the host permitted: fetched and verified.
	res, err := VerifyRelated(ctx, cred("/ctx"), RelatedOptions{Fetch: true, Client: loop})
	if err != nil || res[0].Outcome != RelatedVerified || !res[0].Fetched {
		t.Fatalf("fetch: %+v, %v", res, err)
	}
	if a, _ := accept.Load().(string); a != "application/ld+json" {
		t.Errorf("Accept %q", a)
	}
	// Not allowed: no request at all.
	before := hits.Load()
	res, err = VerifyRelated(ctx, cred("/ctx"), RelatedOptions{Client: loop})
	if err != nil || res[0].Outcome != RelatedUnavailable || hits.Load() != before {
		t.Errorf("fetch not allowed: %+v, %v, %d requests", res, err, hits.Load()-before)
	}
	// Given content wins over fetching.
	res, _ = VerifyRelated(ctx, cred("/ctx"), RelatedOptions{Fetch: true, Client: loop, Content: map[string][]byte{srv.URL + "/ctx": examples}})
	if res[0].Outcome != RelatedVerified || res[0].Fetched || hits.Load() != before {
		t.Errorf("given: %+v", res)
	}
	// Allowed, but the guarded fetcher refuses loopback unless the host
	// is permitted.
	res, err = VerifyRelated(ctx, cred("/ctx"), RelatedOptions{Fetch: true, Client: srv.Client()})
	if err != nil || res[0].Outcome != RelatedUnavailable || !errors.Is(res[0].Err, ErrAddressNotAllowed) {
		t.Errorf("loopback: %+v, %v", res, err)
	}
	// Wrong content type, redirects, non-200, too big: unavailable.
	for _, path := range []string{"/wrong-type", "/redirect", "/missing", "/big"} {
		res, err = VerifyRelated(ctx, cred(path), RelatedOptions{Fetch: true, Client: loop, MaxSize: 1024})
		if err != nil || res[0].Outcome != RelatedUnavailable || !errors.Is(res[0].Err, ErrResolve) {
			t.Errorf("%s: %+v, %v", path, res, err)
		}
		if _, err := VerifyRelated(ctx, cred(path), RelatedOptions{Fetch: true, Client: loop, MaxSize: 1024, RequireAll: true}); !errors.Is(err, ErrRelatedUnavailable) {
			t.Errorf("%s, RequireAll: %v", path, err)
		}
	}
	// http URLs are never fetched, but to loopback by a client made for
	// it (a node in loopback development mode).
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/ld+json")
		w.Write(examples)
	}))
	defer plain.Close()
	httpCred := relatedCred(plain.URL+"/ctx", map[string]any{"digestSRI": examplesSRI384, "mediaType": "application/ld+json"})
	before = hits.Load()
	res, _ = VerifyRelated(ctx, httpCred, RelatedOptions{Fetch: true, Client: loop})
	if res[0].Outcome != RelatedUnavailable || hits.Load() != before {
		t.Errorf("http: %+v", res)
	}
	dev, err := NewFetchClient(nil, FetchOptions{AllowHost: AllowHosts("127.0.0.1"), LoopbackHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := VerifyRelated(ctx, httpCred, RelatedOptions{Fetch: true, Client: dev}); err != nil || res[0].Outcome != RelatedVerified || hits.Load() != before+1 {
		t.Errorf("http to loopback, LoopbackHTTP client: %+v %v", res, err)
	}
}
