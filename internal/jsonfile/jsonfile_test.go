package jsonfile

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/trustid-cn/trustid/internal/strictjson"
)

// counter is a registry of named counters.
type counter map[string]int

func openCounter(t *testing.T, path string) *Registry[counter] {
	t.Helper()
	r, err := Open(path, Options[counter]{
		Decode: func(b []byte) (counter, error) {
			var c counter
			if err := strictjson.Decode(b, &c, 1<<10); err != nil {
				return nil, err
			}
			return c, nil
		},
		Encode:  func(c counter) ([]byte, error) { return json.Marshal(c) },
		Empty:   func() counter { return counter{} },
		MaxSize: 1 << 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func incr(key string) func(counter) (counter, error) {
	return func(c counter) (counter, error) { c[key]++; return c, nil }
}

func TestMissingFileIsEmptyAndCreatedByUpdate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "reg.json")
	r := openCounter(t, path)
	if len(r.Value()) != 0 {
		t.Fatalf("Value = %v, want empty", r.Value())
	}
	if err := r.Update(incr("a")); err != nil {
		t.Fatal(err)
	}
	if r.Value()["a"] != 1 {
		t.Fatalf("Value = %v, want a=1", r.Value())
	}
	raw, err := os.ReadFile(path)
	if err != nil || string(raw) != `{"a":1}` {
		t.Fatalf("file = %q, %v", raw, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode = %v, want 0600", fi.Mode().Perm())
	}
}

func TestReloadSeesAnotherWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reg.json")
	a, b := openCounter(t, path), openCounter(t, path)
	if changed, err := b.Reload(); changed || err != nil {
		t.Fatalf("Reload of an unchanged (missing) file = %v, %v", changed, err)
	}
	if err := a.Update(incr("x")); err != nil {
		t.Fatal(err)
	}
	if changed, err := b.Reload(); !changed || err != nil || b.Value()["x"] != 1 {
		t.Fatalf("Reload = %v, %v; value %v", changed, err, b.Value())
	}
	if changed, err := b.Reload(); changed || err != nil {
		t.Fatalf("second Reload = %v, %v; want no change", changed, err)
	}
	// b writes on top of a's change, read under the lock, not its memory.
	if err := a.Update(incr("y")); err != nil {
		t.Fatal(err)
	}
	if err := b.Update(incr("x")); err != nil {
		t.Fatal(err)
	}
	if v := b.Value(); v["x"] != 2 || v["y"] != 1 {
		t.Fatalf("b lost a's update: %v", v)
	}
	os.Remove(path)
	if changed, err := a.Reload(); !changed || err != nil || len(a.Value()) != 0 {
		t.Fatalf("Reload of a removed file = %v, %v; value %v", changed, err, a.Value())
	}
}

func TestConcurrentWritersLoseNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reg.json")
	regs := []*Registry[counter]{openCounter(t, path), openCounter(t, path), openCounter(t, path)}
	var wg sync.WaitGroup
	for _, r := range regs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				if err := r.Update(incr("n")); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if _, err := regs[0].Reload(); err != nil {
		t.Fatal(err)
	}
	if n := regs[0].Value()["n"]; n != 60 {
		t.Fatalf("n = %d, want 60", n)
	}
}

func TestDamagedFileIsAnErrorAndKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reg.json")
	r := openCounter(t, path)
	if err := r.Update(incr("a")); err != nil {
		t.Fatal(err)
	}
	damaged := []byte(`{"a":1,"a":2}`)
	if err := os.WriteFile(path, damaged, 0o600); err != nil {
		t.Fatal(err)
	}
	var ferr *Error
	if _, err := r.Reload(); !errors.As(err, &ferr) || ferr.Op != "read" {
		t.Fatalf("Reload of a damaged file = %v, want a read *Error", err)
	}
	if r.Value()["a"] != 1 {
		t.Fatalf("value in memory changed: %v", r.Value())
	}
	if err := r.Update(incr("a")); !errors.As(err, &ferr) {
		t.Fatalf("Update over a damaged file = %v, want *Error", err)
	}
	if raw, _ := os.ReadFile(path); string(raw) != string(damaged) {
		t.Fatalf("damaged file overwritten: %q", raw)
	}
	if _, err := Open(path, r.opts); err == nil {
		t.Fatal("Open of a damaged file succeeded")
	}
}

func TestOversizedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reg.json")
	big := make([]byte, 2<<10)
	for i := range big {
		big[i] = ' '
	}
	copy(big, "{}")
	if err := os.WriteFile(path, big, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path, Options[counter]{
		Decode:  func([]byte) (counter, error) { return counter{}, nil },
		Encode:  func(counter) ([]byte, error) { return nil, nil },
		Empty:   func() counter { return counter{} },
		MaxSize: 1 << 10,
	})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Open = %v, want ErrTooLarge", err)
	}
}

func TestFnErrorWritesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reg.json")
	r := openCounter(t, path)
	boom := errors.New("boom")
	err := r.Update(func(c counter) (counter, error) { c["a"] = 9; return c, boom })
	if err != boom {
		t.Fatalf("Update = %v, want fn's error as it is", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("file written after fn failed: %v", err)
	}
	if len(r.Value()) != 0 {
		t.Fatalf("value changed: %v", r.Value())
	}
}
