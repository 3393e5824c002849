package api

import (
	"context"
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
	"github.com/trustid-cn/trustid/credentials/issuer"
	"github.com/trustid-cn/trustid/credentials/statuslist"
	"github.com/trustid-cn/trustid/gm"
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

type benchEnv struct {
	srv    *httptest.Server
	client *http.Client
}

func newBenchEnv(b *testing.B) *benchEnv {
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
	reg := newTrustRegistry(b, base, ks)
	is, err := issuer.New(issuer.Config{BaseURL: base, Keys: ks, Status: st,
		Registry: reg.view, Registrar: reg.client, IssuerKeys: ks})
	if err != nil {
		b.Fatal(err)
	}
	checker := vc.NewStatusChecker(&vc.LocalStatusSource{BaseURL: base, Store: st}, time.Minute, nil)
	v, err := vc.NewVerifier(vc.VerifierConfig{Algorithms: gm.JWTAlgorithms, Status: checker,
		Resolver: &vc.RegistryResolver{Registry: reg.view, Next: &vc.Resolver{Local: is.Local()}},
		Trust:    &vc.RegistryTrust{Local: is.Local(), Registry: reg.view}})
	if err != nil {
		b.Fatal(err)
	}
	// The bench client issues under its own issuer DID, accredited first.
	if _, err := is.Accredit(context.Background(), issuer.AccreditRequest{Client: "test-client", Types: []string{"ResidenceCredential"}}); err != nil {
		b.Fatal(err)
	}
	s := New(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	s.SetAuthorizer(bearerAuthorizer{issueToken: auth.ScopeCredentialsIssue, statusToken: auth.ScopeStatusWrite})
	if err := s.MountCredentials(CredentialsConfig{Issuer: is, Verifier: v, Clients: testClients{"test-client": "Test client"}}); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	b.Cleanup(srv.Close)
	tr := &http.Transport{MaxIdleConnsPerHost: benchClients, MaxConnsPerHost: benchClients}
	b.Cleanup(tr.CloseIdleConnections)
	return &benchEnv{srv: srv, client: &http.Client{Transport: tr}}
}

// do sends one request and fails unless the status is want.
func (e *benchEnv) do(method, path, token, body string, want int) error {
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, out)
	}
	return nil
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
	start, cpu0 := time.Now(), cpuTime()
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
	wall, cpu := time.Since(start), cpuTime()-cpu0
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
