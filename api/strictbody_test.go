package api

import (
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/qrcode"
)

// encoding/json matches member names to struct fields case-insensitively,
// and of two members that match one field the last wins. These tests send
// each body decoder family, through its real handler, a member repeated
// in another case (at the top and nested) and a member named in another
// case. Every one must be a 400 with the route's error code and change
// nothing; the same request with exact names then succeeds.

// upperFirst repeats the first member of the object that starts at
// body[off] in upper case, with the same value.
func upperFirst(t *testing.T, body string, off int) string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(body[off:]))
	dec.Token() // {
	k, err := dec.Token()
	if err != nil {
		t.Fatal(err)
	}
	var v json.RawMessage
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return body[:off+1] + `"` + strings.ToUpper(k.(string)) + `":` + string(v) + `,` + body[off+1:]
}

// caseVariants returns body (a JSON object) with its first member
// repeated in upper case, the same nested in the object at the member
// named nested, and the first member renamed to title case.
func caseVariants(t *testing.T, body, nested string) map[string]string {
	t.Helper()
	out := map[string]string{"repeated in another case": upperFirst(t, body, 0)}
	if nested != "" {
		i := strings.Index(body, `"`+nested+`":{`)
		if i < 0 {
			t.Fatalf("no object member %s in %s", nested, body)
		}
		out["repeated in another case, nested in "+nested] = upperFirst(t, body, i+len(nested)+3)
	}
	out["named in another case"] = `{"` + strings.ToUpper(body[2:3]) + body[3:]
	return out
}

func TestQRBodiesExactNames(t *testing.T) {
	p := newPeerQR(t, map[string]string{"age_over_18": "true"})
	a := p.a
	holderReq := func() string {
		r := &qrcode.HolderRequest{Purpose: qrcode.PurposeOnlineCode, Binding: p.binding, Time: time.Now().Unix(), Nonce: []byte(rand.Text()[:16]), Region: "310000", Consent: []string{"age_over_18"}}
		if err := qrcode.SignHolderRequest(nil, p.device, r); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(r)
		return string(b)
	}
	issue := func(body string) (int, map[string]any) {
		resp, m := qrPost(t, a.srv.URL+"/v1/qr", "", body)
		return resp.StatusCode, m
	}
	// POST /v1/qr: a refused request spends neither its nonce nor a code.
	req := holderReq()
	for name, body := range caseVariants(t, req, "") {
		if code, m := issue(body); code != 400 || m["error"] != CodeInvalidRequest {
			t.Errorf("issue, %s: %d %v", name, code, m)
		}
	}
	code, m := issue(req)
	if code != 201 {
		t.Fatalf("issue after the refusals: %d %v", code, m)
	}
	qr := m["code"].(string)

	// POST /v1/qr/verify and the peer route: a refused body redeems
	// nothing.
	redeemBody := `{"code":"` + qr + `"}`
	for name, body := range caseVariants(t, redeemBody, "") {
		if resp, m := qrPost(t, a.srv.URL+"/v1/qr/verify", "tok-hotel-310000", body); resp.StatusCode != 400 || m["error"] != CodeInvalidRequest {
			t.Errorf("redeem, %s: %d %v", name, resp.StatusCode, m)
		}
	}
	peerBody := `{"code":"` + qr + `","client_id":"hotel-440000","sector":"hotel.example"}`
	for name, body := range caseVariants(t, peerBody, "") {
		if resp, m := p.peerRedeem(t, []byte(body)); resp.StatusCode != 400 || m["error"] != CodeInvalidRequest {
			t.Errorf("peer redeem, %s: %d %v", name, resp.StatusCode, m)
		}
	}
	if resp, m := qrPost(t, a.srv.URL+"/v1/qr/verify", "tok-hotel-310000", redeemBody); resp.StatusCode != 200 || m["pairwise_id"] == "" {
		t.Errorf("redeem after the refusals: %d %v", resp.StatusCode, m)
	}
}

func TestPINCheckBodyExactNames(t *testing.T) {
	e := newPINEnv(t, nil)
	const pin, wrong = "482916", "482917"
	h := e.bind(t, 1, gm.AlgSM2, pin, e.sealer, identity.L3)
	// With the wrong PIN: had any of these been read, it would have spent
	// an attempt.
	for name, body := range caseVariants(t, pinBody(h.token, e.proof(t, h.device), wrong), "") {
		code, _, m, raw := e.check(t, body)
		if code != 400 || m["error"] != CodeInvalidRequest {
			t.Errorf("%s: %d %v", name, code, m)
		}
		if strings.Contains(raw, wrong) {
			t.Errorf("%s: the answer echoes the PIN", name)
		}
	}
	if c, _, m := e.try(t, h, wrong); c != 403 || m["attempts_remaining"] != float64(4) {
		t.Errorf("attempts after the refusals: %d %v", c, m)
	}
	if c, _, m := e.try(t, h, pin); c != 200 {
		t.Errorf("right PIN: %d %v", c, m)
	}
}

// statusFiles digests every file under dir.
func statusFiles(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			data, _ := os.ReadFile(path)
			d := gm.SM3(data)
			b.WriteString(path + ":" + string(d[:]) + ";")
		}
		return nil
	})
	return b.String()
}

func TestVCAPIBodiesExactNames(t *testing.T) {
	e := newVCEnv(t)
	issueBody := strings.Replace(strings.ReplaceAll(credBody, "\n", ""), "%s", `,"options":{"format":"vc+jwt","algorithm":"SM2"}`, 1)
	before := statusFiles(t, e.dir)
	bad := caseVariants(t, issueBody, "options")
	bad["repeated in another case, in the credential"] = strings.Replace(issueBody, `"region":"310000"`, `"region":"310000","Region":"310000"`, 1)
	bad["option named in another case"] = strings.Replace(issueBody, `"format"`, `"Format"`, 1)
	for name, body := range bad {
		if code, m := e.post(t, "/credentials/issue", issueToken, body); code != 400 || m["error"] != CodeInvalidRequest {
			t.Errorf("issue, %s: %d %v", name, code, m)
		}
	}
	if after := statusFiles(t, e.dir); after != before {
		t.Error("refused issue requests changed the status lists")
	}
	code, m := e.post(t, "/credentials/issue", issueToken, issueBody)
	if code != 201 {
		t.Fatalf("issue: %d %v", code, m)
	}
	env, _ := json.Marshal(m["verifiableCredential"])
	id := m["credentialId"].(string)

	verifyBody := `{"verifiableCredential":` + string(env) + `,"options":{"challenge":"c","domain":"d"}}`
	for name, body := range caseVariants(t, verifyBody, "options") {
		if code, m := e.post(t, "/credentials/verify", "", body); code != 400 || m["error"] != CodeInvalidRequest {
			t.Errorf("verify, %s: %d %v", name, code, m)
		}
	}
	if code, m := e.post(t, "/credentials/verify", "", verifyBody); code != 200 {
		t.Errorf("verify: %d %v", code, m)
	}
	presBody := `{"verifiablePresentation":"a.b.c","options":{"challenge":"c","domain":"d"}}`
	for name, body := range caseVariants(t, presBody, "options") {
		if code, m := e.post(t, "/presentations/verify", "", body); code != 400 || m["error"] != CodeInvalidRequest {
			t.Errorf("presentation, %s: %d %v", name, code, m)
		}
	}
	// The same body with exact names reaches verification (and fails it).
	if code, m := e.post(t, "/presentations/verify", "", presBody); code != 400 || m["verified"] != false {
		t.Errorf("presentation: %d %v", code, m)
	}

	path := "/v1/credentials/" + strings.ReplaceAll(id, ":", "%3A") + "/status"
	before = statusFiles(t, e.dir)
	for name, body := range caseVariants(t, `{"action":"revoke"}`, "") {
		if code, m := e.post(t, path, statusToken, body); code != 400 || m["error"] != CodeInvalidRequest {
			t.Errorf("status, %s: %d %v", name, code, m)
		}
	}
	if after := statusFiles(t, e.dir); after != before {
		t.Error("refused status changes changed the status lists")
	}
	if code, m := e.post(t, path, statusToken, `{"action":"revoke"}`); code != 200 {
		t.Errorf("revoke: %d %v", code, m)
	}
}

func TestAdminClientBodiesExactNames(t *testing.T) {
	e := newOAuthEnv(t, OAuthConfig{}, nil)
	tok := e.token(e.register("ops", gm.AlgSM2, auth.ScopeRegistryAdmin), "")
	key, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	j, _ := gm.NewJWK(key.Public(), "k1")
	jb, _ := json.Marshal(j)
	create := `{"client_id":"svc-new","client_name":"新服务","region":"440000","scopes":["qr:redeem"],"jwks":{"keys":[` + string(jb) + `]}}`
	bad := caseVariants(t, create, "jwks")
	bad["key member repeated in another case"] = strings.Replace(create, `"kty"`, `"KTY":"EC","kty"`, 1)
	bad["key member named in another case"] = strings.Replace(create, `"kty"`, `"Kty"`, 1)
	for name, body := range bad {
		if resp, m := e.call("POST", "/v1/admin/clients", tok, body); resp.StatusCode != 400 || m["error"] != "invalid_client_metadata" {
			t.Errorf("create, %s: %d %v", name, resp.StatusCode, m)
		}
	}
	if resp, m := e.call("GET", "/v1/admin/clients/svc-new", tok, ""); resp.StatusCode != 404 {
		t.Errorf("a refused request created the client: %d %v", resp.StatusCode, m)
	}
	if resp, m := e.call("POST", "/v1/admin/clients", tok, create); resp.StatusCode != 201 {
		t.Fatalf("create: %d %v", resp.StatusCode, m)
	}
	key2, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	j2, _ := gm.NewJWK(key2.Public(), "k2")
	j2b, _ := json.Marshal(j2)
	add := `{"add":` + string(j2b) + `}`
	for name, body := range caseVariants(t, add, "add") {
		if resp, m := e.call("POST", "/v1/admin/clients/svc-new/keys", tok, body); resp.StatusCode != 400 || m["error"] != "invalid_client_metadata" {
			t.Errorf("add key, %s: %d %v", name, resp.StatusCode, m)
		}
	}
	if resp, m := e.call("GET", "/v1/admin/clients/svc-new", tok, ""); resp.StatusCode != 200 || len(m["jwks"].(map[string]any)["keys"].([]any)) != 1 {
		t.Errorf("refused key changes changed the keys: %d %v", resp.StatusCode, m)
	}
	if resp, m := e.call("POST", "/v1/admin/clients/svc-new/keys", tok, add); resp.StatusCode != 200 {
		t.Errorf("add key: %d %v", resp.StatusCode, m)
	}
}
