package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/leakcheck"
	"github.com/trustid-cn/trustid/oid4vci/attestation"
	"github.com/trustid-cn/trustid/oid4vci/dpop"
	sdkwallet "github.com/trustid-cn/trustid/sdk/wallet"
)

// TestOID4VCIAuthorizationCode runs the OID4VCI 1.0 authorization code
// flow through TrustID's own login on a real node: a relying party that
// logged a person in (OpenID Connect, so it knows their pairwise sub)
// offers them a credential with an issuer_state; the wallet SDK sends the
// person to the authorization endpoint, they approve the login with their
// phone, the wallet takes the redirect, redeems the code with PKCE and
// gets credentials bound to its keys, which the node verifies. Then every
// refusal with the specification's error code.
func TestOID4VCIAuthorizationCode(t *testing.T) {
	// A trusted wallet provider: attestations are optional, so the flows
	// without one below are untouched; the end attests pushes.
	wpKey, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	f := newEnrollFixture(t, "--login-session-ttl", "10s", "--login-code-ttl", "3s", "--wallet-providers", walletProviderFile(t, wpKey))
	ctx := context.Background()
	alice := newPerson(t, "11010519900307123", "张三")
	code, ra, m := f.enroll(f.enrollBody(alice, "", "", nil))
	if code != 201 {
		t.Fatalf("enroll alice: %d %v", code, m)
	}
	bob := newPerson(t, "11010519850101002", "李四")
	code, rb, m := f.enroll(f.enrollBody(bob, "", "", nil))
	if code != 201 {
		t.Fatalf("enroll bob: %d %v", code, m)
	}
	aliceApp, bobApp := f.app(alice, ra), f.app(bob, rb)

	// The relying party: logs people in, and issues residence credentials.
	rpRedirect := "http://127.0.0.1:9/bureau/callback"
	out := f.cli("clients", "add", "--id", "bureau", "--name", "Residence bureau", "--region", "310000",
		"--scopes", auth.ScopeCredentialsIssue, "--grant-types", "client_credentials,authorization_code",
		"--redirect-uri", rpRedirect, "--sector", "bureau.example", "--id-token-alg", "ES256", "--secret")
	secret := clientSecretRE.FindStringSubmatch(out)
	if secret == nil {
		t.Fatalf("no client_secret in %s", out)
	}
	f.accredit("bureau", "ResidenceCredential")
	provider, err := oidc.NewProvider(ctx, f.base)
	if err != nil {
		t.Fatal(err)
	}
	rp := &loginRP{id: "bureau", provider: provider, verifier: provider.Verifier(&oidc.Config{ClientID: "bureau"}),
		conf: oauth2.Config{ClientID: "bureau", ClientSecret: secret[1], Endpoint: provider.Endpoint(), RedirectURL: rpRedirect, Scopes: []string{oidc.ScopeOpenID}}}
	a := rp.start(t)
	if status, m := approve(t, a.sessionURL, aliceApp, ""); status != 204 {
		t.Fatalf("alice logs in to the bureau: %d %v", status, m)
	}
	_, idt := rp.exchange(t, a, a.code(t, rp, f.base))
	aliceSub := idt.Subject
	cc := clientcredentials.Config{ClientID: "bureau", ClientSecret: secret[1], TokenURL: f.base + "/oauth2/token", Scopes: []string{auth.ScopeCredentialsIssue}}
	rpTok, err := cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	offer := func(sub string, configs string) map[string]any {
		t.Helper()
		body := `{"grant":"authorization_code","subject":"` + sub + `","by_reference":true,"credential_configuration_ids":` + configs + `,
		  "credential":{"@context":["https://www.w3.org/ns/credentials/v2"],"type":["VerifiableCredential","ResidenceCredential"],"credentialSubject":{"region":"310000"}}}`
		code, m, _ := f.do("POST", "/oid4vci/offers", rpTok.AccessToken, "application/json", body)
		if code != 201 {
			t.Fatalf("offer: %d %v", code, m)
		}
		return m
	}

	// The wallet: a public client registered with its redirect URI.
	walletRedirect := "http://127.0.0.1:9/wallet/cb"
	f.cli("clients", "add", "--id", "wallet-app", "--name", "Wallet app", "--region", "310000", "--scopes", auth.ScopeQRRedeem,
		"--grant-types", "authorization_code", "--redirect-uri", walletRedirect, "--secret")
	f.cli("clients", "add", "--id", "other-wallet", "--name", "Other wallet", "--region", "310000", "--scopes", auth.ScopeQRRedeem,
		"--grant-types", "authorization_code", "--redirect-uri", "http://127.0.0.1:9/other/cb", "--secret")

	// Metadata: the authorization server lists the authorization code flow.
	code, as, _ := f.do("GET", "/.well-known/oauth-authorization-server/oid4vci", "", "", "")
	asJSON, _ := json.Marshal(as)
	for _, want := range []string{`"authorization_endpoint":"` + f.base + `/oid4vci/authorize"`, `"response_types_supported":["code"]`,
		`"grant_types_supported":["authorization_code","urn:ietf:params:oauth:grant-type:pre-authorized_code"]`,
		`"code_challenge_methods_supported":["S256"]`, `"authorization_response_iss_parameter_supported":true`} {
		if code != 200 || !strings.Contains(string(asJSON), want) {
			t.Fatalf("authorization server metadata lacks %s: %s", want, asJSON)
		}
	}

	// The whole flow with the wallet SDK.
	o := offer(aliceSub, `["ResidenceCredential_sd_jwt","ResidenceCredential_jwt_vc_json"]`)
	offerJSON, _ := json.Marshal(o["credential_offer"])
	if !strings.Contains(string(offerJSON), `"authorization_code":{"issuer_state":`) || strings.Contains(string(offerJSON), aliceSub) || o["tx_code"] != nil {
		t.Fatalf("offer: %s", offerJSON)
	}
	w, _ := sdkwallet.NewHolder(f.base, sdkwallet.NewSoftwareKeys(), "device")
	co, err := w.ReceiveOffer(o["offer_uri"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if co.HasPreAuthorizedCode() || !co.HasAuthorizationCodeGrant() {
		t.Fatalf("offer grants: pre-auth %v, authorization code %v", co.HasPreAuthorizedCode(), co.HasAuthorizationCodeGrant())
	}
	rec := &recordingTransport{base: http.DefaultTransport}
	http.DefaultTransport = rec
	authURL, err := w.AuthorizationURL(co, "wallet-app", walletRedirect, "")
	http.DefaultTransport = rec.base
	if err != nil {
		t.Fatal(err)
	}
	browser := newBrowser()
	sessionURL := loginPage(t, browser, authURL)
	// Bob is not the person the offer is for: his approval is refused and
	// the session stays open for Alice.
	if status, m := approve(t, sessionURL, bobApp, ""); status != 403 || m["error"] != "approval_refused" {
		t.Fatalf("bob approves alice's offer: %d %v", status, m)
	}
	if status, m := approve(t, sessionURL, aliceApp, ""); status != 204 {
		t.Fatalf("alice approves: %d %v", status, m)
	}
	redirect := waitRedirect(t, browser, sessionURL)
	store := sdkwallet.NewMemoryStore()
	http.DefaultTransport = rec
	ids, err := w.AcceptAuthorization(co, redirect, 2, store)
	http.DefaultTransport = rec.base
	if err != nil {
		t.Fatal(err)
	}
	// The push carried a DPoP proof (RFC 9449 §10.1), sent again with
	// the nonce of the use_dpop_nonce answer; the token request took the
	// nonce of the push's answer: once, with a proof.
	seen := map[string]int{}
	for _, r := range rec.requests {
		if r.path == "/oid4vci/par" || r.path == "/oid4vci/token" {
			if r.dpop == "" {
				t.Errorf("wallet request to %s without DPoP", r.path)
			}
			seen[r.path]++
		}
	}
	if seen["/oid4vci/par"] != 2 || seen["/oid4vci/token"] != 1 {
		t.Errorf("wallet requests %v", seen)
	}
	if got := strings.Split(ids, ","); len(got) != 4 {
		t.Fatalf("stored %q, want 4 credentials", ids)
	}
	for _, id := range strings.Split(ids, ",") {
		c, _ := sdkwallet.LoadCredential(store, id)
		body, _ := json.Marshal(map[string]any{"verifiableCredential": c.Credential})
		if code, v, _ := f.do("POST", "/credentials/verify", "", "application/json", string(body)); code != 200 || v["verified"] != true {
			t.Fatalf("verify %s credential: %d %v", c.Format, code, v)
		}
	}
	// The wallet SDK pushed its request (RFC 9126): the browser carried
	// only client_id and request_uri.
	if u, _ := url.Parse(authURL); len(u.Query()) != 2 || !strings.HasPrefix(u.Query().Get("request_uri"), "urn:ietf:params:oauth:request_uri:") {
		t.Errorf("authorization URL %s", authURL)
	}
	// The offer was used: its issuer_state is spent, which the push
	// already refuses (never redirected).
	if _, err := w.AuthorizationURL(co, "wallet-app", walletRedirect, ""); !errors.Is(err, sdkwallet.ErrIssuer) || !strings.Contains(err.Error(), "issuer_state is unknown") {
		t.Fatalf("the offer's issuer_state again: %v", err)
	}

	// authorize sends an authorization request by hand and returns the
	// response (not followed).
	type req struct {
		q       url.Values
		verfier string
	}
	newReq := func(state string) req {
		v := rand.Text() + rand.Text()
		sum := sha256.Sum256([]byte(v))
		return req{q: url.Values{"response_type": {"code"}, "client_id": {"wallet-app"}, "redirect_uri": {walletRedirect},
			"state": {"st-" + rand.Text()}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
			"issuer_state": {state}, "authorization_details": {`[{"type":"openid_credential","credential_configuration_id":"ResidenceCredential_sd_jwt"}]`}}, verfier: v}
	}
	issuerState := func() string {
		o := offer(aliceSub, `["ResidenceCredential_sd_jwt"]`)
		ref := o["offer_uri"].(string)
		ref, _ = url.QueryUnescape(ref[strings.Index(ref, "=")+1:])
		resp, err := http.Get(ref)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var doc struct {
			Grants map[string]struct {
				State string `json:"issuer_state"`
			} `json:"grants"`
		}
		json.NewDecoder(resp.Body).Decode(&doc)
		return doc.Grants["authorization_code"].State
	}
	send := func(q url.Values) (int, url.Values, string) {
		t.Helper()
		resp, err := newBrowser().Get(f.base + "/oid4vci/authorize?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.Header.Get("Location") == "" {
			return resp.StatusCode, nil, string(body)
		}
		return resp.StatusCode, loc.Query(), string(body)
	}
	// Refusals sent back to the wallet, with state and iss.
	for _, c := range []struct {
		name string
		edit func(q url.Values)
		want string
	}{
		{"plain PKCE", func(q url.Values) { q.Set("code_challenge_method", "plain") }, "invalid_request"},
		{"no PKCE", func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }, "invalid_request"},
		{"unknown issuer_state", func(q url.Values) { q.Set("issuer_state", strings.Repeat("A", 43)) }, "invalid_request"},
		{"no issuer_state", func(q url.Values) { q.Del("issuer_state") }, "invalid_request"},
		{"unknown configuration", func(q url.Values) {
			q.Set("authorization_details", `[{"type":"openid_credential","credential_configuration_id":"Nope_sd_jwt"}]`)
		}, "invalid_authorization_details"},
		{"configuration not offered", func(q url.Values) {
			q.Set("authorization_details", `[{"type":"openid_credential","credential_configuration_id":"ResidenceCredential_jwt_vc_json"}]`)
		}, "invalid_authorization_details"},
		{"other details type", func(q url.Values) { q.Set("authorization_details", `[{"type":"payment"}]`) }, "invalid_authorization_details"},
		{"unknown scope", func(q url.Values) { q.Del("authorization_details"); q.Set("scope", "Nope_sd_jwt") }, "invalid_scope"},
		{"nothing asked", func(q url.Values) { q.Del("authorization_details") }, "invalid_request"},
		{"response_type token", func(q url.Values) { q.Set("response_type", "token") }, "unsupported_response_type"},
	} {
		r := newReq(issuerState())
		c.edit(r.q)
		status, back, body := send(r.q)
		if status != 302 || back.Get("error") != c.want || back.Get("state") != r.q.Get("state") || back.Get("iss") != f.base+"/oid4vci" {
			t.Errorf("%s: %d %v %s, want a redirect with %s", c.name, status, back, body, c.want)
		}
	}
	// Refusals never redirected: redirect URI not registered, unknown client.
	r := newReq(issuerState())
	r.q.Set("redirect_uri", "http://127.0.0.1:9/elsewhere")
	if status, back, _ := send(r.q); status != 400 || back != nil {
		t.Errorf("unregistered redirect_uri: %d %v", status, back)
	}
	r.q.Set("client_id", "no-such-wallet")
	if status, back, _ := send(r.q); status != 400 || back != nil {
		t.Errorf("unknown client: %d %v", status, back)
	}
	// An issuer_state is good for one authorization.
	r = newReq(issuerState())
	if status, _, _ := send(r.q); status != 200 {
		t.Fatalf("authorization: %d", status)
	}
	if status, back, _ := send(newReq(r.q.Get("issuer_state")).q); status != 302 || back.Get("error") != "invalid_request" {
		t.Errorf("issuer_state used twice: %d %v", status, back)
	}

	// login runs an authorization request through Alice's approval and
	// returns the code.
	loginFor := func(r req) string {
		t.Helper()
		b := newBrowser()
		sess := loginPage(t, b, f.base+"/oid4vci/authorize?"+r.q.Encode())
		if status, m := approve(t, sess, aliceApp, ""); status != 204 {
			t.Fatalf("approve: %d %v", status, m)
		}
		u, _ := url.Parse(waitRedirect(t, b, sess))
		if u.Query().Get("state") != r.q.Get("state") || u.Query().Get("iss") != f.base+"/oid4vci" || u.Query().Get("code") == "" {
			t.Fatalf("redirect: %v", u)
		}
		return u.Query().Get("code")
	}
	token := func(form url.Values) (int, map[string]any) {
		code, m, _ := f.do("POST", "/oid4vci/token", "", "application/x-www-form-urlencoded", form.Encode())
		return code, m
	}
	redeem := func(r req, code string) url.Values {
		return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {r.verfier}, "redirect_uri": {walletRedirect}, "client_id": {"wallet-app"}}
	}
	for _, c := range []struct {
		name string
		edit func(form url.Values)
	}{
		{"wrong verifier", func(form url.Values) { form.Set("code_verifier", rand.Text()+rand.Text()) }},
		{"no verifier", func(form url.Values) { form.Del("code_verifier") }},
		{"another client", func(form url.Values) { form.Set("client_id", "other-wallet") }},
		{"another redirect_uri", func(form url.Values) { form.Set("redirect_uri", "http://127.0.0.1:9/other/cb") }},
	} {
		r := newReq(issuerState())
		code := loginFor(r)
		form := redeem(r, code)
		c.edit(form)
		if status, m := token(form); status != 400 || m["error"] != "invalid_grant" {
			t.Errorf("%s: %d %v", c.name, status, m)
		}
		// The code is spent by the failed try.
		if status, m := token(redeem(r, code)); status != 400 || m["error"] != "invalid_grant" {
			t.Errorf("%s, then the right request: %d %v", c.name, status, m)
		}
	}
	// The login page's "Get a new code" (WCAG 2.2.1): its issuer_state
	// is spent, so the form starts the session again for this browser
	// (POST .../restart with its cookie), once: a new session and QR,
	// whose approval gives a code for the same request; another
	// browser's press, and a second one, start nothing.
	r = newReq(issuerState())
	nb := newBrowser()
	nsess := loginPage(t, nb, f.base+"/oid4vci/authorize?"+r.q.Encode())
	restart := func(b *http.Client, sess string) (int, string) {
		t.Helper()
		resp, err := b.Post(sess+"/restart?ui_locales=en", "application/x-www-form-urlencoded", nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(body)
	}
	if status, _ := restart(newBrowser(), nsess); status != 404 {
		t.Errorf("another browser's new code: %d, want 404", status)
	}
	status, page := restart(nb, nsess)
	link := appLinkRE.FindStringSubmatch(page)
	if status != 200 || link == nil || !strings.Contains(page, `id="restart" method="post" action="/login/sessions/`) {
		t.Fatalf("new code: %d, app link %v, restart form %v", status, link != nil, strings.Contains(page, `id="restart"`))
	}
	sess2, _ := url.QueryUnescape(strings.ReplaceAll(link[1], "&amp;", "&"))
	if sess2 == nsess {
		t.Fatalf("the new code is the old session's %s", nsess)
	}
	if status, _ := restart(nb, nsess); status != 404 {
		t.Errorf("a second new code from the same page: %d, want 404", status)
	}
	if status, m := approve(t, sess2, aliceApp, ""); status != 204 {
		t.Fatalf("approve the new code: %d %v", status, m)
	}
	// The phone answered after the page's poll gave up (its "Get a new
	// code" shown): the press starts nothing, and the page collects the
	// answer, as the poll would, going on to continue at once (an
	// instant refresh: a redirect of the form's submission to the wallet
	// would be stopped by the page's form-action 'self').
	status, page = restart(nb, sess2)
	moveOn := moveOnRE.FindStringSubmatch(page)
	if status != 200 || moveOn == nil || html.UnescapeString(moveOn[1]) != strings.TrimPrefix(sess2, f.base)+"/continue?ui_locales=en" ||
		!strings.Contains(page, "Your phone has already answered this login.") {
		t.Fatalf("new code once the phone answered: %d, moving on to %v, want %s/continue\n%s", status, moveOn, sess2, page)
	}
	resp, err := nb.Get(f.base + html.UnescapeString(moveOn[1]))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("continue, from the answered page: %d", resp.StatusCode)
	}
	nu, _ := url.Parse(resp.Header.Get("Location"))
	if nu.Query().Get("state") != r.q.Get("state") || nu.Query().Get("code") == "" {
		t.Fatalf("the new code's redirect: %v", nu)
	}
	if status, tok := token(redeem(r, nu.Query().Get("code"))); status != 200 || tok["access_token"] == nil {
		t.Errorf("the new code's redemption: %d %v", status, tok)
	}

	// Replay: the second redemption is refused and revokes the first's
	// access token.
	r = newReq(issuerState())
	c := loginFor(r)
	status, tok := token(redeem(r, c))
	if status != 200 || tok["access_token"] == nil {
		t.Fatalf("redeem: %d %v", status, tok)
	}
	details, _ := json.Marshal(tok["authorization_details"])
	if string(details) != `[{"credential_configuration_id":"ResidenceCredential_sd_jwt","credential_identifiers":["ResidenceCredential_sd_jwt"],"type":"openid_credential"}]` {
		t.Errorf("token authorization_details: %s", details)
	}
	at := tok["access_token"].(string)
	_, nm, _ := f.do("POST", "/oid4vci/nonce", "", "", "")
	credReq := func(body map[string]any) (int, map[string]any) {
		b, _ := json.Marshal(body)
		code, m, _ := f.do("POST", "/oid4vci/credential", at, "application/json", string(b))
		return code, m
	}
	// The token response gave identifiers: the request must use them.
	if code, m := credReq(map[string]any{"credential_configuration_id": "ResidenceCredential_sd_jwt", "proofs": map[string]any{"jwt": []string{es256Proof(t, f.base, nm["c_nonce"].(string), nil)}}}); code != 400 || m["error"] != "invalid_credential_request" {
		t.Errorf("configuration id with identifiers: %d %v", code, m)
	}
	if code, m := credReq(map[string]any{"credential_identifier": "Other", "proofs": map[string]any{"jwt": []string{es256Proof(t, f.base, nm["c_nonce"].(string), nil)}}}); code != 400 || m["error"] != "unknown_credential_identifier" {
		t.Errorf("unknown identifier: %d %v", code, m)
	}
	if status, m := token(redeem(r, c)); status != 400 || m["error"] != "invalid_grant" {
		t.Errorf("replayed code: %d %v", status, m)
	}
	if code, m := credReq(map[string]any{"credential_identifier": "ResidenceCredential_sd_jwt", "proofs": map[string]any{"jwt": []string{es256Proof(t, f.base, nm["c_nonce"].(string), nil)}}}); code != 401 || m["error"] != "invalid_token" {
		t.Errorf("access token after the code's replay: %d %v", code, m)
	}
	// A phone reported lost: the access token its approval gave is
	// refused at the credential endpoint while the binding is suspended
	// (or revoked), and works again once it is reinstated.
	r = newReq(issuerState())
	if status, tok = token(redeem(r, loginFor(r))); status != 200 {
		t.Fatalf("redeem: %d %v", status, tok)
	}
	at = tok["access_token"].(string)
	setAlice := func(action string) {
		t.Helper()
		sb, _ := json.Marshal(map[string]string{"action": action})
		if c, m, _ := f.do("POST", "/v1/credentials/"+ra.BindingCredential.ID+"/status", f.enrollTok, "application/json", string(sb)); c != 200 {
			t.Fatalf("%s alice's binding: %d %v", action, c, m)
		}
	}
	fresh := func() map[string]any {
		_, nm, _ := f.do("POST", "/oid4vci/nonce", "", "", "")
		return map[string]any{"credential_identifier": "ResidenceCredential_sd_jwt", "proofs": map[string]any{"jwt": []string{es256Proof(t, f.base, nm["c_nonce"].(string), nil)}}}
	}
	setAlice("suspend")
	if code, m := credReq(fresh()); code != 401 || m["error"] != "invalid_token" {
		t.Errorf("access token of a suspended binding's login: %d %v", code, m)
	}
	setAlice("reinstate")
	if code, m := credReq(fresh()); code != 200 {
		t.Errorf("access token once the binding is reinstated: %d %v", code, m)
	}
	// An expired code (the node's codes live 3 s here).
	r = newReq(issuerState())
	c = loginFor(r)
	time.Sleep(3500 * time.Millisecond)
	if status, m := token(redeem(r, c)); status != 400 || m["error"] != "invalid_grant" {
		t.Errorf("expired code: %d %v", status, m)
	}
	// The holder refuses: access_denied back to the wallet.
	r = newReq(issuerState())
	b := newBrowser()
	sess := loginPage(t, b, f.base+"/oid4vci/authorize?"+r.q.Encode())
	// Only the person the offer is for may refuse it: someone else who
	// scanned the QR cannot cancel the login (and the spent offer).
	if status, m := signLogin(t, sess+"/deny", bobApp); status != 403 || m["error"] != "approval_refused" {
		t.Errorf("another person's refusal: %d %v", status, m)
	}
	if status, m := signLogin(t, sess+"/deny", aliceApp); status != 204 {
		t.Fatalf("deny: %d %v", status, m)
	}
	u, _ := url.Parse(waitRedirect(t, b, sess))
	if q := u.Query(); q.Get("error") != "access_denied" || q.Get("state") != r.q.Get("state") || q.Get("iss") != f.base+"/oid4vci" || q.Get("code") != "" {
		t.Errorf("denied: %v", u)
	}
	// ... and the SDK reports it.
	co2, err := w.ReceiveOffer(offer(aliceSub, `["ResidenceCredential_sd_jwt"]`)["offer_uri"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.AuthorizationURL(co2, "wallet-app", walletRedirect, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := w.AcceptAuthorization(co2, walletRedirect+"?error=access_denied&state=forged", 1, store); err == nil || !strings.Contains(err.Error(), "state") {
		t.Errorf("forged state: %v", err)
	}
	// An offer at L3: the login asks for the holder's PIN; Alice's
	// approval with her device alone is refused.
	l3 := `{"grant":"authorization_code","subject":"` + aliceSub + `","level":"L3","credential_configuration_ids":["ResidenceCredential_sd_jwt"],
	  "credential":{"@context":["https://www.w3.org/ns/credentials/v2"],"type":["VerifiableCredential","ResidenceCredential"],"credentialSubject":{"region":"310000"}}}`
	// openOffer makes an offer of body, takes it into wallet h and opens
	// its authorization request in a new browser: the offer, the login
	// session's URL and the browser.
	openOffer := func(h *sdkwallet.Holder, body string) (*sdkwallet.CredentialOffer, string, *http.Client) {
		t.Helper()
		code, o, _ := f.do("POST", "/oid4vci/offers", rpTok.AccessToken, "application/json", body)
		if code != 201 {
			t.Fatalf("offer: %d %v", code, o)
		}
		co, err := h.ReceiveOffer(o["offer_uri"].(string))
		if err != nil {
			t.Fatal(err)
		}
		u, err := h.AuthorizationURL(co, "wallet-app", walletRedirect, "")
		if err != nil {
			t.Fatal(err)
		}
		b := newBrowser()
		return co, loginPage(t, b, u), b
	}
	_, sess3, _ := openOffer(w, l3)
	if _, sr, _ := f.do("GET", strings.TrimPrefix(sess3, f.base), "", "", ""); sr["acr"] != "L3" {
		t.Errorf("L3 session asks for %v", sr["acr"])
	}
	if status, m := approve(t, sess3, aliceApp, ""); status != 403 || !strings.Contains(m["error_description"].(string), "PIN") {
		t.Errorf("L3 offer approved without a PIN: %d %v", status, m)
	}
	// Carol, enrolled with the wallet SDK and a PIN, logs in to the
	// bureau (L2, her device alone), is offered a credential at L3 and
	// approves with her PIN: the wallet gets the credentials. A wrong PIN
	// first is refused with the attempts left and leaves the login open.
	carol, _ := f.walletHolder(t, "11010519800615004", "王五", "135790")
	a = rp.start(t)
	if lr, err := carol.DescribeLogin(a.sessionURL); err != nil {
		t.Fatal(err)
	} else if err := carol.ApproveLogin(a.sessionURL, lr.Challenge, "", ""); err != nil {
		t.Fatalf("carol logs in to the bureau: %v", err)
	}
	_, idt = rp.exchange(t, a, a.code(t, rp, f.base))
	coC, sessC, bC := openOffer(carol, strings.Replace(l3, aliceSub, idt.Subject, 1))
	lrC, err := carol.DescribeLogin(sessC)
	if err != nil || lrC.ACR != "L3" {
		t.Fatalf("carol's L3 session: %+v %v", lrC, err)
	}
	// The app is told what the login is for, not only the wallet's name.
	if !strings.HasPrefix(lrC.Purpose, "receive ") || !strings.Contains(lrC.Purpose, " from ") {
		t.Errorf("carol's wallet is not told the session's purpose: %q", lrC.Purpose)
	}
	if err := carol.ApproveLogin(sessC, lrC.Challenge, "", "000000"); !errors.Is(err, sdkwallet.ErrApprovalRefused) || !strings.Contains(err.Error(), "wrong PIN; 4 attempts left") {
		t.Errorf("L3 offer approved with a wrong PIN: %v", err)
	}
	if err := carol.ApproveLogin(sessC, lrC.Challenge, "", "135790"); err != nil {
		t.Fatalf("L3 offer approved with the PIN: %v", err)
	}
	storeC := sdkwallet.NewMemoryStore()
	idsC, err := carol.AcceptAuthorization(coC, waitRedirect(t, bC, sessC), 1, storeC)
	if err != nil || len(strings.Split(idsC, ",")) != 1 {
		t.Fatalf("carol's L3 credentials: %q %v", idsC, err)
	}
	cC, _ := sdkwallet.LoadCredential(storeC, idsC)
	vb, _ := json.Marshal(map[string]any{"verifiableCredential": cC.Credential})
	if code, v, _ := f.do("POST", "/credentials/verify", "", "application/json", string(vb)); code != 200 || v["verified"] != true {
		t.Fatalf("verify carol's L3 credential: %d %v", code, v)
	}
	// Offers: the authorization code grant needs a subject and takes no
	// transaction code; level is L2..L4, with that grant only.
	for _, body := range []string{strings.Replace(l3, `"L3"`, `"L1"`, 1), strings.Replace(l3, `"authorization_code"`, `"pre-authorized_code"`, 1), `{"grant":"authorization_code","credential_configuration_ids":["ResidenceCredential_sd_jwt"],"credential":{"type":["VerifiableCredential","ResidenceCredential"],"credentialSubject":{"region":"310000"}}}`,
		`{"grant":"authorization_code","subject":"` + aliceSub + `","tx_code":true,"credential_configuration_ids":["ResidenceCredential_sd_jwt"],"credential":{"type":["VerifiableCredential","ResidenceCredential"],"credentialSubject":{"region":"310000"}}}`} {
		if code, m, _ := f.do("POST", "/oid4vci/offers", rpTok.AccessToken, "application/json", body); code != 422 || m["error"] != "invalid_offer" {
			t.Errorf("bad authorization code offer: %d %v", code, m)
		}
	}
	// dpop_jkt (RFC 9449 §10): the code is redeemed only with a DPoP
	// proof by that key; a wrong one, or none, spends it.
	dpopKey, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	otherKey, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	dj, _ := gm.NewJWK(dpopKey.Public(), "")
	jkt, _ := dj.Thumbprint()
	// dpopPost posts form to path with a DPoP proof by k, once more with
	// the nonce a use_dpop_nonce answer gives.
	dpopPost := func(path string, form url.Values, k crypto.Signer) (int, map[string]any, http.Header) {
		t.Helper()
		nonce := ""
		for range 2 {
			p, err := dpop.NewProof(k, "POST", f.base+path, "", nonce, time.Now(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			code, m, h := f.doWith("POST", path, http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Dpop": {p}}, form.Encode())
			if m["error"] != "use_dpop_nonce" {
				return code, m, h
			}
			if nonce = h.Get("DPoP-Nonce"); nonce == "" || code != 400 {
				t.Fatalf("%s use_dpop_nonce: %d %v", path, code, m)
			}
		}
		t.Fatalf("no DPoP nonce from %s", path)
		return 0, nil, nil
	}
	dpopToken := func(form url.Values, k crypto.Signer) (int, map[string]any) {
		t.Helper()
		code, m, _ := dpopPost("/oid4vci/token", form, k)
		return code, m
	}
	for name, k := range map[string]crypto.Signer{"another key": otherKey, "no proof": nil} {
		r := newReq(issuerState())
		r.q.Set("dpop_jkt", jkt)
		code := loginFor(r)
		status, m := token(redeem(r, code))
		if k != nil {
			status, m = dpopToken(redeem(r, code), k)
		}
		if status != 400 || m["error"] != "invalid_grant" {
			t.Errorf("dpop_jkt, %s: %d %v", name, status, m)
		}
		if status, m := dpopToken(redeem(r, code), dpopKey); status != 400 || m["error"] != "invalid_grant" {
			t.Errorf("dpop_jkt, %s, then the right key: %d %v", name, status, m)
		}
	}
	r = newReq(issuerState())
	r.q.Set("dpop_jkt", jkt)
	if status, m := dpopToken(redeem(r, loginFor(r)), dpopKey); status != 200 || m["token_type"] != "DPoP" {
		t.Errorf("dpop_jkt with its key: %d %v", status, m)
	}
	r = newReq(issuerState())
	r.q.Set("dpop_jkt", "not-a-thumbprint")
	if status, back, _ := send(r.q); status != 302 || back.Get("error") != "invalid_request" {
		t.Errorf("malformed dpop_jkt: %d %v", status, back)
	}
	// Pushed authorization requests (RFC 9126), by hand.
	parForm := func(state string) url.Values {
		return url.Values{"client_id": {"wallet-app"}, "redirect_uri": {walletRedirect}, "response_type": {"code"}, "state": {"s"},
			"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"},
			"issuer_state": {state}, "scope": {"ResidenceCredential_sd_jwt"}}
	}
	freshState := func() string {
		grants := offer(aliceSub, `["ResidenceCredential_sd_jwt"]`)["credential_offer"].(map[string]any)["grants"].(map[string]any)
		return grants["authorization_code"].(map[string]any)["issuer_state"].(string)
	}
	push := func(form url.Values) (int, map[string]any, http.Header) {
		return f.do("POST", "/oid4vci/par", "", "application/x-www-form-urlencoded", form.Encode())
	}
	openAuthorize := func(q url.Values) *http.Response {
		resp, err := newBrowser().Get(f.base + "/oid4vci/authorize?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	state1 := freshState()
	for name, c := range map[string]struct {
		edit   func(url.Values)
		status int
		code   string
	}{
		"request_uri inside":    {func(q url.Values) { q.Set("request_uri", "urn:ietf:params:oauth:request_uri:x") }, 400, "invalid_request"},
		"plain PKCE":            {func(q url.Values) { q.Set("code_challenge_method", "plain") }, 400, "invalid_request"},
		"unknown client":        {func(q url.Values) { q.Set("client_id", "nobody") }, 400, "invalid_client"},
		"unregistered redirect": {func(q url.Values) { q.Set("redirect_uri", "https://evil.example/cb") }, 400, "invalid_request"},
		"unknown issuer_state":  {func(q url.Values) { q.Set("issuer_state", strings.Repeat("A", 43)) }, 400, "invalid_request"},
		"other scope":           {func(q url.Values) { q.Set("scope", "Nope") }, 400, "invalid_scope"},
		"repeated parameter":    {func(q url.Values) { q.Add("state", "t") }, 400, "invalid_request"},
	} {
		q := parForm(state1)
		c.edit(q)
		// No HTTP authentication scheme at PAR: invalid_client is 400,
		// with no challenge (RFC 6749 §5.2, RFC 9110 §15.5.2).
		if code, m, h := push(q); code != c.status || m["error"] != c.code || h.Get("Location") != "" || h.Get("WWW-Authenticate") != "" {
			t.Errorf("PAR, %s: %d %v, WWW-Authenticate %q", name, code, m, h.Get("WWW-Authenticate"))
		}
	}
	// The refusals spent nothing: the issuer_state pushes now.
	code, pushed, _ := push(parForm(state1))
	ru, _ := pushed["request_uri"].(string)
	if code != 201 || !strings.HasPrefix(ru, "urn:ietf:params:oauth:request_uri:") || pushed["expires_in"] != 90.0 {
		t.Fatalf("PAR: %d %v", code, pushed)
	}
	// Another client's request_uri is refused, unredirected, and spends
	// nothing: whoever learns a request_uri cannot burn it.
	if resp := openAuthorize(url.Values{"client_id": {"other-wallet"}, "request_uri": {ru}}); resp.StatusCode != 400 || resp.Header.Get("Location") != "" {
		t.Errorf("request_uri of another client: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	// A HEAD of the authorization URL (a link checker's, a preview's)
	// spends nothing: HEAD is safe (RFC 9110 §9.2.1), so it is 405
	// (Allow: GET), and the request_uri stays for the browser's GET.
	if resp, err := newBrowser().Head(f.base + "/oid4vci/authorize?" + url.Values{"client_id": {"wallet-app"}, "request_uri": {ru}}.Encode()); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET" {
		t.Errorf("HEAD of a pushed request: %d Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	// The pushing client opens the login page once; the issuer_state is
	// spent then.
	if resp := openAuthorize(url.Values{"client_id": {"wallet-app"}, "request_uri": {ru}}); resp.StatusCode != 200 {
		t.Errorf("pushed request: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp := openAuthorize(url.Values{"client_id": {"wallet-app"}, "request_uri": {ru}}); resp.StatusCode != 400 {
		t.Errorf("request_uri used twice: %d", resp.StatusCode)
	}
	if resp := openAuthorize(url.Values{"client_id": {"wallet-app"}, "request_uri": {"urn:ietf:params:oauth:request_uri:" + strings.Repeat("B", 43)}}); resp.StatusCode != 400 {
		t.Errorf("unknown request_uri: %d", resp.StatusCode)
	}
	if code, m, _ := push(parForm(state1)); code != 400 || m["error"] != "invalid_request" {
		t.Errorf("PAR with a spent issuer_state: %d %v", code, m)
	}
	// ui_locales chooses the login page's language over an English
	// browser's Accept-Language, pushed as in a plain request: the pushed
	// parameters are the request (RFC 9126 §4), so one beside request_uri
	// is not.
	pageLang := func(q url.Values) (int, string, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", f.base+"/oid4vci/authorize?"+q.Encode(), nil)
		req.Header.Set("Accept-Language", "en-US,en;q=0.9")
		resp, err := newBrowser().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Language"), string(b)
	}
	plainZh := parForm(freshState())
	plainZh.Set("ui_locales", "fr zh-CN")
	pushAs := func(uiLocales string) string {
		t.Helper()
		q := parForm(freshState())
		if uiLocales != "" {
			q.Set("ui_locales", uiLocales)
		}
		code, pushed, _ := push(q)
		if code != 201 {
			t.Fatalf("PAR with ui_locales %q: %d %v", uiLocales, code, pushed)
		}
		return pushed["request_uri"].(string)
	}
	for _, c := range []struct {
		name string
		q    url.Values
		lang string
	}{
		{"plain request", plainZh, "zh-CN"},
		{"pushed", url.Values{"client_id": {"wallet-app"}, "request_uri": {pushAs("fr zh-CN")}, "ui_locales": {"en"}}, "zh-CN"},
		{"beside request_uri only", url.Values{"client_id": {"wallet-app"}, "request_uri": {pushAs("")}, "ui_locales": {"zh-CN"}}, "en"},
	} {
		status, lang, page := pageLang(c.q)
		scan := map[string]string{"en": "Scan with the TrustID app and approve.", "zh-CN": "请用 TrustID 应用扫码并确认。"}[c.lang]
		if status != 200 || lang != c.lang || !strings.Contains(page, `<html lang="`+c.lang+`">`) || !strings.Contains(page, scan) {
			t.Errorf("ui_locales, %s: %d %q, want %s\n%.600s", c.name, status, lang, c.lang, page)
		}
	}
	// Checked as the other parameters are: one value, of bounded length.
	twice := parForm(freshState())
	twice["ui_locales"] = []string{"en", "zh-CN"}
	if status, back, _ := send(twice); status != 302 || back.Get("error") != "invalid_request" {
		t.Errorf("ui_locales repeated: %d %v", status, back)
	}
	// A DPoP proof on the push (RFC 9449 §10.1): checked as at the token
	// endpoint (a server nonce first), it binds the code to its key as
	// dpop_jkt does; a dpop_jkt of another key beside it is refused.
	parDPoP := func(form url.Values, k crypto.Signer) (int, map[string]any, http.Header) {
		t.Helper()
		return dpopPost("/oid4vci/par", form, k)
	}
	const rfcVerifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk" // RFC 7636 appendix B: parForm's challenge
	pushedLogin := func(requestURI string) string {
		t.Helper()
		b := newBrowser()
		sess := loginPage(t, b, f.base+"/oid4vci/authorize?"+url.Values{"client_id": {"wallet-app"}, "request_uri": {requestURI}}.Encode())
		if status, m := approve(t, sess, aliceApp, ""); status != 204 {
			t.Fatalf("approve: %d %v", status, m)
		}
		u, _ := url.Parse(waitRedirect(t, b, sess))
		return u.Query().Get("code")
	}
	parRedeem := func(code string) url.Values {
		return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {rfcVerifier}, "redirect_uri": {walletRedirect}, "client_id": {"wallet-app"}}
	}
	mismatch := parForm(freshState())
	oj, _ := gm.NewJWK(otherKey.Public(), "")
	ojkt, _ := oj.Thumbprint()
	mismatch.Set("dpop_jkt", ojkt)
	if code, m, h := parDPoP(mismatch, dpopKey); code != 400 || m["error"] != "invalid_dpop_proof" || h.Get("Location") != "" {
		t.Errorf("PAR with a DPoP proof and another key's dpop_jkt: %d %v", code, m)
	}
	badProof := parForm(freshState())
	stale, _ := dpop.NewProof(dpopKey, "POST", f.base+"/oid4vci/token", "", "", time.Now(), rand.Reader)
	if code, m, _ := f.doWith("POST", "/oid4vci/par", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Dpop": {stale}}, badProof.Encode()); code != 400 || m["error"] != "invalid_dpop_proof" {
		t.Errorf("PAR with a proof for the token endpoint: %d %v", code, m)
	}
	// After the proof passed, a refusal of the request itself (a client
	// error, a login error) still carries the next nonce (RFC 9449 §8),
	// and that nonce passes on the retry.
	for name, c := range map[string]struct {
		edit   func(url.Values)
		status int
		code   string
	}{
		"unknown client":       {func(q url.Values) { q.Set("client_id", "nobody") }, 400, "invalid_client"},
		"unknown issuer_state": {func(q url.Values) { q.Set("issuer_state", strings.Repeat("A", 43)) }, 400, "invalid_request"},
		"other scope":          {func(q url.Values) { q.Set("scope", "Nope") }, 400, "invalid_scope"},
	} {
		q := parForm(freshState())
		c.edit(q)
		code, m, h := parDPoP(q, dpopKey)
		next := h.Get("DPoP-Nonce")
		if code != c.status || m["error"] != c.code || next == "" {
			t.Fatalf("PAR with a good proof, %s: %d %v, DPoP-Nonce %q", name, code, m, next)
		}
		p, _ := dpop.NewProof(dpopKey, "POST", f.base+"/oid4vci/par", "", next, time.Now(), rand.Reader)
		if code, m, _ := f.doWith("POST", "/oid4vci/par", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Dpop": {p}}, parForm(freshState()).Encode()); code != 201 {
			t.Errorf("PAR with the nonce of the %s refusal: %d %v", name, code, m)
		}
	}
	for name, withJKT := range map[string]bool{"proof alone": false, "proof and its dpop_jkt": true} {
		form := parForm(freshState())
		if withJKT {
			form.Set("dpop_jkt", jkt)
		}
		code, pushed, h := parDPoP(form, dpopKey)
		if code != 201 || h.Get("DPoP-Nonce") == "" {
			t.Fatalf("PAR, %s: %d %v", name, code, pushed)
		}
		// Bound: redeemed without a proof, or with another key, the code
		// is refused (and spent).
		if status, m := token(parRedeem(pushedLogin(pushed["request_uri"].(string)))); status != 400 || m["error"] != "invalid_grant" {
			t.Errorf("PAR, %s: the code redeemed without a proof: %d %v", name, status, m)
		}
		form = parForm(freshState())
		if withJKT {
			form.Set("dpop_jkt", jkt)
		}
		_, pushed, _ = parDPoP(form, dpopKey)
		c := pushedLogin(pushed["request_uri"].(string))
		if status, m := dpopToken(parRedeem(c), otherKey); status != 400 || m["error"] != "invalid_grant" {
			t.Errorf("PAR, %s: the code redeemed with another key: %d %v", name, status, m)
		}
		form = parForm(freshState())
		if withJKT {
			form.Set("dpop_jkt", jkt)
		}
		_, pushed, _ = parDPoP(form, dpopKey)
		if status, m := dpopToken(parRedeem(pushedLogin(pushed["request_uri"].(string))), dpopKey); status != 200 || m["token_type"] != "DPoP" {
			t.Errorf("PAR, %s: the code redeemed with the proof's key: %d %v", name, status, m)
		}
	}

	// A push with a wallet attestation binds the code to the attested
	// instance key (attestation-based client auth §10.4): redeemed
	// without an attestation, or with one of another instance, it is
	// invalid_grant (and spent); with the same instance's, it is served.
	instanceA, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	instanceB, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	attestationOf := func(k crypto.Signer) string {
		a, err := attestation.Sign(wpKey, "wp1", attestation.Attestation{Issuer: walletProvider, ClientID: "wallet-app", InstanceKey: k.Public(), IssuedAt: time.Now(), Expires: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	// attested posts form to path with k's attestation and a PoP over a
	// fresh challenge of the challenge endpoint.
	attested := func(path string, form url.Values, k crypto.Signer) (int, map[string]any, http.Header) {
		t.Helper()
		_, ch, _ := f.do("POST", "/oid4vci/challenge", "", "", "")
		pop, err := attestation.NewPoP(k, f.base+"/oid4vci", ch["attestation_challenge"].(string), time.Now(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return f.doWith("POST", path, http.Header{"Content-Type": {"application/x-www-form-urlencoded"},
			"Oauth-Client-Attestation": {attestationOf(k)}, "Oauth-Client-Attestation-Pop": {pop}}, form.Encode())
	}
	for _, c := range []struct {
		name   string
		redeem crypto.Signer // nil: no attestation
		status int
	}{{"no attestation", nil, 400}, {"another instance", instanceB, 400}, {"the attested instance", instanceA, 200}} {
		code, pushed, h := attested("/oid4vci/par", parForm(freshState()), instanceA)
		if code != 201 || h.Get("OAuth-Client-Attestation-Challenge") == "" {
			t.Fatalf("attested PAR: %d %v", code, pushed)
		}
		form := parRedeem(pushedLogin(pushed["request_uri"].(string)))
		var m map[string]any
		if c.redeem == nil {
			code, m = token(form)
		} else {
			code, m, _ = attested("/oid4vci/token", form, c.redeem)
		}
		if code != c.status || (c.status == 400 && m["error"] != "invalid_grant") {
			t.Errorf("a code of an attested push redeemed with %s: %d %v", c.name, code, m)
		}
	}
	// The wallet SDK with the attestation of its key: the push and the
	// token request carry it (and DPoP), and the credentials come.
	sdkKeys := sdkwallet.NewSoftwareKeys()
	rawKey, err := sdkKeys.Generate("instance")
	if err != nil {
		t.Fatal(err)
	}
	sdkPub, _ := gm.ParsePublicKeyBytes(rawKey)
	sdkAtt, err := attestation.Sign(wpKey, "wp1", attestation.Attestation{Issuer: walletProvider, ClientID: "wallet-app", InstanceKey: sdkPub, IssuedAt: time.Now(), Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	wa, _ := sdkwallet.NewHolder(f.base, sdkKeys, "device")
	if err := wa.SetWalletAttestation(sdkAtt, "instance"); err != nil {
		t.Fatal(err)
	}
	coA, err := wa.ReceiveOffer(offer(aliceSub, `["ResidenceCredential_sd_jwt"]`)["offer_uri"].(string))
	if err != nil {
		t.Fatal(err)
	}
	recA := &recordingTransport{base: http.DefaultTransport}
	http.DefaultTransport = recA
	authA, err := wa.AuthorizationURL(coA, "wallet-app", walletRedirect, "")
	http.DefaultTransport = recA.base
	if err != nil {
		t.Fatal(err)
	}
	bA := newBrowser()
	sessA := loginPage(t, bA, authA)
	if status, m := approve(t, sessA, aliceApp, ""); status != 204 {
		t.Fatalf("approve: %d %v", status, m)
	}
	http.DefaultTransport = recA
	idsA, err := wa.AcceptAuthorization(coA, waitRedirect(t, bA, sessA), 1, sdkwallet.NewMemoryStore())
	http.DefaultTransport = recA.base
	if err != nil || idsA == "" {
		t.Fatalf("the SDK's attested authorization code flow: %q %v", idsA, err)
	}
	var pathsA []string
	for _, q := range recA.requests {
		pathsA = append(pathsA, q.path)
	}
	if !slices.Contains(pathsA, "/oid4vci/challenge") || !slices.Contains(pathsA, "/oid4vci/par") || !slices.Contains(pathsA, "/oid4vci/token") {
		t.Errorf("the SDK's requests: %v", pathsA)
	}

	// No code, verifier, access token, number or name in the node's log
	// or data directory. Stopped first: the access log is written out at
	// shutdown.
	f.stop()
	scan := leakcheck.New(t, c, r.verfier, at, alice.number, alice.name, bob.number, bob.name)
	scan.PlantLog(f.logs)
	scan.PlantDir(f.dir)
	if hits := append(scan.Log([]byte(f.logs.String())), scan.Dir(f.dir)...); len(hits) > 0 {
		t.Errorf("a secret or personal data where the node writes: %v", hits)
	}
}

// loginPage opens an authorization URL in browser and returns the login
// session's URL from the page's app link.
func loginPage(t *testing.T, browser *http.Client, authURL string) string {
	t.Helper()
	resp, err := browser.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("login page: %d %s (%s)", resp.StatusCode, body, resp.Header.Get("Location"))
	}
	m := appLinkRE.FindStringSubmatch(string(body))
	if m == nil || !strings.Contains(string(body), `id="purpose"`) {
		t.Fatalf("no app link or purpose on the login page:\n%s", body)
	}
	s, _ := url.QueryUnescape(strings.ReplaceAll(m[1], "&amp;", "&"))
	return s
}

// waitRedirect is the login page's long poll: where the browser goes.
func waitRedirect(t *testing.T, browser *http.Client, sessionURL string) string {
	t.Helper()
	resp, err := browser.Get(sessionURL + "/wait")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]string
	json.NewDecoder(resp.Body).Decode(&m)
	if resp.StatusCode != 200 || m["status"] != "approved" {
		t.Fatalf("wait: %d %v", resp.StatusCode, m)
	}
	return m["redirect"]
}

// signLogin posts the holder's signed answer (over the session's
// challenge) to target, as approve does for an approval.
func signLogin(t *testing.T, target string, h holderApp) (int, map[string]any) {
	t.Helper()
	return holderAnswer(t, strings.TrimSuffix(target, "/deny"), target, h, nil, nil)
}
