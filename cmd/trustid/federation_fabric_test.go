package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/testenv"
	"github.com/trustid-cn/trustid/internal/testnode"
	"github.com/trustid-cn/trustid/internal/testport"
	"github.com/trustid-cn/trustid/internal/testredis"
	"github.com/trustid-cn/trustid/keystore"
	"github.com/trustid-cn/trustid/ledger"
	"github.com/trustid-cn/trustid/ledger/fabric"
	"github.com/trustid-cn/trustid/qrcode/redeem"
)

// suspensionBound is how soon after the deciding vote is committed every
// other region must refuse the suspended region: the vote's block reaching
// the other regions' peers and their nodes' ledger views (event delivery,
// no polling; BatchTimeout 100 ms on the development network).
const suspensionBound = 2 * time.Second

// fabricRegion is one region of TestFabricThreeRegions: its own `trustid
// serve` node on its own peer (connection profile) with its own Redis, and
// its administrator's ledger client through the same profile.
type fabricRegion struct {
	code, profile string
	admin         ledger.Client
	*authNode
}

// cliAs runs a trustid command as the region's administrator on Fabric.
func (r *fabricRegion) cliAs(args ...string) string {
	r.t.Helper()
	return r.cli(append(args, "--region", r.code, "--fabric-profile", r.profile)...)
}

// addParty registers a client of the region (on the ledger, with an SM2
// key) and returns its key file.
func (r *fabricRegion) addParty(id, scopes string, extra ...string) string {
	r.t.Helper()
	keys := filepath.Join(r.dir, "rp-"+id)
	out := r.cli("clients", "keygen", "--alg", "SM2", "--out", keys)
	kid := regexp.MustCompile(`kid (\S+)`).FindStringSubmatch(out)[1]
	r.cliAs(append([]string{"clients", "add", "--id", id, "--name", "RP " + id, "--scopes", scopes,
		"--jwks-file", filepath.Join(keys, kid+".jwks.json")}, extra...)...)
	return filepath.Join(keys, kid+".key.pem")
}

// TestFabricThreeRegions is issue 14's three-region proof on the Fabric
// development network (scripts/fabric/test.sh runs it): regions 310000
// (A), 320000 (B) and 330000 (C), each its own node on its own peer with
// its own Redis. A holder enrolls in A; a relying party of B redeems the
// holder's online code at B (forwarded to A node to node); a token of A
// for B works at B, a token of A for A only does not; A's credential
// verifies at C (and B) from their ledger views; a peer request naming a
// sector another relying party holds is refused with qr_unknown_verifier
// and counted in A's metrics; with A stopped B and C still accept A's
// token and credential; the consortium (B's and C's votes, 2 of 2 voters)
// suspends A and both refuse A within suspensionBound. A is reinstated at
// the end (the later Fabric tests use it).
func TestFabricThreeRegions(t *testing.T) {
	codes := []string{"310000", "320000", "330000"}
	var missing []string
	for _, c := range codes {
		if os.Getenv("TRUSTID_FABRIC_PROFILE_"+c) == "" {
			missing = append(missing, "TRUSTID_FABRIC_PROFILE_"+c)
		}
	}
	var err error
	if len(missing) > 0 {
		err = fmt.Errorf("%s unset: run scripts/fabric/test.sh, or scripts/fabric/up.sh and source scripts/fabric/work/run/env", strings.Join(missing, ", "))
	}
	testenv.Require(t, "the Fabric development network with three regions", err)
	t.Setenv("TRUSTID_KEK", testKEK)
	ctx := context.Background()
	began := time.Now()
	// Names unique to this run: the network's registry is shared by the
	// Fabric tests before this one, and keeps what they wrote.
	run := strconv.FormatInt(time.Now().UnixNano()%(1<<40), 36)

	regions := map[string]*fabricRegion{}
	for _, c := range codes {
		profile := os.Getenv("TRUSTID_FABRIC_PROFILE_" + c)
		cfg, err := fabric.LoadProfile(profile)
		if err != nil {
			t.Fatal(err)
		}
		l, err := fabric.Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		regions[c] = &fabricRegion{code: c, profile: profile, admin: ledger.Client{L: l}}
	}
	a, b, c := regions["310000"], regions["320000"], regions["330000"]
	for _, r := range []*fabricRegion{a, b, c} {
		addr := testport.Reserve(t)
		r.authNode = &authNode{t: t, dir: t.TempDir(), base: "http://" + addr}
		r.node = r.start(t, addr)
		r.logs = r.node.Logs
	}
	status := func(code string) string {
		reg, err := a.admin.Region(ctx, code)
		if err != nil {
			return err.Error()
		}
		return reg.Status
	}

	// The consortium: each region's node registered its region (or, if
	// an earlier test registered it, published its keys on the record); a
	// pending region is admitted by the votes of the active ones, each
	// through its own organization, as their administrators would.
	for _, r := range []*fabricRegion{a, b, c} {
		waitUntil(t, r.code+" registered", func() bool { _, err := r.admin.Region(ctx, r.code); return err == nil })
	}
	for _, r := range []*fabricRegion{a, b, c} {
		if status(r.code) != chaincode.RegionPending {
			continue
		}
		for _, v := range []*fabricRegion{a, b, c} {
			if v == r || status(v.code) != chaincode.RegionActive || status(r.code) != chaincode.RegionPending {
				continue
			}
			if err := v.admin.Vote(ctx, chaincode.ActionAdmit, r.code); err != nil && !errors.Is(err, chaincode.ErrAlreadyVoted) {
				t.Fatalf("%s votes to admit %s: %v", v.code, r.code, err)
			}
		}
		waitUntil(t, r.code+" admitted", func() bool { return status(r.code) == chaincode.RegionActive })
	}
	// Each region's record names its node (its URL and did:web): the node
	// points it there at start when an earlier test's record names
	// another address (syncRegionEndpoint); nothing here writes it.
	for _, r := range []*fabricRegion{a, b, c} {
		did := regionDID(r.base, r.code)
		waitUntil(t, r.code+"'s record naming its node", func() bool {
			reg, err := r.admin.Region(ctx, r.code)
			return err == nil && reg.DID == did && apiEndpoints(reg) == r.base
		})
	}
	reinstated := false
	t.Cleanup(func() {
		if !reinstated {
			reinstate(t, a, b, c)
		}
	})
	t.Logf("three regions up and in the consortium after %v", time.Since(began).Round(time.Millisecond))

	// Enrollment in A.
	var enrolled enrollResult
	p := newPerson(t, "11010519900307123", "张三")
	f := &enrollFixture{authNode: a.authNode}
	t.Run("enrollment in A", func(t *testing.T) {
		f.enrollTok = a.tokenFor("app-"+run, a.addParty("app-"+run, auth.ScopeEnroll+","+auth.ScopeStatusWrite))
		code, r, m := f.enroll(f.enrollBody(p, "", "", nil))
		if code != 201 || len(r.QRBinding) == 0 || r.IdentityCredential.Credential == "" {
			t.Fatalf("enroll at A: %d %v", code, m)
		}
		enrolled = r
	})
	if enrolled.QRBinding == nil {
		t.FailNow()
	}
	codeOfA := func() string {
		t.Helper()
		c, m := f.onlineCode(p.device, enrolled.QRBinding)
		if c != 201 {
			t.Fatalf("online code at A: %d %v", c, m)
		}
		return m["code"].(string)
	}

	// A relying party of B redeems A's holder's code at B; B forwards it
	// to A, which takes the party and its sector from the registry.
	hotel, hotelSector := "hotel-"+run, "hotel-"+run+".example"
	var hotelTok string
	redeemAtB := func(code string) (int, map[string]any) {
		body, _ := json.Marshal(map[string]string{"code": code})
		c, m, _ := b.do("POST", "/v1/qr/verify", hotelTok, "application/json", string(body))
		return c, m
	}
	t.Run("QR redemption by a relying party of B", func(t *testing.T) {
		hotelTok = b.tokenFor(hotel, b.addParty(hotel, auth.ScopeQRRedeem, "--sector", hotelSector))
		code := codeOfA()
		var c int
		var m map[string]any
		waitUntil(t, "B redeeming A's code", func() bool {
			c, m = redeemAtB(code)
			return c != 503 && c != 403 // the party or its sector not yet in A's view
		})
		if c != 200 || m["region"] != "310000" || m["pairwise_id"] == "" || m["pairwise_id"] == nil {
			t.Fatalf("A's code redeemed at B: %d %v", c, m)
		}
		if c, m := redeemAtB(code); c != 409 || m["error"] != "qr_code_used" {
			t.Errorf("A's code redeemed twice at B: %d %v", c, m)
		}
	})

	// A peer request on behalf of B's party naming the sector another
	// relying party (of C) holds: A refuses it, consumes nothing, and
	// counts it.
	t.Run("peer request for another party's sector", func(t *testing.T) {
		bank, bankSector := "bank-"+run, "bank-"+run+".example"
		c.addParty(bank, auth.ScopeQRRedeem, "--sector", bankSector)
		if _, err := c.admin.ClaimSector(ctx, chaincode.SectorClaim{Kind: chaincode.SectorKindIdentifier, Name: bankSector, ClientID: bank}); err != nil {
			t.Fatal(err)
		}
		ksB, err := keystore.Open(filepath.Join(b.dir, keystoreFile), mustKEK(t), keystore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		keyB, err := ksB.Active(gm.AlgSM2)
		if err != nil {
			t.Fatal(err)
		}
		code := codeOfA()
		body, _ := json.Marshal(redeem.PeerRedeemRequest{Code: code, ClientID: hotel, Sector: bankSector})
		req, _ := http.NewRequest("POST", a.base+redeem.PeerRedeemPath, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		na := &redeem.NodeAssertions{Region: b.code, SigningKey: redeem.FixedKey(keyB.Signer, keyB.Kid)}
		if err := na.Authorize(ctx, req, a.code); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		resp.Body.Close()
		if resp.StatusCode != 403 || m["error"] != "qr_unknown_verifier" {
			t.Errorf("peer request for %s's sector: %d %v", bank, resp.StatusCode, m)
		}
		if _, body := get(t, a.base+"/metrics"); !regexp.MustCompile(`trustid_federation_refusals_total\{reason="sector_not_held"\} [1-9]`).MatchString(body) {
			t.Errorf("A's metrics lack the refusal sector_not_held")
		}
		if c, m := redeemAtB(code); c != 200 || m["region"] != "310000" {
			t.Errorf("the code after the refused request, redeemed by %s at B: %d %v", hotel, c, m)
		}
	})

	// Tokens of A for B and for C (RFC 8707 resource), from A's token
	// endpoint; a protected route that gets past the token check answers
	// the body's error (qr_malformed).
	svc := "svc-" + run
	svcKey := a.addParty(svc, auth.ScopeQRRedeem)
	token := func(resource string) string {
		t.Helper()
		var tok string
		waitUntil(t, "a token of A for "+resource, func() bool {
			form := url.Values{"grant_type": {auth.GrantClientCredentials}, "scope": {auth.ScopeQRRedeem},
				"client_assertion_type": {auth.AssertionType}, "client_assertion": {a.assertion(svc, svcKey)}}
			if resource != "" {
				form.Set("resource", resource)
			}
			c, m, _ := a.do("POST", auth.TokenPath, "", "application/x-www-form-urlencoded", form.Encode())
			tok, _ = m["access_token"].(string)
			return c == 200
		})
		return tok
	}
	protected := func(r *fabricRegion, tok string) (int, any) {
		c, m, _ := r.do("POST", "/v1/qr/verify", tok, "application/json", `{"code":"hello"}`)
		return c, m["error"]
	}
	var forB, forC string
	t.Run("a token of A used at B", func(t *testing.T) {
		forB, forC = token(b.base), token(c.base)
		waitUntil(t, "B accepting A's token", func() bool { c, _ := protected(b, forB); return c == 400 })
		if c, e := protected(b, forB); c != 400 || e != "qr_malformed" {
			t.Errorf("A's token for B, at B: %d %v", c, e)
		}
		if c, e := protected(b, token("")); c != 401 || e != "invalid_token" {
			t.Errorf("A's token for A only, at B: %d %v", c, e)
		}
		if c, e := protected(b, forC); c != 401 || e != "invalid_token" {
			t.Errorf("A's token for C, at B: %d %v", c, e)
		}
		waitUntil(t, "C accepting A's token", func() bool { c, _ := protected(c, forC); return c == 400 })
	})

	// A's identity credential (dc+sd-jwt, A's key, A's status list)
	// verified at C's (and B's) POST /credentials/verify.
	verify := func(r *fabricRegion) (int, string) { return r.verifySDJWT(enrolled.IdentityCredential.Credential) }
	t.Run("a credential of A verified at C", func(t *testing.T) {
		for _, r := range []*fabricRegion{c, b} {
			if code, e := verify(r); code != 200 || e != "" {
				t.Errorf("A's credential at %s: %d %s", r.code, code, e)
				logVerifyFailures(t, r)
			}
		}
	})

	t.Run("A stopped, B and C still verify", func(t *testing.T) {
		a.node.Stop()
		if resp, err := http.Get(a.base + "/healthz"); err == nil {
			resp.Body.Close()
			t.Fatalf("A still answers: %d", resp.StatusCode)
		}
		if c, e := protected(b, forB); c != 400 || e != "qr_malformed" {
			t.Errorf("A stopped: A's token at B: %d %v", c, e)
		}
		if c, e := protected(c, forC); c != 400 || e != "qr_malformed" {
			t.Errorf("A stopped: A's token at C: %d %v", c, e)
		}
		for _, r := range []*fabricRegion{c, b} {
			if code, e := verify(r); code != 200 || e != "" {
				t.Errorf("A stopped: A's credential at %s: %d %s", r.code, code, e)
			}
		}
	})

	t.Run("A suspended by the consortium", func(t *testing.T) {
		// B's vote alone is 1 of 2 voters: not yet a majority.
		if err := b.admin.Vote(ctx, chaincode.ActionSuspend, a.code); err != nil {
			t.Fatal(err)
		}
		// Read on B's peer, which committed B's vote before Vote returned.
		if reg, err := b.admin.Region(ctx, a.code); err != nil || reg.Status != chaincode.RegionActive {
			t.Fatalf("A after one of two votes: %s %v", reg.Status, err)
		}
		if c, e := protected(b, forB); c != 400 {
			t.Errorf("after B's vote alone, A's token at B: %d %v", c, e)
		}
		// C's vote decides: from its commit, B and C must refuse A.
		t0 := time.Now()
		if err := c.admin.Vote(ctx, chaincode.ActionSuspend, a.code); err != nil {
			t.Fatal(err)
		}
		committed := time.Now()
		// Refused at C: the registry names A's node under a suspended
		// region (region_suspended), and nothing else resolves its keys.
		var atB, atC time.Duration
		for deadline := committed.Add(10 * time.Second); time.Now().Before(deadline) && (atB == 0 || atC == 0); time.Sleep(10 * time.Millisecond) {
			if atB == 0 {
				if code, e := protected(b, forB); code == 401 && e == "invalid_token" {
					atB = time.Since(committed)
				}
			}
			if atC == 0 {
				if code, e := verify(c); code != 200 || e != "" {
					atC = time.Since(committed)
					if code != 400 || e != "region_suspended" {
						t.Errorf("A suspended: A's credential at C: %d %s, want 400 region_suspended", code, e)
						logVerifyFailures(t, c)
					}
				}
			}
		}
		t.Logf("SUSPENSION: vote submitted and committed in %v; refused at B (token) %v and at C (credential) %v after the commit (bound %v)",
			committed.Sub(t0).Round(time.Millisecond), atB.Round(time.Millisecond), atC.Round(time.Millisecond), suspensionBound)
		if atB == 0 || atB > suspensionBound {
			t.Errorf("B refused A's token %v after the suspension, want within %v (0: not at all)", atB, suspensionBound)
		}
		if atC == 0 || atC > suspensionBound {
			t.Errorf("C refused A's credential %v after the suspension, want within %v (0: not at all)", atC, suspensionBound)
		}
		if c, e := protected(c, forC); c != 401 || e != "invalid_token" {
			t.Errorf("A suspended: A's token at C: %d %v", c, e)
		}
		if code, e := verify(b); code != 400 || e != "region_suspended" {
			t.Errorf("A suspended: A's credential at B: %d %s, want 400 region_suspended", code, e)
		}
		if _, body := get(t, b.base+"/metrics"); !regexp.MustCompile(`trustid_federation_refusals_total\{reason="region_suspended"\} [1-9]`).MatchString(body) {
			t.Errorf("B's metrics lack the refusal region_suspended")
		}
	})

	reinstate(t, a, b, c)
	reinstated = true
	t.Logf("three regions: %v in all", time.Since(began).Round(time.Millisecond))
}

// start starts the region's node on addr, on its peer, with its own
// Redis.
func (r *fabricRegion) start(t *testing.T, addr string) *testnode.Node {
	t.Helper()
	rs := testredis.Start(t)
	return testnode.Start(t, serveMain, "--data", r.dir, "--addr", addr, "--issuer", r.base, "--region", r.code,
		"--fabric-profile", r.profile, "--redis-url", "redis://"+rs)
}

// reinstate gives A back its place (B's and C's votes), for the Fabric
// tests after TestFabricThreeRegions that act as A.
func reinstate(t *testing.T, a, b, c *fabricRegion) {
	ctx := context.Background()
	reg, err := b.admin.Region(ctx, a.code)
	if err != nil || reg.Status != chaincode.RegionSuspended {
		return
	}
	for _, v := range []*fabricRegion{b, c} {
		if err := v.admin.Vote(ctx, chaincode.ActionReinstate, a.code); err != nil && !errors.Is(err, chaincode.ErrAlreadyVoted) {
			t.Errorf("%s votes to reinstate %s: %v", v.code, a.code, err)
			return
		}
	}
	// Read on C's peer, which committed C's vote before Vote returned.
	if reg, err := c.admin.Region(ctx, a.code); err != nil || reg.Status != chaincode.RegionActive {
		t.Errorf("%s after the reinstatement: %+v %v", a.code, reg.Status, err)
	}
}

// logVerifyFailures logs why r's node refused credentials (its log has
// the cause the response does not give).
func logVerifyFailures(t *testing.T, r *fabricRegion) {
	t.Helper()
	for _, l := range strings.Split(r.logs.String(), "\n") {
		if strings.Contains(l, `"msg":"verification failed"`) {
			t.Log(l)
		}
	}
}
