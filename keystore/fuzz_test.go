package keystore

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/trustid-cn/trustid/gm"
)

// FuzzFile: the keystore file, whatever its bytes, is refused as
// ErrCorrupted or read, both its envelope in clear and its document
// once opened (sealed here under the KEK, so past the seal); what is
// read is keys that sign or verify as their state says, secrets
// ImportSecret could have written and removed versions RemoveSecret could
// have, and written again as save writes it, it reads back the same.
func FuzzFile(f *testing.F) {
	kek := bytes.Repeat([]byte{7}, gm.SM4KeySize)
	// Seeds: what Open, Rotate, Retire, ImportSecret and RemoveSecret
	// write, one key, secret or removed version to a seed (the fuzzer minimizes each input it finds new,
	// which takes long for a document of many keys).
	path := filepath.Join(f.TempDir(), "keys.json")
	s, err := Open(path, kek, Options{})
	if err != nil {
		f.Fatal(err)
	}
	k, err := s.Active(gm.AlgSM2)
	if err != nil {
		f.Fatal(err)
	}
	if _, err := s.Rotate(gm.AlgSM2); err != nil {
		f.Fatal(err)
	}
	if err := s.Retire(k.Kid); err != nil {
		f.Fatal(err)
	}
	for v := 1; v <= 2; v++ {
		if err := s.ImportSecret("symbol", v, bytes.Repeat([]byte{byte(v)}, 32)); err != nil {
			f.Fatal(err)
		}
	}
	if err := s.RemoveSecret("symbol", 1); err != nil {
		f.Fatal(err)
	}
	c, err := s.read()
	if err != nil {
		f.Fatal(err)
	}
	empty, err := seal(inner{}, kek, rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	for _, one := range []contents{{keys: c.keys[:1]}, {keys: c.keys[1:2]}, {keys: c.keys[len(c.keys)-1:]}, {secrets: c.secrets}, {removed: c.removed}} {
		doc, err := encode(one)
		if err != nil {
			f.Fatal(err)
		}
		plain, err := json.Marshal(doc)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(empty, plain)
	}
	f.Add([]byte(`{"format":"`+fileFormat+`","kek_id":"","sealed":""}`), []byte(`{"keys":[],"secrets":[{"name":"","version":0,"value":""}]}`))
	f.Add(empty, []byte(`{"keys":[],"secrets":[{"name":"s","version":1,"value":"AAAAAAAAAAAAAAAAAAAAAA=="}],`+
		`"removed":[{"name":"s","version":1,"fingerprint":"AAAAAAAAAAAAAAAAAAAAAA==","removed":"2026-01-01T00:00:00Z"}]}`))
	f.Add(empty, []byte(`{"keys":[],"secrets":[{"name":"s","version":1,"value":"AAAAAAAAAAAAAAAAAAAAAA=="}],`+
		`"removed":[{"name":"s","version":2,"fingerprint":"AAAAAAAAAAAAAAAAAAAAAA==","removed":"2026-01-01T00:00:00Z"},`+
		`{"name":"s","version":2,"fingerprint":"AQAAAAAAAAAAAAAAAAAAAA==","removed":"2026-01-02T00:00:00Z"}]}`))
	f.Add(empty, []byte(`{"keys":[],"secrets":[],"removed":[{"name":"s","version":1,"fingerprint":"AAAA","removed":"2026-01-01T00:00:00Z"}]}`))
	f.Add([]byte(`{"format":1}`), []byte(`{"keys":[{"kid":"x","state":"retired","public":""}]}`))
	f.Fuzz(func(t *testing.T, outer, plain []byte) {
		if env, err := parseEnvelope("keys.json", outer); err != nil {
			if !errors.Is(err, ErrCorrupted) {
				t.Fatalf("envelope: %v is not ErrCorrupted", err)
			}
		} else if env.Format != fileFormat {
			t.Fatalf("envelope of format %q", env.Format)
		}
		sealed, err := gm.Seal(rand.Reader, kek, plain, []byte(fileFormat))
		if err != nil {
			t.Fatal(err)
		}
		c, err := unseal("keys.json", envelope{Format: fileFormat, KEKID: KEKID(kek), Sealed: sealed}, kek)
		if err != nil {
			if !errors.Is(err, ErrCorrupted) {
				t.Fatalf("document: %v is not ErrCorrupted", err)
			}
			return
		}
		for _, k := range c.keys {
			if k.Public == nil || (k.Signer == nil) != (k.State == StateRetired) {
				t.Fatalf("key %s in state %s: signer %v", k.Kid, k.State, k.Signer != nil)
			}
		}
		for _, sec := range c.secrets {
			if sec.Name == "" || sec.Version < 1 || len(sec.value) < 16 || len(sec.value) > 64 {
				t.Fatalf("secret %q/v%d of %d bytes", sec.Name, sec.Version, len(sec.value))
			}
		}
		for i, r := range c.removed {
			if r.name == "" || r.version < 1 || len(r.fingerprint) != fingerprintSize {
				t.Fatalf("removed secret %q/v%d, fingerprint of %d bytes", r.name, r.version, len(r.fingerprint))
			}
			// As RemoveSecret leaves it: a version no longer held, once.
			same := func(name string, version int) bool { return name == r.name && version == r.version }
			if slices.ContainsFunc(c.secrets, func(sec *Secret) bool { return same(sec.Name, sec.Version) }) ||
				slices.ContainsFunc(c.removed[:i], func(o removedSecret) bool { return same(o.name, o.version) }) {
				t.Fatalf("removed secret %q/v%d held or removed twice", r.name, r.version)
			}
		}
		doc, err := encode(c)
		if err != nil {
			t.Fatal(err)
		}
		out, err := seal(doc, kek, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		env, err := parseEnvelope("keys.json", out)
		if err != nil {
			t.Fatal(err)
		}
		again, err := unseal("keys.json", env, kek)
		if err != nil {
			t.Fatalf("written again, not read: %v", err)
		}
		doc2, err := encode(again)
		if err != nil {
			t.Fatal(err)
		}
		if err := sameDoc(doc, doc2); err != nil {
			t.Fatalf("written again, read back: %v", err)
		}
	})
}
