package api

import (
	"context"
	"crypto"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/auth"
	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/cose"
	"github.com/trustid-cn/trustid/credentials/dataintegrity"
	"github.com/trustid-cn/trustid/credentials/issuer"
	"github.com/trustid-cn/trustid/credentials/jsonld"
	"github.com/trustid-cn/trustid/credentials/statuslist"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/testenv"
	"github.com/trustid-cn/trustid/keystore"
)

// The credential write paths over real HTTP, in process: an httptest
// server with the real handler, the real status store (fsync on a temp
// dir) and keystore, driven by benchClients parallel keep-alive clients.
// Run
//
//	go test -run '^$' -bench 'HTTP$' -benchtime 5s ./api/
//
// Each reports req/s (wall), p99-ms (latency of one request) and
// cpu-us/op: the process's CPU time (getrusage, user + system, every
// thread) per request, which includes the in-process HTTP client's share;
// BenchmarkNoopHTTP measures that share (the same stack around a handler
// that does nothing) to subtract. The access log is formatted and
// discarded. Authorization is the handler tests' fixed bearer tokens (the
// token check itself is BenchmarkValidateToken).

const benchClients = 64

// benchCOSEAlgorithms and benchFormats are the node's (cmd/trustid):
// vc+cose and the three Data Integrity cryptosuites besides vc+jwt.
var benchCOSEAlgorithms = []string{gm.AlgES256, gm.AlgES384, gm.AlgEdDSA, gm.AlgSM2}

func benchFormats() map[string]issuer.Format {
	fs := map[string]issuer.Format{
		"vc+cose": {MediaType: cose.MediaTypeVC, Algorithms: []string{gm.AlgSM2, gm.AlgES256, gm.AlgEdDSA}, Sign: cose.SignToken},
	}
	for suite, alg := range map[string]string{
		dataintegrity.SM2RDFC2025: gm.AlgSM2, dataintegrity.ECDSARDFC2019: gm.AlgES256, dataintegrity.EdDSARDFC2022: gm.AlgEdDSA,
	} {
		fs[suite] = issuer.Format{MediaType: issuer.MediaTypeEmbedded, Algorithms: []string{alg}, Check: jsonld.CheckDefinedTerms,
			Sign: func(doc map[string]any, vm string, key crypto.Signer) (string, error) {
				return dataintegrity.SignCredential(suite, doc, vm, key)
			}}
	}
	return fs
}

type benchEnv struct {
	srv     *httptest.Server
	client  *http.Client
	handler http.Handler
}

func newBenchEnv(b testing.TB) *benchEnv { return newBenchEnvOf(b, 1) }

// newBenchEnvOf is newBenchEnv with that many active regions in the
// registry (newTrustRegistryOf).
func newBenchEnvOf(b testing.TB, regions int) *benchEnv {
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
	reg := newTrustRegistryOf(b, base, ks, regions)
	is, err := issuer.New(issuer.Config{BaseURL: base, Keys: ks, Status: st,
		Registry: reg.view, Registrar: reg.client, IssuerKeys: ks, Region: "310000", Formats: benchFormats()})
	if err != nil {
		b.Fatal(err)
	}
	checker := vc.NewStatusChecker(&vc.LocalStatusSource{BaseURL: base, Store: st}, time.Minute, nil)
	coseEnvelope, err := cose.EnvelopeVerifier(benchCOSEAlgorithms)
	if err != nil {
		b.Fatal(err)
	}
	keys := &vc.RegistryResolver{Registry: reg.view, Next: &vc.Resolver{Local: is.Local()}}
	v, err := vc.NewVerifier(vc.VerifierConfig{Algorithms: gm.JWTAlgorithms, Status: checker, Resolver: keys,
		Trust:     &vc.RegistryTrust{Local: is.Local(), Registry: reg.view},
		Envelopes: map[string]vc.EnvelopeVerifier{cose.MediaTypeVC: coseEnvelope}})
	if err != nil {
		b.Fatal(err)
	}
	div, err := dataintegrity.NewVerifier(dataintegrity.Config{Resolver: keys, Cryptosuites: dataintegrity.Cryptosuites(),
		Checker: dataintegrity.CheckWith(v.CheckCredential)})
	if err != nil {
		b.Fatal(err)
	}
	// The bench client issues under its own issuer DID, accredited first.
	if _, err := is.Accredit(context.Background(), issuer.AccreditRequest{Client: "test-client", Types: []string{"ResidenceCredential"}}); err != nil {
		b.Fatal(err)
	}
	s := New(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	s.SetAuthorizer(bearerAuthorizer{issueToken: auth.ScopeCredentialsIssue, statusToken: auth.ScopeStatusWrite})
	if err := s.MountCredentials(CredentialsConfig{Issuer: is, Verifier: v, DataIntegrity: div, Clients: testClients{"test-client": "Test client"}}); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	b.Cleanup(srv.Close)
	tr := &http.Transport{MaxIdleConnsPerHost: benchClients, MaxConnsPerHost: benchClients}
	b.Cleanup(tr.CloseIdleConnections)
	return &benchEnv{srv: srv, client: &http.Client{Transport: tr}, handler: s.Handler()}
}

// do sends one request and fails unless the status is want.
func (e *benchEnv) do(method, path, token, body string, want int) error {
	_, err := e.doBody(method, path, token, body, want)
	return err
}

// doBody is do, returning the response body.
func (e *benchEnv) doBody(method, path, token, body string, want int) ([]byte, error) {
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return nil, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, out)
	}
	return out, nil
}

// issueID issues a vc+jwt credential with a fixed id.
func (e *benchEnv) issueID(id string) error {
	body := strings.Replace(credBody, `"credentialSubject"`, `"id":"`+id+`","credentialSubject"`, 1)
	return e.do("POST", "/credentials/issue", issueToken, strings.Replace(body, "%s", "", 1), http.StatusCreated)
}

// run runs op from benchClients goroutines until b.N requests are done
// (op gets the client's number and its request count) and reports req/s,
// p99-ms and cpu-us/op.
func runHTTP(b *testing.B, op func(client, i int) error) {
	var next atomic.Int64
	lat := make([][]time.Duration, benchClients)
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	b.ResetTimer()
	start, cpu0 := time.Now(), testenv.CPUTime()
	for c := range benchClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; next.Add(1) <= int64(b.N); i++ {
				t0 := time.Now()
				if err := op(c, i); err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	wall, cpu := time.Since(start), testenv.CPUTime()-cpu0
	b.StopTimer()
	if err := failed.Load(); err != nil {
		b.Fatal(*err)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	b.ReportMetric(float64(b.N)/wall.Seconds(), "req/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-us/op")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkIssueHTTP issues vc+jwt credentials (SM2, a revocation and a
// suspension entry each) through POST /credentials/issue.
func BenchmarkIssueHTTP(b *testing.B) {
	e := newBenchEnv(b)
	body := strings.Replace(credBody, "%s", "", 1)
	runHTTP(b, func(int, int) error {
		return e.do("POST", "/credentials/issue", issueToken, body, http.StatusCreated)
	})
}

// BenchmarkStatusChangeHTTP suspends and reinstates credentials through
// POST /v1/credentials/{id}/status, each client its own credential.
func BenchmarkStatusChangeHTTP(b *testing.B) {
	e := newBenchEnv(b)
	paths := make([]string, benchClients)
	for c := range paths {
		id := fmt.Sprintf("urn:uuid:00000000-0000-4000-8000-%012d", c)
		if err := e.issueID(id); err != nil {
			b.Fatal(err)
		}
		paths[c] = "/v1/credentials/" + url.PathEscape(id) + "/status"
	}
	actions := []string{`{"action":"suspend"}`, `{"action":"reinstate"}`}
	runHTTP(b, func(c, i int) error {
		return e.do("POST", paths[c], statusToken, actions[i%2], http.StatusOK)
	})
}

// BenchmarkNoopHTTP is the same clients and server stack around GET
// /healthz: the HTTP share of the figures above.
func BenchmarkNoopHTTP(b *testing.B) {
	e := newBenchEnv(b)
	runHTTP(b, func(int, int) error { return e.do("GET", "/healthz", "", "", http.StatusOK) })
}

// BenchmarkVerifyHTTP verifies one credential again and again through
// POST /credentials/verify (public, no rate limit here), for each way the
// node secures one: vc+jwt (SM2, EdDSA, ES256), vc+cose (SM2), and the
// Data Integrity cryptosuites sm2-rdfc-2025, eddsa-rdfc-2022 and
// ecdsa-rdfc-2019 (each with the same key type as one vc+jwt). Each
// credential is issued through POST /credentials/issue with a revocation
// and a suspension entry, under the bench client's accredited issuer DID
// (did:web, resolved locally), and the body sent is the issue response as
// it is. Verification is the node's whole check: signature or proof,
// data model, validity, accreditation, both status entries.
func BenchmarkVerifyHTTP(b *testing.B) {
	// credBody with the examples context, which defines its terms (a Data
	// Integrity issuer refuses issuer-dependent ones).
	verifyCredBody := strings.Replace(credBody, `"https://www.w3.org/ns/credentials/v2"`,
		`"https://www.w3.org/ns/credentials/v2","https://www.w3.org/ns/credentials/examples/v2"`, 1)
	e := newBenchEnv(b)
	for _, f := range []struct{ name, format, algorithm string }{
		{"vc+jwt", "vc+jwt", gm.AlgSM2},
		{"vc+jwt-EdDSA", "vc+jwt", gm.AlgEdDSA},
		{"vc+jwt-ES256", "vc+jwt", gm.AlgES256},
		{"vc+cose", "vc+cose", gm.AlgSM2},
		{dataintegrity.SM2RDFC2025, dataintegrity.SM2RDFC2025, gm.AlgSM2},
		{dataintegrity.EdDSARDFC2022, dataintegrity.EdDSARDFC2022, gm.AlgEdDSA},
		{dataintegrity.ECDSARDFC2019, dataintegrity.ECDSARDFC2019, gm.AlgES256},
	} {
		options := `,"options":{"format":"` + f.format + `","algorithm":"` + f.algorithm + `","credentialStatus":{"type":"BitstringStatusListEntry"}}`
		issued, err := e.doBody("POST", "/credentials/issue", issueToken, strings.Replace(verifyCredBody, "%s", options, 1), http.StatusCreated)
		if err != nil {
			b.Fatalf("%s: %v", f.name, err)
		}
		body := string(issued)
		out, err := e.doBody("POST", "/credentials/verify", "", body, http.StatusOK)
		if err != nil {
			b.Fatalf("%s: %v", f.name, err)
		}
		if want := `"format":"` + f.format + `"`; !strings.Contains(string(out), `"verified":true`) || !strings.Contains(string(out), want) {
			b.Fatalf("%s: %s", f.name, out)
		}
		b.Run(f.name, func(b *testing.B) {
			runHTTP(b, func(int, int) error { return e.do("POST", "/credentials/verify", "", body, http.StatusOK) })
		})
	}
}

// BenchmarkVerifyHandler is BenchmarkVerifyHTTP's vc+jwt (SM2) request
// handed to the node's handler in process, without a connection: the
// node's own work and allocations per verification (middleware, body,
// verification, answer), which -benchmem counts exactly. The request is
// built once and its body rewound, and the answer discarded: parsing a
// request's text (httptest.NewRequest, a 4 KiB reader each) and keeping
// an answer (httptest.NewRecorder) are net/http's work over HTTP, not
// the node's, and cost ~35k instructions and ~6 kB a request here.
func BenchmarkVerifyHandler(b *testing.B) { benchVerifyHandler(b, 1) }

// BenchmarkVerifyHandler34Regions is BenchmarkVerifyHandler with the
// national design's 34 active regions in the registry, each with a DID
// and 2-3 endpoints: what of a verification grows with the regions.
func BenchmarkVerifyHandler34Regions(b *testing.B) { benchVerifyHandler(b, len(provinces)) }

func benchVerifyHandler(b *testing.B, regions int) {
	e := newBenchEnvOf(b, regions)
	options := `,"options":{"format":"vc+jwt","algorithm":"SM2","credentialStatus":{"type":"BitstringStatusListEntry"}}`
	issued, err := e.doBody("POST", "/credentials/issue", issueToken, strings.Replace(credBody, "%s", options, 1), http.StatusCreated)
	if err != nil {
		b.Fatal(err)
	}
	body := string(issued)
	var rd strings.Reader
	rc := io.NopCloser(&rd)
	req := httptest.NewRequest("POST", "/credentials/verify", nil)
	req.Header.Set("Content-Type", "application/json")
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	stop := testenv.CPUMeter(b)
	for b.Loop() {
		rd.Reset(body)
		req.Body, req.ContentLength = rc, int64(len(body))
		clear(w.h)
		w.status = 0
		e.handler.ServeHTTP(w, req)
		if w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
	}
	stop()
}
