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
	"time"

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
// signs (one of ours with control characters in a literal of a blank
// node), and each side refuses a tampered one. node and npm are required.
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
		// Control characters in a literal of a blank node: labelled by
		// RDFC-1.0 over the escaped N-Quads on both sides (U+FFFE and
		// U+FFFF left out: rdf-canonize writes them raw, see
		// credentials/jsonld's README).
		withControls := credential(k.did)
		withControls["credentialSubject"].(map[string]any)["residence"] = map[string]any{"region": "31\b\f\u0001\u001f\u007f\t0000"}
		if out, err := node(marshal(t, sign(t, withControls, k, suite, di.Options{})), "verify"); err != nil {
			t.Errorf("%s with control characters in a blank node, signed by TrustID, refused by Digital Bazaar: %v %s", suite, err, out)
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

// TestDigitalBazaarInteropProofSet: proof sets (VC Data Integrity 1.0
// §2.1.1) across the two implementations. Digital Bazaar's library
// verifies a set TrustID made (eddsa-rdfc-2022 by the issuer,
// ecdsa-rdfc-2019 by a co-signer; checked with its AssertionProofPurpose,
// as @digitalbazaar/vc's own purpose wants every proof by the issuer) and
// refuses it with one proof altered;
// TrustID verifies a set Digital Bazaar started or extended, with an
// sm2-rdfc-2025 proof of its own added. Digital Bazaar's library does not
// implement proof chains (previousProof), so they have no third-party
// check here.
func TestDigitalBazaarInteropProofSet(t *testing.T) {
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
	v, err := di.NewVerifier(di.Config{Resolver: &credentials.Resolver{}, Cryptosuites: di.Cryptosuites(), ProofOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	// Ours, verified by theirs: every proof.
	issuer, cosigner := newDIDKey(t, gm.AlgEdDSA), newDIDKey(t, gm.AlgES256)
	opts := di.Options{Created: time.Now().Add(-time.Minute)}
	set := sign(t, sign(t, credential(issuer.did), issuer, di.EdDSARDFC2022, opts), cosigner, di.ECDSARDFC2019, opts)
	if out, err := node(marshal(t, set), "verify", "cosigned"); err != nil || !strings.Contains(string(out), `"proofs":2`) {
		t.Errorf("proof set signed by TrustID, refused by Digital Bazaar: %v %s", err, out)
	}
	tampered := sign(t, sign(t, credential(issuer.did), issuer, di.EdDSARDFC2022, opts), cosigner, di.ECDSARDFC2019, opts)
	tampered["proof"].([]any)[1].(map[string]any)["created"] = "2025-01-01T00:00:00Z"
	if out, err := node(marshal(t, tampered), "verify", "cosigned"); err == nil || !strings.Contains(string(out), `"verified":false`) {
		t.Errorf("Digital Bazaar accepted a proof set with one proof altered: %v %s", err, out)
	}

	// Theirs, extended by theirs and by ours, verified by ours.
	out, err := node(nil, "sign", "eddsa")
	if err != nil {
		t.Fatalf("Digital Bazaar signing: %v", err)
	}
	out, err = node(out, "add", "ecdsa")
	if err != nil {
		t.Fatalf("Digital Bazaar adding a proof: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	if ps, _ := m["proof"].([]any); len(ps) != 2 {
		t.Fatalf("Digital Bazaar's proof set: %v", m["proof"])
	}
	if _, err := v.VerifyCredential(ctx, out); err != nil {
		t.Errorf("proof set by Digital Bazaar, refused by TrustID: %v\n%s", err, out)
	}
	sm := newDIDKey(t, gm.AlgSM2)
	mixed := sign(t, m, sm, di.SM2RDFC2025, opts)
	if _, err := v.VerifyCredential(ctx, marshal(t, mixed)); err != nil {
		t.Errorf("Digital Bazaar's set with an SM2 proof added: %v", err)
	}
	mixed["proof"].([]any)[0].(map[string]any)["created"] = "2025-01-01T00:00:00Z"
	if _, err := v.VerifyCredential(ctx, marshal(t, mixed)); !errors.Is(err, di.ErrSignature) {
		t.Errorf("Digital Bazaar's proof altered in a mixed set: %v", err)
	}
	// Theirs added to ours.
	ours := sign(t, credential(sm.did), sm, di.SM2RDFC2025, opts)
	out, err = node(marshal(t, ours), "add", "eddsa")
	if err != nil {
		t.Fatalf("Digital Bazaar adding to a TrustID credential: %v", err)
	}
	if _, err := v.VerifyCredential(ctx, out); err != nil {
		t.Errorf("TrustID credential co-signed by Digital Bazaar: %v\n%s", err, out)
	}
}
