package auth_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/auth/clientstoretest"
)

func TestFileStoreConformance(t *testing.T) {
	clientstoretest.Run(t, func(t *testing.T) auth.ClientStore {
		s, err := auth.OpenFileStore(filepath.Join(t.TempDir(), "clients.json"), auth.FileStoreOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestFileStoreSeesOtherWriters: a running node (one FileStore) notices a
// change written by another process (another FileStore on the same file,
// as `trustid clients` is) once its reload interval has passed.
func TestFileStoreSeesOtherWriters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clients.json")
	var mu sync.Mutex
	now := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	var reloadErrs []error
	node, err := auth.OpenFileStore(path, auth.FileStoreOptions{Now: clock, OnReloadError: func(err error) { reloadErrs = append(reloadErrs, err) }})
	if err != nil {
		t.Fatal(err)
	}
	cli, err := auth.OpenFileStore(path, auth.FileStoreOptions{ReloadInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := cli.Create(ctx, clientstoretest.Client(t, "svc-a")); err != nil {
		t.Fatal(err)
	}
	// An unknown ID makes the node look at the file at once.
	if _, err := node.Get(ctx, "svc-a"); err != nil {
		t.Fatalf("new client not seen: %v", err)
	}
	// A change to a known client is seen after the reload interval.
	if _, err := cli.Update(ctx, "svc-a", func(c *auth.Client) error { c.Name = "Renamed"; return nil }); err != nil {
		t.Fatal(err)
	}
	if c, _ := node.Get(ctx, "svc-a"); c.Name == "Renamed" {
		t.Fatal("change seen before the reload interval")
	}
	advance(auth.DefaultReloadInterval)
	if c, _ := node.Get(ctx, "svc-a"); c.Name != "Renamed" {
		t.Fatal("change not seen after the reload interval")
	}
	// The node's own write keeps the CLI's client (read-modify-write of
	// the file, not of the node's memory).
	if err := node.Create(ctx, clientstoretest.Client(t, "svc-b")); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Update(ctx, "svc-a", func(c *auth.Client) error { c.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	advance(auth.DefaultReloadInterval)
	if c, err := node.Get(ctx, "svc-a"); err != nil || !c.Disabled {
		t.Errorf("disable by the CLI not seen: %+v %v", c, err)
	}
	list, _ := cli.List(ctx)
	if len(list) != 2 {
		t.Errorf("file holds %d clients, want 2", len(list))
	}
	// A damaged file is reported and the clients in memory are kept.
	if err := os.WriteFile(path, []byte(`{"format":"trustid-clients/1","clients":[{`), 0o600); err != nil {
		t.Fatal(err)
	}
	advance(auth.DefaultReloadInterval)
	if _, err := node.Get(ctx, "svc-b"); err != nil {
		t.Errorf("clients lost after a bad reload: %v", err)
	}
	if len(reloadErrs) != 1 || !strings.Contains(reloadErrs[0].Error(), path) {
		t.Errorf("reload errors %v", reloadErrs)
	}
	// ...and a damaged file stops a fresh start with the file's name.
	if _, err := auth.OpenFileStore(path, auth.FileStoreOptions{}); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("open of a damaged file: %v", err)
	}
}

// TestFileStoreTwoWritersNoLostUpdate: two stores on one file (two
// processes) updating concurrently lose nothing, thanks to the file lock.
func TestFileStoreTwoWritersNoLostUpdate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clients.json")
	a, _ := auth.OpenFileStore(path, auth.FileStoreOptions{})
	b, _ := auth.OpenFileStore(path, auth.FileStoreOptions{})
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 10 {
		for j, s := range []*auth.FileStore{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := "svc-" + string(rune('a'+i)) + string(rune('0'+j))
				if err := s.Create(ctx, clientstoretest.Client(t, id)); err != nil {
					t.Error(err)
				}
			}()
		}
	}
	wg.Wait()
	fresh, err := auth.OpenFileStore(path, auth.FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if list, _ := fresh.List(ctx); len(list) != 20 {
		t.Errorf("%d clients in the file, want 20", len(list))
	}
}

func TestClientsFileIsStrict(t *testing.T) {
	dir := t.TempDir()
	good := clientstoretest.Client(t, "svc-a")
	s, _ := auth.OpenFileStore(filepath.Join(dir, "ok.json"), auth.FileStoreOptions{})
	if err := s.Create(context.Background(), good); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "ok.json"))
	body := string(raw)
	bad := map[string]string{
		"unknown format":           strings.Replace(body, "trustid-clients/1", "trustid-clients/2", 1),
		"unknown field":            strings.Replace(body, `"client_name"`, `"colour": "red", "client_name"`, 1),
		"repeated key":             strings.Replace(body, `"client_name"`, `"region": "110000", "client_name"`, 1),
		"repeated in another case": strings.Replace(body, `"client_name"`, `"REGION": "110000", "client_name"`, 1),
		"member in another case":   strings.Replace(body, `"client_name"`, `"Client_Name"`, 1),
		"trailing data":            body + "{}",
		"invalid client":           strings.Replace(body, `"310000"`, `"310100"`, 1),
		"duplicate id":             strings.Replace(body, `"clients": [`, `"clients": [`+clientJSON(t, body)+`,`, 1),
		"not JSON":                 "clients: []",
	}
	for name, content := range bad {
		p := filepath.Join(dir, "bad.json")
		os.WriteFile(p, []byte(content), 0o600)
		if _, err := auth.OpenFileStore(p, auth.FileStoreOptions{}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if strings.Contains(body, "secret") {
		t.Error("a private_key_jwt client has a secret field")
	}
}

// clientJSON extracts the one client object of a clients.json body.
func clientJSON(t *testing.T, body string) string {
	start := strings.Index(body, "{\n      \"client_id\"")
	end := strings.LastIndex(body, "}\n  ]")
	if start < 0 || end < 0 {
		t.Fatalf("unexpected layout:\n%s", body)
	}
	return body[start : end+1]
}
