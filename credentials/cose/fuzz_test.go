package cose

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"testing"
)

// FuzzVerifyCredential feeds arbitrary bytes to the vc+cose verifier and
// its data: URL decoder: it must return an error or a credential, never
// panic. Seeds: a valid vc+cose of each algorithm, a COSE WG example, and
// the shapes TestBadInput refuses.
func FuzzVerifyCredential(f *testing.F) {
	fx := newFixture(f)
	algs := map[string]Algorithm{"ES256": AlgES256, "ES384": AlgES384, "ES512": AlgES512, "EdDSA": AlgEdDSA, "SM2": AlgSM2}
	for name, p := range fx.parties {
		data, err := SignCredential(credentialDoc(p.did), p.kid, p.key)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		f.Add(data[1:])
		payload, _ := json.Marshal(credentialDoc(p.did))
		f.Add(handSign1(f, map[int64]any{3: ContentTypeVC}, map[int64]any{1: int64(algs[name])}, payload, p.key, algs[name]))
	}
	wg, _ := hex.DecodeString("d28445a201260300a10442313154546869732069732074686520636f6e74656e742e58402ad3b9dcc1e13d04f357e11cc8acd825196620e62f0d8deca72672508b829d90e07a3f23be6aa36fd6ebd31e2ed08d1760bffd981f991bfc94a45199a54875c4")
	f.Add(wg)
	f.Add([]byte{0xd2, 0x84, 0x43, 0xa1, 0x01, 0x26, 0xa0, 0xf6, 0x41, 0x00})
	f.Add([]byte("data:application/vc+cose;base64,0oRDoQEmoPZBAA=="))
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, data []byte) {
		if c, err := fx.v.VerifyCredential(ctx, data); err == nil && c == nil {
			t.Fatal("no error and no credential")
		}
		if _, err := fx.v.VerifyPresentation(ctx, data, "c", "d"); err == nil {
			t.Fatal("a fuzzed presentation verified")
		}
		if mt, b, err := ParseDataURL(string(data)); err == nil && (mt == "" || len(b) == 0) {
			t.Fatal("empty data: URL accepted")
		}
	})
}
