package keystore

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/trustid-cn/trustid/gm"
)

func kek(b byte) []byte { return bytes.Repeat([]byte{b}, 16) }

func open(t *testing.T, path string, k []byte) *Store {
	t.Helper()
	s, err := Open(path, k, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCreateAndReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "keystore.json")
	s := open(t, path, kek(1))
	for _, alg := range Algorithms {
		k, err := s.Active(alg)
		if err != nil {
			t.Fatal(err)
		}
		if k.Signer == nil || k.Kid == "" || k.Alg != alg {
			t.Fatalf("%s: bad key %+v", alg, k)
		}
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	raw, _ := os.ReadFile(path)
	if bytes.Contains(raw, []byte("PRIVATE")) || bytes.Contains(raw, []byte(`"keys"`)) {
		t.Error("keystore file shows its contents in clear")
	}
	again := open(t, path, kek(1))
	for _, alg := range Algorithms {
		a, _ := s.Active(alg)
		b, _ := again.Active(alg)
		if a.Kid != b.Kid {
			t.Errorf("%s: kid changed across reopen", alg)
		}
	}
}

func TestWrongKEKAndCorruption(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keystore.json")
	open(t, path, kek(1))
	before, _ := os.ReadFile(path)

	_, err := Open(path, kek(2), Options{})
	if !errors.Is(err, ErrWrongKEK) || !strings.Contains(err.Error(), path) {
		t.Errorf("wrong KEK: %v", err)
	}
	if id, err := SealedKEKID(path); err != nil || id != KEKID(kek(1)) {
		t.Errorf("SealedKEKID = %q, %v; want %q", id, err, KEKID(kek(1)))
	}

	damaged := bytes.Replace(before, []byte(`"sealed": "`), []byte(`"sealed": "AAAA`), 1)
	os.WriteFile(path, damaged, 0o600)
	_, err = Open(path, kek(1), Options{})
	if !errors.Is(err, ErrCorrupted) || !strings.Contains(err.Error(), path) {
		t.Errorf("damaged: %v", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, damaged) {
		t.Error("a failed open rewrote the file")
	}

	os.WriteFile(path, []byte("not json"), 0o600)
	if _, err := Open(path, kek(1), Options{}); !errors.Is(err, ErrCorrupted) {
		t.Errorf("garbage: %v", err)
	}
	if _, err := SealedKEKID(path); !errors.Is(err, ErrCorrupted) {
		t.Errorf("SealedKEKID of garbage: %v", err)
	}
	if _, err := SealedKEKID(path + ".missing"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("SealedKEKID of a missing file: %v", err)
	}
	if _, err := Open(path, kek(1)[:8], Options{}); !errors.Is(err, ErrBadKEK) {
		t.Errorf("short KEK: %v", err)
	}
}

// TestDamagedKEKID: the KEK ID in the file's clear envelope is not
// sealed; when it is damaged, the KEK that sealed the file is told so
// (ErrCorrupted, naming its KEK ID), not that it is the wrong KEK, which
// sent the operator looking for a KEK that never existed. Another KEK is
// still the wrong one.
func TestDamagedKEKID(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keystore.json")
	open(t, path, kek(1))
	raw, _ := os.ReadFile(path)
	id := KEKID(kek(1))
	damaged := bytes.Replace(raw, []byte(`"kek_id": "`+id+`"`), []byte(`"kek_id": "`+strings.Repeat("0", len(id))+`"`), 1)
	if bytes.Equal(damaged, raw) {
		t.Fatal("no kek_id in the file")
	}
	os.WriteFile(path, damaged, 0o600)
	_, err := Open(path, kek(1), Options{})
	if !errors.Is(err, ErrCorrupted) || errors.Is(err, ErrWrongKEK) || !strings.Contains(err.Error(), id) || !strings.Contains(err.Error(), "kek_id") {
		t.Errorf("damaged kek_id, the right KEK: %v; want ErrCorrupted naming kek_id and %s", err, id)
	}
	if _, err := Open(path, kek(2), Options{}); !errors.Is(err, ErrWrongKEK) {
		t.Errorf("damaged kek_id, another KEK: %v; want ErrWrongKEK", err)
	}
	if err := Reseal(path, kek(1), kek(2), rand.Reader); !errors.Is(err, ErrCorrupted) {
		t.Errorf("Reseal of a damaged kek_id: %v; want ErrCorrupted", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, damaged) {
		t.Error("the damaged file was rewritten")
	}
}

// TestRotateTwiceOldTokensVerify signs with each generation of key and
// checks that everything signed before two rotations still verifies against
// the published keys, until the key is retired.
func TestRotateTwiceOldTokensVerify(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keystore.json")
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s, err := Open(path, kek(1), Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	type signed struct{ kid, tok string }
	var tokens []signed
	sign := func() {
		k, err := s.Active(gm.AlgSM2)
		if err != nil {
			t.Fatal(err)
		}
		tok := jwt.NewWithClaims(gm.SigningMethodSM2, jwt.MapClaims{"n": len(tokens)})
		tok.Header["kid"] = k.Kid
		str, err := tok.SignedString(k.Signer)
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, signed{k.Kid, str})
	}
	sign()
	for range 2 {
		now = now.Add(24 * time.Hour)
		rotated, err := s.Rotate(gm.AlgSM2)
		if err != nil {
			t.Fatal(err)
		}
		sign()
		// The new key signs from now on, not the one it retires.
		if kid := tokens[len(tokens)-1].kid; kid != rotated.Kid {
			t.Errorf("Active after Rotate is %s, want the new key %s", kid, rotated.Kid)
		}
	}
	reopened := open(t, path, kek(1))
	parser, _ := gm.NewJWTParser([]string{gm.AlgSM2})
	keyfunc := func(tok *jwt.Token) (any, error) {
		for _, k := range reopened.Published() {
			if k.Kid == tok.Header["kid"] {
				return k.Public, nil
			}
		}
		return nil, ErrNotFound
	}
	for _, tk := range tokens {
		if _, err := parser.ParseWithClaims(tk.tok, jwt.MapClaims{}, keyfunc); err != nil {
			t.Errorf("token by %s: %v", tk.kid, err)
		}
	}
	var states []string
	for _, k := range reopened.Keys() {
		if k.Alg == gm.AlgSM2 {
			states = append(states, k.State)
		}
	}
	if strings.Join(states, ",") != "retiring,retiring,active" {
		t.Errorf("states %v", states)
	}

	// Retire the first key: its token stops verifying; the active key cannot
	// be retired.
	if err := reopened.Retire(tokens[0].kid); err != nil {
		t.Fatal(err)
	}
	if _, err := parser.ParseWithClaims(tokens[0].tok, jwt.MapClaims{}, keyfunc); err == nil {
		t.Error("token of a retired key still verifies")
	}
	if err := reopened.Retire(tokens[2].kid); !errors.Is(err, ErrKeyState) {
		t.Errorf("retire active: %v", err)
	}
	if err := reopened.Retire("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("retire unknown: %v", err)
	}
	k, _ := open(t, path, kek(1)).Lookup(tokens[0].kid)
	if k.State != StateRetired || k.Signer != nil {
		t.Errorf("retired key after reopen: %s, signer %v", k.State, k.Signer != nil)
	}
}

// TestGeneration: a running node's Generation moves when another process
// rotates or retires a key and the node reloads, and when the node
// changes a key itself; reads and a failed reload leave it.
func TestGeneration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keystore.json")
	running, cli := open(t, path, kek(1)), open(t, path, kek(1))
	g := running.Generation()
	moved := func(what string, want bool) {
		t.Helper()
		if now := running.Generation(); (now != g) != want {
			t.Errorf("%s: generation %d, was %d", what, now, g)
		}
		g = running.Generation()
	}
	running.Active(gm.AlgSM2)
	running.Published()
	running.Lookup("nope")
	moved("reads", false)
	old, _ := running.Active(gm.AlgSM2)
	if _, err := cli.Rotate(gm.AlgSM2); err != nil {
		t.Fatal(err)
	}
	moved("another process's rotation, not reloaded", false)
	if err := running.Reload(); err != nil {
		t.Fatal(err)
	}
	moved("the reload after a rotation", true)
	if err := cli.Retire(old.Kid); err != nil {
		t.Fatal(err)
	}
	if err := running.Reload(); err != nil {
		t.Fatal(err)
	}
	moved("the reload after a retirement", true)
	if _, err := running.Rotate(gm.AlgSM2); err != nil {
		t.Fatal(err)
	}
	moved("its own rotation", true)
	os.WriteFile(path, []byte("damaged"), 0o600)
	if err := running.Reload(); err == nil {
		t.Fatal("a damaged file reloaded")
	}
	moved("a failed reload", false)
}

func TestSecrets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keystore.json")
	s := open(t, path, kek(1))
	a, err := s.Secret("symbol", 32)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(a.String(), string(a.Value())) || a.String() != "symbol/v1" {
		t.Errorf("String() = %q", a.String())
	}
	b, _ := open(t, path, kek(1)).Secret("symbol", 32)
	if !bytes.Equal(a.Value(), b.Value()) || b.Version != 1 {
		t.Error("secret not persisted")
	}
	v2 := bytes.Repeat([]byte{7}, 32)
	if err := s.ImportSecret("symbol", 2, v2); err != nil {
		t.Fatal(err)
	}
	if err := s.ImportSecret("symbol", 2, v2); err != nil {
		t.Errorf("re-import of the same value: %v", err)
	}
	if err := s.ImportSecret("symbol", 2, bytes.Repeat([]byte{8}, 32)); !errors.Is(err, ErrSecretSeen) {
		t.Errorf("conflicting import: %v", err)
	}
	if latest, _ := s.Secret("symbol", 32); latest.Version != 2 {
		t.Errorf("latest version %d", latest.Version)
	}
	if old, err := s.SecretVersion("symbol", 1); err != nil || !bytes.Equal(old.Value(), a.Value()) {
		t.Errorf("version 1: %v", err)
	}
	if err := s.ImportSecret("x", 1, []byte("short")); !errors.Is(err, ErrBadSecret) {
		t.Errorf("short secret: %v", err)
	}
}

// TestRemoveSecret: an older version of a national key is removed once
// holders have migrated (docs/identity.md, "Key-version migration"; before,
// the keystore could only add versions, so a compromised key stayed on every
// node); the newest stays.
func TestRemoveSecret(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keystore.json")
	s := open(t, path, kek(1))
	for v := 1; v <= 3; v++ {
		if err := s.ImportSecret("symbol", v, bytes.Repeat([]byte{byte(v)}, 32)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.ImportSecret("pairwise", 1, bytes.Repeat([]byte{9}, 32)); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveSecret("symbol", 1); err != nil {
		t.Fatal(err)
	}
	reopened := open(t, path, kek(1))
	for _, ks := range []*Store{s, reopened} {
		if _, err := ks.SecretVersion("symbol", 1); !errors.Is(err, ErrNotFound) {
			t.Errorf("removed version: %v", err)
		}
		for _, v := range []int{2, 3} {
			if sec, err := ks.SecretVersion("symbol", v); err != nil || sec.Value()[0] != byte(v) {
				t.Errorf("version %d: %v", v, err)
			}
		}
		if _, err := ks.SecretVersion("pairwise", 1); err != nil {
			t.Errorf("another secret: %v", err)
		}
	}
	if err := s.RemoveSecret("symbol", 3); !errors.Is(err, ErrKeyState) {
		t.Errorf("remove the newest: %v", err)
	}
	if err := s.RemoveSecret("symbol", 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("remove again: %v", err)
	}
	if err := s.RemoveSecret("pairwise", 1); !errors.Is(err, ErrKeyState) {
		t.Errorf("remove the only version: %v", err)
	}
}

// TestRemovedSecretVersion: a removed version takes back the value it
// held and no other (a symbol or pairwise ID recorded under "version N"
// elsewhere would be derived again differently). Before, RemoveSecret
// forgot the version and ImportSecret took any value under it.
func TestRemovedSecretVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keystore.json")
	s := open(t, path, kek(1))
	v1, other := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{9}, 32)
	for v, value := range [][]byte{v1, bytes.Repeat([]byte{2}, 32)} {
		if err := s.ImportSecret("symbol", v+1, value); err != nil {
			t.Fatal(err)
		}
	}
	stale := open(t, path, kek(1)) // read the file before the removal
	if err := s.RemoveSecret("symbol", 1); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	for name, ks := range map[string]*Store{"same": s, "reopened": open(t, path, kek(1)), "stale": stale} {
		err := ks.ImportSecret("symbol", 1, other)
		if !errors.Is(err, ErrSecretRemoved) || !strings.Contains(err.Error(), "symbol version 1") || !strings.Contains(err.Error(), "new version, 3 or later") {
			t.Errorf("%s store: another value under the removed version: %v", name, err)
		}
		if err != nil && (strings.Contains(err.Error(), hex.EncodeToString(v1)) || strings.Contains(err.Error(), string(v1))) {
			t.Errorf("%s store: the error prints the key", name)
		}
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("a refused import changed the file")
	}
	if _, err := s.SecretVersion("symbol", 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("version 1 after a refused import: %v", err)
	}
	// Another secret's version 1 was never removed.
	if err := s.ImportSecret("pairwise", 1, other); err != nil {
		t.Errorf("pairwise version 1: %v", err)
	}
	// The value removed restores the version (removed by mistake), in
	// this store and in the file; removed again, it is guarded again.
	if err := s.ImportSecret("symbol", 1, v1); err != nil {
		t.Fatalf("restore the removed value: %v", err)
	}
	if sec, err := open(t, path, kek(1)).SecretVersion("symbol", 1); err != nil || !bytes.Equal(sec.Value(), v1) {
		t.Errorf("restored version 1: %v", err)
	}
	if err := s.ImportSecret("symbol", 1, other); !errors.Is(err, ErrSecretSeen) {
		t.Errorf("another value under the restored version: %v", err)
	}
	if err := s.RemoveSecret("symbol", 1); err != nil {
		t.Fatal(err)
	}
	if err := open(t, path, kek(1)).ImportSecret("symbol", 1, other); !errors.Is(err, ErrSecretRemoved) {
		t.Errorf("removed twice: %v", err)
	}
}

// TestOpenFileWithoutRemoved: a keystore document written before removed
// versions were kept (no "removed" member) opens, and removing and
// importing work on it.
func TestOpenFileWithoutRemoved(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keystore.json")
	value := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
	plain := `{"keys":[],"secrets":[{"name":"symbol","version":1,"created":"2026-01-01T00:00:00Z","value":"` + value +
		`"},{"name":"symbol","version":2,"created":"2026-01-02T00:00:00Z","value":"` + value + `"}]}`
	sealed, err := gm.Seal(rand.Reader, kek(1), []byte(plain), []byte(fileFormat))
	if err != nil {
		t.Fatal(err)
	}
	raw := fmt.Sprintf(`{"format":%q,"kek_id":%q,"sealed":%q}`, fileFormat, KEKID(kek(1)), base64.StdEncoding.EncodeToString(sealed))
	if err := os.WriteFile(path, []byte(raw), 0o600); err != nil {
		t.Fatal(err)
	}
	s := open(t, path, kek(1))
	if sec, err := s.SecretVersion("symbol", 2); err != nil || sec.Value()[0] != 1 {
		t.Fatalf("version 2: %v", err)
	}
	if err := s.RemoveSecret("symbol", 1); err != nil {
		t.Fatal(err)
	}
	if err := open(t, path, kek(1)).ImportSecret("symbol", 1, bytes.Repeat([]byte{9}, 32)); !errors.Is(err, ErrSecretRemoved) {
		t.Errorf("another value under the removed version: %v", err)
	}
}

// TestDamagedRemoved: a removed version that RemoveSecret could not have
// written (a short fingerprint, a version also held, one given twice) is
// ErrCorrupted, not a guard that lets any value back in.
func TestDamagedRemoved(t *testing.T) {
	value := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
	fp := base64.StdEncoding.EncodeToString(make([]byte, fingerprintSize))
	removed := `{"name":"symbol","version":1,"fingerprint":"` + fp + `","removed":"2026-01-01T00:00:00Z"}`
	for name, plain := range map[string]string{
		"short fingerprint": `{"keys":[],"secrets":[],"removed":[{"name":"symbol","version":1,"fingerprint":"AAAA"}]}`,
		"no name":           `{"keys":[],"secrets":[],"removed":[{"version":1,"fingerprint":"` + fp + `"}]}`,
		"version 0":         `{"keys":[],"secrets":[],"removed":[{"name":"symbol","version":0,"fingerprint":"` + fp + `"}]}`,
		"also held":         `{"keys":[],"secrets":[{"name":"symbol","version":1,"value":"` + value + `"}],"removed":[` + removed + `]}`,
		"twice":             `{"keys":[],"secrets":[],"removed":[` + removed + `,` + removed + `]}`,
	} {
		sealed, err := gm.Seal(rand.Reader, kek(1), []byte(plain), []byte(fileFormat))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := unseal("keys.json", envelope{Format: fileFormat, KEKID: KEKID(kek(1)), Sealed: sealed}, kek(1)); !errors.Is(err, ErrCorrupted) {
			t.Errorf("%s: %v, want ErrCorrupted", name, err)
		}
	}
}

// TestKeysAndSecretsPrintNoMaterial: no fmt verb and no slog handler
// shows a key's private half or a secret's value (docs/SECURITY.md,
// "Print a secret by accident"). %v printed an Ed25519 key's seed, a JSON
// log an ES256 key's D, and %#v a secret's bytes.
func TestKeysAndSecretsPrintNoMaterial(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "keystore.json"), kek(1))
	sec, err := s.Secret("symbol", 32)
	if err != nil {
		t.Fatal(err)
	}
	// The material in each form fmt and encoding/json write it in.
	var material []string
	addBytes := func(b []byte) {
		list, gosyntax := fmt.Sprint(b), fmt.Sprintf("%#v", b)
		material = append(material, list[1:len(list)-1], gosyntax[strings.Index(gosyntax, "{")+1:len(gosyntax)-1],
			base64.StdEncoding.EncodeToString(b), hex.EncodeToString(b))
	}
	addBytes(sec.Value())
	var printed []string
	for _, k := range s.Keys() {
		switch p := k.Signer.(type) {
		case ed25519.PrivateKey:
			addBytes(p.Seed())
		case *ecdsa.PrivateKey:
			material = append(material, p.D.String())
			addBytes(p.D.Bytes())
		case *gm.PrivateKey:
			addBytes(p.Scalar())
		default:
			t.Fatalf("%s: signer %T", k.Alg, k.Signer)
		}
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
			printed = append(printed, fmt.Sprintf(verb, k), fmt.Sprintf(verb, &k), fmt.Sprintf(verb, []Key{k}))
		}
		if !strings.Contains(fmt.Sprint(k), k.Kid) {
			t.Errorf("%s key printed as %q, without its kid", k.Alg, fmt.Sprint(k))
		}
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
		printed = append(printed, fmt.Sprintf(verb, sec), fmt.Sprintf(verb, *sec))
	}
	var logs bytes.Buffer
	for _, h := range []slog.Handler{slog.NewJSONHandler(&logs, nil), slog.NewTextHandler(&logs, nil)} {
		slog.New(h).Info("secret", slog.Any("secret", sec))
		for _, k := range s.Keys() {
			slog.New(h).Info("key", slog.Any("key", k))
		}
	}
	printed = append(printed, logs.String())
	for _, out := range printed {
		for _, m := range material {
			if strings.Contains(out, m) {
				t.Fatalf("key material printed: %.300s", out)
			}
		}
	}
}

func TestResolveKEK(t *testing.T) {
	dir := t.TempDir()
	dev := filepath.Join(dir, "kek.dev")
	k1, isDev, err := ResolveKEK("", dev, rand.Reader)
	if err != nil || !isDev || len(k1) != 16 {
		t.Fatalf("generated: %v %v", isDev, err)
	}
	k2, _, _ := ResolveKEK("", dev, rand.Reader)
	if !bytes.Equal(k1, k2) {
		t.Error("development KEK not kept")
	}
	k3, isDev, err := ResolveKEK("000102030405060708090a0b0c0d0e0f", dev, rand.Reader)
	if err != nil || isDev || k3[15] != 15 {
		t.Errorf("hex KEK: %x %v", k3, err)
	}
	if _, _, err := ResolveKEK("too-short", dev, rand.Reader); !errors.Is(err, ErrBadKEK) {
		t.Errorf("bad KEK: %v", err)
	}
}

// TestResolveKEKConcurrentFirstUse starts processes together on a fresh
// data directory, as a node and an operator's command may: each must get
// the development KEK left in the file. Each used to write its own over
// the others', so a keystore could be sealed under a KEK no file kept.
func TestResolveKEKConcurrentFirstUse(t *testing.T) {
	for range 5 {
		dev := filepath.Join(t.TempDir(), "kek.dev")
		keks := make([][]byte, 8)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range keks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				k, isDev, err := ResolveKEK("", dev, rand.Reader)
				if err != nil || !isDev {
					t.Errorf("ResolveKEK: %v %v", isDev, err)
				}
				keks[i] = k
			}()
		}
		close(start)
		wg.Wait()
		if t.Failed() {
			return
		}
		kept, _, err := ResolveKEK("", dev, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		for i, k := range keks {
			if !bytes.Equal(k, kept) {
				t.Fatalf("process %d got KEK ID %s, the file keeps %s", i, KEKID(k), KEKID(kept))
			}
		}
		if names := dirNames(t, filepath.Dir(dev)); !slices.Equal(names, []string{"kek.dev"}) {
			t.Errorf("the directory holds %q, want only kek.dev", names)
		}
	}
}

// TestTooLargeNeverWritten: a change that would make the file larger
// than Open reads back (maxFile) is refused with ErrTooLarge and changes
// nothing. It used to be written, and then the keystore, every key and
// secret in it, no longer opened ("file is corrupted: larger than ...").
func TestTooLargeNeverWritten(t *testing.T) {
	// 4 MiB instead of 64, to keep the test short.
	defer func(was int) { maxFile = was }(maxFile)
	maxFile = 4 << 20
	path := filepath.Join(t.TempDir(), "keystore.json")
	s := open(t, path, kek(1))
	before, _ := os.ReadFile(path)
	node := s.Keys()
	const owner = "did:web:node.example:issuers:rp-%05d"
	// Owner keys as accreditations add them, three per issuer: 10,000
	// seal to some 6 MB.
	err := s.update(false, func(c *contents) error {
		for i := 0; len(c.keys) < 10000; i++ {
			for _, k := range node {
				k.Owner = fmt.Sprintf(owner, i)
				c.keys = append(c.keys, k)
			}
		}
		return nil
	})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("a change to a file over %d bytes: %v, want ErrTooLarge", maxFile, err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, before) {
		t.Error("the refused change was written")
	}
	if len(s.OwnerKeys(fmt.Sprintf(owner, 0))) != 0 {
		t.Error("the refused change is in memory")
	}
	if again := open(t, path, kek(1)); len(again.Keys()) != len(node) {
		t.Errorf("reopened with %d keys, want %d", len(again.Keys()), len(node))
	}
}

// TestConcurrentWriters opens the same file twice, as two processes
// would (trustid serve and trustid keys rotate), and changes it from both
// at once: no change may be lost, and each store sees the other's.
func TestConcurrentWriters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keystore.json")
	a := open(t, path, kek(1))
	b := open(t, path, kek(1))
	const n = 8
	errs := make(chan error, 2*n+2)
	var wg sync.WaitGroup
	for i, s := range []*Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range n {
				errs <- s.ImportSecret(fmt.Sprintf("s%d-%d", i, j), 1, bytes.Repeat([]byte{byte(i*n + j + 1)}, 16))
			}
			_, err := s.Rotate(Algorithms[i])
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []*Store{open(t, path, kek(1)), a, b} {
		if err := s.Reload(); err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			for j := range n {
				sec, err := s.SecretVersion(fmt.Sprintf("s%d-%d", i, j), 1)
				if err != nil || sec.Value()[0] != byte(i*n+j+1) {
					t.Fatalf("secret s%d-%d lost: %v", i, j, err)
				}
			}
			retiring := 0
			for _, k := range s.Keys() {
				if k.Alg == Algorithms[i] && k.State == StateRetiring {
					retiring++
				}
			}
			if retiring != 1 {
				t.Fatalf("rotation of %s lost", Algorithms[i])
			}
		}
	}
	// Secret creates version 1 once, even when another store made it.
	s1, err := a.Secret("shared", 32)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := b.Secret("shared", 32)
	if err != nil || !bytes.Equal(s1.Value(), s2.Value()) {
		t.Fatalf("second store made its own secret: %v", err)
	}
}

// TestConcurrentCreate opens a missing keystore from two goroutines:
// both must end with the same keys.
func TestConcurrentCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keystore.json")
	stores := make([]*Store, 2)
	var wg sync.WaitGroup
	for i := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Open(path, kek(1), Options{})
			if err != nil {
				t.Error(err)
				return
			}
			stores[i] = s
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for _, alg := range Algorithms {
		x, _ := stores[0].Active(alg)
		y, _ := stores[1].Active(alg)
		if x.Kid != y.Kid {
			t.Fatalf("%s: two stores created different keys", alg)
		}
	}
}

// TestOwnerKeys: keys held for an issuer are made once per algorithm,
// survive a reopen, and never stand in for the node's own keys.
func TestOwnerKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keystore.json")
	s := open(t, path, kek(1))
	node := s.Keys()
	const owner = "did:web:node.example:issuers:rp-1"
	keys, err := s.EnsureOwnerKeys(owner)
	if err != nil || len(keys) != len(Algorithms) {
		t.Fatalf("EnsureOwnerKeys: %v %d", err, len(keys))
	}
	again, err := s.EnsureOwnerKeys(owner)
	if err != nil || len(again) != len(keys) || again[0].Kid != keys[0].Kid {
		t.Fatalf("second EnsureOwnerKeys made new keys: %v %v", err, again)
	}
	for _, k := range keys {
		if k.Owner != owner || k.Signer == nil || k.State != StateActive {
			t.Errorf("owner key %+v", k)
		}
		if _, err := s.Lookup(k.Kid); !errors.Is(err, ErrNotFound) {
			t.Errorf("Lookup found an owner key as the node's: %v", err)
		}
		if a, _ := s.Active(k.Alg); a.Kid == k.Kid {
			t.Errorf("an owner key is the node's active %s key", k.Alg)
		}
		if err := s.Retire(k.Kid); !errors.Is(err, ErrNotFound) {
			t.Errorf("Retire reached an owner key: %v", err)
		}
	}
	if len(s.Keys()) != len(node) || len(s.Published()) != len(node) {
		t.Errorf("node keys %d/%d, want %d", len(s.Keys()), len(s.Published()), len(node))
	}
	if _, err := s.Rotate(gm.AlgSM2); err != nil {
		t.Fatal(err)
	}
	reopened := open(t, path, kek(1))
	k, err := reopened.OwnerActive(owner, gm.AlgSM2)
	if err != nil || k.Kid != keys[0].Kid || k.Owner != owner {
		t.Errorf("after reopen: %+v %v", k, err)
	}
	if _, err := reopened.OwnerActive("did:web:other", gm.AlgSM2); !errors.Is(err, ErrNoActive) {
		t.Errorf("unknown owner: %v", err)
	}
	for _, bad := range []string{"", "has space", strings.Repeat("x", 257)} {
		if _, err := s.EnsureOwnerKeys(bad); !errors.Is(err, ErrBadOwner) {
			t.Errorf("owner %q: %v", bad, err)
		}
	}
}

// TestReloadKeepsConcurrentChange: a Reload (a node's SIGHUP) while the
// same Store makes a change (an accreditation's owner keys) must not put
// back the file as it was before that change: once EnsureOwnerKeys has
// returned, the keys it made stay in memory, and it returns them.
func TestReloadKeepsConcurrentChange(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "keystore.json"), kek(1))
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			if err := s.Reload(); err != nil {
				done <- err
				return
			}
		}
	}()
	defer func() {
		close(stop)
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	for i := range 20 {
		owner := fmt.Sprintf("client-%d", i)
		keys, err := s.EnsureOwnerKeys(owner)
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != len(Algorithms) {
			t.Fatalf("EnsureOwnerKeys(%s) returned %d keys, want %d: a reload put back the file read before the change", owner, len(keys), len(Algorithms))
		}
		for range 50 {
			if got := len(s.OwnerKeys(owner)); got != len(Algorithms) {
				t.Fatalf("%s has %d keys in memory after EnsureOwnerKeys returned, want %d: a reload put back the file read before the change", owner, got, len(Algorithms))
			}
		}
	}
}

// TestSecretSizeBounds: Secret makes secrets of 16 to 64 bytes only, as
// ImportSecret takes and a file holds them: a shorter one (a symbol key
// of 8 bytes) is ErrBadSecret and writes nothing.
func TestSecretSizeBounds(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keystore.json")
	s := open(t, path, kek(1))
	for _, size := range []int{0, 15, 65} {
		if _, err := s.Secret("symbol", size); !errors.Is(err, ErrBadSecret) {
			t.Errorf("a secret of %d bytes: %v, want ErrBadSecret", size, err)
		}
	}
	if _, err := s.SecretVersion("symbol", 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("after the refusals: %v, want no secret", err)
	}
}

// TestOversizedFileNotRead: a keystore file larger than maxFile is
// refused as ErrCorrupted for its size, before it is decoded; and a
// sealed body changed under the right KEK ID fails authentication.
func TestOversizedFileNotRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keystore.json")
	open(t, path, kek(1))
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func(was int) { maxFile = was }(maxFile)
	maxFile = len(raw) - 1
	if _, err := Open(path, kek(1), Options{}); !errors.Is(err, ErrCorrupted) || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("a file over maxFile: %v, want ErrCorrupted for its size", err)
	}
	maxFile = len(raw)
	env, err := parseEnvelope(path, raw)
	if err != nil {
		t.Fatal(err)
	}
	env.Sealed[len(env.Sealed)/2] ^= 1
	if _, err := unseal(path, env, kek(1)); !errors.Is(err, ErrCorrupted) || !strings.Contains(err.Error(), "authentication failed") {
		t.Errorf("a sealed body changed: %v, want ErrCorrupted, authentication failed", err)
	}
}
