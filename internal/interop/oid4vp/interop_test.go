package oid4vp

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/trustid-cn/trustid/api"
	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/auth/clientstoretest"
	"github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/issuer"
	"github.com/trustid-cn/trustid/credentials/statuslist"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/testenv"
	"github.com/trustid-cn/trustid/keystore"
	"github.com/trustid-cn/trustid/oid4vp"
	"github.com/trustid-cn/trustid/oid4vp/txdata"
	"github.com/trustid-cn/trustid/store"
)

// verifierNode is TrustID's verifier over real components behind the
// api routes on a loopback HTTP server.
type verifierNode struct {
	url      string
	verifier *oid4vp.Verifier
	issuer   *issuer.Issuer
	jwks     string
	caFile   string
	creds    *credentials.Verifier
}

func startVerifier(t *testing.T) *verifierNode {
	t.Helper()
	dir := t.TempDir()
	ks, err := keystore.Open(filepath.Join(dir, "keystore.json"), make([]byte, 16), keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := statuslist.OpenFileStore(filepath.Join(dir, "status"), statuslist.FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	is, err := issuer.New(issuer.Config{BaseURL: issuerBase, Keys: ks, Status: st})
	if err != nil {
		t.Fatal(err)
	}
	checker := credentials.NewStatusChecker(&credentials.LocalStatusSource{BaseURL: issuerBase, Store: st}, time.Minute, nil)
	cv, err := credentials.NewVerifier(credentials.VerifierConfig{Trust: &credentials.RegistryTrust{Local: is.Local()}, Algorithms: gm.JWTAlgorithms,
		Resolver: &credentials.Resolver{Local: is.Local()}, Status: checker})
	if err != nil {
		t.Fatal(err)
	}
	mem, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mem.Close() })
	clients := auth.NewMemoryStore(nil)
	rp := clientstoretest.Client(t, "shop-1")
	rp.Claims = []string{"age_over_18"}
	if err := clients.Create(context.Background(), rp); err != nil {
		t.Fatal(err)
	}
	var h http.Handler
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	key, err := ks.Active(gm.AlgES256)
	if err != nil {
		t.Fatal(err)
	}
	v, err := oid4vp.New(oid4vp.Config{BaseURL: srv.URL, Key: func() (crypto.Signer, string, error) { return key.Signer, key.Kid, nil }, Secret: bytes.Repeat([]byte{7}, 32),
		Store: mem, NotFound: func(err error) bool { return errors.Is(err, store.ErrNotFound) },
		Clients: oid4vp.RegistryClients{Store: clients}, Verifier: cv})
	if err != nil {
		t.Fatal(err)
	}
	s := api.New(api.Config{})
	if err := s.MountOID4VP(api.OID4VPConfig{Verifier: v}); err != nil {
		t.Fatal(err)
	}
	h = s.Handler()
	j, _ := key.JWK()
	jwks, _ := json.Marshal(gm.JWKS{Keys: []gm.JWK{j}})
	// The wallet library accepts only https URLs: node trusts the test
	// server's certificate through NODE_EXTRA_CA_CERTS.
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return &verifierNode{url: srv.URL, verifier: v, issuer: is, jwks: string(jwks), caFile: caFile, creds: cv}
}

// issueAge issues an identity credential as SD-JWT VC bound to a fresh
// P-256 holder key; it returns the credential and the private JWK.
func (vn *verifierNode) issueAge(t *testing.T) (string, json.RawMessage) {
	t.Helper()
	hk, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c, err := credentials.IdentityCredential(credentials.IdentityClaims{Subject: "pw-3f9a1c0d7e21", AssuranceLevel: 3, Region: "310000",
		Name: "张三", BirthDate: "1990-05-01"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	hj, err := gm.NewJWK(hk.Public(), "")
	if err != nil {
		t.Fatal(err)
	}
	iss, err := vn.issuer.Issue(context.Background(), c, issuer.IssueOptions{Format: issuer.FormatSDJWT, Algorithm: gm.AlgES256, HolderKey: &hj})
	if err != nil {
		t.Fatal(err)
	}
	priv, err := jose.JSONWebKey{Key: hk, Algorithm: "ES256"}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return iss.Token, priv
}

type walletOut struct {
	Status       int    `json:"status"`
	Body         string `json:"body"`
	ClientID     string `json:"clientId"`
	ResponseMode string `json:"responseMode"`
	// TransactionData are the objects the library resolved for the
	// presented query.
	TransactionData []map[string]any `json:"transactionData"`
}

// runWallet runs wallet.mjs on the link.
func runWallet(t *testing.T, node, caFile string, in map[string]any) walletOut {
	t.Helper()
	raw, _ := json.Marshal(in)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "wallet.mjs")
	cmd.Stdin = bytes.NewReader(raw)
	cmd.Env = append(os.Environ(), "NODE_EXTRA_CA_CERTS="+caFile)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("wallet.mjs: %v\n%s", err, stderr.String())
	}
	var w walletOut
	if err := json.Unmarshal(out, &w); err != nil {
		t.Fatalf("wallet.mjs output %q: %v", out, err)
	}
	return w
}

// issuerBase is the test issuer's base URL; identityVCT the vct of its
// identity credentials.
const (
	issuerBase  = "https://issuer.trustid.example"
	identityVCT = issuerBase + "/vct/IdentityCredential"
)

// TestThirdPartyWallet: a wallet on @openid4vc/openid4vp 0.4.6 resolves
// TrustID's signed request (verifier_attestation, by reference), checks
// the attestation, and answers in both response modes; TrustID verifies
// and the relying party gets only age_over_18. The same wallet presenting
// for another nonce or audience is refused with invalid_request.
func TestThirdPartyWallet(t *testing.T) {
	node := testenv.NPM(t, ".")
	vn := startVerifier(t)
	cred, holder := vn.issueAge(t)
	query := json.RawMessage(`{"credentials":[{"id":"pid","format":"dc+sd-jwt","meta":{"vct_values":["` + identityVCT + `"]},"claims":[{"path":["age_over_18"],"values":[true]}]}]}`)
	for _, tc := range []struct{ mode, tamper string }{
		{oid4vp.ModeDirectPostJWT, ""}, {oid4vp.ModeDirectPost, ""}, {oid4vp.ModeDirectPostJWT, "nonce"}, {oid4vp.ModeDirectPost, "aud"},
	} {
		t.Run(tc.mode+" "+tc.tamper, func(t *testing.T) {
			ctx := context.Background()
			c, err := vn.verifier.Create(ctx, "shop-1", oid4vp.CreateRequest{Query: query, ResponseMode: tc.mode})
			if err != nil {
				t.Fatal(err)
			}
			out := runWallet(t, node, vn.caFile, map[string]any{"link": c.AuthorizationRequest, "attester": vn.url, "attesterJwks": vn.jwks,
				"credential": cred, "holderJwk": holder, "tamper": tc.tamper})
			if out.ClientID != "verifier_attestation:shop-1" {
				t.Fatalf("the wallet saw client_id %q", out.ClientID)
			}
			res, err := vn.verifier.FetchResult(ctx, "shop-1", c.TransactionID, "")
			if err != nil {
				t.Fatal(err)
			}
			if tc.tamper != "" {
				var e struct{ Error, ErrorDescription string }
				json.Unmarshal([]byte(out.Body), &e)
				if out.Status != 400 || e.Error != "invalid_request" || !strings.Contains(out.Body, tc.tamper) || res.Status != oid4vp.StatusPending {
					t.Fatalf("tampered %s: %d %s, result %s", tc.tamper, out.Status, out.Body, res.Status)
				}
				return
			}
			if out.Status != 200 {
				t.Fatalf("response: %d %s", out.Status, out.Body)
			}
			raw, _ := json.Marshal(res)
			if res.Status != oid4vp.StatusVerified || !strings.Contains(string(raw), `"claims":{"age_over_18":true}`) || strings.Contains(string(raw), "1990") {
				t.Fatalf("result %s", raw)
			}
		})
	}
}

// TestThirdPartyWalletTransactionData: the library resolves TrustID's
// transaction data (a confirmation for the pid query); the wallet hashes
// it into the KB-JWT and TrustID accepts it, handing the relying party
// the confirmed object. Left out, the response is refused.
func TestThirdPartyWalletTransactionData(t *testing.T) {
	node := testenv.NPM(t, ".")
	vn := startVerifier(t)
	cred, holder := vn.issueAge(t)
	query := json.RawMessage(`{"credentials":[{"id":"pid","format":"dc+sd-jwt","meta":{"vct_values":["` + identityVCT + `"]},"claims":[{"path":["age_over_18"],"values":[true]}]}]}`)
	td := json.RawMessage(`{"type":"` + txdata.TypeConfirmation + `","credential_ids":["pid"],"summary":"向 shop-1 支付 ¥8.00","transaction_data_hashes_alg":["sha-256"]}`)
	for _, tamper := range []string{"", "td"} {
		t.Run("tamper="+tamper, func(t *testing.T) {
			ctx := context.Background()
			c, err := vn.verifier.Create(ctx, "shop-1", oid4vp.CreateRequest{Query: query, ResponseMode: oid4vp.ModeDirectPostJWT, TransactionData: []json.RawMessage{td}})
			if err != nil {
				t.Fatal(err)
			}
			out := runWallet(t, node, vn.caFile, map[string]any{"link": c.AuthorizationRequest, "attester": vn.url, "attesterJwks": vn.jwks,
				"credential": cred, "holderJwk": holder, "tamper": tamper})
			if len(out.TransactionData) != 1 || out.TransactionData[0]["summary"] != "向 shop-1 支付 ¥8.00" {
				t.Fatalf("the library resolved %v", out.TransactionData)
			}
			res, err := vn.verifier.FetchResult(ctx, "shop-1", c.TransactionID, "")
			if err != nil {
				t.Fatal(err)
			}
			if tamper != "" {
				if out.Status != 400 || !strings.Contains(out.Body, "authorized by 0") || res.Status != oid4vp.StatusPending {
					t.Fatalf("without hashes: %d %s, result %s", out.Status, out.Body, res.Status)
				}
				return
			}
			if out.Status != 200 || res.Status != oid4vp.StatusVerified || len(res.TransactionData) != 1 {
				t.Fatalf("response %d %s, result %+v", out.Status, out.Body, res)
			}
		})
	}
}
