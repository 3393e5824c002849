package main

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/oid4vci/attestation"
)

// FuzzWalletProvidersFile: a --wallet-providers file of any bytes is
// refused, or gives providers the attestation verifier is built from or
// refuses, and that, written again in the file's form, read back the same.
func FuzzWalletProvidersFile(f *testing.F) {
	k1, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	k2, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	j1, _ := gm.NewJWK(k1.Public(), "wp1")
	j2, _ := gm.NewJWK(k2.Public(), "wp2")
	for _, m := range []map[string]walletProviderEntry{
		{walletProvider: {Keys: []gm.JWK{j1}, ClientIDs: []string{"wallet-app", "animo-wallet"}}},
		{walletProvider: {Keys: []gm.JWK{j1, j2}, ClientIDs: []string{"w"}}, "https://other.example": {Keys: []gm.JWK{j2}}},
	} {
		raw, _ := json.Marshal(m)
		f.Add(raw)
	}
	f.Add([]byte(`{"p":{"keys":[{"kty":"EC","crv":"P-256","x":"","y":"","d":"AA"}],"client_ids":["w"]}}`))
	f.Add([]byte(`{}`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, raw []byte) {
		path := filepath.Join(dir, "wallet-providers.json")
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		ps, err := readWalletProviders(path)
		if err != nil {
			return
		}
		attestation.NewKeys(ps)
		m := map[string]walletProviderEntry{}
		for _, p := range ps {
			m[p.Issuer] = walletProviderEntry{Keys: p.Keys, ClientIDs: p.ClientIDs}
		}
		again, _ := json.Marshal(m)
		if err := os.WriteFile(path, again, 0o600); err != nil {
			t.Fatal(err)
		}
		ps2, err := readWalletProviders(path)
		if err != nil || !reflect.DeepEqual(ps, ps2) {
			t.Fatalf("written again as %s: %+v, %v; was %+v", again, ps2, err, ps)
		}
	})
}

// FuzzRevokedFile: a --revoked file of any bytes is refused, or names
// entries that, written again one "REGION LIST INDEX" a line, read back
// the same.
func FuzzRevokedFile(f *testing.F) {
	f.Add([]byte("# revoked bindings\n310000 7 4242\n\n  320000 1 0  \n"))
	f.Add([]byte("310000 7\n"))
	f.Add([]byte("31000x 7 1\n"))
	f.Add([]byte("310000 -1 99999999999\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, raw []byte) {
		path := filepath.Join(dir, "revoked")
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := readRevoked(path)
		if err != nil {
			return
		}
		var b strings.Builder
		for ref := range r {
			fmt.Fprintf(&b, "%06d %d %d\n", ref.Region, ref.List, ref.Index)
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		again, err := readRevoked(path)
		if err != nil || !reflect.DeepEqual(r, again) {
			t.Fatalf("written again as %q: %v, %v; was %v", b.String(), again, err, r)
		}
	})
}
