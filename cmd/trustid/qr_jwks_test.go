package main

import (
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/trustid-cn/trustid/gm"
)

// TestJWKSKeysSkipEncryptionKeys: `trustid qr verify --jwks` verifies
// codes with the file's signature keys only, skipping one for encryption
// (RFC 7517 §4.2: "The "use" (public key use) parameter identifies the
// intended use of the public key", "enc" for encryption; §4.3:
// "key_ops", "verify" for signatures); a key with no use verifies. (The
// encryption key was taken.)
func TestJWKSKeysSkipEncryptionKeys(t *testing.T) {
	var set gm.JWKS
	for _, c := range []struct{ kid, use, ops string }{{"sig", "sig", ""}, {"bare", "", ""}, {"enc", "enc", ""}, {"wrap", "", `["wrapKey"]`}} {
		k, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
		j, _ := gm.NewJWK(k.Public(), c.kid)
		j.Use, j.KeyOps = c.use, gm.KeyOps(c.ops)
		set.Keys = append(set.Keys, j)
	}
	b, _ := json.Marshal(set)
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	keys, err := jwksKeys(path)
	if err != nil || len(keys) != 2 || keys[0].Kid != "sig" || keys[1].Kid != "bare" {
		t.Errorf("%+v %v, want the keys sig and bare", keys, err)
	}
}
