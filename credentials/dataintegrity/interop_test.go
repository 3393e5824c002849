package dataintegrity_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustid-cn/trustid/credentials"
	di "github.com/trustid-cn/trustid/credentials/dataintegrity"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/testenv"
)

// TestDigitalBazaarInterop checks both directions against an independent
// implementation, Digital Bazaar's @digitalbazaar/vc with its
// eddsa-rdfc-2022 and ecdsa-rdfc-2019 cryptosuites (testdata/interop,
// installed by scripts/interop.sh from the committed lock file): their
// library verifies credentials we sign, we verify credentials theirs
// signs, and each side refuses a tampered one. node and npm are required.
func TestDigitalBazaarInterop(t *testing.T) {
	dir, err := filepath.Abs("testdata/interop")
	if err != nil {
		t.Fatal(err)
	}
	nodeBin := testenv.NPM(t, dir)
	node := func(stdin []byte, args ...string) ([]byte, error) {
		cmd := exec.Command(nodeBin, append([]string{filepath.Join(dir, "interop.mjs")}, args...)...)
		cmd.Stdin = bytes.NewReader(stdin)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil && stderr.Len() > 0 {
			t.Logf("node stderr: %s", stderr.String())
		}
		return out, err
	}
	ctx := context.Background()
	// Their proofs are created now, on the real clock.
	v, err := di.NewVerifier(di.Config{Resolver: &credentials.Resolver{}, Cryptosuites: di.Cryptosuites(), ProofOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	for alg, suite := range map[string]string{gm.AlgEdDSA: di.EdDSARDFC2022, gm.AlgES256: di.ECDSARDFC2019} {
		// Ours, verified by theirs.
		k := newDIDKey(t, alg)
		signed := sign(t, credential(k.did), k, suite, di.Options{})
		if out, err := node(marshal(t, signed), "verify"); err != nil {
			t.Errorf("%s signed by TrustID, refused by Digital Bazaar: %v %s", suite, err, out)
		}
		tampered := sign(t, credential(k.did), k, suite, di.Options{})
		tampered["validFrom"] = "2025-06-01T00:00:00Z"
		if out, err := node(marshal(t, tampered), "verify"); err == nil || !strings.Contains(string(out), `"verified":false`) {
			t.Errorf("%s: Digital Bazaar accepted a tampered credential: %v %s", suite, err, out)
		}

		// Theirs, verified by ours.
		kind := map[string]string{di.EdDSARDFC2022: "eddsa", di.ECDSARDFC2019: "ecdsa"}[suite]
		out, err := node(nil, "sign", kind)
		if err != nil {
			t.Fatalf("Digital Bazaar signing %s: %v", suite, err)
		}
		if _, err := v.VerifyCredential(ctx, out); err != nil {
			t.Errorf("%s signed by Digital Bazaar, refused by TrustID: %v\n%s", suite, err, out)
		}
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatal(err)
		}
		if m["proof"].(map[string]any)["cryptosuite"] != suite {
			t.Errorf("Digital Bazaar signed with %v, want %s", m["proof"], suite)
		}
		m["name"] = "Alumni Credential (edited)"
		if _, err := v.VerifyCredential(ctx, marshal(t, m)); !errors.Is(err, di.ErrSignature) {
			t.Errorf("%s: tampered Digital Bazaar credential: %v", suite, err)
		}
	}
}
