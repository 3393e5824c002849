package keystore

import (
	"encoding/json"
	"path/filepath"
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
