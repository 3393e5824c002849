package wallet_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/credentials/sdjwt"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/holder"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/sdk/wallet"
)

// issuerKey is the test node's SM2 binding key, fixed so that runs are
// comparable.
var issuerKey = func() *gm.PrivateKey {
	k, err := gm.NewPrivateKey([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		panic(err)
	}
	return k
}()

// statusList answers from a set of revoked references, as a verifier's
// cached list would.
type statusList map[qrcode.StatusRef]bool

func (s statusList) Status(_ context.Context, ref qrcode.StatusRef) (qrcode.Status, error) {
	if s[ref] {
		return qrcode.StatusRevoked, nil
	}
	return qrcode.StatusValid, nil
}

var ref = qrcode.StatusRef{Region: 310000, List: 7, Index: 42}

// issueBinding does the node's part: a binding of the wallet's device key.
func issueBinding(w *wallet.Holder) []byte {
	var j gm.JWK
	s, err := w.DeviceKeyJWK()
	if err != nil {
		log.Fatal(err)
	}
	json.Unmarshal([]byte(s), &j)
	pub, err := j.PublicKey()
	if err != nil {
		log.Fatal(err)
	}
	dev := pub.(*gm.PublicKey)
	now := time.Now()
	b, err := (&qrcode.Issuer{Signer: issuerKey, Kid: "test-node-key", Region: 310000}).IssueBinding(qrcode.Binding{
		Subject: make([]byte, 16), DeviceKey: dev, Assurance: qrcode.AssuranceDevice, IssuedAt: now, Expiry: now.Add(time.Hour),
		Status: ref, Claims: map[string]string{"age_over_18": "true", "age_over_60": "false"}})
	if err != nil {
		log.Fatal(err)
	}
	return b
}

func verifier(revoked statusList) *qrcode.Verifier {
	v, err := qrcode.NewVerifier(qrcode.VerifierConfig{Keys: qrcode.StaticKeys{{Kid: "test-node-key", Public: issuerKey.Public()}},
		Status: revoked, Counters: &qrcode.MemoryCounters{}})
	if err != nil {
		log.Fatal(err)
	}
	return v
}

// A wallet makes offline codes with its device key, showing only the
// claims the holder picks; each code advances the counter.
func ExampleHolder_OfflineCode() {
	w, err := wallet.NewHolder("https://sh.trustid.example", wallet.NewSoftwareKeys(), "device")
	if err != nil {
		log.Fatal(err)
	}
	if _, err := w.CreateDeviceKey(); err != nil {
		log.Fatal(err)
	}
	if err := w.Restore(issueBinding(w), "", 0); err != nil { // as after enrollment
		log.Fatal(err)
	}
	code, err := w.OfflineCode("age_over_18", "", nil)
	if err != nil {
		log.Fatal(err)
	}
	res, err := verifier(nil).Verify(context.Background(), code, qrcode.VerifyOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(code[:8], res.Claims, "counter", res.Counter)
	// Output:
	// TIDOFF2: map[age_over_18:true] counter 1
}

func newWallet(t *testing.T) (*wallet.Holder, *wallet.SoftwareKeys) {
	t.Helper()
	keys := wallet.NewSoftwareKeys()
	w, err := wallet.NewHolder("https://sh.trustid.example", keys, "device")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.CreateDeviceKey(); err != nil {
		t.Fatal(err)
	}
	return w, keys
}

func TestKeyStore(t *testing.T) {
	keys := wallet.NewSoftwareKeys()
	pub, err := keys.Generate("a")
	if err != nil || len(pub) != 65 || pub[0] != 4 {
		t.Fatalf("Generate: %x %v", pub, err)
	}
	if _, err := keys.Generate("a"); !errors.Is(err, wallet.ErrKeyExists) {
		t.Errorf("second Generate: %v", err)
	}
	if _, err := keys.Sign("b", []byte("m")); !errors.Is(err, wallet.ErrNoKey) {
		t.Errorf("Sign without key: %v", err)
	}
	sig, err := keys.Sign("a", []byte("message"))
	if err != nil || len(sig) != 64 {
		t.Fatalf("Sign: %v", err)
	}
	p, _ := gm.ParsePublicKeyBytes(pub)
	if err := p.Verify([]byte("message"), sig); err != nil {
		t.Errorf("signature does not verify: %v", err)
	}
	der, err := keys.ExportPKCS8("a")
	if err != nil {
		t.Fatal(err)
	}
	other := wallet.NewSoftwareKeys()
	if err := other.ImportPKCS8("a", der); err != nil {
		t.Fatal(err)
	}
	if got, _ := other.PublicKey("a"); string(got) != string(pub) {
		t.Error("imported key differs")
	}
	if err := other.ImportPKCS8("x", []byte("junk")); err == nil {
		t.Error("junk PKCS#8 imported")
	}
}

// badStore returns signatures of the wrong size, as a faulty secure
// element might.
type badStore struct{ *wallet.SoftwareKeys }

func (b badStore) Sign(alias string, m []byte) ([]byte, error) { return []byte{1, 2, 3}, nil }

func TestWalletRefusals(t *testing.T) {
	w, _ := newWallet(t)
	if _, err := w.OfflineCode("", "", nil); !errors.Is(err, wallet.ErrNotEnrolled) {
		t.Errorf("offline code before enrollment: %v", err)
	}
	if _, err := w.OnlineCodeRequest(""); !errors.Is(err, wallet.ErrNotEnrolled) {
		t.Errorf("online request before enrollment: %v", err)
	}
	other, _ := newWallet(t)
	if err := w.Restore(issueBinding(other), "", 0); !errors.Is(err, wallet.ErrInvalidArgument) {
		t.Errorf("another device's binding: %v", err)
	}
	if err := w.Restore([]byte("junk"), "", 0); !errors.Is(err, wallet.ErrInvalidArgument) {
		t.Errorf("junk binding: %v", err)
	}
	if err := w.Restore(issueBinding(w), "", -1); !errors.Is(err, wallet.ErrInvalidArgument) {
		t.Errorf("negative counter: %v", err)
	}
	if _, err := w.EnrollmentRequest("", "张三", "", ""); !errors.Is(err, wallet.ErrInvalidArgument) {
		t.Errorf("enrollment without number: %v", err)
	}
	if _, err := w.PresentCredential("not an sd-jwt", "a", "aud", "n"); !errors.Is(err, wallet.ErrInvalidArgument) {
		t.Errorf("junk credential: %v", err)
	}
	bad, _ := wallet.NewHolder("https://sh.trustid.example", badStore{wallet.NewSoftwareKeys()}, "device")
	bad.CreateDeviceKey()
	if _, err := bad.EnrollmentRequest("x", "y", "", ""); err == nil || !strings.Contains(err.Error(), "64") {
		t.Errorf("a key store returning a 3-byte signature: %v", err)
	}
}

// TestOfflineCodes: codes verify, show only the chosen claims, advance the
// counter (a restored counter continues), and a revoked binding is refused.
func TestOfflineCodes(t *testing.T) {
	w, _ := newWallet(t)
	binding := issueBinding(w)
	if err := w.Restore(binding, "", 5); err != nil {
		t.Fatal(err)
	}
	v := verifier(nil)
	code, err := w.OfflineCode("age_over_60", "gate-1", []byte("challenge"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := v.Verify(context.Background(), code, qrcode.VerifyOptions{Audience: "gate-1", Challenge: []byte("challenge")})
	if err != nil {
		t.Fatal(err)
	}
	if res.Counter != 6 || len(res.Claims) != 1 || res.Claims["age_over_60"] != "false" {
		t.Errorf("result: counter %d claims %v", res.Counter, res.Claims)
	}
	if _, err := v.Verify(context.Background(), code, qrcode.VerifyOptions{Audience: "gate-1", Challenge: []byte("challenge")}); !errors.Is(err, qrcode.ErrReplayed) {
		t.Errorf("the same code twice: %v", err)
	}
	if _, err := w.OfflineCode("no_such_claim", "", nil); err == nil {
		t.Error("a code showing an unattested claim was made")
	}
	code, _ = w.OfflineCode("", "", nil)
	if _, err := verifier(statusList{ref: true}).Verify(context.Background(), code, qrcode.VerifyOptions{}); !errors.Is(err, qrcode.ErrRevoked) {
		t.Errorf("revoked binding: %v", err)
	}
}

// TestOnlineCodeRequest: the request verifies as the node checks it, with
// the consent given.
func TestOnlineCodeRequest(t *testing.T) {
	w, _ := newWallet(t)
	if err := w.Restore(issueBinding(w), "", 0); err != nil {
		t.Fatal(err)
	}
	body, err := w.OnlineCodeRequest("age_over_18")
	if err != nil {
		t.Fatal(err)
	}
	var req qrcode.HolderRequest
	if err := json.Unmarshal(body, &req); err != nil {
		t.Fatal(err)
	}
	if len(req.Consent) != 1 || req.Region != "310000" {
		t.Errorf("request: %+v", req)
	}
	if _, err := verifier(nil).VerifyHolderRequest(context.Background(), &req, qrcode.PurposeOnlineCode, "310000", time.Now(), time.Minute); err != nil {
		t.Errorf("holder request: %v", err)
	}
	if _, err := verifier(nil).VerifyHolderRequest(context.Background(), &req, qrcode.PurposeLoginApprove, "310000", time.Now(), time.Minute); !errors.Is(err, qrcode.ErrHolderAuth) {
		t.Errorf("a request for an online code taken as a login approval: %v", err)
	}
	req.Consent = []string{"age_over_60"}
	if _, err := verifier(nil).VerifyHolderRequest(context.Background(), &req, qrcode.PurposeOnlineCode, "310000", time.Now(), time.Minute); err == nil {
		t.Error("a request with changed consent verified")
	}
}

// TestLoginApproval: the approval of a login session is {"request": a holder request}
// whose nonce is the session's challenge, signed by the device key (what
// the login provider's Approve checks).
func TestLoginApproval(t *testing.T) {
	w, _ := newWallet(t)
	if err := w.Restore(issueBinding(w), "", 0); err != nil {
		t.Fatal(err)
	}
	challenge := "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8" // base64url of 0..31
	body, err := w.LoginApproval(challenge, "age_over_18", "")
	if err != nil {
		t.Fatal(err)
	}
	var approval struct {
		Request qrcode.HolderRequest `json:"request"`
	}
	if err := json.Unmarshal(body, &approval); err != nil {
		t.Fatal(err)
	}
	req := approval.Request
	if len(req.Nonce) != 32 || req.Nonce[31] != 31 || len(req.Consent) != 1 {
		t.Errorf("approval: nonce %x consent %v", req.Nonce, req.Consent)
	}
	if _, err := verifier(nil).VerifyHolderRequest(context.Background(), &req, qrcode.PurposeLoginApprove, "310000", time.Now(), time.Minute); err != nil {
		t.Errorf("approval does not verify: %v", err)
	}
	for _, other := range []string{qrcode.PurposeOnlineCode, qrcode.PurposeLoginDeny} {
		if _, err := verifier(nil).VerifyHolderRequest(context.Background(), &req, other, "310000", time.Now(), time.Minute); !errors.Is(err, qrcode.ErrHolderAuth) {
			t.Errorf("a login approval taken for %s: %v", other, err)
		}
	}
	for _, bad := range []string{"", "not base64!", "AAEC"} {
		if _, err := w.LoginApproval(bad, "", ""); !errors.Is(err, wallet.ErrInvalidArgument) {
			t.Errorf("challenge %q: %v", bad, err)
		}
	}
}

// bindingCredentialFor is a stand-in for the node's device-binding
// credential: a compact JWS whose credentialSubject.cnf.jwk is jwkJSON
// (the wallet does not check the node's signature; the node does).
func bindingCredentialFor(t *testing.T, jwkJSON string) string {
	t.Helper()
	var jwk map[string]any
	if err := json.Unmarshal([]byte(jwkJSON), &jwk); err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(map[string]any{"type": []string{"VerifiableCredential", "DeviceBindingCredential"},
		"credentialSubject": map[string]any{"id": "urn:trustid:subject:00", "cnf": map[string]any{"jwk": jwk}}})
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"SM2","typ":"vc+jwt"}`)) + "." + enc(payload) + "." + enc(make([]byte, 64))
}

// TestLoginApprovalWithPIN: with a PIN, the approval carries the node's
// PIN check (docs/login.md): the binding credential kept from enrollment,
// a fresh device proof for the node signed by the device key, and the
// PIN; malformed PINs, a wallet without a binding credential and a
// credential bound to another device are refused before anything is sent.
func TestLoginApprovalWithPIN(t *testing.T) {
	w, keys := newWallet(t)
	if err := w.Restore(issueBinding(w), "", 0); err != nil {
		t.Fatal(err)
	}
	challenge := "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
	if _, err := w.LoginApproval(challenge, "", "135790"); !errors.Is(err, wallet.ErrNoBindingCredential) {
		t.Errorf("PIN without a binding credential: %v", err)
	}
	other, _ := newWallet(t)
	otherJWK, _ := other.DeviceKeyJWK()
	if err := w.SetBindingCredential(bindingCredentialFor(t, otherJWK)); !errors.Is(err, wallet.ErrInvalidArgument) {
		t.Errorf("a binding credential of another device: %v", err)
	}
	for _, bad := range []string{"", "a.b", "x.eyJ9.y"} {
		if err := w.SetBindingCredential(bad); !errors.Is(err, wallet.ErrInvalidArgument) {
			t.Errorf("binding credential %q: %v", bad, err)
		}
	}
	jwkJSON, _ := w.DeviceKeyJWK()
	cred := bindingCredentialFor(t, jwkJSON)
	if err := w.SetBindingCredential(cred); err != nil {
		t.Fatal(err)
	}
	if w.BindingCredential() != cred {
		t.Error("BindingCredential does not return what was set")
	}
	for _, bad := range []string{"12345", "1234567", "12345a", "１２３４５６"} {
		if _, err := w.LoginApproval(challenge, "", bad); !errors.Is(err, wallet.ErrInvalidArgument) {
			t.Errorf("PIN %q: %v", bad, err)
		}
	}
	body, err := w.LoginApproval(challenge, "age_over_18", "135790")
	if err != nil {
		t.Fatal(err)
	}
	var approval struct {
		Request  qrcode.HolderRequest `json:"request"`
		PINCheck struct {
			BindingCredential string `json:"binding_credential"`
			DeviceProof       string `json:"device_proof"`
			PIN               string `json:"pin"`
		} `json:"pin_check"`
	}
	if err := json.Unmarshal(body, &approval); err != nil {
		t.Fatal(err)
	}
	if _, err := verifier(nil).VerifyHolderRequest(context.Background(), &approval.Request, qrcode.PurposeLoginApprove, "310000", time.Now(), time.Minute); err != nil {
		t.Errorf("approval does not verify: %v", err)
	}
	pc := approval.PINCheck
	if pc.BindingCredential != cred || pc.PIN != "135790" {
		t.Errorf("pin_check: %+v", pc)
	}
	pubRaw, _ := keys.PublicKey("device")
	pub, _ := gm.ParsePublicKeyBytes(pubRaw)
	if _, err := holder.CheckDeviceProof("https://sh.trustid.example", pub, pc.DeviceProof, time.Now()); err != nil {
		t.Errorf("device proof: %v", err)
	}
	again, _ := w.LoginApproval(challenge, "", "135790")
	if strings.Contains(string(again), pc.DeviceProof) {
		t.Error("the device proof was reused (the node spends it)")
	}
	// Without a PIN: no pin_check, as before.
	body, _ = w.LoginApproval(challenge, "", "")
	if strings.Contains(string(body), "pin_check") {
		t.Errorf("an approval without a PIN carries a PIN check: %s", body)
	}
}

// TestLoginSessionUnderNodePath: a node URL with a path serves login
// sessions under it: the wallet reads {node}/login/sessions/{id} and
// refuses the same session at the host's root (ErrForeignSession, no
// request).
func TestLoginSessionUnderNodePath(t *testing.T) {
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.Path)
		rw.Header().Set("Content-Type", "application/json")
		fmt.Fprint(rw, `{"client_id":"shop","client_name":"Shop","acr":"L2","challenge":"AAAA","expires_at":"2026-01-01T00:00:00Z"}`)
	}))
	defer srv.Close()
	w, err := wallet.NewHolder(srv.URL+"/sh/", wallet.NewSoftwareKeys(), "device")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.DescribeLogin(srv.URL + "/login/sessions/abc"); !errors.Is(err, wallet.ErrForeignSession) {
		t.Errorf("a session outside the node's path: %v", err)
	}
	if lr, err := w.DescribeLogin(srv.URL + "/sh/login/sessions/abc"); err != nil || lr.ClientName != "Shop" {
		t.Errorf("a session under the node's path: %+v %v", lr, err)
	}
	if strings.Join(paths, " ") != "/sh/login/sessions/abc" {
		t.Errorf("requests: %q", paths)
	}
}

// TestDescribeLoginPurpose: a session that is not a login to the party
// (an OID4VCI offer's) says what it is for in purpose; DescribeLogin
// gives it to the app, which shows it before the holder approves
// (docs/login.md, "Logins for other protocols"). It was dropped, so the
// app showed a credential's issuance as a login to the wallet.
func TestDescribeLoginPurpose(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "application/json")
		fmt.Fprint(rw, `{"client_id":"wallet","client_name":"Wallet","purpose":"receive ResidenceCredential from bureau","claims":[],"acr":"L2","challenge":"AAAA","expires_at":"2026-01-01T00:00:00Z"}`)
	}))
	defer srv.Close()
	w, err := wallet.NewHolder(srv.URL, wallet.NewSoftwareKeys(), "device")
	if err != nil {
		t.Fatal(err)
	}
	lr, err := w.DescribeLogin(srv.URL + "/login/sessions/abc")
	if err != nil || lr.Purpose != "receive ResidenceCredential from bureau" {
		t.Errorf("the session's purpose: %+v %v", lr, err)
	}
}

// TestPresentCredentialNested: a claim nested in a disclosable one is
// presented only with its parent (RFC 9901 §7.2): naming it alone is
// ErrInvalidArgument, not a presentation every verifier must reject
// (its disclosure would match no digest); with its parent it is
// presented, and its sibling is not.
func TestPresentCredentialNested(t *testing.T) {
	w, _ := newWallet(t)
	s, err := w.DeviceKeyJWK()
	if err != nil {
		t.Fatal(err)
	}
	var jwk map[string]any
	json.Unmarshal([]byte(s), &jwk)
	payload, ds, err := (&sdjwt.Issuer{Rand: rand.Reader}).Conceal(map[string]any{"iss": "https://sh.trustid.example",
		"vct": "https://sh.trustid.example/vct/ResidenceCredential", "cnf": map[string]any{"jwk": jwk},
		"residence": map[string]any{"region": "310000", "since": "2019-07-01"}},
		&sdjwt.Frame{SD: []string{"residence"}, Nested: map[string]*sdjwt.Frame{"residence": {SD: []string{"region", "since"}}}})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(payload)
	b64 := base64.RawURLEncoding
	cred := sdjwt.Serialize(b64.EncodeToString([]byte(`{"alg":"SM2","typ":"dc+sd-jwt"}`))+"."+b64.EncodeToString(raw)+".c2ln", ds)
	if p, err := w.PresentCredential(cred, "region", "https://rp.example", "n-1"); !errors.Is(err, wallet.ErrInvalidArgument) {
		t.Fatalf("region without residence: %q, %v", p, err)
	}
	p, err := w.PresentCredential(cred, "residence,region", "https://rp.example", "n-1")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(p, "~"); n != 3 {
		t.Fatalf("want the JWT, two disclosures and a KB-JWT, got %d separators: %s", n, p)
	}
}

// TestLoginNoRedirect: an approval with the PIN is sent to the wallet's
// node only: a 307 from the session (which Go's client would follow with
// the same body) is wallet.ErrRedirect, and the Location's host hears
// nothing (docs/login.md: the device proof and the PIN go to no other
// host).
func TestLoginNoRedirect(t *testing.T) {
	heard := make(chan string, 4)
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		heard <- r.Method + " " + r.URL.Path
	}))
	defer elsewhere.Close()
	node := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer node.Close()
	w, err := wallet.NewHolder(node.URL, wallet.NewSoftwareKeys(), "device")
	if err != nil {
		t.Fatal(err)
	}
	jwk, err := w.CreateDeviceKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Restore(issueBinding(w), "", 0); err != nil {
		t.Fatal(err)
	}
	if err := w.SetBindingCredential(bindingCredentialFor(t, jwk)); err != nil {
		t.Fatal(err)
	}
	session := node.URL + "/login/sessions/abc"
	if _, err := w.DescribeLogin(session); !errors.Is(err, wallet.ErrRedirect) {
		t.Errorf("DescribeLogin: %v, want ErrRedirect", err)
	}
	if err := w.ApproveLogin(session, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", "", "123456"); !errors.Is(err, wallet.ErrRedirect) {
		t.Errorf("ApproveLogin: %v, want ErrRedirect", err)
	}
	select {
	case got := <-heard:
		t.Errorf("the redirect's host heard %s", got)
	default:
	}
}
