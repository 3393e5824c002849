package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/internal/testenv"
	"github.com/trustid-cn/trustid/ledger/fabric"
	"github.com/trustid-cn/trustid/ledger/ledgertest"
)

// chosenIssueBody is issueBody with the credential ID chosen by the
// request.
func chosenIssueBody(id string) []byte {
	return bytes.Replace(issueBody, []byte(`"type":`), []byte(`"id":`+strconv.Quote(id)+`,"type":`), 1)
}

func randomURN() string {
	var b [16]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return "urn:uuid:" + h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// TestFabricChosenID: two `trustid serve` instances of region 310000 on
// the native Fabric network (own data directories, one keystore copy, one
// Redis). A credential whose issue request chose its ID, issued on
// instance 1, is revoked through instance 2 right after the answer (the
// binding is on the chain before instance 1 answers), and both instances
// serve the revocation; an ID issued on both at once is issued by exactly
// one (201), the other answering 409 credential_id_taken; an ID nobody
// issued is 404 on both.
func TestFabricChosenID(t *testing.T) {
	profile, profileB := os.Getenv("TRUSTID_FABRIC_PROFILE_310000"), os.Getenv("TRUSTID_FABRIC_PROFILE_320000")
	var err error
	if profile == "" || profileB == "" {
		err = errors.New("TRUSTID_FABRIC_PROFILE_310000 or _320000 unset: run scripts/fabric/test.sh")
	}
	testenv.Require(t, "the Fabric development network", err)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
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
	ledA, ledB := openLedger(profile), openLedger(profileB)
	ledgertest.EnsureConsortium(ctx, t, ledA, ledB)
	ledA.Close()
	ledB.Close()

	bin := trustidBinary(t)
	root := t.TempDir()
	rdir := filepath.Join(root, "redis")
	os.MkdirAll(rdir, 0o700)
	raddr, _, stopRedis, err := startRedis(ctx, rdir)
	if err != nil {
		t.Fatal(err)
	}
	defer stopRedis()
	env := append(childEnv(), "TRUSTID_FABRIC_PROFILE="+profile)
	config := serveConfig + "redis-url: redis://" + raddr + "/0\n"
	issuerBase := "http://" + freeAddr(t) // the region's public address; nothing listens there

	seed := &node{bin: bin, dir: filepath.Join(root, "seed"), env: env, config: config}
	seed.data = filepath.Join(seed.dir, "data")
	os.MkdirAll(seed.dir, 0o700)
	if err := seed.provision(ctx); err != nil {
		t.Fatal(err)
	}
	seed.addr = freeAddr(t)
	seed.args = []string{"--issuer", issuerBase}
	if err := seed.start(ctx); err != nil {
		t.Fatal(err)
	}
	b := &bench{node: seed}
	token, err := b.setupIssuer(ctx)
	if err != nil {
		t.Fatalf("%v\n%s", err, seed.logTail())
	}
	if err := seed.stop(); err != nil {
		t.Fatal(err)
	}
	insts := make([]*node, 2)
	for i := range insts {
		n := *seed
		n.dir = filepath.Join(root, fmt.Sprintf("i%d", i+1))
		n.data = filepath.Join(n.dir, "data")
		os.MkdirAll(n.data, 0o700)
		for _, f := range []string{"keystore.json", "clients.json", "terminals.json"} {
			k, err := os.ReadFile(filepath.Join(seed.data, f))
			if errors.Is(err, os.ErrNotExist) && f != "keystore.json" {
				continue // on the ledger
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(n.data, f), k, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		n.cmd, n.addr = nil, freeAddr(t)
		n.args = []string{"--issuer", issuerBase, "--instance", fmt.Sprintf("i%d", i+1)}
		insts[i] = &n
		if err := n.start(ctx); err != nil {
			t.Fatal(err)
		}
		defer n.stop()
	}
	conns := []*conn{newConn(insts[0].base, &b.srcs, 1000), newConn(insts[1].base, &b.srcs, 1000)}
	defer conns[0].close()
	defer conns[1].close()
	issue := func(c *conn, id string, want int) ([]byte, error) {
		return c.do("POST", "/credentials/issue", token, ctJSON, chosenIssueBody(id), want)
	}

	// 1. Issued on instance 1, revoked through instance 2 at once.
	chosen := randomURN()
	start := time.Now()
	out, err := issue(conns[0], chosen, 201)
	if err != nil {
		t.Fatalf("issue with a chosen id: %v\n%s", err, insts[0].logTail())
	}
	t.Logf("issue with a chosen id on Fabric answered in %v", time.Since(start).Round(time.Millisecond))
	var resp struct {
		VerifiableCredential json.RawMessage `json:"verifiableCredential"`
		CredentialID         string          `json:"credentialId"`
	}
	if err := json.Unmarshal(out, &resp); err != nil || resp.CredentialID != chosen {
		t.Fatalf("issue response: %.300s", out)
	}
	es, err := statusEntries(resp.VerifiableCredential)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conns[1].do("POST", "/v1/credentials/"+url.PathEscape(chosen)+"/status", token, ctJSON, []byte(`{"action":"revoke"}`), 200); err != nil {
		t.Fatalf("revoke through instance 2: %v\n%s", err, insts[1].logTail())
	}
	for _, e := range es {
		if e.Purpose != "revocation" {
			continue
		}
		u, _ := url.Parse(e.List)
		idx, _ := strconv.Atoi(e.Index)
		for i, n := range insts {
			deadline := time.Now().Add(30 * time.Second)
			for {
				enc, err := encodedList(n.base, u.Path)
				var bits *status.Bitstring
				if err == nil {
					bits, err = status.DecodeBitstring(enc, 0)
				}
				if err == nil && bits.Get(idx) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("instance %d does not serve the revocation of %s[%d]: %v", i+1, u.Path, idx, err)
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
	}

	// 2. One id on both instances at once: exactly one issues it.
	for round := range 3 {
		id := randomURN()
		type answer struct {
			out []byte
			err error
		}
		answers := make(chan answer, 2)
		for _, c := range conns {
			go func() {
				out, err := issue(c, id, 201)
				answers <- answer{out, err}
			}()
		}
		won, taken := 0, 0
		for range 2 {
			a := <-answers
			var se *statusError
			switch {
			case a.err == nil:
				won++
			case errors.As(a.err, &se) && se.status == 409 && strings.Contains(se.body, `"credential_id_taken"`):
				taken++
			default:
				t.Fatalf("round %d: %v", round, a.err)
			}
		}
		if won != 1 || taken != 1 {
			t.Fatalf("round %d: %d issued, %d refused as taken", round, won, taken)
		}
	}

	// 3. An id nobody issued: 404 on both.
	for i, c := range conns {
		_, err := c.do("POST", "/v1/credentials/"+url.PathEscape(randomURN())+"/status", token, ctJSON, []byte(`{"action":"revoke"}`), 404)
		if err != nil {
			t.Fatalf("instance %d, an unknown id: %v", i+1, err)
		}
	}
}
