package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/auth"
	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/credentials/statuslist"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/testnode"
	"github.com/trustid-cn/trustid/internal/testport"
	"github.com/trustid-cn/trustid/keystore"
	"github.com/trustid-cn/trustid/ledger"
)

// TestRestoredDataDirectoryRefused: a data directory put back from a copy
// taken before the ledger moved on (the ledger apart, as Fabric is) is
// refused at start, saying why and what to do (docs/operations.md,
// "Backups"). Served, its outbox gave its next status batch an ID the
// chain already held for another batch: the chain refused it for good
// and a revocation the node had acknowledged was lost.
func TestRestoredDataDirectoryRefused(t *testing.T) {
	t.Setenv("TRUSTID_KEK", testKEK)
	dir, addr := filepath.Join(t.TempDir(), "data"), testport.Reserve(t)
	args := []string{"--data", dir, "--addr", addr, "--issuer", "http://" + addr, "--ledger-file", filepath.Join(t.TempDir(), "ledger.db")}
	node := testnode.Start(t, serveMain, args...)
	n := &authNode{t: t, dir: dir, base: node.Base, logs: node.Logs, node: node}
	tok := n.token("civil-affairs", n.addClient("civil-affairs", "SM2", auth.ScopeCredentialsIssue+","+auth.ScopeStatusWrite))
	n.accredit("civil-affairs", "ResidenceCredential")
	var ids []string
	for i := range 3 {
		body := `{"credential":{"@context":["https://www.w3.org/ns/credentials/v2"],"type":["VerifiableCredential","ResidenceCredential"],` +
			`"credentialSubject":{"id":"did:example:resident-5d20a` + string(rune('0'+i)) + `","region":"310000","since":"2020-01-01"}}}`
		code, resp, _ := n.do(http.MethodPost, "/credentials/issue", tok, "application/json", body)
		if code != http.StatusCreated {
			t.Fatalf("issue: %d %v", code, resp)
		}
		id, _ := resp["credentialId"].(string)
		ids = append(ids, id)
	}
	revoke := func(id string) {
		t.Helper()
		if code, resp, _ := n.do(http.MethodPost, "/v1/credentials/"+url.PathEscape(id)+"/status", tok, "application/json", `{"action":"revoke"}`); code != http.StatusOK {
			t.Fatalf("revoke: %d %v", code, resp)
		}
	}
	revoke(ids[0])
	node.Stop()
	backup := filepath.Join(t.TempDir(), "backup")
	if err := os.CopyFS(backup, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	n.node = testnode.Start(t, serveMain, args...)
	n.base = n.node.Base
	revoke(ids[1])
	n.node.Stop()

	// Put the copy back and start on it.
	stop := serveRestored(t, dir, backup, outboxFile, args)
	if stop == nil {
		return
	}
	revoke(ids[2]) // acknowledged
	stop()
	ob, err := ledger.OpenOutbox(filepath.Join(dir, outboxFile), nil, ledger.OutboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	dead, _ := ob.DeadBatches()
	t.Fatalf("a restored data directory served; its batches the ledger refused for good: %+v", dead)
}

// TestRestoredCopyReusesNoStatusEntry: a data directory put back from a
// copy taken with the instance stopped, after which the instance started
// again and issued credentials but changed no status (so no batch of its
// outbox is on the ledger), is refused at start (docs/operations.md,
// "Backups"). Served, its allocation log held as free the status entries
// of the credential issued since the copy, and handed them out again: two
// credentials on one entry, revoking one revokes the other.
func TestRestoredCopyReusesNoStatusEntry(t *testing.T) {
	t.Setenv("TRUSTID_KEK", testKEK)
	dir, addr := filepath.Join(t.TempDir(), "data"), testport.Reserve(t)
	args := []string{"--data", dir, "--addr", addr, "--issuer", "http://" + addr, "--ledger-file", filepath.Join(t.TempDir(), "ledger.db")}
	node := testnode.Start(t, serveMain, args...)
	n := &authNode{t: t, dir: dir, base: node.Base, logs: node.Logs, node: node}
	tok := n.token("civil-affairs", n.addClient("civil-affairs", "SM2", auth.ScopeCredentialsIssue+","+auth.ScopeStatusWrite))
	n.accredit("civil-affairs", "ResidenceCredential")
	issue := func(subject string) string {
		t.Helper()
		body := `{"credential":{"@context":["https://www.w3.org/ns/credentials/v2"],"type":["VerifiableCredential","ResidenceCredential"],` +
			`"credentialSubject":{"id":"did:example:` + subject + `","region":"310000","since":"2020-01-01"}}}`
		code, resp, _ := n.do(http.MethodPost, "/credentials/issue", tok, "application/json", body)
		env, _ := resp["verifiableCredential"].(map[string]any)
		id, _ := env["id"].(string)
		cred, ok := strings.CutPrefix(id, "data:application/vc+jwt,")
		if code != http.StatusCreated || !ok {
			t.Fatalf("issue: %d %v", code, resp)
		}
		return cred
	}
	issue("resident-7a01")
	node.Stop()
	backup := filepath.Join(t.TempDir(), "backup")
	if err := os.CopyFS(backup, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	n.node = testnode.Start(t, serveMain, args...)
	n.base = n.node.Base
	since := issue("resident-7a02") // issued after the copy; no status change
	n.node.Stop()
	stop := serveRestored(t, dir, backup, auditFile, args)
	if stop == nil {
		return
	}
	stop()
	// What the restored allocation log says of the entries of the
	// credential issued since the copy: not allocated, so free to be
	// handed out again.
	own, err := statuslist.OpenFileStore(filepath.Join(dir, statusDir), statuslist.FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, purpose := range []string{vc.PurposeRevocation, vc.PurposeSuspension} {
		e := statusEntry(t, since, purpose)
		u, _ := e["statusListCredential"].(string)
		i, _ := strconv.Atoi(e["statusListIndex"].(string))
		list := u[strings.LastIndex(u, "/")+1:]
		if err := own.Set(t.Context(), list, i, 0); errors.Is(err, status.ErrIndex) {
			t.Errorf("a restored data directory served; its allocation log holds %s entry %s[%d] of a credential issued since the copy as free: %v", purpose, list, i, err)
		}
	}
	t.Fatal("a restored data directory served")
}

// TestRestoredWholeDataDirectoryServes: with the embedded ledger in the
// data directory, a copy of the whole directory restored puts the
// ledger back with it: ledger, outbox and audit log agree, and the node
// starts and issues (docs/operations.md, "Backups").
func TestRestoredWholeDataDirectoryServes(t *testing.T) {
	t.Setenv("TRUSTID_KEK", testKEK)
	dir, addr := filepath.Join(t.TempDir(), "data"), testport.Reserve(t)
	args := []string{"--data", dir, "--addr", addr, "--issuer", "http://" + addr}
	node := testnode.Start(t, serveMain, args...)
	n := &authNode{t: t, dir: dir, base: node.Base, logs: node.Logs, node: node}
	secret := n.addClient("civil-affairs", "SM2", auth.ScopeCredentialsIssue)
	n.accredit("civil-affairs", "ResidenceCredential")
	issue := func() {
		t.Helper()
		tok := n.token("civil-affairs", secret)
		body := `{"credential":{"@context":["https://www.w3.org/ns/credentials/v2"],"type":["VerifiableCredential","ResidenceCredential"],` +
			`"credentialSubject":{"id":"did:example:resident-7b01","region":"310000","since":"2020-01-01"}}}`
		if code, resp, _ := n.do(http.MethodPost, "/credentials/issue", tok, "application/json", body); code != http.StatusCreated {
			t.Fatalf("issue: %d %v", code, resp)
		}
	}
	issue()
	node.Stop()
	backup := filepath.Join(t.TempDir(), "backup")
	if err := os.CopyFS(backup, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	n.node = testnode.Start(t, serveMain, args...)
	n.base = n.node.Base
	issue()
	n.node.Stop()
	restoreCopy(t, dir, backup)
	n.node = testnode.Start(t, serveMain, args...)
	n.base = n.node.Base
	issue()
}

// restoreCopy puts the copy backup back in place of the data directory dir.
func restoreCopy(t *testing.T, dir, backup string) {
	t.Helper()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(dir, os.DirFS(backup)); err != nil {
		t.Fatal(err)
	}
}

// serveRestored puts backup back in place of dir and runs serve on it
// with args. Refused, as docs/operations.md ("Backups") says a restored
// copy is, it checks that the error names file, "behind the ledger", the
// keystore and the docs, and returns nil; serving, it returns the
// function that stops it.
func serveRestored(t *testing.T, dir, backup, file string, args []string) (stop func()) {
	t.Helper()
	restoreCopy(t, dir, backup)
	ctx, cancel := context.WithCancel(t.Context())
	var logs syncBuffer
	done := make(chan error, 1)
	go func() { done <- serveMain(ctx, append([]string{"serve", "--log-format", "json"}, args...), &logs) }()
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(logs.String(), `"msg":"serving"`); time.Sleep(20 * time.Millisecond) {
		select {
		case err := <-done:
			cancel()
			for _, want := range []string{file, "behind the ledger", keystoreFile, "docs/operations.md"} {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("start on a restored data directory: want an error naming %q, got %v", want, err)
				}
			}
			return nil
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("serve neither started nor refused:\n%s", logs.String())
		}
	}
	return func() { cancel(); <-done }
}

// TestRestoredKeystoreOlderThanRetirement: a lost instance replaced as
// docs/operations.md ("Backups") says, on a new data directory with a
// copy of keystore.json, but a copy taken before the region rotated and
// retired its SM2 key, is refused at start, naming the keystore, the key
// and what to copy. Served, it signed with a key the region's record on
// the ledger holds retired: what it issued verified nowhere, its own
// POST /credentials/verify included.
func TestRestoredKeystoreOlderThanRetirement(t *testing.T) {
	t.Setenv("TRUSTID_KEK", testKEK)
	dir, addr := filepath.Join(t.TempDir(), "data"), testport.Reserve(t)
	ledgerFile := filepath.Join(t.TempDir(), "ledger.db")
	args := func(dir string) []string {
		return []string{"--data", dir, "--addr", addr, "--issuer", "http://" + addr, "--ledger-file", ledgerFile}
	}
	node := testnode.Start(t, serveMain, args(dir)...)
	n := &authNode{t: t, dir: dir, base: node.Base, logs: node.Logs, node: node}
	secret := n.addClient("civil-affairs", "SM2", auth.ScopeCredentialsIssue)
	n.accredit("civil-affairs", "ResidenceCredential")
	node.Stop()
	backup, err := os.ReadFile(filepath.Join(dir, keystoreFile))
	if err != nil {
		t.Fatal(err)
	}
	ks, err := keystore.Open(filepath.Join(dir, keystoreFile), mustKEK(t), keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	old, err := ks.Active(gm.AlgSM2)
	if err != nil {
		t.Fatal(err)
	}
	// The region rotates and, once every instance has the new key,
	// retires the old one (docs/operations.md, "Rotating a region's keys").
	n.cli("keys", "rotate", "SM2")
	n.node = testnode.Start(t, serveMain, args(dir)...)
	n.node.Stop()
	n.cli("keys", "retire", old.Kid)
	n.node = testnode.Start(t, serveMain, args(dir)...)
	n.node.Stop()

	// The instance is lost; its replacement gets the old copy.
	fresh := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(fresh, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(fresh, keystoreFile), backup, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var logs syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- serveMain(ctx, append([]string{"serve", "--log-format", "json"}, args(fresh)...), &logs)
	}()
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(logs.String(), `"msg":"serving"`); time.Sleep(20 * time.Millisecond) {
		select {
		case err := <-done:
			for _, want := range []string{keystoreFile, old.Kid, "retired", "docs/operations.md"} {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("start on a keystore older than the retirement of its key: want an error naming %q, got %v", want, err)
				}
			}
			return
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve neither started nor refused:\n%s", logs.String())
		}
	}
	// Served, it signs the tokens it issues with the retired key; the
	// region's other instance (the old data directory, holding the
	// rotated keystore) refuses them.
	n.dir, n.base = fresh, "http://"+addr
	tok := n.token("civil-affairs", secret)
	other := testnode.Start(t, serveMain, "--data", dir, "--addr", testport.Reserve(t), "--issuer", "http://"+addr, "--ledger-file", ledgerFile)
	n.base = other.Base
	body := `{"credential":{"@context":["https://www.w3.org/ns/credentials/v2"],"type":["VerifiableCredential","ResidenceCredential"],` +
		`"credentialSubject":{"id":"did:example:resident-7c01","region":"310000","since":"2020-01-01"}}}`
	code, resp, _ := n.do(http.MethodPost, "/credentials/issue", tok, "application/json", body)
	t.Fatalf("a keystore whose active key %s the region retired served; the token it issued (kid %s) at the region's other instance: %d %v", old.Kid, kidOf(tok), code, resp)
}

// TestPartialCopyRefused: a data directory backed up whole with the node
// stopped and restored, as docs/operations.md ("Backups") says for the
// embedded ledger, but with one file left out or cut short, is refused
// at start with an error naming the file and saying to put back a
// complete copy. Before, a missing keystore.json or ledger.db was made
// anew (new keys and secrets; an empty ledger: the region's registry
// gone) and the node served, and a ledger.db cut short panicked.
func TestPartialCopyRefused(t *testing.T) {
	t.Setenv("TRUSTID_KEK", testKEK)
	dir, addr := filepath.Join(t.TempDir(), "data"), testport.Reserve(t)
	args := []string{"--data", dir, "--addr", addr, "--issuer", "http://" + addr}
	node := testnode.Start(t, serveMain, args...)
	n := &authNode{t: t, dir: dir, base: node.Base, logs: node.Logs, node: node}
	n.addClient("civil-affairs", "SM2", auth.ScopeCredentialsIssue)
	n.accredit("civil-affairs", "ResidenceCredential")
	node.Stop()
	backup := filepath.Join(t.TempDir(), "backup")
	if err := os.CopyFS(backup, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	cut := func(file string, keep float64) func() error {
		return func() error {
			fi, err := os.Stat(filepath.Join(dir, file))
			if err != nil {
				return err
			}
			return os.Truncate(filepath.Join(dir, file), int64(float64(fi.Size())*keep))
		}
	}
	for _, c := range []struct {
		name, file string
		damage     func() error
		want       string
	}{
		{"keystore.json missing", keystoreFile, func() error { return os.Remove(filepath.Join(dir, keystoreFile)) }, "partial copy"},
		// Taken as a rotation of the audit log was cut short: audit.log
		// is audit.log.next, which the start puts back.
		{"keystore.json missing, mid-rotation", keystoreFile, func() error {
			if err := os.Rename(filepath.Join(dir, auditFile), filepath.Join(dir, auditFile+".next")); err != nil {
				return err
			}
			return os.Remove(filepath.Join(dir, keystoreFile))
		}, "partial copy"},
		{"ledger.db missing", ledgerFile, func() error { return os.Remove(filepath.Join(dir, ledgerFile)) }, "partial copy"},
		{"ledger.db empty", ledgerFile, cut(ledgerFile, 0), "partial copy"},
		{"ledger.db cut short", ledgerFile, cut(ledgerFile, 0.5), "complete copy"},
		{"outbox.db missing", outboxFile, func() error { return os.Remove(filepath.Join(dir, outboxFile)) }, "partial copy"},
		{"outbox.db cut short", outboxFile, cut(outboxFile, 0.5), "complete copy"},
		{"audit.log cut short", auditFile, cut(auditFile, 0.5), "one copy of the whole data directory"},
	} {
		t.Run(c.name, func(t *testing.T) {
			restoreCopy(t, dir, backup)
			if err := c.damage(); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			var logs syncBuffer
			done := make(chan error, 1)
			go func() {
				defer func() {
					if r := recover(); r != nil {
						done <- fmt.Errorf("panic: %v", r)
					}
				}()
				done <- serveMain(ctx, append([]string{"serve", "--log-format", "json"}, args...), &logs)
			}()
			for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				select {
				case err := <-done:
					for _, want := range []string{filepath.Join(dir, c.file), c.want} {
						if err == nil || !strings.Contains(err.Error(), want) {
							t.Errorf("start: want an error naming %q, got %v", want, err)
						}
					}
					return
				default:
				}
				if strings.Contains(logs.String(), `"msg":"serving"`) {
					cancel()
					<-done
					t.Fatalf("the node served a data directory with %s", c.name)
				}
				if time.Now().After(deadline) {
					t.Fatalf("serve neither started nor refused:\n%s", logs.String())
				}
			}
		})
	}
}
