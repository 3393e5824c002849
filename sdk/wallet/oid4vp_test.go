package wallet

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/credentials/sdjwt"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/strictjson"
	"github.com/trustid-cn/trustid/oid4vp/dcql"
)

// TestRespondDisclosesOnlyTheSelected: the wallet sends the disclosures
// of the elements the query's paths select, with those of the objects and
// array elements they are nested in and those within them, and no other
// (OpenID4VP 1.0 §6.4: "Wallets MUST NOT send selectively disclosable
// claims that have not been selected"). A top-level "country" is not sent
// for ["address","country"]; with values, only the elements that match;
// without claims, none. Two credentials for one query only with multiple.
func TestRespondDisclosesOnlyTheSelected(t *testing.T) {
	h, err := NewHolder("https://node.example", NewSoftwareKeys(), "device")
	if err != nil {
		t.Fatal(err)
	}
	jwkJSON, err := h.CreateDeviceKey()
	if err != nil {
		t.Fatal(err)
	}
	var jwk map[string]any
	json.Unmarshal([]byte(jwkJSON), &jwk)
	is := &sdjwt.Issuer{Rand: rand.Reader}
	// Each degree an object with a concealed type, each concealed in
	// the array (RFC 9901 §7 recursive disclosures).
	var degrees []any
	var all []*sdjwt.Disclosure
	for _, d := range []map[string]any{{"type": "BSc", "university": "Fudan"}, {"type": "MSc", "university": "SJTU"}} {
		raw, ds, err := is.Conceal(d, &sdjwt.Frame{SD: []string{"type", "university"}})
		if err != nil {
			t.Fatal(err)
		}
		delete(raw, "_sd_alg") // the credential's, at the top
		degrees, all = append(degrees, raw), append(all, ds...)
	}
	claims := map[string]any{
		"iss": "https://issuer.example", "vct": "https://issuer.example/vct/Residence",
		"cnf":           map[string]any{"jwk": jwk},
		"country":       "CN", // e.g. nationality: never asked for
		"address":       map[string]any{"country": "CN", "city": "Shanghai"},
		"nationalities": []any{"CN", "HK"},
		"degrees":       degrees,
	}
	payload, ds, err := is.Conceal(claims, &sdjwt.Frame{SD: []string{"country", "address", "nationalities", "degrees"},
		Nested: map[string]*sdjwt.Frame{"address": {SD: []string{"country", "city"}}, "nationalities": {Elements: []int{0, 1}},
			"degrees": {Elements: []int{0, 1}}}})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(payload)
	b64 := base64.RawURLEncoding
	cred := sdjwt.Serialize(b64.EncodeToString([]byte(`{"alg":"ES256","typ":"dc+sd-jwt"}`))+"."+b64.EncodeToString(raw)+".c2ln", append(ds, all...))
	store := NewMemoryCredentials()
	store.Add("c1", cred)

	var posted url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		posted, _ = url.ParseQuery(string(body))
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, "{}")
	}))
	defer srv.Close()
	plain := map[string]any{"iss": claims["iss"], "vct": claims["vct"], "cnf": claims["cnf"]}
	with := func(k string, v any) map[string]any {
		out := map[string]any{k: v}
		for k, v := range plain {
			out[k] = v
		}
		return out
	}
	for _, c := range []struct {
		claims string
		want   map[string]any
	}{
		{`{"path":["address","country"]}`, with("address", map[string]any{"country": "CN"})},
		{`{"path":["address"]}`, with("address", map[string]any{"country": "CN", "city": "Shanghai"})},
		{`{"path":["country"]}`, with("country", "CN")},
		{`{"path":["nationalities",null],"values":["HK"]}`, with("nationalities", []any{"HK"})},
		{`{"path":["nationalities",0]}`, with("nationalities", []any{"CN"})},
		{`{"path":["degrees",null,"type"]}`, with("degrees", []any{map[string]any{"type": "BSc"}, map[string]any{"type": "MSc"}})},
		{`{"path":["degrees",1]}`, with("degrees", []any{map[string]any{"type": "MSc", "university": "SJTU"}})},
		// No claims member: no selectively disclosable claim, only what
		// the issuer signed in the clear (OpenID4VP 1.0 §6.4.1: "If
		// claims is absent, the Verifier is requesting no claims that
		// are selectively disclosable").
		{"", plain},
	} {
		member := ""
		if c.claims != "" {
			member = `,"claims":[` + c.claims + `]`
		}
		q, err := dcql.Parse([]byte(`{"credentials":[{"id":"res","format":"dc+sd-jwt","meta":{"vct_values":["https://issuer.example/vct/Residence"]}` + member + `}]}`))
		if err != nil {
			t.Fatal(err)
		}
		pr := &PresentationRequest{ClientID: "verifier_attestation:rp", ResponseURI: srv.URL, ResponseMode: "direct_post",
			nonce: "n", state: "s", query: q, holder: h}
		if _, err := pr.Respond(store, "res=c1"); err != nil {
			t.Fatalf("%s: %v", c.claims, err)
		}
		var tok map[string][]string
		if err := json.Unmarshal([]byte(posted.Get("vp_token")), &tok); err != nil || len(tok["res"]) != 1 {
			t.Fatalf("vp_token %q: %v", posted.Get("vp_token"), err)
		}
		sd, err := sdjwt.Split(tok["res"][0])
		if err != nil {
			t.Fatal(err)
		}
		got, err := sdjwt.Process(payload, sd.Disclosures)
		if err != nil {
			t.Fatal(err)
		}
		delete(got, "_sd_alg")
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: disclosed %v, want %v", c.claims, got, c.want)
		}
	}

	// Two credentials for one query: only when it asks for multiple
	// (OpenID4VP 1.0 §8.1: "When multiple is omitted, or set to false,
	// the array MUST contain only one Presentation"); refused before
	// anything is sent.
	store.Add("c2", cred)
	for _, multiple := range []bool{false, true} {
		q, err := dcql.Parse([]byte(`{"credentials":[{"id":"res","format":"dc+sd-jwt","multiple":` + strconv.FormatBool(multiple) +
			`,"meta":{"vct_values":["https://issuer.example/vct/Residence"]},"claims":[{"path":["country"]}]}]}`))
		if err != nil {
			t.Fatal(err)
		}
		posted = nil
		pr := &PresentationRequest{ClientID: "verifier_attestation:rp", ResponseURI: srv.URL, ResponseMode: "direct_post",
			nonce: "n", state: "s", query: q, holder: h}
		_, err = pr.Respond(store, "res=c1,res=c2")
		var tok map[string][]string
		json.Unmarshal([]byte(posted.Get("vp_token")), &tok)
		switch {
		case !multiple && (!errors.Is(err, ErrInvalidArgument) || posted != nil):
			t.Errorf("two for a query without multiple: %v, posted %v", err, posted)
		case multiple && (err != nil || len(tok["res"]) != 2):
			t.Errorf("two for a query with multiple: %v, vp_token %v", err, tok)
		}
	}
}

// concealAll makes every member and array element of v selectively
// disclosable, recursively (RFC 9901 §7 recursive disclosures).
func concealAll(t *testing.T, is *sdjwt.Issuer, v any, all *[]*sdjwt.Disclosure) any {
	switch x := v.(type) {
	case map[string]any:
		inner := map[string]any{}
		var names []string
		for k, e := range x {
			inner[k] = concealAll(t, is, e, all)
			names = append(names, k)
		}
		out, ds, err := is.Conceal(inner, &sdjwt.Frame{SD: names, Decoys: 1})
		if err != nil {
			t.Fatal(err)
		}
		delete(out, "_sd_alg")
		*all = append(*all, ds...)
		return out
	case []any:
		inner := make([]any, len(x))
		idx := make([]int, len(x))
		for i, e := range x {
			inner[i], idx[i] = concealAll(t, is, e, all), i
		}
		out, ds, err := is.Conceal(map[string]any{"a": inner}, &sdjwt.Frame{Nested: map[string]*sdjwt.Frame{"a": {Elements: idx}}})
		if err != nil {
			t.Fatal(err)
		}
		*all = append(*all, ds...)
		return out["a"]
	}
	return v
}

// FuzzDisclosing: over claims every part of which is selectively
// disclosable, selectSigned selects what dcql.Select selects over the
// processed claims, and the disclosures disclosing picks present, for a
// path without an index (indices count the withheld siblings), exactly
// what the path selects over all the claims.
func FuzzDisclosing(f *testing.F) {
	f.Add(`{"address":{"country":"CN","city":"SH"},"country":"CN"}`, `["address","country"]`)
	f.Add(`{"degrees":[{"type":"BSc","u":"F"},{"type":"MSc"}],"n":["a","b"]}`, `["degrees",null,"type"]`)
	f.Add(`{"degrees":[{"type":"BSc"},"x"]}`, `["degrees",null,"type"]`)
	f.Add(`{"n":[["a","b"],["c"]]}`, `["n",null,1]`)
	f.Add(`{"a":{"b":{"c":[1,{"d":2}]}}}`, `["a"]`)
	f.Fuzz(func(t *testing.T, claimsJSON, pathJSON string) {
		claims, err := strictjson.Object([]byte(claimsJSON), 4<<10)
		var p dcql.Path
		if err != nil || json.Unmarshal([]byte(pathJSON), &p) != nil || len(p) == 0 || len(p) > 8 {
			return
		}
		for k := range claims {
			if strings.HasPrefix(k, "_sd") || k == "..." {
				return
			}
		}
		is := &sdjwt.Issuer{Rand: rand.Reader}
		var ds []*sdjwt.Disclosure
		payload, ok := concealAll(t, is, claims, &ds).(map[string]any)
		if !ok {
			t.Fatal("payload")
		}
		full, err := sdjwt.Process(payload, ds)
		if err != nil {
			return // a reserved name deeper down: not a credential
		}
		want := dcql.Select(full, p)
		byDigest := map[string]*sdjwt.Disclosure{}
		for _, d := range ds {
			byDigest[d.Digest] = d
		}
		if got := selectSigned(payload, byDigest, p); (got == nil) != (want == nil) || len(got) != len(want) {
			t.Fatalf("selectSigned selects %d, dcql.Select %d", len(got), len(want))
		}
		if want == nil || slices.ContainsFunc(p, func(e any) bool { _, ok := e.(int); return ok }) {
			return
		}
		keep := disclosing(payload, ds, []dcql.ClaimQuery{{Path: p}})
		var sent []*sdjwt.Disclosure
		for _, d := range ds {
			if keep[d.Digest] {
				sent = append(sent, d)
			}
		}
		shown, err := sdjwt.Process(payload, sent)
		if err != nil {
			t.Fatalf("the disclosures sent do not process: %v", err)
		}
		if got := dcql.Select(shown, p); !reflect.DeepEqual(got, want) {
			t.Fatalf("presented %v, want %v", got, want)
		}
	})
}

// TestEncryptionKeyAlg: the wallet encrypts only to a key whose alg is
// the JWE alg it uses, ECDH-ES (OpenID4VP 1.0 §8.3: "The alg parameter
// MUST be present in the JWKs. The JWE alg algorithm used MUST be equal
// to the alg value of the chosen jwk"); a key without alg, or for another
// key agreement, is passed over.
func TestEncryptionKeyAlg(t *testing.T) {
	jwk := func(kid, alg string) map[string]any {
		k := map[string]any{"kty": "EC", "crv": "P-256", "kid": kid, "use": "enc",
			"x": "YO4epjifD-KWeq1sL2tNmm36BhXnkJ0He-WqMYrp9Fk", "y": "Hekpm0zfK7C-YccH5iBjcIXgf6YdUvNUac_0At55Okk"}
		if alg != "" {
			k["alg"] = alg
		}
		return k
	}
	meta := func(keys ...any) any {
		raw, _ := json.Marshal(map[string]any{"jwks": map[string]any{"keys": keys}})
		var m any
		json.Unmarshal(raw, &m)
		return m
	}
	for _, c := range []struct {
		name string
		meta any
		kid  string // "" when refused
	}{
		{"ECDH-ES", meta(jwk("a", "ECDH-ES")), "a"},
		{"no alg", meta(jwk("a", "")), ""},
		{"key wrapping", meta(jwk("a", "ECDH-ES+A128KW")), ""},
		{"the ECDH-ES one of two", meta(jwk("a", "ECDH-ES+A256KW"), jwk("b", "ECDH-ES")), "b"},
	} {
		pr := &PresentationRequest{}
		err := pr.encryptionKey(c.meta)
		switch {
		case c.kid == "" && err == nil:
			t.Errorf("%s: taken (kid %q), want refused", c.name, pr.encKey.KeyID)
		case c.kid != "" && (err != nil || pr.encKey.KeyID != c.kid):
			t.Errorf("%s: %v, want the key %q", c.name, err, c.kid)
		}
	}
}

// TestRequestWithRedirectURI: a verified request object for direct_post
// that also carries redirect_uri is refused, and the verifier is told
// invalid_request (OpenID4VP 1.0 §8.2: "If the redirect_uri Authorization
// Request parameter is present when the Response Mode is direct_post, the
// Wallet MUST return an invalid_request Authorization Response error");
// the same request without it is taken.
func TestRequestWithRedirectURI(t *testing.T) {
	attesterKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rpKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	attesterJWK, _ := gm.NewJWK(&attesterKey.PublicKey, "att-1")
	rpJWK, _ := gm.NewJWK(&rpKey.PublicKey, "")
	jwks, _ := json.Marshal(gm.JWKS{Keys: []gm.JWK{attesterJWK}})
	const attester = "https://attester.example"
	var srv *httptest.Server
	var ro string
	var posted []url.Values
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/request":
			w.Header().Set("Content-Type", "application/oauth-authz-req+jwt")
			io.WriteString(w, ro)
		case "/response":
			body, _ := io.ReadAll(r.Body)
			f, _ := url.ParseQuery(string(body))
			posted = append(posted, f)
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, "{}")
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	exp := time.Now().Add(5 * time.Minute).Unix()
	att := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"iss": attester, "sub": "rp", "exp": exp,
		"cnf": map[string]any{"jwk": rpJWK}, "redirect_uris": []string{srv.URL + "/response"}})
	att.Header["typ"], att.Header["kid"] = "verifier-attestation+jwt", "att-1"
	attJWT, err := att.SignedString(attesterKey)
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHolder(srv.URL, NewSoftwareKeys(), "device")
	if err != nil {
		t.Fatal(err)
	}
	link := "openid4vp://?" + url.Values{"client_id": {"verifier_attestation:rp"}, "request_uri": {srv.URL + "/request"}}.Encode()
	for _, redirect := range []bool{true, false} {
		claims := jwt.MapClaims{"aud": "https://self-issued.me/v2", "exp": exp, "client_id": "verifier_attestation:rp",
			"response_type": "vp_token", "response_mode": "direct_post", "response_uri": srv.URL + "/response",
			"nonce": "n", "state": "s", "dcql_query": map[string]any{"credentials": []any{map[string]any{
				"id": "res", "format": "dc+sd-jwt", "meta": map[string]any{"vct_values": []string{"v"}}}}}}
		if redirect {
			claims["redirect_uri"] = "https://rp.example/cb"
		}
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
		tok.Header["typ"], tok.Header["jwt"] = "oauth-authz-req+jwt", attJWT
		if ro, err = tok.SignedString(rpKey); err != nil {
			t.Fatal(err)
		}
		posted = nil
		_, err := h.ResolvePresentationRequest(link, attester, string(jwks))
		switch {
		case redirect && (!errors.Is(err, ErrPresentationRequest) || len(posted) != 1 || posted[0].Get("error") != "invalid_request" || posted[0].Get("state") != "s"):
			t.Errorf("with redirect_uri: %v, posted %v; want refused and invalid_request told", err, posted)
		case !redirect && (err != nil || len(posted) != 0):
			t.Errorf("without redirect_uri: %v, posted %v", err, posted)
		}
	}
}

// TestAttestedRedirectURIsMalformed: a Verifier Attestation whose
// redirect_uris claim is present but no array of URIs (a single string,
// an object) names no response URI, so a request posting elsewhere is
// refused (OpenID4VP 1.0 §5.9.3: "If the issuer of the Verifier
// Attestation JWT adds a redirect_uris claim to the attestation, the
// Wallet MUST ensure the redirect_uri request parameter value exactly
// matches one of the redirect_uris claim entries"); without the claim,
// or with the response URI in the array, the request is taken.
func TestAttestedRedirectURIsMalformed(t *testing.T) {
	const responseURI = "https://elsewhere.example/response"
	for _, c := range []struct {
		name string
		uris any // nil: no claim
		ok   bool
	}{
		{"no claim", nil, true},
		{"in the array", []string{"https://rp.example/response", responseURI}, true},
		{"not in the array", []string{"https://rp.example/response"}, false},
		{"a string", "https://rp.example/response", false},
		{"the response URI as a string", responseURI, false},
		{"an object", map[string]any{"uri": responseURI}, false},
	} {
		_, err := resolveAttested(t, c.uris, responseURI, nil)
		if c.ok != (err == nil) || (!c.ok && !errors.Is(err, ErrPresentationRequest)) {
			t.Errorf("%s: %v, want ok %v", c.name, err, c.ok)
		}
	}
}

// TestPresentationRequestNeedsHTTPS: a request_uri or response_uri in
// plain http (but on loopback) is refused, as the errors always said:
// the request is fetched and the presentation posted only over TLS. A
// request_uri is refused before anything is fetched.
func TestPresentationRequestNeedsHTTPS(t *testing.T) {
	h, err := NewHolder("https://node.example", NewSoftwareKeys(), "device")
	if err != nil {
		t.Fatal(err)
	}
	fetched := 0
	h.client = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		fetched++
		return nil, errors.New("no network in this test")
	})}
	link := "openid4vp://?" + url.Values{"client_id": {"verifier_attestation:rp"}, "request_uri": {"http://rp.example/request"}}.Encode()
	if _, err := h.ResolvePresentationRequest(link, "https://attester.example", `{"keys":[]}`); !errors.Is(err, ErrPresentationRequest) || fetched != 0 {
		t.Errorf("http request_uri: %v, %d fetched; want ErrPresentationRequest before any fetch", err, fetched)
	}
	for _, c := range []struct {
		uri string
		ok  bool
	}{
		{"http://rp.example/response", false},
		{"http://rp.example:443/response", false},
		{"https://user@rp.example/response", false},
		{"https://rp.example/response", true},
		{"http://127.0.0.1:8080/response", true},
	} {
		_, err := resolveAttested(t, []string{c.uri}, c.uri, nil)
		if c.ok != (err == nil) || (!c.ok && !errors.Is(err, ErrPresentationRequest)) {
			t.Errorf("response_uri %s: %v, want ok %v", c.uri, err, c.ok)
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// resolveAttested resolves, from a loopback verifier, a direct_post
// request object for verifier_attestation:rp with responseURI, signed
// with the key of an attestation (redirect_uris claim uris, none when
// nil) by a trusted attester; header, when not nil, adds to the JOSE
// headers of the attestation ("att") and the request object ("ro").
func resolveAttested(t *testing.T, uris any, responseURI string, header func(which string, h map[string]any)) (*PresentationRequest, error) {
	t.Helper()
	attesterKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rpKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	attesterJWK, _ := gm.NewJWK(&attesterKey.PublicKey, "att-1")
	rpJWK, _ := gm.NewJWK(&rpKey.PublicKey, "")
	jwks, _ := json.Marshal(gm.JWKS{Keys: []gm.JWK{attesterJWK}})
	const attester = "https://attester.example"
	exp := time.Now().Add(5 * time.Minute).Unix()
	ac := jwt.MapClaims{"iss": attester, "sub": "rp", "exp": exp, "cnf": map[string]any{"jwk": rpJWK}}
	if uris != nil {
		ac["redirect_uris"] = uris
	}
	att := jwt.NewWithClaims(jwt.SigningMethodES256, ac)
	att.Header["typ"], att.Header["kid"] = "verifier-attestation+jwt", "att-1"
	if header != nil {
		header("att", att.Header)
	}
	attJWT, err := att.SignedString(attesterKey)
	if err != nil {
		t.Fatal(err)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"aud": "https://self-issued.me/v2", "exp": exp,
		"client_id": "verifier_attestation:rp", "response_type": "vp_token", "response_mode": "direct_post",
		"response_uri": responseURI, "nonce": "n", "state": "s", "dcql_query": map[string]any{"credentials": []any{map[string]any{
			"id": "res", "format": "dc+sd-jwt", "meta": map[string]any{"vct_values": []string{"v"}}}}}})
	tok.Header["typ"], tok.Header["jwt"] = "oauth-authz-req+jwt", attJWT
	if header != nil {
		header("ro", tok.Header)
	}
	ro, err := tok.SignedString(rpKey)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/oauth-authz-req+jwt")
		io.WriteString(w, ro)
	}))
	defer srv.Close()
	h, err := NewHolder(srv.URL, NewSoftwareKeys(), "device")
	if err != nil {
		t.Fatal(err)
	}
	link := "openid4vp://?" + url.Values{"client_id": {"verifier_attestation:rp"}, "request_uri": {srv.URL + "/request"}}.Encode()
	return h.ResolvePresentationRequest(link, attester, string(jwks))
}

// TestRespondOnlyRequestedCredentials: with credential_sets, a credential
// query in no option is not asked for (OpenID4VP 1.0 §6.4.2: "the
// Verifier requests presentations of Credentials to be returned
// satisfying" the credential sets): Matches does not offer it, and a
// choice naming it is refused before anything is sent; the choice of the
// option alone is posted.
func TestRespondOnlyRequestedCredentials(t *testing.T) {
	h, err := NewHolder("https://node.example", NewSoftwareKeys(), "device")
	if err != nil {
		t.Fatal(err)
	}
	jwkJSON, err := h.CreateDeviceKey()
	if err != nil {
		t.Fatal(err)
	}
	var jwk map[string]any
	json.Unmarshal([]byte(jwkJSON), &jwk)
	store := NewMemoryCredentials()
	store.Add("c1", fakeSDJWT(jwk))
	store.Add("c2", fakeSDJWT(jwk))
	var posted []url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f, _ := url.ParseQuery(string(body))
		posted = append(posted, f)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, "{}")
	}))
	defer srv.Close()
	q, err := dcql.Parse([]byte(`{"credentials":[{"id":"pid","format":"dc+sd-jwt","meta":{"vct_values":["urn:x"]}},
		{"id":"extra","format":"dc+sd-jwt","meta":{"vct_values":["urn:x"]}}],
		"credential_sets":[{"options":[["pid"]]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	pr := &PresentationRequest{ClientID: "verifier_attestation:rp", ResponseURI: srv.URL, ResponseMode: "direct_post",
		nonce: "n", state: "s", query: q, holder: h}
	m, err := pr.Matches(store)
	if err != nil || strings.Contains(m, "extra") || !strings.Contains(m, "pid") {
		t.Errorf("Matches %s (%v): want pid only", m, err)
	}
	if _, err := pr.Respond(store, "pid=c1,extra=c2"); !errors.Is(err, ErrInvalidArgument) || len(posted) != 0 {
		t.Errorf("a query in no option: %v, posted %v; want ErrInvalidArgument and nothing sent", err, posted)
	}
	if _, err := pr.Respond(store, "pid=c1"); err != nil || len(posted) != 1 {
		t.Fatalf("the option alone: %v, posted %v", err, posted)
	}
	var tok map[string][]string
	if err := json.Unmarshal([]byte(posted[0].Get("vp_token")), &tok); err != nil || len(tok) != 1 || len(tok["pid"]) != 1 {
		t.Errorf("vp_token %s: %v", posted[0].Get("vp_token"), err)
	}
}

// TestRequestObjectCrit: a request object or Verifier Attestation whose
// JOSE header lists critical extensions is refused (RFC 7515 §4.1.11: if
// any listed extension "is not understood and supported by the
// recipient, then the JWS is invalid"; the wallet understands none), as
// the node and the relying-party SDK refuse them.
func TestRequestObjectCrit(t *testing.T) {
	const responseURI = "https://rp.example/response"
	for _, which := range []string{"ro", "att"} {
		_, err := resolveAttested(t, nil, responseURI, func(w string, h map[string]any) {
			if w == which {
				h["crit"], h["urn:example:must-understand"] = []string{"urn:example:must-understand"}, true
			}
		})
		if !errors.Is(err, ErrPresentationRequest) || !strings.Contains(err.Error(), "crit") {
			t.Errorf("crit in %s: %v, want ErrPresentationRequest naming crit", which, err)
		}
	}
	if _, err := resolveAttested(t, nil, responseURI, nil); err != nil {
		t.Errorf("without crit: %v", err)
	}
}

// FuzzRequestObject: a request object signed under a trusted Verifier
// Attestation, with any redirect_uris claim (JSON), response_uri and crit
// header, is taken only when its response_uri is https (http on
// loopback), exactly one of the redirect_uris when that claim is there
// (OpenID4VP 1.0 §5.9.3), and neither JWT has crit (RFC 7515 §4.1.11); a
// refusal is ErrPresentationRequest.
func FuzzRequestObject(f *testing.F) {
	f.Add([]byte(nil), "https://rp.example/post", byte(0))
	f.Add([]byte(`["https://rp.example/post"]`), "https://rp.example/post", byte(0))
	f.Add([]byte(`["https://rp.example/post"]`), "https://rp.example/post", byte(1))
	f.Add([]byte(`["https://rp.example/post"]`), "https://rp.example/post", byte(2))
	f.Add([]byte(`"https://rp.example/post"`), "https://rp.example/post", byte(0))
	f.Add([]byte(`{"0":"https://rp.example/post"}`), "https://rp.example/post", byte(0))
	f.Add([]byte(`null`), "http://127.0.0.1/post", byte(0))
	f.Add([]byte(`["http://rp.example/post"]`), "http://rp.example/post", byte(0))
	f.Add([]byte(`["HTTPS://rp.example/post"]`), "https://rp.example/post", byte(0))
	f.Fuzz(func(t *testing.T, uris []byte, responseURI string, crit byte) {
		var attested any
		if uris != nil {
			if !json.Valid(uris) {
				return
			}
			attested = json.RawMessage(uris)
		}
		pr, err := resolveAttested(t, attested, responseURI, func(which string, h map[string]any) {
			if (which == "att" && crit&1 != 0) || (which == "ro" && crit&2 != 0) {
				h["crit"], h["ext"] = []string{"ext"}, 1
			}
		})
		if err != nil {
			if !errors.Is(err, ErrPresentationRequest) {
				t.Fatalf("refused with %v", err)
			}
			return
		}
		u, perr := url.Parse(responseURI)
		https := perr == nil && u.Host != "" && u.User == nil && (u.Scheme == "https" ||
			u.Scheme == "http" && (u.Hostname() == "localhost" || net.ParseIP(u.Hostname()).IsLoopback()))
		var list []any
		listed := uris == nil || json.Unmarshal(uris, &list) == nil && slices.Contains(list, any(responseURI))
		if crit&3 != 0 || !https || !listed || pr.ResponseURI != responseURI {
			t.Fatalf("taken: redirect_uris %s, response_uri %q, crit %d: %+v", uris, responseURI, crit, pr)
		}
	})
}
