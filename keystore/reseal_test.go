package keystore

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/leakcheck"
)

// randomKEK is a KEK that leakcheck can find (kek(b) is one byte repeated).
func randomKEK(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, gm.SM4KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// fullStore makes a keystore with every kind of entry: node keys in each
// state (a retired one has no private half), owner keys, secrets made
// and imported, a version removed.
func fullStore(t *testing.T, path string, k []byte) *Store {
	t.Helper()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s, err := Open(path, k, Options{Now: func() time.Time { now = now.Add(time.Hour); return now }})
	if err != nil {
		t.Fatal(err)
	}
	old, _ := s.Active(gm.AlgSM2)
	if _, err := s.Rotate(gm.AlgSM2); err != nil {
		t.Fatal(err)
	}
	if err := s.Retire(old.Kid); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Rotate(gm.AlgES256); err != nil {
		t.Fatal(err)
	}
	if _, err := s.EnsureOwnerKeys("did:web:node.example:issuers:rp-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Secret("store-key", 32); err != nil {
		t.Fatal(err)
	}
	for v := 2; v <= 3; v++ {
		if err := s.ImportSecret("symbol", v, randomKEK(t)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RemoveSecret("symbol", 2); err != nil {
		t.Fatal(err)
	}
	return s
}

// contentsOf reads the file at path with k, encoded as on disk.
func contentsOf(t *testing.T, path string, k []byte) inner {
	t.Helper()
	c, err := open(t, path, k).read()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := encode(c)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// secretsOf lists the key material of a keystore document, for leakcheck.
func secretsOf(doc inner) []string {
	var out []string
	for _, k := range doc.Keys {
		if k.Private != nil {
			out = append(out, string(k.Private))
		}
	}
	for _, s := range doc.Secrets {
		out = append(out, string(s.Value))
	}
	return out
}

// TestReseal: after Reseal the file opens with the new KEK only and holds
// every key and secret it held, alike; a Store opened before keeps its
// keys in memory but can no longer change the file or reload it, so it
// never writes the old KEK back.
func TestReseal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keystore.json")
	oldKEK, newKEK := randomKEK(t), randomKEK(t)
	running := fullStore(t, path, oldKEK)
	before := contentsOf(t, path, oldKEK)

	if err := Reseal(path, oldKEK, newKEK, rand.Reader); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, oldKEK, Options{}); !errors.Is(err, ErrWrongKEK) {
		t.Errorf("old KEK after Reseal: %v, want ErrWrongKEK", err)
	}
	if id, err := SealedKEKID(path); err != nil || id != KEKID(newKEK) {
		t.Errorf("SealedKEKID = %s, %v; want the new KEK's %s", id, err, KEKID(newKEK))
	}
	after := contentsOf(t, path, newKEK)
	if err := sameDoc(before, after); err != nil {
		t.Errorf("keys changed by Reseal: %v", err)
	}
	if n := len(after.Keys); n != 3+2+3 || after.Keys[0].Private != nil || len(after.Secrets) != 2 || len(after.Removed) != 1 {
		t.Errorf("fullStore made %d keys, %d secrets, %d removed", n, len(after.Secrets), len(after.Removed))
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("mode after Reseal: %v %v", st, err)
	}
	raw, _ := os.ReadFile(path)
	if _, err := running.Rotate(gm.AlgEdDSA); !errors.Is(err, ErrWrongKEK) {
		t.Errorf("a Store of the old KEK changed the re-sealed file: %v", err)
	}
	if err := running.Reload(); !errors.Is(err, ErrWrongKEK) {
		t.Errorf("Reload with the old KEK: %v", err)
	}
	if k, err := running.Active(gm.AlgSM2); err != nil || k.Signer == nil {
		t.Errorf("the old Store lost its keys in memory: %v", err)
	}
	if again, _ := os.ReadFile(path); !bytes.Equal(raw, again) {
		t.Error("the file changed after refused changes")
	}
	// And back: a store of the new KEK changes it as before.
	if _, err := open(t, path, newKEK).Rotate(gm.AlgEdDSA); err != nil {
		t.Error(err)
	}
}

// TestResealRefusals: each refusal leaves the file as it was, says why,
// and prints no KEK and no key material.
func TestResealRefusals(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keystore.json")
	oldKEK, newKEK, otherKEK := randomKEK(t), randomKEK(t), randomKEK(t)
	fullStore(t, path, oldKEK)
	raw, _ := os.ReadFile(path)
	var errs []string
	check := func(name string, err, want error, says ...string) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", name, err, want)
			return
		}
		for _, s := range says {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: %q does not say %q", name, err, s)
			}
		}
		errs = append(errs, err.Error())
		if now, _ := os.ReadFile(path); !bytes.Equal(raw, now) {
			t.Errorf("%s: the file changed", name)
		}
	}
	check("same KEK", Reseal(path, oldKEK, slices.Clone(oldKEK), rand.Reader), ErrSameKEK, KEKID(oldKEK))
	check("wrong old KEK", Reseal(path, otherKEK, newKEK, rand.Reader), ErrWrongKEK, path, KEKID(oldKEK), KEKID(otherKEK))
	check("short new KEK", Reseal(path, oldKEK, newKEK[:15], rand.Reader), ErrBadKEK)
	check("long old KEK", Reseal(path, append(slices.Clone(oldKEK), 0), newKEK, rand.Reader), ErrBadKEK)
	check("missing file", Reseal(path+".missing", oldKEK, newKEK, rand.Reader), os.ErrNotExist)
	if _, err := os.Stat(path + ".missing.lock"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a lock file was made beside a missing keystore: %v", err)
	}
	damaged := filepath.Join(dir, "damaged.json")
	os.WriteFile(damaged, bytes.Replace(raw, []byte(`"sealed": "`), []byte(`"sealed": "AAAA`), 1), 0o600)
	err := Reseal(damaged, oldKEK, newKEK, rand.Reader)
	check("damaged file", err, ErrCorrupted, damaged)

	// The privacy rule: no KEK, no key, no secret in any error, in any
	// encoding.
	scan := leakcheck.New(t, append(secretsOf(contentsOf(t, path, oldKEK)), string(oldKEK), string(newKEK), string(otherKEK))...)
	var log bytes.Buffer
	scan.PlantLog(&log)
	log.WriteString(strings.Join(errs, "\n"))
	if hits := scan.Log(log.Bytes()); len(hits) > 0 {
		t.Errorf("secrets in Reseal's errors: %v", hits)
	}
}

// TestResealInterrupted: a Reseal that stops after writing the re-sealed
// temporary file and before renaming it (a crash, here a failing write)
// leaves the file as it was: it opens with the old KEK only. The
// temporary file the crash left confuses neither Open nor a later Reseal,
// which removes it.
func TestResealInterrupted(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keystore.json")
	oldKEK, newKEK := randomKEK(t), randomKEK(t)
	fullStore(t, path, oldKEK)
	before := contentsOf(t, path, oldKEK)
	raw, _ := os.ReadFile(path)

	crash := errors.New("crashed before the rename")
	writeFile = func(path string, data []byte, _ os.FileMode) error {
		// What atomicfile.WriteFile has done when a crash stops it before
		// the rename: the whole temporary file written and synced.
		f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
		if err != nil {
			return err
		}
		defer f.Close()
		if _, err := f.Write(data); err != nil {
			return err
		}
		return crash
	}
	t.Cleanup(func() { writeFile = realWriteFile })
	if err := Reseal(path, oldKEK, newKEK, rand.Reader); !errors.Is(err, crash) {
		t.Fatalf("interrupted Reseal: %v", err)
	}
	writeFile = realWriteFile
	if now, _ := os.ReadFile(path); !bytes.Equal(raw, now) {
		t.Fatal("an interrupted Reseal changed the file")
	}
	if _, err := Open(path, newKEK, Options{}); !errors.Is(err, ErrWrongKEK) {
		t.Errorf("new KEK after an interrupted Reseal: %v", err)
	}
	if err := sameDoc(before, contentsOf(t, path, oldKEK)); err != nil {
		t.Error(err)
	}
	if names := dirNames(t, dir); len(names) != 3 {
		t.Fatalf("after the crash the directory holds %q, want the keystore, its lock and the temporary file", names)
	}

	if err := Reseal(path, oldKEK, newKEK, rand.Reader); err != nil {
		t.Fatalf("Reseal after an interrupted one: %v", err)
	}
	if err := sameDoc(before, contentsOf(t, path, newKEK)); err != nil {
		t.Error(err)
	}
	if names, want := dirNames(t, dir), []string{"keystore.json", "keystore.json.lock"}; !slices.Equal(names, want) {
		t.Errorf("after Reseal the directory holds %q, want %q (the crash's temporary file removed)", names, want)
	}
}

var realWriteFile = writeFile

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestSameDoc: the check Reseal makes before replacing the file finds a
// change in any field of any key or secret, and names it without its
// material.
func TestSameDoc(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keystore.json")
	k := randomKEK(t)
	fullStore(t, path, k)
	doc := contentsOf(t, path, k)
	if err := sameDoc(doc, contentsOf(t, path, k)); err != nil {
		t.Fatalf("a document differs from itself: %v", err)
	}
	later := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	flip := func(b []byte) []byte { b = slices.Clone(b); b[len(b)-1] ^= 1; return b }
	for name, change := range map[string]func(d *inner){
		"owner":        func(d *inner) { d.Keys[1].Owner = "did:web:x" },
		"kid":          func(d *inner) { d.Keys[1].Kid += "x" },
		"alg":          func(d *inner) { d.Keys[1].Alg = gm.AlgEdDSA },
		"state":        func(d *inner) { d.Keys[1].State = StateRetired },
		"created":      func(d *inner) { d.Keys[1].Created = later },
		"retiring set": func(d *inner) { d.Keys[1].Retiring = &later },
		"retired":      func(d *inner) { d.Keys[0].Retired = &later },
		"public":       func(d *inner) { d.Keys[1].Public = flip(d.Keys[1].Public) },
		"private":      func(d *inner) { d.Keys[1].Private = flip(d.Keys[1].Private) },
		"private lost": func(d *inner) { d.Keys[1].Private = nil },
		"key lost":     func(d *inner) { d.Keys = d.Keys[1:] },
		"keys swapped": func(d *inner) { d.Keys[1], d.Keys[2] = d.Keys[2], d.Keys[1] },
		"secret name":  func(d *inner) { d.Secrets[0].Name = "other" },
		"version":      func(d *inner) { d.Secrets[0].Version++ },
		"secret time":  func(d *inner) { d.Secrets[0].Created = later },
		"value":        func(d *inner) { d.Secrets[1].Value = flip(d.Secrets[1].Value) },
		"secret lost":  func(d *inner) { d.Secrets = d.Secrets[:1] },
		"removed name": func(d *inner) { d.Removed[0].Name = "other" },
		"removed v":    func(d *inner) { d.Removed[0].Version++ },
		"removed time": func(d *inner) { d.Removed[0].Removed = later },
		"fingerprint":  func(d *inner) { d.Removed[0].Fingerprint = flip(d.Removed[0].Fingerprint) },
		"removed lost": func(d *inner) { d.Removed = nil },
	} {
		changed := contentsOf(t, path, k)
		change(&changed)
		err := sameDoc(doc, changed)
		if err == nil {
			t.Errorf("%s: not found", name)
			continue
		}
		for _, s := range secretsOf(doc) {
			if strings.Contains(err.Error(), s) {
				t.Errorf("%s: the error prints key material", name)
			}
		}
	}
}
