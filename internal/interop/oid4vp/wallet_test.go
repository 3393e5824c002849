package oid4vp

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/issuer"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/testenv"
	"github.com/trustid-cn/trustid/oid4vp/txdata"
	"github.com/trustid-cn/trustid/sdk/wallet"
)

// selfSigned makes a TLS certificate for 127.0.0.1 and returns its PEMs.
func selfSigned(t *testing.T) (certPEM, keyPEM []byte, cert *x509.Certificate) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "interop"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalPKCS8PrivateKey(k)
	cert, _ = x509.ParseCertificate(der)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}), cert
}

// TestWalletAgainstThirdPartyVerifier: TrustID's wallet SDK answers a
// request that @openid4vc/openid4vp's Openid4vpVerifier created (signed
// request object by reference, verifier_attestation), in both response
// modes; the library parses, decrypts and validates the response against
// its DCQL query, and the presentation it received verifies for its nonce
// and client_id, disclosing only age_over_18.
// walletFixture is TrustID's wallet SDK holding an identity credential
// (SD-JWT VC bound to its device key), trusting an attester whose key
// signs the third-party verifier's attestations, and that verifier's TLS
// certificate.
type walletFixture struct {
	node            string
	vn              *verifierNode
	certPEM, keyPEM []byte
	priv            []byte // the attester's private JWK
	attJWKS         []byte
	h               *wallet.Holder
	store           *wallet.MemoryCredentials
}

const attester = "https://attester.example"

func newWalletFixture(t *testing.T) *walletFixture {
	t.Helper()
	node := testenv.NPM(t, ".")
	vn := startVerifier(t) // for its issuer and credential verifier
	certPEM, keyPEM, cert := selfSigned(t)
	// The wallet's HTTP client is the default transport: trust the
	// verifier's certificate for this test.
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	old := http.DefaultTransport
	http.DefaultTransport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	t.Cleanup(func() { http.DefaultTransport = old })

	attKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	priv, _ := jose.JSONWebKey{Key: attKey, KeyID: "att-1", Algorithm: "ES256"}.MarshalJSON()
	pubJWK, _ := gm.NewJWK(attKey.Public(), "att-1")
	attJWKS, _ := json.Marshal(gm.JWKS{Keys: []gm.JWK{pubJWK}})

	h, err := wallet.NewHolder("https://trustid.example", wallet.NewSoftwareKeys(), "device")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.CreateDeviceKey(); err != nil {
		t.Fatal(err)
	}
	dk, _ := h.DeviceKeyJWK()
	var hj gm.JWK
	json.Unmarshal([]byte(dk), &hj)
	c, _ := credentials.IdentityCredential(credentials.IdentityClaims{Subject: "pw-3f9a1c0d7e21", AssuranceLevel: 3, Region: "310000",
		Name: "张三", BirthDate: "1990-05-01"}, time.Now())
	iss, err := vn.issuer.Issue(context.Background(), c, issuer.IssueOptions{Format: issuer.FormatSDJWT, Algorithm: gm.AlgES256, HolderKey: &hj})
	if err != nil {
		t.Fatal(err)
	}
	store := wallet.NewMemoryCredentials()
	store.Add("id-1", iss.Token)
	return &walletFixture{node: node, vn: vn, certPEM: certPEM, keyPEM: keyPEM, priv: priv, attJWKS: attJWKS, h: h, store: store}
}

// input is verifier.mjs's input for mode, with more members.
func (f *walletFixture) input(mode string, more map[string]any) string {
	in := map[string]any{"attesterJwk": json.RawMessage(f.priv), "attester": attester, "mode": mode,
		"vct": identityVCT, "tlsCert": string(f.certPEM), "tlsKey": string(f.keyPEM)}
	for k, v := range more {
		in[k] = v
	}
	raw, _ := json.Marshal(in)
	return string(raw)
}

func TestWalletAgainstThirdPartyVerifier(t *testing.T) {
	f := newWalletFixture(t)
	for _, mode := range []string{"direct_post.jwt", "direct_post"} {
		t.Run(mode, func(t *testing.T) {
			link, lines := f.runVerifier(t, f.input(mode, nil))
			req, err := f.h.ResolvePresentationRequest(link, attester, string(f.attJWKS))
			if err != nil {
				t.Fatal(err)
			}
			if req.ClientID != "verifier_attestation:their-rp" || req.ResponseMode != mode {
				t.Fatalf("request %+v", req)
			}
			if _, err := req.Respond(f.store, "age=id-1"); err != nil {
				lines.Scan()
				t.Fatalf("%v: the verifier said %s", err, lines.Text())
			}
			var got struct {
				VPToken  map[string][]string
				Nonce    string
				ClientID string
				Error    string
			}
			if !lines.Scan() || json.Unmarshal(lines.Bytes(), &got) != nil || got.Error != "" {
				t.Fatalf("the verifier refused: %s", lines.Text())
			}
			pres := got.VPToken["age"]
			if len(pres) != 1 {
				t.Fatalf("vp_token %v", got.VPToken)
			}
			v, err := f.vn.creds.VerifySDJWT(context.Background(), pres[0], credentials.SDJWTOptions{RequireKeyBinding: true, Audience: got.ClientID, Nonce: got.Nonce})
			if err != nil {
				t.Fatal(err)
			}
			if v.Claims["age_over_18"] != true || v.Claims["birthDate"] != nil || v.Claims["name"] != nil {
				t.Fatalf("disclosed %v", v.Claims)
			}
		})
	}
	// A request whose attestation the wallet's attester did not sign is
	// refused before anything is sent.
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherJWK, _ := gm.NewJWK(other.Public(), "att-1")
	otherJWKS, _ := json.Marshal(gm.JWKS{Keys: []gm.JWK{otherJWK}})
	link, _ := f.runVerifier(t, f.input("direct_post", nil))
	if _, err := f.h.ResolvePresentationRequest(link, attester, string(otherJWKS)); err == nil || !strings.Contains(err.Error(), "attestation") {
		t.Fatalf("untrusted attestation: %v", err)
	}
}

// runVerifier starts verifier.mjs with in and returns its output lines,
// the first (the link) read.
func (f *walletFixture) runVerifier(t *testing.T, in string) (string, *bufio.Scanner) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	cmd := exec.CommandContext(ctx, f.node, "verifier.mjs")
	cmd.Stdin = strings.NewReader(in)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	lines := bufio.NewScanner(out)
	lines.Buffer(make([]byte, 1<<20), 1<<20)
	var first struct{ Link string }
	if !lines.Scan() || json.Unmarshal(lines.Bytes(), &first) != nil || first.Link == "" {
		t.Fatalf("verifier.mjs did not start: %s", lines.Text())
	}
	return first.Link, lines
}

// TestWalletTransactionDataAgainstThirdPartyVerifier: the library's
// verifier asks for a presentation with transaction data of TrustID's
// confirmation type; the wallet SDK shows it, binds its hash in the
// KB-JWT, and the library's verifyTransactionData matches it. A request
// with a type the wallet does not support is refused, and the verifier
// is told invalid_transaction_data.
func TestWalletTransactionDataAgainstThirdPartyVerifier(t *testing.T) {
	f := newWalletFixture(t)
	td := map[string]any{"type": txdata.TypeConfirmation, "credential_ids": []string{"age"}, "summary": "向 their-rp 支付 ¥120.00"}
	link, lines := f.runVerifier(t, f.input("direct_post", map[string]any{"transactionData": []any{td}}))
	req, err := f.h.ResolvePresentationRequest(link, attester, string(f.attJWKS))
	if err != nil {
		t.Fatal(err)
	}
	if shown := req.TransactionData(); !strings.Contains(shown, "向 their-rp 支付 ¥120.00") || !strings.Contains(shown, `"credential_ids":["age"]`) {
		t.Fatalf("shown %s", shown)
	}
	if _, err := req.Respond(f.store, "age=id-1"); err != nil {
		lines.Scan()
		t.Fatalf("%v: the verifier said %s", err, lines.Text())
	}
	var got struct {
		VPToken         map[string][]string
		Nonce, ClientID string
		TransactionData []struct{ CredentialID, Hash string }
		Error           string
	}
	if !lines.Scan() || json.Unmarshal(lines.Bytes(), &got) != nil || got.Error != "" {
		t.Fatalf("the verifier refused: %s", lines.Text())
	}
	if len(got.TransactionData) != 1 || got.TransactionData[0].CredentialID != "age" || got.TransactionData[0].Hash == "" {
		t.Fatalf("transaction data matched: %+v", got.TransactionData)
	}
	v, err := f.vn.creds.VerifySDJWT(context.Background(), got.VPToken["age"][0], credentials.SDJWTOptions{RequireKeyBinding: true, Audience: got.ClientID, Nonce: got.Nonce})
	if err != nil {
		t.Fatal(err)
	}
	if hs, _ := v.KBClaims["transaction_data_hashes"].([]any); len(hs) != 1 || hs[0] != got.TransactionData[0].Hash {
		t.Fatalf("KB-JWT hashes %v", v.KBClaims)
	}

	// Transaction data the wallet cannot honour: refused, and the verifier
	// is told so.
	for name, bad := range map[string]map[string]any{
		"unknown type":      {"type": "payment", "credential_ids": []string{"age"}, "amount": "120.00"},
		"unknown member":    {"type": txdata.TypeConfirmation, "credential_ids": []string{"age"}, "summary": "x", "amount": "1"},
		"unknown query id":  {"type": txdata.TypeConfirmation, "credential_ids": []string{"pid"}, "summary": "x"},
		"no credential_ids": {"type": txdata.TypeConfirmation, "summary": "x"},
		"no summary":        {"type": txdata.TypeConfirmation, "credential_ids": []string{"age"}},
		"only sha-384":      {"type": txdata.TypeConfirmation, "credential_ids": []string{"age"}, "summary": "x", "transaction_data_hashes_alg": []string{"sha-384"}},
	} {
		t.Run(name, func(t *testing.T) {
			link, lines := f.runVerifier(t, f.input("direct_post", map[string]any{"transactionData": []any{bad}}))
			if _, err := f.h.ResolvePresentationRequest(link, attester, string(f.attJWKS)); !errors.Is(err, wallet.ErrTransactionData) || !errors.Is(err, wallet.ErrPresentationRequest) {
				t.Fatalf("refusal: %v", err)
			}
			var said struct{ WalletError string }
			if !lines.Scan() || json.Unmarshal(lines.Bytes(), &said) != nil || said.WalletError != "invalid_transaction_data" {
				t.Fatalf("the verifier heard %s", lines.Text())
			}
		})
	}
}
