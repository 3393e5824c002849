package main

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/api"
	"github.com/trustid-cn/trustid/credentials/sdjwt"
	"github.com/trustid-cn/trustid/enrollment"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/holder"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/qrcode"
)

// copiesResult is an enrollment answer with its copies.
type copiesResult struct {
	Subject      string           `json:"subject"`
	EnrollmentID string           `json:"enrollment_id"`
	Copies       []api.EnrollCopy `json:"copies"`
}

// enrollCopies enrolls p with n fresh SM2 device keys (the batch form),
// a PIN and an attestation for the first key.
func (f *enrollFixture) enrollCopies(t *testing.T, p *person, n int) (copiesResult, []*gm.PrivateKey) {
	t.Helper()
	var devices []*gm.PrivateKey
	var keys []map[string]any
	for range n {
		d, _ := gm.GenerateKey(rand.Reader)
		jwk, _ := gm.NewJWK(d.Public(), "")
		proof, err := holder.NewDeviceProof(d, f.base, time.Now(), rand.Text())
		if err != nil {
			t.Fatal(err)
		}
		devices = append(devices, d)
		keys = append(keys, map[string]any{"key": jwk, "proof": proof})
	}
	att, err := f.terminal.Attest(p.doc, p.name, devices[0].Public(), identity.Liveness{Method: identity.LivenessFaceMatch, Passed: true, Score: 0.93}, true)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"document": map[string]any{"number": p.number}, "name": p.name,
		"device_keys": keys, "attestation": att, "pin": "135790"})
	code, m, _ := f.do("POST", "/v1/enrollments", f.enrollTok, "application/json", string(body))
	if code != 201 || m["assurance_level"] != "L4" {
		t.Fatalf("enroll %d copies: %d %v", n, code, m)
	}
	var r copiesResult
	raw, _ := json.Marshal(m)
	if err := json.Unmarshal(raw, &r); err != nil || len(r.Copies) != n {
		t.Fatalf("copies: %v, %d", err, len(r.Copies))
	}
	return r, devices
}

// longestCommon is the length of the longest byte string found in both a
// and b.
func longestCommon(a, b []byte) int {
	best := 0
	prev := make([]int, len(b)+1)
	for i := range a {
		cur := make([]int, len(b)+1)
		for j := range b {
			if a[i] == b[j] {
				cur[j+1] = prev[j] + 1
				best = max(best, cur[j+1])
			}
		}
		prev = cur
	}
	return best
}

// TestEnrollmentCopiesUnlinkable: what two verifiers see of two copies of
// one enrollment has nothing in common but issuer-constant fields and
// what the holder chose to show.
func TestEnrollmentCopiesUnlinkable(t *testing.T) {
	f := newEnrollFixture(t)
	p := newPerson(t, "11010519900307123", "张三")
	r, devices := f.enrollCopies(t, p, 3)
	stable, _ := hex.DecodeString(strings.TrimPrefix(r.Subject, "urn:trustid:subject:"))

	// Offline codes, one per copy, each showing only age_over_18.
	now := time.Now()
	var codes [2][]byte
	var bindings [2]qrcode.Binding
	for i := range codes {
		text, err := qrcode.NewOffline(nil, devices[i], r.Copies[i].QRBinding, nil, qrcode.Presentation{Time: now, Counter: 1, Claims: []string{"age_over_18"}})
		if err != nil {
			t.Fatal(err)
		}
		b, _, pres, err := qrcode.DecodeOffline(text)
		if err != nil {
			t.Fatal(err)
		}
		bindings[i] = b
		raw, _ := qrcode.DecodeBase45(strings.TrimPrefix(text, qrcode.KindOffline.Prefix()))
		codes[i] = raw
		if b.Claims["age_over_18"] != "true" || len(b.Claims) != 1 || bytes.Contains(raw, []byte("age_over_60")) || len(pres.Claims) != 1 {
			t.Errorf("copy %d: the code shows %v", i, b.Claims)
		}
		if bytes.Contains(raw, stable[1:]) {
			t.Errorf("copy %d: the code carries the stable subject", i)
		}
	}
	a, b := bindings[0], bindings[1]
	if bytes.Equal(a.Subject, b.Subject) || a.DeviceKey.Equal(b.DeviceKey) || a.Status == b.Status {
		t.Errorf("two copies share a subject, a device key or a status entry: %x %x %+v %+v", a.Subject, b.Subject, a.Status, b.Status)
	}
	if a.IssuedAt != b.IssuedAt || a.IssuedAt.Unix()%86400 != 0 || a.Expiry.Unix()%86400 != 0 {
		t.Errorf("binding times are not day-coarse: %v %v", a.IssuedAt, a.Expiry)
	}
	// Blank the fields every code of this issuer and day has in common, and
	// what the holder showed, differently in each code; what is left in
	// common must be shorter than 8 bytes (CBOR headers).
	var presTime [4]byte
	for i := range 4 {
		presTime[i] = byte(uint32(now.Unix()) >> (24 - 8*i))
	}
	constants := [][]byte{qrcode.KidHint(f.activeKid(t)), []byte("age_over_18"), []byte("true"), presTime[:]}
	for _, t32 := range []uint32{a.Region, uint32(a.IssuedAt.Unix()), uint32(a.Expiry.Unix()), a.Status.List} {
		constants = append(constants, []byte{byte(t32 >> 24), byte(t32 >> 16), byte(t32 >> 8), byte(t32)})
	}
	for i, fill := range []byte{0x00, 0xff} {
		for _, c := range constants {
			codes[i] = bytes.ReplaceAll(codes[i], c, bytes.Repeat([]byte{fill}, len(c)))
		}
	}
	if n := longestCommon(codes[0], codes[1]); n >= 8 {
		t.Errorf("two copies' offline codes share a %d-byte string beyond issuer-constant fields", n)
	}

	// SD-JWT presentations of two copies to two relying parties, each
	// disclosing only age_over_18.
	var pres [2]string
	var payloads [2]map[string]any
	salts := map[string]bool{}
	for i, aud := range []string{"https://hotel.example", "https://shop.example"} {
		tok := r.Copies[i].IdentityCredential.Credential
		sd, err := sdjwt.Split(tok)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range sd.Disclosures {
			if salts[d.Salt] {
				t.Errorf("copy %d reuses a salt", i)
			}
			salts[d.Salt] = true
		}
		nonce := rand.Text()
		pres[i], err = sd.Present(func(d *sdjwt.Disclosure) bool { return d.Name == "age_over_18" },
			&sdjwt.KeyBinding{Signer: devices[i], Audience: aud, Nonce: nonce, IssuedAt: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		payloads[i] = jwtPayload(t, pres[i])
		if strings.Contains(pres[i], r.Subject) || strings.Count(pres[i], "~") != 2 {
			t.Errorf("copy %d: presentation shows more than age_over_18", i)
		}
		// The relying party's check: issuer signature and key binding.
		v, err := sdjwt.Verify(pres[i], sdjwt.VerifyOptions{Algorithms: []string{gm.AlgSM2}, Key: f.issuerKey(t),
			RequireKeyBinding: true, Audience: aud, Nonce: nonce})
		if err != nil || v.Claims["age_over_18"] != true || v.Claims["age_over_60"] != nil || v.Claims["sub"] != nil || v.Claims["name"] != nil {
			t.Fatalf("copy %d: presentation: %v %v", i, err, v)
		}
	}
	cnf := func(m map[string]any) string { b, _ := json.Marshal(m["cnf"]); return string(b) }
	idx := func(m map[string]any) any { return m["status"].(map[string]any)["status_list"].(map[string]any)["idx"] }
	if cnf(payloads[0]) == cnf(payloads[1]) || idx(payloads[0]) == idx(payloads[1]) {
		t.Errorf("two presentations share cnf or a status index: %s %v", cnf(payloads[0]), idx(payloads[0]))
	}
	for _, c := range []string{"iat", "nbf", "exp"} {
		v0, _ := payloads[0][c].(float64)
		if v0 == 0 || v0 != payloads[1][c] || int64(v0)%86400 != 0 {
			t.Errorf("%s is not day-coarse and equal across copies: %v %v", c, payloads[0][c], payloads[1][c])
		}
	}

	// Online codes of different copies: one relying party sees one ID,
	// two see two.
	ids := map[string]string{}
	for i, rp := range []struct{ name, tok string }{{"hotel", f.hotelTok}, {"hotel", f.hotelTok}, {"shop", f.shopTok}} {
		c, m := f.onlineCode(devices[i], r.Copies[i].QRBinding, "age_over_18")
		if c != 201 {
			t.Fatalf("copy %d: holder request: %d %v", i, c, m)
		}
		c, red := f.redeem(rp.tok, m["code"].(string))
		if c != 200 {
			t.Fatalf("copy %d at %s: %d %v", i, rp.name, c, red)
		}
		id := red["pairwise_id"].(string)
		if prev, ok := ids[rp.name]; ok && prev != id {
			t.Errorf("%s sees two IDs for one holder: %s %s", rp.name, prev, id)
		}
		ids[rp.name] = id
	}
	if ids["hotel"] == ids["shop"] {
		t.Error("two relying parties see the same ID")
	}

	// Revoking the enrollment revokes every copy.
	code, m, _ := f.do("POST", "/v1/enrollments/"+r.EnrollmentID+"/status", f.enrollTok, "application/json", `{"action":"revoke"}`)
	if code != 200 || m["credentials"] != float64(6) {
		t.Fatalf("revoke the enrollment: %d %v", code, m)
	}
	for i, c := range r.Copies {
		if code, m := f.onlineCode(devices[i], c.QRBinding); code != 403 || m["error"] != "qr_revoked" {
			t.Errorf("copy %d: online code after revocation: %d %v", i, code, m)
		}
		if code, m, _ := f.do("POST", "/credentials/verify", "", "application/json", verifyBody(c.BindingCredential.Credential)); code == 200 && m["verified"] == true {
			t.Errorf("copy %d: binding credential still verifies", i)
		}
		if code, m, _ := f.do("POST", "/credentials/verify", "", "application/json", verifyBody(c.IdentityCredential.Credential)); code == 200 && m["verified"] == true {
			t.Errorf("copy %d: identity credential still verifies", i)
		}
	}
	// An unknown enrollment, and one already revoked, by another client.
	if code, m, _ := f.do("POST", "/v1/enrollments/urn:uuid:00000000-0000-4000-8000-000000000000/status", f.enrollTok, "application/json", `{"action":"revoke"}`); code != 404 {
		t.Errorf("unknown enrollment: %d %v", code, m)
	}
}

func verifyBody(tok string) string {
	b, _ := json.Marshal(map[string]any{"verifiableCredential": tok})
	return string(b)
}

// jwks is the node's published keys.
func (f *enrollFixture) jwks(t *testing.T) gm.JWKS {
	t.Helper()
	code, m, _ := f.do("GET", "/.well-known/jwks.json", "", "", "")
	raw, _ := json.Marshal(m)
	var set gm.JWKS
	if err := json.Unmarshal(raw, &set); err != nil || code != 200 {
		t.Fatalf("node JWKS: %d %v", code, err)
	}
	return set
}

// activeKid is the node's SM2 key ID.
func (f *enrollFixture) activeKid(t *testing.T) string {
	t.Helper()
	for _, k := range f.jwks(t).Keys {
		if k.Crv == "SM2" {
			return k.Kid
		}
	}
	t.Fatal("no SM2 key in the node's JWKS")
	return ""
}

// issuerKey finds the node's key named by a JWT header's kid, as a
// relying party holding the node's JWKS does.
func (f *enrollFixture) issuerKey(t *testing.T) func(h, _ map[string]any) (crypto.PublicKey, error) {
	set := f.jwks(t)
	return func(h, _ map[string]any) (crypto.PublicKey, error) {
		for _, k := range set.Keys {
			if k.Kid == h["kid"] {
				return k.PublicKey()
			}
		}
		return nil, fmt.Errorf("no key %v", h["kid"])
	}
}

// TestEnrollmentMaxCopiesStatus: an enrollment of MaxDeviceKeys copies
// (its ID carries all 48 status entries: the longest enrollment ID) is
// audited, and suspending and revoking it through its ID changes every
// credential of every copy.
func TestEnrollmentMaxCopiesStatus(t *testing.T) {
	f := newEnrollFixture(t)
	p := newPerson(t, "11010519900307123", "张三")
	r, _ := f.enrollCopies(t, p, enrollment.MaxDeviceKeys)
	t.Logf("enrollment ID of %d copies: %d characters", len(r.Copies), len(r.EnrollmentID))
	for _, action := range []string{"suspend", "revoke"} {
		code, m, _ := f.do("POST", "/v1/enrollments/"+r.EnrollmentID+"/status", f.enrollTok, "application/json", `{"action":"`+action+`"}`)
		if code != 200 || m["credentials"] != float64(2*enrollment.MaxDeviceKeys) {
			t.Fatalf("%s the enrollment: %d %v", action, code, m)
		}
	}
	for i, c := range r.Copies {
		if code, m, _ := f.do("POST", "/credentials/verify", "", "application/json", verifyBody(c.BindingCredential.Credential)); code == 200 && m["verified"] == true {
			t.Errorf("copy %d: binding credential still verifies", i)
		}
	}
	// Nothing was kept per credential: the instance's status index was
	// never written.
	if _, err := os.Stat(filepath.Join(f.dir, statusDir, "index.log")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the status index was written: %v", err)
	}
}
