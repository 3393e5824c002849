package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/leakcheck"
	"github.com/trustid-cn/trustid/internal/testredis"
	sdkwallet "github.com/trustid-cn/trustid/sdk/wallet"
)

// addRP registers a relying party for OID4VP: scope
// presentation:request, the claim age_over_18 and a redirect URI.
func (n *authNode) addRP(id string) string {
	n.t.Helper()
	keys := filepath.Join(n.dir, "rp-"+id)
	out := n.cli("clients", "keygen", "--alg", "ES256", "--out", keys)
	kid := regexp.MustCompile(`kid (\S+)`).FindStringSubmatch(out)[1]
	n.cli("clients", "add", "--id", id, "--name", "RP "+id, "--region", "310000", "--scopes", auth.ScopePresentationRequest,
		"--claims", "age_over_18", "--redirect-uri", "https://shop.example/done", "--jwks-file", filepath.Join(keys, kid+".jwks.json"))
	return n.tokenFor(id, filepath.Join(keys, kid+".key.pem"))
}

// oid4vpSetup is a node with an accredited issuer, a relying party and a
// wallet holding an AgeCredential (SD-JWT VC bound to its SM2 device key).
type oid4vpSetup struct {
	n      *authNode
	rp     string // the relying party's token
	holder *sdkwallet.Holder
	creds  *sdkwallet.MemoryCredentials
	jwks   string
	cred   string // the wallet's credential, as issued
}

// newOID4VPSetup starts the node with extra.
func newOID4VPSetup(t *testing.T, extra ...string) *oid4vpSetup {
	n := startAuthNode(t, extra...)
	issuerTok := n.tokenFor("age-issuer", n.addClient("age-issuer", "SM2", auth.ScopeCredentialsIssue))
	n.accredit("age-issuer", "AgeCredential")
	h, err := sdkwallet.NewHolder(n.base, sdkwallet.NewSoftwareKeys(), "device")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.CreateDeviceKey(); err != nil {
		t.Fatal(err)
	}
	jwk, _ := h.DeviceKeyJWK()
	body := `{"credential": {"@context": ["https://www.w3.org/ns/credentials/v2"], "type": ["VerifiableCredential", "AgeCredential"],
	  "credentialSubject": {"age_over_18": true, "age_over_60": false, "birthDate": "1990-05-01"}},
	  "options": {"format": "dc+sd-jwt", "holderKey": ` + jwk + `}}`
	code, m, _ := n.do("POST", "/credentials/issue", issuerTok, "application/json", body)
	if code != 201 {
		t.Fatalf("issue: %d %v", code, m)
	}
	id, _ := m["verifiableCredential"].(map[string]any)["id"].(string)
	_, tok, _ := strings.Cut(id, ",")
	// The vct is a URL of the node that answers: the type, accredited on
	// the ledger, by name.
	if vct, _ := jwtPayload(t, tok)["vct"].(string); vct != n.base+"/vct/AgeCredential" {
		t.Fatalf("vct %q", vct)
	} else if meta := getTypeMetadata(t, vct); meta.Name != "AgeCredential" {
		t.Errorf("type metadata of %s: %+v", vct, meta)
	}
	creds := sdkwallet.NewMemoryCredentials()
	creds.Add("age-1", tok)
	_, jwks := get(t, n.base+"/.well-known/jwks.json")
	return &oid4vpSetup{n: n, rp: n.addRP("shop-1"), holder: h, creds: creds, jwks: jwks, cred: tok}
}

// ageDCQL asks for age_over_18 of an AgeCredential the node at base issued.
func ageDCQL(base string) string {
	return `{"credentials": [{"id": "age", "format": "dc+sd-jwt", "meta": {"vct_values": ["` + base + `/vct/AgeCredential"]},
  "claims": [{"path": ["age_over_18"], "values": [true]}]}]}`
}

// TestOID4VP runs OpenID for Verifiable Presentations through a node:
// the relying party opens a request, TrustID's wallet SDK resolves and
// verifies the signed request object, answers with only age_over_18 in
// both response modes, and the relying party fetches the result; replays,
// over-asking and unknown transactions get the spec's error codes.
// Neither the node's log, its data directory nor (with Redis) any Redis
// database holds a transaction ID, a response code, the credential, a
// presentation, the relying party's token or the birth date the credential
// carries.
func TestOID4VP(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testOID4VP(t, nil) })
	t.Run("redis", func(t *testing.T) {
		addr := testredis.Start(t)
		testOID4VP(t, testredis.Client(t, addr), "--redis-url", "redis://"+addr)
	})
}

// testOID4VP is TestOID4VP on a node started with extra; rdb, when not
// nil, is the Redis it uses.
func testOID4VP(t *testing.T, rdb *redis.Client, extra ...string) {
	s := newOID4VPSetup(t, extra...)
	n := s.n
	secrets := []string{s.cred, s.rp, "1990-05-01"}
	// The wallet's requests, to read the presentations it sends.
	rec := &responseRecorder{base: http.DefaultTransport}
	http.DefaultTransport = rec
	t.Cleanup(func() { http.DefaultTransport = rec.base })
	for _, tc := range []struct{ mode, redirect string }{{"direct_post.jwt", ""}, {"direct_post", "https://shop.example/done"}} {
		t.Run(tc.mode, func(t *testing.T) {
			body := `{"dcql_query": ` + ageDCQL(s.n.base) + `, "response_mode": "` + tc.mode + `"`
			if tc.redirect != "" {
				body += `, "redirect_uri": "` + tc.redirect + `"`
			}
			code, created, _ := n.do("POST", "/v1/oid4vp/requests", s.rp, "application/json", body+"}")
			if code != 201 || !strings.HasPrefix(created["qr_code"].(string), "data:image/svg+xml;base64,") {
				t.Fatalf("create: %d %v", code, created)
			}
			txID := created["transaction_id"].(string)
			secrets = append(secrets, txID)
			code, res, _ := n.do("GET", "/v1/oid4vp/requests/"+txID, s.rp, "", "")
			if code != 200 || res["status"] != "pending" {
				t.Fatalf("pending: %d %v", code, res)
			}
			// A wallet that trusts another attester refuses the request.
			if _, err := s.holder.ResolvePresentationRequest(created["authorization_request"].(string), "https://other.example", s.jwks); err == nil ||
				!strings.Contains(err.Error(), "trusted attester") {
				t.Fatalf("other attester: %v", err)
			}
			req, err := s.holder.ResolvePresentationRequest(created["authorization_request"].(string), n.base, s.jwks)
			if err != nil {
				t.Fatal(err)
			}
			if req.RelyingParty != "shop-1" || req.ResponseMode != tc.mode || req.Claims() != "age_over_18" {
				t.Fatalf("request %+v", req)
			}
			if m, _ := req.Matches(s.creds); m != `{"age":[{"credential":"age-1","claims":["age_over_18"]}]}` {
				t.Fatalf("matches %s", m)
			}
			redirect, err := req.Respond(s.creds, "age=age-1")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := req.Respond(s.creds, "age=age-1"); err == nil || !strings.Contains(err.Error(), "invalid_request") {
				t.Fatalf("replay: %v", err)
			}
			path := "/v1/oid4vp/requests/" + txID
			if tc.redirect != "" {
				u, _ := url.Parse(redirect)
				frag, _ := url.ParseQuery(u.Fragment)
				if code, m, _ := n.do("GET", path, s.rp, "", ""); code != 400 || m["error"] != "invalid_request" {
					t.Fatalf("without response_code: %d %v", code, m)
				}
				path += "?response_code=" + url.QueryEscape(frag.Get("response_code"))
				secrets = append(secrets, frag.Get("response_code"))
			} else if redirect != "" {
				t.Fatalf("redirect %q", redirect)
			}
			code, res, _ = n.do("GET", path, s.rp, "", "")
			raw, _ := json.Marshal(res)
			if code != 200 || res["status"] != "verified" || !strings.Contains(string(raw), `"claims":{"age_over_18":true}`) || strings.Contains(string(raw), "1990") {
				t.Fatalf("result: %d %s", code, raw)
			}
		})
	}
	// The holder declines: the relying party sees access_denied.
	code, created, _ := n.do("POST", "/v1/oid4vp/requests", s.rp, "application/json", `{"dcql_query": `+ageDCQL(s.n.base)+`}`)
	if code != 201 {
		t.Fatalf("create: %d %v", code, created)
	}
	req, err := s.holder.ResolvePresentationRequest(created["authorization_request"].(string), n.base, s.jwks)
	if err != nil {
		t.Fatal(err)
	}
	if err := req.Decline(); err != nil {
		t.Fatal(err)
	}
	if code, res, _ := n.do("GET", "/v1/oid4vp/requests/"+created["transaction_id"].(string), s.rp, "", ""); code != 200 || res["status"] != "refused" || res["error"] != "access_denied" {
		t.Fatalf("declined: %d %v", code, res)
	}
	// Over-asking, malformed queries, unknown transactions.
	for name, c := range map[string]struct {
		method, path, token, ctype, body string
		status                           int
		code                             string
	}{
		"over-asking": {"POST", "/v1/oid4vp/requests", s.rp, "application/json",
			`{"dcql_query": ` + strings.Replace(ageDCQL(s.n.base), `"age_over_18"`, `"birthDate"`, 1) + `}`, 400, "invalid_scope"},
		"malformed DCQL":      {"POST", "/v1/oid4vp/requests", s.rp, "application/json", `{"dcql_query": {"credentials": []}}`, 400, "invalid_request"},
		"unknown member":      {"POST", "/v1/oid4vp/requests", s.rp, "application/json", `{"dcql_query": ` + ageDCQL(s.n.base) + `, "x": 1}`, 400, "invalid_request"},
		"unknown request_uri": {"GET", "/oid4vp/request/nope", "", "", "", 404, "invalid_request_uri"},
		"unknown response":    {"POST", "/oid4vp/response/nope", "", "application/x-www-form-urlencoded", "state=x", 400, "invalid_request"},
		"not a form":          {"POST", "/oid4vp/response/nope", "", "application/json", "{}", 400, "invalid_request"},
		"unknown result":      {"GET", "/v1/oid4vp/requests/nope", s.rp, "", "", 404, "not_found"},
	} {
		if code, m, _ := n.do(c.method, c.path, c.token, c.ctype, c.body); code != c.status || m["error"] != c.code {
			t.Errorf("%s: %d %v", name, code, m)
		}
	}
	http.DefaultTransport = rec.base
	if len(rec.jwes) == 0 || len(rec.presentations) == 0 {
		t.Fatalf("the wallet's responses: %d JWEs, %d presentations", len(rec.jwes), len(rec.presentations))
	}
	secrets = append(append(secrets, rec.jwes...), rec.presentations...)
	// Stopped first: the access log is written out at shutdown. A canary
	// planted in each place proves its scan.
	n.stop()
	scan := leakcheck.New(t, secrets...)
	scan.PlantLog(n.logs)
	scan.PlantDir(n.dir)
	if hits := append(scan.Log([]byte(n.logs.String())), scan.Dir(n.dir)...); len(hits) > 0 {
		t.Errorf("a presentation's secret or a claim where the node writes: %v", hits)
	}
	if rdb != nil {
		scan.PlantRedis(rdb)
		if hits := scan.Redis(rdb); len(hits) > 0 {
			t.Errorf("a presentation's secret or a claim in Redis: %v", hits)
		}
	}
}

// TestOID4VPRequestObject checks the request object's media type.
func TestOID4VPRequestObject(t *testing.T) {
	s := newOID4VPSetup(t)
	_, created, _ := s.n.do("POST", "/v1/oid4vp/requests", s.rp, "application/json", `{"dcql_query": `+ageDCQL(s.n.base)+`}`)
	resp, err := http.Get(created["request_uri"].(string))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/oauth-authz-req+jwt" || strings.Count(string(b), ".") != 2 {
		t.Fatalf("%d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
}

// TestOID4VPTransactionData: a relying party asks a holder to confirm a
// payment with the presentation; the wallet SDK shows it and binds it in
// the KB-JWT; the node checks the hash and hands the relying party the
// confirmed object. An unknown type is refused when the request is made.
func TestOID4VPTransactionData(t *testing.T) {
	s := newOID4VPSetup(t)
	n := s.n
	td := `{"type": "urn:trustid:transaction-data:confirmation", "credential_ids": ["age"], "summary": "向 shop-1 支付 ¥35.00"}`
	code, created, _ := n.do("POST", "/v1/oid4vp/requests", s.rp, "application/json",
		`{"dcql_query": `+ageDCQL(n.base)+`, "transaction_data": [`+td+`]}`)
	if code != 201 {
		t.Fatalf("create: %d %v", code, created)
	}
	req, err := s.holder.ResolvePresentationRequest(created["authorization_request"].(string), n.base, s.jwks)
	if err != nil {
		t.Fatal(err)
	}
	if shown := req.TransactionData(); !strings.Contains(shown, "向 shop-1 支付 ¥35.00") {
		t.Fatalf("shown %s", shown)
	}
	if _, err := req.Respond(s.creds, "age=age-1"); err != nil {
		t.Fatal(err)
	}
	code, res, _ := n.do("GET", "/v1/oid4vp/requests/"+created["transaction_id"].(string), s.rp, "", "")
	list, _ := res["transaction_data"].([]any)
	if code != 200 || res["status"] != "verified" || len(list) != 1 || list[0].(map[string]any)["summary"] != "向 shop-1 支付 ¥35.00" {
		t.Fatalf("result: %d %v", code, res)
	}
	// The holder's choice must answer a query the transaction data names.
	twoDCQL := `{"credentials": [{"id": "age", "format": "dc+sd-jwt", "meta": {"vct_values": ["` + n.base + `/vct/AgeCredential"]}, "claims": [{"path": ["age_over_18"]}]},
	  {"id": "age2", "format": "dc+sd-jwt", "meta": {"vct_values": ["` + n.base + `/vct/AgeCredential"]}, "claims": [{"path": ["age_over_18"]}]}],
	  "credential_sets": [{"options": [["age"], ["age2"]]}]}`
	code, created, _ = n.do("POST", "/v1/oid4vp/requests", s.rp, "application/json",
		`{"dcql_query": `+twoDCQL+`, "transaction_data": [`+strings.Replace(td, `["age"]`, `["age2"]`, 1)+`]}`)
	if code != 201 {
		t.Fatalf("create: %d %v", code, created)
	}
	req, err = s.holder.ResolvePresentationRequest(created["authorization_request"].(string), n.base, s.jwks)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := req.Respond(s.creds, "age=age-1"); !errors.Is(err, sdkwallet.ErrInvalidArgument) || !strings.Contains(err.Error(), "transaction_data[0]") {
		t.Fatalf("choice without the named query: %v", err)
	}
	if _, err := req.Respond(s.creds, "age2=age-1"); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{
		"unknown type":     `{"type": "payment", "credential_ids": ["age"], "amount": 1}`,
		"unknown query id": strings.Replace(td, `["age"]`, `["pid"]`, 1),
	} {
		if code, m, _ := n.do("POST", "/v1/oid4vp/requests", s.rp, "application/json", `{"dcql_query": `+ageDCQL(n.base)+`, "transaction_data": [`+body+`]}`); code != 400 || m["error"] != "invalid_request" {
			t.Errorf("%s: %d %v", name, code, m)
		}
	}
}

// TestOID4VPKeysFollowReload: the node signs request objects (and their
// verifier attestations) with its active ES256 key as the keystore has
// it after a reload, as every other signer of the node does
// (docs/operations.md, "Rotating a region's keys": after SIGHUP an
// instance "signs with the new key from then on"). Once the old key is
// retired, and so gone from the JWKS, a wallet still verifies the
// node's requests.
func TestOID4VPKeysFollowReload(t *testing.T) {
	s := newOID4VPSetup(t)
	n := s.n
	es256 := func() (jwks string, kids []string) {
		_, jwks = get(t, n.base+"/.well-known/jwks.json")
		var set struct{ Keys []struct{ Alg, Kid string } }
		json.Unmarshal([]byte(jwks), &set)
		for _, k := range set.Keys {
			if k.Alg == gm.AlgES256 {
				kids = append(kids, k.Kid)
			}
		}
		return jwks, kids
	}
	reload := func(what string, done func() bool) {
		t.Helper()
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, what, done)
	}
	// requestKid opens a transaction and returns the kid of its request
	// object and of the verifier attestation it carries.
	requestKid := func() (obj, att string, created map[string]any) {
		t.Helper()
		code, created, _ := n.do("POST", "/v1/oid4vp/requests", s.rp, "application/json", `{"dcql_query": `+ageDCQL(n.base)+`}`)
		if code != 201 {
			t.Fatalf("create: %d %v", code, created)
		}
		code, ro := get(t, created["request_uri"].(string))
		if code != 200 {
			t.Fatalf("request object: %d %s", code, ro)
		}
		h := jwtHeader(t, ro)
		return h["kid"].(string), kidOf(h["jwt"].(string)), created
	}
	_, before := es256()
	if len(before) != 1 {
		t.Fatalf("ES256 keys before the rotation: %v", before)
	}
	oldKid := before[0]
	if obj, att, _ := requestKid(); obj != oldKid || att != oldKid {
		t.Fatalf("before the rotation the request object is signed by %s (attestation %s), want %s", obj, att, oldKid)
	}
	m := regexp.MustCompile(`new active ES256 key (\S+)`).FindStringSubmatch(n.cli("keys", "rotate", "ES256"))
	if m == nil {
		t.Fatal("keys rotate ES256: no new key")
	}
	newKid := m[1]
	reload("the JWKS listing the new key", func() bool { _, k := es256(); return slices.Contains(k, newKid) })
	if obj, att, _ := requestKid(); obj != newKid || att != newKid {
		t.Errorf("after the rotation and SIGHUP the request object is signed by %s (attestation %s), want the new key %s", obj, att, newKid)
	}
	n.cli("keys", "retire", "--", oldKid)
	reload("the JWKS without the old key", func() bool { _, k := es256(); return !slices.Contains(k, oldKid) })
	jwks, _ := es256()
	_, _, created := requestKid()
	req, err := s.holder.ResolvePresentationRequest(created["authorization_request"].(string), n.base, jwks)
	if err != nil {
		t.Fatalf("a wallet with the node's JWKS, after the old key's retirement: %v", err)
	}
	if _, err := req.Respond(s.creds, "age=age-1"); err != nil {
		t.Fatal(err)
	}
	if code, res, _ := n.do("GET", "/v1/oid4vp/requests/"+created["transaction_id"].(string), s.rp, "", ""); code != 200 || res["status"] != "verified" {
		t.Errorf("result: %d %v", code, res)
	}
}

// TestOID4VPResultHeadKeepsIt: a result is read once, deleted by the
// fetch that returns it (docs/oid4vp.md); HEAD, which carries no content
// (RFC 9110 §9.3.2) and is safe (§9.2.1: no state change requested),
// must not be that fetch: it is refused (405, Allow: GET) and the GET
// after it gets the result.
func TestOID4VPResultHeadKeepsIt(t *testing.T) {
	s := newOID4VPSetup(t)
	n := s.n
	code, created, _ := n.do("POST", "/v1/oid4vp/requests", s.rp, "application/json", `{"dcql_query": `+ageDCQL(s.n.base)+`}`)
	if code != 201 {
		t.Fatalf("create: %d %v", code, created)
	}
	req, err := s.holder.ResolvePresentationRequest(created["authorization_request"].(string), n.base, s.jwks)
	if err != nil {
		t.Fatal(err)
	}
	if err := req.Decline(); err != nil {
		t.Fatal(err)
	}
	path := "/v1/oid4vp/requests/" + created["transaction_id"].(string)
	if code, _, h := n.do("HEAD", path, s.rp, "", ""); code != http.StatusMethodNotAllowed || h.Get("Allow") != "GET" {
		t.Errorf("HEAD: %d, Allow %q", code, h.Get("Allow"))
	}
	// Another method's 405 lists what the route supports: not HEAD (RFC
	// 9110 §15.5.6).
	if code, _, h := n.do("PUT", path, s.rp, "", ""); code != http.StatusMethodNotAllowed || h.Get("Allow") != "GET" {
		t.Errorf("PUT: %d, Allow %q", code, h.Get("Allow"))
	}
	if code, res, _ := n.do("GET", path, s.rp, "", ""); code != 200 || res["status"] != "refused" {
		t.Fatalf("GET after a HEAD: %d %v: the HEAD took the result", code, res)
	}
}

// TestOID4VPRateClientFlag: --oid4vp-rate-client bounds the transactions
// one relying party opens (each kept its 5 minutes whether or not a
// wallet answers): over it 429 with Retry-After, while another party
// still opens one.
func TestOID4VPRateClientFlag(t *testing.T) {
	n := startAuthNode(t, "--oid4vp-rate-client", "2/1h")
	rp, other := n.addRP("shop-1"), n.addRP("shop-2")
	body := `{"dcql_query": ` + ageDCQL(n.base) + `}`
	for i := range 2 {
		if code, m, _ := n.do("POST", "/v1/oid4vp/requests", rp, "application/json", body); code != 201 {
			t.Fatalf("request %d: %d %v", i+1, code, m)
		}
	}
	if code, m, h := n.do("POST", "/v1/oid4vp/requests", rp, "application/json", body); code != 429 || m["error"] != "rate_limited" || h.Get("Retry-After") == "" {
		t.Fatalf("request 3: %d %v, Retry-After %q; want 429 rate_limited", code, m["error"], h.Get("Retry-After"))
	}
	if code, m, _ := n.do("POST", "/v1/oid4vp/requests", other, "application/json", body); code != 201 {
		t.Fatalf("another party: %d %v", code, m)
	}
}

// responseRecorder records what a wallet sends to the node's response
// endpoint: the JWE of a direct_post.jwt response, the presentations of
// a direct_post one.
type responseRecorder struct {
	base          http.RoundTripper
	jwes          []string
	presentations []string
}

func (r *responseRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPost && strings.HasPrefix(req.URL.Path, "/oid4vp/response/") {
		body, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, err
		}
		if jwe := form.Get("response"); jwe != "" {
			r.jwes = append(r.jwes, jwe)
		}
		if tok := form.Get("vp_token"); tok != "" {
			var m map[string][]string
			if err := json.Unmarshal([]byte(tok), &m); err != nil {
				return nil, err
			}
			for _, ps := range m {
				r.presentations = append(r.presentations, ps...)
			}
		}
	}
	return r.base.RoundTrip(req)
}
