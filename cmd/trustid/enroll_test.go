package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/api"
	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/credentials/sdjwt"
	"github.com/trustid-cn/trustid/enrollment"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/holder"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/internal/leakcheck"
	"github.com/trustid-cn/trustid/internal/testredis"
	"github.com/trustid-cn/trustid/keystore"
	"github.com/trustid-cn/trustid/qrcode"
	redisstore "github.com/trustid-cn/trustid/store/redis"
)

// residentNumber completes a 17-digit body with its MOD 11-2 check
// character.
func residentNumber(body string) string { return body + string(identity.Mod112(body)) }

// enrollFixture is a running node with an enrolling client, two relying
// parties and a registered (and a revoked) verification terminal.
type enrollFixture struct {
	*authNode
	enrollTok, hotelTok, shopTok string
	terminal, oldTerminal        *identity.Attester
}

func (n *authNode) addClientArgs(id, scopes string, extra ...string) string {
	n.t.Helper()
	keys := filepath.Join(n.dir, "rp-"+id)
	out := n.cli("clients", "keygen", "--alg", "SM2", "--out", keys)
	kid := regexp.MustCompile(`kid (\S+)`).FindStringSubmatch(out)[1]
	n.cli(append([]string{"clients", "add", "--id", id, "--name", "RP " + id, "--region", "310000", "--scopes", scopes,
		"--jwks-file", filepath.Join(keys, kid+".jwks.json")}, extra...)...)
	return filepath.Join(keys, kid+".key.pem")
}

func (n *authNode) addTerminal(id string) *identity.Attester {
	n.t.Helper()
	return n.addTerminalIn(id, "310104")
}

// addTerminalIn registers a terminal installed in region and returns its
// attester for this node.
func (n *authNode) addTerminalIn(id, region string) *identity.Attester {
	n.t.Helper()
	key, err := gm.GenerateKey(rand.Reader)
	if err != nil {
		n.t.Fatal(err)
	}
	pemBytes, _ := gm.MarshalPublicKeyPEM(key.Public())
	file := filepath.Join(n.t.TempDir(), id+".pub.pem")
	os.WriteFile(file, pemBytes, 0o600)
	// The node's region registers it, wherever it is installed.
	n.cli("terminals", "add", "--id", id, "--name", "counter "+id, "--region", region, "--as-region", "310000", "--public-key", file)
	return &identity.Attester{TerminalID: id, Audience: n.base, Signer: key}
}

// tokenFor gets a token for a client just registered: the node re-reads
// clients.json on an unknown client at most ten times a second.
func (n *authNode) tokenFor(id, key string) string {
	n.t.Helper()
	var out string
	waitFor(n.t, func() bool {
		var err error
		out, _, err = run(n.t, context.Background(), "token", "--node", n.base, "--client-id", id, "--key", key, "--data", n.dir)
		return err == nil
	}, "a token for "+id)
	var resp struct {
		AccessToken string `json:"access_token"`
	}
	json.Unmarshal([]byte(out), &resp)
	return resp.AccessToken
}

func newEnrollFixture(t *testing.T, extra ...string) *enrollFixture {
	n := startAuthNode(t, extra...)
	f := &enrollFixture{authNode: n}
	f.enrollTok = n.tokenFor("app-backend", n.addClientArgs("app-backend", auth.ScopeEnroll+","+auth.ScopeStatusWrite))
	f.hotelTok = n.tokenFor("hotel", n.addClientArgs("hotel", auth.ScopeQRRedeem, "--claims", "age_over_18", "--sector", "hotel.example"))
	f.shopTok = n.tokenFor("shop", n.addClientArgs("shop", auth.ScopeQRRedeem, "--sector", "shop.example"))
	f.terminal = n.addTerminal("t-counter-1")
	f.oldTerminal = n.addTerminal("t-counter-old")
	n.cli("terminals", "revoke", "t-counter-old")
	return f
}

// person is someone enrolling, with their phone.
type person struct {
	number, name string
	doc          identity.Document
	device       *gm.PrivateKey
}

func newPerson(t *testing.T, body, name string) *person {
	t.Helper()
	num := residentNumber(body)
	doc, err := identity.Parse(num)
	if err != nil {
		t.Fatalf("test number %s: %v", body, err)
	}
	dev, _ := gm.GenerateKey(rand.Reader)
	return &person{number: num, name: name, doc: doc, device: dev}
}

// enrollBody builds a request; edit changes it before it is sent.
func (f *enrollFixture) enrollBody(p *person, attestation, pin string, edit func(m map[string]any)) string {
	f.t.Helper()
	m := map[string]any{"document": map[string]any{"number": p.number}, "name": p.name}
	if p.device != nil {
		jwk, _ := gm.NewJWK(p.device.Public(), "")
		proof, err := holder.NewDeviceProof(p.device, f.base, time.Now(), rand.Text())
		if err != nil {
			f.t.Fatal(err)
		}
		m["device_key"], m["device_proof"] = jwk, proof
	}
	if attestation != "" {
		m["attestation"] = attestation
	}
	if pin != "" {
		m["pin"] = pin
	}
	if edit != nil {
		edit(m)
	}
	b, _ := json.Marshal(m)
	return string(b)
}

type enrollResult struct {
	Symbol             string `json:"symbol"`
	Subject            string `json:"subject"`
	AssuranceLevel     string `json:"assurance_level"`
	BindingCredential  *api.IssuedCredential
	QRBinding          []byte               `json:"qr_binding"`
	IdentityCredential api.IssuedCredential `json:"identity_credential"`
}

func (f *enrollFixture) enroll(body string) (int, enrollResult, map[string]any) {
	f.t.Helper()
	code, m, _ := f.do("POST", "/v1/enrollments", f.enrollTok, "application/json", body)
	var res enrollResult
	raw, _ := json.Marshal(m)
	json.Unmarshal(raw, &res)
	if bc, ok := m["binding_credential"].(map[string]any); ok {
		res.BindingCredential = &api.IssuedCredential{ID: bc["id"].(string), Format: bc["format"].(string), Credential: bc["credential"].(string)}
	}
	return code, res, m
}

// jwtPayload decodes the payload of a compact JWS (or the issuer JWT of
// an SD-JWT).
func jwtPayload(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(strings.SplitN(tok, "~", 2)[0], ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %.40s", tok)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(raw, &m)
	return m
}

// onlineCode asks the node for an online code as the holder of binding.
func (f *enrollFixture) onlineCode(device *gm.PrivateKey, binding []byte, consent ...string) (int, map[string]any) {
	f.t.Helper()
	nonce := make([]byte, 16)
	rand.Read(nonce)
	req := qrcode.HolderRequest{Purpose: qrcode.PurposeOnlineCode, Binding: binding, Time: time.Now().Unix(), Nonce: nonce, Region: "310000", Consent: consent}
	if err := qrcode.SignHolderRequest(rand.Reader, device, &req); err != nil {
		f.t.Fatal(err)
	}
	b, _ := json.Marshal(req)
	code, m, _ := f.do("POST", "/v1/qr", "", "application/json", string(b))
	return code, m
}

func (f *enrollFixture) redeem(tok, code string) (int, map[string]any) {
	f.t.Helper()
	b, _ := json.Marshal(map[string]string{"code": code})
	c, m, _ := f.do("POST", "/v1/qr/verify", tok, "application/json", string(b))
	return c, m
}

// TestEnrollmentEndToEnd drives a real node: enrollment at L4 (terminal
// attestation, PIN) and without, online QR codes requested by the holder
// and redeemed by two relying parties, revocation of a binding, and
// re-enrollment on a new phone.
func TestEnrollmentEndToEnd(t *testing.T) {
	f := newEnrollFixture(t)
	a := newPerson(t, "11010519900307123", "张三")

	att, err := f.terminal.Attest(a.doc, a.name, a.device.Public(), identity.Liveness{Method: identity.LivenessFaceMatch, Passed: true, Score: 0.93}, true)
	if err != nil {
		t.Fatal(err)
	}
	code, r1, m := f.enroll(f.enrollBody(a, att, "135790", nil))
	if code != 201 {
		t.Fatalf("enroll: %d %v", code, m)
	}
	if r1.AssuranceLevel != "L4" || len(r1.Symbol) != identity.TextLen || r1.BindingCredential == nil || len(r1.QRBinding) == 0 {
		t.Fatalf("enroll result: %+v", r1)
	}
	if _, err := identity.ParseSymbol(r1.Symbol); err != nil {
		t.Errorf("symbol: %v", err)
	}
	// The binding credential: subject, device key, level, PIN verifier,
	// status entries.
	bc := jwtPayload(t, r1.BindingCredential.Credential)
	cs, _ := bc["credentialSubject"].(map[string]any)
	if cs == nil {
		cs, _ = bc["vc"].(map[string]any)["credentialSubject"].(map[string]any)
	}
	jwk, _ := gm.NewJWK(a.device.Public(), "")
	cnf, _ := cs["cnf"].(map[string]any)["jwk"].(map[string]any)
	// The copy's subject is its own handle, never the stable subject.
	handleID, _ := cs["id"].(string)
	if handleID == r1.Subject || !strings.HasPrefix(handleID, "urn:trustid:subject:") || cnf["x"] != jwk.X || cs["assuranceLevel"] != float64(4) || cs["pinVerifier"] == nil {
		t.Errorf("binding credential subject: %v", cs)
	}
	if st, _ := bc["credentialStatus"].([]any); len(st) != 2 {
		t.Errorf("binding credential status: %v", bc["credentialStatus"])
	}
	if strings.Contains(r1.Subject, r1.Symbol) || !strings.HasPrefix(r1.Subject, "urn:trustid:subject:") {
		t.Errorf("subject %s shows the symbol or has the wrong form", r1.Subject)
	}
	// The PIN verifier opens with the node's PIN keys for this binding only.
	ks, err := keystore.Open(filepath.Join(f.dir, keystoreFile), mustKEK(t), keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := newPINSealer(ks, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	subject, _ := hex.DecodeString(strings.TrimPrefix(handleID, "urn:trustid:subject:"))
	thumb, _ := jwk.Thumbprint()
	sealed := identity.SealedPIN(cs["pinVerifier"].(string))
	if err := sealer.CheckPIN(sealed, "135790", holder.PINAAD(subject, thumb)); err != nil {
		t.Errorf("right PIN: %v", err)
	}
	if err := sealer.CheckPIN(sealed, "246802", holder.PINAAD(subject, thumb)); err == nil {
		t.Error("wrong PIN accepted")
	}
	if err := sealer.CheckPIN(sealed, "135790", holder.PINAAD(subject, "other-device")); err == nil {
		t.Error("PIN verifier opened for another device")
	}
	// The QR binding names the copy's handle and the binding's revocation
	// entry.
	b, err := qrcode.ParseBinding(r1.QRBinding)
	if err != nil || hex.EncodeToString(b.Subject) != strings.TrimPrefix(handleID, "urn:trustid:subject:") || b.Assurance != 4 || b.Claims["age_over_18"] != "true" {
		t.Errorf("QR binding: %+v %v", b, err)
	}
	stable, _ := hex.DecodeString(strings.TrimPrefix(r1.Subject, "urn:trustid:subject:"))
	if bytes.Contains(r1.QRBinding, stable[1:]) || strings.Contains(r1.BindingCredential.Credential+r1.IdentityCredential.Credential, hex.EncodeToString(stable)) {
		t.Error("the stable subject travels in a credential or the QR binding")
	}
	// The identity credential: SD-JWT VC with the device as holder key.
	ic := jwtPayload(t, r1.IdentityCredential.Credential)
	if r1.IdentityCredential.Format != "sd-jwt" || ic["cnf"] == nil || ic["status"] == nil || strings.Count(r1.IdentityCredential.Credential, "~") < 4 {
		t.Errorf("identity credential: %s %v", r1.IdentityCredential.Format, ic)
	}

	// Online QR codes: stable pairwise ID for one party, another for a
	// second; claims as consented and allowed.
	var hotelIDs []string
	for range 2 {
		c, m := f.onlineCode(a.device, r1.QRBinding, "age_over_18")
		if c != 201 {
			t.Fatalf("holder request: %d %v", c, m)
		}
		c, red := f.redeem(f.hotelTok, m["code"].(string))
		if c != 200 || red["assurance_level"] != float64(4) || red["claims"].(map[string]any)["age_over_18"] != "true" {
			t.Fatalf("hotel redeem: %d %v", c, red)
		}
		hotelIDs = append(hotelIDs, red["pairwise_id"].(string))
		if c, again := f.redeem(f.hotelTok, m["code"].(string)); c != 409 || again["error"] != "qr_code_used" {
			t.Errorf("second redemption: %d %v", c, again)
		}
	}
	if hotelIDs[0] != hotelIDs[1] || len(hotelIDs[0]) != identity.TextLen {
		t.Errorf("pairwise IDs of two codes: %v", hotelIDs)
	}
	_, m = f.onlineCode(a.device, r1.QRBinding, "age_over_18")
	c, shop := f.redeem(f.shopTok, m["code"].(string))
	if c != 200 || shop["pairwise_id"] == hotelIDs[0] || shop["pairwise_id"] == "" || shop["claims"] != nil {
		t.Errorf("shop redeem: %d %v (hotel %s)", c, shop, hotelIDs[0])
	}
	for _, id := range append(hotelIDs, shop["pairwise_id"].(string)) {
		if id == r1.Symbol || strings.Contains(r1.Subject, strings.ToLower(id)) {
			t.Errorf("pairwise ID %s is the symbol or subject", id)
		}
	}

	// Re-enrollment on a new phone, without a terminal and a PIN: the same
	// symbol and subject, a new binding, L2.
	a2 := *a
	a2.device, _ = gm.GenerateKey(rand.Reader)
	code, r2, m := f.enroll(f.enrollBody(&a2, "", "", nil))
	if code != 201 || r2.Symbol != r1.Symbol || r2.Subject != r1.Subject || r2.AssuranceLevel != "L2" || r2.BindingCredential.ID == r1.BindingCredential.ID {
		t.Fatalf("re-enroll: %d %+v %v", code, r2, m)
	}
	_, m = f.onlineCode(a2.device, r2.QRBinding)
	if c, red := f.redeem(f.hotelTok, m["code"].(string)); c != 200 || red["pairwise_id"] != hotelIDs[0] || red["assurance_level"] != float64(2) {
		t.Errorf("new phone, hotel: %d %v", c, red)
	}

	// Revoke the first binding: its holder requests stop at once, and so
	// do codes issued before the revocation (refused and used up); the
	// new phone's binding still works.
	c, pending := f.onlineCode(a.device, r1.QRBinding, "age_over_18")
	if c != 201 {
		t.Fatalf("holder request before revocation: %d %v", c, pending)
	}
	sb, _ := json.Marshal(map[string]string{"action": "revoke"})
	if c, m, _ := f.do("POST", "/v1/credentials/"+r1.BindingCredential.ID+"/status", f.enrollTok, "application/json", string(sb)); c != 200 {
		t.Fatalf("revoke: %d %v", c, m)
	}
	if c, m := f.redeem(f.hotelTok, pending["code"].(string)); c != 403 || m["error"] != "qr_revoked" || m["pairwise_id"] != nil {
		t.Errorf("code issued before the revocation: %d %v", c, m)
	}
	if c, m := f.redeem(f.hotelTok, pending["code"].(string)); c != 409 || m["error"] != "qr_code_used" {
		t.Errorf("code refused as revoked, again: %d %v", c, m)
	}
	if c, m := f.onlineCode(a.device, r1.QRBinding); c != 403 || m["error"] != "qr_revoked" {
		t.Errorf("revoked binding's holder request: %d %v", c, m)
	}
	if c, m := f.onlineCode(a2.device, r2.QRBinding); c != 201 {
		t.Errorf("other binding after revocation: %d %v", c, m)
	}
	// A device cannot use another device's binding.
	if c, m := f.onlineCode(a.device, r2.QRBinding); c != 403 || m["error"] != "qr_holder_unauthorized" {
		t.Errorf("foreign device: %d %v", c, m)
	}

	// Someone without a phone, at a counter: L1, no binding.
	p := newPerson(t, "31010419851111002", "李四")
	p.device = nil
	code, r3, m := f.enroll(f.enrollBody(p, "", "", nil))
	if code != 201 || r3.AssuranceLevel != "L1" || r3.BindingCredential != nil || r3.QRBinding != nil || r3.IdentityCredential.Credential == "" {
		t.Errorf("no device: %d %+v %v", code, r3, m)
	}

	// A P-256 device: a binding credential, no compact QR binding.
	q := newPerson(t, "44030519751212341", "王五")
	pk, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	jwkP, _ := gm.NewJWK(pk.Public(), "")
	proof, _ := holder.NewDeviceProof(pk, f.base, time.Now(), rand.Text())
	q.device = nil
	code, r4, m := f.enroll(f.enrollBody(q, "", "", func(m map[string]any) { m["device_key"], m["device_proof"] = jwkP, proof }))
	if code != 201 || r4.AssuranceLevel != "L2" || r4.BindingCredential == nil || r4.QRBinding != nil {
		t.Errorf("P-256 device: %d %+v %v", code, r4, m)
	}
}

// TestEnrollmentRefusals: each bad input gets its own documented code,
// 400 or 422, never a 500, and spends nothing (no status entry, no
// attestation marker).
func TestEnrollmentRefusals(t *testing.T) {
	f := newEnrollFixture(t)
	a := newPerson(t, "11010519900307123", "张三")
	other := newPerson(t, "11010519900307131", "张三")
	faceOK := identity.Liveness{Method: identity.LivenessFaceMatch, Passed: true, Score: 0.9}
	attest := func(at *identity.Attester, doc identity.Document, name string) string {
		s, err := at.Attest(doc, name, a.device.Public(), faceOK, true)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	unknownKey, _ := gm.GenerateKey(rand.Reader)
	unknown := &identity.Attester{TerminalID: "t-nobody", Audience: f.base, Signer: unknownKey}
	expired := &identity.Attester{TerminalID: f.terminal.TerminalID, Audience: f.base, Signer: f.terminal.Signer, Now: func() time.Time { return time.Now().Add(-time.Hour) }}
	forged := &identity.Attester{TerminalID: f.terminal.TerminalID, Audience: f.base, Signer: unknownKey}
	otherNode := &identity.Attester{TerminalID: f.terminal.TerminalID, Audience: "https://js.trustid.example", Signer: f.terminal.Signer}
	// A terminal installed in another region cannot be registered: the
	// ledger refuses its location (attestations of terminals of other
	// regions: ledger/registry.TestTerminalOfAnotherRegionNotTrustedHere).
	nanjingKey, _ := gm.GenerateKey(rand.Reader)
	nanjingPEM, _ := gm.MarshalPublicKeyPEM(nanjingKey.Public())
	nanjingFile := filepath.Join(t.TempDir(), "t-nanjing-1.pub.pem")
	os.WriteFile(nanjingFile, nanjingPEM, 0o600)
	if _, errOut, err := run(t, context.Background(), "terminals", "add", "--id", "t-nanjing-1", "--name", "counter t-nanjing-1", "--region", "320102",
		"--as-region", "310000", "--public-key", nanjingFile, "--data", f.dir); err == nil || !strings.Contains(err.Error()+errOut, "outside") {
		t.Errorf("registering a terminal installed in 320102 as 310000: %v %s", err, errOut)
	}
	// An attestation made for a's phone, presented with another phone
	// (whose key and proof are valid): the attestation does not move.
	otherPhone, _ := gm.GenerateKey(rand.Reader)
	otherPhoneJWK, _ := gm.NewJWK(otherPhone.Public(), "")
	withOtherPhone := func(m map[string]any) {
		m["device_key"] = otherPhoneJWK
		m["device_proof"], _ = holder.NewDeviceProof(otherPhone, f.base, time.Now(), rand.Text())
	}
	num := func(n string) func(m map[string]any) {
		return func(m map[string]any) { m["document"] = map[string]any{"number": n} }
	}
	body17 := a.number[:17]
	wrongCheck := body17 + string("0123456789X"[(strings.IndexByte("0123456789X", a.number[17])+1)%11])
	replayed := attest(f.terminal, a.doc, a.name)
	if code, _, m := f.enroll(f.enrollBody(a, replayed, "", nil)); code != 201 {
		t.Fatalf("first use of the attestation: %d %v", code, m)
	}
	usedProof := f.enrollBody(a, "", "", nil)
	if code, _, m := f.enroll(usedProof); code != 201 {
		t.Fatalf("first use of the device proof: %d %v", code, m)
	}
	failed, err := f.terminal.Attest(a.doc, a.name, a.device.Public(), identity.Liveness{Method: identity.LivenessFaceMatch, Passed: false, Score: 0.2}, true)
	if err != nil {
		t.Fatal(err)
	}
	// MRZ of a TD3 passport (ICAO 9303 part 4 specimen) with the composite
	// check digit changed.
	mrz1 := "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<"
	mrz2 := "L898902C36UTO7408122F1204159ZE184226B<<<<<10"
	badComposite := mrz2[:43] + "9"

	// Refusals must not touch the status lists (no entry allocated).
	statusDigest := func() string {
		h := ""
		filepath.Walk(filepath.Join(f.dir, statusDir), func(path string, fi os.FileInfo, err error) error {
			if err == nil && fi.Mode().IsRegular() {
				b, _ := os.ReadFile(path)
				h += path + ":" + fmt.Sprintf("%x", gm.SM3(b)) + ";"
			}
			return nil
		})
		return h
	}
	before := statusDigest()

	cases := []struct {
		name   string
		body   string
		status int
		code   string
		field  string
	}{
		{"wrong length", f.enrollBody(a, "", "", num("1101051990030712")), 422, "invalid_length", "input"},
		{"letters", f.enrollBody(a, "", "", num("11010519900307A23X")), 422, "invalid_character", "number"},
		{"bad check character", f.enrollBody(a, "", "", num(wrongCheck)), 422, "check_digit_mismatch", "check_character"},
		{"30 February", f.enrollBody(a, "", "", num(residentNumber("11010519900230123"))), 422, "invalid_birth_date", "birth_date"},
		{"future birth date", f.enrollBody(a, "", "", num(residentNumber("11010520990101123"))), 422, "future_birth_date", "birth_date"},
		{"MRZ composite", f.enrollBody(a, "", "", func(m map[string]any) { m["document"] = map[string]any{"mrz": []string{mrz1, badComposite}} }), 422, "mrz_composite_mismatch", "composite"},
		{"unknown terminal", f.enrollBody(a, attest(unknown, a.doc, a.name), "", nil), 422, "unknown_terminal", ""},
		{"revoked terminal", f.enrollBody(a, attest(f.oldTerminal, a.doc, a.name), "", nil), 422, "terminal_revoked", ""},
		{"bad signature", f.enrollBody(a, attest(forged, a.doc, a.name), "", nil), 422, "attestation_bad_signature", ""},
		{"expired attestation", f.enrollBody(a, attest(expired, a.doc, a.name), "", nil), 422, "attestation_expired", ""},
		{"attestation for another number", f.enrollBody(a, attest(f.terminal, other.doc, other.name), "", nil), 422, "attestation_wrong_person", ""},
		{"attestation for another name", f.enrollBody(a, attest(f.terminal, a.doc, "李四"), "", nil), 422, "attestation_wrong_person", ""},
		{"replayed attestation", f.enrollBody(a, replayed, "", nil), 422, "attestation_replayed", ""},
		{"attestation for another device", f.enrollBody(a, attest(f.terminal, a.doc, a.name), "", withOtherPhone), 422, "attestation_wrong_device", ""},
		{"attestation for a device, enrollment without", f.enrollBody(a, attest(f.terminal, a.doc, a.name), "", func(m map[string]any) {
			delete(m, "device_key")
			delete(m, "device_proof")
		}), 422, "attestation_wrong_device", ""},
		{"attestation for another node", f.enrollBody(a, attest(otherNode, a.doc, a.name), "", nil), 422, "attestation_wrong_audience", ""},
		{"failed person check", f.enrollBody(a, failed, "", nil), 422, "attestation_liveness_failed", ""},
		{"replayed device proof", usedProof, 422, "device_proof_replayed", ""},
		{"trivial PIN", f.enrollBody(a, "", "123456", nil), 422, "pin_too_simple", ""},
		{"PIN of the birth date", f.enrollBody(a, "", "900307", nil), 422, "pin_too_simple", ""},
		{"PIN format", f.enrollBody(a, "", "12345", nil), 422, "pin_invalid_format", ""},
		{"empty name", f.enrollBody(a, "", "", func(m map[string]any) { m["name"] = " " }), 422, "invalid_name", "name"},
		{"right-to-left override in the name", f.enrollBody(a, "", "", func(m map[string]any) { m["name"] = "张\u202e三" }), 422, "invalid_name", "name"},
		{"markup as a name", f.enrollBody(a, "", "", func(m map[string]any) { m["name"] = "<script>" }), 422, "invalid_name", "name"},
		{"device proof for another node", f.enrollBody(a, "", "", func(m map[string]any) {
			m["device_proof"], _ = holder.NewDeviceProof(a.device, "https://elsewhere.example", time.Now(), rand.Text())
		}), 422, "device_proof_invalid", ""},
		{"device proof by another key", f.enrollBody(a, "", "", func(m map[string]any) {
			m["device_proof"], _ = holder.NewDeviceProof(unknownKey, f.base, time.Now(), rand.Text())
		}), 422, "device_proof_invalid", ""},
		{"no device proof", f.enrollBody(a, "", "", func(m map[string]any) { delete(m, "device_proof") }), 422, "device_proof_invalid", ""},
		{"private key in the JWK", f.enrollBody(a, "", "", func(m map[string]any) {
			m["device_key"] = map[string]any{"kty": "EC", "crv": "SM2", "x": "AA", "y": "AA", "d": "AA"}
		}), 400, "invalid_request", ""},
		{"PIN without a device", f.enrollBody(a, "", "135790", func(m map[string]any) { delete(m, "device_key"); delete(m, "device_proof") }), 400, "invalid_request", ""},
		{"device_key and device_keys", f.enrollBody(a, "", "", func(m map[string]any) {
			m["device_keys"] = []any{map[string]any{"key": m["device_key"], "proof": m["device_proof"]}}
		}), 400, "invalid_request", ""},
		{"device_keys empty", f.enrollBody(a, "", "", func(m map[string]any) {
			m["device_keys"] = []any{}
			delete(m, "device_key")
			delete(m, "device_proof")
		}), 400, "invalid_request", ""},
		{"17 device keys", f.enrollBody(a, "", "", func(m map[string]any) {
			k := map[string]any{"key": m["device_key"], "proof": m["device_proof"]}
			m["device_keys"] = slices.Repeat([]any{k}, enrollment.MaxDeviceKeys+1)
			delete(m, "device_key")
			delete(m, "device_proof")
		}), 400, "invalid_request", ""},
		{"one device key twice", f.enrollBody(a, "", "", func(m map[string]any) {
			proof2, _ := holder.NewDeviceProof(a.device, f.base, time.Now(), rand.Text())
			m["device_keys"] = []any{map[string]any{"key": m["device_key"], "proof": m["device_proof"]}, map[string]any{"key": m["device_key"], "proof": proof2}}
			delete(m, "device_key")
			delete(m, "device_proof")
		}), 400, "invalid_request", ""},
		{"a batch key with another key's proof", f.enrollBody(a, "", "", func(m map[string]any) {
			m["device_keys"] = []any{map[string]any{"key": m["device_key"], "proof": m["device_proof"]}, map[string]any{"key": otherPhoneJWK, "proof": m["device_proof"]}}
			delete(m, "device_key")
			delete(m, "device_proof")
		}), 422, "device_proof_invalid", ""},
		{"unknown field", f.enrollBody(a, "", "", func(m map[string]any) { m["extra"] = 1 }), 400, "invalid_request", ""},
		{"number and mrz", f.enrollBody(a, "", "", func(m map[string]any) {
			m["document"] = map[string]any{"number": a.number, "mrz": []string{mrz1, mrz2}}
		}), 400, "invalid_request", ""},
		{"unknown document type", f.enrollBody(a, "", "", func(m map[string]any) { m["document"] = map[string]any{"number": a.number, "type": "driving_licence"} }), 400, "invalid_request", ""},
		{"duplicate key", `{"name":"x","name":"y","document":{"number":"` + a.number + `"}}`, 400, "invalid_request", ""},
		// encoding/json matches names case-insensitively: these would
		// enroll if only exact repeats were refused.
		{"member repeated in another case", strings.Replace(f.enrollBody(a, "", "", nil), `"name":`, `"NAME":"`+a.name+`","name":`, 1), 400, "invalid_request", ""},
		{"nested member repeated in another case", strings.Replace(f.enrollBody(a, "", "", nil), `"number":`, `"NUMBER":"`+a.number+`","number":`, 1), 400, "invalid_request", ""},
		{"device key member repeated in another case", strings.Replace(f.enrollBody(a, "", "", nil), `"kty":`, `"KTY":"EC","kty":`, 1), 400, "invalid_request", ""},
		{"member named in another case", strings.Replace(f.enrollBody(a, "", "", nil), `"name":`, `"Name":`, 1), 400, "invalid_request", ""},
		{"trailing data", `{"name":"x","document":{"number":"` + a.number + `"}} {}`, 400, "invalid_request", ""},
		{"not JSON", `number=` + a.number, 400, "invalid_request", ""},
		{"too large", `{"name":"` + strings.Repeat("x", 20000) + `"}`, 413, "request_too_large", ""},
	}
	for _, c := range cases {
		code, _, m := f.enroll(c.body)
		if code != c.status || m["error"] != c.code || (c.field != "" && m["field"] != c.field) {
			t.Errorf("%s: got %d %v, want %d %s %s", c.name, code, m, c.status, c.code, c.field)
		}
		if d, _ := m["error_description"].(string); strings.Contains(d, a.number) || strings.Contains(d, a.number[:14]) || strings.Contains(d, a.name) {
			t.Errorf("%s: the description echoes the input: %q", c.name, d)
		}
	}
	if after := statusDigest(); after != before {
		t.Errorf("refused enrollments changed the status lists:\n%s\n%s", before, after)
	}
	// Strict documents: an address code in no table.
	g := newEnrollFixture(t, "--strict-documents")
	z := newPerson(t, "11019919900307123", "赵六")
	if code, _, m := g.enroll(g.enrollBody(z, "", "", nil)); code != 422 || m["error"] != "unknown_address_code" {
		t.Errorf("strict, unknown address code: %d %v", code, m)
	}
	if code, _, m := f.enroll(f.enrollBody(z, "", "", nil)); code != 201 {
		t.Errorf("lenient, unknown address code: %d %v", code, m)
	}
}

// sealedEnrollments reports whether a sealed segment of the audit log in
// dir (audit.log.FIRST-LAST) holds an enrollment entry.
func sealedEnrollments(t *testing.T, dir string) bool {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(dir, auditFile+".*-*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range segs {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), `"kind":"enrollment"`) {
			return true
		}
	}
	return false
}

// TestEnrollmentLeavesNoPersonalData enrolls several people on a node
// backed by Redis, then scans the data directory, the logs and every
// Redis key and value for their numbers and names. The audit log is
// rotated at every anchor after an append (--audit-segment-size 1), so
// the enrollments' entries are scanned in a sealed segment.
func TestEnrollmentLeavesNoPersonalData(t *testing.T) {
	addr := testredis.Start(t)
	rc := testredis.Client(t, addr)
	f := newEnrollFixture(t, "--redis-url", "redis://"+addr, "--audit-segment-size", "1")
	people := []*person{
		newPerson(t, "11010519900307123", "张三"),
		newPerson(t, "31010419851111002", "李四"),
		newPerson(t, "44030519751212341", "欧阳娜娜"),
		newPerson(t, "32010219601010555", "Zhang Wei"),
	}
	var secrets []string
	for i, p := range people {
		att := ""
		if i%2 == 0 {
			var err error
			if att, err = f.terminal.Attest(p.doc, p.name, p.device.Public(), identity.Liveness{Method: identity.LivenessFaceMatch, Passed: true, Score: 0.95}, true); err != nil {
				t.Fatal(err)
			}
		}
		code, r, m := f.enroll(f.enrollBody(p, att, "135790", nil))
		if code != 201 {
			t.Fatalf("enroll %d: %d %v", i, code, m)
		}
		// Use the binding once, so Redis holds codes and nonces too.
		if c, m := f.onlineCode(p.device, r.QRBinding, "age_over_18"); c != 201 {
			t.Fatalf("holder request: %d %v", c, m)
		}
		// A refused one: the number is wrong.
		f.enroll(f.enrollBody(p, "", "", func(m map[string]any) { m["document"] = map[string]any{"number": p.number[:17] + "Y"} }))
		birth := p.number[6:10] + "-" + p.number[10:12] + "-" + p.number[12:14] // as credentials write it
		secrets = append(secrets, p.number, p.number[:14], p.name, birth, r.Symbol)
	}
	// The symbol is the holder's own: it may appear only in its short form.
	// A canary planted where the node writes proves each scan can see.
	// Stopped first: the access log is buffered and written out at shutdown,
	// so the scan reads every line the node wrote.
	f.stop()
	if !sealedEnrollments(t, f.dir) {
		t.Fatal("no sealed audit-log segment holds the enrollments: the scan below would not show it covers them")
	}
	scan := leakcheck.New(t, secrets...)
	scan.PlantDir(f.dir)
	scan.PlantLog(f.logs)
	scan.PlantRedis(rc)
	if hits := scan.Dir(f.dir); len(hits) > 0 {
		t.Errorf("personal data in the data directory: %v", hits)
	}
	if hits := scan.Log([]byte(f.logs.String())); len(hits) > 0 {
		t.Errorf("personal data in the logs: %v", hits)
	}
	if hits := scan.Redis(rc); len(hits) > 0 {
		t.Errorf("personal data in Redis: %v", hits)
	}
	if !strings.Contains(f.logs.String(), `"msg":"enrolled"`) {
		t.Error("no enrollment was logged")
	}
	// Redis keys are HMACs under the node's store-key, not plain digests
	// that anyone can recompute for a guessed address, client ID or jti:
	// the key check the node recorded is the one of its store-key secret.
	checkKeys, err := rc.Keys(t.Context(), "trustid:*:"+redisstore.KeyCheckKey).Result()
	if err != nil || len(checkKeys) != 1 {
		t.Fatalf("key check in Redis: %v %v", checkKeys, err)
	}
	prefix := strings.TrimSuffix(checkKeys[0], redisstore.KeyCheckKey)
	ks, err := keystore.Open(filepath.Join(f.dir, keystoreFile), mustKEK(t), keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	storeKey, err := nodeSecret(ks, storeKeySecret)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		secret []byte
		want   error
	}{{"the store-key", storeKey.Value(), nil}, {"no key", nil, redisstore.ErrKeySecret}} {
		r, err := redisstore.New(rc, redisstore.Options{Prefix: prefix, KeySecret: c.secret})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.CheckKeySecret(t.Context()); !errors.Is(err, c.want) {
			t.Errorf("Redis keys checked with %s: %v, want %v", c.name, err, c.want)
		}
	}
}

// TestEnrollmentAcrossInstances: two instances of one region share one
// Redis, so an attestation or a device proof spent at one is refused at
// the other (attestation_replayed, device_proof_replayed), and wrong PINs
// at one lock the binding at the other (pin_locked): the node keeps its
// markers and counters in the shared store, not in its own memory
// (identity.TestAttestationSingleUseAcrossInstances and
// api.TestPINCheckSharedLockout show the pieces over Redis).
func TestEnrollmentAcrossInstances(t *testing.T) {
	r := startRegionInstances(t)
	key := r.i1.addClientArgs("app-backend", auth.ScopeEnroll)
	f1 := &enrollFixture{authNode: r.i1, enrollTok: r.i1.tokenFor("app-backend", key)}
	f2 := &enrollFixture{authNode: r.i2, enrollTok: r.i2.tokenFor("app-backend", key)}
	term := r.i1.addTerminal("t-counter-1")
	a, b := newPerson(t, "11010519900307123", "张三"), newPerson(t, "31010419851111002", "李四")
	att, err := term.Attest(a.doc, a.name, a.device.Public(), identity.Liveness{Method: identity.LivenessFaceMatch, Passed: true, Score: 0.95}, true)
	if err != nil {
		t.Fatal(err)
	}
	// Instance 2 knows the terminal once it refuses the attestation for
	// another name (a refusal that does not spend it).
	waitUntil(t, "instance 2 reading the terminal", func() bool {
		time.Sleep(50 * time.Millisecond)
		c, _, m := f2.enroll(f1.enrollBody(a, att, "", func(m map[string]any) { m["name"] = "李四" }))
		return c == 422 && m["error"] == "attestation_wrong_person"
	})
	if c, _, m := f1.enroll(f1.enrollBody(a, att, "", nil)); c != 201 {
		t.Fatalf("enroll at instance 1: %d %v", c, m)
	}
	// The same attestation with a fresh device proof, at instance 2.
	if c, _, m := f2.enroll(f1.enrollBody(a, att, "", nil)); c != 422 || m["error"] != "attestation_replayed" {
		t.Errorf("attestation spent at instance 1, at instance 2: %d %v", c, m)
	}
	// A request without an attestation sent again: its device proof.
	body := f1.enrollBody(b, "", "", nil)
	if c, _, m := f1.enroll(body); c != 201 {
		t.Fatalf("enroll at instance 1: %d %v", c, m)
	}
	if c, _, m := f2.enroll(body); c != 422 || m["error"] != "device_proof_replayed" {
		t.Errorf("device proof spent at instance 1, at instance 2: %d %v", c, m)
	}
	// Five wrong PINs at instance 1 lock the binding at instance 2.
	const pin, wrong = "135790", "246802"
	p := newPerson(t, "44030519751212341", "欧阳娜娜")
	code, res, m := f1.enroll(f1.enrollBody(p, "", pin, nil))
	if code != 201 || res.BindingCredential == nil {
		t.Fatalf("enroll with a PIN at instance 1: %d %v", code, m)
	}
	check := func(n *authNode, pin string) (int, map[string]any) {
		t.Helper()
		proof, err := holder.NewDeviceProof(p.device, r.issuer, time.Now(), rand.Text())
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(map[string]string{"binding_credential": res.BindingCredential.Credential, "device_proof": proof, "pin": pin})
		c, m, _ := n.do("POST", api.PINCheckPath, "", "application/json", string(b))
		return c, m
	}
	for i := 4; i >= 0; i-- {
		if c, m := check(r.i1, wrong); c != 403 || m["error"] != "pin_mismatch" {
			t.Fatalf("wrong PIN at instance 1, %d left: %d %v", i, c, m)
		}
	}
	if c, m := check(r.i2, pin); c != 429 || m["error"] != "pin_locked" {
		t.Errorf("right PIN at instance 2 after 5 wrong ones at instance 1: %d %v", c, m)
	}
}

// TestPINCheckEndToEnd drives a real node: a holder enrolled with a PIN
// checks it with the binding credential and a device proof; wrong PINs
// lock the binding (the right PIN too, with Retry-After); a binding
// without a PIN, a proof by another phone, a replayed proof and a
// revoked binding are refused; the PIN is in no log line.
func TestPINCheckEndToEnd(t *testing.T) {
	f := newEnrollFixture(t)
	const pin, wrong = "135790", "246802"
	a := newPerson(t, "11010519900307123", "张三")
	code, r, m := f.enroll(f.enrollBody(a, "", pin, nil))
	if code != 201 || r.AssuranceLevel != "L3" || r.BindingCredential == nil {
		t.Fatalf("enroll: %d %v", code, m)
	}
	check := func(binding string, dev *gm.PrivateKey, proof, pin string) (int, map[string]any, http.Header) {
		t.Helper()
		if proof == "" {
			var err error
			if proof, err = holder.NewDeviceProof(dev, f.base, time.Now(), rand.Text()); err != nil {
				t.Fatal(err)
			}
		}
		b, _ := json.Marshal(map[string]string{"binding_credential": binding, "device_proof": proof, "pin": pin})
		return f.do("POST", api.PINCheckPath, "", "application/json", string(b))
	}
	bc := r.BindingCredential.Credential
	if c, m, _ := check(bc, a.device, "", pin); c != 200 || m["verified"] != true || m["assurance_level"] != float64(3) {
		t.Fatalf("right PIN: %d %v", c, m)
	}
	proof, _ := holder.NewDeviceProof(a.device, f.base, time.Now(), rand.Text())
	check(bc, a.device, proof, pin)
	if c, m, _ := check(bc, a.device, proof, pin); c != 422 || m["error"] != "device_proof_replayed" {
		t.Errorf("replayed proof: %d %v", c, m)
	}
	otherPhone, _ := gm.GenerateKey(rand.Reader)
	if c, m, _ := check(bc, otherPhone, "", pin); c != 422 || m["error"] != "device_proof_invalid" {
		t.Errorf("proof by another phone: %d %v", c, m)
	}
	for i := 4; i >= 0; i-- {
		if c, m, _ := check(bc, a.device, "", wrong); c != 403 || m["error"] != "pin_mismatch" || m["attempts_remaining"] != float64(i) {
			t.Fatalf("wrong PIN, %d left: %d %v", i, c, m)
		}
	}
	c, m, hdr := check(bc, a.device, "", pin)
	if retry, err := strconv.Atoi(hdr.Get("Retry-After")); c != 429 || m["error"] != "pin_locked" || err != nil || retry < 1 || retry > 180 {
		t.Errorf("locked: %d %v Retry-After %q", c, m, hdr.Get("Retry-After"))
	}

	// Another person: no PIN, then a revoked binding.
	b := newPerson(t, "31010419851111002", "李四")
	code, rb, m := f.enroll(f.enrollBody(b, "", "", nil))
	if code != 201 {
		t.Fatalf("enroll without PIN: %d %v", code, m)
	}
	if c, m, _ := check(rb.BindingCredential.Credential, b.device, "", pin); c != 422 || m["error"] != "pin_not_set" {
		t.Errorf("no PIN: %d %v", c, m)
	}
	code, rc, m := f.enroll(f.enrollBody(b, "", "864209", nil))
	if code != 201 {
		t.Fatalf("re-enroll with PIN: %d %v", code, m)
	}
	sb, _ := json.Marshal(map[string]string{"action": "revoke"})
	if c, m, _ := f.do("POST", "/v1/credentials/"+rc.BindingCredential.ID+"/status", f.enrollTok, "application/json", string(sb)); c != 200 {
		t.Fatalf("revoke: %d %v", c, m)
	}
	if c, m, _ := check(rc.BindingCredential.Credential, b.device, "", "864209"); c != 403 || m["error"] != "binding_revoked" {
		t.Errorf("revoked binding: %d %v", c, m)
	}
	if c, m, _ := f.do("POST", api.PINCheckPath, "", "application/json", `{"pin":135790}`); c != 400 || m["error"] != "invalid_request" {
		t.Errorf("malformed body: %d %v", c, m)
	}
	// Stopped first: the access log is buffered and written out at shutdown,
	// so the scan reads every line the node wrote.
	f.stop()
	pins := leakcheck.NewDelimited(t, pin, wrong, "864209")
	pins.PlantLog(f.logs)
	pins.PlantDir(f.dir)
	if hits := pins.Log([]byte(f.logs.String())); len(hits) > 0 {
		t.Errorf("a PIN is in the logs: %v", hits)
	}
	if hits := pins.Dir(f.dir); len(hits) > 0 {
		t.Errorf("a PIN is in the data directory: %v", hits)
	}
	if !strings.Contains(f.logs.String(), `"msg":"pin verified"`) {
		t.Error("no PIN check was logged")
	}
}

// TestEnrollmentLimitsAfterAuthentication: a flood of unauthenticated
// enrollment calls from one address is limited (429), and does not block
// an authenticated client enrolling from the same address.
func TestEnrollmentLimitsAfterAuthentication(t *testing.T) {
	f := newEnrollFixture(t, "--enroll-rate-addr", "3/1m", "--enroll-rate-client", "2/1m")
	a := newPerson(t, "11010519900307123", "张三")
	body := f.enrollBody(a, "", "", nil)
	codes := map[int]int{}
	for range 10 {
		c, _, _ := f.do("POST", "/v1/enrollments", "not-a-token", "application/json", body)
		codes[c]++
	}
	if codes[401] != 3 || codes[429] != 7 {
		t.Errorf("unauthenticated flood: %v, want 3×401 then 429", codes)
	}
	// The enrolling client, from the same address: its own limit only.
	for i := range 2 {
		if code, _, m := f.enroll(f.enrollBody(a, "", "", nil)); code != 201 {
			t.Fatalf("authenticated enrollment %d after the flood: %d %v", i, code, m)
		}
	}
	if code, _, m := f.enroll(f.enrollBody(a, "", "", nil)); code != 429 || m["error"] != "rate_limited" {
		t.Errorf("over the client's limit: %d %v", code, m)
	}
}

// TestSectorsHeldOnTheLedger: a node claims each relying party's pairwise
// sector on the ledger. The admin API refuses a second party with a
// sector another holds (409 sector_taken) but accepts a client whose ID is
// that text (another kind of sector); a party added with the CLI for a
// held sector is refused at redemption.
func TestSectorsHeldOnTheLedger(t *testing.T) {
	f := newEnrollFixture(t)
	admin := f.tokenFor("ops", f.addClientArgs("ops", auth.ScopeRegistryAdmin))
	reg := func(id, sector string) (int, map[string]any) {
		m := map[string]any{"client_id": id, "client_name": "RP " + id, "region": "310000", "scopes": []string{auth.ScopeQRRedeem},
			"token_endpoint_auth_method": "client_secret_basic"}
		if sector != "" {
			m["sector_identifier"] = sector
		}
		b, _ := json.Marshal(m)
		c, resp, _ := f.do("POST", "/v1/admin/clients", admin, "application/json", string(b))
		return c, resp
	}
	if c, m := reg("bank-sh", "bank.example"); c != 201 {
		t.Fatalf("first holder of bank.example: %d %v", c, m)
	}
	if c, m := reg("bank-copy", "bank.example"); c != 409 || m["error"] != "sector_taken" {
		t.Errorf("second party for bank.example: %d %v", c, m)
	}
	if c, m := reg("bank.example", ""); c != 201 {
		t.Errorf("client ID bank.example without a sector: %d %v", c, m)
	}

	// The hotel (registered with the CLI) claims hotel.example at its
	// first redemption; a copy registered later for it is refused.
	p := newPerson(t, "11010519900307123", "张三")
	code, r, m := f.enroll(f.enrollBody(p, "", "", nil))
	if code != 201 {
		t.Fatalf("enroll: %d %v", code, m)
	}
	redeemNew := func(tok string) (int, map[string]any) {
		c, qr := f.onlineCode(p.device, r.QRBinding)
		if c != 201 {
			t.Fatalf("QR code: %d %v", c, qr)
		}
		return f.redeem(tok, qr["code"].(string))
	}
	if c, m := redeemNew(f.hotelTok); c != 200 {
		t.Fatalf("hotel: %d %v", c, m)
	}
	copyTok := f.tokenFor("hotel-copy", f.addClientArgs("hotel-copy", auth.ScopeQRRedeem, "--sector", "hotel.example"))
	if c, m := redeemNew(copyTok); c != 403 || m["error"] != "qr_unknown_verifier" {
		t.Errorf("a second party for hotel.example: %d %v", c, m)
	}
	if c, m := redeemNew(f.hotelTok); c != 200 {
		t.Errorf("hotel again: %d %v", c, m)
	}
}

// TestEnrollmentSharesFate: an enrollment's credentials share their fate.
// Suspending the binding credential suspends the identity credential and
// stops QR codes (new requests and codes issued before); reinstating it
// restores both; revoking it revokes the identity credential and the QR
// binding.
func TestEnrollmentSharesFate(t *testing.T) {
	f := newEnrollFixture(t)
	a := newPerson(t, "11010519900307123", "张三")
	code, r, m := f.enroll(f.enrollBody(a, "", "", nil))
	if code != 201 || r.BindingCredential == nil || len(r.QRBinding) == 0 {
		t.Fatalf("enroll: %d %v", code, m)
	}
	// The QR binding's status reference is the identity credential's
	// Token Status List entry.
	b, err := qrcode.ParseBinding(r.QRBinding)
	if err != nil {
		t.Fatal(err)
	}
	sl := jwtPayload(t, r.IdentityCredential.Credential)["status"].(map[string]any)["status_list"].(map[string]any)
	listID := sl["uri"].(string)[strings.LastIndex(sl["uri"].(string), "/")+1:]
	if fmt.Sprintf("%08x", b.Status.List) != listID[:8] || float64(b.Status.Index) != sl["idx"] {
		t.Errorf("QR status %+v, identity credential status %v", b.Status, sl)
	}
	verifyIdentity := func() (int, string) {
		body, _ := json.Marshal(map[string]string{"verifiableCredential": "data:application/dc+sd-jwt," + r.IdentityCredential.Credential})
		c, m, _ := f.do("POST", "/credentials/verify", "", "application/json", string(body))
		errs, _ := m["errors"].([]any)
		if len(errs) > 0 {
			return c, errs[0].(map[string]any)["code"].(string)
		}
		return c, ""
	}
	setBinding := func(action string) {
		t.Helper()
		sb, _ := json.Marshal(map[string]string{"action": action})
		if c, m, _ := f.do("POST", "/v1/credentials/"+r.BindingCredential.ID+"/status", f.enrollTok, "application/json", string(sb)); c != 200 {
			t.Fatalf("%s the binding: %d %v", action, c, m)
		}
	}
	if c, e := verifyIdentity(); c != 200 {
		t.Fatalf("identity credential: %d %s", c, e)
	}
	c, pending := f.onlineCode(a.device, r.QRBinding)
	if c != 201 {
		t.Fatalf("holder request: %d %v", c, pending)
	}

	setBinding("suspend")
	if c, e := verifyIdentity(); c != 400 || e != "suspended" {
		t.Errorf("identity credential of a suspended binding: %d %s", c, e)
	}
	if c, m := f.onlineCode(a.device, r.QRBinding); c != 403 || m["error"] != "qr_suspended" {
		t.Errorf("holder request on a suspended binding: %d %v", c, m)
	}
	if c, m := f.redeem(f.hotelTok, pending["code"].(string)); c != 403 || m["error"] != "qr_suspended" || m["pairwise_id"] != nil {
		t.Errorf("code issued before the suspension: %d %v", c, m)
	}

	setBinding("reinstate")
	if c, e := verifyIdentity(); c != 200 {
		t.Errorf("identity credential after reinstatement: %d %s", c, e)
	}
	c, m = f.onlineCode(a.device, r.QRBinding)
	if c != 201 {
		t.Fatalf("holder request after reinstatement: %d %v", c, m)
	}
	if c, red := f.redeem(f.hotelTok, m["code"].(string)); c != 200 || red["pairwise_id"] == nil {
		t.Errorf("redemption after reinstatement: %d %v", c, red)
	}

	setBinding("revoke")
	if c, e := verifyIdentity(); c != 400 || e != "revoked" {
		t.Errorf("identity credential of a revoked binding: %d %s", c, e)
	}
	if c, m := f.onlineCode(a.device, r.QRBinding); c != 403 || m["error"] != "qr_revoked" {
		t.Errorf("holder request on a revoked binding: %d %v", c, m)
	}
}

// TestEnrollExpiredPassport: an expired passport is refused with
// document_expired (the ICAO 9303 Part 4 specimen expired on 2012-04-15);
// a passport that expires before --binding-ttl ends gives credentials
// that end with its day of expiry.
func TestEnrollExpiredPassport(t *testing.T) {
	f := newEnrollFixture(t)
	body, _ := json.Marshal(map[string]any{
		"document": map[string]any{"mrz": []string{"P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10"}},
		"name":     "Anna Maria Eriksson"})
	if code, _, m := f.enroll(string(body)); code != 422 || m["error"] != "document_expired" {
		t.Errorf("passport expired on 2012-04-15: %d %v", code, m)
	}
	soon := time.Now().UTC().AddDate(0, 1, 0)
	l2 := "L898902C36UTO7408122F" + soon.Format("060102")
	l2 += string(identity.ICAOCheckDigit(soon.Format("060102"))) + "ZE184226B<<<<<1"
	l2 += string(byte('0' + compositeSum(l2)%10))
	body, _ = json.Marshal(map[string]any{
		"document": map[string]any{"mrz": []string{"P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", l2}},
		"name":     "Anna Maria Eriksson"})
	code, r, m := f.enroll(string(body))
	if code != 201 {
		t.Fatalf("passport expiring next month: %d %v", code, m)
	}
	want := time.Date(soon.Year(), soon.Month(), soon.Day()+1, 0, 0, 0, 0, time.UTC)
	if exp := int64(jwtPayload(t, r.IdentityCredential.Credential)["exp"].(float64)); exp != want.Unix() {
		t.Errorf("identity credential exp %v, want the end of the day of expiry %v", time.Unix(exp, 0).UTC(), want)
	}
}

// TestEnrollPassportPartialBirthDate: a passport whose MRZ leaves part
// of the birth date unknown (ICAO Doc 9303 Part 3 §4.8) enrolls; its
// identity credential has no birthDate and only the age claims every
// possible day agrees on.
func TestEnrollPassportPartialBirthDate(t *testing.T) {
	f := newEnrollFixture(t)
	now := time.Now().UTC()
	expiry := now.AddDate(5, 0, 0).Format("060102")
	thirty := now.AddDate(-30, 0, 0).Format("06")         // 18 or over, under 60 on any day of that year
	sixty := fmt.Sprintf("%02d<<<<", (now.Year()-60)%100) // turns 60 this year: unknown unless today is 31 December
	for birth, want := range map[string]map[string]any{
		thirty + "<<<<": {"age_over_18": true, "age_over_60": false, "birthDate": nil},
		thirty + "06<<": {"age_over_18": true, "age_over_60": false, "birthDate": nil},
		"<<<<<<":        {"age_over_18": nil, "age_over_60": nil, "birthDate": nil},
		sixty:           {"age_over_18": true, "age_over_60": map[bool]any{true: true, false: nil}[now.Month() == 12 && now.Day() == 31], "birthDate": nil},
	} {
		l2 := "L898902C36UTO" + birth + string(identity.ICAOCheckDigit(birth)) + "F" + expiry
		l2 += string(identity.ICAOCheckDigit(expiry)) + "ZE184226B<<<<<1"
		l2 += string(byte('0' + compositeSum(l2)%10))
		body, _ := json.Marshal(map[string]any{
			"document": map[string]any{"mrz": []string{"P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", l2}},
			"name":     "Anna Maria Eriksson"})
		code, r, m := f.enroll(string(body))
		if code != 201 {
			t.Errorf("born %s: %d %v", birth, code, m)
			continue
		}
		got := map[string]any{}
		for _, enc := range strings.Split(r.IdentityCredential.Credential, "~")[1:] {
			if d, err := sdjwt.ParseDisclosure(enc); err == nil {
				got[d.Name] = d.Value
			}
		}
		for name, v := range want {
			if got[name] != v {
				t.Errorf("born %s: %s = %v, want %v", birth, name, got[name], v)
			}
		}
	}
}

// compositeSum is the ICAO 9303 composite check over a TD3 line 2's
// first 43 characters (positions 1-10, 14-20, 22-43), weights 7, 3, 1.
func compositeSum(l2 string) int {
	sum, w := 0, []int{7, 3, 1}
	k := 0
	for i := 0; i < 43; i++ {
		if i >= 10 && i < 13 || i == 20 {
			continue
		}
		c := l2[i]
		v := 0
		switch {
		case c >= '0' && c <= '9':
			v = int(c - '0')
		case c >= 'A' && c <= 'Z':
			v = int(c-'A') + 10
		}
		sum += v * w[k%3]
		k++
	}
	return sum
}

// TestEnrollNationalityForms: a German passport (nationality "D<<", ICAO
// Doc 9303 Part 3) enrolls with nationality DEU; a 2023 card whose
// numeric nationality code is in no table enrolls without one.
func TestEnrollNationalityForms(t *testing.T) {
	f := newEnrollFixture(t)
	for name, tc := range map[string]struct {
		doc  map[string]any
		want any
	}{
		"German passport":             {map[string]any{"mrz": []string{"P<D<<MUSTERMANN<<ERIKA<<<<<<<<<<<<<<<<<<<<<<", "C01X00T478D<<6408125F3702280<<<<<<<<<<<<<<02"}}, "DEU"},
		"2023 card, numeric code 999": {map[string]any{"number": residentNumber("93199919800101001")}, nil},
	} {
		body, _ := json.Marshal(map[string]any{"document": tc.doc, "name": "Erika Mustermann"})
		code, r, m := f.enroll(string(body))
		if code != 201 {
			t.Errorf("%s: %d %v", name, code, m)
			continue
		}
		var got any
		for _, enc := range strings.Split(r.IdentityCredential.Credential, "~")[1:] {
			if d, err := sdjwt.ParseDisclosure(enc); err == nil && d.Name == "nationality" {
				got = d.Value
			}
		}
		if got != tc.want {
			t.Errorf("%s: nationality %v, want %v", name, got, tc.want)
		}
	}
}
