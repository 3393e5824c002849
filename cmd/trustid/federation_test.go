package main

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/testnode"
	"github.com/trustid-cn/trustid/keystore"
	"github.com/trustid-cn/trustid/ledger"
	"github.com/trustid-cn/trustid/ledger/embedded"
)

// TestTwoRegionNodes runs two real `trustid serve` nodes, regions 310000
// (A) and 320000 (B), in this process over one embedded ledger: B is
// admitted by A's vote; a relying party of A gets from A's token endpoint
// a token for B (resource = B's URL), which B accepts from its ledger view
// alone; after A rotates its key (and retires the old one) and restarts,
// B accepts A's tokens of the new key and refuses the old key's; B keeps
// accepting them after A is stopped; B refuses it once the
// consortium (B's vote) suspends A. A token of A only for A is refused by
// B throughout, and a node with a plain-http peer off loopback does not
// start.
func TestTwoRegionNodes(t *testing.T) {
	t.Setenv("TRUSTID_KEK", testKEK)
	ctx := context.Background()
	shared := filepath.Join(t.TempDir(), "consortium.db")
	start := func(region string, extra ...string) *authNode {
		t.Helper()
		dir, addr := t.TempDir(), freeAddr(t)
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
	a.cli("keys", "retire", oldKid)
	a.node = testnode.Start(t, serveMain, "--data", a.dir, "--addr", strings.TrimPrefix(a.base, "http://"), "--issuer", a.base,
		"--region", "310000", "--ledger-file", shared)
	waitUntil(t, "A's new key on the ledger", func() bool { k := sm2Kid(chaincode.KeyActive); return k != "" && k != oldKid })
	if k := sm2Kid(chaincode.KeyRetired); k != oldKid {
		t.Errorf("retired key on the record: %q, want %q", k, oldKid)
	}
	waitUntil(t, "B refusing the retired key's token", func() bool { c, _ := atB(forB); return c == 401 })
	forB = token(b.base)
	if c, e := atB(forB); c != 400 || e != "qr_malformed" {
		t.Errorf("A's token signed with its new key, at B: %d %v", c, e)
	}

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

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}
