package main

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

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
// a PIN and an attestation for the first key; edit changes the request
// (a static code adds a copy).
func (f *enrollFixture) enrollCopies(t *testing.T, p *person, n int, edit ...func(map[string]any)) (copiesResult, []*gm.PrivateKey) {
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
	req := map[string]any{"document": map[string]any{"number": p.number}, "name": p.name,
		"device_keys": keys, "attestation": att, "pin": "135790"}
	for _, e := range edit {
		e(req)
	}
	if req["static_code"] == true {
		n++
	}
	body, _ := json.Marshal(req)
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

// codeLeaves decodes an offline code (its CBOR, after base45) into its
// fields by path: "1.1.2" is the device key (field 2 of the binding
// payload, item 1 of the binding envelope, field 1 of the code). The
// byte strings that carry CBOR (the binding payload, the presentation,
// the disclosures) are decoded too; every other value is a leaf.
func codeLeaves(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	nested := map[string]bool{"1.1": true, "2": true}
	out := map[string]any{}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		key := func(k any) string {
			if path == "" {
				return fmt.Sprint(k)
			}
			return path + "." + fmt.Sprint(k)
		}
		switch x := v.(type) {
		case map[any]any:
			for k, e := range x {
				walk(key(k), e)
			}
		case []any:
			for i, e := range x {
				walk(key(i), e)
			}
		case []byte:
			if nested[path] || strings.HasPrefix(path, "5.") && strings.Count(path, ".") == 1 {
				var inner any
				if err := cbor.Unmarshal(x, &inner); err != nil {
					t.Fatalf("field %s: %v", path, err)
				}
				walk(path, inner)
				return
			}
			out[path] = x
		default:
			out[path] = x
		}
	}
	var top any
	if err := cbor.Unmarshal(raw, &top); err != nil {
		t.Fatal(err)
	}
	walk("", top)
	return out
}

// linking compares two codes' fields (codeLeaves): those in same must be
// equal, every other must differ, and no two of the others, one from each
// code, may share 8 bytes or more. It returns what it found.
func linking(a, b map[string]any, same map[string]bool) []string {
	var found []string
	for path := range b {
		if _, ok := a[path]; !ok {
			found = append(found, "field "+path+" in the second only")
		}
	}
	for path, va := range a {
		vb, ok := b[path]
		switch {
		case !ok:
			found = append(found, "field "+path+" in the first only")
		case same[path] && fmt.Sprint(va) != fmt.Sprint(vb):
			found = append(found, fmt.Sprintf("field %s differs: %v %v", path, va, vb))
		case !same[path] && fmt.Sprint(va) == fmt.Sprint(vb):
			found = append(found, fmt.Sprintf("both have field %s equal: %x", path, leafBytes(va)))
		}
	}
	for pa, va := range a {
		for pb, vb := range b {
			if same[pa] || same[pb] {
				continue
			}
			if n := longestCommon(leafBytes(va), leafBytes(vb)); n >= 8 {
				found = append(found, fmt.Sprintf("a %d-byte string shared by field %s and field %s", n, pa, pb))
			}
		}
	}
	return found
}

// leafBytes is a field's content: a byte or text string's bytes, an
// integer's big-endian bytes without leading zeros.
func leafBytes(v any) []byte {
	switch x := v.(type) {
	case []byte:
		return x
	case string:
		return []byte(x)
	case uint64:
		b := binary.BigEndian.AppendUint64(nil, x)
		return bytes.TrimLeft(b, "\x00")
	}
	return []byte(fmt.Sprint(v))
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
	// Every field of the two codes, parsed (codeLeaves): the fields every
	// code of this issuer and day has in common, and what the holder
	// showed, are equal by design; every other field must differ, and no
	// two of them, in either code, share 8 bytes or more. Only field
	// contents are compared, never CBOR headers or map keys, so random
	// bytes cannot match structure by chance (a chance match of 8 random
	// bytes between the two codes' ~230 random bytes each is below 2^-45).
	same := map[string]bool{}
	for _, p := range []string{
		"1.0",                                       // kid hint
		"1.1.3", "1.1.4", "1.1.5", "1.1.6", "1.1.7", // assurance, region, issued, expiry, status list
		"2.1", "2.2", // the presentation's time and counter
		"5.0.1", "5.0.2", // the disclosed claim's name and value
	} {
		same[p] = true
	}
	leaves := [2]map[string]any{codeLeaves(t, codes[0]), codeLeaves(t, codes[1])}
	for _, must := range []string{"1.1.1", "1.1.2", "1.1.8", "1.2", "3", "5.0.0"} { // subject, device key, status index, issuer and device signatures, salt
		if _, ok := leaves[0][must]; !ok {
			t.Fatalf("the code has no field %s: %v", must, leaves[0])
		}
	}
	for _, p := range linking(leaves[0], leaves[1], same) {
		t.Error("two copies' offline codes: " + p)
	}
	// The check finds what it must: the second copy with the first's
	// subject, or with a field of its own carrying 8 bytes of the first's
	// device signature.
	shared, carried := maps.Clone(leaves[1]), maps.Clone(leaves[1])
	shared["1.1.1"] = leaves[0]["1.1.1"]
	carried["1.1.9"] = append([]byte("new field "), leaves[0]["3"].([]byte)[20:28]...)
	if len(linking(leaves[0], shared, same)) == 0 || len(linking(leaves[0], carried, same)) == 0 {
		t.Error("the linking check misses a shared subject or a carried identifier")
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

// TestEnrollmentStatusLogNamesNoCopies: changing an enrollment's status
// logs its reference (enrollment.AuditEnrollmentRef, as the audit log
// does), never the enrollment ID, which carries every copy's status list
// and index in clear: with it, whoever reads the log could match the
// entries two verifiers saw (an SD-JWT VC's status, an offline code's)
// and link the copies (docs/identity.md, "What the node keeps").
func TestEnrollmentStatusLogNamesNoCopies(t *testing.T) {
	f := newEnrollFixture(t)
	p := newPerson(t, "11010519900307123", "张三")
	r, _ := f.enrollCopies(t, p, 2)
	code, m, _ := f.do("POST", "/v1/enrollments/"+r.EnrollmentID+"/status", f.enrollTok, "application/json", `{"action":"suspend"}`)
	if code != 200 || m["id"] != r.EnrollmentID {
		t.Fatalf("suspend the enrollment: %d %v", code, m)
	}
	body := r.EnrollmentID[strings.LastIndex(r.EnrollmentID, ":")+1:]
	var line string
	for _, l := range strings.Split(f.logs.String(), "\n") {
		if strings.Contains(l, `"msg":"enrollment status"`) {
			line = l
		}
		if strings.Contains(l, body) {
			t.Errorf("the log names the enrollment ID: %s", l)
		}
	}
	if !strings.Contains(line, `"enrollment":"`+enrollment.AuditEnrollmentRef(r.EnrollmentID)+`"`) {
		t.Errorf("the status change is not logged by its reference: %q", line)
	}
}
