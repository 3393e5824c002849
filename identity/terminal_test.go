package identity

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"slices"
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

// TestTerminalsFileStrict: terminals.json, now only imported, is parsed
// strictly.
func TestTerminalsFileStrict(t *testing.T) {
	tm, _ := NewTerminal("counter-1", "Counter 1", "310104", sm2Key(t).Public(), testNow)
	raw, err := MarshalTerminalsFile([]Terminal{tm})
	if err != nil {
		t.Fatal(err)
	}
	if back, err := ParseTerminalsFile(raw); err != nil || len(back) != 1 || back[0].ID != tm.ID || !samePublicKey(back[0].PublicKey, tm.PublicKey) {
		t.Fatalf("round trip: %+v %v", back, err)
	}
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
		_, err := ParseTerminalsFile([]byte(body))
		if !errors.Is(err, ErrTerminalFile) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// memTerminals is a TerminalRegistry in memory for the attestation tests
// (a node's registry is on the ledger: ledger/registry.Terminals, whose
// suite is ledger/registry/registrytest).
type memTerminals struct {
	mu   sync.Mutex
	list []Terminal
}

func (m *memTerminals) Terminal(ctx context.Context, id string) (Terminal, error) {
	if err := ctx.Err(); err != nil {
		return Terminal{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range m.list {
		if t.ID == id {
			return t, nil
		}
	}
	return Terminal{}, ErrUnknownTerminal
}

func (m *memTerminals) Add(ctx context.Context, t Terminal) error {
	if err := t.validate(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, o := range m.list {
		if o.ID == t.ID || samePublicKey(o.PublicKey, t.PublicKey) {
			return ErrTerminalExists
		}
	}
	m.list = append(m.list, t)
	return nil
}

func (m *memTerminals) Revoke(ctx context.Context, id string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, t := range m.list {
		if t.ID == id {
			if t.State == TerminalRevoked {
				return ErrTerminalRevoked
			}
			m.list[i].State, m.list[i].Revoked = TerminalRevoked, at
			return nil
		}
	}
	return ErrUnknownTerminal
}

func (m *memTerminals) List(context.Context) ([]Terminal, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.list), nil
}
