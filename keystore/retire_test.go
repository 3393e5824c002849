package keystore

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustid-cn/trustid/gm"
)

// TestRetireDestroysPrivateKey: Retire destroys a key's private half
// ("it no longer verifies and its private half is destroyed"): the store
// that retired it holds no signer for it, and the file, opened with the
// KEK, holds no private key for it (reopening only hides one that was
// left there).
func TestRetireDestroysPrivateKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keystore.json")
	s := open(t, path, kek(1))
	old, err := s.Active(gm.AlgSM2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Rotate(gm.AlgSM2); err != nil {
		t.Fatal(err)
	}
	if err := s.Retire(old.Kid); err != nil {
		t.Fatal(err)
	}
	if k, err := s.Lookup(old.Kid); err != nil || k.State != StateRetired || k.Signer != nil {
		t.Errorf("retired key in the store that retired it: %v, state %s, signer %v", err, k.State, k.Signer != nil)
	}
	env, err := readEnvelope(path)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := gm.Open(kek(1), env.Sealed, []byte(fileFormat))
	if err != nil {
		t.Fatal(err)
	}
	var doc inner
	if err := json.Unmarshal(plain, &doc); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, d := range doc.Keys {
		if d.Kid == old.Kid {
			found = true
			if d.State != StateRetired || len(d.Private) != 0 {
				t.Errorf("retired key in the file: state %s, %d bytes of private key", d.State, len(d.Private))
			}
		}
	}
	if !found {
		t.Error("the retired key is not in the file")
	}
}

// TestDamagedKeysAndSecrets: a key or secret that Open could not have
// written (a key under another algorithm than its own, with another
// key's private half or in a state keys do not have, a secret shorter
// than 16 or longer than 64 bytes, or one version of a secret twice) is
// ErrCorrupted, also in a file
// sealed with the right KEK; the key as written opens.
func TestDamagedKeysAndSecrets(t *testing.T) {
	signer, err := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := makeKey(signer.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := gm.MarshalPublicKey(signer.Public())
	priv, _ := gm.MarshalPrivateKey(signer)
	key := func(alg string) diskKey {
		return diskKey{Kid: k.Kid, Alg: alg, State: StateActive, Public: pub, Private: priv}
	}
	secret := func(n int) diskSecret {
		return diskSecret{Name: "symbol", Version: 1, Value: bytes.Repeat([]byte{1}, n)}
	}
	other, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	otherPriv, _ := gm.MarshalPrivateKey(other)
	mismatched, suspended := key(gm.AlgSM2), key(gm.AlgSM2)
	mismatched.Private, suspended.State = otherPriv, "suspended"
	for name, c := range map[string]struct {
		doc inner
		ok  bool
	}{
		"key as written":             {inner{Keys: []diskKey{key(gm.AlgSM2)}}, true},
		"key under ES256":            {inner{Keys: []diskKey{key(gm.AlgES256)}}, false},
		"secret of 16":               {inner{Secrets: []diskSecret{secret(16)}}, true},
		"secret of 64":               {inner{Secrets: []diskSecret{secret(64)}}, true},
		"secret of 15":               {inner{Secrets: []diskSecret{secret(15)}}, false},
		"empty secret":               {inner{Secrets: []diskSecret{secret(0)}}, false},
		"secret of 65":               {inner{Secrets: []diskSecret{secret(65)}}, false},
		"another key's private half": {inner{Keys: []diskKey{mismatched}}, false},
		"a state of no key":          {inner{Keys: []diskKey{suspended}}, false},
		"a secret version twice":     {inner{Secrets: []diskSecret{secret(16), secret(32)}}, false},
	} {
		plain, err := json.Marshal(c.doc)
		if err != nil {
			t.Fatal(err)
		}
		sealed, err := gm.Seal(rand.Reader, kek(1), plain, []byte(fileFormat))
		if err != nil {
			t.Fatal(err)
		}
		_, err = unseal("keys.json", envelope{Format: fileFormat, KEKID: KEKID(kek(1)), Sealed: sealed}, kek(1))
		if c.ok && err != nil || !c.ok && !errors.Is(err, ErrCorrupted) {
			t.Errorf("%s: %v, want taken %v", name, err, c.ok)
		}
	}
}

// TestParseKEKLength: hex of other than 16 bytes is no KEK (ErrBadKEK),
// and a raw base64 KEK that happens to be all hex digits is read as the
// base64 of 16 bytes, not as hex of 11.
func TestParseKEKLength(t *testing.T) {
	if _, err := ParseKEK(strings.Repeat("ab", 32)); !errors.Is(err, ErrBadKEK) {
		t.Errorf("64 hex digits: %v, want ErrBadKEK", err)
	}
	raw := "0123456789abcdef012345" // 22 characters: raw base64 of 16 bytes
	want, err := base64.RawStdEncoding.DecodeString(raw)
	if err != nil || len(want) != 16 {
		t.Fatalf("test vector: %v", err)
	}
	if got, err := ParseKEK(raw); err != nil || !bytes.Equal(got, want) {
		t.Errorf("raw base64 of hex digits: %x, %v, want %x", got, err, want)
	}
}
