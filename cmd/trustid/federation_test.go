package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/api"
	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/holder"
	"github.com/trustid-cn/trustid/internal/qrtest"
	"github.com/trustid-cn/trustid/internal/testnode"
	"github.com/trustid-cn/trustid/internal/testport"
	"github.com/trustid-cn/trustid/internal/testredis"
	"github.com/trustid-cn/trustid/keystore"
	"github.com/trustid-cn/trustid/ledger"
	"github.com/trustid-cn/trustid/ledger/embedded"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/qrcode/redeem"
	"github.com/trustid-cn/trustid/sdk"
)

// TestTwoRegionNodes runs two real `trustid serve` nodes, regions 310000
// (A) and 320000 (B), in this process over one embedded ledger: B is
// admitted by A's vote; a relying party of A gets from A's token endpoint
// a token for B (resource = B's URL), which B accepts from its ledger view
// alone; after A rotates its key (and retires the old one) and restarts,
// B accepts A's tokens of the new key and refuses the old key's; B keeps
// accepting them after A is stopped; B refuses it once the
// consortium (B's vote) suspends A. A token of A only for A is refused by
// B throughout; with A's registered endpoint one B refuses, B introspects
// A's token at A's --peer URL; and a node with a plain-http peer off
// loopback does not start.
func TestTwoRegionNodes(t *testing.T) {
	t.Setenv("TRUSTID_KEK", testKEK)
	ctx := context.Background()
	shared := filepath.Join(t.TempDir(), "consortium.db")
	start := func(region string, extra ...string) *authNode {
		t.Helper()
		dir, addr := t.TempDir(), testport.Reserve(t)
		args := append([]string{"--data", dir, "--addr", addr, "--issuer", "http://" + addr, "--region", region, "--ledger-file", shared}, extra...)
		n := testnode.Start(t, serveMain, args...)
		return &authNode{t: t, dir: dir, base: n.Base, logs: n.Logs, node: n}
	}
	a := start("310000")
	// The test acts as each region's administrator on the shared file.
	la, err := embedded.OpenShared(shared, embedded.Options{MSPID: chaincode.RegionMSP("310000")})
	if err != nil {
		t.Fatal(err)
	}
	defer la.Close()
	lb, err := la.As(chaincode.RegionMSP("320000"))
	if err != nil {
		t.Fatal(err)
	}
	defer lb.Close()
	ca, cb := ledger.Client{L: la}, ledger.Client{L: lb}
	waitUntil(t, "A registered", func() bool {
		r, err := ca.Region(ctx, "310000")
		return err == nil && r.Status == chaincode.RegionActive
	})
	b := start("320000", "--peer", "310000="+a.base)
	waitUntil(t, "B registered", func() bool { _, err := ca.Region(ctx, "320000"); return err == nil })
	if err := ca.Vote(ctx, chaincode.ActionAdmit, "320000"); err != nil {
		t.Fatal(err)
	}

	// A relying party of A: in A's registry and on the ledger.
	keyFile := a.addClientIn("svc-a", "310000", "qr:redeem")
	jwksFiles, _ := filepath.Glob(filepath.Join(filepath.Dir(keyFile), "*.jwks.json"))
	raw, err := os.ReadFile(jwksFiles[0])
	if err != nil {
		t.Fatal(err)
	}
	var set gm.JWKS
	if err := json.Unmarshal(raw, &set); err != nil {
		t.Fatal(err)
	}
	if _, err := ca.PutRelyingParty(ctx, chaincode.RelyingParty{ClientID: "svc-a", JWKS: set, Scopes: []string{auth.ScopeQRRedeem}, Status: chaincode.EntryActive}); err != nil {
		t.Fatal(err)
	}
	token := func(resource string) string {
		form := url.Values{"grant_type": {auth.GrantClientCredentials}, "scope": {auth.ScopeQRRedeem},
			"client_assertion_type": {auth.AssertionType}, "client_assertion": {a.assertion("svc-a", keyFile)}}
		if resource != "" {
			form.Set("resource", resource)
		}
		code, m, _ := a.do("POST", auth.TokenPath, "", "application/x-www-form-urlencoded", form.Encode())
		if code != 200 {
			t.Fatalf("token (resource %q): %d %v", resource, code, m)
		}
		return m["access_token"].(string)
	}
	forB, onlyA := token(b.base), token("")
	if code, m, _ := a.do("POST", auth.TokenPath, "", "application/x-www-form-urlencoded", url.Values{"grant_type": {auth.GrantClientCredentials},
		"client_assertion_type": {auth.AssertionType}, "client_assertion": {a.assertion("svc-a", keyFile)}, "resource": {"https://evil.example"}}.Encode()); code != 400 || m["error"] != "invalid_target" {
		t.Errorf("resource not a region: %d %v", code, m)
	}
	// RFC 8707 §2: resource repeated, one per resource; a token for A
	// and B (aud both). One of them not a region: invalid_target.
	tokenFor := func(resources ...string) (int, map[string]any) {
		form := url.Values{"grant_type": {auth.GrantClientCredentials}, "scope": {auth.ScopeQRRedeem}, "resource": resources,
			"client_assertion_type": {auth.AssertionType}, "client_assertion": {a.assertion("svc-a", keyFile)}}
		code, m, _ := a.do("POST", auth.TokenPath, "", "application/x-www-form-urlencoded", form.Encode())
		return code, m
	}
	var forAB string
	if code, m := tokenFor(a.base, b.base); code != 200 {
		t.Errorf("resources A and B: %d %v", code, m)
	} else {
		forAB = m["access_token"].(string)
		var claims jwt.MapClaims
		if _, _, err := jwt.NewParser().ParseUnverified(forAB, &claims); err != nil || fmt.Sprint(claims["aud"]) != fmt.Sprint([]any{a.base, b.base}) {
			t.Errorf("resources A and B: aud %v %v", claims["aud"], err)
		}
	}
	if code, m := tokenFor(b.base, "https://evil.example"); code != 400 || m["error"] != "invalid_target" {
		t.Errorf("resources B and not a region: %d %v", code, m)
	}
	// A protected route of B: an authorized caller gets past the token
	// check to the body (qr_malformed); a refused one gets 401.
	atB := func(tok string) (int, any) {
		code, m, _ := b.do("POST", "/v1/qr/verify", tok, "application/json", `{"code":"hello"}`)
		return code, m["error"]
	}
	waitUntil(t, "B accepts A's token", func() bool { c, _ := atB(forB); return c == 400 })
	if c, e := atB(onlyA); c != 401 || e != "invalid_token" {
		t.Errorf("A's token for A only, at B: %d %v", c, e)
	}
	if c, e := atB(forAB); c != 400 || e != "qr_malformed" {
		t.Errorf("A's token for A and B, at B: %d %v", c, e)
	}
	// An ES256 access token (a client registered with --token-alg ES256)
	// signed by A's P-256 key, which A publishes on its region record.
	ksA, err := keystore.Open(filepath.Join(a.dir, keystoreFile), mustKEK(t), keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	esA, err := ksA.Active(gm.AlgES256)
	if err != nil {
		t.Fatal(err)
	}
	esForB := a.forge(esA.Signer, esA.Kid, func(_ map[string]any, c jwt.MapClaims) {
		c["sub"], c["client_id"], c["scope"], c["aud"] = "svc-a", "svc-a", auth.ScopeQRRedeem, []string{a.base, b.base}
	})
	waitUntil(t, "B accepts A's ES256 token", func() bool { c, _ := atB(esForB); return c == 400 })

	// A rotates its SM2 key and retires the old one while stopped; at its
	// next start it publishes both changes on its region record, so B
	// accepts A's tokens signed with the new key and refuses the old key's.
	sm2Kid := func(state string) string {
		r, err := ca.Region(ctx, "310000")
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range r.Keys {
			if k.Alg == gm.AlgSM2 && k.State == state {
				return k.Kid
			}
		}
		return ""
	}
	oldKid := sm2Kid(chaincode.KeyActive)
	a.node.Stop()
	a.cli("keys", "rotate", "SM2")
	a.cli("keys", "retire", "--", oldKid) // a kid may begin with "-"
	a.node = testnode.Start(t, serveMain, "--data", a.dir, "--addr", strings.TrimPrefix(a.base, "http://"), "--issuer", a.base,
		"--region", "310000", "--ledger-file", shared)
	waitUntil(t, "A's new key on the ledger", func() bool { k := sm2Kid(chaincode.KeyActive); return k != "" && k != oldKid })
	if k := sm2Kid(chaincode.KeyRetired); k != oldKid {
		t.Errorf("retired key on the record: %q, want %q", k, oldKid)
	}
	waitUntil(t, "B refusing the retired key's token", func() bool { c, _ := atB(forB); return c == 401 })
	// The new key and the old one's retirement reach B's view as separate
	// events: B accepts the new key's token once it has both.
	forB = token(b.base)
	waitUntil(t, "B accepting A's token signed with its new key", func() bool { c, e := atB(forB); return c == 400 && e == "qr_malformed" })

	// A's region registers an api endpoint B may not call (plain http off
	// loopback): the issuer of A's tokens (B takes them under that name
	// only; the test signs one with A's key, A's node being named a.base
	// here). B calls A at its --peer URL, for introspection as for every
	// call to A's node (503 endpoint_refused without the override); A,
	// whose issuer is not that name, answers the token is not its own,
	// and B keeps it inactive from then on.
	const refusedA = "http://a.internal.example"
	rA, err := ca.Region(ctx, "310000")
	if err != nil {
		t.Fatal(err)
	}
	setAPI := func(u string) {
		t.Helper()
		if _, err := ca.UpdateRegion(ctx, chaincode.RegionInput{Code: "310000", DID: rA.DID, Name: rA.Name,
			Endpoints: []chaincode.Endpoint{{Type: "api", URL: u}}}); err != nil {
			t.Fatal(err)
		}
		rA, err = ca.Region(ctx, "310000")
		if err != nil {
			t.Fatal(err)
		}
	}
	setAPI(refusedA)
	underRefused := a.forge(nil, "", func(_ map[string]any, c jwt.MapClaims) {
		c["iss"], c["sub"], c["client_id"], c["scope"], c["aud"] = refusedA, "svc-a", "svc-a", auth.ScopeQRRedeem, b.base
	})
	waitUntil(t, "B taking A's token under A's new api endpoint", func() bool { c, e := atB(underRefused); return c == 400 && e == "qr_malformed" })
	introspect := url.Values{"token": {underRefused}, "client_assertion_type": {auth.AssertionType}, "client_assertion": {b.assertion("svc-a", keyFile)}}
	if c, m, _ := b.do("POST", auth.IntrospectionPath, "", "application/x-www-form-urlencoded", introspect.Encode()); c != 200 || m["active"] != false {
		t.Errorf("A's token introspected at B through --peer, A's registered endpoint refused: %d %v", c, m)
	}
	if c, e := atB(underRefused); c != 401 || e != "invalid_token" {
		t.Errorf("the token A answered is not its own, at B: %d %v", c, e)
	}
	setAPI(a.base)
	waitUntil(t, "B taking A's tokens under a.base again", func() bool { c, e := atB(forB); return c == 400 && e == "qr_malformed" })

	a.node.Stop()
	if c, e := atB(forB); c != 400 || e != "qr_malformed" {
		t.Errorf("A stopped: %d %v", c, e)
	}
	if err := cb.Vote(ctx, chaincode.ActionSuspend, "310000"); err != nil {
		t.Fatal(err)
	}
	// Applied as soon as B's view has the vote's event.
	waitUntil(t, "B refusing A's token after the suspension", func() bool { c, e := atB(forB); return c == 401 && e == "invalid_token" })
	if _, body := get(t, b.base+"/metrics"); !regexp.MustCompile(`trustid_federation_refusals_total\{reason="region_suspended"\} [1-9]`).MatchString(body) {
		t.Errorf("the refusal is not in B's metrics")
	}

	// A peer over plain http off loopback: serve refuses to start.
	ctx2, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	_, errOut, err := run(t, ctx2, "serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0", "--region", "330000", "--ledger-file", filepath.Join(t.TempDir(), "l.db"),
		"--peer", "310000=http://node.example")
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("http peer: %v %s", err, errOut)
	}
}

// TestTwoRegionNodesRestartRace is the restart of A in TestTwoRegionNodes
// on a starved machine, made certain: the node's ledger view loads 2 s
// after it serves. Until then the registry has not loaded, a valid
// client's token request is answered 503 temporarily_unavailable and
// /readyz is 503 (docs/ledger.md), so testnode.Start waits for /readyz
// and the first request after a (re)start gets its token.
func TestTwoRegionNodesRestartRace(t *testing.T) {
	n := startAuthNode(t)
	key := n.addClient("svc-a", "SM2", auth.ScopeQRRedeem)
	n.stop()
	old := viewLedger
	t.Cleanup(func() { viewLedger = old })
	viewLedger = func(l ledger.Ledger) ledger.Ledger { return &slowViewLedger{Ledger: l, delay: 2 * time.Second} }
	n.node = testnode.Start(t, serveMain, "--data", n.dir, "--addr", strings.TrimPrefix(n.base, "http://"), "--issuer", n.base)
	form := url.Values{"grant_type": {auth.GrantClientCredentials}, "scope": {auth.ScopeQRRedeem},
		"client_assertion_type": {auth.AssertionType}, "client_assertion": {n.assertion("svc-a", key)}}
	if code, m, _ := n.do("POST", auth.TokenPath, "", "application/x-www-form-urlencoded", form.Encode()); code != 200 {
		t.Errorf("token right after the restart: %d %v", code, m)
	}
	// The node did report the wait: the test is not vacuous.
	if !regexp.MustCompile(`"msg":"not ready",.*"check":"ledger"`).MatchString(n.node.Logs.String()) {
		t.Errorf("the node's view was never not ready:\n%s", n.node.Logs.String())
	}
}

// slowViewLedger is a node's ledger as its view reads it, with the view's
// first read held back for delay.
type slowViewLedger struct {
	ledger.Ledger
	delay time.Duration
	once  sync.Once
}

func (s *slowViewLedger) Height(ctx context.Context) (uint64, error) {
	s.once.Do(func() {
		select {
		case <-ctx.Done():
		case <-time.After(s.delay):
		}
	})
	return s.Ledger.Height(ctx)
}

// TestNodePointsRegionAtItself: a node restarted at another address
// points its region's record there (its did:web and "api" endpoint) as
// the region's administrator, keeping the record's other endpoints.
func TestNodePointsRegionAtItself(t *testing.T) {
	t.Setenv("TRUSTID_KEK", testKEK)
	ctx := context.Background()
	shared, dir := filepath.Join(t.TempDir(), "consortium.db"), t.TempDir()
	start := func() (*testnode.Node, string) {
		addr := testport.Reserve(t)
		return testnode.Start(t, serveMain, "--data", dir, "--addr", addr, "--issuer", "http://"+addr, "--region", "310000", "--ledger-file", shared), "http://" + addr
	}
	n, base := start()
	l, err := embedded.OpenShared(shared, embedded.Options{MSPID: chaincode.RegionMSP("310000")})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c := ledger.Client{L: l}
	record := func() chaincode.Region {
		r, err := c.Region(ctx, "310000")
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	waitUntil(t, "A registered", func() bool { _, err := c.Region(ctx, "310000"); return err == nil })
	r := record()
	if r.DID != regionDID(base, "310000") || apiEndpoints(r) != base {
		t.Fatalf("registered record: %s %v", r.DID, r.Endpoints)
	}
	web := chaincode.Endpoint{Type: "web", URL: "https://www.example.gov.cn"}
	if _, err := c.UpdateRegion(ctx, chaincode.RegionInput{Code: "310000", DID: r.DID, Name: "Shanghai", Endpoints: append(r.Endpoints, web)}); err != nil {
		t.Fatal(err)
	}
	n.Stop()
	_, moved := start()
	waitUntil(t, "A's record naming its new address", func() bool { return apiEndpoints(record()) == moved })
	r = record()
	if r.DID != regionDID(moved, "310000") || r.Name != "Shanghai" || !slices.Contains(r.Endpoints, web) || len(r.Endpoints) != 2 {
		t.Errorf("record after the move: %s %q %v", r.DID, r.Name, r.Endpoints)
	}
}

// apiEndpoints returns the URLs of the record's "api" endpoints, joined
// by spaces.
func apiEndpoints(r chaincode.Region) string {
	var urls []string
	for _, e := range r.Endpoints {
		if e.Type == "api" {
			urls = append(urls, e.URL)
		}
	}
	return strings.Join(urls, " ")
}

// addClientIn registers a client of region with an SM2 key and returns
// the key file.
func (n *authNode) addClientIn(id, region, scopes string) string {
	n.t.Helper()
	keys := filepath.Join(n.dir, "rp-"+id)
	out := n.cli("clients", "keygen", "--alg", "SM2", "--out", keys)
	kid := regexp.MustCompile(`kid (\S+)`).FindStringSubmatch(out)[1]
	n.cli("clients", "add", "--id", id, "--name", "RP "+id, "--region", region, "--scopes", scopes,
		"--jwks-file", filepath.Join(keys, kid+".jwks.json"))
	return filepath.Join(keys, kid+".key.pem")
}

// verifySDJWT sends an SD-JWT VC to the node's POST /credentials/verify
// and returns the status and the first error's code ("" for none).
func (n *authNode) verifySDJWT(cred string) (int, string) {
	n.t.Helper()
	body, _ := json.Marshal(map[string]string{"verifiableCredential": "data:application/dc+sd-jwt," + cred})
	c, m, _ := n.do("POST", "/credentials/verify", "", "application/json", string(body))
	if errs, _ := m["errors"].([]any); len(errs) > 0 {
		e, _ := errs[0].(map[string]any)
		code, _ := e["code"].(string)
		return c, code
	}
	return c, ""
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestTwoRegionStatusAndIntrospection runs two real nodes, A (310000) and
// B (320000), over one embedded ledger, for what B must learn from A's
// node: a static code and a device binding of A verify at B with their
// status from A's published lists (checked against the heads A anchored),
// and the binding is refused at B once A's revocation is anchored; B
// introspects A's token at A node to node (active, then inactive once A
// revoked it, and B's protected routes refuse it from then on); A refuses
// a forged, a replayed and a suspended region's assertion, and a token
// that is not its own; A's identity credential verifies at B, and is
// refused as revoked once A revoked it (with the binding: one status
// entry); with A stopped, B still verifies the static code and the
// credential's status from its cached lists and answers introspection
// 503; once the consortium suspends A, B refuses A's credential
// (region_suspended).
func TestTwoRegionStatusAndIntrospection(t *testing.T) {
	t.Setenv("TRUSTID_KEK", testKEK)
	ctx := context.Background()
	a, b, la := twoRegionNodes(t)
	ca := ledger.Client{L: la}

	// A's enrolling client and a relying party of A.
	f := &enrollFixture{authNode: a}
	f.enrollTok = a.tokenFor("app-backend", a.addClientArgs("app-backend", auth.ScopeEnroll+","+auth.ScopeStatusWrite))
	svcKey := a.addClientIn("svc-a", "310000", auth.ScopeQRRedeem)
	tokenForB := func() string {
		form := url.Values{"grant_type": {auth.GrantClientCredentials}, "scope": {auth.ScopeQRRedeem}, "resource": {b.base},
			"client_assertion_type": {auth.AssertionType}, "client_assertion": {a.assertion("svc-a", svcKey)}}
		code, m, _ := a.do("POST", auth.TokenPath, "", "application/x-www-form-urlencoded", form.Encode())
		if code != 200 {
			t.Fatalf("token for B: %d %v", code, m)
		}
		return m["access_token"].(string)
	}

	// A holder of A with a phone, and one without (a static code).
	p := newPerson(t, "11010519900307123", "张三")
	code, r, m := f.enroll(f.enrollBody(p, "", "", nil))
	if code != 201 || len(r.QRBinding) == 0 {
		t.Fatalf("enroll at A: %d %v", code, m)
	}
	copyStatic, _ := f.enrollStatic(t, newPerson(t, "31010419851201234", "李四"), "", false)
	static := copyStatic.StaticCode.Code

	// At B: the holder asks B's node for a code with A's binding (B checks
	// the binding's signature with A's key and its status in A's list),
	// and B verifies A's static code before rendering it.
	holderAtB := func() (int, any) {
		nonce := make([]byte, 16)
		rand.Read(nonce)
		req := qrcode.HolderRequest{Purpose: qrcode.PurposeOnlineCode, Binding: r.QRBinding, Time: time.Now().Unix(), Nonce: nonce, Region: "320000"}
		if err := qrcode.SignHolderRequest(rand.Reader, p.device, &req); err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(req)
		c, m, _ := b.do("POST", "/v1/qr", "", "application/json", string(body))
		return c, m["error"]
	}
	staticAtB := func() (int, any) {
		c, m, _ := b.do("POST", "/v1/qr/static", "", "application/x-www-form-urlencoded", "code="+url.QueryEscape(static))
		return c, m["error"]
	}
	waitUntil(t, "A's binding verifying at B", func() bool { c, _ := holderAtB(); return c == 201 })
	waitUntil(t, "A's static code verifying at B", func() bool { c, _ := staticAtB(); return c == 200 })
	// A's identity credential at B: A's key from B's view, A's status list
	// from A's registered endpoint, checked against A's anchored head.
	if c, e := b.verifySDJWT(r.IdentityCredential.Credential); c != 200 || e != "" {
		t.Errorf("A's identity credential at B: %d %s", c, e)
	}

	// A revokes the binding: refused at B once A anchored the change.
	sb, _ := json.Marshal(map[string]string{"action": "revoke"})
	if c, m, _ := f.do("POST", "/v1/credentials/"+r.BindingCredential.ID+"/status", f.enrollTok, "application/json", string(sb)); c != 200 {
		t.Fatalf("revoke at A: %d %v", c, m)
	}
	waitUntil(t, "A's revocation refused at B", func() bool { c, e := holderAtB(); return c == 403 && e == "qr_revoked" })
	if c, e := staticAtB(); c != 200 {
		t.Errorf("A's unrevoked static code at B after another revocation: %d %v", c, e)
	}
	// The binding and the identity credential share one status entry:
	// B fetches A's list again (its anchored head moved) and sees it.
	if c, e := b.verifySDJWT(r.IdentityCredential.Credential); c != 400 || e != "revoked" {
		t.Errorf("A's revoked identity credential at B: %d %s", c, e)
	}

	// Introspection of A's token at B, asked of A node to node.
	introspectAtB := func(tok string) (int, map[string]any) {
		form := url.Values{"token": {tok}, "client_assertion_type": {auth.AssertionType}, "client_assertion": {b.assertion("svc-a", svcKey)}}
		c, m, _ := b.do("POST", auth.IntrospectionPath, "", "application/x-www-form-urlencoded", form.Encode())
		return c, m
	}
	atB := func(tok string) (int, any) {
		c, m, _ := b.do("POST", "/v1/qr/verify", tok, "application/json", `{"code":"hello"}`)
		return c, m["error"]
	}
	forB, forB2 := tokenForB(), tokenForB()
	waitUntil(t, "B accepting A's token", func() bool { c, _ := atB(forB); return c == 400 })
	if c, m := introspectAtB(forB); c != 200 || m["active"] != true || m["client_id"] != "svc-a" || m["iss"] != a.base || m["aud"] != b.base || m["scope"] != auth.ScopeQRRedeem {
		t.Errorf("A's live token introspected at B: %d %v", c, m)
	}
	revoke := url.Values{"token": {forB}, "client_assertion_type": {auth.AssertionType}, "client_assertion": {a.assertion("svc-a", svcKey)}}
	if c, m, _ := a.do("POST", auth.RevocationPath, "", "application/x-www-form-urlencoded", revoke.Encode()); c != 200 {
		t.Fatalf("revoke at A: %d %v", c, m)
	}
	if c, m := introspectAtB(forB); c != 200 || m["active"] != false || len(m) != 1 {
		t.Errorf("A's revoked token introspected at B: %d %v", c, m)
	}
	// Learned by B: its protected routes refuse the token from now on.
	waitUntil(t, "B refusing the revoked token", func() bool { c, e := atB(forB); return c == 401 && e == "invalid_token" })
	if c, _ := atB(forB2); c != 400 {
		t.Errorf("A's other token at B: %d", c)
	}

	// A's peer endpoint: an assertion of B's registered key works once;
	// replayed, forged or about a token not of A, it is refused.
	ksB, err := keystore.Open(filepath.Join(b.dir, keystoreFile), mustKEK(t), keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	keyB, err := ksB.Active(gm.AlgSM2)
	if err != nil {
		t.Fatal(err)
	}
	peerReq := func(signer crypto.Signer, kid, tok string) *http.Request {
		body, _ := json.Marshal(auth.PeerIntrospectRequest{Token: tok})
		req, _ := http.NewRequest("POST", a.base+auth.PeerIntrospectionPath, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		na := &redeem.NodeAssertions{Region: "320000", SigningKey: redeem.FixedKey(signer, kid)}
		if err := na.Authorize(ctx, req, "310000"); err != nil {
			t.Fatal(err)
		}
		return req
	}
	send := func(req *http.Request) (int, map[string]any) {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	req := peerReq(keyB.Signer, keyB.Kid, forB2)
	authz := req.Header.Get("Authorization")
	if c, m := send(req); c != 200 || m["active"] != true {
		t.Errorf("B's assertion at A: %d %v", c, m)
	}
	replay := peerReq(keyB.Signer, keyB.Kid, forB2)
	replay.Header.Set("Authorization", authz)
	if c, m := send(replay); c != 401 || m["error"] != "invalid_client" {
		t.Errorf("replayed assertion: %d %v", c, m)
	}
	forged, _ := gm.GenerateKey(rand.Reader)
	if c, m := send(peerReq(forged, keyB.Kid, forB2)); c != 401 || m["error"] != "invalid_client" {
		t.Errorf("forged assertion: %d %v", c, m)
	}
	// The assertion is sent as a Bearer credential in the Authorization
	// header, so the 401 challenges that scheme (RFC 6749 §5.2: "MUST
	// ... include the WWW-Authenticate response header field matching the
	// authentication scheme used by the client"), as the peer redemption
	// route's does.
	if resp, err := http.DefaultClient.Do(peerReq(forged, keyB.Kid, forB2)); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Bearer error="invalid_client"` {
		t.Errorf("forged assertion: %d, WWW-Authenticate %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	// The assertion's header is read as every route reads a Bearer
	// credential (api.TestQRPeerAuthorizationHeader at the other peer
	// route): two headers, the first good, are 400 invalid_request; the
	// scheme in another case is taken.
	two := peerReq(keyB.Signer, keyB.Kid, forB2)
	two.Header.Add("Authorization", "Bearer x")
	if resp, err := http.DefaultClient.Do(two); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode != 400 || resp.Header.Get("WWW-Authenticate") != `Bearer error="invalid_request"` {
		t.Errorf("two Authorization headers: %d, WWW-Authenticate %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	lower := peerReq(keyB.Signer, keyB.Kid, forB2)
	lower.Header.Set("Authorization", "bearer "+strings.TrimPrefix(lower.Header.Get("Authorization"), "Bearer "))
	if c, m := send(lower); c != 200 || m["active"] != true {
		t.Errorf("the scheme in lower case: %d %v", c, m)
	}
	// A token A did not issue is not active (RFC 7662 §2.2), counted.
	notA := b.forge(keyB.Signer, keyB.Kid, nil)
	if c, m := send(peerReq(keyB.Signer, keyB.Kid, notA)); c != 200 || m["active"] != false || len(m) != 1 {
		t.Errorf("a token not of A: %d %v", c, m)
	}
	// Nor is one signed by A's key under its region's other name (its
	// DID): B takes A's tokens under A's api endpoint only, and answers
	// it inactive without asking A.
	regA, err := ca.Region(ctx, "310000")
	if err != nil {
		t.Fatal(err)
	}
	underDID := a.forge(nil, "", func(_ map[string]any, c jwt.MapClaims) {
		c["iss"], c["aud"], c["client_id"], c["sub"], c["scope"] = regA.DID, []string{regA.DID, b.base}, "svc-a", "svc-a", auth.ScopeQRRedeem
	})
	if c, m := introspectAtB(underDID); c != 200 || m["active"] != false || len(m) != 1 {
		t.Errorf("a token under A's DID introspected at B: %d %v", c, m)
	}
	// An expired assertion, and one for another node: refused, each
	// counted by its reason.
	for _, x := range []struct {
		na       *redeem.NodeAssertions
		audience string
	}{
		{&redeem.NodeAssertions{Region: "320000", SigningKey: redeem.FixedKey(keyB.Signer, keyB.Kid), Now: func() time.Time { return time.Now().Add(-2 * time.Minute) }}, "310000"},
		{&redeem.NodeAssertions{Region: "320000", SigningKey: redeem.FixedKey(keyB.Signer, keyB.Kid)}, "330000"},
	} {
		body, _ := json.Marshal(auth.PeerIntrospectRequest{Token: forB2})
		req, _ := http.NewRequest("POST", a.base+auth.PeerIntrospectionPath, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if err := x.na.Authorize(ctx, req, x.audience); err != nil {
			t.Fatal(err)
		}
		if c, m := send(req); c != 401 || m["error"] != "invalid_client" {
			t.Errorf("assertion for %s: %d %v", x.audience, c, m)
		}
	}
	// A code of another region forwarded to A's peer redemption route: a
	// node never forwards what was forwarded to it; refused by name and
	// counted.
	foreign, _ := json.Marshal(redeem.PeerRedeemRequest{Code: qrcode.OnlineCode{Region: 330000}.String(), ClientID: "svc-b"})
	fwd, _ := http.NewRequest("POST", a.base+redeem.PeerRedeemPath, bytes.NewReader(foreign))
	fwd.Header.Set("Content-Type", "application/json")
	if err := (&redeem.NodeAssertions{Region: "320000", SigningKey: redeem.FixedKey(keyB.Signer, keyB.Kid)}).Authorize(ctx, fwd, "310000"); err != nil {
		t.Fatal(err)
	}
	if c, m := send(fwd); c != 422 || m["error"] != "qr_wrong_region" {
		t.Errorf("a forwarded code of another region: %d %v", c, m)
	}

	// A suspends B: A refuses B's assertions.
	if err := ca.Vote(ctx, chaincode.ActionSuspend, "320000"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "A refusing the suspended region", func() bool {
		c, _ := send(peerReq(keyB.Signer, keyB.Kid, forB2))
		return c == 401
	})
	_, body := get(t, a.base+"/metrics")
	for _, reason := range []string{"assertion_replayed", "assertion_invalid", "assertion_expired", "assertion_audience", "token_not_issued_here", "region_suspended", "wrong_region"} {
		if !regexp.MustCompile(`trustid_federation_refusals_total\{reason="` + reason + `"\} [1-9]`).MatchString(body) {
			t.Errorf("A's metrics lack the refusal %s", reason)
		}
	}
	if err := ca.Vote(ctx, chaincode.ActionReinstate, "320000"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "B reinstated", func() bool { c, _ := send(peerReq(keyB.Signer, keyB.Kid, forB2)); return c == 200 })

	// Answers that are not A's signed answer to B's request: A's region
	// administrator points A's api endpoint at a front that passes A's
	// answers on without their signature, or with the signature of an
	// earlier answer; B refuses both (503) and counts them.
	var mode atomic.Value // "strip" or "replay"
	var lastSig atomic.Value
	var through atomic.Int32 // answers the front passed on
	target, _ := url.Parse(a.base)
	front := httptest.NewServer(&httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(target) },
		ModifyResponse: func(resp *http.Response) error {
			through.Add(1)
			sig := resp.Header.Get(redeem.PeerAnswerHeader)
			switch mode.Load() {
			case "strip":
				resp.Header.Del(redeem.PeerAnswerHeader)
			case "replay":
				if old, ok := lastSig.Load().(string); ok && sig != "" {
					resp.Header.Set(redeem.PeerAnswerHeader, old)
				}
			}
			if sig != "" {
				lastSig.Store(sig)
			}
			return nil
		},
	})
	defer front.Close()
	setAPI := func(u string) {
		t.Helper()
		r, err := ca.Region(ctx, "310000")
		if err != nil {
			t.Fatal(err)
		}
		eps := []chaincode.Endpoint{{Type: "api", URL: u}}
		if _, err := ca.UpdateRegion(ctx, chaincode.RegionInput{Code: "310000", DID: r.DID, Name: r.Name, Endpoints: eps}); err != nil {
			t.Fatal(err)
		}
	}
	// A's tokens are now issued under the front's URL (B takes them under
	// A's api endpoint only): the test signs them with A's key, a new one
	// for each call, since B keeps one A answered inactive as such (A,
	// whose issuer is a.base here, answers that they are not its own).
	underFront := func() string {
		return a.forge(nil, "", func(_ map[string]any, c jwt.MapClaims) {
			c["iss"], c["aud"], c["client_id"], c["sub"], c["scope"] = front.URL, b.base, "svc-a", "svc-a", auth.ScopeQRRedeem
		})
	}
	mode.Store("pass")
	setAPI(front.URL)
	// Until B reads the new endpoint from the registry, it refuses the
	// token itself: wait for an answer that came through the front.
	waitUntil(t, "B introspecting through the front", func() bool {
		n := through.Load()
		c, m := introspectAtB(underFront())
		return c == 200 && m["active"] == false && through.Load() > n
	})
	for _, x := range []struct{ mode, reason string }{{"strip", "answer_unsigned"}, {"replay", "answer_mismatch"}} {
		mode.Store(x.mode)
		if c, m := introspectAtB(underFront()); c != 503 || m["error"] != "temporarily_unavailable" {
			t.Errorf("%s: %d %v", x.mode, c, m)
		}
		if _, body := get(t, b.base+"/metrics"); !regexp.MustCompile(`trustid_federation_refusals_total\{reason="` + x.reason + `"\} [1-9]`).MatchString(body) {
			t.Errorf("B's metrics lack %s", x.reason)
		}
	}
	setAPI(a.base)
	waitUntil(t, "B taking A's tokens under a.base again", func() bool { c, m := introspectAtB(forB2); return c == 200 && m["active"] == true })

	// A stopped: B still verifies A's static code from its cached list,
	// and answers introspection of A's token "temporarily unavailable".
	a.node.Stop()
	if c, e := staticAtB(); c != 200 {
		t.Errorf("A stopped, A's static code at B: %d %v", c, e)
	}
	if c, e := b.verifySDJWT(r.IdentityCredential.Credential); c != 400 || e != "revoked" {
		t.Errorf("A stopped, A's revoked identity credential at B: %d %s", c, e)
	}
	if c, m := introspectAtB(forB2); c != 503 || m["error"] != "temporarily_unavailable" {
		t.Errorf("A stopped, introspection at B: %d %v", c, m)
	}
	if _, body := get(t, b.base+"/metrics"); !regexp.MustCompile(`trustid_federation_refusals_total\{reason="peer_unavailable"\} [1-9]`).MatchString(body) {
		t.Errorf("B's metrics lack peer_unavailable")
	}

	// The consortium (B's vote) suspends A: B refuses A's credential
	// because A's region is suspended, before looking at its status.
	lb, err := la.As(chaincode.RegionMSP("320000"))
	if err != nil {
		t.Fatal(err)
	}
	defer lb.Close()
	if err := (ledger.Client{L: lb}).Vote(ctx, chaincode.ActionSuspend, "310000"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "B refusing A's credential as of a suspended region", func() bool {
		c, e := b.verifySDJWT(r.IdentityCredential.Credential)
		return c == 400 && e == "region_suspended"
	})
}

// TestRegistryEndpointsRefusedInProduction runs a node of region A in
// loopback development mode and one of region B in production (public
// URL https, listening on loopback behind a proxy), over one embedded
// ledger. A's region administrator registers endpoints that point into
// B's own loopback: B, asked to introspect A's token, calls none of them
// (plain http is refused before any request, an https loopback address at
// the dial), answers 503 and counts each refusal by its reason; a
// production node refuses a plain-http --peer at start.
func TestRegistryEndpointsRefusedInProduction(t *testing.T) {
	t.Setenv("TRUSTID_KEK", testKEK)
	ctx := context.Background()
	shared := filepath.Join(t.TempDir(), "consortium.db")
	start := func(region, issuer string) *authNode {
		t.Helper()
		dir, addr := t.TempDir(), testport.Reserve(t)
		if issuer == "" {
			issuer = "http://" + addr
		}
		n := testnode.Start(t, serveMain, "--data", dir, "--addr", addr, "--issuer", issuer, "--region", region, "--ledger-file", shared)
		return &authNode{t: t, dir: dir, base: n.Base, logs: n.Logs, node: n}
	}
	a := start("310000", "")
	la, err := embedded.OpenShared(shared, embedded.Options{MSPID: chaincode.RegionMSP("310000")})
	if err != nil {
		t.Fatal(err)
	}
	defer la.Close()
	ca := ledger.Client{L: la}
	waitUntil(t, "A registered", func() bool {
		r, err := ca.Region(ctx, "310000")
		return err == nil && r.Status == chaincode.RegionActive
	})
	const issuerB = "https://b.trustid.test"
	b := start("320000", issuerB)
	if !strings.Contains(a.logs.String(), "loopback development mode") || strings.Contains(b.logs.String(), "loopback development mode") {
		t.Errorf("modes: A's log %v, B's log %v", strings.Contains(a.logs.String(), "loopback development mode"), strings.Contains(b.logs.String(), "loopback development mode"))
	}
	waitUntil(t, "B registered", func() bool { _, err := ca.Region(ctx, "320000"); return err == nil })
	if err := ca.Vote(ctx, chaincode.ActionAdmit, "320000"); err != nil {
		t.Fatal(err)
	}

	svcKey := a.addClientIn("svc-a", "310000", auth.ScopeQRRedeem)
	form := url.Values{"grant_type": {auth.GrantClientCredentials}, "scope": {auth.ScopeQRRedeem}, "resource": {issuerB},
		"client_assertion_type": {auth.AssertionType}, "client_assertion": {a.assertion("svc-a", svcKey)}}
	c, m, _ := a.do("POST", auth.TokenPath, "", "application/x-www-form-urlencoded", form.Encode())
	if c != 200 {
		t.Fatalf("token for B: %d %v", c, m)
	}
	forB := m["access_token"].(string)
	// B's token endpoint is its public URL's.
	bAsserted := &authNode{t: t, dir: b.dir, base: issuerB}
	introspectAtB := func(tok string) (int, map[string]any) {
		form := url.Values{"token": {tok}, "client_assertion_type": {auth.AssertionType}, "client_assertion": {bAsserted.assertion("svc-a", svcKey)}}
		c, m, _ := b.do("POST", auth.IntrospectionPath, "", "application/x-www-form-urlencoded", form.Encode())
		return c, m
	}
	atB := func() int {
		c, _, _ := b.do("POST", "/v1/qr/verify", forB, "application/json", `{"code":"hello"}`)
		return c
	}
	waitUntil(t, "B accepting A's token", func() bool { return atB() == 400 })

	var hits atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hits.Add(1); w.Write([]byte(`{"active":true}`)) })
	plain, tlsSrv := httptest.NewServer(h), httptest.NewTLSServer(h)
	defer plain.Close()
	defer tlsSrv.Close()
	port := tlsSrv.URL[strings.LastIndex(tlsSrv.URL, ":")+1:]
	for _, x := range []struct{ url, reason string }{
		{a.base, "endpoint_refused"}, // A's own registration: http on loopback
		{plain.URL, "endpoint_refused"},
		{tlsSrv.URL, "address_not_allowed"},
		{"https://localhost:" + port, "address_not_allowed"},
	} {
		// A's token names B's api endpoint as its audience (resource) and
		// A's registered api endpoint, x.url, as its issuer (the one name
		// B takes A's tokens under), signed with A's key: B takes it for
		// A's region's and gets to the call it must refuse.
		r, err := ca.Region(ctx, "310000")
		if err != nil {
			t.Fatal(err)
		}
		eps := []chaincode.Endpoint{{Type: "api", URL: x.url}}
		if _, err := ca.UpdateRegion(ctx, chaincode.RegionInput{Code: "310000", DID: r.DID, Name: r.Name, Endpoints: eps}); err != nil {
			t.Fatal(err)
		}
		tok := forB
		if x.url != a.base {
			tok = a.forge(nil, "", func(_ map[string]any, c jwt.MapClaims) {
				c["iss"], c["sub"], c["client_id"], c["scope"], c["aud"] = x.url, "svc-a", "svc-a", auth.ScopeQRRedeem, issuerB
			})
		}
		waitUntil(t, "B refusing "+x.url, func() bool {
			c, m := introspectAtB(tok)
			if c != 503 || m["error"] != "temporarily_unavailable" {
				return false
			}
			_, body := get(t, b.base+"/metrics")
			return regexp.MustCompile(`trustid_federation_refusals_total\{reason="` + x.reason + `"\} [1-9]`).MatchString(body)
		})
		if n := hits.Load(); n != 0 {
			t.Fatalf("%s: %d requests reached the endpoint", x.url, n)
		}
	}

	// A production node refuses a plain-http peer, loopback included.
	ctx2, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	_, errOut, err := run(t, ctx2, "serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0", "--issuer", "https://c.trustid.test", "--region", "330000",
		"--ledger-file", filepath.Join(t.TempDir(), "l.db"), "--peer", "310000="+a.base)
	if err == nil || !strings.Contains(err.Error(), "loopback development mode") {
		t.Errorf("http peer of a production node: %v %s", err, errOut)
	}
}

// TestTwoRegionOfflineCodes runs two real nodes, A (310000) and B
// (320000), sharing the national pairwise key, over one embedded ledger:
// a relying party of B posts offline codes of A's holders to B's
// POST /v1/qr/verify, which verifies them with A's key from B's registry
// view and their status from A's lists anchored on the ledger, and
// answers the party's own pairwise ID (stable across codes, another for
// another party); the same code twice is refused (qr_replayed), a stale
// one (qr_stale) and a tampered one too; A's revocation is refused at B
// once anchored; with A stopped, B still verifies A's other holder.
func TestTwoRegionOfflineCodes(t *testing.T) {
	t.Setenv("TRUSTID_KEK", testKEK)
	t.Setenv("TRUSTID_PAIRWISE_KEY", strings.Repeat("5a", 32))
	t.Setenv("TRUSTID_PAIRWISE_KEY_VERSION", "1")
	a, b, _ := twoRegionNodes(t)

	f := &enrollFixture{authNode: a}
	f.enrollTok = a.tokenFor("app-backend", a.addClientArgs("app-backend", auth.ScopeEnroll+","+auth.ScopeStatusWrite))
	p, q := newPerson(t, "11010519900307123", "张三"), newPerson(t, "31010419851201234", "李四")
	code, rp, m := f.enroll(f.enrollBody(p, "", "", nil))
	if code != 201 || len(rp.QRBinding) == 0 {
		t.Fatalf("enroll p at A: %d %v", code, m)
	}
	code, rq, m := f.enroll(f.enrollBody(q, "", "", nil))
	if code != 201 || len(rq.QRBinding) == 0 {
		t.Fatalf("enroll q at A: %d %v", code, m)
	}
	hotel := b.tokenFor("hotel-b", b.addClientIn("hotel-b", "320000", auth.ScopeQRRedeem))
	bank := b.tokenFor("bank-b", b.addClientIn("bank-b", "320000", auth.ScopeQRRedeem))

	counter := uint64(0)
	offline := func(who *person, binding []byte, at time.Time) string {
		t.Helper()
		counter++
		c, err := qrcode.NewOffline(rand.Reader, who.device, binding, nil, qrcode.Presentation{Time: at, Counter: counter})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	verifyAtB := func(tok, c string) (int, map[string]any) {
		body, _ := json.Marshal(map[string]string{"code": c})
		code, m, _ := b.do("POST", "/v1/qr/verify", tok, "application/json", string(body))
		return code, m
	}
	var first map[string]any
	waitUntil(t, "A's offline code verifying at B", func() bool {
		c, m := verifyAtB(hotel, offline(p, rp.QRBinding, time.Now()))
		first = m
		return c == 200
	})
	if first["region"] != "310000" || first["pairwise_id"] == "" || first["assurance_level"] == nil {
		t.Errorf("A's offline code at B: %v", first)
	}
	counter++
	pres := qrcode.Presentation{Time: time.Now(), Counter: counter}
	c1, err := qrcode.NewOffline(rand.Reader, p.device, rp.QRBinding, nil, pres)
	if err != nil {
		t.Fatal(err)
	}
	if c, m := verifyAtB(hotel, reorderOuterMap(t, c1)); c != 400 || m["error"] != "qr_malformed" {
		t.Errorf("the code with its outer map re-encoded: %d %v", c, m)
	}
	if c, m := verifyAtB(hotel, c1); c != 200 || m["pairwise_id"] != first["pairwise_id"] {
		t.Errorf("a second code of the holder: %d %v, want pairwise %v", c, m, first["pairwise_id"])
	}
	if c, m := verifyAtB(hotel, c1); c != 409 || m["error"] != "qr_replayed" {
		t.Errorf("the same code again: %d %v", c, m)
	}
	if c, m := verifyAtB(hotel, reorderOuterMap(t, c1)); c != 400 || m["error"] != "qr_malformed" {
		t.Errorf("the spent code re-encoded: %d %v", c, m)
	}
	// The same presentation signed again: another text, the same signed
	// content, so the same presentation.
	if c2, err := qrcode.NewOffline(rand.Reader, p.device, rp.QRBinding, nil, pres); err != nil || c2 == c1 {
		t.Fatalf("re-signed: %v", err)
	} else if c, m := verifyAtB(bank, c2); c != 409 || m["error"] != "qr_replayed" {
		t.Errorf("the same presentation signed again: %d %v", c, m)
	}
	if c, m := verifyAtB(bank, offline(p, rp.QRBinding, time.Now())); c != 200 || m["pairwise_id"] == first["pairwise_id"] || m["pairwise_id"] == "" {
		t.Errorf("another party: %d %v", c, m)
	}
	if c, m := verifyAtB(hotel, offline(p, rp.QRBinding, time.Now().Add(-5*time.Minute))); c != 400 || m["error"] != "qr_stale" {
		t.Errorf("a stale code: %d %v", c, m)
	}
	other := newPerson(t, "44030419900101123", "王五") // not the binding's device
	forged := []byte(offline(p, rp.QRBinding, time.Now()))
	forged[len(forged)-3] ^= 1
	for name, c := range map[string]string{"tampered": string(forged), "no token": ""} {
		tok := hotel
		if c == "" {
			tok, c = "", offline(p, rp.QRBinding, time.Now())
		}
		if code, m := verifyAtB(tok, c); code < 400 || code >= 500 {
			t.Errorf("%s: %d %v", name, code, m)
		}
	}
	if _, err := qrcode.NewOffline(rand.Reader, other.device, rp.QRBinding, nil, qrcode.Presentation{Time: time.Now(), Counter: 1}); err == nil {
		t.Error("an offline code signed by another device")
	}

	// A revokes p's binding: refused at B once A anchored the change.
	sb, _ := json.Marshal(map[string]string{"action": "revoke"})
	if c, m, _ := f.do("POST", "/v1/credentials/"+rp.BindingCredential.ID+"/status", f.enrollTok, "application/json", string(sb)); c != 200 {
		t.Fatalf("revoke at A: %d %v", c, m)
	}
	waitUntil(t, "A's revocation refused at B", func() bool {
		c, m := verifyAtB(hotel, offline(p, rp.QRBinding, time.Now()))
		return c == 403 && m["error"] == "qr_revoked"
	})
	if c, m := verifyAtB(hotel, offline(q, rq.QRBinding, time.Now())); c != 200 {
		t.Errorf("A's other holder at B: %d %v", c, m)
	}

	// A stopped: B verifies from the registry and its cached lists.
	a.node.Stop()
	if c, m := verifyAtB(hotel, offline(q, rq.QRBinding, time.Now())); c != 200 || m["region"] != "310000" {
		t.Errorf("A stopped, A's holder at B: %d %v", c, m)
	}
	if c, m := verifyAtB(hotel, offline(p, rp.QRBinding, time.Now())); c != 403 || m["error"] != "qr_revoked" {
		t.Errorf("A stopped, A's revoked holder at B: %d %v", c, m)
	}
}

// reorderOuterMap is qrtest.ReorderOuter, failing t on error.
func reorderOuterMap(t *testing.T, code string) string {
	t.Helper()
	out, err := qrtest.ReorderOuter(code)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// twoRegionNodes starts real nodes of regions 310000 (A) and 320000 (B)
// over one embedded ledger file, B admitted by A's vote; la is that
// ledger as A's administrator (closed with the test).
func twoRegionNodes(t *testing.T) (a, b *authNode, la *embedded.Ledger) {
	t.Helper()
	ctx := context.Background()
	shared := filepath.Join(t.TempDir(), "consortium.db")
	start := func(region string) *authNode {
		t.Helper()
		dir, addr := t.TempDir(), testport.Reserve(t)
		n := testnode.Start(t, serveMain, "--data", dir, "--addr", addr, "--issuer", "http://"+addr, "--region", region, "--ledger-file", shared)
		return &authNode{t: t, dir: dir, base: n.Base, logs: n.Logs, node: n}
	}
	a = start("310000")
	la, err := embedded.OpenShared(shared, embedded.Options{MSPID: chaincode.RegionMSP("310000")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { la.Close() })
	ca := ledger.Client{L: la}
	waitUntil(t, "A registered", func() bool {
		r, err := ca.Region(ctx, "310000")
		return err == nil && r.Status == chaincode.RegionActive
	})
	b = start("320000")
	waitUntil(t, "B registered", func() bool { _, err := ca.Region(ctx, "320000"); return err == nil })
	if err := ca.Vote(ctx, chaincode.ActionAdmit, "320000"); err != nil {
		t.Fatal(err)
	}
	return a, b, la
}

// TestDelegatedOfflineCodes: a guardian's offline code carrying a
// delegation (issued by region A's node key) verifies at POST
// /v1/qr/verify in its own region (A) and in another (B, from A's key in
// B's registry view and A's status lists anchored on the ledger): the
// answer is the calling party's pairwise ID for the principal (the one
// the principal's own code gives it), act the party's pairwise ID for
// the guardian (the one the guardian's own code gives it), the action and
// the relationship, no claim; the relying-party SDK reads the same. An
// action outside the scope (403 qr_delegation_scope), an expired
// delegation (403 qr_delegation_expired), the principal presenting the
// guardian's delegation (403 qr_delegation_invalid) and, once A revokes
// it, the delegation's status entry (403 qr_revoked) are refused at both
// nodes, while the guardian's own code still verifies; an action asked
// of an online code is refused (400), the code not spent. The delegation has a status entry of its own:
// a third enrollment's binding entry (no node API issues delegations).
func TestDelegatedOfflineCodes(t *testing.T) {
	t.Setenv("TRUSTID_KEK", testKEK)
	t.Setenv("TRUSTID_PAIRWISE_KEY", strings.Repeat("5a", 32))
	t.Setenv("TRUSTID_PAIRWISE_KEY_VERSION", "1")
	a, b, _ := twoRegionNodes(t)

	f := &enrollFixture{authNode: a}
	f.enrollTok = a.tokenFor("app-backend", a.addClientArgs("app-backend", auth.ScopeEnroll+","+auth.ScopeStatusWrite))
	enroll := func(p *person) enrollResult {
		t.Helper()
		code, r, m := f.enroll(f.enrollBody(p, "", "", nil))
		if code != 201 || len(r.QRBinding) == 0 {
			t.Fatalf("enroll %s at A: %d %v", p.name, code, m)
		}
		return r
	}
	guardian, principal, entry := newPerson(t, "11010519750307123", "王芳"), newPerson(t, "11010520150601123", "王小明"), newPerson(t, "11010519800101123", "赵六")
	rg, rp, re := enroll(guardian), enroll(principal), enroll(entry)
	bg, _ := qrcode.ParseBinding(rg.QRBinding)
	bp, _ := qrcode.ParseBinding(rp.QRBinding)
	be, _ := qrcode.ParseBinding(re.QRBinding)
	now := time.Now()
	delegation := func(notBefore, expiry time.Time) []byte {
		t.Helper()
		d, err := f.qrIssuer(t).IssueDelegation(qrcode.Delegation{Actor: bg.Subject, Principal: bp.Subject, Relationship: qrcode.RelGuardian,
			Scope: []string{qrcode.ActionPresent, qrcode.ActionPickup}, NotBefore: notBefore, Expiry: expiry, Status: be.Status})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	valid, expired := delegation(now.Add(-time.Minute), now.Add(time.Hour)), delegation(now.Add(-2*time.Hour), now.Add(-time.Hour))

	counter := uint64(0)
	offline := func(who *person, binding, deleg []byte) string {
		t.Helper()
		counter++
		c, err := qrcode.NewOffline(rand.Reader, who.device, binding, deleg, qrcode.Presentation{Time: time.Now(), Counter: counter})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	type verifier struct {
		name, id string
		node     *authNode
		tok, key string
	}
	pharmacyKey, postKey := a.addClientIn("pharmacy-a", "310000", auth.ScopeQRRedeem), b.addClientIn("post-b", "320000", auth.ScopeQRRedeem)
	verifiers := []verifier{
		{"at A", "pharmacy-a", a, a.tokenFor("pharmacy-a", pharmacyKey), pharmacyKey},
		{"at B", "post-b", b, b.tokenFor("post-b", postKey), postKey},
	}
	verify := func(v verifier, code, action string) (int, map[string]any) {
		body, _ := json.Marshal(map[string]string{"code": code, "action": action})
		c, m, _ := v.node.do("POST", "/v1/qr/verify", v.tok, "application/json", string(body))
		return c, m
	}
	for _, v := range verifiers {
		var own map[string]any
		waitUntil(t, "the guardian's own code "+v.name, func() bool {
			c, m := verify(v, offline(guardian, rg.QRBinding, nil), "")
			own = m
			return c == 200
		})
		c, mine := verify(v, offline(principal, rp.QRBinding, nil), "")
		if c != 200 || own["pairwise_id"] == "" || mine["pairwise_id"] == "" || own["pairwise_id"] == mine["pairwise_id"] {
			t.Fatalf("%s: own codes: guardian %v, principal %d %v", v.name, own, c, mine)
		}
		c, m := verify(v, offline(guardian, rg.QRBinding, valid), qrcode.ActionPickup)
		act, _ := m["act"].(map[string]any)
		if c != 200 || m["pairwise_id"] != mine["pairwise_id"] || act["pairwise_id"] != own["pairwise_id"] || act["relationship"] != "guardian" ||
			m["action"] != qrcode.ActionPickup || m["region"] != "310000" || m["claims"] != nil {
			t.Errorf("%s: the delegated code for pickup: %d %v (principal %v, guardian %v)", v.name, c, m, mine["pairwise_id"], own["pairwise_id"])
		}
		if c, m := verify(v, offline(guardian, rg.QRBinding, valid), qrcode.ActionMedical); c != 403 || m["error"] != "qr_delegation_scope" {
			t.Errorf("%s: an action outside the scope: %d %v", v.name, c, m)
		}
		if c, m := verify(v, offline(guardian, rg.QRBinding, valid), ""); c != 403 || m["error"] != "qr_delegation_scope" {
			t.Errorf("%s: a delegated code with no action named: %d %v", v.name, c, m)
		}
		if _, err := (&sdk.Client{Node: v.node.base, Tokens: sdkTokens(t, v.node.base, v.id, v.key, 0, nil)}).RedeemQR(context.Background(), offline(guardian, rg.QRBinding, valid)); !errors.Is(err, qrcode.ErrDelegationScope) {
			t.Errorf("%s: SDK RedeemQR of a delegated code: %v", v.name, err)
		}
		if c, m := verify(v, offline(guardian, rg.QRBinding, expired), ""); c != 403 || m["error"] != "qr_delegation_expired" {
			t.Errorf("%s: an expired delegation: %d %v", v.name, c, m)
		}
		if c, m := verify(v, offline(principal, rp.QRBinding, valid), ""); c != 403 || m["error"] != "qr_delegation_invalid" {
			t.Errorf("%s: the principal presenting the guardian's delegation: %d %v", v.name, c, m)
		}
		if c, m := verify(v, offline(principal, rp.QRBinding, nil), qrcode.ActionPickup); c != 200 || m["act"] != nil || m["action"] != nil {
			t.Errorf("%s: an action with an undelegated code: %d %v", v.name, c, m)
		}
		// The relying-party SDK: who came for whom, and the refusals as
		// qrcode sentinels.
		rpc := &sdk.Client{Node: v.node.base, Tokens: sdkTokens(t, v.node.base, v.id, v.key, 0, nil)}
		ctx := context.Background()
		if red, err := rpc.RedeemQRFor(ctx, offline(guardian, rg.QRBinding, valid), qrcode.ActionPickup); err != nil || red.PairwiseID != mine["pairwise_id"] ||
			red.Act == nil || red.Act.PairwiseID != own["pairwise_id"] || red.Act.Relationship != "guardian" || red.Action != qrcode.ActionPickup {
			t.Errorf("%s: SDK, the delegated code: %+v %v", v.name, red, err)
		}
		if _, err := rpc.RedeemQRFor(ctx, offline(guardian, rg.QRBinding, valid), qrcode.ActionMedical); !errors.Is(err, qrcode.ErrDelegationScope) {
			t.Errorf("%s: SDK, an action outside the scope: %v", v.name, err)
		}
		if _, err := rpc.RedeemQR(ctx, offline(guardian, rg.QRBinding, expired)); !errors.Is(err, qrcode.ErrDelegationExpired) || !errors.Is(err, qrcode.ErrDelegation) {
			t.Errorf("%s: SDK, an expired delegation: %v", v.name, err)
		}
	}

	// An action asked of an online code: refused, and the code not spent.
	if c, m := f.onlineCode(guardian.device, rg.QRBinding); c != 201 {
		t.Fatalf("an online code at A: %d %v", c, m)
	} else if c, m2 := verify(verifiers[0], m["code"].(string), qrcode.ActionPickup); c != 400 || m2["error"] != "invalid_request" {
		t.Errorf("an action with an online code: %d %v", c, m2)
	} else if c, m2 := verify(verifiers[0], m["code"].(string), ""); c != 200 || m2["act"] != nil {
		t.Errorf("the online code after the refusal: %d %v", c, m2)
	}

	// A revokes the delegation's status entry: refused at A at once and at
	// B once A anchored it; the guardian's own code is not affected.
	sb, _ := json.Marshal(map[string]string{"action": "revoke"})
	if c, m, _ := f.do("POST", "/v1/credentials/"+re.BindingCredential.ID+"/status", f.enrollTok, "application/json", string(sb)); c != 200 {
		t.Fatalf("revoke at A: %d %v", c, m)
	}
	for _, v := range verifiers {
		waitUntil(t, "the revoked delegation refused "+v.name, func() bool {
			c, m := verify(v, offline(guardian, rg.QRBinding, valid), qrcode.ActionPickup)
			return c == 403 && m["error"] == "qr_revoked"
		})
		if c, m := verify(v, offline(guardian, rg.QRBinding, nil), ""); c != 200 {
			t.Errorf("%s: the guardian's own code after the revocation: %d %v", v.name, c, m)
		}
	}
}

// TestIssuerRecordOfAnotherRegionsHost: over two real nodes on one
// ledger, region B may write no issuer record named as region A's node
// (its DID, its base URL) or hosted under A's DID, nor move its node
// onto the host of A's issuer; A's own hosted issuer is written, and A's
// node serves its DID document.
func TestIssuerRecordOfAnotherRegionsHost(t *testing.T) {
	t.Setenv("TRUSTID_KEK", testKEK)
	a, b, la := twoRegionNodes(t)
	ctx := context.Background()
	lb, err := la.As(chaincode.RegionMSP("320000"))
	if err != nil {
		t.Fatal(err)
	}
	defer lb.Close()
	ca, cb := ledger.Client{L: la}, ledger.Client{L: lb}
	ra, err := ca.Region(ctx, "310000")
	if err != nil {
		t.Fatal(err)
	}
	key, err := gm.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk, err := gm.NewJWK(key.Public(), "k-1")
	if err != nil {
		t.Fatal(err)
	}
	rec := func(id string) chaincode.Issuer {
		return chaincode.Issuer{ID: id, Types: []string{"ResidenceCredential"}, Keys: []chaincode.RegistryKey{{JWK: jwk}}, Status: chaincode.EntryActive}
	}
	if _, err := ca.PutIssuer(ctx, rec(ra.DID+":issuers:rp-a")); err != nil {
		t.Fatalf("A's own hosted issuer: %v", err)
	}
	for _, id := range []string{ra.DID, a.base, ra.DID + ":issuers:squat", a.base + "/issuers/squat"} {
		if _, err := cb.PutIssuer(ctx, rec(id)); !errors.Is(err, chaincode.ErrForbidden) {
			t.Errorf("region B wrote issuer %s: %v", id, err)
		}
	}
	rb, err := cb.Region(ctx, "320000")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cb.UpdateRegion(ctx, chaincode.RegionInput{Code: "320000", DID: rb.DID,
		Endpoints: []chaincode.Endpoint{{Type: "api", URL: b.base}, {Type: "web", URL: a.base + "/b"}}}); !errors.Is(err, chaincode.ErrInvalid) {
		t.Errorf("region B moved an endpoint onto the host of A's issuer: %v", err)
	}
	waitUntil(t, "A serving its issuer's DID document", func() bool {
		code, body := get(t, a.base+"/issuers/rp-a/did.json")
		return code == 200 && strings.Contains(body, `"id":"`+ra.DID+`:issuers:rp-a"`)
	})
	if code, _ := get(t, a.base+"/issuers/squat/did.json"); code != 404 {
		t.Errorf("A's /issuers/squat/did.json: %d", code)
	}
}

// TestForeignRegionClientGetsNoTokenHere: a relying party authenticates
// only at the node of its home region. Region A's (310000) client ops-a,
// with registry:admin, gets a token at A, but at region B's (320000)
// token and revocation endpoints it is invalid_client with the answer
// an unregistered client gets, and at B's introspection endpoint its
// registry:admin shows it none of B's tokens, so it cannot administer
// B's parties
// (docs/relying-party.md: "administration, issuance, status changes and
// enrollment never cross regions"). B's administrator cannot register
// that client ID again (409 client_exists), nor see it.
func TestForeignRegionClientGetsNoTokenHere(t *testing.T) {
	t.Setenv("TRUSTID_KEK", testKEK)
	a, b, la := twoRegionNodes(t)
	ctx := context.Background()
	ca := ledger.Client{L: la}
	keyA := a.addClientIn("ops-a", "310000", auth.ScopeRegistryAdmin+","+auth.ScopeEnroll)
	keyB := b.addClientIn("ops-b", "320000", auth.ScopeRegistryAdmin)
	b.addClientIn("svc-b", "320000", auth.ScopeQRRedeem)
	token := func(n *authNode, id, key string) (int, map[string]any) {
		form := url.Values{"grant_type": {auth.GrantClientCredentials}, "scope": {auth.ScopeRegistryAdmin},
			"client_assertion_type": {auth.AssertionType}, "client_assertion": {n.assertion(id, key)}}
		code, m, _ := n.do("POST", auth.TokenPath, "", "application/x-www-form-urlencoded", form.Encode())
		return code, m
	}
	// ops-a was registered before ops-b: B's view has it once ops-b
	// authenticates at B.
	var tokB string
	waitUntil(t, "B's own administrator gets a token", func() bool {
		code, m := token(b, "ops-b", keyB)
		tokB, _ = m["access_token"].(string)
		return code == 200
	})
	if code, m := token(a, "ops-a", keyA); code != 200 {
		t.Fatalf("ops-a at its home region's node: %d %v", code, m)
	}
	_, unknown := token(b, "nobody-a", keyA)
	code, m := token(b, "ops-a", keyA)
	if code != 401 || m["error"] != "invalid_client" || m["error_description"] != unknown["error_description"] {
		t.Errorf("ops-a at B's token endpoint: %d %v, want 401 invalid_client as for an unknown client (%v)", code, m, unknown)
	}
	// At B's introspection endpoint ops-a is a visitor: it may ask about
	// its own tokens of A naming B (federation), and its registry:admin
	// shows it none of B's. Revocation at B is B's parties' only.
	form := url.Values{"token": {tokB}, "client_assertion_type": {auth.AssertionType}, "client_assertion": {b.assertion("ops-a", keyA)}}
	if code, m, _ := b.do("POST", auth.IntrospectionPath, "", "application/x-www-form-urlencoded", form.Encode()); code != 200 || m["active"] != false || len(m) != 1 {
		t.Errorf("ops-a introspecting B's administrator's token at B: %d %v", code, m)
	}
	form.Set("client_assertion", b.assertion("ops-a", keyA))
	if code, m, _ := b.do("POST", auth.RevocationPath, "", "application/x-www-form-urlencoded", form.Encode()); code != 401 || m["error"] != "invalid_client" {
		t.Errorf("ops-a at B's revocation endpoint: %d %v", code, m)
	}
	if code, m, _ := b.do("GET", "/v1/admin/clients/ops-a", tokB, "", ""); code != 404 {
		t.Errorf("B's administrator showing A's client: %d %v", code, m)
	}
	body := `{"client_id": "ops-a", "client_name": "copy", "region": "320000", "scopes": ["qr:redeem"], "token_endpoint_auth_method": "client_secret_basic"}`
	if code, m, _ := b.do("POST", "/v1/admin/clients", tokB, "application/json", body); code != 409 || m["error"] != "client_exists" {
		t.Errorf("B registering A's client ID: %d %v", code, m)
	}
	rp, err := ca.RelyingParty(ctx, "svc-b")
	if err != nil {
		t.Fatal(err)
	}
	if rp.Status != chaincode.EntryActive || rp.HomeRegion != "320000" {
		t.Errorf("svc-b: %+v", rp)
	}
}

// TestTwoRegionVisitorsAndForeignParties: what another region's party
// gets at a node beyond its home's. (a) B's registry:admin party, admitted
// at A's introspection endpoint as a visitor (auth.Config.Visitors),
// learns nothing of A's user-login tokens ({"active":false}, as for any
// token not its own), while A's own registry:admin party sees them
// active. (b) A party of A whose sector A never claimed, redeeming a code
// directly at B with A's token for B, is refused 403
// qr_unknown_verifier (the contract's foreign_party: only a party's home
// region claims its sector, docs/relying-party.md); once A has claimed
// it (the party's first redemption at A), B resolves the party.
func TestTwoRegionVisitorsAndForeignParties(t *testing.T) {
	t.Setenv("TRUSTID_KEK", testKEK)
	a, b, _ := twoRegionNodes(t)

	// (a) A user login at A: a holder of A approves a login to shop-web.
	f := &enrollFixture{authNode: a}
	f.enrollTok = a.tokenFor("app-backend", a.addClientArgs("app-backend", auth.ScopeEnroll+","+auth.ScopeStatusWrite))
	bob := newPerson(t, "11010519850101002", "李四")
	code, rb, m := f.enroll(f.enrollBody(bob, "", "", nil))
	if code != 201 {
		t.Fatalf("enroll bob: %d %v", code, m)
	}
	shop := f.addLoginRP("shop-web", "shopweb.example", "--id-token-alg", "ES256")
	attempt := shop.start(t)
	if st, m := approve(t, attempt.sessionURL, f.app(bob, rb), ""); st != 204 {
		t.Fatalf("approve: %d %v", st, m)
	}
	tok, _ := shop.exchange(t, attempt, attempt.code(t, shop, f.base))
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token")
	}
	keyOpsA := a.addClientIn("ops-a", "310000", auth.ScopeRegistryAdmin)
	keyOpsB := b.addClientIn("ops-b", "320000", auth.ScopeRegistryAdmin)
	introspectAtA := func(id, key, token string) (int, map[string]any) {
		form := url.Values{"token": {token}, "client_assertion_type": {auth.AssertionType}, "client_assertion": {a.assertion(id, key)}}
		code, m, _ := a.do("POST", auth.IntrospectionPath, "", "application/x-www-form-urlencoded", form.Encode())
		return code, m
	}
	for _, tk := range []string{tok.AccessToken, tok.RefreshToken} {
		if code, m := introspectAtA("ops-a", keyOpsA, tk); code != 200 || m["active"] != true || m["client_id"] != "shop-web" {
			t.Errorf("A's registry:admin introspecting A's login token: %d %v", code, m)
		}
	}
	// ops-b is admitted once A's view of the ledger has it.
	waitUntil(t, "A admitting B's administrator at introspection", func() bool {
		code, _ := introspectAtA("ops-b", keyOpsB, "not-a-token")
		return code == 200
	})
	for _, tk := range []string{tok.AccessToken, tok.RefreshToken} {
		if code, m := introspectAtA("ops-b", keyOpsB, tk); code != 200 || m["active"] != false || len(m) != 1 {
			t.Errorf("B's registry:admin introspecting A's login token at A: %d %v, want {\"active\":false}", code, m)
		}
	}

	// (b) svc-a, a party of A added with the CLI: A has not claimed its
	// sector (a party so added claims it at its first redemption at A).
	svcKey := a.addClientIn("svc-a", "310000", auth.ScopeQRRedeem)
	tokenFor := func(resource string) string {
		form := url.Values{"grant_type": {auth.GrantClientCredentials}, "scope": {auth.ScopeQRRedeem}, "resource": {resource},
			"client_assertion_type": {auth.AssertionType}, "client_assertion": {a.assertion("svc-a", svcKey)}}
		code, m, _ := a.do("POST", auth.TokenPath, "", "application/x-www-form-urlencoded", form.Encode())
		if code != 200 {
			t.Fatalf("token for %s: %d %v", resource, code, m)
		}
		return m["access_token"].(string)
	}
	forA, forB := tokenFor(a.base), tokenFor(b.base)
	// A code of B's region that B never issued: the party is resolved
	// before the code is looked up.
	onB, err := qrcode.NewOnlineCode(rand.Reader, 320000)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]string{"code": onB.String()})
	atB := func() (int, any) {
		code, m, _ := b.do("POST", "/v1/qr/verify", forB, "application/json", string(body))
		return code, m["error"]
	}
	// Once B's view has A's keys and svc-a, B authenticates the token and
	// resolves the party: the claim of its sector is refused (the cause in
	// B's log; an unknown party would get the same answer).
	waitUntil(t, "B refusing svc-a's sector", func() bool {
		c, e := atB()
		return c == 403 && e == "qr_unknown_verifier" && strings.Contains(b.logs.String(), `relying party \"svc-a\" belongs to region 310000`)
	})

	// svc-a's first redemption at A (a code of A's region A never
	// issued) claims its sector: B then resolves svc-a and looks the code
	// up (unknown: 409 qr_code_used).
	onA, err := qrcode.NewOnlineCode(rand.Reader, 310000)
	if err != nil {
		t.Fatal(err)
	}
	bodyA, _ := json.Marshal(map[string]string{"code": onA.String()})
	if code, m, _ := a.do("POST", "/v1/qr/verify", forA, "application/json", string(bodyA)); code != 409 || m["error"] != "qr_code_used" {
		t.Fatalf("svc-a at its home region's node, a code never issued: %d %v, want 409 qr_code_used", code, m)
	}
	if c, e := atB(); c != 409 || e != "qr_code_used" {
		t.Errorf("svc-a at B once A claimed its sector, a code never issued: %d %v, want 409 qr_code_used", c, e)
	}
}

// regionInstances are two instances of one region (one issuer, one
// Redis, one ledger, copies of one keystore), i2 started after i1 has
// published the region's keys.
type regionInstances struct {
	t            *testing.T
	i1, i2       *authNode
	issuer, addr string
	shared       string
	redisURL     string
	ca           ledger.Client
}

func startRegionInstances(t *testing.T) *regionInstances {
	t.Helper()
	t.Setenv("TRUSTID_KEK", testKEK)
	r := &regionInstances{t: t, shared: filepath.Join(t.TempDir(), "consortium.db"), redisURL: "redis://" + testredis.Start(t)}
	dirA, dirB := t.TempDir(), t.TempDir()
	if _, stderr, err := run(t, context.Background(), "keys", "list", "--data", dirA); err != nil {
		t.Fatalf("keys list: %v\n%s", err, stderr)
	}
	r.addr = testport.Reserve(t)
	r.issuer = "http://" + r.addr
	r.i1 = &authNode{t: t, dir: dirA}
	r.i2 = &authNode{t: t, dir: dirB}
	r.copyKeystore()
	r.start(r.i1, r.addr, "i1")
	la, err := embedded.OpenShared(r.shared, embedded.Options{MSPID: chaincode.RegionMSP("310000")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { la.Close() })
	r.ca = ledger.Client{L: la}
	waitUntil(t, "the region's key on the ledger", func() bool { return r.sm2Kid(chaincode.KeyActive) != "" })
	r.start(r.i2, testport.Reserve(t), "i2")
	return r
}

// start (re)starts n at addr as instance inst.
func (r *regionInstances) start(n *authNode, addr, inst string) {
	r.t.Helper()
	n.node = testnode.Start(r.t, serveMain, "--data", n.dir, "--addr", addr, "--issuer", r.issuer, "--instance", inst,
		"--ledger-file", r.shared, "--redis-url", r.redisURL)
	n.base, n.logs = n.node.Base, n.node.Logs
}

// copyKeystore copies i1's keystore to i2's data directory.
func (r *regionInstances) copyKeystore() {
	r.t.Helper()
	ks, err := os.ReadFile(filepath.Join(r.i1.dir, keystoreFile))
	if err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.i2.dir, keystoreFile), ks, 0o600); err != nil {
		r.t.Fatal(err)
	}
}

// sm2Kid is the region record's SM2 key in state ("" for none).
func (r *regionInstances) sm2Kid(state string) string {
	rec, err := r.ca.Region(context.Background(), "310000")
	if err != nil {
		return ""
	}
	for _, k := range rec.Keys {
		if k.Alg == gm.AlgSM2 && k.State == state {
			return k.Kid
		}
	}
	return ""
}

// rotate rotates i1's SM2 key (a restart does what SIGHUP does) and
// waits for the new key on the region's record; it returns the old and
// the new kid.
func (r *regionInstances) rotate() (oldKid, newKid string) {
	r.t.Helper()
	oldKid = r.sm2Kid(chaincode.KeyActive)
	r.i1.node.Stop()
	r.i1.cli("keys", "rotate", "SM2")
	r.start(r.i1, r.addr, "i1")
	waitUntil(r.t, "the new key on the ledger", func() bool { k := r.sm2Kid(chaincode.KeyActive); return k != "" && k != oldKid })
	return oldKid, r.sm2Kid(chaincode.KeyActive)
}

// setKeyState sets kid's state on the region's record.
func (r *regionInstances) setKeyState(kid, state string) {
	r.t.Helper()
	if _, err := r.ca.SetRegionKeyState(context.Background(), kid, state); err != nil {
		r.t.Fatal(err)
	}
}

// kidOf is the kid in a compact JWS's header.
func kidOf(tok string) string {
	h, _, _ := strings.Cut(tok, ".")
	raw, _ := base64.RawURLEncoding.DecodeString(h)
	var hd struct{ Kid string }
	json.Unmarshal(raw, &hd)
	return hd.Kid
}

// TestRegionInstancesAcrossRotation: two instances of one region.
// Instance 1 rotates its SM2 key and publishes it on the region's record;
// before instance 2's keystore is copied again, instance 2 accepts
// instance 1's tokens of the new key (from the record) and instance 1
// still accepts instance 2's of the old one (retiring in its keystore).
// Once the record says the new key is revoked, instance 2 refuses its
// tokens; after the copy instance 2 holds the key itself.
func TestRegionInstancesAcrossRotation(t *testing.T) {
	r := startRegionInstances(t)
	i1, i2 := r.i1, r.i2
	key := i1.addClient("svc-a", "SM2", auth.ScopeQRRedeem)
	at := func(n *authNode, tok string) (int, any) {
		code, m, _ := n.do("POST", "/v1/qr/verify", tok, "application/json", `{"code":"hello"}`)
		return code, m["error"]
	}
	tok1 := i1.tokenFor("svc-a", key)
	waitUntil(t, "instance 2 accepting instance 1's token", func() bool { c, _ := at(i2, tok1); return c == 400 })

	oldKid, newKid := r.rotate()
	tokNew := i1.tokenFor("svc-a", key)
	if k := kidOf(tokNew); k != newKid {
		t.Fatalf("instance 1 signs with %s, want the new key %s", k, newKid)
	}
	waitUntil(t, "instance 2 accepting instance 1's token of the new key", func() bool { c, e := at(i2, tokNew); return c == 400 && e == "qr_malformed" })
	tokOld := i2.tokenFor("svc-a", key)
	if k := kidOf(tokOld); k != oldKid {
		t.Fatalf("instance 2 signs with %s, want the old key %s", k, oldKid)
	}
	if c, e := at(i1, tokOld); c != 400 || e != "qr_malformed" {
		t.Errorf("instance 1, instance 2's token of the old key: %d %v", c, e)
	}
	if c, e := at(i1, tokNew); c != 400 || e != "qr_malformed" {
		t.Errorf("instance 1, its own token of the new key: %d %v", c, e)
	}

	// The record revokes the new key: instance 2, which verifies it from
	// the record, refuses it from then on.
	r.setKeyState(newKid, chaincode.KeyRevoked)
	waitUntil(t, "instance 2 refusing the revoked key's token", func() bool { c, e := at(i2, tokNew); return c == 401 && e == "invalid_token" })

	// The keystore copied and instance 2 restarted: it holds the key.
	i2.node.Stop()
	r.copyKeystore()
	ks, err := keystore.Open(filepath.Join(i2.dir, keystoreFile), mustKEK(t), keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if k, err := ks.Active(gm.AlgSM2); err != nil || k.Kid != newKid {
		t.Errorf("the copy's active SM2 key: %v %v, want %s", k.Kid, err, newKid)
	}
}

// TestRegionInstancesVerifyNewKeyFromRecord: what instance 1 signs with
// a key instance 2's keystore copy lacks yet verifies at instance 2 from
// the region's record (federation.Instances): an offline code and an
// online code request carrying a QR binding instance 1 issued, the PIN
// check of its binding credential, its identity credential at POST
// /credentials/verify, and its ID token as id_token_hint at logout.
// Once the record retires the key, and then revokes it, instance 2
// refuses each of them.
func TestRegionInstancesVerifyNewKeyFromRecord(t *testing.T) {
	t.Setenv("TRUSTID_PAIRWISE_KEY", strings.Repeat("5a", 32))
	t.Setenv("TRUSTID_PAIRWISE_KEY_VERSION", "1")
	r := startRegionInstances(t)
	i1, i2 := r.i1, r.i2
	f1, f2 := &enrollFixture{authNode: i1}, &enrollFixture{authNode: i2}
	f1.enrollTok = i1.tokenFor("app-backend", i1.addClientArgs("app-backend", auth.ScopeEnroll+","+auth.ScopeStatusWrite))
	hotelKey := i1.addClientArgs("hotel", auth.ScopeQRRedeem, "--sector", "hotel.example")
	f1.addLoginRP("web", "web.example")
	hotel := i2.tokenFor("hotel", hotelKey)

	_, newKid := r.rotate()
	const pin = "135790"
	p := newPerson(t, "11010519900307123", "张三")
	code, rp, m := f1.enroll(f1.enrollBody(p, "", pin, nil))
	if code != 201 || rp.BindingCredential == nil || len(rp.QRBinding) == 0 {
		t.Fatalf("enroll at instance 1: %d %v", code, m)
	}
	if _, k, _ := strings.Cut(kidOf(rp.BindingCredential.Credential), "#"); k != newKid {
		t.Fatalf("the binding credential's kid %s, want the new key %s", k, newKid)
	}
	ks, err := keystore.Open(filepath.Join(i1.dir, keystoreFile), mustKEK(t), keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	newKey, err := ks.Active(gm.AlgSM2)
	if err != nil || newKey.Kid != newKid {
		t.Fatalf("instance 1's active key %s %v, want %s", newKey.Kid, err, newKid)
	}

	counter := uint64(0)
	offline := func() (int, any) {
		counter++
		c, err := qrcode.NewOffline(rand.Reader, p.device, rp.QRBinding, nil, qrcode.Presentation{Time: time.Now(), Counter: counter})
		if err != nil {
			t.Fatal(err)
		}
		code, m := f2.redeem(hotel, c)
		return code, m["error"]
	}
	online := func() (int, any) {
		code, m := f2.onlineCode(p.device, rp.QRBinding)
		return code, m["error"]
	}
	pinCheck := func() (int, any) {
		proof, err := holder.NewDeviceProof(p.device, r.issuer, time.Now(), rand.Text())
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(map[string]string{"binding_credential": rp.BindingCredential.Credential, "device_proof": proof, "pin": pin})
		code, m, _ := i2.do("POST", api.PINCheckPath, "", "application/json", string(b))
		return code, m["error"]
	}
	verifyIdentity := func() (int, any) {
		body, _ := json.Marshal(map[string]string{"verifiableCredential": "data:application/dc+sd-jwt," + rp.IdentityCredential.Credential})
		code, m, _ := i2.do("POST", "/credentials/verify", "", "application/json", string(body))
		if errs, _ := m["errors"].([]any); len(errs) > 0 {
			return code, errs[0].(map[string]any)["code"]
		}
		return code, nil
	}
	redirect := "http://127.0.0.1:9/web/callback"
	logout := func() (int, any) {
		now := time.Now()
		method, _ := gm.SigningMethod(newKey.Signer)
		tok := jwt.NewWithClaims(method, jwt.MapClaims{"iss": r.issuer, "sub": "pairwise-sub", "aud": "web", "sid": rand.Text(),
			"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()})
		tok.Header["kid"] = newKid
		hint, err := tok.SignedString(newKey.Signer)
		if err != nil {
			t.Fatal(err)
		}
		q := url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {redirect}}
		req, _ := http.NewRequest("GET", i2.base+"/oauth2/logout?"+q.Encode(), nil)
		req.Header.Set("Accept", "application/json")
		resp, err := newBrowser().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		if resp.StatusCode == http.StatusFound && !strings.HasPrefix(resp.Header.Get("Location"), redirect) {
			t.Errorf("logout redirected to %q", resp.Header.Get("Location"))
		}
		return resp.StatusCode, m["error"]
	}
	sites := []struct {
		name        string
		do          func() (int, any)
		ok          int
		refused     int
		refusedCode string
	}{
		{"offline code", offline, 200, 403, "qr_unknown_key"},
		{"online code request", online, 201, 403, "qr_unknown_key"},
		{"PIN check", pinCheck, 200, 422, "binding_invalid"},
		{"identity credential", verifyIdentity, 200, 0, ""},
		{"id_token_hint", logout, 302, 400, "invalid_request"},
	}
	// Instance 2 reads instance 1's status entries through the ledger.
	waitUntil(t, "instance 1's holder verifying at instance 2", func() bool { c, _ := offline(); return c == 200 })
	for _, s := range sites {
		if c, e := s.do(); c != s.ok {
			t.Errorf("%s signed by instance 1's new key, at instance 2: %d %v, want %d", s.name, c, e, s.ok)
		}
	}

	for _, state := range []string{chaincode.KeyRetired, chaincode.KeyRevoked} {
		r.setKeyState(newKid, state)
		waitUntil(t, "instance 2 refusing the "+state+" key", func() bool { c, _ := offline(); return c == 403 })
		for _, s := range sites {
			c, e := s.do()
			if (s.refused != 0 && c != s.refused) || c < 400 || (s.refusedCode != "" && e != s.refusedCode) {
				t.Errorf("%s signed by a key %s on the record, at instance 2: %d %v, want %d %s", s.name, state, c, e, s.refused, s.refusedCode)
			}
		}
	}
}

// TestEveryProtectedRouteAcrossRegions runs every protected route of
// region B's node with tokens of a client of region A registered with
// every scope (docs/SECURITY.md: "only auth.FederatedScopes (qr:redeem)
// cross regions"): A's token for B (RFC 8707 resource, asked for every
// scope; A grants it qr:redeem alone) gets past authorization on the
// qr:redeem route only, and is 403
// insufficient_scope naming the route's scope on every other; A's token
// for A alone is 401 invalid_token; none of it changes B's registry. Once
// A disables its client, B refuses the client's token for B.
func TestEveryProtectedRouteAcrossRegions(t *testing.T) {
	t.Setenv("TRUSTID_KEK", testKEK)
	a, b, _ := twoRegionNodes(t)
	keyA := a.addClientIn("svc-a", "310000", strings.Join(auth.Scopes, ","))
	opsB := b.token("ops-b", b.addClientIn("ops-b", "320000", auth.ScopeRegistryAdmin))
	tokenA := func(resource string) string {
		form := url.Values{"grant_type": {auth.GrantClientCredentials}, "scope": {strings.Join(auth.Scopes, " ")},
			"client_assertion_type": {auth.AssertionType}, "client_assertion": {a.assertion("svc-a", keyA)}}
		if resource != "" {
			form.Set("resource", resource)
		}
		code, m, _ := a.do("POST", auth.TokenPath, "", "application/x-www-form-urlencoded", form.Encode())
		if code != 200 {
			t.Fatalf("A's token (resource %q): %d %v", resource, code, m)
		}
		return m["access_token"].(string)
	}
	forB, forA := tokenA(b.base), tokenA("")
	registry := func() string {
		code, m, _ := b.do("GET", "/v1/admin/clients", opsB, "", "")
		if code != 200 {
			t.Fatalf("B's clients: %d %v", code, m)
		}
		out, _ := json.Marshal(m)
		return string(out)
	}
	before := registry()
	waitUntil(t, "B accepting A's token", func() bool {
		code, _, _ := b.do("POST", "/v1/qr/verify", forB, "application/json", `{"code":"hello"}`)
		return code == 400
	})
	for _, r := range b.routes(opsB) {
		if r.Scope == "" {
			continue
		}
		method, path := requestFor(r.Pattern)
		code, m, hdr := b.do(method, path, forB, "application/json", "{}")
		if r.Scope == auth.ScopeQRRedeem { // the one federated scope, written out
			if code == 401 || code == 403 || code >= 500 {
				t.Errorf("%s with A's token for B: %d %v", r.Pattern, code, m)
			}
		} else if want := `Bearer realm="trustid", error="insufficient_scope", scope="` + r.Scope + `"`; code != 403 || m["error"] != "insufficient_scope" || hdr.Get("WWW-Authenticate") != want {
			t.Errorf("%s with A's token for B: %d %v %q, want 403 insufficient_scope %q", r.Pattern, code, m, hdr.Get("WWW-Authenticate"), want)
		}
		if code, m, _ := b.do(method, path, forA, "application/json", "{}"); code != 401 || m["error"] != "invalid_token" {
			t.Errorf("%s with A's token for A: %d %v, want 401 invalid_token", r.Pattern, code, m)
		}
	}
	if after := registry(); after != before {
		t.Errorf("A's tokens changed B's registry:\n%s\n%s", before, after)
	}
	a.cli("clients", "disable", "svc-a", "--region", "310000")
	waitUntil(t, "B refusing the disabled client's token", func() bool {
		code, m, _ := b.do("POST", "/v1/qr/verify", forB, "application/json", `{"code":"hello"}`)
		return code == 401 && m["error"] == "invalid_token"
	})
}
