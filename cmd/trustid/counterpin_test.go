package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"image/png"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"

	"github.com/trustid-cn/trustid/api"
	"github.com/trustid-cn/trustid/credentials/sdjwt"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/holder"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/internal/leakcheck"
	"github.com/trustid-cn/trustid/internal/testredis"
	"github.com/trustid-cn/trustid/login"
	"github.com/trustid-cn/trustid/qrcode"
)

// enrollStatic enrolls p at a counter without a phone, with a static
// printed code (and pin, when set), attested by a face match when face.
func (f *enrollFixture) enrollStatic(t *testing.T, p *person, pin string, face bool) (api.EnrollCopy, string) {
	t.Helper()
	att := ""
	if face {
		var err error
		if att, err = f.terminal.Attest(p.doc, p.name, nil, identity.Liveness{Method: identity.LivenessFaceMatch, Passed: true, Score: 0.93}, true); err != nil {
			t.Fatal(err)
		}
	}
	phoneless := *p
	phoneless.device = nil
	code, _, m := f.enroll(f.enrollBody(&phoneless, att, pin, func(m map[string]any) { m["static_code"] = true }))
	if code != 201 {
		t.Fatalf("enroll %s without a phone: %d %v", p.name, code, m)
	}
	var r copiesResult
	raw, _ := json.Marshal(m)
	json.Unmarshal(raw, &r)
	if len(r.Copies) != 1 || r.Copies[0].StaticCode == nil || r.Copies[0].BindingCredential != nil || r.Copies[0].QRBinding != nil {
		t.Fatalf("a phoneless enrollment's copies: %v", m["copies"])
	}
	// The card's identity credential is keyless (a bearer credential): L1,
	// whatever level the card's code reached.
	if got := sdLevel(t, r.Copies[0].IdentityCredential.Credential); got != 1 {
		t.Errorf("a phoneless enrollment: identity credential L%d, want L1 (static code %s)", got, r.Copies[0].StaticCode.AssuranceLevel)
	}
	return r.Copies[0], r.EnrollmentID
}

// counterPIN is a counter terminal approving a session for the holder of
// a static code with the PIN they typed (method pin).
func counterPIN(t *testing.T, node, sessionURL, static, pin string, term *identity.Attester) (int, map[string]any, http.Header) {
	t.Helper()
	now := time.Now()
	claims := jwt.MapClaims{"iss": term.TerminalID, "aud": node, "iat": now.Unix(), "exp": now.Add(2 * time.Minute).Unix(),
		"jti": rand.Text(), "login_session": sessionURL[strings.LastIndex(sessionURL, "/")+1:], "code_hash": login.CodeHash(static), "method": "pin"}
	tok := jwt.NewWithClaims(gm.SigningMethodSM2, claims)
	tok.Header["typ"] = login.CounterAttestationType
	att, err := tok.SignedString(term.Signer)
	if err != nil {
		t.Fatal(err)
	}
	body := map[string]string{"static_code": static, "attestation": att}
	if pin != "" {
		body["pin"] = pin
	}
	b, _ := json.Marshal(body)
	resp, err := http.Post(sessionURL+"/counter-approve", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m, resp.Header
}

// TestCounterPINLoginEndToEnd: a person without a smartphone enrolls at a
// counter and gets a printed static code with their PIN sealed in it;
// at a counter terminal they log in to a relying party (go-oidc) by
// typing the PIN: the ID token has amr pin, acr L3 (capped: L4 takes a
// face match) and the same pairwise sub as their phone's logins. Wrong
// PINs count and lock the code (not their other code); a code without a
// PIN cannot use method pin; a code revoked alone, or with its
// enrollment, is refused while the phone still logs in. No PIN is in the
// logs, the data directory or Redis, and the code holds no raw number or
// name.
func TestCounterPINLoginEndToEnd(t *testing.T) {
	addr := testredis.Start(t)
	rc := testredis.Client(t, addr)
	f := newEnrollFixture(t, "--redis-url", "redis://"+addr)
	const pin, wrong = "135790", "246802"
	alice := newPerson(t, "11010519900307123", "张三")
	att, err := f.terminal.Attest(alice.doc, alice.name, alice.device.Public(), identity.Liveness{Method: identity.LivenessFaceMatch, Passed: true, Score: 0.93}, true)
	if err != nil {
		t.Fatal(err)
	}
	code, ra, m := f.enroll(f.enrollBody(alice, att, pin, nil))
	if code != 201 || ra.AssuranceLevel != "L4" {
		t.Fatalf("enroll alice's phone: %d %v", code, m)
	}
	shop := f.addLoginRP("shop-web", "shopweb.example", "--id-token-alg", "ES256")

	// Her phone's login, for the sub to compare with.
	a0 := shop.start(t)
	if status, m := approve(t, a0.sessionURL, f.app(alice, ra), ""); status != 204 {
		t.Fatalf("phone approval: %d %v", status, m)
	}
	_, idt0 := shop.exchange(t, a0, a0.code(t, shop, f.base))

	// Enrollment at a counter without a phone, with a face match and a PIN:
	// a printable code at L4 with the PIN sealed in it.
	c1, _ := f.enrollStatic(t, alice, pin, true)
	st := c1.StaticCode
	if !strings.HasPrefix(st.Code, "TIDST1:") || !st.PIN || st.AssuranceLevel != "L4" || st.QRVersion < 1 || st.QRVersion > 15 {
		t.Fatalf("static code: %+v", st)
	}
	t.Logf("static code with a sealed PIN: %d characters, QR version %d-M, PNG %d bytes", len(st.Code), st.QRVersion, len(st.PNG))
	img, err := png.Decode(bytes.NewReader(st.PNG))
	if err != nil || img.Bounds().Dx() != (st.QRVersion*4+17+8)*8 {
		t.Errorf("the PNG: %v %v", err, img.Bounds())
	}
	decoded, err := qrcode.DecodeStatic(st.Code)
	if err != nil || len(decoded.SealedPIN) == 0 || decoded.MaskedName != identity.MaskName(alice.name) || decoded.MaskedNumber != alice.doc.Masked() {
		t.Fatalf("decoded static code: %+v %v", decoded, err)
	}
	bytesOf := func(text string) []byte {
		raw, err := qrcode.DecodeBase45(text[strings.IndexByte(text, ':')+1:])
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}

	// Method pin, at L3: amr pin, the phone's sub, act the terminal.
	a1 := shop.start(t, oauth2.SetAuthURLParam("acr_values", "L3"))
	for name, p := range map[string]string{"no PIN": "", "five digits": "12345", "letters": "13579a"} {
		if c, m, _ := counterPIN(t, f.base, a1.sessionURL, st.Code, p, f.terminal); c != 400 || m["error"] != "invalid_request" {
			t.Errorf("method pin, %s: %d %v", name, c, m)
		}
	}
	if c, m := counterApprove(t, f.base, a1.sessionURL, st.Code, f.terminal, func(c jwt.MapClaims) { c["method"] = "pin" }); c != 400 {
		t.Errorf("method pin without the pin member: %d %v", c, m)
	}
	if c, m, _ := counterPIN(t, f.base, a1.sessionURL, st.Code, pin, f.oldTerminal); c != 403 {
		t.Errorf("method pin by a revoked terminal: %d %v", c, m)
	}
	if c, m, _ := counterPIN(t, f.base, a1.sessionURL, st.Code, pin, f.terminal); c != 204 {
		t.Fatalf("counter approval with the PIN: %d %v", c, m)
	}
	_, idt1 := shop.exchange(t, a1, a1.code(t, shop, f.base))
	var cc struct {
		ACR string            `json:"acr"`
		AMR []string          `json:"amr"`
		Act map[string]string `json:"act"`
	}
	idt1.Claims(&cc)
	if idt1.Subject != idt0.Subject || cc.ACR != "L3" || strings.Join(cc.AMR, " ") != "pin" || cc.Act["sub"] != "terminal:t-counter-1" {
		t.Errorf("counter PIN login: sub %s (phone %s), %+v", idt1.Subject, idt0.Subject, cc)
	}

	// L4 asked: a PIN is not enough, a face match at the counter is.
	a2 := shop.start(t, oauth2.SetAuthURLParam("acr_values", "L4"))
	if c, m, _ := counterPIN(t, f.base, a2.sessionURL, st.Code, pin, f.terminal); c != 403 || m["error"] != "approval_refused" {
		t.Errorf("method pin at L4: %d %v", c, m)
	}
	if c, m := counterApprove(t, f.base, a2.sessionURL, st.Code, f.terminal, nil); c != 204 {
		t.Fatalf("method face at L4: %d %v", c, m)
	}
	_, idt2 := shop.exchange(t, a2, a2.code(t, shop, f.base))
	idt2.Claims(&cc)
	if idt2.Subject != idt0.Subject || cc.ACR != "L4" || strings.Join(cc.AMR, " ") != "face" {
		t.Errorf("counter face login: %+v", cc)
	}

	// A code without a PIN (L2): method pin is refused, face works.
	bob := newPerson(t, "31010419851111002", "李四")
	cb, bobEnrollment := f.enrollStatic(t, bob, "", false)
	if cb.StaticCode.PIN || cb.StaticCode.AssuranceLevel != "L2" {
		t.Errorf("static code without a PIN: %+v", cb.StaticCode)
	}
	a3 := shop.start(t)
	if c, m, _ := counterPIN(t, f.base, a3.sessionURL, cb.StaticCode.Code, pin, f.terminal); c != 422 || m["error"] != "pin_not_set" {
		t.Errorf("method pin with a code without a PIN: %d %v", c, m)
	}
	if c, m := counterApprove(t, f.base, a3.sessionURL, cb.StaticCode.Code, f.terminal, nil); c != 204 {
		t.Errorf("method face with a code without a PIN: %d %v", c, m)
	}

	// Five wrong PINs lock the code, the right PIN too; alice's second
	// printed code is not locked.
	c2, _ := f.enrollStatic(t, alice, pin, false)
	if c2.StaticCode.AssuranceLevel != "L3" {
		t.Errorf("a code with a PIN, without a face match: %s", c2.StaticCode.AssuranceLevel)
	}
	a4 := shop.start(t)
	for left := 4; left >= 0; left-- {
		if c, m, _ := counterPIN(t, f.base, a4.sessionURL, st.Code, wrong, f.terminal); c != 403 || m["error"] != "pin_mismatch" || m["attempts_remaining"] != float64(left) {
			t.Fatalf("wrong PIN, %d left: %d %v", left, c, m)
		}
	}
	c, m, hdr := counterPIN(t, f.base, a4.sessionURL, st.Code, pin, f.terminal)
	if retry, err := strconv.Atoi(hdr.Get("Retry-After")); c != 429 || m["error"] != "pin_locked" || err != nil || retry < 1 || retry > 180 {
		t.Errorf("locked code: %d %v Retry-After %q", c, m, hdr.Get("Retry-After"))
	}
	if c, m, _ := counterPIN(t, f.base, a4.sessionURL, c2.StaticCode.Code, pin, f.terminal); c != 204 {
		t.Fatalf("alice's other code while the first is locked: %d %v", c, m)
	}

	// Revoked alone (its copy's identity credential): refused; the phone
	// still logs in. Bob's, revoked with its enrollment: refused.
	revoke := func(path string) {
		t.Helper()
		if c, m, _ := f.do("POST", path, f.enrollTok, "application/json", `{"action":"revoke"}`); c != 200 {
			t.Fatalf("revoke %s: %d %v", path, c, m)
		}
	}
	revoke("/v1/credentials/" + c2.IdentityCredential.ID + "/status")
	a5 := shop.start(t)
	if c, m, _ := counterPIN(t, f.base, a5.sessionURL, c2.StaticCode.Code, pin, f.terminal); c != 403 || !strings.Contains(m["error_description"].(string), "revoked") {
		t.Errorf("a revoked static code: %d %v", c, m)
	}
	if status, m := approve(t, a5.sessionURL, f.app(alice, ra), ""); status != 204 {
		t.Errorf("the phone after the printed code was revoked: %d %v", status, m)
	}
	revoke("/v1/enrollments/" + bobEnrollment + "/status")
	a6 := shop.start(t)
	if c, m := counterApprove(t, f.base, a6.sessionURL, cb.StaticCode.Code, f.terminal, nil); c != 403 {
		t.Errorf("bob's revoked code, method face: %d %v", c, m)
	}

	// No PIN in the logs, the data directory or Redis; no raw number or
	// name in any static code.
	// Stopped first: the access log is buffered and written out at shutdown,
	// so the scan reads every line the node wrote.
	f.stop()
	pins := leakcheck.NewDelimited(t, pin, wrong)
	pins.PlantLog(f.logs)
	pins.PlantDir(f.dir)
	pins.PlantRedis(rc)
	if hits := pins.Log([]byte(f.logs.String())); len(hits) > 0 {
		t.Errorf("a PIN is in the logs: %v", hits)
	}
	if hits := pins.Dir(f.dir); len(hits) > 0 {
		t.Errorf("a PIN is in the data directory: %v", hits)
	}
	if hits := pins.Redis(rc); len(hits) > 0 {
		t.Errorf("a PIN is in Redis: %v", hits)
	}
	var codes bytes.Buffer
	people := leakcheck.New(t, alice.number, alice.number[:14], alice.name, bob.number, bob.number[:14], bob.name, ra.Symbol)
	people.PlantLog(&codes)
	for _, c := range []string{st.Code, c2.StaticCode.Code, cb.StaticCode.Code} {
		codes.WriteString(c + "\n")
		codes.Write(bytesOf(c))
		codes.WriteString("\n")
	}
	if hits := people.Log(codes.Bytes()); len(hits) > 0 {
		t.Errorf("personal data in a static code: %v", hits)
	}
}

// TestPhoneAndPrintedCode: one enrollment with a device key also asks for
// a printed static code (a backup card). The phone's copy and the card's
// copy have their own status entries: the card revoked alone stops the
// card, not the phone; the phone's copy revoked alone stops the phone,
// not the card; the enrollment revoked stops both. Both log in as the
// same pairwise sub.
func TestPhoneAndPrintedCode(t *testing.T) {
	f := newEnrollFixture(t)
	const pin = "135790"
	shop := f.addLoginRP("shop-web", "shopweb.example", "--id-token-alg", "ES256")
	enroll := func(p *person, att, pin string) (copiesResult, enrollResult) {
		t.Helper()
		code, ra, m := f.enroll(f.enrollBody(p, att, pin, func(m map[string]any) { m["static_code"] = true }))
		if code != 201 {
			t.Fatalf("enroll %s with a phone and a printed code: %d %v", p.name, code, m)
		}
		var r copiesResult
		raw, _ := json.Marshal(m)
		json.Unmarshal(raw, &r)
		if len(r.Copies) != 2 || r.Copies[0].BindingCredential == nil || r.Copies[0].QRBinding == nil || r.Copies[0].StaticCode != nil ||
			r.Copies[1].StaticCode == nil || r.Copies[1].BindingCredential != nil || r.Copies[1].QRBinding != nil ||
			r.Copies[0].IdentityCredential.ID == r.Copies[1].IdentityCredential.ID {
			t.Fatalf("the copies of a phone and a printed code: %v", m["copies"])
		}
		return r, ra
	}
	// levels checks each copy's level: the phone's in its identity
	// credential and QR binding, the card's in its static code (its
	// keyless identity credential is L1).
	levels := func(who string, r copiesResult, phone, card int) {
		t.Helper()
		b, err := qrcode.ParseBinding(r.Copies[0].QRBinding)
		if got := sdLevel(t, r.Copies[0].IdentityCredential.Credential); got != phone || err != nil || b.Assurance != phone {
			t.Errorf("%s's phone copy: identity credential L%d, QR binding L%d (%v), want L%d", who, got, b.Assurance, err, phone)
		}
		st, err := qrcode.DecodeStatic(r.Copies[1].StaticCode.Code)
		if got := sdLevel(t, r.Copies[1].IdentityCredential.Credential); got != 1 || err != nil || st.Assurance != card ||
			r.Copies[1].StaticCode.AssuranceLevel != "L"+strconv.Itoa(card) {
			t.Errorf("%s's card copy: identity credential L%d (want L1), static code L%d %s (%v), want L%d", who, got, st.Assurance, r.Copies[1].StaticCode.AssuranceLevel, err, card)
		}
	}
	revoke := func(path string) {
		t.Helper()
		if c, m, _ := f.do("POST", path, f.enrollTok, "application/json", `{"action":"revoke"}`); c != 200 {
			t.Fatalf("revoke %s: %d %v", path, c, m)
		}
	}
	phoneLogin := func(app holderApp) (int, map[string]any) {
		t.Helper()
		return approve(t, shop.start(t).sessionURL, app, "")
	}

	// Carol, with a PIN: sealed into the binding and into the card (L3).
	carol := newPerson(t, "11010519900307123", "张三")
	rc, ra := enroll(carol, "", pin)
	levels("carol", rc, 3, 3)
	card := rc.Copies[1].StaticCode
	if !card.PIN || card.AssuranceLevel != "L3" || !strings.HasPrefix(card.Code, "TIDST1:") {
		t.Fatalf("carol's card: %+v", card)
	}
	a0 := shop.start(t)
	if status, m := approve(t, a0.sessionURL, f.app(carol, ra), ""); status != 204 {
		t.Fatalf("carol's phone: %d %v", status, m)
	}
	tok0, idt0 := shop.exchange(t, a0, a0.code(t, shop, f.base))
	a1 := shop.start(t, oauth2.SetAuthURLParam("acr_values", "L3"))
	if c, m, _ := counterPIN(t, f.base, a1.sessionURL, card.Code, pin, f.terminal); c != 204 {
		t.Fatalf("carol's card with the PIN: %d %v", c, m)
	}
	tok1, idt1 := shop.exchange(t, a1, a1.code(t, shop, f.base))
	if idt1.Subject != idt0.Subject {
		t.Errorf("card sub %s, phone sub %s", idt1.Subject, idt0.Subject)
	}
	// The card revoked alone: the card is refused, the phone logs in.
	revoke("/v1/credentials/" + rc.Copies[1].IdentityCredential.ID + "/status")
	if c, m, _ := counterPIN(t, f.base, shop.start(t).sessionURL, card.Code, pin, f.terminal); c != 403 || !strings.Contains(m["error_description"].(string), "revoked") {
		t.Errorf("carol's revoked card: %d %v", c, m)
	}
	if status, m := phoneLogin(f.app(carol, ra)); status != 204 {
		t.Errorf("carol's phone after her card was revoked: %d %v", status, m)
	}
	// ... and so are the logins each approved: the card's login no longer
	// refreshes, the phone's does.
	refresh := func(tok *oauth2.Token) (int, map[string]any) {
		t.Helper()
		return shop.post(t, f.base, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
	}
	if c, m := refresh(tok1); c != 400 || m["error"] != "invalid_grant" {
		t.Errorf("refreshing the login of carol's revoked card: %d %v", c, m)
	}
	if c, m := refresh(tok0); c != 200 {
		t.Errorf("refreshing the login of carol's phone after her card was revoked: %d %v", c, m)
	}

	// Dave, without a PIN (card L2): the phone's copy revoked alone stops
	// the phone, not the card; the enrollment revoked stops the card.
	dave := newPerson(t, "31010419851111002", "李四")
	rd, rda := enroll(dave, "", "")
	levels("dave", rd, 2, 2)
	if rd.Copies[1].StaticCode.PIN || rd.Copies[1].StaticCode.AssuranceLevel != "L2" {
		t.Errorf("dave's card: %+v", rd.Copies[1].StaticCode)
	}
	revoke("/v1/credentials/" + rd.Copies[0].BindingCredential.ID + "/status")
	if status, _ := phoneLogin(f.app(dave, rda)); status != 403 {
		t.Errorf("dave's revoked phone: %d", status)
	}
	if c, m := counterApprove(t, f.base, shop.start(t).sessionURL, rd.Copies[1].StaticCode.Code, f.terminal, nil); c != 204 {
		t.Errorf("dave's card after his phone was revoked: %d %v", c, m)
	}
	revoke("/v1/enrollments/" + rd.EnrollmentID + "/status")
	if c, m := counterApprove(t, f.base, shop.start(t).sessionURL, rd.Copies[1].StaticCode.Code, f.terminal, nil); c != 403 {
		t.Errorf("dave's card after his enrollment was revoked: %d %v", c, m)
	}

	// Erin, with a PIN and a face match made for her phone's key: the
	// phone is L4; the card, which holds neither the key nor the
	// attestation, is L3 in its code, and its keyless identity credential
	// (no cnf) L1.
	erin := newPerson(t, "44030519751212341", "王五")
	att, err := f.terminal.Attest(erin.doc, erin.name, erin.device.Public(), identity.Liveness{Method: identity.LivenessFaceMatch, Passed: true, Score: 0.93}, true)
	if err != nil {
		t.Fatal(err)
	}
	re, rea := enroll(erin, att, pin)
	if rea.AssuranceLevel != "L4" {
		t.Errorf("erin's enrollment: %s", rea.AssuranceLevel)
	}
	levels("erin", re, 4, 3)
	if jwtPayload(t, re.Copies[1].IdentityCredential.Credential)["cnf"] != nil {
		t.Error("erin's card copy has a holder key")
	}
}

// sdLevel is the assuranceLevel of an SD-JWT identity credential, its
// disclosures applied (0 when it has none).
func sdLevel(t *testing.T, cred string) int {
	t.Helper()
	sd, err := sdjwt.Split(cred)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := sdjwt.Process(jwtPayload(t, sd.JWT), sd.Disclosures)
	if err != nil {
		t.Fatal(err)
	}
	// A disclosed value is a json.Number, a payload one a float64.
	l, _ := strconv.Atoi(fmt.Sprint(claims["assuranceLevel"]))
	return l
}

// TestPINAttemptsPerEnrollment: the PIN sealed into every copy of a batch
// enrollment and its static code is tried 5 times per 15 minutes in all,
// not 5 per copy (docs/identity.md "PIN verifiers"): wrong PINs at the
// copies' bindings (POST /v1/bindings/pin) and at a counter with the
// card count together, and then every copy and the card are locked. The
// same person's other enrollment keeps its own count.
func TestPINAttemptsPerEnrollment(t *testing.T) {
	f := newEnrollFixture(t)
	const pin, wrong = "135790", "246802"
	a := newPerson(t, "11010519900307123", "张三")
	const n = 4
	r, devices := f.enrollCopies(t, a, n, func(m map[string]any) { m["static_code"] = true })
	card := r.Copies[n].StaticCode
	if card == nil || !card.PIN {
		t.Fatalf("the static code: %+v", card)
	}
	shop := f.addLoginRP("shop-web", "shopweb.example", "--id-token-alg", "ES256")
	session := shop.start(t).sessionURL
	// try guesses pin at copy i (i == n: the card at a counter).
	try := func(i int, pin string) (int, map[string]any, http.Header) {
		t.Helper()
		if i == n {
			return counterPIN(t, f.base, session, card.Code, pin, f.terminal)
		}
		proof, err := holder.NewDeviceProof(devices[i], f.base, time.Now(), rand.Text())
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(map[string]string{"binding_credential": r.Copies[i].BindingCredential.Credential, "device_proof": proof, "pin": pin})
		return f.do("POST", api.PINCheckPath, "", "application/json", string(b))
	}
	for k, i := range []int{0, n, 1, 2, 3} {
		left := identity.DefaultPINAttempts - 1 - k
		if c, m, _ := try(i, wrong); c != 403 || m["error"] != "pin_mismatch" || m["attempts_remaining"] != float64(left) {
			t.Fatalf("wrong PIN at copy %d, %d left: %d %v", i, left, c, m)
		}
	}
	for i := 0; i <= n; i++ {
		c, m, hdr := try(i, pin)
		if retry, err := strconv.Atoi(hdr.Get("Retry-After")); c != 429 || m["error"] != "pin_locked" || err != nil || retry < 1 || retry > 180 {
			t.Errorf("copy %d after %d wrong PINs across copies: %d %v Retry-After %q", i, identity.DefaultPINAttempts, c, m, hdr.Get("Retry-After"))
		}
	}
	// Per enrollment, not per person: her other enrollment is not locked.
	r2, devices2 := f.enrollCopies(t, a, 1)
	proof, _ := holder.NewDeviceProof(devices2[0], f.base, time.Now(), rand.Text())
	b, _ := json.Marshal(map[string]string{"binding_credential": r2.Copies[0].BindingCredential.Credential, "device_proof": proof, "pin": pin})
	if c, m, _ := f.do("POST", api.PINCheckPath, "", "application/json", string(b)); c != 200 || m["verified"] != true {
		t.Errorf("her other enrollment: %d %v", c, m)
	}
}
