package identity

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/gm"
)

func sm2Key(t testing.TB) *gm.PrivateKey {
	t.Helper()
	k, err := gm.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func p256Key(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestNewTerminal(t *testing.T) {
	sm2 := sm2Key(t)
	p256 := p256Key(t)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	ok := func(id, name, region string, pub crypto.PublicKey) {
		t.Helper()
		tm, err := NewTerminal(id, name, region, pub, testNow)
		if err != nil {
			t.Fatalf("NewTerminal(%q, %q, %q): %v", id, name, region, err)
		}
		if tm.State != TerminalActive || !tm.Created.Equal(testNow) || tm.Name != strings.TrimSpace(name) {
			t.Fatalf("terminal %+v", tm)
		}
	}
	ok("t1", "Xuhui counter 3", "310104", sm2.Public())
	ok("A.b_c-9", "徐汇区行政服务中心 3号窗口", "310000", p256.Public())
	ok("", "  kiosk  ", "110105", sm2.Public())
	tm, _ := NewTerminal("", "kiosk", "110105", sm2.Public(), testNow)
	if want, _ := TerminalIDFromKey(sm2.Public()); tm.ID != want || !strings.HasPrefix(tm.ID, "t-") || len(tm.ID) != 18 {
		t.Errorf("default ID %q", tm.ID)
	}
	if tm.Alg() != gm.AlgSM2 {
		t.Errorf("alg %s", tm.Alg())
	}
	bad := []struct {
		id, name, region string
		pub              crypto.PublicKey
	}{
		{"-t", "n", "310104", sm2.Public()},
		{"t 1", "n", "310104", sm2.Public()},
		{strings.Repeat("a", 65), "n", "310104", sm2.Public()},
		{"t1", "", "310104", sm2.Public()},
		{"t1", "   ", "310104", sm2.Public()},
		{"t1", "a\nb", "310104", sm2.Public()},
		{"t1", strings.Repeat("名", 43), "310104", sm2.Public()},
		{"t1", "n", "31010", sm2.Public()},
		{"t1", "n", "990000", sm2.Public()},
		{"t1", "n", "31010x", sm2.Public()},
		{"t1", "n", "310104", edPub},
		{"t1", "n", "310104", &p384.PublicKey},
		{"t1", "n", "310104", nil},
	}
	for _, c := range bad {
		if _, err := NewTerminal(c.id, c.name, c.region, c.pub, testNow); !errors.Is(err, ErrInvalidTerminal) {
			t.Errorf("NewTerminal(%q, %q, %q, %T): %v", c.id, c.name, c.region, c.pub, err)
		}
	}
}

func TestTerminalFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "terminals.json")
	reg, err := OpenTerminalFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if l, _ := reg.List(ctx); len(l) != 0 {
		t.Fatal("new registry not empty")
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Error("opening created the file")
	}
	k1, k2 := sm2Key(t), p256Key(t)
	t1, _ := NewTerminal("counter-1", "Counter 1", "310104", k1.Public(), testNow)
	t2, _ := NewTerminal("kiosk-2", "Kiosk 2", "310115", k2.Public(), testNow)
	for _, tm := range []Terminal{t1, t2} {
		if err := reg.Add(ctx, tm); err != nil {
			t.Fatal(err)
		}
	}
	// A second process's view of the same file.
	other, err := OpenTerminalFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := other.Terminal(ctx, "kiosk-2")
	if err != nil || got.Region != "310115" || got.Alg() != gm.AlgES256 || !got.PublicKey.(*ecdsa.PublicKey).Equal(&k2.PublicKey) {
		t.Fatalf("lookup: %+v %v", got, err)
	}
	if _, err := other.Terminal(ctx, "nope"); !errors.Is(err, ErrUnknownTerminal) {
		t.Errorf("unknown: %v", err)
	}
	// Duplicates: ID, key.
	dupID, _ := NewTerminal("counter-1", "x", "310104", sm2Key(t).Public(), testNow)
	dupKey, _ := NewTerminal("counter-9", "x", "310104", k1.Public(), testNow)
	for _, tm := range []Terminal{dupID, dupKey} {
		if err := reg.Add(ctx, tm); !errors.Is(err, ErrTerminalExists) {
			t.Errorf("duplicate %s: %v", tm.ID, err)
		}
	}
	// Revocation by one process is seen by the other at its next lookup.
	revokedAt := testNow.Add(time.Hour)
	if err := reg.Revoke(ctx, "counter-1", revokedAt); err != nil {
		t.Fatal(err)
	}
	got, err = other.Terminal(ctx, "counter-1")
	if err != nil || got.State != TerminalRevoked || !got.Revoked.Equal(revokedAt) {
		t.Fatalf("revoked lookup %+v %v", got, err)
	}
	if err := other.Revoke(ctx, "counter-1", revokedAt); !errors.Is(err, ErrTerminalRevoked) {
		t.Errorf("revoke twice: %v", err)
	}
	if err := other.Revoke(ctx, "nope", revokedAt); !errors.Is(err, ErrUnknownTerminal) {
		t.Errorf("revoke unknown: %v", err)
	}
	// A revoked terminal's ID and key stay taken.
	again, _ := NewTerminal("counter-1", "x", "310104", sm2Key(t).Public(), testNow)
	if err := other.Add(ctx, again); !errors.Is(err, ErrTerminalExists) {
		t.Errorf("reuse of a revoked ID: %v", err)
	}
	list, _ := other.List(ctx)
	if len(list) != 2 || list[0].ID != "counter-1" || list[1].ID != "kiosk-2" {
		t.Errorf("list %v", list)
	}
	// Adding a revoked or invalid terminal.
	rt, _ := NewTerminal("r", "x", "310104", sm2Key(t).Public(), testNow)
	rt.State, rt.Revoked = TerminalRevoked, testNow
	if err := reg.Add(ctx, rt); !errors.Is(err, ErrInvalidTerminal) {
		t.Errorf("add revoked: %v", err)
	}
	if err := reg.Add(ctx, Terminal{ID: "x"}); !errors.Is(err, ErrInvalidTerminal) {
		t.Errorf("add invalid: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := reg.Terminal(cctx, "kiosk-2"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	raw, _ := os.ReadFile(path)
	if !strings.Contains(string(raw), `"format": "trustid-terminals/1"`) || strings.Contains(string(raw), `"d"`) {
		t.Errorf("file:\n%s", raw)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode())
	}
}

func TestTerminalFileStrict(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	reg, _ := OpenTerminalFile(good)
	tm, _ := NewTerminal("counter-1", "Counter 1", "310104", sm2Key(t).Public(), testNow)
	if err := reg.Add(ctx, tm); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(good)
	text := string(raw)
	entry := text[strings.Index(text, "    {") : strings.LastIndex(text, "}\n  ]")+1] // the one terminal
	cases := map[string]string{
		"not json":                 "{broken",
		"trailing":                 text + "{}",
		"unknown member":           strings.Replace(text, `"format"`, `"extra": 1, "format"`, 1),
		"repeated":                 strings.Replace(text, `"format"`, `"format": "trustid-terminals/1", "format"`, 1),
		"repeated in another case": strings.Replace(text, `"format"`, `"FORMAT": "trustid-terminals/1", "format"`, 1),
		"nested in another case":   strings.Replace(text, `"state"`, `"State": "active", "state"`, 1),
		"member in another case":   strings.Replace(text, `"region"`, `"Region"`, 1),
		"format":                   strings.Replace(text, "trustid-terminals/1", "trustid-terminals/2", 1),
		"bad state":                strings.Replace(text, `"active"`, `"paused"`, 1),
		"bad region":               strings.Replace(text, `"310104"`, `"999999"`, 1),
		"key kid":                  strings.Replace(text, `"kid": "counter-1"`, `"kid": "other"`, 1),
		"bad key":                  strings.Replace(text, `"x": "`, `"x": "AA`, 1),
		"repeated id":              strings.Replace(text, "\n  ]", ",\n"+entry+"\n  ]", 1),
	}
	for name, body := range cases {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".json")
		os.WriteFile(path, []byte(body), 0o600)
		_, err := OpenTerminalFile(path)
		if !errors.Is(err, ErrTerminalFile) {
			t.Errorf("%s: %v", name, err)
		}
		t.Logf("%s: %v", name, err)
		if after, _ := os.ReadFile(path); string(after) != body {
			t.Errorf("%s: file changed", name)
		}
	}
	// A registry whose file breaks while open reports it and keeps the
	// file as it is.
	os.WriteFile(good, []byte("{broken"), 0o600)
	if _, err := reg.Terminal(ctx, "counter-1"); !errors.Is(err, ErrTerminalFile) {
		t.Errorf("broken file: %v", err)
	}
	t2, _ := NewTerminal("counter-2", "Counter 2", "310104", sm2Key(t).Public(), testNow)
	if err := reg.Add(ctx, t2); !errors.Is(err, ErrTerminalFile) {
		t.Errorf("add over a broken file: %v", err)
	}
	if after, _ := os.ReadFile(good); string(after) != "{broken" {
		t.Error("broken file overwritten")
	}
}

// TestTerminalFileConcurrentWriters adds terminals through two registries
// on one file at once, as two CLI processes would: none may be lost.
func TestTerminalFileConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "terminals.json")
	const n = 8
	regs := make([]*TerminalFile, 2)
	terms := make([][]Terminal, 2)
	for i := range regs {
		reg, err := OpenTerminalFile(path)
		if err != nil {
			t.Fatal(err)
		}
		regs[i] = reg
		for j := range n {
			tm, err := NewTerminal(fmt.Sprintf("c%d-%d", i, j), "Counter", "310104", sm2Key(t).Public(), testNow)
			if err != nil {
				t.Fatal(err)
			}
			terms[i] = append(terms[i], tm)
		}
	}
	var wg sync.WaitGroup
	for i, reg := range regs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, tm := range terms[i] {
				if err := reg.Add(ctx, tm); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	// Each revokes, at once, a terminal the other added.
	for i, reg := range regs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range n / 2 {
				if err := reg.Revoke(ctx, fmt.Sprintf("c%d-%d", 1-i, j), testNow.Add(time.Hour)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	fresh, err := OpenTerminalFile(path)
	if err != nil {
		t.Fatal(err)
	}
	list, _ := fresh.List(ctx)
	if len(list) != 2*n {
		t.Fatalf("%d terminals in the file, want %d", len(list), 2*n)
	}
	revoked := 0
	for _, tm := range list {
		if tm.State == TerminalRevoked {
			revoked++
		}
	}
	if revoked != n {
		t.Fatalf("%d terminals revoked, want %d", revoked, n)
	}
	for i, reg := range regs {
		l, _ := reg.List(ctx)
		if len(l) != 2*n {
			t.Fatalf("registry %d sees %d terminals", i, len(l))
		}
	}
}
