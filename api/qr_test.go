package api

import (
	"bytes"
	"context"
	"crypto"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	zxqr "github.com/makiuchi-d/gozxing/qrcode"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/qrcode/redeem"
	"github.com/trustid-cn/trustid/store"
)

// qrTokens is a real bearer-token authorizer over a fixed table, standing
// in for the OAuth authorizer in these tests.
type qrTokens map[string]Principal

func (q qrTokens) Authorize(r *http.Request, scope string) (Principal, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	p, found := q[tok]
	if !ok || !found {
		return Principal{}, &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Message: "bad token"}
	}
	for _, s := range p.Scopes {
		if s == scope {
			return p, nil
		}
	}
	return Principal{}, &Error{Status: http.StatusForbidden, Code: "insufficient_scope", Message: "scope"}
}

type qrRPs map[string]redeem.RelyingParty

func (m qrRPs) RelyingParty(_ context.Context, id string) (redeem.RelyingParty, error) {
	if rp, ok := m[id]; ok {
		return rp, nil
	}
	return redeem.RelyingParty{}, qrcode.ErrUnknownVerifier
}

// qrPeerRPs is an in-memory trust registry of relying parties by home
// region and client ID, each with the one sector it holds.
type qrPeerRPs map[[2]string]redeem.RelyingParty

func (m qrPeerRPs) PeerParty(_ context.Context, region, id, sector string) (redeem.RelyingParty, error) {
	rp, ok := m[[2]string{region, id}]
	if !ok || rp.Sector != sector {
		return redeem.RelyingParty{}, qrcode.ErrUnknownVerifier
	}
	return rp, nil
}

// qrRegistryRPs: each test region's hotel, and a shop of region 440000,
// as the registry records them.
var qrRegistryRPs = qrPeerRPs{
	{"310000", "hotel-310000"}: {ClientID: "hotel-310000", Sector: "hotel.example", AllowedClaims: []string{"age_over_18"}},
	{"440000", "hotel-440000"}: {ClientID: "hotel-440000", Sector: "hotel.example", AllowedClaims: []string{"age_over_18"}},
	{"440000", "shop-440000"}:  {ClientID: "shop-440000", Sector: "shop.example", AllowedClaims: []string{"age_over_18"}},
}

// qrKeys is an in-memory registry of region keys: region → kid → key,
// each with the algorithm of its type, as the chaincode records it.
type qrKeys map[string]map[string]crypto.PublicKey

func (k qrKeys) RegionKey(_ context.Context, region, kid string) (crypto.PublicKey, string, error) {
	if pub, ok := k[region][kid]; ok {
		alg, err := gm.Alg(pub)
		return pub, alg, err
	}
	return nil, "", errors.New("no such region key")
}

type qrPairwise []byte

func (k qrPairwise) Pairwise(subject []byte, sector identity.Sector) (string, error) {
	if err := sector.Check(); err != nil {
		return "", err
	}
	msg := append([]byte{byte(sector.Kind)}, sector.Name+"\x00"...)
	return hex.EncodeToString(gm.HMACSM3(k, append(msg, subject...))[:16]), nil
}

type qrStatus struct {
	mu      sync.Mutex
	revoked map[qrcode.StatusRef]bool
}

// qrNoSuchList is a list number the test region has no list of (as
// enrollment.ListStatus answers one).
const qrNoSuchList = 0xdead

func (s *qrStatus) Status(_ context.Context, ref qrcode.StatusRef) (qrcode.Status, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ref.List == qrNoSuchList {
		return 0, fmt.Errorf("%w: no status list number %d", qrcode.ErrUnknownStatusList, ref.List)
	}
	if s.revoked[ref] {
		return qrcode.StatusRevoked, nil
	}
	return qrcode.StatusValid, nil
}

func (s *qrStatus) revoke(ref qrcode.StatusRef) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked[ref] = true
}

// peerURLs is a directory of other regions' node URLs (a
// redeem.PeerDirectory): a region missing from it is not active.
type peerURLs map[string]string

func (d peerURLs) PeerURL(region string) (string, error) {
	if u, ok := d[region]; ok {
		return u, nil
	}
	return "", errors.New("region not active")
}

// qrRegion is one region's node: its keys, store, service and server.
type qrRegion struct {
	region string
	key    *gm.PrivateKey
	kid    string
	issuer *qrcode.Issuer
	status *qrStatus
	srv    *httptest.Server
	logs   *bytes.Buffer
}

func newQRRegion(t *testing.T, region string, code uint32, seed byte, peers peerURLs, peerKeys qrKeys, configure ...func(*QRConfig)) *qrRegion {
	t.Helper()
	key, err := gm.NewPrivateKey(bytes.Repeat([]byte{seed}, 32))
	if err != nil {
		t.Fatal(err)
	}
	j, _ := gm.NewJWK(key.Public(), "")
	kid, _ := j.Thumbprint()
	mem, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mem.Close() })
	reg := &qrRegion{region: region, key: key, kid: kid, status: &qrStatus{revoked: map[qrcode.StatusRef]bool{}},
		issuer: &qrcode.Issuer{Signer: key, Kid: kid, Region: code}}
	nodeAuth := &redeem.NodeAssertions{Region: region, SigningKey: redeem.FixedKey(key, kid), Keys: peerKeys, Nonces: mem}
	svc, err := redeem.NewService(redeem.ServiceConfig{
		Region: region, Store: mem, Pairwise: qrPairwise("pairwise " + region), Status: reg.status,
		RelyingParties: qrRPs{
			"hotel-" + region: {ClientID: "hotel-" + region, Sector: "hotel.example", AllowedClaims: []string{"age_over_18"}},
			"shop-" + region:  {ClientID: "shop-" + region, Sector: "shop.example", AllowedClaims: []string{"age_over_18"}},
		},
		Peers: &redeem.HTTPPeers{Directory: peers, Credentials: nodeAuth, Answers: nodeAuth}, PeerParties: qrRegistryRPs,
	})
	if err != nil {
		t.Fatal(err)
	}
	v, err := qrcode.NewVerifier(qrcode.VerifierConfig{Keys: qrcode.StaticKeys{{Kid: kid, Public: key.Public()}}, Status: reg.status})
	if err != nil {
		t.Fatal(err)
	}
	s, logs := newTestServer(t, nil)
	s.SetAuthorizer(qrTokens{
		"tok-hotel-" + region: {ClientID: "hotel-" + region, Scopes: []string{auth.ScopeQRRedeem}, Region: region},
		"tok-shop-" + region:  {ClientID: "shop-" + region, Scopes: []string{auth.ScopeQRRedeem}, Region: region},
		"tok-noscope":         {ClientID: "hotel-" + region, Scopes: []string{auth.ScopeEnroll}},
	})
	cfg := QRConfig{
		Service: svc, Verifier: v, Peers: nodeAuth, PeerAnswers: nodeAuth,
		Holders: &redeem.BindingAuthenticator{Verifier: v, Nonces: mem, Region: region},
	}
	for _, f := range configure {
		f(&cfg)
	}
	if err := s.MountQR(cfg); err != nil {
		t.Fatal(err)
	}
	reg.srv = httptest.NewServer(s.Handler())
	reg.logs = logs
	t.Cleanup(reg.srv.Close)
	return reg
}

func qrPost(t *testing.T, url, token string, body any) (*http.Response, map[string]any) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case string:
		rd = strings.NewReader(b)
	default:
		data, _ := json.Marshal(b)
		rd = bytes.NewReader(data)
	}
	req, _ := http.NewRequest("POST", url, rd)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return doJSON(t, req)
}

// doJSON sends req and returns the response with its body decoded as a
// JSON object (nil when it is not one); the body is closed.
func doJSON(t *testing.T, req *http.Request) (*http.Response, map[string]any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp, m
}

// peerQR is region 310000 trusting region 440000's node key, with a
// binding it issued for a device key, for tests of the peer redeem route.
type peerQR struct {
	a       *qrRegion
	peer    *redeem.NodeAssertions // signs requests as region 440000's node
	device  *gm.PrivateKey
	binding []byte
}

// newPeerQR starts region 310000 (its QRConfig changed by configure)
// trusting the node key region 440000 gets from newQRRegion (seed 0x72),
// and issues a binding with claims.
func newPeerQR(t *testing.T, claims map[string]string, configure ...func(*QRConfig)) *peerQR {
	t.Helper()
	keyB, _ := gm.NewPrivateKey(bytes.Repeat([]byte{0x72}, 32))
	jb, _ := gm.NewJWK(keyB.Public(), "")
	kidB, _ := jb.Thumbprint()
	a := newQRRegion(t, "310000", 310000, 0x71, nil, qrKeys{"440000": {kidB: keyB.Public()}}, configure...)
	device, _ := gm.NewPrivateKey(bytes.Repeat([]byte{0x23}, 32))
	now := time.Now()
	binding, err := a.issuer.IssueBinding(qrcode.Binding{
		Subject: bytes.Repeat([]byte{0xc3}, 16), DeviceKey: device.PublicKey(), Assurance: qrcode.AssurancePIN,
		IssuedAt: now.Add(-time.Minute), Expiry: now.Add(time.Hour), Status: qrcode.StatusRef{List: 1, Index: 5},
		Claims: claims,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &peerQR{a: a, peer: &redeem.NodeAssertions{Region: "440000", SigningKey: redeem.FixedKey(keyB, kidB)}, device: device, binding: binding}
}

// keysOfA is region A's key as B's registry view has it.
func (p *peerQR) keysOfA() qrKeys {
	return qrKeys{"310000": {p.a.kid: p.a.key.Public()}}
}

// peerRedeem posts body to a's peer redeem route as region 440000's node.
func (p *peerQR) peerRedeem(t *testing.T, body []byte) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", p.a.srv.URL+redeem.PeerRedeemPath, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if err := p.peer.Authorize(context.Background(), req, "310000"); err != nil {
		t.Fatal(err)
	}
	return doJSON(t, req)
}

// TestQRTwoRegions runs two real nodes: a holder of region A gets an
// online code from A; a hotel registered at region B redeems it at B,
// which forwards to A with a node assertion.
func TestQRTwoRegions(t *testing.T) {
	// Keys are deterministic, so A (newPeerQR) trusts B's node key before
	// B exists; B is told A's URL.
	p := newPeerQR(t, map[string]string{"age_over_18": "true", "resident": "yes"})
	a, device, binding := p.a, p.device, p.binding
	b := newQRRegion(t, "440000", 440000, 0x72, peerURLs{"310000": a.srv.URL}, p.keysOfA())

	nonce := byte(0)
	holderReq := func(region string, consent ...string) *qrcode.HolderRequest {
		nonce++
		r := &qrcode.HolderRequest{Purpose: qrcode.PurposeOnlineCode, Binding: binding, Time: time.Now().Unix(), Nonce: bytes.Repeat([]byte{nonce}, 16), Region: region, Consent: consent}
		if err := qrcode.SignHolderRequest(nil, device, r); err != nil {
			t.Fatal(err)
		}
		return r
	}

	resp, m := qrPost(t, a.srv.URL+"/v1/qr", "", holderReq("310000", "age_over_18", "resident"))
	if resp.StatusCode != 201 || m["region"] != "310000" || m["expires_in"] != float64(60) {
		t.Fatalf("issue: %d %v", resp.StatusCode, m)
	}
	code := m["code"].(string)
	if v, _ := qrcode.QRVersion(code, qrcode.Medium); v > 6 {
		t.Errorf("online code needs version %d", v)
	}

	// Redeem at B: forwarded to A.
	resp, m = qrPost(t, b.srv.URL+"/v1/qr/verify", "tok-hotel-440000", map[string]string{"code": code})
	if resp.StatusCode != 200 || m["region"] != "310000" || m["assurance_level"] != float64(3) || m["pairwise_id"] == "" {
		t.Fatalf("cross-region redeem: %d %v", resp.StatusCode, m)
	}
	if c := m["claims"].(map[string]any); len(c) != 1 || c["age_over_18"] != "true" {
		t.Errorf("claims released: %v", c)
	}
	// Reused, at either node.
	for _, u := range []string{b.srv.URL, a.srv.URL} {
		tok := "tok-hotel-440000"
		if u == a.srv.URL {
			tok = "tok-hotel-310000"
		}
		if resp, m := qrPost(t, u+"/v1/qr/verify", tok, map[string]string{"code": code}); resp.StatusCode != 409 || m["error"] != "qr_code_used" {
			t.Errorf("reuse at %s: %d %v", u, resp.StatusCode, m)
		}
	}

	for name, c := range map[string]struct {
		url, token string
		body       any
		status     int
		code       string
	}{
		"no token":         {b.srv.URL + "/v1/qr/verify", "", map[string]string{"code": code}, 401, "invalid_token"},
		"wrong scope":      {b.srv.URL + "/v1/qr/verify", "tok-noscope", map[string]string{"code": code}, 403, "insufficient_scope"},
		"garbage":          {b.srv.URL + "/v1/qr/verify", "tok-hotel-440000", map[string]string{"code": "hello"}, 400, "qr_malformed"},
		"bad base45":       {b.srv.URL + "/v1/qr/verify", "tok-hotel-440000", map[string]string{"code": "TIDON1:abc"}, 400, "qr_malformed"},
		"version":          {b.srv.URL + "/v1/qr/verify", "tok-hotel-440000", map[string]string{"code": "TIDON9:00"}, 400, "qr_unsupported_version"},
		"oversized":        {b.srv.URL + "/v1/qr/verify", "tok-hotel-440000", map[string]string{"code": "TIDON1:" + strings.Repeat("0", 300)}, 413, "qr_too_large"},
		"unknown field":    {b.srv.URL + "/v1/qr/verify", "tok-hotel-440000", `{"code":"x","extra":1}`, 400, CodeInvalidRequest},
		"two objects":      {b.srv.URL + "/v1/qr/verify", "tok-hotel-440000", `{"code":"x"}{}`, 400, CodeInvalidRequest},
		"no route":         {b.srv.URL + "/v1/qr/verify", "tok-hotel-440000", map[string]string{"code": (qrcode.OnlineCode{Region: 110000}).String()}, 422, "qr_no_route"},
		"never issued":     {a.srv.URL + "/v1/qr/verify", "tok-hotel-310000", map[string]string{"code": (qrcode.OnlineCode{Region: 310000}).String()}, 409, "qr_code_used"},
		"static as online": {a.srv.URL + "/v1/qr/verify", "tok-hotel-310000", map[string]string{"code": "TIDST1:00"}, 400, "qr_wrong_kind"},
		"holder replay":    {a.srv.URL + "/v1/qr", "", nil, 403, "qr_holder_unauthorized"},
		"holder elsewhere": {b.srv.URL + "/v1/qr", "", holderReq("310000"), 403, "qr_holder_unauthorized"},
		"bad consent":      {a.srv.URL + "/v1/qr", "", holderReq("310000", "name"), 400, "qr_invalid_consent"},
		"peer no auth":     {a.srv.URL + redeem.PeerRedeemPath, "", map[string]any{"code": code}, 401, "qr_peer_unauthorized"},

		// With an action (offline codes only), a text that is not a
		// code of a kind this node reads is refused for what it is.
		"online with an action":      {b.srv.URL + "/v1/qr/verify", "tok-hotel-440000", map[string]string{"code": code, "action": "pickup"}, 400, CodeInvalidRequest},
		"version 1 with an action":   {b.srv.URL + "/v1/qr/verify", "tok-hotel-440000", map[string]string{"code": "TIDOFF1:00", "action": "pickup"}, 400, "qr_unsupported_version"},
		"oversized with an action":   {b.srv.URL + "/v1/qr/verify", "tok-hotel-440000", map[string]string{"code": "TIDON1:" + strings.Repeat("0", 300), "action": "pickup"}, 413, "qr_too_large"},
		"not a code, with an action": {b.srv.URL + "/v1/qr/verify", "tok-hotel-440000", map[string]string{"code": "hello", "action": "pickup"}, 400, "qr_malformed"},
	} {
		body := c.body
		if name == "holder replay" {
			r := holderReq("310000")
			qrPost(t, c.url, "", r)
			body = r
		}
		resp, m := qrPost(t, c.url, c.token, body)
		if resp.StatusCode != c.status || m["error"] != c.code {
			t.Errorf("%s: %d %v, want %d %s", name, resp.StatusCode, m, c.status, c.code)
		}
		// A challenge only with a 401, and only of the scheme the route
		// takes: a holder's request is authenticated by its device
		// signature, in the body, which no HTTP authentication scheme
		// carries (RFC 9110 §15.5.2).
		if ch := resp.Header.Get("WWW-Authenticate"); (c.status == 401) != (ch != "") || ch != "" && !strings.HasPrefix(ch, "Bearer") {
			t.Errorf("%s: %d with WWW-Authenticate %q", name, resp.StatusCode, ch)
		}
	}

	// Revocation takes effect at once (expiry is tested with an injected
	// clock in package qrcode).
	_, m = qrPost(t, a.srv.URL+"/v1/qr", "", holderReq("310000"))
	before := m["code"].(string)
	a.status.revoke(qrcode.StatusRef{Region: 310000, List: 1, Index: 5})
	if resp, m := qrPost(t, a.srv.URL+"/v1/qr", "", holderReq("310000")); resp.StatusCode != 403 || m["error"] != "qr_revoked" {
		t.Errorf("revoked binding: %d %v", resp.StatusCode, m)
	}
	// A code issued before the revocation, forwarded by B: A refuses it,
	// and B tells its verifier so (docs/qr.md).
	if resp, m := qrPost(t, b.srv.URL+"/v1/qr/verify", "tok-hotel-440000", map[string]string{"code": before}); resp.StatusCode != 403 || m["error"] != "qr_revoked" {
		t.Errorf("forwarded code of a revoked binding: %d %v", resp.StatusCode, m)
	}
	// No code, binding or assertion reaches a log.
	for _, reg := range []*qrRegion{a, b} {
		if l := reg.logs.String(); strings.Contains(l, "TIDON1") || strings.Contains(l, code[7:20]) || strings.Contains(l, "Bearer") || !strings.Contains(l, "qr_code_used") {
			t.Errorf("region %s logs:\n%s", reg.region, l)
		}
	}
}

func TestQRStaticRendering(t *testing.T) {
	a := newQRRegion(t, "310000", 310000, 0x71, nil, nil)
	now := time.Now()
	st, err := a.issuer.IssueStatic(qrcode.Static{
		Subject: bytes.Repeat([]byte{0xc3}, 16), MaskedName: "李**", MaskedNumber: "3101**********002X", DocType: 1,
		PhotoHint: "ID card photo", Assurance: 4, IssuedAt: now.Add(-time.Hour), Expiry: now.AddDate(5, 0, 0),
		Status: qrcode.StatusRef{List: 2, Index: 3},
	})
	if err != nil {
		t.Fatal(err)
	}
	get := func(form string) (*http.Response, []byte) {
		resp, err := http.Post(a.srv.URL+"/v1/qr/static", "application/x-www-form-urlencoded", strings.NewReader(form))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	q := "code=" + urlEscape(st)
	resp, body := get(q + "&format=png&size=400")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("png: %d %s", resp.StatusCode, body)
	}
	img, err := png.Decode(bytes.NewReader(body))
	if err != nil || img.Bounds().Dx() != 400 {
		t.Fatalf("png decode: %v", err)
	}
	bmp, _ := gozxing.NewBinaryBitmapFromImage(img)
	res, err := zxqr.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: true})
	if err != nil || res.GetText() != st {
		t.Fatalf("scanned %v, %v", res, err)
	}
	if resp, body := get(q + "&format=svg"); resp.StatusCode != 200 || !bytes.HasPrefix(body, []byte("<?xml")) {
		t.Errorf("svg: %d", resp.StatusCode)
	}
	for _, bad := range []string{q + "&size=10", q + "&size=99999", q + "&format=gif", q + "&size=abc", q + "&code=x", "code=hello", "code=TIDST1:ZZ"} {
		if resp, body := get(bad); resp.StatusCode != 400 {
			t.Errorf("%.60s: %d %s", bad, resp.StatusCode, body)
		}
	}
	// A size in the range that cannot hold a code's modules says so,
	// with the least size that can, not a bare "invalid argument": a
	// code with a sealed PIN verifier (as enrollment prints them, QR
	// version 12) needs more than the least size.
	pinned, err := a.issuer.IssueStatic(qrcode.Static{
		Subject: bytes.Repeat([]byte{0xc3}, 16), MaskedName: "李**", MaskedNumber: "3101**********002X", DocType: 1,
		Assurance: 3, IssuedAt: now.Add(-time.Hour), Expiry: now.AddDate(5, 0, 0),
		Status: qrcode.StatusRef{List: 2, Index: 3}, SealedPIN: bytes.Repeat([]byte{0x5a}, 70),
	})
	if err != nil {
		t.Fatal(err)
	}
	bc, err := qrcode.Encode(pinned, qrcode.Medium)
	if err != nil {
		t.Fatal(err)
	}
	if bc.Modules <= qrcode.MinImageSize {
		t.Fatalf("the code has %d modules: no size in range too small for it", bc.Modules)
	}
	resp, body = get("code=" + urlEscape(pinned) + "&size=" + strconv.Itoa(qrcode.MinImageSize))
	if want := "size must be at least " + strconv.Itoa(bc.Modules) + " pixels"; resp.StatusCode != 400 || !strings.Contains(string(body), want) {
		t.Errorf("size %d for %d modules: %d %s, want 400 saying %q", qrcode.MinImageSize, bc.Modules, resp.StatusCode, body, want)
	}
	// The code never in a URL: not in the query, not by GET.
	for _, bad := range []struct {
		method, path string
		want         int
	}{{"POST", "/v1/qr/static?" + q, 400}, {"GET", "/v1/qr/static?" + q, 405}} {
		req, _ := http.NewRequest(bad.method, a.srv.URL+bad.path, strings.NewReader(q))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != bad.want {
			t.Errorf("%s %.40s: %d, want %d", bad.method, bad.path, resp.StatusCode, bad.want)
		}
	}
	// A code of a key the node does not trust, or not signed by the key
	// it names: refused as a revoked one is, 403, with no challenge: the
	// route takes no HTTP authentication scheme (RFC 9110 §15.5.2), and
	// the code's signature is no credential of the caller's (it was 401
	// with WWW-Authenticate: Bearer error="qr_unknown_key").
	stranger, err := gm.NewPrivateKey(bytes.Repeat([]byte{0x72}, 32))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		kid, code string
	}{{"stranger", "qr_unknown_key"}, {a.kid, "qr_bad_signature"}} {
		forged, err := (&qrcode.Issuer{Signer: stranger, Kid: c.kid, Region: 310000}).IssueStatic(qrcode.Static{
			Subject: bytes.Repeat([]byte{0xc3}, 16), MaskedName: "李**", MaskedNumber: "3101**********002X", DocType: 1,
			Assurance: 4, IssuedAt: now.Add(-time.Hour), Expiry: now.AddDate(5, 0, 0), Status: qrcode.StatusRef{List: 2, Index: 3},
		})
		if err != nil {
			t.Fatal(err)
		}
		resp, body := get("code=" + urlEscape(forged))
		if resp.StatusCode != 403 || !strings.Contains(string(body), `"error":"`+c.code+`"`) || resp.Header.Get("WWW-Authenticate") != "" {
			t.Errorf("a code signed by a stranger, kid %s: %d %v %s", c.kid, resp.StatusCode, resp.Header, body)
		}
	}
	a.status.revoke(qrcode.StatusRef{Region: 310000, List: 2, Index: 3})
	if resp, body := get(q); resp.StatusCode != 403 || !strings.Contains(string(body), "qr_revoked") {
		t.Errorf("revoked static code rendered: %d %s", resp.StatusCode, body)
	}
	// A code whose list its region does not have: refused for good (not
	// a 503 to retry), logged as a refusal, not an error.
	orphan, err := a.issuer.IssueStatic(qrcode.Static{
		Subject: bytes.Repeat([]byte{0xc4}, 16), MaskedName: "李**", MaskedNumber: "3101**********002X", DocType: 1,
		Assurance: 4, IssuedAt: now.Add(-time.Hour), Expiry: now.AddDate(5, 0, 0), Status: qrcode.StatusRef{List: qrNoSuchList, Index: 3},
	})
	if err != nil {
		t.Fatal(err)
	}
	a.logs.Reset()
	if resp, body := get("code=" + urlEscape(orphan)); resp.StatusCode != 422 || !strings.Contains(string(body), `"error":"qr_unknown_status_list"`) {
		t.Errorf("a code of an unknown list: %d %s", resp.StatusCode, body)
	}
	if l := a.logs.String(); !strings.Contains(l, "qr_unknown_status_list") || strings.Contains(l, "ERROR") {
		t.Errorf("logs:\n%s", l)
	}
}

func urlEscape(s string) string {
	r := strings.NewReplacer("%", "%25", "+", "%2B", " ", "%20", "$", "%24", "/", "%2F", ":", "%3A", "*", "%2A")
	return r.Replace(s)
}

// TestQRErrorCodesMatch: the codes the api sends are those the peer
// client reads back.
func TestQRErrorCodesMatch(t *testing.T) {
	for _, err := range []error{qrcode.ErrCodeUsed, qrcode.ErrCodeExpired, qrcode.ErrRevoked, qrcode.ErrSuspended, qrcode.ErrWrongRegion, qrcode.ErrNoRoute,
		qrcode.ErrUnknownVerifier, qrcode.ErrPeerAuth, qrcode.ErrTooLarge, qrcode.ErrPrefix, qrcode.ErrVersion, qrcode.ErrKind, qrcode.ErrMalformed, fmt.Errorf("%w: %w", qrcode.ErrMalformed, qrcode.ErrNonCanonical), qrcode.ErrUnavailable,
		qrcode.ErrDelegationScope, qrcode.ErrDelegationExpired, qrcode.ErrDelegation, qrcode.ErrUnknownStatusList,
		qrcode.ErrReplayed, qrcode.ErrCloneSuspected, qrcode.ErrBindingExpired, qrcode.ErrUnknownKey, qrcode.ErrSignature,
		qrcode.ErrStale, qrcode.ErrChallenge, qrcode.ErrAudience, qrcode.ErrConsent, qrcode.ErrHolderAuth, qrcode.ErrPeer} {
		if got, want := mapError(err).Code, qrcode.ErrorCode(err); got != want {
			t.Errorf("%v: api code %q, peer code %q", err, got, want)
		}
	}
	// Every qr_ code the api sends reads back as a sentinel (the SDKs'
	// errors unwrap to it), qr_peer_failed (qrcode.ErrPeer) included; the
	// peer client does not take it for a refusal (TestPeerFailureIsNotARefusal).
	for _, m := range qrErrors {
		if strings.HasPrefix(m.code, "qr_") && qrcode.ErrorFromCode(m.code) == nil {
			t.Errorf("%s (%v) does not read back as a qrcode sentinel", m.code, m.err)
		}
	}
	for _, m := range qrErrors {
		if e := mapError(m.err); e.Status >= 500 && !errors.Is(m.err, qrcode.ErrUnavailable) && !errors.Is(m.err, qrcode.ErrStatusUnavailable) && !errors.Is(m.err, qrcode.ErrPeer) {
			t.Errorf("%v maps to %d", m.err, e.Status)
		}
	}
}

// TestQRRateLimits: the three QR routes open to unauthenticated callers
// are limited per source address, each with its own budget, when a
// limiter is given; the default limits apply unless configured.
func TestQRRateLimits(t *testing.T) {
	newMem := func() *store.Memory {
		m, err := store.NewMemory(store.MemoryOptions{Now: frozenClock})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	}
	small := RateLimit{Limit: 2, Window: time.Minute}
	a := newQRRegion(t, "310000", 310000, 0x71, nil, nil, func(c *QRConfig) {
		c.Limiter, c.Limits = newMem(), &QRLimits{Issue: small, Static: small, PeerRedeem: small}
	})
	send := func(r *qrRegion, method, path string) *http.Response {
		req, _ := http.NewRequest(method, r.srv.URL+path, strings.NewReader(`{}`))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	routes := [][2]string{{"POST", "/v1/qr"}, {"POST", "/v1/qr/static"}, {"POST", redeem.PeerRedeemPath}}
	for _, rt := range routes {
		for i := range 2 {
			if resp := send(a, rt[0], rt[1]); resp.StatusCode == http.StatusTooManyRequests {
				t.Fatalf("%s %s: request %d limited", rt[0], rt[1], i)
			}
		}
		resp := send(a, rt[0], rt[1])
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("%s %s over the limit: %d", rt[0], rt[1], resp.StatusCode)
		}
	}
	// The token-protected redemption is not limited by address.
	for range 3 {
		if resp := send(a, "POST", "/v1/qr/verify"); resp.StatusCode == http.StatusTooManyRequests {
			t.Fatal("POST /v1/qr/verify limited by address")
		}
	}
	// Defaults: POST /v1/qr/static allows DefaultQRLimits.Static.Limit.
	b := newQRRegion(t, "310000", 310000, 0x71, nil, nil, func(c *QRConfig) { c.Limiter = newMem() })
	for i := range DefaultQRLimits.Static.Limit {
		if resp := send(b, "POST", "/v1/qr/static"); resp.StatusCode == http.StatusTooManyRequests {
			t.Fatalf("request %d under the default limit", i)
		}
	}
	if resp := send(b, "POST", "/v1/qr/static"); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("over the default limit: %d", resp.StatusCode)
	}
	// Without a limiter (the QR load test), nothing is counted.
	c := newQRRegion(t, "310000", 310000, 0x71, nil, nil)
	for range DefaultQRLimits.Static.Limit + 5 {
		if resp := send(c, "POST", "/v1/qr/static"); resp.StatusCode == http.StatusTooManyRequests {
			t.Fatal("limited without a limiter")
		}
	}
}

// issue gets an online code of region 310000 for p's holder, the nth
// (each a nonce of its own).
func (p *peerQR) issue(t *testing.T, n byte) string {
	t.Helper()
	hr := &qrcode.HolderRequest{Purpose: qrcode.PurposeOnlineCode, Binding: p.binding, Time: time.Now().Unix(), Nonce: bytes.Repeat([]byte{0x80 + n}, 16), Region: "310000"}
	if err := qrcode.SignHolderRequest(nil, p.device, hr); err != nil {
		t.Fatal(err)
	}
	resp, m := qrPost(t, p.a.srv.URL+"/v1/qr", "", hr)
	if resp.StatusCode != 201 {
		t.Fatalf("issue: %d %v", resp.StatusCode, m)
	}
	return m["code"].(string)
}

// TestQRVerifyLimitedPerClient: POST /v1/qr/verify counts each client's
// redemptions (QRConfig.ForwardLimit) before the code is looked at, so a
// relying party of region 440000 posting made-up codes of region 310000
// is refused 429 rate_limited with Retry-After at its own node once over
// its limit, and what it is refused is neither forwarded nor spent: the
// real code it sent then is redeemed at its region (SECURITY.md, known
// gap 26: the party's codes were all forwarded, and used up what the
// other region grants its node).
func TestQRVerifyLimitedPerClient(t *testing.T) {
	p := newPeerQR(t, nil)
	code := p.issue(t, 1)
	limiter, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { limiter.Close() })
	b := newQRRegion(t, "440000", 440000, 0x72, peerURLs{"310000": p.a.srv.URL}, p.keysOfA(), func(c *QRConfig) {
		c.Limiter, c.ForwardLimit = limiter, &RateLimit{Limit: 2, Window: time.Hour}
	})
	for i := range 2 {
		madeUp := (qrcode.OnlineCode{Region: 310000, Ref: [16]byte{byte(i + 1)}}).String()
		if resp, m := qrPost(t, b.srv.URL+"/v1/qr/verify", "tok-hotel-440000", map[string]string{"code": madeUp}); resp.StatusCode != 409 || m["error"] != "qr_code_used" {
			t.Fatalf("made-up code %d: %d %v", i+1, resp.StatusCode, m)
		}
	}
	resp, m := qrPost(t, b.srv.URL+"/v1/qr/verify", "tok-hotel-440000", map[string]string{"code": code})
	if resp.StatusCode != 429 || m["error"] != CodeRateLimited || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("over the client's limit: %d %v, Retry-After %q", resp.StatusCode, m, resp.Header.Get("Retry-After"))
	}
	body, _ := json.Marshal(redeem.PeerRedeemRequest{Code: code, ClientID: "hotel-440000", Sector: "hotel.example"})
	if resp, m := p.peerRedeem(t, body); resp.StatusCode != 200 || m["pairwise_id"] == "" {
		t.Fatalf("the refused code, redeemed after: %d %v", resp.StatusCode, m)
	}
}

// TestQRForwardShare: B's clients share what B forwards to a region
// beyond each one's floor (QRConfig.ForwardRegion, ForwardFloor): a
// party at its limit uses up the shared part and is refused at B, 429
// with Retry-After and nothing forwarded (its code is redeemed at A
// after), while another party is still served its floor, and beyond it
// shares the used-up budget; the budget is per region. Before (SECURITY.md, known gap 26), B forwarded
// every code within each party's own limit, so parties at their limits
// used up A's grant to B and A refused B's other parties.
func TestQRForwardShare(t *testing.T) {
	limiter, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { limiter.Close() })
	p := newPeerQR(t, nil)
	b := newQRRegion(t, "440000", 440000, 0x72, peerURLs{"310000": p.a.srv.URL}, p.keysOfA(), func(c *QRConfig) {
		c.Limiter = limiter
		c.ForwardFloor, c.ForwardRegion = &RateLimit{Limit: 1, Window: time.Hour}, &RateLimit{Limit: 2, Window: time.Hour}
	})
	verify := func(token, code string) (*http.Response, map[string]any) {
		return qrPost(t, b.srv.URL+"/v1/qr/verify", token, map[string]string{"code": code})
	}
	// The hotel's floor, then the two shared.
	for i := range 3 {
		madeUp := (qrcode.OnlineCode{Region: 310000, Ref: [16]byte{byte(i + 1)}}).String()
		if resp, m := verify("tok-hotel-440000", madeUp); resp.StatusCode != 409 || m["error"] != "qr_code_used" {
			t.Fatalf("the hotel's code %d, forwarded: %d %v", i+1, resp.StatusCode, m)
		}
	}
	code := p.issue(t, 1)
	if resp, m := verify("tok-hotel-440000", code); resp.StatusCode != 429 || m["error"] != CodeRateLimited || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("the hotel beyond its floor and the shared budget: %d %v, Retry-After %q", resp.StatusCode, m, resp.Header.Get("Retry-After"))
	}
	if resp, m := verify("tok-shop-440000", p.issue(t, 2)); resp.StatusCode != 200 || m["pairwise_id"] == "" {
		t.Fatalf("the shop within its floor: %d %v", resp.StatusCode, m)
	}
	if resp, m := verify("tok-shop-440000", p.issue(t, 3)); resp.StatusCode != 429 || m["error"] != CodeRateLimited {
		t.Fatalf("the shop beyond its floor, the shared budget used up: %d %v", resp.StatusCode, m)
	}
	if resp, m := qrPost(t, p.a.srv.URL+"/v1/qr/verify", "tok-hotel-310000", map[string]string{"code": code}); resp.StatusCode != 200 {
		t.Fatalf("the hotel's refused code, not forwarded, redeemed at A after: %d %v", resp.StatusCode, m)
	}
	// Another region's budget is its own: the hotel is within its floor
	// there (no such region: B cannot route it).
	other := (qrcode.OnlineCode{Region: 320000, Ref: [16]byte{9}}).String()
	if resp, m := verify("tok-hotel-440000", other); resp.StatusCode != 422 || m["error"] != "qr_no_route" {
		t.Fatalf("another region's code: %d %v", resp.StatusCode, m)
	}
}

// TestQRPeerRedeemLimitedPerRegionAndParty: the peer route counts an
// authenticated node's calls per calling region and the party the
// request names (QRLimits.PeerParty), then per region
// (QRLimits.PeerRegion), before anything is redeemed: one party of
// region 440000 over its limit is refused 429 (signed, with Retry-After
// and the same wait in its body, retry_after, which the signature
// covers) while another party of the region is still served; its refused calls
// and calls that fail authentication do not count against the region;
// a call refused for the region spends nothing. Before (SECURITY.md,
// known gap 26), every call counted against one limit per address,
// before authentication, so one party used up its region's.
func TestQRPeerRedeemLimitedPerRegionAndParty(t *testing.T) {
	limiter, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { limiter.Close() })
	p := newPeerQR(t, nil, func(c *QRConfig) {
		c.Limiter, c.Limits = limiter, &QRLimits{
			PeerRedeem: RateLimit{Limit: 100, Window: time.Hour},
			PeerParty:  RateLimit{Limit: 2, Window: time.Hour},
			PeerRegion: RateLimit{Limit: 3, Window: time.Hour},
		}
	})
	redeemFor := func(party, sector, code string) (*http.Response, map[string]any) {
		body, _ := json.Marshal(redeem.PeerRedeemRequest{Code: code, ClientID: party, Sector: sector})
		return p.peerRedeem(t, body)
	}
	// Assertions that fail (another key under region 440000's kid) do
	// not count against the region.
	forger, _ := gm.NewPrivateKey(bytes.Repeat([]byte{0x99}, 32))
	_, kidB, _ := p.peer.SigningKey()
	forged := &redeem.NodeAssertions{Region: "440000", SigningKey: redeem.FixedKey(forger, kidB)}
	for range 4 {
		body, _ := json.Marshal(redeem.PeerRedeemRequest{Code: (qrcode.OnlineCode{Region: 310000}).String(), ClientID: "hotel-440000", Sector: "hotel.example"})
		req, _ := http.NewRequest("POST", p.a.srv.URL+redeem.PeerRedeemPath, bytes.NewReader(body))
		if err := forged.Authorize(context.Background(), req, "310000"); err != nil {
			t.Fatal(err)
		}
		if resp, m := doJSON(t, req); resp.StatusCode != 401 || m["error"] != "qr_peer_unauthorized" {
			t.Fatalf("forged assertion: %d %v", resp.StatusCode, m)
		}
	}
	for i := range 2 {
		madeUp := (qrcode.OnlineCode{Region: 310000, Ref: [16]byte{byte(i + 1)}}).String()
		if resp, m := redeemFor("hotel-440000", "hotel.example", madeUp); resp.StatusCode != 409 || m["error"] != "qr_code_used" {
			t.Fatalf("made-up code %d: %d %v", i+1, resp.StatusCode, m)
		}
	}
	resp, m := redeemFor("hotel-440000", "hotel.example", p.issue(t, 1))
	if resp.StatusCode != 429 || m["error"] != CodeRateLimited || m["limit"] != redeem.PeerLimitParty || resp.Header.Get("Retry-After") == "" ||
		resp.Header.Get("Retry-After") != fmt.Sprint(m["retry_after"]) || resp.Header.Get(redeem.PeerAnswerHeader) == "" {
		t.Fatalf("the party over its limit: %d %v, Retry-After %q", resp.StatusCode, m, resp.Header.Get("Retry-After"))
	}
	if resp, m := redeemFor("shop-440000", "shop.example", p.issue(t, 2)); resp.StatusCode != 200 || m["pairwise_id"] == "" {
		t.Fatalf("another party of the region: %d %v", resp.StatusCode, m)
	}
	code := p.issue(t, 3)
	if resp, m := redeemFor("shop-440000", "shop.example", code); resp.StatusCode != 429 || m["error"] != CodeRateLimited || m["limit"] != redeem.PeerLimitRegion ||
		resp.Header.Get("Retry-After") != fmt.Sprint(m["retry_after"]) {
		t.Fatalf("over the region's limit: %d %v", resp.StatusCode, m)
	}
	if resp, m := qrPost(t, p.a.srv.URL+"/v1/qr/verify", "tok-hotel-310000", map[string]string{"code": code}); resp.StatusCode != 200 {
		t.Fatalf("the code refused for the region, redeemed after: %d %v", resp.StatusCode, m)
	}
}

// TestQRPeerLimitReachesTheParty: region A's signed 429 to B's node (B's
// party over what A grants it) reaches the party at B as 429
// rate_limited with Retry-After, A's wait (within 1 s and
// redeem.MaxPeerRetryAfter), as B's own limit would; the code is not
// spent: a party of A redeems it after. It was 503
// temporarily_unavailable without Retry-After (SECURITY.md, known gap 26).
// B's log names the party A refused, with A's region and wait; it named
// neither party nor wait in its own fields, only the region in the
// error's text. It names the limit of A's that refused it, the party's
// or the region's, which A's signed answer names (session 33: it did
// not say which). The wait is the one A signs in its answer's body: a
// relay between B and A that changes the Retry-After header does not
// change it (session 33: B took the header, which the signature does not
// cover). A's limit per address, which refuses B's call before A
// checks B's assertion, so unsigned, reaches the party the same way with
// the header's wait, the one it has, and B's log names it
// (redeem.PeerLimitAddress; session 33: 503 without Retry-After).
func TestQRPeerLimitReachesTheParty(t *testing.T) {
	for limit, limits := range map[string]QRLimits{
		// A grants each party of B one redemption per 10 s,
		redeem.PeerLimitParty: {PeerParty: RateLimit{Limit: 1, Window: 10 * time.Second}},
		// or B's region as a whole,
		redeem.PeerLimitRegion: {PeerRegion: RateLimit{Limit: 1, Window: 10 * time.Second}},
		// or B's node's address.
		redeem.PeerLimitAddress: {PeerRedeem: RateLimit{Limit: 1, Window: 10 * time.Second}},
	} {
		t.Run(limit, func(t *testing.T) {
			testQRPeerLimitReachesTheParty(t, limits, limit)
		})
	}
}

// testQRPeerLimitReachesTheParty runs TestQRPeerLimitReachesTheParty
// with A's limits, of which limit refuses B's second redemption.
func testQRPeerLimitReachesTheParty(t *testing.T, limits QRLimits, limit string) {
	limiter, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { limiter.Close() })
	p := newPeerQR(t, nil, func(c *QRConfig) {
		c.Limiter, c.Limits = limiter, &limits
	})
	// B reaches A through a relay that asks every refused call to wait
	// 45 s, whatever A said.
	const relayed = 45
	target, _ := url.Parse(p.a.srv.URL)
	relay := httputil.NewSingleHostReverseProxy(target)
	relay.ModifyResponse = func(resp *http.Response) error {
		if resp.StatusCode == http.StatusTooManyRequests {
			resp.Header.Set("Retry-After", strconv.Itoa(relayed))
		}
		return nil
	}
	relaySrv := httptest.NewServer(relay)
	t.Cleanup(relaySrv.Close)
	b := newQRRegion(t, "440000", 440000, 0x72, peerURLs{"310000": relaySrv.URL}, p.keysOfA())
	verifyAtB := func(code string) (*http.Response, map[string]any) {
		return qrPost(t, b.srv.URL+"/v1/qr/verify", "tok-hotel-440000", map[string]string{"code": code})
	}
	if resp, m := verifyAtB(p.issue(t, 1)); resp.StatusCode != 200 {
		t.Fatalf("within A's limit: %d %v", resp.StatusCode, m)
	}
	code := p.issue(t, 2)
	resp, m := verifyAtB(code)
	secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	// A signs a wait within its 10 s window; its unsigned answer has
	// only the relay's.
	signed := limit != redeem.PeerLimitAddress
	if resp.StatusCode != 429 || m["error"] != CodeRateLimited || err != nil || signed && (secs < 1 || secs > 10) || !signed && secs != relayed {
		t.Fatalf("over A's limit: %d %v, Retry-After %q", resp.StatusCode, m, resp.Header.Get("Retry-After"))
	}
	var logged map[string]any
	for line := range strings.Lines(b.logs.String()) {
		var l map[string]any
		if json.Unmarshal([]byte(line), &l) == nil && l["msg"] == "another region refused a forwarded redemption for its limits" {
			logged = l
		}
	}
	if logged["level"] != "WARN" || logged["client_id"] != "hotel-440000" || logged["region"] != "310000" || logged["limit"] != limit ||
		logged["retry_after"] != float64(time.Duration(secs)*time.Second) || logged["request_id"] == nil {
		t.Errorf("B's log of A's refusal: %v, want the party, A's region, its limit %s and its Retry-After (%d s)", logged, limit, secs)
	}
	if resp, m := qrPost(t, p.a.srv.URL+"/v1/qr/verify", "tok-hotel-310000", map[string]string{"code": code}); resp.StatusCode != 200 {
		t.Fatalf("the code refused by A's limit, redeemed after: %d %v", resp.StatusCode, m)
	}
}

// TestQRDefaultLimitsNest: what a node lets one relying party redeem
// (DefaultQRForwardLimit) is below what another region's node grants one
// party (PeerParty), which is below what it grants the party's region
// (PeerRegion), which is below what it lets one address send before the
// node assertion is checked (PeerRedeem): a party within its limit is
// never refused at the other region, one party cannot use up its
// region's grant, and a region's node is held by its region's limit, not
// by its address's (SECURITY.md, known gap 26).
func TestQRDefaultLimitsNest(t *testing.T) {
	perMinute := func(rl RateLimit) float64 { return float64(rl.Limit) / rl.Window.Minutes() }
	l := DefaultQRLimits
	chain := []RateLimit{DefaultQRForwardLimit, l.PeerParty, l.PeerRegion, l.PeerRedeem}
	for i := 1; i < len(chain); i++ {
		if !chain[i-1].Enabled() || perMinute(chain[i-1]) >= perMinute(chain[i]) || chain[i-1].Limit >= chain[i].Limit {
			t.Errorf("limit %d (%v) not below limit %d (%v)", i-1, chain[i-1], i, chain[i])
		}
	}
	// What a node sends one region, its shared budget and ten clients'
	// floors, fits in that region's grant to it; a floor is below a
	// client's limit.
	floor, shared := DefaultQRForwardFloor, DefaultQRForwardRegion
	if perMinute(shared)+10*perMinute(floor) > perMinute(l.PeerRegion) || shared.Limit+10*floor.Limit > l.PeerRegion.Limit ||
		perMinute(floor) >= perMinute(DefaultQRForwardLimit) {
		t.Errorf("shared %v and ten floors %v not within a region's grant %v", shared, floor, l.PeerRegion)
	}
}

// TestQRPeerRedeemRefusesBadParty: a peer asking with an invalid sector
// (the internal binding sector, a NUL, over 255 bytes) gets 400; for a
// party registered with another region, or a sector its party does not
// hold, 403 qr_unknown_verifier; claims sent in the request are refused
// (400: the registry gives them). None consumes the holder's code: a
// retry for the registered party succeeds.
func TestQRPeerRedeemRefusesBadParty(t *testing.T) {
	p := newPeerQR(t, nil)
	a := p.a
	hr := &qrcode.HolderRequest{Purpose: qrcode.PurposeOnlineCode, Binding: p.binding, Time: time.Now().Unix(), Nonce: bytes.Repeat([]byte{9}, 16), Region: "310000"}
	if err := qrcode.SignHolderRequest(nil, p.device, hr); err != nil {
		t.Fatal(err)
	}
	resp, m := qrPost(t, a.srv.URL+"/v1/qr", "", hr)
	if resp.StatusCode != 201 {
		t.Fatalf("issue: %d %v", resp.StatusCode, m)
	}
	code := m["code"].(string)
	peerRedeem := func(clientID, sector string) (int, map[string]any) {
		body, _ := json.Marshal(redeem.PeerRedeemRequest{Code: code, ClientID: clientID, Sector: sector})
		resp, m := p.peerRedeem(t, body)
		return resp.StatusCode, m
	}
	for _, sector := range []string{identity.BindingSector, "hotel.example\x00", strings.Repeat("a", 256)} {
		if c, m := peerRedeem("hotel-440000", sector); c != 400 || m["error"] != CodeInvalidRequest {
			t.Errorf("sector %.20q: %d %v", sector, c, m)
		}
	}
	for name, r := range map[string][2]string{
		"party of another region": {"hotel-310000", "hotel.example"},
		"sector not held":         {"hotel-440000", "rail.example"},
		"unregistered party":      {"stranger", ""},
	} {
		if c, m := peerRedeem(r[0], r[1]); c != 403 || m["error"] != "qr_unknown_verifier" {
			t.Errorf("%s: %d %v", name, c, m)
		}
	}
	body := `{"code":"` + code + `","client_id":"hotel-440000","sector":"hotel.example","allowed_claims":["resident"]}`
	if resp, m := p.peerRedeem(t, []byte(body)); resp.StatusCode != 400 || m["error"] != CodeInvalidRequest {
		t.Errorf("claims in the request: %d %v", resp.StatusCode, m)
	}
	if c, m := peerRedeem("hotel-440000", "hotel.example"); c != 200 || m["pairwise_id"] == "" {
		t.Errorf("valid party after the refusals: %d %v", c, m)
	}
}

// TestQRPeerAuthorizationHeader: the peer redeem route reads the node
// assertion as every route reads a Bearer credential
// (authheader.Credential): the scheme in any case (RFC 9110 §11.1, RFC
// 7235 §2.1), and two Authorization headers or Bearer without an
// assertion are 400 invalid_request with its challenge (RFC 6750 §3.1),
// the first of two never taken.
func TestQRPeerAuthorizationHeader(t *testing.T) {
	p := newPeerQR(t, nil)
	hr := &qrcode.HolderRequest{Purpose: qrcode.PurposeOnlineCode, Binding: p.binding, Time: time.Now().Unix(), Nonce: bytes.Repeat([]byte{7}, 16), Region: "310000"}
	if err := qrcode.SignHolderRequest(nil, p.device, hr); err != nil {
		t.Fatal(err)
	}
	resp, m := qrPost(t, p.a.srv.URL+"/v1/qr", "", hr)
	if resp.StatusCode != 201 {
		t.Fatalf("issue: %d %v", resp.StatusCode, m)
	}
	body, _ := json.Marshal(redeem.PeerRedeemRequest{Code: m["code"].(string), ClientID: "hotel-440000", Sector: "hotel.example"})
	// send posts body with a fresh assertion, its Authorization header
	// then changed by edit.
	send := func(edit func(h http.Header, assertion string)) (*http.Response, map[string]any) {
		req, _ := http.NewRequest("POST", p.a.srv.URL+redeem.PeerRedeemPath, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if err := p.peer.Authorize(context.Background(), req, "310000"); err != nil {
			t.Fatal(err)
		}
		assertion := strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer ")
		edit(req.Header, assertion)
		return doJSON(t, req)
	}
	for name, edit := range map[string]func(http.Header, string){
		"two headers, the first good": func(h http.Header, a string) { h.Add("Authorization", "Bearer x") },
		"two headers, the second good": func(h http.Header, a string) {
			h["Authorization"] = []string{"Bearer x", "Bearer " + a}
		},
		"Bearer without an assertion": func(h http.Header, a string) { h.Set("Authorization", "Bearer ") },
		"Bearer alone":                func(h http.Header, a string) { h.Set("Authorization", "Bearer") },
	} {
		resp, m := send(edit)
		if resp.StatusCode != 400 || m["error"] != CodeInvalidRequest || resp.Header.Get("WWW-Authenticate") != `Bearer error="invalid_request"` {
			t.Errorf("%s: %d %v %q", name, resp.StatusCode, m, resp.Header.Get("WWW-Authenticate"))
		}
	}
	if resp, m := send(func(h http.Header, a string) { h.Set("Authorization", "Basic "+a) }); resp.StatusCode != 401 || m["error"] != "qr_peer_unauthorized" {
		t.Errorf("another scheme: %d %v", resp.StatusCode, m)
	}
	resp, m = send(func(h http.Header, a string) { h.Set("Authorization", "bEARER "+a) })
	if resp.StatusCode != 200 || m["pairwise_id"] == nil || resp.Header.Get(redeem.PeerAnswerHeader) == "" {
		t.Errorf("the scheme in another case: %d %v", resp.StatusCode, m)
	}
}
