package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/testenv"
	"github.com/trustid-cn/trustid/internal/testport"
	"github.com/trustid-cn/trustid/ledger/fabric"
	"github.com/trustid-cn/trustid/ledger/ledgertest"
)

// The proof of issue 13: three instances of region 310000 behind HAProxy
// (health-checking /readyz), sharing one Redis and the native Fabric
// network, under mixed load, with one instance SIGKILLed and restarted
// and Redis restarted once. scripts/fabric/test.sh runs it.

// lbInstances is how many `trustid serve` instances run behind HAProxy.
const lbInstances = 3

// disableBound is how soon a client disabled through one instance must be
// refused by every instance (issue 13: aim ≤ 2 s on Fabric).
const disableBound = 2 * time.Second

// Phases of the proof, from the start of the load.
const (
	lbKillAt      = 15 * time.Second // SIGKILL instance 2
	lbRestartAt   = 20 * time.Second // start it again
	lbRedisDownAt = 35 * time.Second // SIGKILL redis-server
	lbRedisUpAt   = 38 * time.Second // start it again, empty
	lbPeerDownAt  = 45 * time.Second // stop region 310000's peer
	lbPeerUpAt    = 55 * time.Second // start it again
	lbLoadFor     = 65 * time.Second
)

// lostAnswer is a request of the proof's load that got the balancer's
// 502 or no answer.
type lostAnswer struct {
	at         time.Duration
	route, err string
}

// haproxyConfig is the load balancer of the proof (docs/operations.md has
// the same shape for operators): round robin over the instances, each
// health-checked on /readyz every 500 ms (down after 2 failures, up after
// 2 successes), a request whose connection failed retried on another
// instance.
func haproxyConfig(front string, backends []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `global
    maxconn 4096
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout http-request 5s
    timeout http-keep-alive 30s
    timeout server 30s
    timeout check 3s
    retries 2
    option redispatch
frontend trustid
    bind %s
    default_backend region310000
backend region310000
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 500ms fall 2 rise 2
`, front)
	for i, be := range backends {
		fmt.Fprintf(&b, "    server i%d %s check\n", i+1, be)
	}
	return b.String()
}

// servesFlag reports whether `trustid serve` has the flag.
func servesFlag(t *testing.T, bin, flag string) bool {
	out, _ := exec.Command(bin, "serve", "--help").CombinedOutput()
	return strings.Contains(string(out), "--"+flag+" ")
}

// statusEntry is one status entry of an issued credential.
type statusEntry struct {
	Purpose string `json:"statusPurpose"`
	Index   string `json:"statusListIndex"`
	List    string `json:"statusListCredential"`
}

// jwtPayload decodes the payload of a compact JWS.
func jwtPayload(s string) ([]byte, error) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a compact JWS")
	}
	return base64.RawURLEncoding.DecodeString(parts[1])
}

// statusEntries returns the status entries of an issued vc+jwt envelope.
func statusEntries(envelope json.RawMessage) ([]statusEntry, error) {
	// An EnvelopedVerifiableCredential: id "data:application/vc+jwt,JWS".
	var env struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(envelope, &env); err != nil || !strings.HasPrefix(env.ID, "data:application/vc+jwt,") {
		return nil, fmt.Errorf("not an enveloped vc+jwt: %.100s", envelope)
	}
	p, err := jwtPayload(strings.TrimPrefix(env.ID, "data:application/vc+jwt,"))
	if err != nil {
		return nil, err
	}
	var c struct {
		Status json.RawMessage `json:"credentialStatus"`
	}
	if err := json.Unmarshal(p, &c); err != nil {
		return nil, err
	}
	var es []statusEntry
	if err := json.Unmarshal(c.Status, &es); err != nil {
		var e statusEntry
		if err2 := json.Unmarshal(c.Status, &e); err2 != nil {
			return nil, fmt.Errorf("credentialStatus: %v", err)
		}
		es = []statusEntry{e}
	}
	return es, nil
}

var encodedListRE = regexp.MustCompile(`"encodedList"\s*:\s*"([^"]+)"`)

// encodedList fetches a status list from one instance and returns its
// encodedList.
func encodedList(base, path string) (string, error) {
	resp, err := http.Get(base + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<22))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("GET %s: %d %.200s", path, resp.StatusCode, body)
	}
	if p, err := jwtPayload(strings.TrimSpace(string(body))); err == nil {
		body = p
	}
	m := encodedListRE.FindSubmatch(body)
	if m == nil {
		return "", fmt.Errorf("GET %s: no encodedList in %.200s", path, body)
	}
	return string(m[1]), nil
}

// lbChange is an acknowledged status change.
type lbChange struct {
	cred   credential
	list   string // list URL path
	index  uint64
	status uint8
}

func TestFabricLBProof(t *testing.T) {
	profile, profileB, scripts := os.Getenv("TRUSTID_FABRIC_PROFILE_310000"), os.Getenv("TRUSTID_FABRIC_PROFILE_320000"), os.Getenv("TRUSTID_FABRIC_SCRIPTS")
	var err error
	if profile == "" || profileB == "" || scripts == "" {
		err = errors.New("TRUSTID_FABRIC_PROFILE_310000, _320000 or TRUSTID_FABRIC_SCRIPTS unset: run scripts/fabric/test.sh, or scripts/fabric/up.sh and source scripts/fabric/work/run/env")
	}
	testenv.Require(t, "the Fabric development network", err)
	haproxy, err := exec.LookPath("haproxy")
	testenv.Require(t, "haproxy", err)
	_, err = exec.LookPath("redis-server")
	testenv.Require(t, "redis-server", err)

	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	openLedger := func(profile string) *fabric.Ledger {
		cfg, err := fabric.LoadProfile(profile)
		if err != nil {
			t.Fatal(err)
		}
		l, err := fabric.Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	// Both regions in the consortium (a fresh network has none), as the
	// other Fabric tests do.
	ledA, ledB := openLedger(profile), openLedger(profileB)
	ledgertest.EnsureConsortium(ctx, t, ledA, ledB)
	fromHeight, err := ledA.Height(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ledB.Close()
	defer ledA.Close()
	bin := trustidBinary(t)
	root := t.TempDir()
	var problems []string
	fail := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		problems = append(problems, msg)
		t.Error(msg)
	}

	// One Redis for the region.
	rdir := filepath.Join(root, "redis")
	os.MkdirAll(rdir, 0o700)
	raddr := testport.Reserve(t) // held across the restart
	rport, _ := strconv.Atoi(raddr[strings.LastIndexByte(raddr, ':')+1:])
	_, _, stopRedis, err := startRedisOn(ctx, rdir, rport)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { stopRedis() }()

	// The public address (HAProxy) and the instances' own addresses.
	front := testport.Reserve(t)
	lbBase := "http://" + front
	env := append(childEnv(), "TRUSTID_FABRIC_PROFILE="+profile)
	config := serveConfig + "redis-url: redis://" + raddr + "/0\n"
	withInstance := servesFlag(t, bin, "instance")
	if !withInstance {
		fail("trustid serve has no --instance flag: the instances cannot allocate from lists of their own (branch status not merged)")
	}

	// Provision once (keystore, the relying party, the terminal), start and
	// stop the seed once, then give every instance a copy of its keystore
	// (and the client and terminal files, while they are files): the same
	// keys and KEK, nothing else shared but Redis and the ledger.
	seed := &node{bin: bin, dir: filepath.Join(root, "seed"), env: env, config: config}
	seed.data = filepath.Join(seed.dir, "data")
	os.MkdirAll(seed.dir, 0o700)
	if err := seed.provision(ctx); err != nil {
		t.Fatal(err)
	}
	// A second relying party, disabled through one instance under load.
	dkeys := filepath.Join(seed.dir, "rp-disable")
	out, err := seed.cli(ctx, "clients", "keygen", "--alg", gm.AlgSM2, "--out", dkeys)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^kid (\S+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("keygen printed no kid: %q", out)
	}
	dkid := m[1]
	const disabledID = "lb-disable"
	if _, err := seed.cli(ctx, "clients", "add", "--id", disabledID, "--name", "lb proof disable", "--region", region,
		"--scopes", auth.ScopeCredentialsIssue, "--jwks-file", filepath.Join(dkeys, dkid+".jwks.json")); err != nil {
		t.Fatal(err)
	}
	dpem, err := os.ReadFile(filepath.Join(dkeys, dkid+".key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	dsigner, err := gm.ParsePrivateKeyPEM(dpem)
	if err != nil {
		t.Fatal(err)
	}

	// One start of the seed makes every key serve makes on first start
	// (token signing, pairwise and symbol secrets) in its keystore.
	// The relying party is accredited as an issuer through it, on the
	// ledger, before the instances load their views.
	seed.addr = testport.Reserve(t)
	seed.args = []string{"--issuer", lbBase}
	if err := seed.start(ctx); err != nil {
		t.Fatal(err)
	}
	b := &bench{node: seed}
	if _, err := b.setupIssuer(ctx); err != nil {
		t.Fatalf("%v\n%s", err, seed.logTail())
	}
	if err := seed.stop(); err != nil {
		t.Fatal(err)
	}
	seed.cmd, seed.addr, seed.args = nil, "", nil

	insts := make([]*node, lbInstances)
	backends := make([]string, lbInstances)
	for i := range insts {
		n := *seed
		n.dir = filepath.Join(root, fmt.Sprintf("i%d", i+1))
		n.data = filepath.Join(n.dir, "data")
		os.MkdirAll(n.data, 0o700)
		for _, f := range []string{"keystore.json", "clients.json", "terminals.json"} {
			b, err := os.ReadFile(filepath.Join(seed.data, f))
			if errors.Is(err, os.ErrNotExist) && f != "keystore.json" {
				continue // on the ledger (branch registry)
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(n.data, f), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		n.addr = testport.Reserve(t)
		n.terminal = nil // the load's terminal is the load balancer's
		n.args = []string{"--issuer", lbBase, "--ledger-stall-limit", "3s"}
		if withInstance {
			n.args = append(n.args, "--instance", fmt.Sprintf("i%d", i+1))
		}
		backends[i] = n.addr
		insts[i] = &n
	}
	for _, n := range insts {
		if err := n.start(ctx); err != nil {
			t.Fatal(err)
		}
		defer n.stop()
	}

	// HAProxy in front.
	hcfg := filepath.Join(root, "haproxy.cfg")
	os.WriteFile(hcfg, []byte(haproxyConfig(front, backends)), 0o600)
	hp := exec.Command(haproxy, "-db", "-f", hcfg)
	hlog, _ := os.Create(filepath.Join(root, "haproxy.log"))
	hp.Stdout, hp.Stderr = hlog, hlog
	dieWithParent(hp)
	if err := hp.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { hp.Process.Kill(); hp.Wait() }()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get(lbBase + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(root, "haproxy.log"))
			t.Fatalf("HAProxy not serving on %s:\n%s", front, b)
		}
	}

	// IDs a request chose, across instances, before the load.
	proveChosenIDs(t, insts[:2], b)

	// The bench, pointed at the load balancer.
	lb := &node{bin: bin, dir: seed.dir, data: insts[0].data, env: env, base: lbBase, clientKey: seed.clientKey, kid: seed.kid,
		terminal: seed.terminal, logPath: insts[0].logPath}
	lb.terminal.Audience = lbBase
	b.node = lb
	if err := b.ensureHolders(4); err != nil {
		t.Fatal(err)
	}

	// The mixed load.
	var (
		mu       sync.Mutex
		answers  = map[string]int{} // "route status" -> count
		issued   []credential
		changes  []lbChange
		redeemed = map[string]int{} // code -> 200 answers
		enrolled atomic.Int64
		// revocations of credentials whose issue chose their ID, through
		// any instance (the load balancer's choice)
		chosenRevoked atomic.Int64
		stop          atomic.Bool
		wg            sync.WaitGroup
		loadStart     = time.Now()
		// answers lost to the kill: the balancer's 502 (an instance's
		// connection failed under a request it had sent) and requests
		// that got no answer, each with when it came, from loadStart
		lost []lostAnswer
	)
	note := func(route string, err error) {
		key := route + " 200"
		var se *statusError
		switch {
		case errors.As(err, &se):
			key = route + " " + strconv.Itoa(se.status)
		case err != nil:
			key = route + " transport"
		}
		mu.Lock()
		answers[key]++
		if se != nil && se.status == 502 || err != nil && se == nil {
			lost = append(lost, lostAnswer{time.Since(loadStart), route, err.Error()})
		}
		mu.Unlock()
		if err != nil {
			// No instance ready (HAProxy answers 503 at once): do not spin.
			time.Sleep(20 * time.Millisecond)
		}
	}
	revokeBody := []byte(`{"action":"revoke"}`)
	worker := func(w int) {
		defer wg.Done()
		c := newConn(lbBase, &b.srcs, qrIssuePerAddr)
		defer c.close()
		for i := 0; !stop.Load(); i++ {
			switch i % 6 {
			case 0, 1: // issue, then revoke every other credential (once)
				var cr credential
				var err error
				if i%12 == 1 { // half of the revoked ones with an ID the request chose
					cr, err = issueChosen(c, b.token, randomURN())
					note("issue-chosen", err)
				} else {
					cr, err = b.issueOne(c)
					note("issue", err)
				}
				if err != nil {
					continue
				}
				es, err := statusEntries(cr.envelope)
				if err != nil {
					note("issue (unreadable status)", err)
					continue
				}
				mu.Lock()
				issued = append(issued, cr)
				mu.Unlock()
				if i%6 != 1 {
					continue
				}
				_, err = c.do("POST", "/v1/credentials/"+url.PathEscape(cr.id)+"/status", b.token, ctJSON, revokeBody, 200)
				note("revoke", err)
				if err != nil {
					continue
				}
				if !strings.HasPrefix(cr.id, "urn:trustid:vc:") {
					chosenRevoked.Add(1)
				}
				for _, e := range es {
					if e.Purpose != "revocation" {
						continue
					}
					u, _ := url.Parse(e.List)
					idx, _ := strconv.ParseUint(e.Index, 10, 64)
					mu.Lock()
					changes = append(changes, lbChange{cred: cr, list: u.Path, index: idx, status: 1})
					mu.Unlock()
				}
			case 2: // verify a credential issued earlier
				mu.Lock()
				var cr credential
				if len(issued) > 0 {
					cr = issued[(i*7+w)%len(issued)]
				}
				mu.Unlock()
				if cr.id == "" {
					continue
				}
				body, _ := json.Marshal(map[string]json.RawMessage{"verifiableCredential": cr.envelope})
				_, err := c.do("POST", "/credentials/verify", "", ctJSON, body, 200)
				var se *statusError
				if errors.As(err, &se) && se.status == 400 && strings.Contains(se.body, `"revoked"`) {
					err = nil // revoked by another worker: an answer, not a failure
				}
				note("verify", err)
			case 3: // QR issue, redeem, replay
				body, err := holderRequest(b.holders[w%len(b.holders)], time.Now())
				if err != nil {
					t.Error(err)
					return
				}
				code, err := b.issueCode(c, body)
				note("qr-issue", err)
				if err != nil {
					continue
				}
				rb := redeemBodies([]string{code})[0]
				for _, what := range []string{"qr-redeem", "qr-replay"} {
					_, err := c.do("POST", "/v1/qr/verify", b.token, ctJSON, rb, 200)
					note(what, err)
					if err == nil {
						mu.Lock()
						redeemed[code]++
						mu.Unlock()
					}
				}
			case 4: // a token from a fresh client assertion
				a, err := auth.NewClientAssertion(b.node.clientKey, b.node.kid, clientID, b.tokenEndpoint, time.Now(), time.Minute, rand.Reader)
				if err != nil {
					t.Error(err)
					return
				}
				form := url.Values{"grant_type": {auth.GrantClientCredentials}, "client_assertion_type": {auth.AssertionType}, "client_assertion": {a}}
				_, err = c.do("POST", auth.TokenPath, "", ctForm, []byte(form.Encode()), 200)
				note("token", err)
			case 5: // an enrollment, now and then
				if i%18 != 5 {
					continue
				}
				in, err := b.enrollBody(int(enrolled.Add(1)) + 1000*(w+1))
				if err != nil {
					t.Error(err)
					return
				}
				_, err = b.enrollOne(c, in)
				note("enroll", err)
			}
		}
	}
	const workers = 6
	for w := range workers {
		wg.Add(1)
		go worker(w)
	}

	// Faults.
	victim := insts[1]
	sleepUntil := func(d time.Duration) { time.Sleep(time.Until(loadStart.Add(d))) }
	sleepUntil(lbKillAt)
	victim.cmd.Process.Signal(syscall.SIGKILL)
	<-victim.exited
	t.Logf("SIGKILLed instance 2 at %v", time.Since(loadStart).Round(time.Millisecond))
	sleepUntil(lbRestartAt)
	if err := victim.start(ctx); err != nil {
		fail("restart of instance 2: %v", err)
	}
	t.Logf("instance 2 ready again at %v", time.Since(loadStart).Round(time.Millisecond))
	// A client disabled through instance 1 while the load runs; every
	// instance must refuse its token requests within disableBound.
	disabledBy := map[int]time.Duration{}
	dkey, _ := dsigner.(*gm.PrivateKey)
	tokenFor := func(base string) error {
		a, err := auth.NewClientAssertion(dkey, dkid, disabledID, b.tokenEndpoint, time.Now(), time.Minute, rand.Reader)
		if err != nil {
			return err
		}
		form := url.Values{"grant_type": {auth.GrantClientCredentials}, "client_assertion_type": {auth.AssertionType}, "client_assertion": {a}}
		c := newConn(base, &b.srcs, 0)
		defer c.close()
		_, err = c.do("POST", auth.TokenPath, "", ctForm, []byte(form.Encode()), 200)
		return err
	}
	// Before: every instance knows the client and gives it tokens (else
	// the refusals below would prove nothing).
	for i, n := range insts {
		if err := tokenFor(n.base); err != nil {
			fail("instance %d refused %s before it was disabled: %v", i+1, disabledID, err)
		}
	}
	if _, err := insts[0].cli(ctx, "clients", "disable", disabledID); err != nil {
		fail("disable %s through instance 1: %v", disabledID, err)
	}
	disabledAt := time.Now()
	for i, n := range insts {
		for {
			err := tokenFor(n.base)
			var se *statusError
			if errors.As(err, &se) && (se.status == 400 || se.status == 401) && strings.Contains(se.body, "invalid_client") {
				disabledBy[i] = time.Since(disabledAt)
				break
			}
			if time.Since(disabledAt) > disableBound+3*time.Second {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	sleepUntil(lbRedisDownAt)
	stopRedis()
	sleepUntil(lbRedisUpAt)
	if _, _, stopRedis, err = startRedisOn(ctx, rdir, rport); err != nil {
		t.Fatal(err)
	}
	t.Logf("Redis restarted (empty) at %v", time.Since(loadStart).Round(time.Millisecond))

	// The ledger outage: region 310000's peer stops under load. Every
	// instance must report it on /readyz (503, "ledger":"unavailable"), hold
	// its outbox, and drain it when the peer is back (checked below: every
	// acknowledged change on the chain exactly once).
	peer := func(cmd string) {
		if out, err := exec.Command(filepath.Join(scripts, "peer.sh"), cmd, region).CombinedOutput(); err != nil {
			t.Fatalf("peer.sh %s %s: %v\n%s", cmd, region, err, out)
		}
	}
	sleepUntil(lbPeerDownAt)
	peer("stop")
	peerStopped := time.Now()
	ledgerDownSeen := map[int]bool{}
	for time.Until(loadStart.Add(lbPeerUpAt)) > 0 {
		for i, n := range insts {
			resp, err := http.Get(n.base + "/readyz")
			if err != nil {
				continue
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 503 && strings.Contains(string(body), `"ledger":"unavailable"`) {
				ledgerDownSeen[i] = true
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	peer("start")
	t.Logf("peer %s stopped %v, started again at %v", region, time.Since(peerStopped).Round(time.Millisecond), time.Since(loadStart).Round(time.Millisecond))
	for i := range insts {
		if !ledgerDownSeen[i] {
			fail("instance %d never answered /readyz 503 with the ledger unavailable while the peer was stopped", i+1)
		}
	}

	sleepUntil(lbLoadFor)
	stop.Store(true)
	wg.Wait()
	t.Logf("load ran %v", time.Since(loadStart).Round(time.Millisecond))

	// Every instance's outbox drains (ready again) and its view follows
	// the chain.
	readyAgain := time.Now()
	for i, n := range insts {
		for {
			resp, err := http.Get(n.base + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			if time.Since(readyAgain) > time.Minute {
				fail("instance %d not ready a minute after the load", i+1)
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	t.Logf("all instances ready %v after the load", time.Since(readyAgain).Round(time.Millisecond))
	time.Sleep(3 * time.Second)

	// 1. Every acknowledged status change is on the chain exactly once.
	anchored := ledgertest.Anchored(t, ledA, fromHeight)
	onChainOnce, onChainMissing, onChainMore := 0, 0, 0
	for _, ch := range changes {
		listID := ch.list[strings.LastIndexByte(ch.list, '/')+1:]
		switch n := anchored[chaincode.StatusChange{List: listID, Index: ch.index, Status: ch.status}]; {
		case n == 1:
			onChainOnce++
		case n == 0:
			onChainMissing++
		default:
			onChainMore++
			if onChainMore <= 5 {
				t.Logf("anchored %d times: list %s index %d status %d (credential %s)", n, listID, ch.index, ch.status, ch.cred.id)
			}
		}
	}
	if onChainMissing+onChainMore > 0 || len(changes) == 0 {
		fail("acknowledged revocations: %d, on the chain once %d, missing %d, more than once %d", len(changes), onChainOnce, onChainMissing, onChainMore)
	}

	// 2. ...and in every instance's lists: each instance verifies each
	// revoked credential as revoked.
	revokedSeen := make([]int, lbInstances)
	for i, n := range insts {
		c := newConn(n.base, &b.srcs, verifyPerAddr)
		for _, ch := range changes {
			body, _ := json.Marshal(map[string]json.RawMessage{"verifiableCredential": ch.cred.envelope})
			_, err := c.do("POST", "/credentials/verify", "", ctJSON, body, 200)
			var se *statusError
			if errors.As(err, &se) && se.status == 400 && strings.Contains(se.body, `"revoked"`) {
				revokedSeen[i]++
			}
		}
		c.close()
		if revokedSeen[i] != len(changes) {
			fail("instance %d shows %d of %d acknowledged revocations", i+1, revokedSeen[i], len(changes))
		}
	}

	// 3. No index was allocated twice.
	type slot struct {
		list  string
		index string
	}
	slots := map[slot]int{}
	lists := map[string]bool{}
	for _, cr := range issued {
		es, _ := statusEntries(cr.envelope)
		for _, e := range es {
			u, _ := url.Parse(e.List)
			slots[slot{u.Path, e.Index}]++
			lists[u.Path] = true
		}
	}
	doubleIndex := 0
	for _, n := range slots {
		if n > 1 {
			doubleIndex++
		}
	}
	if doubleIndex > 0 {
		fail("%d status list indexes allocated to more than one credential", doubleIndex)
	}

	// 4. No QR code was redeemed twice (replay every redeemed code once more).
	c := newConn(lbBase, &b.srcs, 0)
	for code := range redeemed {
		if _, err := c.do("POST", "/v1/qr/verify", b.token, ctJSON, redeemBodies([]string{code})[0], 200); err == nil {
			redeemed[code]++
		}
	}
	c.close()
	doubleQR := 0
	for _, n := range redeemed {
		if n > 1 {
			doubleQR++
		}
	}
	if doubleQR > 0 {
		fail("%d QR codes redeemed more than once", doubleQR)
	}

	// 5. Every instance serves identical lists.
	listPaths := make([]string, 0, len(lists))
	for p := range lists {
		listPaths = append(listPaths, p)
	}
	sort.Strings(listPaths)
	differ := 0
	for _, p := range listPaths {
		var first string
		for i, n := range insts {
			enc, err := encodedList(n.base, p)
			if err != nil {
				fail("instance %d: %v", i+1, err)
				differ++
				break
			}
			if i == 0 {
				first = enc
			} else if enc != first {
				differ++
				fail("instance %d serves %s differently from instance 1", i+1, p)
				break
			}
		}
	}

	// 6. The disabled client was refused by every instance within the bound.
	for i := range insts {
		d, ok := disabledBy[i]
		if !ok || d > disableBound {
			fail("instance %d did not refuse the disabled client within %v (refused: %v after %v)", i+1, disableBound, ok, d)
		}
	}

	// 7. No answer was a 500 or a 504 at the load balancer. A request
	// lost to the kill of instance 2 (the balancer's 502, or no answer:
	// the connection closed under it) is allowed only then, and only as
	// many as were in flight (each worker has at most one).
	keys := make([]string, 0, len(answers))
	for k := range answers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var ans []string
	for _, k := range keys {
		ans = append(ans, fmt.Sprintf("%s:%d", k, answers[k]))
		if strings.HasSuffix(k, " 500") || strings.HasSuffix(k, " 504") {
			fail("%d answers %q; the instances logged:\n%s", answers[k], k, serverErrors(insts))
		}
	}
	if len(lost) > workers {
		fail("%d requests lost (502 or no answer), more than the %d in flight at the kill: %v", len(lost), workers, lost)
	}
	for _, l := range lost {
		if l.at < lbKillAt || l.at > lbKillAt+5*time.Second {
			fail("a request lost at %v of the load, not when instance 2 was killed (%v): %v", l.at, lbKillAt, l)
		}
	}
	if answers["issue 200"] < 20 || answers["qr-redeem 200"] < 5 || answers["token 200"] < 5 {
		fail("the load did not run: %v", answers)
	}
	fmt.Printf("LBPROOF answers %s\n", strings.Join(ans, " "))
	fmt.Printf("LBPROOF ledger_outage_reported_by=%d/%d\n", len(ledgerDownSeen), lbInstances)
	fmt.Printf("LBPROOF chosen_id_revocations_acked=%d\n", chosenRevoked.Load())
	if chosenRevoked.Load() == 0 {
		fail("no credential with a chosen ID was revoked under the load")
	}
	fmt.Printf("LBPROOF instances=%d instance_flag=%v issued=%d lists=%d revocations_acked=%d on_chain_once=%d on_chain_missing=%d on_chain_more=%d revoked_seen_per_instance=%v double_indexes=%d qr_redeemed=%d qr_double=%d lists_differing=%d disabled_refused_after=%v problems=%d\n",
		lbInstances, withInstance, len(issued), len(listPaths), len(changes), onChainOnce, onChainMissing, onChainMore, revokedSeen,
		doubleIndex, len(redeemed), doubleQR, differ, disabledBy, len(problems))
}

// serverErrors returns the instances' log lines of 500 answers (their
// causes: writeError logs them at error level).
func serverErrors(insts []*node) string {
	var out []string
	for i, n := range insts {
		b, _ := os.ReadFile(n.logPath)
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, "status=500") {
				out = append(out, fmt.Sprintf("instance %d: %s", i+1, line))
			}
		}
	}
	return strings.Join(out, "\n")
}
