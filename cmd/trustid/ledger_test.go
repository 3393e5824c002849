package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/testenv"
	"github.com/trustid-cn/trustid/internal/testnode"
	"github.com/trustid-cn/trustid/keystore"
	"github.com/trustid-cn/trustid/ledger"
	"github.com/trustid-cn/trustid/ledger/embedded/embeddedtest"
	"github.com/trustid-cn/trustid/ledger/ledgertest"
)

// TestServeEmbeddedLedger: with no ledger settings the node runs the
// embedded ledger in its data directory, registers its region as the
// genesis region, and reports the ledger in /readyz.
func TestServeEmbeddedLedger(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TRUSTID_KEK", "00112233445566778899aabbccddeeff")
	t.Run("serve", func(t *testing.T) {
		base, logs := startServe(t, "--data", dir, "--region", "320000")
		deadline := time.Now().Add(10 * time.Second)
		for {
			code, body := get(t, base+"/readyz")
			// status_lists: the region's lists followed up to their
			// anchored heads (statuslist.TestSharedCaughtUpAfterReplay).
			if code == 200 && strings.Contains(body, `"ledger":"ok"`) && strings.Contains(body, `"status_lists":"ok"`) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("readyz %d %s\n%s", code, body, logs.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		for _, f := range []string{ledgerFile, outboxFile} {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				t.Error(err)
			}
		}
		if s := logs.String(); !strings.Contains(s, `"msg":"ledger ready"`) || !strings.Contains(s, `"mode":"embedded"`) {
			t.Errorf("no ledger ready log:\n%s", logs.String())
		}
	})
	// After the node stops, the operator commands open the same file.
	var out string
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		out, _, err = run(t, context.Background(), "ledger", "regions", "--data", dir, "--region", "320000")
		if err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	var regions []chaincode.Region
	if err := json.Unmarshal([]byte(out), &regions); err != nil || len(regions) != 1 {
		t.Fatalf("regions: %v\n%s", err, out)
	}
	r := regions[0]
	if r.Code != "320000" || r.Status != chaincode.RegionActive || len(r.Keys) == 0 || !strings.HasPrefix(r.DID, "did:web:127.0.0.1%3A") {
		t.Errorf("genesis region: %+v", r)
	}
	out, _, err = run(t, context.Background(), "ledger", "verify", "--data", dir, "--region", "320000")
	if err != nil || !strings.Contains(out, `"verified": true`) {
		t.Errorf("verify: %v %s", err, out)
	}
	// Only the region itself may vote on nothing: a vote on itself is refused.
	if _, _, err := run(t, context.Background(), "ledger", "vote", "suspend", "320000", "--data", dir, "--region", "320000"); err == nil {
		t.Error("a region voted on its own suspension")
	}
}

func TestLedgerFlags(t *testing.T) {
	t.Setenv("TRUSTID_KEK", "00112233445566778899aabbccddeeff")
	dir := t.TempDir()
	_, _, err := run(t, context.Background(), "ledger", "regions", "--data", dir, "--ledger", "couchdb")
	if err == nil || !strings.Contains(err.Error(), `"--ledger"`) || !strings.Contains(err.Error(), "want embedded, fabric or auto") {
		t.Errorf("unknown backend: %v", err)
	}
	_, _, err = run(t, context.Background(), "ledger", "regions", "--data", dir, "--fabric-peer", "127.0.0.1:1", "--fabric-msp-id", "Region310000MSP")
	if err == nil || !strings.Contains(err.Error(), "client certificate") {
		t.Errorf("fabric without a certificate: %v", err)
	}
	_, _, err = run(t, context.Background(), "ledger", "regions", "--data", dir, "--fabric-peer", "127.0.0.1:1", "--fabric-msp-id", "Region320000MSP")
	if err == nil || !strings.Contains(err.Error(), "does not match region 310000") {
		t.Errorf("MSP of another region: %v", err)
	}
	if _, _, err := run(t, context.Background(), "ledger", "regions", "--data", dir, "--fabric-profile", filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("missing profile accepted")
	}
}

// TestServeBadFabricSettings: Fabric settings fabric.Open would refuse
// (a peer that is not host:port, a certificate, key or TLS CA that does
// not parse, a missing file, another region's MSP), from the flags or
// the connection profile, stop serve naming the flags before it writes
// anything; complete settings pass that check without a peer to reach.
func TestServeBadFabricSettings(t *testing.T) {
	t.Setenv("TRUSTID_KEK", "00112233445566778899aabbccddeeff")
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	certPEM, keyPEM := fabricTestIdentity(t)
	os.WriteFile(cert, certPEM, 0o600)
	os.WriteFile(key, keyPEM, 0o600)
	good := []string{"--fabric-msp-id", "Region310000MSP", "--fabric-cert", cert, "--fabric-key", key, "--fabric-tls-ca", cert, "--fabric-peer", "127.0.0.1:7051"}
	cmd := newServeCmd()
	if err := cmd.ParseFlags(good); err != nil {
		t.Fatal(err)
	}
	if _, err := fabricSettings(cmd.Flags(), "310000"); err != nil {
		t.Fatalf("complete settings: %v", err)
	}
	profile := filepath.Join(dir, "profile.yaml")
	os.WriteFile(profile, []byte(`client: {organization: R}
organizations: {R: {mspid: Region310000MSP, peers: [p0], signedCert: {path: cert.pem}, adminPrivateKey: {pem: "KEY"}}}
peers: {p0: {url: "grpcs://127.0.0.1:7051", tlsCACerts: {path: cert.pem}}}
`), 0o600)
	for _, c := range []struct {
		args       []string
		flag, want string
	}{
		{append(slices.Clone(good), "--fabric-peer", "grpcs://127.0.0.1:7051"), "--fabric-peer", "host:port"},
		{append(slices.Clone(good), "--fabric-peer", "127.0.0.1"), "--fabric-peer", "host:port"},
		{append(slices.Clone(good), "--fabric-cert", key), "--fabric-cert", "client certificate"},
		{append(slices.Clone(good), "--fabric-key", cert), "--fabric-key", "client key"},
		{append(slices.Clone(good), "--fabric-key", filepath.Join(dir, "nope.pem")), "--fabric-key", "no such file"},
		{append(slices.Clone(good), "--fabric-tls-ca", key), "--fabric-tls-ca", "TLS CA"},
		{append(slices.Clone(good), "--fabric-msp-id", "Region320000MSP"), "--fabric-msp-id", "does not match region 310000"},
		{[]string{"--fabric-profile", profile}, "--fabric-profile", "client key"},
		{[]string{"--ledger", "fabric"}, "--ledger", "MSP ID"},
	} {
		data := filepath.Join(t.TempDir(), "data")
		args := append([]string{"serve", "--data", data, "--addr", "127.0.0.1:0"}, c.args...)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		_, _, err := run(t, ctx, args...)
		cancel()
		if err == nil || !strings.Contains(err.Error(), c.flag) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %s and %q", c.args[len(c.args)-2:], err, c.flag, c.want)
		}
		if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%v: the data directory was written (%v)", c.args[len(c.args)-2:], err)
		}
	}
}

// fabricTestIdentity returns a self-signed ECDSA P-256 certificate and
// its key in PEM (the certificate also serves as the peer's TLS CA).
func fabricTestIdentity(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "User1@r310000"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk})
}

func TestRegionDID(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8080":           "did:web:127.0.0.1%3A8080",
		"https://sh.trustid.gov.cn":       "did:web:sh.trustid.gov.cn",
		"https://x.example/region/310000": "did:web:x.example:region:310000",
		"":                                "did:web:310000.trustid.invalid",
	} {
		if got := regionDID(in, "310000"); got != want {
			t.Errorf("regionDID(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestFabricServe: with a connection profile the node runs on Fabric
// (needs the development network: scripts/fabric/test.sh runs it).
func TestFabricServe(t *testing.T) {
	profile := os.Getenv("TRUSTID_FABRIC_PROFILE_310000")
	if profile == "" {
		testenv.Require(t, "the Fabric development network", errors.New("TRUSTID_FABRIC_PROFILE_310000 unset: run scripts/fabric/test.sh, or scripts/fabric/up.sh and source scripts/fabric/work/run/env"))
	}
	t.Setenv("TRUSTID_KEK", "00112233445566778899aabbccddeeff")
	base, logs := startServe(t, "--data", t.TempDir(), "--region", "310000", "--fabric-profile", profile)
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := get(t, base+"/readyz")
		if code == 200 && strings.Contains(body, `"ledger":"ok"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz %d %s\n%s", code, body, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if s := logs.String(); !strings.Contains(s, `"mode":"fabric"`) {
		t.Errorf("not on Fabric:\n%s", s)
	}
	// The wrong region for the profile's MSP is refused at start.
	_, _, err := run(t, context.Background(), "serve", "--data", t.TempDir(), "--region", "320000", "--fabric-profile", profile, "--addr", "127.0.0.1:0")
	if err == nil || !strings.Contains(err.Error(), "does not match region 320000") {
		t.Errorf("serve 320000 with 310000's profile: %v", err)
	}
}

// TestLedgerCommandsLocked: while another process holds the ledger file
// (a node serving on the data directory), the operator commands say so
// instead of a bare timeout.
func TestLedgerCommandsLocked(t *testing.T) {
	t.Setenv("TRUSTID_KEK", "00112233445566778899aabbccddeeff")
	dir := t.TempDir()
	// bbolt's flock conflicts across open files, as with a second process.
	db, err := bolt.Open(filepath.Join(dir, ledgerFile), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, args := range [][]string{{"verify"}, {"regions"}, {"head", "310000", "C"}} {
		_, _, err := run(t, context.Background(), append(append([]string{"ledger"}, args...), "--data", dir)...)
		want := filepath.Join(dir, ledgerFile) + " is locked by another process (a trustid serve running on this data directory?)"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ledger %v: %v, want %q", args, err, want)
		}
	}
	// A second node on the data directory says so once ("ledger:
	// ledger: unavailable: ..." before).
	_, _, err = run(t, context.Background(), "serve", "--data", dir, "--addr", "127.0.0.1:0")
	if want := "ledger: unavailable: " + filepath.Join(dir, ledgerFile) + " is locked by another process"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("serve: %v, want %q", err, want)
	}
	// dead-batches reads the outbox file, locked by a serving node.
	ob, err := ledger.OpenOutbox(filepath.Join(dir, outboxFile), nil, ledger.OutboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	_, _, err = run(t, context.Background(), "ledger", "dead-batches", "--data", dir)
	if want := filepath.Join(dir, outboxFile) + " is locked by another process"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("ledger dead-batches: %v, want %q", err, want)
	}
}

// TestLedgerCommandsNeedALedger: the ledger and registry commands read
// (or vote on, or write to) an embedded ledger a node made; on a data
// directory without one (a mistyped --data, or before the node's first
// start) they say so and write nothing, where they made an empty ledger,
// which verify then reported verified.
func TestLedgerCommandsNeedALedger(t *testing.T) {
	t.Setenv("TRUSTID_KEK", "00112233445566778899aabbccddeeff")
	for _, args := range [][]string{{"verify"}, {"regions"}, {"proposals"}, {"head", "310000", "C"}, {"vote", "admit", "320000"}, {"audit-verify"}} {
		data := filepath.Join(t.TempDir(), "data")
		_, _, err := run(t, context.Background(), append(append([]string{"ledger"}, args...), "--data", data)...)
		if want := "no embedded ledger at " + filepath.Join(data, ledgerFile); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ledger %v: %v, want %q", args, err, want)
		}
		if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("ledger %v wrote the data directory (%v)", args, err)
		}
	}
	// The registry commands too: before a node's first start (docs/qr.md's
	// set-up once ran them first) they made an empty ledger without the
	// region and refused the client with "region 310000 is not registered".
	keys := t.TempDir()
	if _, _, err := run(t, context.Background(), "clients", "keygen", "--out", keys); err != nil {
		t.Fatal(err)
	}
	jwks, _ := filepath.Glob(filepath.Join(keys, "*.jwks.json"))
	if len(jwks) != 1 {
		t.Fatalf("keygen wrote %v", jwks)
	}
	pem := filepath.Join(t.TempDir(), "t.pem")
	if err := os.WriteFile(pem, testTerminalKeyPEM(t), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"clients", "add", "--id", "rp-1", "--name", "RP", "--scopes", "qr:redeem", "--jwks-file", jwks[0]},
		{"clients", "list"}, {"clients", "export"}, {"clients", "disable", "rp-1"},
		{"terminals", "add", "--name", "counter", "--region", "310104", "--public-key", pem},
		{"terminals", "list"},
	} {
		data := filepath.Join(t.TempDir(), "data")
		_, _, err := run(t, context.Background(), append(args, "--data", data)...)
		if want := "no embedded ledger at " + filepath.Join(data, ledgerFile); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: %v, want %q", args, err, want)
		}
		if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%v wrote the data directory (%v)", args, err)
		}
	}
	other := filepath.Join(t.TempDir(), "shared.db")
	if _, _, err := run(t, context.Background(), "ledger", "verify", "--data", t.TempDir(), "--ledger-file", other); err == nil || !strings.Contains(err.Error(), "no embedded ledger at "+other) {
		t.Errorf("ledger verify --ledger-file: %v", err)
	}
}

// raceRegion is region B's ledger where another instance of the region
// registers it right after this instance's first read found no record.
type raceRegion struct {
	ledger.Ledger
	other func()
	once  sync.Once
}

func (l *raceRegion) Evaluate(ctx context.Context, fn string, args ...string) ([]byte, error) {
	b, err := l.Ledger.Evaluate(ctx, fn, args...)
	if fn == "GetRegion" {
		l.once.Do(l.other)
	}
	return b, err
}

// TestEnsureRegionRegisteredMeanwhile: two instances of a new region
// start together; the one whose request finds the region registered
// meanwhile (ErrExists) goes on from the record: pending, it waits for
// the vote (errRegionPending, so the start loop keeps polling and
// publishes once admitted) instead of taking the region as done.
func TestEnsureRegionRegisteredMeanwhile(t *testing.T) {
	ctx := context.Background()
	a, b := embeddedtest.Open(t, filepath.Join(t.TempDir(), "ledger.db"))
	k, err := gm.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ka, err := gm.NewJWK(k.Public(), "310000-k1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (ledger.Client{L: a}).RequestRegion(ctx, chaincode.RegionInput{Code: ledgertest.RegionA, DID: "did:web:310000.trustid.local",
		Endpoints: []chaincode.Endpoint{{Type: "api", URL: "https://310000.trustid.local"}}, Keys: []gm.JWK{ka}}); err != nil {
		t.Fatal(err)
	}
	n := nodeOfRegionB(t, slog.New(slog.DiscardHandler))
	other := &node{log: n.log, region: n.region, issuer: n.issuer, keys: n.keys}
	race := &raceRegion{Ledger: b, other: func() {
		if err := ensureRegion(ctx, ledger.Client{L: b}, other); !errors.Is(err, errRegionPending) {
			t.Errorf("the other instance: %v, want errRegionPending", err)
		}
	}}
	if err := ensureRegion(ctx, ledger.Client{L: race}, n); !errors.Is(err, errRegionPending) {
		t.Fatalf("registered meanwhile by another instance: %v, want errRegionPending", err)
	}
}

// nodeOfRegionB returns a node of region B (320000) logging to log, with
// a new keystore.
func nodeOfRegionB(t *testing.T, log *slog.Logger) *node {
	t.Helper()
	ks, err := keystore.Open(filepath.Join(t.TempDir(), keystoreFile), mustKEK(t), keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &node{log: log, region: ledgertest.RegionB, issuer: "https://320000.trustid.local", keys: ks}
}

// genesisOfRegionA opens an embedded ledger as regions A (310000) and B
// and makes A the consortium's genesis region: the clients of A and B.
func genesisOfRegionA(t *testing.T) (ca, cb ledger.Client) {
	t.Helper()
	a, b := embeddedtest.Open(t, filepath.Join(t.TempDir(), "ledger.db"))
	ca, cb = ledger.Client{L: a}, ledger.Client{L: b}
	k, err := gm.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ka, err := gm.NewJWK(k.Public(), "310000-k1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.RequestRegion(context.Background(), chaincode.RegionInput{Code: ledgertest.RegionA, DID: "did:web:310000.trustid.local",
		Endpoints: []chaincode.Endpoint{{Type: "api", URL: "https://310000.trustid.local"}}, Keys: []gm.JWK{ka}}); err != nil {
		t.Fatal(err)
	}
	return ca, cb
}

// TestPendingRegionPublishesOnceAdmitted: the contract lets a pending
// region write nothing but its admission request, so the node of a region
// waiting for the consortium's vote writes nothing to its record: neither
// the keys its keystore gains meanwhile nor a new URL. Once the region is
// admitted, ensureRegion publishes both.
func TestPendingRegionPublishesOnceAdmitted(t *testing.T) {
	ctx := context.Background()
	ca, cb := genesisOfRegionA(t)
	n := nodeOfRegionB(t, slog.New(slog.DiscardHandler))
	if err := ensureRegion(ctx, cb, n); !errors.Is(err, errRegionPending) {
		t.Fatalf("registering: %v, want errRegionPending", err)
	}
	requested, err := cb.Region(ctx, ledgertest.RegionB)
	if err != nil || requested.Status != chaincode.RegionPending || len(requested.Keys) != len(keystore.Algorithms) {
		t.Fatalf("the request: %+v %v", requested, err)
	}
	k2, err := n.keys.Rotate(gm.AlgSM2)
	if err != nil {
		t.Fatal(err)
	}
	n.issuer = "https://320000-new.trustid.local"
	if err := ensureRegion(ctx, cb, n); !errors.Is(err, errRegionPending) {
		t.Fatalf("while pending: %v, want errRegionPending", err)
	}
	if err := syncRegionKeys(ctx, cb, n); err != nil {
		t.Fatalf("keys while pending (SIGHUP): %v", err)
	}
	if r, _ := cb.Region(ctx, ledgertest.RegionB); !r.Updated.Equal(requested.Updated) || len(r.Keys) != len(requested.Keys) || r.DID != requested.DID {
		t.Errorf("a pending region's node changed its record: %+v", r)
	}

	if err := ca.Vote(ctx, chaincode.ActionAdmit, ledgertest.RegionB); err != nil {
		t.Fatal(err)
	}
	if err := ensureRegion(ctx, cb, n); err != nil {
		t.Fatalf("once admitted: %v", err)
	}
	r, err := cb.Region(ctx, ledgertest.RegionB)
	if err != nil || r.DID != "did:web:320000-new.trustid.local" || r.API() != n.issuer {
		t.Errorf("once admitted, the record names %s %s (%v), not the node", r.DID, r.API(), err)
	}
	states := map[string]string{}
	for _, k := range r.Keys {
		states[k.Kid] = k.State
	}
	if states[k2.Kid] != chaincode.KeyActive || len(states) != len(requested.Keys)+1 {
		t.Errorf("once admitted, the keys on the record: %v, want %s active too", states, k2.Kid)
	}
}

// TestAnchorStartLogsRepeatsRarely: a node whose region is not on the
// ledger yet, then pending admission for hours, retries anchoring its
// start every 5 s (on a clock the test drives) but logs each error at
// once and the same error again ever more rarely, the interval doubling
// from a minute (to an hour): 6 lines over the first hour, 7 over the
// two hours pending, not a line every 5 s. Once admitted, the start is
// anchored and that is logged.
func TestAnchorStartLogsRepeatsRarely(t *testing.T) {
	ctx := context.Background()
	ca, cb := genesisOfRegionA(t)
	var logs strings.Builder
	n := nodeOfRegionB(t, slog.New(slog.NewJSONHandler(&logs, nil)))
	audit, err := ledger.OpenAuditLog(filepath.Join(t.TempDir(), auditFile), ledger.AuditOptions{Node: "node-b"})
	if err != nil {
		t.Fatal(err)
	}
	defer audit.Close()

	start := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	now, requested, admitted := start, false, false
	clk := retryClock{now: func() time.Time { return now }, after: func(d time.Duration) <-chan time.Time {
		now = now.Add(d)
		switch {
		case !requested && now.Sub(start) >= time.Hour:
			requested = true
			if err := ensureRegion(ctx, cb, n); !errors.Is(err, errRegionPending) {
				t.Fatalf("requesting admission: %v, want errRegionPending", err)
			}
		case !admitted && now.Sub(start) >= 3*time.Hour:
			admitted = true
			if err := ca.Vote(ctx, chaincode.ActionAdmit, ledgertest.RegionB); err != nil {
				t.Fatal(err)
			}
		}
		ch := make(chan time.Time, 1)
		ch <- now
		return ch
	}}
	anchorStart(ctx, n, cb, audit, clk)

	var warned []string
	var anchored bool
	for line := range strings.Lines(logs.String()) {
		var rec struct {
			Msg      string
			Error    string
			Attempts int `json:"failed_attempts"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		switch rec.Msg {
		case "start not anchored on the ledger yet; retrying":
			if len(warned) == 0 || rec.Error != warned[len(warned)-1] {
				if rec.Attempts != 1 {
					t.Errorf("a new error logged at its attempt %d: %s", rec.Attempts, line)
				}
			} else if rec.Attempts < 2 {
				t.Errorf("a repeat logged as attempt %d: %s", rec.Attempts, line)
			}
			warned = append(warned, rec.Error)
		case "start anchored on the ledger after the failures logged before":
			anchored = true
		}
	}
	if len(warned) != 13 || warned[0] == warned[6] || warned[5] != warned[0] || warned[12] != warned[6] {
		t.Errorf("%d failures logged (want 6 of the unregistered region's error, then 7 of the pending one's): %q", len(warned), warned[:min(len(warned), 20)])
	}
	if !anchored {
		t.Errorf("the start anchored at last is not logged:\n%s", logs.String())
	}
	if an, err := cb.AuditAnchor(ctx, ledgertest.RegionB, "node-b"); err != nil || an.Seq != 1 {
		t.Errorf("anchor: %+v %v", an, err)
	}
}

// unregisteredAnchoring returns what the audit-anchor tests run: a
// ledger as region B, which is not registered, so that every anchoring
// fails the same way; a node of region B logging to logs; its audit log.
func unregisteredAnchoring(t *testing.T) (ledger.Ledger, *node, *strings.Builder, *ledger.AuditLog) {
	t.Helper()
	_, b := embeddedtest.Open(t, filepath.Join(t.TempDir(), "ledger.db"))
	logs := new(strings.Builder)
	n := &node{log: slog.New(slog.NewJSONHandler(logs, nil)), region: ledgertest.RegionB}
	audit, err := ledger.OpenAuditLog(filepath.Join(t.TempDir(), auditFile), ledger.AuditOptions{Node: "node-b"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { audit.Close() })
	return b, n, logs, audit
}

// TestAuditAnchorLogsRepeatsRarely: the interval's anchoring, failing the
// same way at every interval (a region not on the ledger yet), is logged
// once, not at each interval: the same error is logged again only after a
// minute at least. The node stops at the sixth anchoring, not after a
// time: on a busy machine a window holds fewer intervals.
func TestAuditAnchorLogsRepeatsRarely(t *testing.T) {
	b, n, logs, audit := unregisteredAnchoring(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := &countedLedger{Ledger: b, stopAt: 6, stop: cancel}
	runAuditAnchor(ctx, n, ledger.Client{L: l}, audit, auditSchedule{every: 10 * time.Millisecond})
	if got := strings.Count(logs.String(), `"msg":"audit log anchoring (or its rotation) failed; retrying at the next interval"`); got != 1 {
		t.Errorf("the failure logged %d times, want once:\n%.2000s", got, logs.String())
	}
	if got := l.submits.Load(); got != 7 {
		t.Errorf("%d anchorings tried, want 7 (5 failed ones, the one the stop cut, the last)", got)
	}
}

// countedLedger wraps the real embedded ledger and counts its
// transactions. The ledger answers whatever the interval's budget is left
// (a race build on a busy machine can spend an interval of 10 ms before
// the ledger is asked). With stop set, its transaction stopAt cancels the
// node's context (the node stops), waits for the transaction's context to
// end, and lasts linger longer.
type countedLedger struct {
	ledger.Ledger
	submits atomic.Int32
	stopAt  int32
	stop    context.CancelFunc
	linger  time.Duration
}

func (l *countedLedger) Submit(ctx context.Context, fn string, args ...string) ([]byte, uint64, error) {
	if l.submits.Add(1) == l.stopAt {
		l.stop()
		<-ctx.Done()
		time.Sleep(l.linger)
		return nil, 0, ctx.Err()
	}
	return l.Ledger.Submit(context.WithoutCancel(ctx), fn, args...)
}

func (l *countedLedger) Evaluate(ctx context.Context, fn string, args ...string) ([]byte, error) {
	return l.Ledger.Evaluate(context.WithoutCancel(ctx), fn, args...)
}

// TestAuditAnchorStopIsNoFailure: an interval's anchoring cut short by
// the node's stop is not logged as a failure (it was: "context canceled"
// at every stop, and the last anchoring's error, no longer the one
// before, logged again); an interval ending as the node stops (a tick
// waiting with the stop) is no anchoring with the stopped context, only
// the last one follows.
func TestAuditAnchorStopIsNoFailure(t *testing.T) {
	b, n, logs, audit := unregisteredAnchoring(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const every = 10 * time.Millisecond
	l := &countedLedger{Ledger: b, stopAt: 2, stop: cancel, linger: 2 * every}
	runAuditAnchor(ctx, n, ledger.Client{L: l}, audit, auditSchedule{every: every})
	if got := l.submits.Load(); got != 3 {
		t.Errorf("%d anchorings tried, want 3 (a failed one, the one the stop cut, the last)", got)
	}
	if got := strings.Count(logs.String(), `"level":"WARN"`); got != 1 {
		t.Errorf("%d warnings, want the one failure logged once:\n%.2000s", got, logs.String())
	}
}

// downLedger is the real ledger behind a link that is down while down
// is set: every call fails as a ledger that does not answer does. calls
// counts the calls made while down.
type downLedger struct {
	ledger.Ledger
	down  atomic.Bool
	calls atomic.Int32
}

var errLedgerDown = errors.New("ledger: peer unavailable")

func (l *downLedger) isDown() bool {
	if l.down.Load() {
		l.calls.Add(1)
		return true
	}
	return false
}

func (l *downLedger) Submit(ctx context.Context, fn string, args ...string) ([]byte, uint64, error) {
	if l.isDown() {
		return nil, 0, errLedgerDown
	}
	return l.Ledger.Submit(ctx, fn, args...)
}

func (l *downLedger) Evaluate(ctx context.Context, fn string, args ...string) ([]byte, error) {
	if l.isDown() {
		return nil, errLedgerDown
	}
	return l.Ledger.Evaluate(ctx, fn, args...)
}

func (l *downLedger) Events(ctx context.Context, from uint64) (<-chan ledger.Event, error) {
	if l.isDown() {
		return nil, errLedgerDown
	}
	return l.Ledger.Events(ctx, from)
}

// TestFollowStatusLogsRepeatsRarely: the status lists' follower of the
// ledger's events, retrying every millisecond here (every second in a
// node) while the ledger is down, logs the failure once, not at every
// retry.
func TestFollowStatusLogsRepeatsRarely(t *testing.T) {
	_, b := embeddedtest.Open(t, filepath.Join(t.TempDir(), "ledger.db"))
	l := &downLedger{Ledger: b}
	l.down.Store(true)
	var logs testnode.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		followStatus(ctx, slog.New(slog.NewJSONHandler(&logs, nil)), l, time.Millisecond, time.Now, func(ledger.Event) error { return nil })
	}()
	for deadline := time.Now().Add(10 * time.Second); l.calls.Load() < 20 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if got := strings.Count(logs.String(), `"msg":"status: lost the ledger's events`); got != 1 || l.calls.Load() < 20 {
		t.Errorf("%d failures logged %d times, want at least 20 logged once:\n%.2000s", l.calls.Load(), got, logs.String())
	}
}

// endingLedger is the real ledger whose event streams end while ending
// is set: a stream open when it is set, and each stream subscribed while
// it is, at once (as the embedded ledger's stream ends when it cannot
// read its file). subscriptions counts the streams given.
type endingLedger struct {
	ledger.Ledger
	subscriptions atomic.Int32
	mu            sync.Mutex
	ending        bool
	cut           chan struct{} // closed while ending
}

func (l *endingLedger) setEnding(on bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cut == nil || l.ending && !on {
		l.cut = make(chan struct{})
	}
	if on && !l.ending {
		close(l.cut)
	}
	l.ending = on
}

func (l *endingLedger) Events(ctx context.Context, from uint64) (<-chan ledger.Event, error) {
	in, err := l.Ledger.Events(ctx, from)
	if err != nil {
		return nil, err
	}
	l.subscriptions.Add(1)
	l.mu.Lock()
	cut, ending := l.cut, l.ending
	l.mu.Unlock()
	out := make(chan ledger.Event)
	if ending {
		close(out)
		return out, nil
	}
	go func() {
		defer close(out)
		for {
			select {
			case <-cut:
				return
			case ev, ok := <-in:
				if !ok {
					return
				}
				select {
				case out <- ev:
				case <-cut:
					return
				}
			}
		}
	}()
	return out, nil
}

// TestFollowStatusLogsAtOnceAfterRecovery: the status lists' follower,
// whose event stream ends at once at every retry (a link that fails
// after each subscription), logs the failure once, on a clock the test
// drives; once the ledger answers again with no new event (the stream
// stays open), that is logged, and the next failure, the same error ten
// seconds later, is logged at once: it was taken for a repeat of the
// outage before, logged again only a minute after it.
func TestFollowStatusLogsAtOnceAfterRecovery(t *testing.T) {
	_, b := embeddedtest.Open(t, filepath.Join(t.TempDir(), "ledger.db"))
	l := &endingLedger{Ledger: b}
	l.setEnding(true)
	var mu sync.Mutex
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	var logs testnode.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		followStatus(ctx, slog.New(slog.NewJSONHandler(&logs, nil)), l, time.Millisecond, clock, func(ledger.Event) error { return nil })
	}()
	defer func() { cancel(); <-done }()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(2 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not after 10 s:\n%.3000s", what, logs.String())
			}
		}
	}
	lost := func() int { return strings.Count(logs.String(), `"msg":"status: lost the ledger's events`) }
	again := func() int { return strings.Count(logs.String(), `"msg":"status: following the ledger's events again"`) }

	waitFor("20 streams ended at once", func() bool { return l.subscriptions.Load() >= 20 })
	if lost() != 1 || again() != 0 {
		t.Fatalf("streams that end at once: the loss logged %d times, the recovery %d, want once and never:\n%.3000s", lost(), again(), logs.String())
	}
	l.setEnding(false)
	waitFor("the recovery logged", func() bool { return again() == 1 })
	mu.Lock()
	now = now.Add(10 * time.Second)
	mu.Unlock()
	l.setEnding(true)
	waitFor("the failure after the recovery logged", func() bool { return lost() == 2 })
	from := l.subscriptions.Load()
	waitFor("20 more streams ended at once", func() bool { return l.subscriptions.Load() >= from+20 })
	if lost() != 2 || again() != 1 {
		t.Errorf("the loss logged %d times, the recovery %d, want twice and once:\n%.3000s", lost(), again(), logs.String())
	}
}

// TestRegisterRegionLogsRepeatsRarely: a node whose ledger does not
// answer for two hours retries registering its region every 5 s (on a
// clock the test drives) but logs the failure 7 times (at 0, 1, 3, 7,
// 15, 31 and 63 minutes), not 1,440 times; then its region is pending
// admission (logged once) and, once admitted, registered.
func TestRegisterRegionLogsRepeatsRarely(t *testing.T) {
	ctx := context.Background()
	ca, cb := genesisOfRegionA(t)
	var logs strings.Builder
	n := nodeOfRegionB(t, slog.New(slog.NewJSONHandler(&logs, nil)))
	l := &downLedger{Ledger: cb.L}
	l.down.Store(true)
	start := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	now, attempts, admitted := start, 0, false
	clk := retryClock{now: func() time.Time { return now }, after: func(d time.Duration) <-chan time.Time {
		now = now.Add(d)
		attempts++
		switch {
		case l.down.Load() && now.Sub(start) >= 2*time.Hour:
			l.down.Store(false)
		case !admitted && now.Sub(start) >= 3*time.Hour:
			admitted = true
			if err := ca.Vote(ctx, chaincode.ActionAdmit, ledgertest.RegionB); err != nil {
				t.Fatal(err)
			}
		}
		ch := make(chan time.Time, 1)
		ch <- now
		return ch
	}}
	registerRegion(ctx, n, ledger.Client{L: l}, "embedded", clk)

	if got := strings.Count(logs.String(), `"msg":"region is not registered on the ledger yet; retrying"`); got != 7 {
		t.Errorf("the ledger's failure logged %d times over two hours, want 7:\n%.3000s", got, logs.String())
	}
	if got := strings.Count(logs.String(), `"msg":"region is pending admission on the ledger`); got != 1 {
		t.Errorf("pending admission logged %d times, want once", got)
	}
	if attempts < 2*3600/5 {
		t.Errorf("%d attempts, want one every 5 s", attempts)
	}
	if r, err := ca.Region(ctx, ledgertest.RegionB); err != nil || r.Status != chaincode.RegionActive {
		t.Errorf("region once admitted: %+v %v", r, err)
	}
}

// TestMigrateLogsRepeatsRarely: a registry file whose import fails the
// same way for two hours (a ledger that does not answer), retried every
// 5 s on a clock the test drives, is logged 7 times, not 1,440; then it
// is imported and renamed.
func TestMigrateLogsRepeatsRarely(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ca, _ := genesisOfRegionA(t)
	view := ledger.NewView(ca.L, ledger.ViewOptions{})
	go view.Run(ctx)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if r, ok := view.Region(ledgertest.RegionA); ok && r.Status == chaincode.RegionActive {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the view does not show region A active")
		}
	}
	path := filepath.Join(t.TempDir(), clientsFile)
	if err := os.WriteFile(path, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	n := &node{log: slog.New(slog.NewJSONHandler(&logs, nil)), region: ledgertest.RegionA}
	start := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	now, attempts := start, 0
	clk := retryClock{now: func() time.Time { return now }, after: func(d time.Duration) <-chan time.Time {
		now = now.Add(d)
		ch := make(chan time.Time, 1)
		ch <- now
		return ch
	}}
	migrate(ctx, n, &nodeLedger{View: view}, path, "clients", clk, func(context.Context, string) (int, int, error) {
		attempts++
		if now.Sub(start) < 2*time.Hour {
			return 0, 0, errLedgerDown
		}
		return 0, 0, nil
	})
	if got := strings.Count(logs.String(), `"msg":"importing the clients registry file failed; retrying every 5s"`); got != 7 || attempts < 2*3600/5 {
		t.Errorf("%d failures logged %d times over two hours, want 7:\n%.2000s", attempts-1, got, logs.String())
	}
	if _, err := os.Stat(path + ".imported"); err != nil {
		t.Errorf("the file imported at last is not renamed: %v", err)
	}
}

// TestAuditPruneLogsRepeatsRarely: with a retention and a sealed segment
// past it, pruning reads the anchor on the ledger at every interval; a
// ledger down fails it at every interval, and it is logged once (as the
// anchoring's failure is), not at each.
func TestAuditPruneLogsRepeatsRarely(t *testing.T) {
	ca, _ := genesisOfRegionA(t)
	audit, err := ledger.OpenAuditLog(filepath.Join(t.TempDir(), auditFile), ledger.AuditOptions{Node: "node-a", SegmentSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer audit.Close()
	if _, err := audit.Append("node_started", "", nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := audit.Anchor(context.Background(), ca); err != nil { // anchored, then sealed
		t.Fatal(err)
	}
	var logs testnode.Buffer
	n := &node{log: slog.New(slog.NewJSONHandler(&logs, nil)), region: ledgertest.RegionA}
	l := &downLedger{Ledger: ca.L}
	l.down.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		runAuditAnchor(ctx, n, ledger.Client{L: l}, audit, auditSchedule{every: 20 * time.Millisecond, retention: time.Nanosecond})
	}()
	const msg = `"msg":"audit log pruning failed; retrying at the next interval"`
	for deadline := time.Now().Add(10 * time.Second); l.calls.Load() < 10 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if got := strings.Count(logs.String(), msg); got != 1 || l.calls.Load() < 10 {
		t.Errorf("pruning failed at %d calls to the ledger, logged %d times, want once:\n%.3000s", l.calls.Load(), got, logs.String())
	}
}
