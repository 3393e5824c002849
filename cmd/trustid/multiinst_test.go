package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/keystore"
	"github.com/trustid-cn/trustid/qrcode"
	sdkwallet "github.com/trustid-cn/trustid/sdk/wallet"
)

// onInstance is u (a URL of the region's issuer, instance 1) sent to the
// instance at base instead, as a load balancer may.
func onInstance(r *regionInstances, u, base string) string {
	return strings.Replace(u, r.issuer, base, 1)
}

// TestLoginAcrossInstances: one user login whose every request lands on
// the other instance of the region than the one before: authorize at 1,
// approve at 2, the page's wait at 1, the code at 2, userinfo at 1,
// refresh at 2, the old refresh token (reuse) at 1, revocation at 2 and
// introspection at 1, a code replayed at 1, logout at 2 with an ID
// token of 1. Every step holds: the session, the code, the tokens and
// their revocation live in the region's Redis.
func TestLoginAcrossInstances(t *testing.T) {
	r := startRegionInstances(t)
	i1, i2 := r.i1, r.i2
	f1, f2 := &enrollFixture{authNode: i1}, &enrollFixture{authNode: i2}
	f1.enrollTok = i1.tokenFor("app-backend", i1.addClientArgs("app-backend", auth.ScopeEnroll))
	rp := f1.addLoginRP("web", "web.example")
	f2.enrollTok = f1.enrollTok // the region's keys: good at either instance
	p := newPerson(t, "11010519900307123", "张三")
	code, res, m := f2.enroll(f1.enrollBody(p, "", "", nil))
	if code != 201 {
		t.Fatalf("enroll at instance 2: %d %v", code, m)
	}
	app := f2.app(p, res)
	// Instance 2 knows the party once its view has it.
	waitUntil(t, "instance 2 knowing the party", func() bool {
		c, m := rp.post(t, i2.base, "/oauth2/introspect", url.Values{"token": {"x"}})
		return c == 200 && m["active"] == false
	})

	a := rp.start(t)
	if status, m := approve(t, onInstance(r, a.sessionURL, i2.base), app, ""); status != 204 {
		t.Fatalf("approve at instance 2: %d %v", status, m)
	}
	c := a.code(t, rp, r.issuer)
	form := url.Values{"grant_type": {"authorization_code"}, "code": {c}, "redirect_uri": {rp.conf.RedirectURL}, "code_verifier": {a.pkce}}
	status, tok := rp.post(t, i2.base, "/oauth2/token", form)
	if status != 200 || tok["access_token"] == nil || tok["refresh_token"] == nil || tok["id_token"] == nil {
		t.Fatalf("code of instance 1 at instance 2: %d %v", status, tok)
	}
	at, rt := tok["access_token"].(string), tok["refresh_token"].(string)
	if status, m := userinfo(t, i1.base, at); status != 200 || m["sub"] == nil {
		t.Errorf("userinfo at instance 1, a token of instance 2: %d %v", status, m)
	}
	if status, m := rp.post(t, i1.base, "/oauth2/token", form); status != 400 || m["error"] != "invalid_grant" {
		t.Errorf("the code replayed at instance 1: %d %v", status, m)
	}
	if status, _ := userinfo(t, i2.base, at); status != 401 {
		t.Errorf("userinfo at instance 2 after the code's replay at instance 1: %d, want 401", status)
	}

	// A second login, for refresh, revocation and logout.
	a = rp.start(t)
	if status, m := approve(t, onInstance(r, a.sessionURL, i2.base), app, ""); status != 204 {
		t.Fatalf("approve at instance 2: %d %v", status, m)
	}
	form["code"], form["code_verifier"] = []string{a.code(t, rp, r.issuer)}, []string{a.pkce}
	if status, tok = rp.post(t, i1.base, "/oauth2/token", form); status != 200 {
		t.Fatalf("code at instance 1: %d %v", status, tok)
	}
	rt, idToken := tok["refresh_token"].(string), tok["id_token"].(string)
	status, fresh := rp.post(t, i2.base, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	if status != 200 || fresh["refresh_token"] == rt {
		t.Fatalf("refresh at instance 2: %d %v", status, fresh)
	}
	at2 := fresh["access_token"].(string)
	if status, m := userinfo(t, i1.base, at2); status != 200 {
		t.Errorf("userinfo at instance 1, a refreshed token of instance 2: %d %v", status, m)
	}
	if status, m := rp.post(t, i2.base, "/oauth2/revoke", url.Values{"token": {at2}}); status != 200 {
		t.Errorf("revoke at instance 2: %d %v", status, m)
	}
	if status, m := rp.post(t, i1.base, "/oauth2/introspect", url.Values{"token": {at2}}); status != 200 || m["active"] != false {
		t.Errorf("introspection at instance 1 of a token revoked at instance 2: %d %v", status, m)
	}
	if status, _ := userinfo(t, i1.base, at2); status != 401 {
		t.Errorf("userinfo at instance 1 of a token revoked at instance 2: %d, want 401", status)
	}
	// The rotated-out refresh token reused at instance 1: the family ends
	// there too.
	if status, m := rp.post(t, i1.base, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}); status != 400 || m["error"] != "invalid_grant" {
		t.Errorf("reuse at instance 1 of a refresh token rotated at instance 2: %d %v", status, m)
	}
	if status, m := rp.post(t, i2.base, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {fresh["refresh_token"].(string)}}); status != 400 || m["error"] != "invalid_grant" {
		t.Errorf("the rotated refresh token at instance 2 after reuse at instance 1: %d %v", status, m)
	}
	// Logout at instance 2 with instance 1's ID token.
	q := url.Values{"id_token_hint": {idToken}, "post_logout_redirect_uri": {rp.conf.RedirectURL}, "state": {"s1"}}
	resp, err := newBrowser().Get(i2.base + "/oauth2/logout?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != 302 || !strings.HasPrefix(loc, rp.conf.RedirectURL) {
		t.Errorf("logout at instance 2 with instance 1's ID token: %d %q", resp.StatusCode, loc)
	}
}

// userinfo asks base's userinfo endpoint with the access token.
func userinfo(t *testing.T, base, at string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/oauth2/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+at)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

// TestOID4VCIAcrossInstances: an offer made at instance 1 is fetched,
// redeemed and issued at instance 2, its nonce drawn at instance 1; the
// wrong transaction codes of an offer count across both instances; a
// pre-authorized code, an access token and a c_nonce spent at one
// instance are refused at the other.
func TestOID4VCIAcrossInstances(t *testing.T) {
	r := startRegionInstances(t)
	i1, i2 := r.i1, r.i2
	key := i1.addClient("rp-vci", "SM2", auth.ScopeCredentialsIssue)
	i1.accredit("rp-vci", "ResidenceCredential")
	v1 := &vciNode{authNode: i1, rpToken: i1.token("rp-vci", key)}
	// The issuer's keys made by the accreditation reach instance 2 with
	// the keystore copy (docs/credentials.md, "Several instances").
	i2.node.Stop()
	r.copyKeystore()
	r.start(i2, strings.TrimPrefix(i2.base, "http://"), "i2")
	const sd = "ResidenceCredential_sd_jwt"
	preAuth := func(o map[string]any) string {
		grants := o["credential_offer"].(map[string]any)["grants"].(map[string]any)
		return grants["urn:ietf:params:oauth:grant-type:pre-authorized_code"].(map[string]any)["pre-authorized_code"].(string)
	}
	token := func(n *authNode, code, tx string) (int, map[string]any) {
		form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:pre-authorized_code"}, "pre-authorized_code": {code}}
		if tx != "" {
			form.Set("tx_code", tx)
		}
		st, m, _ := n.do("POST", "/oid4vci/token", "", "application/x-www-form-urlencoded", form.Encode())
		return st, m
	}
	nonce := func(n *authNode) string {
		st, m, _ := n.do("POST", "/oid4vci/nonce", "", "", "")
		if st != 200 {
			t.Fatalf("nonce: %d %v", st, m)
		}
		return m["c_nonce"].(string)
	}
	credential := func(n *authNode, tok, nonce string) (int, map[string]any) {
		b, _ := json.Marshal(map[string]any{"credential_configuration_id": sd, "proofs": map[string]any{"jwt": []string{es256Proof(t, r.issuer, nonce, nil)}}})
		st, m, _ := n.do("POST", "/oid4vci/credential", tok, "application/json", string(b))
		return st, m
	}

	// Five wrong codes, three at 1 and two at 2, void the offer.
	o := v1.offer(`["`+sd+`"]`, true, false)
	code, tx := preAuth(o), o["tx_code"].(string)
	wrong := "999999"
	if tx == wrong {
		wrong = "888888"
	}
	for i, n := range []*authNode{i1, i1, i1, i2, i2} {
		if st, m := token(n, code, wrong); st != 400 || m["error"] != "invalid_grant" {
			t.Fatalf("wrong code %d: %d %v", i+1, st, m)
		}
	}
	if st, m := token(i1, code, tx); st != 400 || m["error"] != "invalid_grant" {
		t.Errorf("the right code at instance 1 after five wrong ones across both: %d %v", st, m)
	}

	// By reference: made at 1, fetched at 2, redeemed at 2, nonce from 1,
	// issued at 2.
	o = v1.offer(`["`+sd+`"]`, true, true)
	link, _ := url.Parse(o["offer_uri"].(string))
	ref := link.Query().Get("credential_offer_uri")
	if !strings.HasPrefix(ref, r.issuer) {
		t.Fatalf("offer_uri %q", ref)
	}
	st, doc, _ := i2.do("GET", strings.TrimPrefix(ref, r.issuer), "", "", "")
	if st != 200 {
		t.Fatalf("offer of instance 1 fetched at instance 2: %d %v", st, doc)
	}
	code = preAuth(map[string]any{"credential_offer": doc})
	st, tm := token(i2, code, o["tx_code"].(string))
	if st != 200 {
		t.Fatalf("token at instance 2: %d %v", st, tm)
	}
	if st, m := token(i1, code, o["tx_code"].(string)); st != 400 || m["error"] != "invalid_grant" {
		t.Errorf("the pre-authorized code again at instance 1: %d %v", st, m)
	}
	tok := tm["access_token"].(string)
	n1 := nonce(i1)
	if st, m := credential(i2, tok, n1); st != 200 {
		t.Fatalf("credential at instance 2, nonce of instance 1: %d %v", st, m)
	}
	if st, m := credential(i1, tok, nonce(i1)); st < 400 {
		t.Errorf("the access token again at instance 1: %d %v", st, m)
	}
	// The nonce spent at 2, with a fresh session at 1.
	o = v1.offer(`["`+sd+`"]`, false, false)
	st, tm = token(i1, preAuth(o), "")
	if st != 200 {
		t.Fatalf("token at instance 1: %d %v", st, tm)
	}
	if st, m := credential(i1, tm["access_token"].(string), n1); st != 400 || m["error"] != "invalid_nonce" {
		t.Errorf("a c_nonce spent at instance 2, at instance 1: %d %v", st, m)
	}
}

// TestOID4VPAcrossInstances: a presentation request made at instance 2
// is fetched (request object) and answered at instance 1, the issuer's
// address, in both response modes (direct_post.jwt encrypts to a key
// instance 2 derived), and its result read at instance 2; an answer
// replayed is refused.
func TestOID4VPAcrossInstances(t *testing.T) {
	r := startRegionInstances(t)
	i1, i2 := r.i1, r.i2
	issuerTok := i1.tokenFor("age-issuer", i1.addClient("age-issuer", "SM2", auth.ScopeCredentialsIssue))
	i1.accredit("age-issuer", "AgeCredential")
	h, err := sdkwallet.NewHolder(r.issuer, sdkwallet.NewSoftwareKeys(), "device")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.CreateDeviceKey(); err != nil {
		t.Fatal(err)
	}
	jwk, _ := h.DeviceKeyJWK()
	code, m, _ := i1.do("POST", "/credentials/issue", issuerTok, "application/json", `{"credential": {"@context": ["https://www.w3.org/ns/credentials/v2"],
	  "type": ["VerifiableCredential", "AgeCredential"], "credentialSubject": {"age_over_18": true, "birthDate": "1990-05-01"}},
	  "options": {"format": "dc+sd-jwt", "holderKey": `+jwk+`}}`)
	if code != 201 {
		t.Fatalf("issue: %d %v", code, m)
	}
	id, _ := m["verifiableCredential"].(map[string]any)["id"].(string)
	_, tok, _ := strings.Cut(id, ",")
	creds := sdkwallet.NewMemoryCredentials()
	creds.Add("age-1", tok)
	_, jwks := get(t, r.issuer+"/.well-known/jwks.json")
	i1.addRP("shop-1")
	keys := filepath.Join(i1.dir, "rp-shop-1")
	kid := strings.TrimSuffix(filepath.Base(mustGlob(t, filepath.Join(keys, "*.key.pem"))), ".key.pem")
	rp := i2.tokenFor("shop-1", filepath.Join(keys, kid+".key.pem"))
	for _, tc := range []struct{ mode, redirect string }{{"direct_post.jwt", ""}, {"direct_post", "https://shop.example/done"}} {
		t.Run(tc.mode, func(t *testing.T) {
			body := `{"dcql_query": ` + ageDCQL(r.issuer) + `, "response_mode": "` + tc.mode + `"`
			if tc.redirect != "" {
				body += `, "redirect_uri": "` + tc.redirect + `"`
			}
			code, created, _ := i2.do("POST", "/v1/oid4vp/requests", rp, "application/json", body+"}")
			if code != 201 {
				t.Fatalf("create at instance 2: %d %v", code, created)
			}
			req, err := h.ResolvePresentationRequest(created["authorization_request"].(string), r.issuer, jwks)
			if err != nil {
				t.Fatalf("the request object of instance 2 at instance 1: %v", err)
			}
			redirect, err := req.Respond(creds, "age=age-1")
			if err != nil {
				t.Fatalf("the answer at instance 1: %v", err)
			}
			if _, err := req.Respond(creds, "age=age-1"); err == nil || !strings.Contains(err.Error(), "invalid_request") {
				t.Errorf("replay: %v", err)
			}
			path := "/v1/oid4vp/requests/" + created["transaction_id"].(string)
			if tc.redirect != "" {
				u, _ := url.Parse(redirect)
				frag, _ := url.ParseQuery(u.Fragment)
				path += "?response_code=" + url.QueryEscape(frag.Get("response_code"))
			}
			code, res, _ := i2.do("GET", path, rp, "", "")
			raw, _ := json.Marshal(res)
			if code != 200 || res["status"] != "verified" || !strings.Contains(string(raw), `"claims":{"age_over_18":true}`) {
				t.Fatalf("result at instance 2: %d %s", code, raw)
			}
		})
	}
}

func mustGlob(t *testing.T, pattern string) string {
	t.Helper()
	m, _ := filepath.Glob(pattern)
	if len(m) != 1 {
		t.Fatalf("%s: %v", pattern, m)
	}
	return m[0]
}

// TestQRAcrossInstances: an online code issued at instance 1 is redeemed
// once, at instance 2, and refused at instance 1 after; the same holder
// request sent again at instance 2 is refused (its nonce spent at 1); an
// offline code verified at instance 1 is qr_replayed at instance 2.
func TestQRAcrossInstances(t *testing.T) {
	r := startRegionInstances(t)
	i1, i2 := r.i1, r.i2
	f1, f2 := &enrollFixture{authNode: i1}, &enrollFixture{authNode: i2}
	f1.enrollTok = i1.tokenFor("app-backend", i1.addClientArgs("app-backend", auth.ScopeEnroll))
	hotelKey := i1.addClientArgs("hotel", auth.ScopeQRRedeem, "--sector", "hotel.example")
	hotel1, hotel2 := i1.tokenFor("hotel", hotelKey), i2.tokenFor("hotel", hotelKey)
	p := newPerson(t, "11010519900307123", "张三")
	code, res, m := f1.enroll(f1.enrollBody(p, "", "", nil))
	if code != 201 {
		t.Fatalf("enroll: %d %v", code, m)
	}

	nonce := make([]byte, 16)
	rand.Read(nonce)
	req := qrcode.HolderRequest{Purpose: qrcode.PurposeOnlineCode, Binding: res.QRBinding, Time: time.Now().Unix(), Nonce: nonce, Region: "310000"}
	if err := qrcode.SignHolderRequest(rand.Reader, p.device, &req); err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(req)
	st, oc, _ := i1.do("POST", "/v1/qr", "", "application/json", string(body))
	if st != 201 {
		t.Fatalf("online code at instance 1: %d %v", st, oc)
	}
	if st, m, _ := i2.do("POST", "/v1/qr", "", "application/json", string(body)); st < 400 {
		t.Errorf("the same holder request at instance 2: %d %v", st, m)
	}
	online := oc["code"].(string)
	if st, m := f2.redeem(hotel2, online); st != 200 || m["sub"] == nil && m["pairwise_id"] == nil {
		t.Fatalf("instance 1's code redeemed at instance 2: %d %v", st, m)
	}
	if st, m := f1.redeem(hotel1, online); st != 409 || m["error"] != "qr_code_used" {
		t.Errorf("the code again at instance 1: %d %v", st, m)
	}

	off, err := qrcode.NewOffline(rand.Reader, p.device, res.QRBinding, nil, qrcode.Presentation{Time: time.Now(), Counter: 1})
	if err != nil {
		t.Fatal(err)
	}
	if st, m := f1.redeem(hotel1, off); st != 200 {
		t.Fatalf("offline code at instance 1: %d %v", st, m)
	}
	if st, m := f2.redeem(hotel2, off); st != 409 || m["error"] != "qr_replayed" {
		t.Errorf("the offline code again at instance 2: %d %v", st, m)
	}
}

// TestAccreditAgainAtAnotherInstance: an issuer accredited through
// instance 1 (which made its keys) is suspended, and accredited again,
// through instance 2, whose keystore copy predates the accreditation:
// the record keeps the issuer's keys, and instance 2 makes none of its
// own (docs/credentials.md: keys are made "on first accreditation").
func TestAccreditAgainAtAnotherInstance(t *testing.T) {
	r := startRegionInstances(t)
	i1, i2 := r.i1, r.i2
	i1.addClient("rp-vci", "SM2", auth.ScopeCredentialsIssue)
	i1.accredit("rp-vci", "ResidenceCredential")
	node, err := credentials.DIDWeb(r.issuer)
	if err != nil {
		t.Fatal(err)
	}
	did, err := credentials.ClientIssuerDID(node, "rp-vci")
	if err != nil {
		t.Fatal(err)
	}
	record := func() chaincode.Issuer {
		t.Helper()
		rec, err := r.ca.Issuer(context.Background(), did)
		if err != nil {
			t.Fatalf("issuer record %s: %v", did, err)
		}
		return rec
	}
	kids := func(rec chaincode.Issuer) []string {
		var out []string
		for _, k := range rec.Keys {
			out = append(out, k.Kid+" "+k.State)
		}
		slices.Sort(out)
		return out
	}
	before := kids(record())
	accredit := func(n *authNode, extra ...string) (string, error) {
		args := append([]string{"issuers", "accredit", "--node", n.base, "--token", i1.admin, "--client", "rp-vci", "--types", "ResidenceCredential", "--data", n.dir}, extra...)
		out, errOut, err := run(t, context.Background(), args...)
		return out + errOut, err
	}
	if out, err := accredit(i2, "--suspend"); err != nil {
		t.Errorf("suspended through instance 2: %v\n%s", err, out)
	}
	if rec := record(); rec.Status != chaincode.EntrySuspended || !slices.Equal(kids(rec), before) {
		t.Errorf("after the suspension through instance 2: %s %v, want suspended with the keys %v", rec.Status, kids(rec), before)
	}
	if out, err := accredit(i2); err != nil {
		t.Errorf("accredited again through instance 2: %v\n%s", err, out)
	}
	if rec := record(); rec.Status != chaincode.EntryActive || !slices.Equal(kids(rec), before) {
		t.Errorf("after the accreditation through instance 2: %s %v, want active with the keys %v", rec.Status, kids(rec), before)
	}
	i2.node.Stop()
	ks, err := keystore.Open(filepath.Join(i2.dir, keystoreFile), mustKEK(t), keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if k := ks.OwnerKeys(did); len(k) != 0 {
		t.Errorf("instance 2 made %d keys of its own for %s", len(k), did)
	}
}

// TestClientChangesAcrossInstances: a client registered through the
// admin API of instance 1 gets tokens at instance 2; disabled through
// instance 2, its token that instance 1 has cached is refused there
// within a second (docs/relying-party.md, "Visibility bound").
func TestClientChangesAcrossInstances(t *testing.T) {
	r := startRegionInstances(t)
	i1, i2 := r.i1, r.i2
	admin := i1.tokenFor("ops-console", i1.addClient("ops-console", "SM2", auth.ScopeRegistryAdmin))
	st, m, _ := i1.do("POST", "/v1/admin/clients", admin, "application/json",
		`{"client_id":"svc-a","client_name":"Service A","region":"310000","scopes":["qr:redeem"],"token_endpoint_auth_method":"client_secret_basic","grant_types":["client_credentials"]}`)
	if st != 201 {
		t.Fatalf("register at instance 1: %d %v", st, m)
	}
	secret := m["client_secret"].(string)
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"qr:redeem"}}
	req, _ := http.NewRequest("POST", i2.base+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("svc-a", secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tok map[string]any
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("token at instance 2 for a client registered at instance 1: %d %v", resp.StatusCode, tok)
	}
	at := tok["access_token"].(string)
	use := func(n *authNode) int {
		c, _, _ := n.do("POST", "/v1/qr/verify", at, "application/json", `{"code":"hello"}`)
		return c
	}
	if c := use(i1); c != 400 {
		t.Fatalf("the token at instance 1: %d, want 400 (authorized, a malformed code)", c)
	}
	if st, m, _ := i2.do("POST", "/v1/admin/clients/svc-a/disable", admin, "application/json", "{}"); st != 200 {
		t.Fatalf("disable at instance 2: %d %v", st, m)
	}
	deadline := time.Now().Add(time.Second)
	for use(i1) != 401 {
		if time.Now().After(deadline) {
			t.Fatal("instance 1 still accepts, a second after, the token of a client disabled at instance 2")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
