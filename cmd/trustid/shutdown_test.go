package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/chaincode"
	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/internal/testnode"
	"github.com/trustid-cn/trustid/internal/testport"
	"github.com/trustid-cn/trustid/ledger"
)

// TestShutdownEndsLoginLongPoll: a login page's long poll (up to 25 s)
// in flight when the node stops answers "pending" at once (the page
// polls again, through the balancer, on another instance) instead of
// holding the drain to its end: the node stops promptly and its
// background work (the last audit anchor) is waited for
// (docs/operations.md, "Stopping an instance").
func TestShutdownEndsLoginLongPoll(t *testing.T) {
	f := newEnrollFixture(t, "--shutdown-timeout", "8s")
	a := f.addLoginRP("shop-web", "shopweb.example").start(t)
	type answer struct {
		status int
		body   map[string]string
		err    error
	}
	polled, wrote := make(chan answer, 1), make(chan struct{})
	// The poll is waiting half a second after its request was written on
	// a connection of its own (a kept-alive one the node has not read
	// from yet is idle to its shutdown, and closed; one the node has not
	// accepted yet is dropped with its listener).
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	browser := &http.Client{Jar: a.browser.Jar, Transport: tr}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { close(wrote) },
	}), "GET", a.waitURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		resp, err := browser.Do(req)
		if err != nil {
			polled <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		var m map[string]string
		err = json.NewDecoder(resp.Body).Decode(&m)
		polled <- answer{status: resp.StatusCode, body: m, err: err}
	}()
	select {
	case <-wrote:
		time.Sleep(500 * time.Millisecond)
	case got := <-polled:
		t.Fatalf("the long poll answered before the node stopped: %+v", got)
	}
	start := time.Now()
	f.node.Stop()
	took := time.Since(start)
	select {
	case got := <-polled:
		if got.err != nil || got.status != 200 || got.body["status"] != "pending" {
			t.Errorf("the long poll answered %d %v (%v), want 200 pending", got.status, got.body, got.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the long poll is still open after the node stopped")
	}
	if took > 4*time.Second {
		t.Errorf("the node took %v to stop: the long poll held its drain", took)
	}
	if logs := f.logs.String(); strings.Contains(logs, "did not finish within the drain time") {
		t.Errorf("the node did not wait for its background work:\n%s", logs)
	}
}

// TestShutdownSendsOutbox: a status change the node acknowledged is on
// the ledger when the node has stopped, not left in its data directory
// for a next start the instance may never have (a region scaling in):
// the outbox is flushed on the way out. The change waits for a batch
// (--anchor-window 1h) until then.
func TestShutdownSendsOutbox(t *testing.T) {
	t.Setenv("TRUSTID_KEK", testKEK)
	dir, addr := t.TempDir(), testport.Reserve(t)
	node := testnode.Start(t, serveMain, "--data", dir, "--addr", addr, "--issuer", "http://"+addr, "--anchor-window", "1h")
	n := &authNode{t: t, dir: dir, base: node.Base, logs: node.Logs, node: node}
	n.issueAndRevoke()
	node.Stop()
	ob, err := ledger.OpenOutbox(filepath.Join(dir, outboxFile), nil, ledger.OutboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	if st := ob.Stats(); st.Pending != 0 || st.Frozen != 0 {
		t.Errorf("the stopped node's outbox still holds %d changes and %d batches: acknowledged, not on the ledger", st.Pending, st.Frozen)
	}
}

// TestShutdownAnchorsHeads: the status change a node sends on its way
// out is followed by its list's head, as every change is (docs/
// credentials.md, "Anchored on the ledger"): a verifier refuses a list
// newer than its anchored head, and the region's other instances anchor
// only the heads of their own batches, so an instance taken out for good
// that left its last head behind would leave the list unverifiable by
// other regions. The head on the ledger after the stop is the version the
// region serves.
func TestShutdownAnchorsHeads(t *testing.T) {
	t.Setenv("TRUSTID_KEK", testKEK)
	dir, addr := t.TempDir(), testport.Reserve(t)
	args := []string{"--data", dir, "--addr", addr, "--issuer", "http://" + addr, "--anchor-window", "1h"}
	node := testnode.Start(t, serveMain, args...)
	n := &authNode{t: t, dir: dir, base: node.Base, logs: node.Logs, node: node}
	resp := n.issueAndRevoke()
	env, _ := resp["verifiableCredential"].(map[string]any)
	_, cred, err := vc.ParseDataURL(env["id"].(string))
	if err != nil {
		t.Fatal(err)
	}
	listURL := statusURL(t, cred, vc.PurposeRevocation)
	listID := listURL[strings.LastIndex(listURL, "/")+1:]
	node.Stop()

	out, _, err := run(t, context.Background(), "ledger", "head", "310000", listID, "--data", dir)
	if err != nil {
		t.Fatal(err)
	}
	var head chaincode.StatusHead
	if err := json.Unmarshal([]byte(out), &head); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// The list as the region serves it, from the chain's batches.
	base, _ := startServe(t, args...)
	var served uint64
	for deadline := time.Now().Add(10 * time.Second); served < 2 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		served = listVersion(t, fetchList(t, http.DefaultClient, base+"/status/"+listID))
	}
	if head.Version != served {
		t.Errorf("after the node stopped, the ledger's head of list %s is version %d, the list served is version %d: the revocation's head was left behind", listID, head.Version, served)
	}
}

// issueAndRevoke has a client of n, accredited for ResidenceCredential,
// issue a credential and revoke it (a change for the outbox to send):
// the issuing answer.
func (n *authNode) issueAndRevoke() map[string]any {
	t := n.t
	t.Helper()
	tok := n.token("civil-affairs", n.addClient("civil-affairs", "SM2", auth.ScopeCredentialsIssue+","+auth.ScopeStatusWrite))
	n.accredit("civil-affairs", "ResidenceCredential")
	body := `{"credential":{"@context":["https://www.w3.org/ns/credentials/v2"],"type":["VerifiableCredential","ResidenceCredential"],` +
		`"credentialSubject":{"id":"did:example:resident-5d20a1","region":"310000","since":"2020-01-01"}}}`
	code, resp, _ := n.do(http.MethodPost, "/credentials/issue", tok, "application/json", body)
	if code != http.StatusCreated {
		t.Fatalf("issue: %d %v", code, resp)
	}
	id, _ := resp["credentialId"].(string)
	if code, resp, _ := n.do(http.MethodPost, "/v1/credentials/"+url.PathEscape(id)+"/status", tok, "application/json", `{"action":"revoke"}`); code != http.StatusOK {
		t.Fatalf("revoke: %d %v", code, resp)
	}
	return resp
}
