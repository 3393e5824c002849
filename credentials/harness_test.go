package credentials_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/issuer"

	"github.com/trustid-cn/trustid/credentials/statuslist"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/fakeclock"
	"github.com/trustid-cn/trustid/keystore"
)

// The node's file store implements the status interfaces this package
// declares.
var (
	_ StatusStore = (*statuslist.FileStore)(nil)
)

var allAlgs = []string{gm.AlgSM2, gm.AlgES256, gm.AlgEdDSA}

// node is a complete issuer and verifier over real components: a keystore
// and a status store in a temporary directory.
type node struct {
	clock    *fakeclock.Clock
	keys     *keystore.Store
	status   *statuslist.FileStore
	issuer   *issuer.Issuer
	verifier *Verifier
	checker  *StatusChecker
}

const testBase = "https://trustid.example:8443"

func newNode(t testing.TB, base string) *node {
	t.Helper()
	dir := t.TempDir()
	clk := fakeclock.New(time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC))
	ks, err := keystore.Open(filepath.Join(dir, "keystore.json"), make([]byte, 16), keystore.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	st, err := statuslist.OpenFileStore(filepath.Join(dir, "status"), statuslist.FileStoreOptions{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	is, err := issuer.New(issuer.Config{BaseURL: base, Keys: ks, Status: st, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	checker := NewStatusChecker(&LocalStatusSource{BaseURL: base, Store: st}, time.Minute, clk.Now)
	v, err := NewVerifier(VerifierConfig{Trust: AnyIssuer{}, Algorithms: allAlgs, Resolver: &Resolver{Local: is.Local(), Now: clk.Now}, Status: checker, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return &node{clock: clk, keys: ks, status: st, issuer: is, verifier: v, checker: checker}
}

func sampleCredential() map[string]any {
	return map[string]any{
		"@context": []any{ContextV2, "https://www.w3.org/ns/credentials/examples/v2"},
		"type":     []any{"VerifiableCredential", "ResidenceCredential"},
		"credentialSubject": map[string]any{
			"id":        "urn:trustid:subject:pw-3f9a1c0d7e",
			"residence": map[string]any{"region": "310000", "since": "2019-07-01"},
		},
		"validUntil": "2027-03-01T00:00:00Z",
	}
}

// decodePayload returns the JSON payload of a compact JWS.
func decodePayload(t testing.TB, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	d := json.NewDecoder(strings.NewReader(string(raw)))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// resign signs a raw header and payload with signer (for negative tests).
func resign(t testing.TB, header, payload string, signer crypto.Signer) string {
	t.Helper()
	method, err := gm.SigningMethod(signer)
	if err != nil {
		t.Fatal(err)
	}
	in := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	sig, err := method.Sign(in, signer)
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func mustIssue(t testing.TB, n *node, c map[string]any, opts issuer.IssueOptions) *issuer.Issued {
	t.Helper()
	iss, err := n.issuer.Issue(context.Background(), c, opts)
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

func holderKey(t testing.TB, alg string) (crypto.Signer, string) {
	t.Helper()
	k, err := gm.GenerateSigner(alg, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	did, err := DIDKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return k, did
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// resignable is what tests that sign a node's tokens again under other
// JOSE headers start from: node n, its active SM2 key k and kid, the
// payload of a credential it issued, and a presentation (payload vp, nonce
// n-1, aud rp) by a did:key ES256 holder (holder, hkid) of a credential
// issued to it.
type resignable struct {
	n       *node
	k       keystore.Key
	kid     string
	payload []byte
	holder  crypto.Signer
	hkid    string
	vp      []byte
}

func newResignable(t testing.TB, rp string) resignable {
	t.Helper()
	n := newNode(t, testBase)
	iss := mustIssue(t, n, sampleCredential(), issuer.IssueOptions{})
	k, err := n.keys.Active(gm.AlgSM2)
	if err != nil {
		t.Fatal(err)
	}
	pb, _ := json.Marshal(decodePayload(t, iss.Token))
	holder, did := holderKey(t, gm.AlgES256)
	vp, _ := json.Marshal(map[string]any{
		"@context": []any{ContextV2}, "type": "VerifiablePresentation", "holder": did,
		"verifiableCredential": []any{mustIssue(t, n, holderCredential(did), issuer.IssueOptions{}).Envelope()},
		"nonce":                "n-1", "aud": rp, "iat": n.clock.Now().Unix(),
	})
	return resignable{n: n, k: k, kid: n.issuer.DID() + "#" + k.Kid, payload: pb, holder: holder, hkid: did + "#" + did[len("did:key:"):], vp: vp}
}
