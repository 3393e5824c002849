package main

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/redis/go-redis/v9"

	"github.com/trustid-cn/trustid/auth"
	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/issuer"
	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/leakcheck"
	"github.com/trustid-cn/trustid/internal/testredis"
	sdkwallet "github.com/trustid-cn/trustid/sdk/wallet"
	"github.com/trustid-cn/trustid/store"
)

const residenceOffer = `{"credential_configuration_ids": %s, "tx_code": %t, "by_reference": %t,
  "credential": {"@context": ["https://www.w3.org/ns/credentials/v2"], "type": ["VerifiableCredential", "ResidenceCredential"],
    "credentialSubject": {"region": "310000", "since": "2019-07-01"}}}`

// vciNode is a node with a relying party accredited for
// ResidenceCredential and allowed to make offers.
type vciNode struct {
	*authNode
	rpToken string
}

func startVCINode(t *testing.T, extra ...string) *vciNode {
	n := startAuthNode(t, extra...)
	key := n.addClient("rp-vci", "SM2", auth.ScopeCredentialsIssue)
	n.accredit("rp-vci", "ResidenceCredential")
	return &vciNode{authNode: n, rpToken: n.token("rp-vci", key)}
}

// offer makes an offer and returns the response.
func (n *vciNode) offer(configs string, txCode, byRef bool) map[string]any {
	n.t.Helper()
	code, m, _ := n.do("POST", "/oid4vci/offers", n.rpToken, "application/json", sprintf(residenceOffer, configs, txCode, byRef))
	if code != 201 {
		n.t.Fatalf("POST /oid4vci/offers: %d %v", code, m)
	}
	return m
}

func sprintf(format string, args ...any) string {
	b := new(strings.Builder)
	_, _ = fmt.Fprintf(b, format, args...)
	return b.String()
}

// TestOID4VCIWalletSDK issues through OID4VCI 1.0 to TrustID's wallet SDK:
// an offer by reference with a transaction code, rendered as a QR code,
// redeemed once, a batch of three credentials in each format, each bound
// to its own key, that the node then verifies; the notification. Neither
// the node's log, its data directory nor (with Redis) any Redis database
// holds the pre-authorized code, the transaction code, the offer
// reference, the relying party's token or the claim.
func TestOID4VCIWalletSDK(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testOID4VCIWalletSDK(t, nil) })
	t.Run("redis", func(t *testing.T) {
		addr := testredis.Start(t)
		testOID4VCIWalletSDK(t, testredis.Client(t, addr), "--redis-url", "redis://"+addr)
	})
}

// testOID4VCIWalletSDK is TestOID4VCIWalletSDK on a node started with
// extra; rdb, when not nil, is the Redis it uses.
func testOID4VCIWalletSDK(t *testing.T, rdb *redis.Client, extra ...string) {
	n := startVCINode(t, extra...)
	// Metadata: both formats, display in Chinese and English, the
	// endpoints and proof algorithms.
	code, meta, _ := n.do("GET", "/.well-known/openid-credential-issuer", "", "", "")
	raw, _ := json.Marshal(meta)
	for _, want := range []string{`"credential_issuer":"` + n.base + `"`, `"nonce_endpoint":"` + n.base + `/oid4vci/nonce"`,
		`"notification_endpoint"`, `"batch_size":10`, `"locale":"zh-CN"`, `"locale":"en"`, `"ResidenceCredential_sd_jwt"`,
		`"ResidenceCredential_jwt_vc_json"`, `"format":"dc+sd-jwt"`, `"format":"jwt_vc_json"`, `"proof_signing_alg_values_supported":["SM2","ES256","EdDSA"]`} {
		if code != 200 || !strings.Contains(string(raw), want) {
			t.Fatalf("metadata lacks %s: %d %s", want, code, raw)
		}
	}
	if code, as, _ := n.do("GET", "/.well-known/oauth-authorization-server/oid4vci", "", "", ""); code != 200 || as["token_endpoint"] != n.base+"/oid4vci/token" || as["issuer"] != n.base+"/oid4vci" {
		t.Fatalf("authorization server metadata: %d %v", code, as)
	}

	o := n.offer(`["ResidenceCredential_sd_jwt","ResidenceCredential_jwt_vc_json"]`, true, true)
	link, _ := o["offer_uri"].(string)
	tx, _ := o["tx_code"].(string)
	if !strings.HasPrefix(link, "openid-credential-offer://?credential_offer_uri=") || len(tx) != 6 {
		t.Fatalf("offer: %v", o)
	}
	png, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(o["qr_png"].(string), "data:image/png;base64,"))
	if err != nil || string(png[1:4]) != "PNG" {
		t.Fatalf("qr_png is not a PNG: %v", err)
	}
	// The offer carries no claim: nothing of the holder travels in the link.
	offerJSON, _ := json.Marshal(o["credential_offer"])
	if strings.Contains(string(offerJSON), "310000") || strings.Contains(link, "310000") {
		t.Fatalf("the offer carries a claim: %s", offerJSON)
	}

	keys := sdkwallet.NewSoftwareKeys()
	w, err := sdkwallet.NewHolder(n.base, keys, "device")
	if err != nil {
		t.Fatal(err)
	}
	offer, err := w.ReceiveOffer(link)
	if err != nil {
		t.Fatal(err)
	}
	if offer.TxCodeLength() != 6 || offer.Issuer() != n.base || offer.IssuerName("zh-CN") != "TrustID 可信数字身份" {
		t.Fatalf("offer: %d %s %s", offer.TxCodeLength(), offer.Issuer(), offer.IssuerName("zh-CN"))
	}
	store := sdkwallet.NewMemoryStore()
	wrong := "000000"
	if tx == wrong {
		wrong = "111111"
	}
	if _, err := w.AcceptOffer(offer, "", wrong, 3, store); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("wrong transaction code: %v", err)
	}
	ids, err := w.AcceptOffer(offer, "", tx, 3, store)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Split(ids, ","); len(got) != 6 {
		t.Fatalf("stored %q, want 6 credentials", ids)
	}
	// Redeemed once only.
	if _, err := w.AcceptOffer(offer, "", tx, 1, sdkwallet.NewMemoryStore()); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("second redemption: %v", err)
	}
	subjects := map[string]bool{}
	for _, id := range strings.Split(ids, ",") {
		c, err := sdkwallet.LoadCredential(store, id)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(map[string]any{"verifiableCredential": c.Credential})
		code, v, _ := n.do("POST", "/credentials/verify", "", "application/json", string(body))
		if code != 200 || v["verified"] != true {
			t.Fatalf("verify %s credential: %d %v", c.Format, code, v)
		}
		if c.Format == "jwt_vc_json" {
			subj := v["credential"].(map[string]any)["credentialSubject"].(map[string]any)["id"].(string)
			if !strings.HasPrefix(subj, "did:jwk:") || subjects[subj] {
				t.Fatalf("jwt_vc_json subject %q: not a fresh did:jwk", subj)
			}
			subjects[subj] = true
		}
	}
	if len(subjects) != 3 {
		t.Fatalf("%d distinct holder keys for jwt_vc_json, want 3", len(subjects))
	}
	// The node's log and data directory carry neither the pre-authorized
	// code, the transaction code, the offer reference, the relying
	// party's token nor the claim. Stopped first: the access log is
	// written out at shutdown; a canary planted in each proves the scan.
	preCode := o["credential_offer"].(map[string]any)["grants"].(map[string]any)["urn:ietf:params:oauth:grant-type:pre-authorized_code"].(map[string]any)["pre-authorized_code"].(string)
	ref := link[strings.LastIndex(link, "%2F")+3:]
	n.stop()
	scan := leakcheck.New(t, preCode, ref, n.rpToken, "2019-07-01")
	scan.PlantLog(n.logs)
	scan.PlantDir(n.dir)
	if hits := append(scan.Log([]byte(n.logs.String())), scan.Dir(n.dir)...); len(hits) > 0 {
		t.Errorf("an offer's secret or claim where the node writes: %v", hits)
	}
	txs := leakcheck.NewDelimited(t, tx)
	txs.PlantLog(n.logs)
	txs.PlantDir(n.dir)
	if hits := append(txs.Log([]byte(n.logs.String())), txs.Dir(n.dir)...); len(hits) > 0 {
		t.Errorf("the transaction code where the node writes: %v", hits)
	}
	if rdb != nil {
		scan.PlantRedis(rdb)
		txs.PlantRedis(rdb)
		if hits := append(scan.Redis(rdb), txs.Redis(rdb)...); len(hits) > 0 {
			t.Errorf("an offer's secret or claim in Redis: %v", hits)
		}
	}
}

// vciSession redeems a fresh offer (by value, no transaction code) and
// returns the access token and a nonce.
func (n *vciNode) vciSession(configs string) (token, nonce string) {
	n.t.Helper()
	o := n.offer(configs, false, false)
	grants := o["credential_offer"].(map[string]any)["grants"].(map[string]any)
	code := grants["urn:ietf:params:oauth:grant-type:pre-authorized_code"].(map[string]any)["pre-authorized_code"].(string)
	form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:pre-authorized_code"}, "pre-authorized_code": {code}}
	st, m, _ := n.do("POST", "/oid4vci/token", "", "application/x-www-form-urlencoded", form.Encode())
	if st != 200 {
		n.t.Fatalf("token: %d %v", st, m)
	}
	st, nm, _ := n.do("POST", "/oid4vci/nonce", "", "", "")
	if st != 200 {
		n.t.Fatalf("nonce: %d %v", st, nm)
	}
	return m["access_token"].(string), nm["c_nonce"].(string)
}

// es256Proof signs a key proof with a fresh P-256 key; edit changes it.
func es256Proof(t *testing.T, aud, nonce string, edit func(h map[string]any, c jwt.MapClaims)) string {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	j, _ := gm.NewJWK(&k.PublicKey, "")
	j.Use, j.Alg = "", ""
	c := jwt.MapClaims{"aud": aud, "iat": time.Now().Unix(), "nonce": nonce}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, c)
	tok.Header["typ"] = "openid4vci-proof+jwt"
	tok.Header["jwk"] = j
	if edit != nil {
		edit(tok.Header, c)
	}
	s, err := tok.SignedString(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestOID4VCIRefusals sends the abuse the issue lists and checks each gets
// the error code OID4VCI 1.0 names.
func TestOID4VCIRefusals(t *testing.T) {
	n := startVCINode(t)
	const sd = "ResidenceCredential_sd_jwt"
	credReq := func(token string, proofs ...string) (int, map[string]any) {
		b, _ := json.Marshal(map[string]any{"credential_configuration_id": sd, "proofs": map[string]any{"jwt": proofs}})
		code, m, _ := n.do("POST", "/oid4vci/credential", token, "application/json", string(b))
		return code, m
	}
	tok, nonce := n.vciSession(`["` + sd + `"]`)
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cases := []struct {
		name  string
		token string
		proof string
		want  string
	}{
		{"no access token", "", es256Proof(t, n.base, nonce, nil), "invalid_token"},
		{"unknown access token", strings.Repeat("A", 43), es256Proof(t, n.base, nonce, nil), "invalid_token"},
		{"wrong typ", tok, es256Proof(t, n.base, nonce, func(h map[string]any, _ jwt.MapClaims) { h["typ"] = "JWT" }), "invalid_proof"},
		{"wrong audience", tok, es256Proof(t, n.base, nonce, func(_ map[string]any, c jwt.MapClaims) { c["aud"] = "https://other.example" }), "invalid_proof"},
		{"stale iat", tok, es256Proof(t, n.base, nonce, func(_ map[string]any, c jwt.MapClaims) { c["iat"] = time.Now().Add(-time.Hour).Unix() }), "invalid_proof"},
		{"no nonce", tok, es256Proof(t, n.base, nonce, func(_ map[string]any, c jwt.MapClaims) { delete(c, "nonce") }), "invalid_proof"},
		{"unknown nonce", tok, es256Proof(t, n.base, strings.Repeat("B", 32), nil), "invalid_nonce"},
		{"signed by another key than the jwk", tok, es256Proof(t, n.base, nonce, func(h map[string]any, _ jwt.MapClaims) {
			j, _ := gm.NewJWK(&otherKey.PublicKey, "")
			h["jwk"] = j
		}), "invalid_proof"},
		{"kid instead of jwk", tok, es256Proof(t, n.base, nonce, func(h map[string]any, _ jwt.MapClaims) { h["kid"] = "did:example:1#k" }), "invalid_proof"},
		{"not a JWS", tok, "not.a.jws", "invalid_proof"},
	}
	for _, c := range cases {
		code, m := credReq(c.token, c.proof)
		if m["error"] != c.want || (c.want == "invalid_token") != (code == 401) || (code != 400 && code != 401) {
			t.Errorf("%s: %d %v, want %s", c.name, code, m, c.want)
		}
	}
	// One key twice in a batch: refused (each credential needs its own key).
	same := es256Proof(t, n.base, nonce, nil)
	if code, m := credReq(tok, same, same); code != 400 || m["error"] != "invalid_proof" {
		t.Errorf("duplicate key: %d %v", code, m)
	}
	// The nonce survived the refusals; a good batch spends it.
	if code, m := credReq(tok, es256Proof(t, n.base, nonce, nil), es256Proof(t, n.base, nonce, nil)); code != 200 || len(m["credentials"].([]any)) != 2 {
		t.Fatalf("good batch: %d %v\n%s", code, m, n.logs.String())
	}
	// Replayed nonce (with a new session, so the configuration is not the refusal).
	tok2, _ := n.vciSession(`["` + sd + `"]`)
	if code, m := credReq(tok2, es256Proof(t, n.base, nonce, nil)); code != 400 || m["error"] != "invalid_nonce" {
		t.Errorf("replayed nonce: %d %v", code, m)
	}
	// Unknown configuration, configuration outside the grant, malformed body, legacy proof.
	_, nonce2 := n.vciSession(`["` + sd + `"]`)
	for _, c := range []struct{ name, body, want string }{
		{"unknown configuration", `{"credential_configuration_id":"Nope_sd_jwt","proofs":{"jwt":["x"]}}`, "unknown_credential_configuration"},
		{"not in the grant", `{"credential_configuration_id":"ResidenceCredential_jwt_vc_json","proofs":{"jwt":["x"]}}`, "invalid_credential_request"},
		{"no proofs", `{"credential_configuration_id":"` + sd + `"}`, "invalid_proof"},
		{"singular proof", `{"credential_configuration_id":"` + sd + `","proof":{"proof_type":"jwt","jwt":"x"}}`, "invalid_credential_request"},
		{"duplicate member", `{"credential_configuration_id":"a","credential_configuration_id":"b"}`, "invalid_credential_request"},
		{"encryption asked", `{"credential_configuration_id":"` + sd + `","credential_response_encryption":{"enc":"A128GCM"}}`, "invalid_encryption_parameters"},
		{"credential identifier", `{"credential_identifier":"x"}`, "unknown_credential_identifier"},
		{"too many proofs", `{"credential_configuration_id":"` + sd + `","proofs":{"jwt":["a","b","c","d","e","f","g","h","i","j","k"]}}`, "invalid_credential_request"},
	} {
		if code, m, _ := n.do("POST", "/oid4vci/credential", tok2, "application/json", c.body); code != 400 || m["error"] != c.want {
			t.Errorf("%s: %d %v, want %s", c.name, code, m, c.want)
		}
	}
	_ = nonce2

	// Notification: unknown id, bad event, then the real one.
	if code, m, _ := n.do("POST", "/oid4vci/notification", tok, "application/json", `{"notification_id":"AAAAAAAAAAAAAAAAAAAAAAAA","event":"credential_accepted"}`); code != 400 || m["error"] != "invalid_notification_id" {
		t.Errorf("unknown notification: %d %v", code, m)
	}
	if code, m, _ := n.do("POST", "/oid4vci/notification", tok, "application/json", `{"notification_id":"x","event":"credential_lost"}`); code != 400 || m["error"] != "invalid_notification_request" {
		t.Errorf("bad event: %d %v", code, m)
	}
	if code, m, _ := n.do("POST", "/oid4vci/notification", "", "application/json", `{}`); code != 401 || m["error"] != "invalid_token" {
		t.Errorf("notification without token: %d %v", code, m)
	}

	// Token endpoint: wrong grant type, unknown code.
	for _, c := range []struct{ form, want string }{
		{"grant_type=client_credentials", "unsupported_grant_type"},
		{"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Apre-authorized_code&pre-authorized_code=" + strings.Repeat("C", 43), "invalid_grant"},
		{"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Apre-authorized_code", "invalid_request"},
	} {
		if code, m, _ := n.do("POST", "/oid4vci/token", "", "application/x-www-form-urlencoded", c.form); code != 400 || m["error"] != c.want {
			t.Errorf("token %s: %d %v, want %s", c.form, code, m, c.want)
		}
	}
	// Offers: an unknown reference, a type the configuration does not name,
	// no token.
	if code, m, _ := n.do("GET", "/oid4vci/offers/AAAAAAAAAAAAAAAAAAAAAAAA", "", "", ""); code != 404 {
		t.Errorf("unknown offer reference: %d %v", code, m)
	}
	if code, m, _ := n.do("POST", "/oid4vci/offers", n.rpToken, "application/json", `{"credential_configuration_ids":["Nope_sd_jwt"],"credential":{"type":["VerifiableCredential","ResidenceCredential"],"credentialSubject":{"a":1}}}`); code != 422 || m["error"] != "invalid_offer" {
		t.Errorf("unknown configuration in offer: %d %v", code, m)
	}
	// A client allowed to issue but not accredited for the type gets no
	// offer (rather than an offer the holder could never redeem).
	other := n.addClient("rp-unaccredited", "SM2", auth.ScopeCredentialsIssue)
	if code, m, _ := n.do("POST", "/oid4vci/offers", n.token("rp-unaccredited", other), "application/json", sprintf(residenceOffer, `["ResidenceCredential_sd_jwt"]`, false, false)); code != 403 || m["error"] != "issuer_not_accredited" {
		t.Errorf("offer by an unaccredited client: %d %v", code, m)
	}
	if code, _, _ := n.do("POST", "/oid4vci/offers", "", "application/json", `{}`); code != 401 {
		t.Errorf("offer without token: %d", code)
	}
	// The log holds none of the secrets these requests carried. Stopped
	// first: the access log is written out at shutdown.
	n.stop()
	scan := leakcheck.New(t, tok, tok2, nonce, n.rpToken)
	scan.PlantLog(n.logs)
	if hits := scan.Log([]byte(n.logs.String())); len(hits) > 0 {
		t.Errorf("a secret in the node's log: %v", hits)
	}
}

// TestOID4VCITxCodeLockout: wrong transaction codes burn the offer, not
// the holder: after five, even the right code is refused, and a new offer
// works.
func TestOID4VCITxCodeLockout(t *testing.T) {
	n := startVCINode(t)
	o := n.offer(`["ResidenceCredential_sd_jwt"]`, true, false)
	tx := o["tx_code"].(string)
	grants := o["credential_offer"].(map[string]any)["grants"].(map[string]any)
	code := grants["urn:ietf:params:oauth:grant-type:pre-authorized_code"].(map[string]any)["pre-authorized_code"].(string)
	try := func(tx string) (int, map[string]any) {
		form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:pre-authorized_code"}, "pre-authorized_code": {code}}
		if tx != "" {
			form.Set("tx_code", tx)
		}
		st, m, _ := n.do("POST", "/oid4vci/token", "", "application/x-www-form-urlencoded", form.Encode())
		return st, m
	}
	if st, m := try(""); st != 400 || m["error"] != "invalid_request" {
		t.Fatalf("missing tx_code: %d %v", st, m)
	}
	wrong := "999999"
	if tx == wrong {
		wrong = "888888"
	}
	for i := range 5 {
		st, m := try(wrong)
		if st != 400 || m["error"] != "invalid_grant" {
			t.Fatalf("wrong try %d: %d %v", i+1, st, m)
		}
		if i == 4 && !strings.Contains(m["error_description"].(string), "new offer") {
			t.Fatalf("last wrong try does not say the offer is void: %v", m)
		}
	}
	if st, m := try(tx); st != 400 || m["error"] != "invalid_grant" {
		t.Fatalf("right code after lockout: %d %v", st, m)
	}
	// The holder asks for a new offer: it works.
	o2 := n.offer(`["ResidenceCredential_sd_jwt"]`, true, false)
	w, _ := sdkwallet.NewHolder(n.base, sdkwallet.NewSoftwareKeys(), "device")
	offer, err := w.ReceiveOffer(o2["offer_uri"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.AcceptOffer(offer, "", o2["tx_code"].(string), 1, sdkwallet.NewMemoryStore()); err != nil {
		t.Fatalf("new offer after lockout: %v", err)
	}
}

// ldpOffer is an offer whose credential defines its terms (the examples
// context), as ldp_vc needs.
const ldpOffer = `{"credential_configuration_ids": %s, "tx_code": true, "by_reference": true,
  "credential": {"@context": ["https://www.w3.org/ns/credentials/v2", "https://www.w3.org/ns/credentials/examples/v2"],
    "type": ["VerifiableCredential", "ResidenceCredential"], "credentialSubject": {"region": "310000"}}}`

const (
	ldpSM2   = "ResidenceCredential_ldp_vc_sm2-rdfc-2025"
	ldpEdDSA = "ResidenceCredential_ldp_vc_eddsa-rdfc-2022"
)

// TestOID4VCIWalletSDKLDPVC issues W3C credentials secured with Data
// Integrity proofs (ldp_vc, OID4VCI 1.0 Appendix A.1.2) to the wallet SDK:
// the metadata's configurations, a batch of two in sm2-rdfc-2025 and two
// in eddsa-rdfc-2022, each a JSON object bound to its own did:jwk, with
// status entries, verified by the node; a tampered one refused.
func TestOID4VCIWalletSDKLDPVC(t *testing.T) {
	n := startVCINode(t)
	_, meta, _ := n.do("GET", "/.well-known/openid-credential-issuer", "", "", "")
	configs := meta["credential_configurations_supported"].(map[string]any)
	for id, suite := range map[string]string{ldpSM2: "sm2-rdfc-2025", ldpEdDSA: "eddsa-rdfc-2022"} {
		c, _ := configs[id].(map[string]any)
		raw, _ := json.Marshal(c)
		for _, want := range []string{`"format":"ldp_vc"`, `"credential_signing_alg_values_supported":["` + suite + `"]`,
			`"credential_definition":{"@context":["https://www.w3.org/ns/credentials/v2"],"type":["VerifiableCredential","ResidenceCredential"]}`,
			`"cryptographic_binding_methods_supported":["did:jwk","did:key"]`, `"proof_signing_alg_values_supported":["SM2","ES256","EdDSA"]`} {
			if !strings.Contains(string(raw), want) {
				t.Fatalf("%s lacks %s: %s", id, want, raw)
			}
		}
	}

	// A credential with terms no context defines cannot be an ldp_vc:
	// refused when the offer is made, not when the holder redeems it.
	if code, m, _ := n.do("POST", "/oid4vci/offers", n.rpToken, "application/json", sprintf(residenceOffer, `["`+ldpSM2+`"]`, false, false)); code != 422 {
		t.Fatalf("offer of undefined terms as ldp_vc: %d %v", code, m)
	}
	code, o, _ := n.do("POST", "/oid4vci/offers", n.rpToken, "application/json", sprintf(ldpOffer, `["`+ldpSM2+`","`+ldpEdDSA+`"]`))
	if code != 201 {
		t.Fatalf("offer: %d %v", code, o)
	}
	w, err := sdkwallet.NewHolder(n.base, sdkwallet.NewSoftwareKeys(), "device")
	if err != nil {
		t.Fatal(err)
	}
	offer, err := w.ReceiveOffer(o["offer_uri"].(string))
	if err != nil {
		t.Fatal(err)
	}
	store := sdkwallet.NewMemoryStore()
	ids, err := w.AcceptOffer(offer, "", o["tx_code"].(string), 2, store)
	if err != nil {
		t.Fatal(err)
	}
	subjects := map[string]bool{}
	suites := map[string]int{}
	var sample map[string]any
	for _, id := range strings.Split(ids, ",") {
		c, err := sdkwallet.LoadCredential(store, id)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if c.Format != "ldp_vc" || json.Unmarshal([]byte(c.Credential), &doc) != nil {
			t.Fatalf("stored %s credential is not a JSON document: %.80s", c.Format, c.Credential)
		}
		proof := doc["proof"].(map[string]any)
		suite := proof["cryptosuite"].(string)
		if !strings.HasSuffix(c.ConfigurationID, "_"+suite) || proof["type"] != "DataIntegrityProof" {
			t.Fatalf("%s credential secured with %v", c.ConfigurationID, proof)
		}
		suites[suite]++
		if doc["credentialStatus"] == nil {
			t.Fatalf("no status entry: %v", doc)
		}
		body, _ := json.Marshal(map[string]any{"verifiableCredential": doc})
		code, v, _ := n.do("POST", "/credentials/verify", "", "application/json", string(body))
		if code != 200 || v["verified"] != true {
			t.Fatalf("verify %s: %d %v", c.ConfigurationID, code, v)
		}
		subj := doc["credentialSubject"].(map[string]any)["id"].(string)
		if !strings.HasPrefix(subj, "did:jwk:") || subjects[subj] {
			t.Fatalf("ldp_vc subject %q: not a fresh did:jwk", subj)
		}
		subjects[subj] = true
		sample = doc
	}
	if suites["sm2-rdfc-2025"] != 2 || suites["eddsa-rdfc-2022"] != 2 {
		t.Fatalf("cryptosuites %v, want two of each", suites)
	}
	// Tampered: another region under the same proof.
	sample["credentialSubject"].(map[string]any)["region"] = "110000"
	body, _ := json.Marshal(map[string]any{"verifiableCredential": sample})
	if code, v, _ := n.do("POST", "/credentials/verify", "", "application/json", string(body)); code == 200 || !strings.Contains(sprintf("%v", v), "invalid_signature") {
		t.Fatalf("tampered ldp_vc: %d %v, want invalid_signature", code, v)
	}
}

// TestOID4VCILDPVCProofs: ldp_vc at the credential endpoint over HTTP:
// the credential is a JSON object; a key proof may name a did:key in kid
// (the subject is then that did:key); unsupported proof types and
// algorithms get the error codes OID4VCI 1.0 names.
func TestOID4VCILDPVCProofs(t *testing.T) {
	n := startVCINode(t)
	credReq := func(token, proofType string, proofs ...string) (int, map[string]any) {
		b, _ := json.Marshal(map[string]any{"credential_configuration_id": ldpEdDSA, "proofs": map[string]any{proofType: proofs}})
		code, m, _ := n.do("POST", "/oid4vci/credential", token, "application/json", string(b))
		return code, m
	}
	o := func() (string, string) {
		n.t.Helper()
		code, m, _ := n.do("POST", "/oid4vci/offers", n.rpToken, "application/json",
			strings.Replace(sprintf(ldpOffer, `["`+ldpEdDSA+`"]`), `"tx_code": true, "by_reference": true`, `"tx_code": false, "by_reference": false`, 1))
		if code != 201 {
			t.Fatalf("offer: %d %v", code, m)
		}
		pre := m["credential_offer"].(map[string]any)["grants"].(map[string]any)["urn:ietf:params:oauth:grant-type:pre-authorized_code"].(map[string]any)["pre-authorized_code"].(string)
		form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:pre-authorized_code"}, "pre-authorized_code": {pre}}
		_, tm, _ := n.do("POST", "/oid4vci/token", "", "application/x-www-form-urlencoded", form.Encode())
		_, nm, _ := n.do("POST", "/oid4vci/nonce", "", "", "")
		return tm["access_token"].(string), nm["c_nonce"].(string)
	}
	tok, nonce := o()
	// HS256 (a MAC: no holder key), ES384 (not advertised), another proof type.
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"aud": n.base, "iat": time.Now().Unix(), "nonce": nonce})
	hs.Header["typ"] = "openid4vci-proof+jwt"
	hsProof, _ := hs.SignedString([]byte("0123456789abcdef0123456789abcdef"))
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	j384, _ := gm.NewJWK(&p384.PublicKey, "")
	es384 := jwt.NewWithClaims(jwt.SigningMethodES384, jwt.MapClaims{"aud": n.base, "iat": time.Now().Unix(), "nonce": nonce})
	es384.Header["typ"], es384.Header["jwk"] = "openid4vci-proof+jwt", j384
	es384Proof, _ := es384.SignedString(p384)
	for _, c := range []struct {
		name, typ, proof, want string
	}{
		{"HS256 proof", "jwt", hsProof, "invalid_proof"},
		{"ES384 proof", "jwt", es384Proof, "invalid_proof"},
		{"ldp_vp proof type", "ldp_vp", "x", "invalid_proof"},
		{"kid a did:web", "jwt", es256Proof(t, n.base, nonce, func(h map[string]any, _ jwt.MapClaims) {
			delete(h, "jwk")
			h["kid"] = "did:web:example.com#k"
		}), "invalid_proof"},
	} {
		if code, m := credReq(tok, c.typ, c.proof); code != 400 || m["error"] != c.want {
			t.Errorf("%s: %d %v, want %s", c.name, code, m, c.want)
		}
	}
	// A proof naming its key by did:key: the credential is bound to it.
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	didKey, err := vc.DIDKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	kp := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{"aud": n.base, "iat": time.Now().Unix(), "nonce": nonce})
	kp.Header["typ"], kp.Header["kid"] = "openid4vci-proof+jwt", didKey+"#"+strings.TrimPrefix(didKey, "did:key:")
	kidProof, _ := kp.SignedString(priv)
	code, m := credReq(tok, "jwt", kidProof, es256Proof(t, n.base, nonce, nil))
	if code != 200 {
		t.Fatalf("ldp_vc with did:key and jwk proofs: %d %v", code, m)
	}
	creds := m["credentials"].([]any)
	first, ok := creds[0].(map[string]any)["credential"].(map[string]any)
	if !ok {
		t.Fatalf("ldp_vc credential is not a JSON object: %v", creds[0])
	}
	if got := first["credentialSubject"].(map[string]any)["id"]; got != didKey {
		t.Fatalf("subject %v, want the proof's did:key %s", got, didKey)
	}
	second := creds[1].(map[string]any)["credential"].(map[string]any)
	if got, _ := second["credentialSubject"].(map[string]any)["id"].(string); !strings.HasPrefix(got, "did:jwk:") {
		t.Fatalf("subject %v, want a did:jwk", got)
	}
	body, _ := json.Marshal(map[string]any{"verifiableCredential": first})
	if code, v, _ := n.do("POST", "/credentials/verify", "", "application/json", string(body)); code != 200 || v["verified"] != true {
		t.Fatalf("verify: %d %v", code, v)
	}
	// kid stays refused for dc+sd-jwt (bound by cnf.jwk).
	tok2, nonce2 := n.vciSession(`["ResidenceCredential_sd_jwt"]`)
	kp2 := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{"aud": n.base, "iat": time.Now().Unix(), "nonce": nonce2})
	kp2.Header["typ"], kp2.Header["kid"] = "openid4vci-proof+jwt", didKey+"#"+strings.TrimPrefix(didKey, "did:key:")
	kidProof2, _ := kp2.SignedString(priv)
	b, _ := json.Marshal(map[string]any{"credential_configuration_id": "ResidenceCredential_sd_jwt", "proofs": map[string]any{"jwt": []string{kidProof2}}})
	if code, m, _ := n.do("POST", "/oid4vci/credential", tok2, "application/json", string(b)); code != 400 || m["error"] != "invalid_proof" {
		t.Fatalf("kid for dc+sd-jwt: %d %v", code, m)
	}
}

// TestOID4VCIAuthorizationDetails: end to end on a node, a pre-authorized
// token request with authorization_details (OID4VCI 1.0 §6.1) for one of
// the offer's two configurations is answered with credential_identifiers
// (§6.2), and the credential request naming that identifier (§8.2) gets a
// credential the node verifies; credential_configuration_id is refused.
func TestOID4VCIAuthorizationDetails(t *testing.T) {
	n := startVCINode(t)
	const sd, jv = "ResidenceCredential_sd_jwt", "ResidenceCredential_jwt_vc_json"
	o := n.offer(`["`+sd+`","`+jv+`"]`, false, false)
	grants := o["credential_offer"].(map[string]any)["grants"].(map[string]any)
	code := grants["urn:ietf:params:oauth:grant-type:pre-authorized_code"].(map[string]any)["pre-authorized_code"].(string)
	form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:pre-authorized_code"}, "pre-authorized_code": {code},
		"authorization_details": {`[{"type":"openid_credential","credential_configuration_id":"` + sd + `","locations":["` + n.base + `"]}]`}}
	st, tok, _ := n.do("POST", "/oid4vci/token", "", "application/x-www-form-urlencoded", form.Encode())
	if st != 200 {
		t.Fatalf("token: %d %v", st, tok)
	}
	details, _ := json.Marshal(tok["authorization_details"])
	if want := `[{"credential_configuration_id":"` + sd + `","credential_identifiers":["` + sd + `"],"type":"openid_credential"}]`; string(details) != want {
		t.Fatalf("authorization_details %s, want %s", details, want)
	}
	access := tok["access_token"].(string)
	request := func(member, id string) (int, map[string]any) {
		st, nm, _ := n.do("POST", "/oid4vci/nonce", "", "", "")
		if st != 200 {
			t.Fatalf("nonce: %d %v", st, nm)
		}
		b, _ := json.Marshal(map[string]any{member: id, "proofs": map[string]any{"jwt": []string{es256Proof(t, n.base, nm["c_nonce"].(string), nil)}}})
		st, m, _ := n.do("POST", "/oid4vci/credential", access, "application/json", string(b))
		return st, m
	}
	if st, m := request("credential_configuration_id", sd); st != 400 || m["error"] != "invalid_credential_request" {
		t.Errorf("credential_configuration_id after credential_identifiers: %d %v", st, m)
	}
	if st, m := request("credential_identifier", jv); st != 400 || m["error"] != "unknown_credential_identifier" {
		t.Errorf("the offer's other configuration: %d %v", st, m)
	}
	st, m := request("credential_identifier", sd)
	if st != 200 {
		t.Fatalf("credential_identifier: %d %v\n%s", st, m, n.logs.String())
	}
	cred := m["credentials"].([]any)[0].(map[string]any)["credential"].(string)
	body, _ := json.Marshal(map[string]any{"verifiableCredential": cred})
	if st, v, _ := n.do("POST", "/credentials/verify", "", "application/json", string(body)); st != 200 || v["verified"] != true {
		t.Errorf("verify the issued credential: %d %v", st, v)
	}
}

// TestSignerUnavailable: the issuing errors POST /credentials/issue
// answers 503 reach the OID4VCI credential endpoint as
// oid4vci.ErrSignerUnavailable (retryable); refusals do not.
func TestSignerUnavailable(t *testing.T) {
	for _, err := range []error{store.ErrUnavailable, store.ErrFull, issuer.ErrRegistryUnavailable, status.ErrUnconfirmed, vc.ErrStatusFull} {
		if !signerUnavailable(fmt.Errorf("issue: %w", err)) {
			t.Errorf("%v is not retryable", err)
		}
	}
	for _, err := range []error{vc.ErrNotAccredited, vc.ErrRegionSuspended, vc.ErrInvalid, errors.New("other")} {
		if signerUnavailable(err) {
			t.Errorf("%v is retryable", err)
		}
	}
}

// TestOID4VCIOfferCredentialID: an offer whose credential has a top-level
// id, or its own credentialStatus, is refused at offer time (invalid_offer;
// the log names the member): every credential of a batch is a clone of
// the template, so each would carry that one id (or status list and
// index), a value linking the batch's credentials.
func TestOID4VCIOfferCredentialID(t *testing.T) {
	n := startVCINode(t)
	code, o, _ := n.do("POST", "/oid4vci/offers", n.rpToken, "application/json", `{"credential_configuration_ids": ["ResidenceCredential_jwt_vc_json"], "tx_code": false, "by_reference": false,
  "credential": {"@context": ["https://www.w3.org/ns/credentials/v2"], "id": "urn:uuid:3f2a8c1e-7b7d-4c55-9a0e-1d2b3c4d5e6f", "type": ["VerifiableCredential", "ResidenceCredential"],
    "credentialSubject": {"region": "310000"}}}`)
	if code != 422 || o["error"] != "invalid_offer" {
		t.Fatalf("offer with a credential id: %d %v, want 422 invalid_offer", code, o)
	}
	if !strings.Contains(n.logs.String(), "top-level id") {
		t.Error("the log does not name the credential's id as the cause")
	}
	// Its own status entry likewise: each copy would carry its list and
	// index (oid4vci.TestOfferStatusEntryRefused).
	code, o, _ = n.do("POST", "/oid4vci/offers", n.rpToken, "application/json", `{"credential_configuration_ids": ["ResidenceCredential_jwt_vc_json"], "tx_code": false, "by_reference": false,
  "credential": {"@context": ["https://www.w3.org/ns/credentials/v2"], "type": ["VerifiableCredential", "ResidenceCredential"], "credentialSubject": {"region": "310000"},
    "credentialStatus": {"id": "https://status.example/lists/7#4242", "type": "BitstringStatusListEntry", "statusPurpose": "revocation", "statusListIndex": "4242", "statusListCredential": "https://status.example/lists/7"}}}`)
	if code != 422 || o["error"] != "invalid_offer" {
		t.Fatalf("offer with its own credentialStatus: %d %v, want 422 invalid_offer", code, o)
	}
}

// TestOID4VPWalletBatchCopies: the wallet SDK presents batch credentials,
// each with the KB-JWT signed by its own key (cnf), and shows each
// verifier its own copy of the batch: two verifiers see different cnf
// keys, salts and issuer signatures; the same verifier sees its copy
// again; a third verifier reuses the least-shown copy.
func TestOID4VPWalletBatchCopies(t *testing.T) {
	n := startVCINode(t)
	rp := map[string]string{}
	for _, id := range []string{"shop-r", "shop-s", "shop-t"} {
		keys := filepath.Join(n.dir, "rp-"+id)
		out := n.cli("clients", "keygen", "--alg", "ES256", "--out", keys)
		kid := regexp.MustCompile(`kid (\S+)`).FindStringSubmatch(out)[1]
		n.cli("clients", "add", "--id", id, "--name", "RP "+id, "--region", "310000", "--scopes", auth.ScopePresentationRequest,
			"--claims", "age_over_18", "--redirect-uri", "https://shop.example/done", "--jwks-file", filepath.Join(keys, kid+".jwks.json"))
		rp[id] = n.tokenFor(id, filepath.Join(keys, kid+".key.pem"))
	}
	code, o, _ := n.do("POST", "/oid4vci/offers", n.rpToken, "application/json", `{"credential_configuration_ids": ["ResidenceCredential_sd_jwt"], "tx_code": false, "by_reference": false,
  "credential": {"@context": ["https://www.w3.org/ns/credentials/v2"], "type": ["VerifiableCredential", "ResidenceCredential"],
    "credentialSubject": {"region": "310000", "age_over_18": true}}}`)
	if code != 201 {
		t.Fatalf("offer: %d %v", code, o)
	}
	w, err := sdkwallet.NewHolder(n.base, sdkwallet.NewSoftwareKeys(), "device")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.CreateDeviceKey(); err != nil {
		t.Fatal(err)
	}
	offer, err := w.ReceiveOffer(o["offer_uri"].(string))
	if err != nil {
		t.Fatal(err)
	}
	store := sdkwallet.NewMemoryStore()
	ids, err := w.AcceptOffer(offer, "", "", 2, store)
	if err != nil {
		t.Fatal(err)
	}
	creds := sdkwallet.NewStoredCredentials(store)
	_, jwks := get(t, n.base+"/.well-known/jwks.json")
	dcql := `{"credentials": [{"id": "res", "format": "dc+sd-jwt", "meta": {"vct_values": ["` + n.base + `/vct/ResidenceCredential"]},
  "claims": [{"path": ["age_over_18"]}]}]}`
	first := strings.Split(ids, ",")[0]
	present := func(client string) {
		t.Helper()
		code, created, _ := n.do("POST", "/v1/oid4vp/requests", rp[client], "application/json", `{"dcql_query": `+dcql+`}`)
		if code != 201 {
			t.Fatalf("create: %d %v", code, created)
		}
		req, err := w.ResolvePresentationRequest(created["authorization_request"].(string), n.base, jwks)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := req.Respond(creds, "res="+first); err != nil {
			t.Fatalf("present to %s: %v", client, err)
		}
	}
	type record struct {
		sdkwallet.StoredCredential
		ShownTo []string `json:"shown_to"`
	}
	shown := func() map[string]*record {
		m := map[string]*record{}
		for _, id := range strings.Split(ids, ",") {
			raw, err := store.Load(id)
			if err != nil {
				t.Fatal(err)
			}
			c := &record{}
			if err := json.Unmarshal(raw, c); err != nil {
				t.Fatal(err)
			}
			for _, v := range c.ShownTo {
				m[strings.TrimPrefix(v, "verifier_attestation:")] = c
			}
		}
		return m
	}
	present("shop-r")
	present("shop-s")
	present("shop-r")
	m := shown()
	a, b := m["shop-r"], m["shop-s"]
	if a == nil || b == nil || a == b {
		t.Fatalf("copies shown: %v", m)
	}
	if len(a.ShownTo) != 1 || len(b.ShownTo) != 1 {
		t.Fatalf("the same verifier got another copy: %v %v", a.ShownTo, b.ShownTo)
	}
	// Different issuer signatures, cnf keys and salts (disclosures).
	pa, pb := strings.Split(a.Credential, "~"), strings.Split(b.Credential, "~")
	ja, jb := strings.Split(pa[0], "."), strings.Split(pb[0], ".")
	if ja[2] == jb[2] || a.KeyAlias == b.KeyAlias {
		t.Fatal("two verifiers saw the same issuer signature or key")
	}
	cnf := func(jws []string) string {
		var p map[string]any
		raw, _ := base64.RawURLEncoding.DecodeString(jws[1])
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(p["cnf"])
	}
	if cnf(ja) == cnf(jb) {
		t.Fatal("two verifiers saw the same cnf key")
	}
	for _, d := range pa[1:] {
		if d != "" && slices.Contains(pb[1:], d) {
			t.Fatalf("two verifiers saw the same disclosure (salt) %s", d)
		}
	}
	// All copies shown: a third verifier reuses the least-shown (here,
	// equal: the lowest ID).
	present("shop-t")
	if c := shown()["shop-t"]; c == nil || len(c.ShownTo) != 2 {
		t.Fatalf("third verifier: %v", c)
	}
}

// TestOID4VCIBatchTimesDayCoarse: the copies of a batch go to different
// verifiers so that they cannot link the holder (docs/oid4vci.md, each
// credential bound to its own key; docs/sdk.md, NewStoredCredentials).
// Every time the node puts in them is the UTC day, as enrollment's are:
// an issuance time to the second, the same in every copy of the batch,
// would let verifier A (shown copy 1) and verifier B (shown copy 2) match
// them. It was validFrom (and so an SD-JWT VC's nbf) and a Data Integrity
// proof's created, to the second.
func TestOID4VCIBatchTimesDayCoarse(t *testing.T) {
	n := startVCINode(t)
	w, err := sdkwallet.NewHolder(n.base, sdkwallet.NewSoftwareKeys(), "device")
	if err != nil {
		t.Fatal(err)
	}
	store := sdkwallet.NewMemoryStore()
	var ids []string
	for _, o := range []map[string]any{
		n.offer(`["ResidenceCredential_sd_jwt","ResidenceCredential_jwt_vc_json"]`, true, true),
		func() map[string]any {
			code, o, _ := n.do("POST", "/oid4vci/offers", n.rpToken, "application/json", sprintf(ldpOffer, `["`+ldpSM2+`"]`))
			if code != 201 {
				t.Fatalf("offer: %d %v", code, o)
			}
			return o
		}(),
	} {
		offer, err := w.ReceiveOffer(o["offer_uri"].(string))
		if err != nil {
			t.Fatal(err)
		}
		got, err := w.AcceptOffer(offer, "", o["tx_code"].(string), 2, store)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, strings.Split(got, ",")...)
	}
	// The times each copy shows a verifier, by format.
	seen := map[string][]map[string]any{}
	payload := func(compact string) map[string]any {
		parts := strings.Split(strings.Split(compact, "~")[0], ".")
		raw, err := base64.RawURLEncoding.DecodeString(parts[1])
		var m map[string]any
		if err != nil || json.Unmarshal(raw, &m) != nil {
			t.Fatalf("payload of %.40s: %v", compact, err)
		}
		return m
	}
	for _, id := range ids {
		c, err := sdkwallet.LoadCredential(store, id)
		if err != nil {
			t.Fatal(err)
		}
		times := map[string]any{}
		switch c.Format {
		case "dc+sd-jwt":
			p := payload(c.Credential)
			for _, k := range []string{"iat", "nbf", "exp"} {
				if v, ok := p[k]; ok {
					times[k] = v
				}
			}
		case "jwt_vc_json":
			p := payload(c.Credential)
			for _, k := range []string{"iat", "nbf", "exp", "validFrom", "validUntil"} {
				if v, ok := p[k]; ok {
					times[k] = v
				}
			}
		case "ldp_vc":
			var doc map[string]any
			if err := json.Unmarshal([]byte(c.Credential), &doc); err != nil {
				t.Fatal(err)
			}
			times["validFrom"] = doc["validFrom"]
			times["proof.created"] = doc["proof"].(map[string]any)["created"]
		}
		seen[c.Format] = append(seen[c.Format], times)
	}
	for format, copies := range seen {
		if len(copies) != 2 {
			t.Fatalf("%s: %d copies, want 2", format, len(copies))
		}
		for name, v := range copies[0] {
			var at time.Time
			switch v := v.(type) {
			case float64:
				at = time.Unix(int64(v), 0)
			case string:
				if at, err = time.Parse(time.RFC3339, v); err != nil {
					t.Fatalf("%s %s: %v", format, name, err)
				}
			default:
				continue
			}
			if !at.Equal(at.UTC().Truncate(24 * time.Hour)) {
				t.Errorf("%s: %s %s in copy 1 (%v in copy 2): a time to the second links the copies (verifiers A and B); want the UTC day", format, name, at.UTC().Format(time.RFC3339), copies[1][name])
			}
		}
	}
}
