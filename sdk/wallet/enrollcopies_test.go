package wallet_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/credentials/sdjwt"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/sdk/wallet"
)

// enrollCopies runs EnrollmentRequest on w and answers it as the node
// does: one copy per device key, each with its own subject handle and
// status entry, the first copy again at the top level.
func enrollCopies(t *testing.T, w *wallet.Holder) {
	t.Helper()
	body, err := w.EnrollmentRequest("11010519491231002X", "张三", "", "")
	if err != nil {
		t.Fatal(err)
	}
	var req struct {
		DeviceKey  *gm.JWK `json:"device_key"`
		DeviceKeys []struct {
			Key gm.JWK `json:"key"`
		} `json:"device_keys"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		t.Fatal(err)
	}
	var jwks []gm.JWK
	if req.DeviceKey != nil {
		jwks = append(jwks, *req.DeviceKey)
	}
	for _, k := range req.DeviceKeys {
		jwks = append(jwks, k.Key)
	}
	type answerCopy struct {
		QRBinding []byte `json:"qr_binding"`
	}
	var copies []answerCopy
	now := time.Now()
	for i, j := range jwks {
		pub, err := j.PublicKey()
		if err != nil {
			t.Fatal(err)
		}
		subject := bytes.Repeat([]byte{byte(i + 1)}, 16)
		b, err := (&qrcode.Issuer{Signer: issuerKey, Kid: "test-node-key", Region: 310000}).IssueBinding(qrcode.Binding{
			Subject: subject, DeviceKey: pub.(*gm.PublicKey), Assurance: qrcode.AssuranceDevice, IssuedAt: now, Expiry: now.Add(time.Hour),
			Status: qrcode.StatusRef{Region: 310000, List: 7, Index: uint32(100 + i)}, Claims: map[string]string{"age_over_18": "true"}})
		if err != nil {
			t.Fatal(err)
		}
		copies = append(copies, answerCopy{QRBinding: b})
	}
	answer, _ := json.Marshal(map[string]any{"qr_binding": copies[0].QRBinding, "copies": copies})
	if err := w.AcceptEnrollment(answer); err != nil {
		t.Fatal(err)
	}
}

// offlineBinding decodes the binding an offline code of w for audience
// carries.
func offlineBinding(t *testing.T, w *wallet.Holder, audience string) qrcode.Binding {
	t.Helper()
	code, err := w.OfflineCode("", audience, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _, _, err := qrcode.DecodeOffline(code)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sameCopy(a, b qrcode.Binding) bool {
	return bytes.Equal(a.Subject, b.Subject) && a.DeviceKey.Equal(b.DeviceKey) && a.Status == b.Status
}

// TestEnrollmentCopiesPerVerifier: the wallet asks for DefaultCopies
// copies (device_keys) and keeps them all; two verifiers get codes of two
// copies (different subject handle, device key and status), the same
// verifier its copy again, also after State and RestoreState; once every
// copy is shown, the least-shown (the first among equals) is reused.
func TestEnrollmentCopiesPerVerifier(t *testing.T) {
	w, keys := newWallet(t)
	if err := w.SetCopies(3); err != nil {
		t.Fatal(err)
	}
	enrollCopies(t, w)
	a, b := offlineBinding(t, w, "verifierA"), offlineBinding(t, w, "verifierB")
	if bytes.Equal(a.Subject, b.Subject) || a.DeviceKey.Equal(b.DeviceKey) || a.Status == b.Status {
		t.Fatalf("verifierA and verifierB got codes of one copy: %x %x", a.Subject, b.Subject)
	}
	if !sameCopy(offlineBinding(t, w, "verifierA"), a) {
		t.Error("verifierA got another copy the second time")
	}
	state, err := w.State()
	if err != nil {
		t.Fatal(err)
	}
	restored, err := wallet.NewHolder("https://sh.trustid.example", keys, "device")
	if err != nil {
		t.Fatal(err)
	}
	if err := restored.RestoreState(state); err != nil {
		t.Fatal(err)
	}
	if !sameCopy(offlineBinding(t, restored, "verifierB"), b) || !sameCopy(offlineBinding(t, restored, "verifierA"), a) {
		t.Error("a restored wallet shows a verifier another copy")
	}
	c := offlineBinding(t, restored, "verifierC")
	if sameCopy(c, a) || sameCopy(c, b) {
		t.Error("a third verifier got a copy another verifier saw while one was left")
	}
	if !sameCopy(offlineBinding(t, restored, "verifierD"), a) {
		t.Error("all copies shown: a fourth verifier does not reuse the least-shown, first copy")
	}
	if _, err := w.OfflineCode("", "verifierA", nil); err != nil {
		t.Fatal(err)
	}

	// The default asks for DefaultCopies keys.
	d, _ := newWallet(t)
	body, err := d.EnrollmentRequest("11010519491231002X", "张三", "", "")
	if err != nil {
		t.Fatal(err)
	}
	var req struct {
		DeviceKeys []json.RawMessage `json:"device_keys"`
	}
	if json.Unmarshal(body, &req); len(req.DeviceKeys) != wallet.DefaultCopies {
		t.Errorf("default request: %d device_keys, want %d", len(req.DeviceKeys), wallet.DefaultCopies)
	}
	for _, n := range []int64{0, wallet.DefaultCopies + 1} {
		if err := d.SetCopies(n); !errors.Is(err, wallet.ErrInvalidArgument) {
			t.Errorf("SetCopies(%d): %v", n, err)
		}
	}
}

// TestPresentPerVerifier: Present shows two audiences the identity
// credentials of two copies, each KB-JWT signed by its copy's key.
func TestPresentPerVerifier(t *testing.T) {
	w, _ := newWallet(t)
	if err := w.SetCopies(2); err != nil {
		t.Fatal(err)
	}
	enrollCopies(t, w)
	state, _ := w.State()
	var st struct {
		Copies []map[string]any `json:"copies"`
	}
	if err := json.Unmarshal([]byte(state), &st); err != nil || len(st.Copies) != 2 {
		t.Fatalf("state: %v %s", err, state)
	}
	// Give each copy an identity credential bound to its key.
	for _, c := range st.Copies {
		b, err := qrcode.ParseBinding(mustB64(t, c["qr_binding"].(string)))
		if err != nil {
			t.Fatal(err)
		}
		c["identity_credential"] = identityCredentialFor(t, b.DeviceKey)
	}
	raw, _ := json.Marshal(map[string]any{"version": 2, "copies": st.Copies})
	if err := w.RestoreState(string(raw)); err != nil {
		t.Fatal(err)
	}
	cnf := func(audience string) string {
		p, err := w.Present("", audience, "n-0S6_WzA2Mj")
		if err != nil {
			t.Fatal(err)
		}
		return strings.SplitN(p, "~", 2)[0]
	}
	a, b := cnf("https://a.example"), cnf("https://b.example")
	if a == b {
		t.Error("two audiences were shown one copy's credential")
	}
	if cnf("https://a.example") != a {
		t.Error("one audience was shown two copies")
	}
}

// TestRestoreState: an old single-copy state (Restore) still restores and
// serves every verifier from its one copy; State round-trips it; a state
// of another version, with unknown members, a first copy not of the
// device key, a copy bound to another key, or a party twice is refused.
func TestRestoreState(t *testing.T) {
	w, keys := newWallet(t)
	binding := issueBinding(w)
	if err := w.Restore(binding, "", 4); err != nil {
		t.Fatal(err)
	}
	a := offlineBinding(t, w, "verifierA")
	if !sameCopy(offlineBinding(t, w, "verifierB"), a) {
		t.Error("a single-copy wallet used another binding")
	}
	code, _ := w.OfflineCode("", "verifierB", nil)
	if _, _, p, _ := qrcode.DecodeOffline(code); p.Counter != 7 {
		t.Errorf("counter %d, want 7 (restored 4, then three codes)", p.Counter)
	}
	state, err := w.State()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (&wallet.Holder{}).State(); !errors.Is(err, wallet.ErrNotEnrolled) {
		t.Errorf("State before enrollment: %v", err)
	}
	other, _ := newWallet(t)
	otherState := strings.Replace(state, base64.StdEncoding.EncodeToString(binding), base64.StdEncoding.EncodeToString(issueBinding(other)), 1)
	for name, bad := range map[string]string{
		"version 1":        strings.Replace(state, `"version":2`, `"version":1`, 1),
		"unknown member":   strings.Replace(state, `"version":2`, `"version":2,"x":1`, 1),
		"a member twice":   strings.Replace(state, `"version":2`, `"version":2,"version":2`, 1),
		"trailing data":    state + "{}",
		"no copies":        `{"version":2,"copies":[]}`,
		"another alias":    strings.Replace(state, `"key_alias":"device"`, `"key_alias":"other"`, 1),
		"another key":      otherState,
		"a party twice":    strings.Replace(state, `"parties":["verifierA","verifierB"]`, `"parties":["verifierA","verifierA"]`, 1),
		"negative counter": strings.Replace(state, `"counter":7`, `"counter":-1`, 1),
	} {
		if bad == state {
			t.Fatalf("%s: the state was not changed: %s", name, state)
		}
		if err := w.RestoreState(bad); !errors.Is(err, wallet.ErrInvalidArgument) {
			t.Errorf("%s: %v", name, err)
		}
	}
	restored, _ := wallet.NewHolder("https://sh.trustid.example", keys, "device")
	if err := restored.RestoreState(state); err != nil {
		t.Fatal(err)
	}
	code, _ = restored.OfflineCode("", "verifierC", nil)
	if b, _, p, _ := qrcode.DecodeOffline(code); p.Counter != 8 || !sameCopy(b, a) {
		t.Errorf("restored: counter %d (want 8), same copy %v", p.Counter, sameCopy(b, a))
	}
}

func mustB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// identityCredentialFor is an SD-JWT VC bound to device (its signature is
// not checked by the wallet).
func identityCredentialFor(t *testing.T, device *gm.PublicKey) string {
	t.Helper()
	jwk, err := gm.NewJWK(device, "")
	if err != nil {
		t.Fatal(err)
	}
	payload, ds, err := (&sdjwt.Issuer{Rand: rand.Reader}).Conceal(map[string]any{"iss": "https://sh.trustid.example",
		"vct": "https://sh.trustid.example/vct/IdentityCredential", "cnf": map[string]any{"jwk": jwk}, "age_over_18": true},
		&sdjwt.Frame{SD: []string{"age_over_18"}})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(payload)
	b64 := base64.RawURLEncoding
	return sdjwt.Serialize(b64.EncodeToString([]byte(`{"alg":"SM2","typ":"dc+sd-jwt"}`))+"."+b64.EncodeToString(raw)+".c2ln", ds)
}
