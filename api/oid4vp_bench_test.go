package api

import (
	"context"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/auth/clientstoretest"
	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/issuer"
	"github.com/trustid-cn/trustid/credentials/sdjwt"
	"github.com/trustid-cn/trustid/credentials/statuslist"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/testenv"
	"github.com/trustid-cn/trustid/keystore"
	"github.com/trustid-cn/trustid/oid4vp"
	"github.com/trustid-cn/trustid/store"
)

// OID4VP response verification over real HTTP, in process: the api
// routes in front of oid4vp.Verifier over the real credential verifier
// (ES256 issuer signature, ES256 KB-JWT, status from the local list), a
// memory store and a memory client registry. Every request answers a
// transaction of its own, made (request object read, presentation with
// KB-JWT signed, JWE encrypted) before the clock starts. Run
//
//	go test -run '^$' -bench 'OID4VP' -benchtime 10000x ./api/
//
// cpu-us/op is the process's CPU per request (including the in-process
// client; BenchmarkNoopHTTP measures that share); floor-us/op is, in the
// same run, the bare cryptography each response needs on one core: two
// ES256 verifications (issuer, KB-JWT), and for direct_post.jwt one P-256
// ECDH and the derivation of the transaction's key.

type oid4vpBench struct {
	srv                  *httptest.Server
	client               *http.Client
	verifier             *oid4vp.Verifier
	cred                 string
	holder               *ecdsa.PrivateKey
	issuerPub, holderPub *ecdsa.PublicKey
}

func newOID4VPBench(b *testing.B) *oid4vpBench {
	b.Helper()
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
	is, err := issuer.New(issuer.Config{BaseURL: base, Keys: ks, Status: st})
	if err != nil {
		b.Fatal(err)
	}
	checker := vc.NewStatusChecker(&vc.LocalStatusSource{BaseURL: base, Store: st}, time.Minute, nil)
	cv, err := vc.NewVerifier(vc.VerifierConfig{Algorithms: gm.JWTAlgorithms, Status: checker,
		Resolver: &vc.Resolver{Local: is.Local()}, Trust: &vc.RegistryTrust{Local: is.Local()}})
	if err != nil {
		b.Fatal(err)
	}
	mem, err := store.NewMemory(store.MemoryOptions{MaxEntries: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { mem.Close() })
	clients := auth.NewMemoryStore(nil)
	rp := clientstoretest.Client(b, "shop-1")
	rp.Claims = []string{"age_over_18"}
	if err := clients.Create(context.Background(), rp); err != nil {
		b.Fatal(err)
	}
	key, err := ks.Active(gm.AlgES256)
	if err != nil {
		b.Fatal(err)
	}
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	b.Cleanup(srv.Close)
	v, err := oid4vp.New(oid4vp.Config{BaseURL: srv.URL, Key: func() (crypto.Signer, string, error) { return key.Signer, key.Kid, nil }, Secret: make([]byte, 32), Store: mem,
		NotFound: func(err error) bool { return errors.Is(err, store.ErrNotFound) }, Clients: oid4vp.RegistryClients{Store: clients}, Verifier: cv,
		TTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	s := New(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := s.MountOID4VP(OID4VPConfig{Verifier: v}); err != nil {
		b.Fatal(err)
	}
	h = s.Handler()
	holder, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	c, err := vc.IdentityCredential(vc.IdentityClaims{Subject: "pw-3f9a1c0d7e21", AssuranceLevel: 3, Region: "310000", BirthDate: "1990-05-01"}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	hj, _ := gm.NewJWK(holder.Public(), "")
	iss, err := is.Issue(context.Background(), c, issuer.IssueOptions{Format: issuer.FormatSDJWT, Algorithm: gm.AlgES256, HolderKey: &hj})
	if err != nil {
		b.Fatal(err)
	}
	ik, err := ks.Active(gm.AlgES256)
	if err != nil {
		b.Fatal(err)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: benchClients, MaxConnsPerHost: benchClients}
	b.Cleanup(tr.CloseIdleConnections)
	return &oid4vpBench{srv: srv, client: &http.Client{Transport: tr}, verifier: v, cred: iss.Token, holder: holder,
		issuerPub: ik.Public.(*ecdsa.PublicKey), holderPub: &holder.PublicKey}
}

const benchDCQL = `{"credentials":[{"id":"pid","format":"dc+sd-jwt","meta":{"vct_values":["https://node.example:8443/vct/IdentityCredential"]},"claims":[{"path":["age_over_18"],"values":[true]}]}]}`

// response opens a transaction and returns its response path and body.
func (e *oid4vpBench) response(b *testing.B, mode string) (string, string) {
	ctx := context.Background()
	c, err := e.verifier.Create(ctx, "shop-1", oid4vp.CreateRequest{Query: json.RawMessage(benchDCQL), ResponseMode: mode})
	if err != nil {
		b.Fatal(err)
	}
	ro, err := e.verifier.RequestObject(ctx, c.TransactionID)
	if err != nil {
		b.Fatal(err)
	}
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(ro, claims); err != nil {
		b.Fatal(err)
	}
	sd, _ := sdjwt.Split(e.cred)
	pres, err := sd.Present(func(d *sdjwt.Disclosure) bool { return d.Name == "age_over_18" },
		&sdjwt.KeyBinding{Signer: e.holder, Audience: claims["client_id"].(string), Nonce: claims["nonce"].(string), IssuedAt: time.Now()})
	if err != nil {
		b.Fatal(err)
	}
	tok, _ := json.Marshal(map[string][]string{"pid": {pres}})
	form := url.Values{}
	if mode == oid4vp.ModeDirectPost {
		form.Set("vp_token", string(tok))
		form.Set("state", claims["state"].(string))
	} else {
		raw, _ := json.Marshal(claims["client_metadata"].(map[string]any)["jwks"].(map[string]any)["keys"].([]any)[0])
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil {
			b.Fatal(err)
		}
		enc, err := jose.NewEncrypter(jose.A128GCM, jose.Recipient{Algorithm: jose.ECDH_ES, Key: k.Key, KeyID: k.KeyID}, nil)
		if err != nil {
			b.Fatal(err)
		}
		plain, _ := json.Marshal(map[string]any{"vp_token": json.RawMessage(tok), "state": claims["state"]})
		obj, err := enc.Encrypt(plain)
		if err != nil {
			b.Fatal(err)
		}
		s, _ := obj.CompactSerialize()
		form.Set("response", s)
	}
	return strings.Replace(oid4vp.ResponsePath, "{id}", c.TransactionID, 1), form.Encode()
}

// floor returns the bare cryptography of one response on one core.
func (e *oid4vpBench) floor(b *testing.B, encrypted bool) float64 {
	const n = 300
	digest := sha256.Sum256([]byte("x"))
	sig, _ := ecdsa.SignASN1(rand.Reader, e.holder, digest[:])
	peer, _ := ecdh.P256().GenerateKey(rand.Reader)
	own, _ := ecdh.P256().GenerateKey(rand.Reader)
	cpu0 := testenv.CPUTime()
	for range n {
		// The issuer check fails (another key's signature): the work is
		// the same as a success.
		_ = ecdsa.VerifyASN1(e.issuerPub, digest[:], sig)
		_ = ecdsa.VerifyASN1(e.holderPub, digest[:], sig)
		if encrypted {
			if _, err := own.ECDH(peer.PublicKey()); err != nil {
				b.Fatal(err)
			}
			// The transaction key's public half (a base point multiplication).
			if _, err := ecdh.P256().GenerateKey(rand.Reader); err != nil {
				b.Fatal(err)
			}
		}
	}
	return float64((testenv.CPUTime() - cpu0).Microseconds()) / n
}

func benchmarkOID4VP(b *testing.B, mode string) {
	e := newOID4VPBench(b)
	paths, bodies := make([]string, b.N), make([]string, b.N)
	for i := range b.N {
		paths[i], bodies[i] = e.response(b, mode)
	}
	floor := e.floor(b, mode == oid4vp.ModeDirectPostJWT)
	var next = make(chan int, b.N)
	for i := range b.N {
		next <- i
	}
	close(next)
	runHTTP(b, func(int, int) error {
		i := <-next
		req, _ := http.NewRequest("POST", e.srv.URL+paths[i], strings.NewReader(bodies[i]))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := e.client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("response %d: %s", resp.StatusCode, out)
		}
		return nil
	})
	b.ReportMetric(floor, "floor-us/op")
}

// BenchmarkOID4VPDirectPostHTTP verifies direct_post responses.
func BenchmarkOID4VPDirectPostHTTP(b *testing.B) { benchmarkOID4VP(b, oid4vp.ModeDirectPost) }

// BenchmarkOID4VPDirectPostJWTHTTP verifies direct_post.jwt responses
// (ECDH-ES + A128GCM).
func BenchmarkOID4VPDirectPostJWTHTTP(b *testing.B) { benchmarkOID4VP(b, oid4vp.ModeDirectPostJWT) }
