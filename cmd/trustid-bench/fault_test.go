package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/api"
	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/credentials/statuslist"
	"github.com/trustid-cn/trustid/internal/testenv"
	"github.com/trustid-cn/trustid/internal/testport"
	"github.com/trustid-cn/trustid/internal/testredis"
)

// Node-level fault tests: the real `trustid serve` binary, provisioned
// through the CLI as trustid-bench does, with a fault made from outside
// the process while the load runs.

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// TestMain removes the binary trustidBinary built. Run as the net/http
// row's server (runNetHTTP starts this test binary), it is that server.
func TestMain(m *testing.M) {
	if os.Getenv(netHTTPEnv) == "1" {
		if err := serveNetHTTP(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	if builtBin != "" {
		os.RemoveAll(filepath.Dir(builtBin))
	}
	os.Exit(code)
}

// trustidBinary builds cmd/trustid once for the package's tests.
func trustidBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "trustid-fault-bin")
		if err != nil {
			buildErr = err
			return
		}
		builtBin, buildErr = buildTrustID(context.Background(), dir)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// startFaultNode starts and provisions a node in a test directory with
// config (the raised limits are always there), on a port held for the
// test (a restart binds it again), and accredits the relying party as an
// issuer.
func startFaultNode(t *testing.T, ctx context.Context, extraConfig string) *bench {
	t.Helper()
	dir := t.TempDir()
	b := &bench{node: &node{bin: trustidBinary(t), dir: dir, data: filepath.Join(dir, "data"), addr: testport.Reserve(t), env: childEnv(), config: serveConfig + extraConfig}}
	if err := b.node.start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.node.stop() })
	if err := b.node.provision(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.setupIssuer(ctx); err != nil {
		t.Fatalf("%v\n%s", err, b.node.logTail())
	}
	return b
}

// verifyState verifies cr on the node and returns "active", "suspended"
// or an error.
func verifyState(c *conn, cr credential) (string, error) {
	body, _ := json.Marshal(map[string]json.RawMessage{"verifiableCredential": cr.envelope})
	out, err := c.do("POST", "/credentials/verify", "", ctJSON, body, 200)
	var se *statusError
	switch {
	case err == nil && strings.Contains(string(out), `"verified":true`):
		return "active", nil
	case errors.As(err, &se) && se.status == 400 && strings.Contains(se.body, `"code":"suspended"`):
		return "suspended", nil
	case err == nil:
		return "", errors.New("verify: " + string(out))
	}
	return "", err
}

// statusRefs reads the status entries from cr's vc+jwt payload.
func statusRefs(cr credential) ([]status.Ref, error) {
	var e struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(cr.envelope, &e); err != nil {
		return nil, err
	}
	jws, _ := strings.CutPrefix(e.ID, "data:application/vc+jwt,")
	parts := strings.Split(jws, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%s: no vc+jwt in its envelope", cr.id)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, err
	}
	var vc struct {
		CredentialStatus []struct {
			Purpose string `json:"statusPurpose"`
			Index   string `json:"statusListIndex"`
			List    string `json:"statusListCredential"`
		} `json:"credentialStatus"`
	}
	if err := json.Unmarshal(payload, &vc); err != nil || len(vc.CredentialStatus) == 0 {
		return nil, fmt.Errorf("%s: credentialStatus: %v", cr.id, err)
	}
	var refs []status.Ref
	for _, x := range vc.CredentialStatus {
		i, err := strconv.Atoi(x.Index)
		if err != nil {
			return nil, fmt.Errorf("%s: statusListIndex %q", cr.id, x.Index)
		}
		refs = append(refs, status.Ref{ListID: x.List[strings.LastIndexByte(x.List, '/')+1:], Index: i, Purpose: x.Purpose})
	}
	return refs, nil
}

// TestFaultSIGKILLDuringWrites proves that nothing the node acknowledged
// is lost when it is killed with SIGKILL in the middle of writes: 8
// workers issue credentials and suspend every other one as fast as the
// node answers; after 2 s the node gets SIGKILL. It is restarted on the
// same data directory, and every credential whose issuance was answered
// 201 must verify, every one whose suspension was answered 200 must
// verify as suspended, and every one never sent a suspension must verify
// as active. Unanswered requests (in flight at the kill) may go either
// way. Every status entry an acknowledged issuance was given must be
// allocated in the node's status store as the restart opens it (a lost
// allocation would be handed out again; drawn at random among 131,072,
// rarely within this test). Then the restarted node issues and suspends
// more credentials: a new credential must not share an ID with an old
// one, nor change an old one's state.
func TestFaultSIGKILLDuringWrites(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := startFaultNode(t, ctx, "")

	type acked struct {
		cr          credential
		suspendSent bool
		suspended   bool
	}
	var mu sync.Mutex
	var got []acked
	var inFlightErrs atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			c := newConn(b.node.base, &b.srcs, 0)
			defer c.close()
			for !stop.Load() {
				cr, err := b.issueOne(c)
				if err != nil {
					inFlightErrs.Add(1)
					return
				}
				mu.Lock()
				got = append(got, acked{cr: cr, suspendSent: len(got)%2 == 0})
				i := len(got) - 1
				send := got[i].suspendSent
				mu.Unlock()
				if !send {
					continue
				}
				path := "/v1/credentials/" + url.PathEscape(cr.id) + "/status"
				if _, err := c.do("POST", path, b.token, ctJSON, []byte(`{"action":"suspend"}`), 200); err != nil {
					inFlightErrs.Add(1)
					return
				}
				mu.Lock()
				got[i].suspended = true
				mu.Unlock()
			}
		})
	}
	time.Sleep(2 * time.Second)
	if err := b.node.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-b.node.exited
	stop.Store(true)
	wg.Wait()
	b.node.cmd = nil
	// Every issuance acknowledged holds its status entries on disk. The
	// node draws an entry at random among the 131,072 of a list, so one
	// that forgot some would rarely hand them out again within this test:
	// the store is read as the restart will read it.
	fs, err := statuslist.OpenFileStore(filepath.Join(b.node.data, "status"), statuslist.FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var unallocated []string
	for _, a := range got {
		refs, err := statusRefs(a.cr)
		if err != nil {
			t.Fatal(err)
		}
		if !fs.Allocated(refs) {
			unallocated = append(unallocated, fmt.Sprintf("%s %v", a.cr.id, refs))
		}
	}
	if len(unallocated) > 0 {
		t.Fatalf("%d of %d acknowledged issuances lost their status entries' allocation to SIGKILL: %v", len(unallocated), len(got), unallocated)
	}

	if err := b.node.start(ctx); err != nil {
		t.Fatalf("restart after SIGKILL: %v", err)
	}
	c := newConn(b.node.base, &b.srcs, verifyPerAddr)
	defer c.close()
	// readBack checks every acknowledged credential's state.
	readBack := func(when string) (issued, suspended int) {
		var lost []string
		for _, a := range got {
			state, err := verifyState(c, a.cr)
			if err != nil {
				t.Fatalf("%s: reading back %s: %v\n%s", when, a.cr.id, err, b.node.logTail())
			}
			issued++
			switch {
			case a.suspended:
				suspended++
				if state != "suspended" {
					lost = append(lost, a.cr.id+" (suspension acknowledged, now "+state+")")
				}
			case !a.suspendSent && state != "active":
				lost = append(lost, a.cr.id+" (never suspended, now "+state+")")
			}
		}
		if len(lost) > 0 {
			t.Fatalf("%s: %d acknowledged writes lost after SIGKILL: %v", when, len(lost), lost)
		}
		return issued, suspended
	}
	issued, suspended := readBack("after the restart")
	t.Logf("FIGURES fault=sigkill acknowledged_issuances=%d acknowledged_suspensions=%d in_flight_at_kill=%d lost=0",
		issued, suspended, inFlightErrs.Load())
	if issued < 10 || suspended < 10 {
		t.Fatalf("only %d issuances and %d suspensions before the kill: the test proved nothing", issued, suspended)
	}
	ids := map[string]bool{}
	for _, a := range got {
		ids[a.cr.id] = true
	}
	for range 20 {
		cr, err := b.issueOne(c)
		if err != nil {
			t.Fatalf("issue after the restart: %v", err)
		}
		if state, err := verifyState(c, cr); ids[cr.id] || err != nil || state != "active" {
			t.Fatalf("a credential issued after the restart: ID reused %v, %s %v", ids[cr.id], state, err)
		}
		if _, err := c.do("POST", "/v1/credentials/"+url.PathEscape(cr.id)+"/status", b.token, ctJSON, []byte(`{"action":"suspend"}`), 200); err != nil {
			t.Fatalf("suspend after the restart: %v", err)
		}
	}
	readBack("after 20 more issued and suspended")
}

// TestFaultRedisRestartUnderLoad proves that single use holds when the
// node's Redis dies and comes back under load, and that the node recovers
// by itself. Four workers each issue an online code, redeem it, and
// replay it at once; when no code can be issued (the outage) they replay
// codes redeemed earlier; the test also replays every redeemed code after
// the outage. Answers are counted by the phase in which the request was
// sent. redis-server is killed (SIGKILL) after 3 s and restarted on the
// same port (empty: no persistence) 3 s later. It holds that: no code is
// ever redeemed twice (no second 200, before, during or after); every
// failure is a replay refused (409) or 503 temporarily_unavailable;
// /readyz answers 200 again within 10 s of the restart, without restarting
// the node; and what needs the replay markers the empty Redis lost (a
// client assertion spent before the outage, holder requests) is refused
// with 503 instead of accepted a second time (store.ErrHistoryLost).
func TestFaultRedisRestartUnderLoad(t *testing.T) {
	_, err := exec.LookPath(testredis.Binary)
	testenv.Require(t, testredis.Binary, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rdir := t.TempDir()
	addr := testport.Reserve(t) // held across the restart
	port, _ := strconv.Atoi(addr[strings.LastIndexByte(addr, ':')+1:])
	_, _, stopRedis, err := startRedisOn(ctx, rdir, port)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { stopRedis() }()
	b := startFaultNode(t, ctx, "redis-url: redis://"+addr+"/0\n")
	if err := b.ensureHolders(4); err != nil {
		t.Fatal(err)
	}
	// A client assertion spent before the outage, replayed after it.
	assertion, err := auth.NewClientAssertion(b.node.clientKey, b.node.kid, clientID, b.tokenEndpoint, time.Now(), time.Minute, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tokenForm := []byte(url.Values{"grant_type": {auth.GrantClientCredentials}, "client_assertion_type": {auth.AssertionType}, "client_assertion": {assertion}}.Encode())
	tc := newConn(b.node.base, &b.srcs, 0)
	defer tc.close()
	if _, err := tc.do("POST", auth.TokenPath, "", ctForm, tokenForm, 200); err != nil {
		t.Fatal(err)
	}

	var phase atomic.Int32 // 0 before, 1 outage, 2 after the restart
	phases := [3]string{"before", "outage", "after"}
	var mu sync.Mutex
	redeemed := map[string]int{} // code -> 200 answers
	statuses := [3]map[string]int{{}, {}, {}}
	note := func(p int32, what string, err error) {
		key := what + " 200"
		var se *statusError
		switch {
		case errors.As(err, &se):
			key = what + " " + strconv.Itoa(se.status)
			if se.status == 503 && !strings.Contains(se.body, `"`+api.CodeUnavailable+`"`) {
				key += " (other code)"
			}
		case err != nil:
			key = what + " transport"
		}
		mu.Lock()
		statuses[p][key]++
		mu.Unlock()
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			c := newConn(b.node.base, &b.srcs, qrIssuePerAddr)
			defer c.close()
			for !stop.Load() {
				p := phase.Load()
				body, err := holderRequest(b.holders[w], time.Now())
				if err != nil {
					t.Error(err)
					return
				}
				code, err := b.issueCode(c, body)
				note(p, "issue", err)
				if err != nil {
					// No fresh code: replay one redeemed earlier.
					var old string
					mu.Lock()
					for old = range redeemed {
						break
					}
					mu.Unlock()
					if old != "" {
						_, err := c.do("POST", "/v1/qr/verify", b.token, ctJSON, redeemBodies([]string{old})[0], 200)
						note(p, "old replay", err)
						if err == nil {
							mu.Lock()
							redeemed[old]++
							mu.Unlock()
						}
					}
					time.Sleep(20 * time.Millisecond)
					continue
				}
				rb := redeemBodies([]string{code})[0]
				for _, what := range []string{"redeem", "replay"} {
					_, err := c.do("POST", "/v1/qr/verify", b.token, ctJSON, rb, 200)
					note(p, what, err)
					if err == nil {
						mu.Lock()
						redeemed[code]++
						mu.Unlock()
					}
				}
			}
		})
	}
	time.Sleep(3 * time.Second)
	stopRedis()
	phase.Store(1)
	killed := time.Now()
	// /readyz names the dependency, never its error.
	var outageReady string
	for time.Since(killed) < 2*time.Second {
		_, err := tc.do("GET", "/readyz", "", "", nil, 200)
		var se *statusError
		if errors.As(err, &se) && se.status == 503 {
			outageReady = se.body
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(outageReady, `"store":"unavailable"`) || strings.Contains(outageReady, addr) || strings.Contains(outageReady, "refused") {
		t.Errorf("/readyz during the outage = %q; want 503 naming the store, without the error", outageReady)
	}
	// The outage lasts at least 3 s, and on a loaded machine until the
	// workers have seen it (a refused issuance and an answered replay),
	// at most 15 s.
	outageSeen := func() bool {
		mu.Lock()
		defer mu.Unlock()
		m := statuses[1]
		return m["issue 503"] > 0 && m["old replay 503"]+m["old replay 409"] > 0
	}
	for time.Since(killed) < 3*time.Second || (!outageSeen() && time.Since(killed) < 15*time.Second) {
		time.Sleep(50 * time.Millisecond)
	}
	if _, _, stopRedis, err = startRedisOn(ctx, rdir, port); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	phase.Store(2)
	// The node turns ready again by itself.
	var ready time.Duration
	for ready == 0 && time.Since(restarted) < 10*time.Second {
		if _, err := tc.do("GET", "/readyz", "", "", nil, 200); err == nil {
			ready = time.Since(restarted)
		} else {
			time.Sleep(50 * time.Millisecond)
		}
	}
	// The restarted Redis lost the assertion's marker: the replay must be
	// refused (503: replay protection recovering), not accepted.
	_, err = tc.do("POST", auth.TokenPath, "", ctForm, tokenForm, 200)
	note(2, "assertion replay", err)
	time.Sleep(4 * time.Second)
	stop.Store(true)
	wg.Wait()

	// Replay every code redeemed, after the restart.
	c := newConn(b.node.base, &b.srcs, 0)
	defer c.close()
	for code := range redeemed {
		_, err := c.do("POST", "/v1/qr/verify", b.token, ctJSON, redeemBodies([]string{code})[0], 200)
		note(2, "late replay", err)
		if err == nil {
			redeemed[code]++
		}
	}
	doubles := 0
	for _, n := range redeemed {
		if n > 1 {
			doubles++
		}
	}
	for i, m := range statuses {
		t.Logf("FIGURES fault=redis-restart phase=%s answers=%v", phases[i], m)
	}
	t.Logf("FIGURES fault=redis-restart outage=%v codes_redeemed=%d double_redemptions=%d ready_after_restart=%v",
		restarted.Sub(killed).Round(time.Millisecond), len(redeemed), doubles, ready.Round(time.Millisecond))
	if doubles > 0 {
		t.Errorf("%d codes redeemed twice", doubles)
	}
	if statuses[0]["redeem 200"] < 10 {
		t.Errorf("only %d redemptions before the outage: the load did not run", statuses[0]["redeem 200"])
	}
	// Every answer is the request's success (a code issued or redeemed,
	// a replay refused: 409), or 503 temporarily_unavailable.
	allowed := map[string]bool{"issue 200": true, "redeem 200": true, "replay 409": true, "old replay 409": true, "late replay 409": true}
	for i, m := range statuses {
		for k, n := range m {
			if !allowed[k] && !strings.HasSuffix(k, " 503") {
				t.Errorf("%s: %d answers %q (want success, a replay refused with 409, or 503 %s)", phases[i], n, k, api.CodeUnavailable)
			}
		}
	}
	if statuses[1]["issue 503"] == 0 || statuses[1]["old replay 503"]+statuses[1]["old replay 409"] == 0 {
		t.Errorf("no 503 for issuance or no replay answered during the outage: %v", statuses[1])
	}
	if ready == 0 {
		t.Errorf("/readyz not 200 within 10 s of the restart")
	}
	if statuses[2]["assertion replay 503"] != 1 {
		t.Errorf("a client assertion replayed after the restart was not refused with 503: %v", statuses[2])
	}
	// Holder nonces lost with Redis: QR issuance stays refused (503) for
	// the nonces' window (2 min), so no code is issued twice from one
	// holder request.
	if n := statuses[2]["issue 200"]; n != 0 {
		t.Errorf("%d QR codes issued within seconds of the restart: the holder nonces it lost were not guarded", n)
	}
}

// TestFaultDiskFull proves that a full data directory gives clear errors
// and loses nothing. The node's data directory is on a 16 MiB tmpfs the
// test mounts (root is needed: without it the test fails under CI and
// skips elsewhere). 20 credentials are issued and half of them suspended;
// then a file fills the file system and the node gets more writes
// (suspensions and reinstatements, issuance, enrollments) until each kind
// has been refused at least once (files the node had already grown take
// writes a while): each write must succeed or fail with 507
// insufficient_storage, and the node must not exit. After the filler is
// removed, the node must serve writes again without a restart, and every
// write acknowledged before or during the full disk must read back, and
// no refused one: issued credentials verify, each credential shows the
// last status change acknowledged for it. Then it is restarted and read
// back once more.
func TestFaultDiskFull(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	mnt := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", mnt).CombinedOutput()
	if err != nil {
		err = fmt.Errorf("%v: %s", err, out)
	}
	testenv.Require(t, "a tmpfs mount (root)", err)
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", mnt, err, out)
		}
	})
	b := &bench{node: &node{bin: trustidBinary(t), dir: t.TempDir(), data: filepath.Join(mnt, "data"), addr: testport.Reserve(t), env: childEnv(), config: serveConfig}}
	if err := b.node.start(ctx); err != nil {
		t.Fatal(err)
	}
	defer b.node.stop()
	if err := b.node.provision(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.setupIssuer(ctx); err != nil {
		t.Fatal(err)
	}
	type acked struct {
		cr        credential
		suspended bool // the last acknowledged change
	}
	var got []acked
	c := newConn(b.node.base, &b.srcs, verifyPerAddr)
	defer c.close()
	answers := map[string]int{}
	// flip suspends got[i], or reinstates it if suspended, recording the
	// answer when the disk is full; a refused change leaves the state.
	flip := func(i int, full bool) {
		action := map[bool]string{false: "suspend", true: "reinstate"}[got[i].suspended]
		_, err := c.do("POST", "/v1/credentials/"+url.PathEscape(got[i].cr.id)+"/status", b.token, ctJSON, []byte(`{"action":"`+action+`"}`), 200)
		if full {
			answers["status "+answerKey(err)]++
		} else if err != nil {
			t.Fatalf("%s: %v", action, err)
		}
		if err == nil {
			got[i].suspended = !got[i].suspended
		}
	}
	issue := func(full bool) {
		cr, err := b.issueOne(c)
		if full {
			answers["issue "+answerKey(err)]++
		} else if err != nil {
			t.Fatalf("issue: %v", err)
		}
		if err == nil {
			got = append(got, acked{cr: cr})
		}
	}
	// Before: 20 credentials, the even ones suspended.
	for i := range 20 {
		issue(false)
		if i%2 == 0 {
			flip(i, false)
		}
	}

	// Fill the file system.
	filler := filepath.Join(mnt, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			break
		}
	}
	f.Close()
	// Full: change statuses, issue and enroll until each has been refused.
	const refused = " 507 insufficient_storage"
	for round := 0; answers["status"+refused] == 0 || answers["issue"+refused] == 0 || answers["enroll"+refused] == 0; round++ {
		if round == 2000 || ctx.Err() != nil {
			t.Fatalf("after %d rounds of writes on a full disk, not every kind was refused: %v", round, answers)
		}
		flip(round%len(got), true)
		issue(true)
		if answers["enroll"+refused] == 0 {
			enrollIn, err := b.enrollBodyAt(round)
			if err != nil {
				t.Fatal(err)
			}
			_, err = b.enrollOne(c, enrollIn)
			answers["enroll "+answerKey(err)]++
		}
	}
	select {
	case err := <-b.node.exited:
		t.Fatalf("the node exited on a full disk: %v\n%s", err, b.node.logTail())
	default:
	}
	t.Logf("FIGURES fault=disk-full answers_while_full=%v", answers)
	for k, n := range answers {
		if !strings.HasSuffix(k, " 200") && !strings.HasSuffix(k, refused) {
			t.Errorf("while the disk was full: %d answers %q (want success, or 507 insufficient_storage)", n, k)
		}
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	var afterErr error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if _, afterErr = b.issueOne(c); afterErr == nil {
			break
		}
	}
	if afterErr != nil {
		t.Fatalf("no issuance within 10 s of freeing the disk: %v\n%s", afterErr, b.node.logTail())
	}
	check := func(when string) {
		lost := 0
		for _, a := range got {
			state, err := verifyState(c, a.cr)
			if err != nil || a.suspended != (state == "suspended") {
				lost++
				t.Errorf("%s: credential %s (suspended by the last acknowledged change: %v): %s %v", when, a.cr.id, a.suspended, state, err)
			}
		}
		t.Logf("FIGURES fault=disk-full %s acknowledged_credentials=%d lost=%d", when, len(got), lost)
	}
	check("after freeing space")
	if err := b.node.stop(); err != nil {
		t.Fatalf("stop: %v\n%s", err, b.node.logTail())
	}
	if err := b.node.start(ctx); err != nil {
		t.Fatalf("restart after the full disk: %v", err)
	}
	check("after a restart")
}

// answerKey is "200", or the status and error code of a failed request.
func answerKey(err error) string {
	var se *statusError
	if err == nil {
		return "200"
	}
	if errors.As(err, &se) {
		var body struct {
			Error string `json:"error"`
			Code  string `json:"code"`
		}
		json.Unmarshal([]byte(se.body), &body)
		return strconv.Itoa(se.status) + " " + cmp.Or(body.Code, body.Error, "(no code)")
	}
	return "transport"
}

// TestFaultClockSkew proves the documented clock tolerances on the real
// node, with the skew on the other side of the wire: a relying party's
// clock ahead or behind signs its client assertion (iat/exp leeway 30 s,
// auth.DefaultLeeway), and a phone's clock ahead or behind signs its
// request for a QR code (±60 s, qrcode.DefaultWindow). Within the
// tolerance the node accepts; beyond it, it refuses with the specific
// error (401 invalid_client; 403 qr_holder_unauthorized), never a 5xx.
func TestFaultClockSkew(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := startFaultNode(t, ctx, "")
	if err := b.ensureHolders(1); err != nil {
		t.Fatal(err)
	}
	c := newConn(b.node.base, &b.srcs, 0)
	defer c.close()
	token := func(iat time.Time) string {
		a, err := auth.NewClientAssertion(b.node.clientKey, b.node.kid, clientID, b.tokenEndpoint, iat, time.Minute, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		form := url.Values{"grant_type": {auth.GrantClientCredentials}, "client_assertion_type": {auth.AssertionType}, "client_assertion": {a}}
		_, err = c.do("POST", auth.TokenPath, "", ctForm, []byte(form.Encode()), 200)
		return answerKey(err)
	}
	code := func(at time.Time) string {
		body, err := holderRequest(b.holders[0], at)
		if err != nil {
			t.Fatal(err)
		}
		_, err = b.issueCode(c, body)
		return strings.Replace(answerKey(err), "201 ", "", 1)
	}
	now := time.Now
	for _, x := range []struct {
		what, got, want string
	}{
		// The assertion lives 1 minute from its iat.
		{"assertion, party's clock 20 s ahead", token(now().Add(20 * time.Second)), "200"},
		{"assertion, party's clock 45 s ahead", token(now().Add(45 * time.Second)), "401 invalid_client"},
		{"assertion expired 20 s ago by the node's clock", token(now().Add(-80 * time.Second)), "200"},
		{"assertion expired 45 s ago by the node's clock", token(now().Add(-105 * time.Second)), "401 invalid_client"},
		{"QR request, phone 50 s ahead", code(now().Add(50 * time.Second)), "200"},
		{"QR request, phone 50 s behind", code(now().Add(-50 * time.Second)), "200"},
		{"QR request, phone 75 s ahead", code(now().Add(75 * time.Second)), "403 qr_holder_unauthorized"},
		{"QR request, phone 75 s behind", code(now().Add(-75 * time.Second)), "403 qr_holder_unauthorized"},
	} {
		t.Logf("FIGURES fault=clock-skew case=%q answer=%q", x.what, x.got)
		if !strings.HasPrefix(x.got, x.want) {
			t.Errorf("%s: %s, want %s", x.what, x.got, x.want)
		}
	}
}
