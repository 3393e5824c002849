package cose

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"os/exec"
	"testing"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/testenv"
)

// npmDir holds the interop script and its pinned dependencies
// (package.json, package-lock.json); scripts/interop.sh installs
// node_modules there (ignored by git).
const npmDir = "testdata/npm"

// privateJWK returns the private JWK of an ES256 or EdDSA key.
func privateJWK(t *testing.T, key any) map[string]any {
	t.Helper()
	b64 := base64.RawURLEncoding.EncodeToString
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		j, err := gm.NewJWK(k.Public(), "")
		if err != nil {
			t.Fatal(err)
		}
		return map[string]any{"kty": "EC", "crv": "P-256", "x": j.X, "y": j.Y, "d": b64(k.D.FillBytes(make([]byte, 32)))}
	case ed25519.PrivateKey:
		return map[string]any{"kty": "OKP", "crv": "Ed25519", "x": b64(k.Public().(ed25519.PublicKey)), "d": b64(k.Seed())}
	}
	t.Fatalf("no JWK for %T", key)
	return nil
}

// TestInteropNPM checks vc+cose both ways against @auth0/cose, an
// independent COSE implementation (node, installed with npm ci from the
// committed lock file): a COSE_Sign1 it signs over a credential verifies
// here as a vc+cose, and one signed here verifies there with the payload
// intact.
func TestInteropNPM(t *testing.T) {
	node := testenv.NPM(t, npmDir)
	f := newFixture(t)
	for _, alg := range []string{"ES256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			p := f.parties[alg]
			payload, _ := json.Marshal(credentialDoc(p.did))
			ours, err := SignCredential(credentialDoc(p.did), p.kid, p.key)
			if err != nil {
				t.Fatal(err)
			}
			req, _ := json.Marshal(map[string]any{
				"alg": alg, "jwk": privateJWK(t, p.key), "kid": p.kid,
				"payload": base64.StdEncoding.EncodeToString(payload), "goCose": base64.StdEncoding.EncodeToString(ours),
			})
			cmd := exec.Command(node, "interop.mjs")
			cmd.Dir = npmDir
			cmd.Stdin = bytes.NewReader(req)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("node: %v: %s", err, stderr.String())
			}
			var res struct{ Signed, GoPayload string }
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatal(err)
			}
			if got, _ := base64.StdEncoding.DecodeString(res.GoPayload); !bytes.Equal(got, mustMarshal(credentialDoc(p.did))) {
				t.Fatalf("@auth0/cose read our payload as %q", got)
			}
			theirs, _ := base64.StdEncoding.DecodeString(res.Signed)
			c, err := f.v.VerifyCredential(context.Background(), theirs)
			if err != nil {
				t.Fatalf("their vc+cose: %v", err)
			}
			if c.Issuer != p.did {
				t.Fatalf("issuer %s", c.Issuer)
			}
		})
	}
}

func mustMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
