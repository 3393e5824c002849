package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/trustid-cn/trustid/auth"
	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/sdk"
	sdkwallet "github.com/trustid-cn/trustid/sdk/wallet"
)

// sdkTokens returns a token source for a registered client's key file.
func sdkTokens(t *testing.T, base, id, keyFile string, refreshBefore time.Duration, now func() time.Time) *sdk.TokenSource {
	t.Helper()
	pemBytes, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	key, err := gm.ParsePrivateKeyPEM(pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := sdk.NewTokenSource(sdk.ClientConfig{Node: base, ClientID: id, Key: key, RefreshBefore: refreshBefore, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// TestSDKEndToEnd drives a real node with the relying-party and wallet
// SDKs: a wallet enrolls (SM2 device key in a key store, terminal
// attestation, PIN), asks for an online code that a relying party redeems
// with an SDK token (SM2 and ES256 client keys, refreshed before expiry),
// makes an offline code verified with the node's cached keys and published
// status lists, presents its SD-JWT identity credential with one chosen
// disclosure, and the binding is then revoked: the cached status list
// keeps answering until its ttl, then every check fails.
func TestSDKEndToEnd(t *testing.T) {
	f := newEnrollFixture(t, "--access-token-ttl", "1m")
	ctx := context.Background()
	base := f.base

	// Access tokens: SM2 and ES256 client keys, cached, refreshed before
	// expiry.
	hotelKey := f.addClientArgs("hotel-sdk", auth.ScopeQRRedeem, "--claims", "age_over_18", "--sector", "hotel-sdk.example")
	f.tokenFor("hotel-sdk", hotelKey) // waits until the node has re-read its clients
	// The token source's clock stands still until moved: on a loaded
	// machine the two seconds a 60 s token is reused for (58 s before its
	// expiry) could pass in the first request's round trip.
	start := time.Now()
	var elapsed atomic.Int64
	clock := func() time.Time { return start.Add(time.Duration(elapsed.Load())) }
	hotel := sdkTokens(t, base, "hotel-sdk", hotelKey, 58*time.Second, clock)
	t1, err := hotel.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if t2, _ := hotel.Token(ctx); t2 != t1 {
		t.Error("a fresh token was not reused")
	}
	elapsed.Store(int64(2100 * time.Millisecond)) // now within 58 s of the 60 s expiry
	t3, err := hotel.Token(ctx)
	if err != nil || t3 == t1 {
		t.Errorf("token due for refresh was not replaced (err %v)", err)
	}
	esKey := f.addClient("es-sdk", "ES256", auth.ScopeQRRedeem)
	f.tokenFor("es-sdk", esKey)
	esTok, err := sdkTokens(t, base, "es-sdk", esKey, 0, nil).Token(ctx)
	if err != nil {
		t.Fatalf("ES256 client: %v", err)
	}
	bad, _ := sdk.NewTokenSource(sdk.ClientConfig{Node: base, ClientID: "hotel-sdk", Key: mustKey(t)})
	var nerr *sdk.NodeError
	if _, err := bad.Token(ctx); !errors.Is(err, sdk.ErrToken) || !errors.As(err, &nerr) || nerr.Code != "invalid_client" {
		t.Errorf("unregistered key: %v, want ErrToken with invalid_client", err)
	}

	// Offline verification of access tokens, and the middleware, at a
	// relying party's own API (`clients add --resource`): a token for it
	// (`token --resource`, the SDK's Resource) names it alone, so the
	// API's verifier takes it and not the hotel's token for the node, and
	// the node's own routes refuse it. A verifier with the node's URL as
	// its audience, which would take every token for the node, is not
	// built.
	const hotelAPI = "https://api.hotel-sdk.example/v1"
	f.addClientArgs("hotel-api", auth.ScopeQRRedeem, "--resource", hotelAPI)
	waitFor(t, func() bool {
		_, _, err := run(t, ctx, "token", "--node", base, "--client-id", "hotel-sdk", "--key", hotelKey, "--resource", hotelAPI, "--data", f.dir)
		return err == nil
	}, "a token for the hotel's API")
	apiToken := func(id, keyFile string) string {
		t.Helper()
		pemBytes, _ := os.ReadFile(keyFile)
		signer, err := gm.ParsePrivateKeyPEM(pemBytes)
		if err != nil {
			t.Fatal(err)
		}
		ts, err := sdk.NewTokenSource(sdk.ClientConfig{Node: base, ClientID: id, Key: signer, Resource: hotelAPI})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := ts.Token(ctx)
		if err != nil {
			t.Fatalf("%s's token for the API: %v", id, err)
		}
		return tok
	}
	apiTok, esAPITok := apiToken("hotel-sdk", hotelKey), apiToken("es-sdk", esKey)
	if _, err := sdk.NewAccessTokenVerifier(sdk.AccessTokenConfig{Issuer: base, Audience: base + "/", Algorithms: []string{gm.AlgSM2}}); err == nil {
		t.Error("a verifier with the node's URL as its audience was built")
	}
	atv, err := sdk.NewAccessTokenVerifier(sdk.AccessTokenConfig{Issuer: base, Audience: hotelAPI, Algorithms: []string{gm.AlgSM2}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := atv.Verify(ctx, apiTok)
	if err != nil || p.ClientID != "hotel-sdk" || !p.HasScope(auth.ScopeQRRedeem) {
		t.Fatalf("verify hotel token: %+v %v", p, err)
	}
	if p, err := atv.Verify(ctx, esAPITok); err != nil || p.ClientID != "es-sdk" {
		t.Errorf("verify es token: %+v %v", p, err)
	}
	for name, tok := range map[string]string{"the hotel's token for the node": t3, "the ES256 client's token for the node": esTok} {
		if _, err := atv.Verify(ctx, tok); !errors.Is(err, sdk.ErrInvalidToken) {
			t.Errorf("the API's verifier, %s: %v", name, err)
		}
	}
	es256Only, _ := sdk.NewAccessTokenVerifier(sdk.AccessTokenConfig{Issuer: base, Audience: hotelAPI, Algorithms: []string{gm.AlgES256}})
	if _, err := es256Only.Verify(ctx, apiTok); !errors.Is(err, sdk.ErrInvalidToken) {
		t.Errorf("SM2 token under an ES256-only allow-list: %v", err)
	}
	otherAud, _ := sdk.NewAccessTokenVerifier(sdk.AccessTokenConfig{Issuer: base, Audience: "https://other.example", Algorithms: []string{gm.AlgSM2}})
	if _, err := otherAud.Verify(ctx, apiTok); !errors.Is(err, sdk.ErrInvalidToken) {
		t.Errorf("token for another audience: %v", err)
	}
	later, _ := sdk.NewAccessTokenVerifier(sdk.AccessTokenConfig{Issuer: base, Audience: hotelAPI, Algorithms: []string{gm.AlgSM2},
		Now: func() time.Time { return time.Now().Add(2 * time.Minute) }})
	if _, err := later.Verify(ctx, apiTok); !errors.Is(err, sdk.ErrInvalidToken) {
		t.Errorf("expired token: %v", err)
	}
	svc := httptest.NewServer(atv.Middleware(auth.ScopeQRRedeem)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := sdk.PrincipalFrom(r.Context())
		w.Write([]byte(p.ClientID))
	})))
	defer svc.Close()
	for _, c := range []struct {
		name, token string
		status      int
	}{
		{"valid", apiTok, 200}, {"no token", "", 401}, {"tampered", apiTok[:len(apiTok)-4] + "AAAA", 401}, {"for the node", t3, 401},
	} {
		req, _ := http.NewRequest("GET", svc.URL, nil)
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("middleware, %s: HTTP %d, want %d", c.name, resp.StatusCode, c.status)
		}
	}
	if code, m, _ := f.do("POST", "/v1/qr/verify", apiTok, "application/json", `{}`); code != 401 || m["error"] != "invalid_token" {
		t.Errorf("the node's qr:redeem route, a token for the API: %d %v", code, m)
	}
	if code, m, _ := f.do("POST", "/v1/qr/verify", t3, "application/json", `{}`); code == 401 {
		t.Errorf("the node's qr:redeem route, a token for the node: %d %v", code, m)
	}
	enrollOnly := httptest.NewServer(atv.Middleware(auth.ScopeEnroll)(http.NotFoundHandler()))
	defer enrollOnly.Close()
	req, _ := http.NewRequest("GET", enrollOnly.URL, nil)
	req.Header.Set("Authorization", "Bearer "+apiTok)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 403 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "insufficient_scope") {
		t.Errorf("token without the route's scope: %v %v", resp, err)
	}

	// Wallet: device key in a key store, enrollment at L4.
	w, m := f.walletHolder(t, "11010519491231003", "张三", "135790")
	enrollmentID := m["enrollment_id"].(string)
	bindingVC := m["binding_credential"].(map[string]any)["credential"].(string)

	// The wallet asked for DefaultCopies copies and shows two offline
	// verifiers two of them: different handle, device key and status.
	if n := len(m["copies"].([]any)); n != sdkwallet.DefaultCopies {
		t.Fatalf("the enrollment has %d copies, want %d", n, sdkwallet.DefaultCopies)
	}
	var seen []qrcode.Binding
	for _, v := range []string{"verifierA", "verifierB"} {
		code, err := w.OfflineCode("age_over_18", v, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _, _, err := qrcode.DecodeOffline(code)
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, b)
	}
	if a, b := seen[0], seen[1]; bytes.Equal(a.Subject, b.Subject) || a.DeviceKey.Equal(b.DeviceKey) || a.Status == b.Status {
		t.Error("two offline verifiers were shown one copy")
	}

	// Online code, redeemed once through the SDK.
	online, err := w.RequestOnlineCode("age_over_18")
	if err != nil {
		t.Fatal(err)
	}
	rp := &sdk.Client{Node: base, Tokens: hotel}
	red, err := rp.RedeemQR(ctx, online)
	if err != nil || red.AssuranceLevel != 4 || red.Claims["age_over_18"] != "true" || red.PairwiseID == "" {
		t.Fatalf("redeem: %+v %v", red, err)
	}
	if _, err := rp.RedeemQR(ctx, online); !errors.Is(err, qrcode.ErrCodeUsed) {
		t.Errorf("second redemption: %v, want qrcode.ErrCodeUsed", err)
	}

	// Scan-to-login at L3, approved through the wallet SDK with the PIN
	// check the node requires at L3+ (pin_check). Without the PIN and
	// with a wrong one the node refuses, and the wallet's error says why
	// (a wrong PIN leaves the session open); the right PIN logs in.
	shopRP := f.addLoginRP("shop-sdk", "shopsdk.example", "--id-token-alg", "ES256")
	la := shopRP.start(t, oauth2.SetAuthURLParam("acr_values", "L3"))
	lr, err := w.DescribeLogin(la.sessionURL)
	if err != nil || lr.ACR != "L3" || lr.ClientID != "shop-sdk" {
		t.Fatalf("describe login: %+v %v", lr, err)
	}
	if w.BindingCredential() != bindingVC {
		t.Fatal("the wallet did not keep the binding credential from enrollment")
	}
	if err := w.ApproveLogin(la.sessionURL, lr.Challenge, "age_over_18", ""); !errors.Is(err, sdkwallet.ErrApprovalRefused) ||
		!strings.Contains(err.Error(), "asks for the holder's PIN") {
		t.Errorf("L3 approval without a PIN: %v, want ErrApprovalRefused asking for the PIN", err)
	}
	if err := w.ApproveLogin(la.sessionURL, lr.Challenge, "age_over_18", "000000"); !errors.Is(err, sdkwallet.ErrApprovalRefused) ||
		!strings.Contains(err.Error(), "wrong PIN; 4 attempts left") {
		t.Errorf("L3 approval with a wrong PIN: %v, want ErrApprovalRefused with the attempts left", err)
	}
	if err := w.ApproveLogin(la.sessionURL, lr.Challenge, "age_over_18", "135790"); err != nil {
		t.Fatalf("L3 approval with the PIN: %v", err)
	}
	_, lidt := shopRP.exchange(t, la, la.code(t, shopRP, base))
	var lclaims struct {
		ACR string   `json:"acr"`
		AMR []string `json:"amr"`
	}
	if err := lidt.Claims(&lclaims); err != nil || lclaims.ACR != "L4" || strings.Join(lclaims.AMR, " ") != "hwk pin" {
		t.Errorf("ID token of the L3 login (an L4 binding, PIN checked): %+v %v, want acr L4, amr hwk pin", lclaims, err)
	}
	if err := w.ApproveLogin(la.sessionURL, lr.Challenge, "age_over_18", "135790"); err == nil {
		t.Error("an answered session was approved again")
	}

	// Offline code, verified with cached keys and the published status
	// lists; the clock is injectable to age the cache.
	var skew atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	nodes := &sdk.Nodes{Bases: []string{base}, Algorithms: []string{gm.AlgSM2}, Now: now}
	qrStatus := &sdk.QRStatus{Nodes: nodes, Regions: map[string]string{"310000": base}, TTL: 10 * time.Minute}
	qv, err := sdk.NewQRVerifier(sdk.QRConfig{Keys: &sdk.KeySet{URL: base + auth.JWKSPath, Now: now}, Region: "310000", Status: qrStatus, Now: now,
		Window: 10 * time.Minute}) // the wallet's clock is not skewed
	if err != nil {
		t.Fatal(err)
	}
	offline := func() string {
		c, err := w.OfflineCode("age_over_18", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if res, err := qv.Verify(ctx, offline(), qrcode.VerifyOptions{}); err != nil || res.Assurance != 4 || res.Claims["age_over_18"] != "true" {
		t.Fatalf("offline code: %+v %v", res, err)
	}
	noRegion := &sdk.QRStatus{Nodes: nodes, Regions: map[string]string{"320000": base}}
	qvNoRegion, _ := sdk.NewQRVerifier(sdk.QRConfig{Keys: &sdk.KeySet{URL: base + auth.JWKSPath}, Region: "310000", Status: noRegion})
	if _, err := qvNoRegion.Verify(ctx, offline(), qrcode.VerifyOptions{}); !errors.Is(err, qrcode.ErrStatusUnavailable) {
		t.Errorf("region without a node: %v, want ErrStatusUnavailable", err)
	}

	// Credentials: the binding vc+jwt and the SD-JWT VC identity
	// credential presented with one chosen disclosure.
	cv, err := sdk.NewCredentialVerifier(nodes, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cv.VerifyCredential(ctx, bindingVC); err != nil {
		t.Errorf("binding vc+jwt: %v", err)
	}
	// A credential a relying party issued under its own DID (hosted by
	// the node): its key from its DID document, accepted only for the
	// types the verifier lists for it.
	issuerKey := f.addClient("civil-affairs", "SM2", auth.ScopeCredentialsIssue)
	f.accredit("civil-affairs", "ResidenceCredential")
	body := []byte(`{"credential":{"@context":["https://www.w3.org/ns/credentials/v2"],"type":["VerifiableCredential","ResidenceCredential"],` +
		`"credentialSubject":{"id":"did:example:resident-1","region":"310000"}}}`)
	code, m, _ := f.do("POST", "/credentials/issue", f.tokenFor("civil-affairs", issuerKey), "application/json", string(body))
	if code != 201 {
		t.Fatalf("issue: %d %v", code, m)
	}
	_, residence, err := vc.ParseDataURL(m["verifiableCredential"].(map[string]any)["id"].(string))
	if err != nil {
		t.Fatal(err)
	}
	nodeDID, _ := vc.DIDWeb(base)
	clientDID, _ := vc.ClientIssuerDID(nodeDID, "civil-affairs")
	if _, err := cv.VerifyCredential(ctx, residence); !errors.Is(err, vc.ErrNotAccredited) {
		t.Errorf("a hosted issuer the verifier does not list: %v, want ErrNotAccredited", err)
	}
	listing := &sdk.Nodes{Bases: []string{base}, Algorithms: []string{gm.AlgSM2}, Issuers: map[string][]string{clientDID: {"ResidenceCredential"}}}
	cv2, _ := sdk.NewCredentialVerifier(listing, 0)
	if got, err := cv2.VerifyCredential(ctx, residence); err != nil || got.Issuer != clientDID {
		t.Errorf("hosted issuer's credential: %v", err)
	}
	wrongType := &sdk.Nodes{Bases: []string{base}, Algorithms: []string{gm.AlgSM2}, Issuers: map[string][]string{clientDID: {"DriverLicence"}}}
	cv3, _ := sdk.NewCredentialVerifier(wrongType, 0)
	if _, err := cv3.VerifyCredential(ctx, residence); !errors.Is(err, vc.ErrNotAccredited) {
		t.Errorf("hosted issuer listed for another type: %v, want ErrNotAccredited", err)
	}

	pres, err := w.Present("age_over_18", "https://rp.example", "n-123")
	if err != nil {
		t.Fatal(err)
	}
	got, err := cv.VerifySDJWT(ctx, pres, vc.SDJWTOptions{RequireKeyBinding: true, Audience: "https://rp.example", Nonce: "n-123"})
	if err != nil {
		t.Fatalf("SD-JWT presentation: %v", err)
	}
	if got.Claims["age_over_18"] != true || got.Claims["name"] != nil || got.Claims["birthDate"] != nil {
		t.Errorf("disclosed claims: %v, want age_over_18 only", got.Claims)
	}
	if _, err := cv.VerifySDJWT(ctx, pres, vc.SDJWTOptions{RequireKeyBinding: true, Audience: "https://other.example", Nonce: "n-123"}); err == nil {
		t.Error("presentation for another audience verified")
	}
	if _, err := w.Present("no_such_claim", "https://rp.example", "n"); !errors.Is(err, sdkwallet.ErrInvalidArgument) {
		t.Errorf("unknown claim: %v", err)
	}
	parts := strings.Split(pres, "~")
	parts[1] = parts[1][:len(parts[1])-2] + "AA"
	if _, err := cv.VerifySDJWT(ctx, strings.Join(parts, "~"), vc.SDJWTOptions{RequireKeyBinding: true, Audience: "https://rp.example", Nonce: "n-123"}); err == nil {
		t.Error("tampered disclosure verified")
	}

	// Revocation of the enrollment (every copy: the wallet showed the
	// parties below different copies): cached lists answer until their
	// ttl; then every check sees it.
	sb, _ := json.Marshal(map[string]string{"action": "revoke"})
	if c, m, _ := f.do("POST", "/v1/enrollments/"+enrollmentID+"/status", f.enrollTok, "application/json", string(sb)); c != 200 {
		t.Fatalf("revoke: %d %v", c, m)
	}
	if _, err := qv.Verify(ctx, offline(), qrcode.VerifyOptions{}); err != nil {
		t.Errorf("within the cached list's ttl the offline code still verifies (cache), got %v", err)
	}
	// The node publishes a change once the chain has it (docs/credentials.md,
	// "One region, many instances"): wait for a verifier with no cache to
	// see it, then age the cached one past the list's ttl.
	waitFor(t, func() bool {
		fresh := &sdk.QRStatus{Nodes: &sdk.Nodes{Bases: []string{base}, Algorithms: []string{gm.AlgSM2}}, Regions: map[string]string{"310000": base}, TTL: time.Minute}
		fv, err := sdk.NewQRVerifier(sdk.QRConfig{Keys: &sdk.KeySet{URL: base + auth.JWKSPath}, Region: "310000", Status: fresh, Window: 10 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		_, err = fv.Verify(ctx, offline(), qrcode.VerifyOptions{})
		return errors.Is(err, qrcode.ErrRevoked)
	}, "the node to publish the revocation")
	skew.Store(int64(6 * time.Minute)) // past the list's ttl (5 min), within the SDK's TTL (10 min)
	if _, err := qv.Verify(ctx, offline(), qrcode.VerifyOptions{}); !errors.Is(err, qrcode.ErrRevoked) {
		t.Errorf("offline code after revocation and ttl: %v, want ErrRevoked", err)
	}
	// The issuer-signed part alone (the KB-JWT, made before the clock
	// moved, would be refused as stale whatever the status).
	issued := pres[:strings.LastIndexByte(pres, '~')+1]
	if _, err := cv.VerifySDJWT(ctx, issued, vc.SDJWTOptions{}); !errors.Is(err, vc.ErrRevoked) {
		t.Errorf("revoked identity credential: %v, want ErrRevoked", err)
	}
	if _, err := w.RequestOnlineCode(""); !errors.Is(err, qrcode.ErrRevoked) {
		t.Errorf("online code after revocation: %v, want qrcode.ErrRevoked", err)
	}
}

func mustKey(t *testing.T) *gm.PrivateKey {
	t.Helper()
	k, err := gm.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestWalletLoginOnlyAtItsNode: the wallet SDK answers login sessions at
// its own node only. A phishing QR naming another host (here one that
// would relay the approval, with the PIN and a device proof for the node,
// to the node for a session of the phisher's browser), or the node's host
// with another scheme, port or path, or with a user, query or fragment,
// is ErrForeignSession before any request; the node's own session URL
// works.
func TestWalletLoginOnlyAtItsNode(t *testing.T) {
	f := newEnrollFixture(t)
	w, _ := f.walletHolder(t, "11010519900307123", "张三", "135790")
	shop := f.addLoginRP("shop-web", "shopweb.example", "--id-token-alg", "ES256")
	a := shop.start(t, oauth2.SetAuthURLParam("acr_values", "L3"))
	var requests atomic.Int64
	evil := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		http.Error(rw, "phished", 502)
	}))
	defer evil.Close()
	id := a.sessionURL[strings.LastIndex(a.sessionURL, "/")+1:]
	node := strings.TrimPrefix(f.base, "http://")
	for _, phish := range []string{
		evil.URL + "/login/sessions/" + id,
		"https://" + node + "/login/sessions/" + id,
		"http://" + strings.Split(node, ":")[0] + ":1/login/sessions/" + id,
		"http://user@" + node + "/login/sessions/" + id,
		f.base + "/login/sessions/" + id + "?x=1",
		f.base + "/login/sessions/" + id + "#x",
		f.base + "/login/sessions/" + id + "/",
		f.base + "/login/sessions/",
		f.base + "/v1/qr/sessions/" + id,
		f.base + "/login/sessions/../sessions/" + id,
		f.base + "/login/sessions/%41" + id[1:],
		f.base + "//login/sessions/" + id,
		"//" + node + "/login/sessions/" + id,
		"/login/sessions/" + id,
	} {
		if _, err := w.DescribeLogin(phish); !errors.Is(err, sdkwallet.ErrForeignSession) {
			t.Errorf("describe %s: %v, want ErrForeignSession", phish, err)
		}
		if err := w.ApproveLogin(phish, id, "", "135790"); !errors.Is(err, sdkwallet.ErrForeignSession) {
			t.Errorf("approve %s: %v, want ErrForeignSession", phish, err)
		}
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("the wallet sent %d requests to another host", n)
	}
	lr, err := w.DescribeLogin(a.sessionURL)
	if err != nil || lr.ClientID != "shop-web" {
		t.Fatalf("describe at the node: %+v %v", lr, err)
	}
	if err := w.ApproveLogin(a.sessionURL, lr.Challenge, "", "135790"); err != nil {
		t.Fatalf("approve at the node: %v", err)
	}
	shop.exchange(t, a, a.code(t, shop, f.base))
}
