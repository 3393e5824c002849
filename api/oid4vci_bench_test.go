package api

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/issuer"
	"github.com/trustid-cn/trustid/credentials/statuslist"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/testenv"
	"github.com/trustid-cn/trustid/keystore"
	"github.com/trustid-cn/trustid/oid4vci"
	"github.com/trustid-cn/trustid/store"
)

// benchSigner issues as the offering client through the credential
// issuer, as cmd/trustid wires it.
type benchSigner struct{ is *issuer.Issuer }

func (s benchSigner) Sign(ctx context.Context, req oid4vci.SignRequest) (string, error) {
	opts := issuer.IssueOptions{Client: req.Client, Format: issuer.FormatVCJWT}
	if req.Format == oid4vci.FormatSDJWT {
		k := req.HolderKey
		opts.Format, opts.VCT, opts.HolderKey = issuer.FormatSDJWT, req.VCT, &k
	}
	iss, err := s.is.IssueAsClient(ctx, req.Credential, opts)
	if err != nil {
		return "", err
	}
	return iss.Token, nil
}

// BenchmarkOID4VCICredentialHTTP issues SD-JWT VCs through POST
// /oid4vci/credential over HTTP, in process (as the HTTP benchmarks in
// credentials_bench_test.go): per request the access token lookup and
// unsealing (memory store), one ES256 jwt key proof verified, its c_nonce
// spent, the configuration marked issued, an SM2 signature and a Token
// Status List entry (status store with fsync), the notification record.
// Tokens, nonces and proofs are made before the timer starts. In the same
// run it measures the cryptographic floor of one request, an ES256
// verify plus an SM2 sign (floor-cpu-us), and reports the ratio.
//
//	go test -run '^$' -bench OID4VCICredentialHTTP -benchtime 3000x ./api/
func BenchmarkOID4VCICredentialHTTP(b *testing.B) {
	dir := b.TempDir()
	ks, err := keystore.Open(filepath.Join(dir, "keystore.json"), make([]byte, 16), keystore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	st, err := statuslist.OpenFileStore(filepath.Join(dir, "status"), statuslist.FileStoreOptions{})
	if err != nil {
		b.Fatal(err)
	}
	base := "https://node.example:8443"
	reg := newTrustRegistry(b, base, ks)
	is, err := issuer.New(issuer.Config{BaseURL: base, Keys: ks, Status: st, Registry: reg.view, Registrar: reg.client, IssuerKeys: ks, Region: "310000"})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := is.Accredit(ctx, issuer.AccreditRequest{Client: "test-client", Types: []string{"ResidenceCredential"}}); err != nil {
		b.Fatal(err)
	}
	mem, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { mem.Close() })
	svc, err := oid4vci.New(oid4vci.Config{Issuer: base, Types: []oid4vci.CredentialType{{Type: "ResidenceCredential"}},
		Signer: benchSigner{is}, Store: mem, OfferTTL: time.Hour, TokenTTL: time.Hour, NonceTTL: time.Hour, ProofMaxAge: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	s := New(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := s.MountOID4VCI(OID4VCIConfig{Service: svc}); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	b.Cleanup(srv.Close)
	tr := &http.Transport{MaxIdleConnsPerHost: benchClients, MaxConnsPerHost: benchClients}
	b.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}

	// One access token, nonce and proof per request, made beforehand.
	cred := map[string]any{"@context": []any{vc.ContextV2}, "type": []any{"VerifiableCredential", "ResidenceCredential"},
		"credentialSubject": map[string]any{"region": "310000"}}
	type prepared struct{ token, body string }
	reqs := make([]prepared, b.N)
	for i := range reqs {
		o, err := svc.CreateOffer(ctx, oid4vci.OfferRequest{Client: "test-client", ConfigurationIDs: []string{"ResidenceCredential_sd_jwt"}, Credential: cred})
		if err != nil {
			b.Fatal(err)
		}
		var doc struct {
			Grants map[string]struct {
				Code string `json:"pre-authorized_code"`
			}
		}
		json.Unmarshal(o.JSON, &doc)
		tok, err := svc.Token(ctx, oid4vci.TokenRequest{GrantType: oid4vci.GrantPreAuthorized, PreAuthorizedCode: doc.Grants[oid4vci.GrantPreAuthorized].Code})
		if err != nil {
			b.Fatal(err)
		}
		n, err := svc.Nonce(ctx)
		if err != nil {
			b.Fatal(err)
		}
		proof, _ := benchProof(b, base, n.CNonce)
		body, _ := json.Marshal(map[string]any{"credential_configuration_id": "ResidenceCredential_sd_jwt", "proofs": map[string]any{"jwt": []string{proof}}})
		reqs[i] = prepared{tok.AccessToken, string(body)}
	}
	e := &benchEnv{srv: srv, client: client}
	var next = make(chan int, b.N)
	for i := range b.N {
		next <- i
	}
	close(next)
	runHTTP(b, func(int, int) error {
		r := reqs[<-next]
		return e.do("POST", oid4vci.PathCredential, r.token, r.body, http.StatusOK)
	})

	// The floor, in the same run: verify one ES256 proof, make one SM2 signature.
	proof, key := benchProof(b, base, "n")
	signer, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	msg := make([]byte, 700)
	const floorN = 500
	p, _ := gm.NewJWTParser([]string{gm.AlgES256}, jwt.WithoutClaimsValidation())
	cpu0 := testenv.CPUTime()
	for range floorN {
		if _, err := p.ParseWithClaims(proof, jwt.MapClaims{}, func(*jwt.Token) (any, error) { return key, nil }); err != nil {
			b.Fatal(err)
		}
		if _, err := gm.SignWith(rand.Reader, signer, msg); err != nil {
			b.Fatal(err)
		}
	}
	floor := float64((testenv.CPUTime() - cpu0).Microseconds()) / floorN
	b.ReportMetric(floor, "floor-cpu-us")
}

// benchProof signs an ES256 key proof for aud and nonce with a fresh key.
func benchProof(b testing.TB, aud, nonce string) (string, crypto.PublicKey) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	j, _ := gm.NewJWK(&k.PublicKey, "")
	j.Use, j.Alg = "", ""
	t := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"aud": aud, "iat": time.Now().Unix(), "nonce": nonce})
	t.Header["typ"] = oid4vci.ProofTyp
	t.Header["jwk"] = j
	s, err := t.SignedString(k)
	if err != nil {
		b.Fatal(err)
	}
	return s, &k.PublicKey
}
