package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/testenv"
	"github.com/trustid-cn/trustid/oid4vci/attestation"
)

// interopDir holds the third-party wallet script and its package-lock.json
// (installed by scripts/interop.sh).
const interopDir = "../../internal/interop/oid4vc"

// TestOID4VCIInteropAnimoWallet issues through TrustID's OID4VCI issuer to
// a wallet no one on this project wrote: Animo's @openid4vc/openid4vci
// 0.4.6 (oid4vc-ts) on Node.js, with an offer by reference, a transaction
// code, a batch of two credentials per configuration on ES256 keys and a
// notification, with a Bearer token and with a DPoP-bound one (the
// library's DPoP proofs with ES256 and its nonce handling), and with a
// wallet attestation the node requires (the library's attestation-based
// client authentication). The node then verifies every credential, and
// each is bound to the key the wallet proved (cnf.jwk, or the did:jwk
// subject).
func TestOID4VCIInteropAnimoWallet(t *testing.T) {
	for _, dpop := range []string{"", "1"} {
		t.Run("DPoP="+dpop, func(t *testing.T) { animoWallet(t, dpop, false) })
	}
	// With a wallet attestation, required: the library's
	// attestation-based client authentication (its PoP has no challenge:
	// the library does not fetch one, so the node takes PoPs without).
	t.Run("attestation", func(t *testing.T) { animoWallet(t, "1", true) })
}

// animoWallet runs wallet.mjs against a node, with DPoP when dpop is 1,
// with a wallet attestation the node requires when attest is set.
func animoWallet(t *testing.T, dpop string, attest bool) {
	nodeBin := testenv.NPM(t, interopDir)

	var extra, env []string
	if attest {
		provider, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
		instance, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		extra = []string{"--wallet-providers", walletProviderFile(t, provider), "--require-wallet-attestation", "--wallet-attestation-without-challenge"}
		att, err := attestation.Sign(provider, "wp1", attestation.Attestation{Issuer: walletProvider, ClientID: "animo-wallet", InstanceKey: &instance.PublicKey,
			IssuedAt: time.Now(), Expires: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		ecdh, _ := instance.ECDH()
		pub := ecdh.PublicKey().Bytes() // 04 || X || Y
		priv, _ := json.Marshal(map[string]string{"kty": "EC", "crv": "P-256", "x": base64.RawURLEncoding.EncodeToString(pub[1:33]),
			"y": base64.RawURLEncoding.EncodeToString(pub[33:]), "d": base64.RawURLEncoding.EncodeToString(ecdh.Bytes())})
		env = []string{"ATTESTATION=" + att, "INSTANCE_JWK=" + string(priv)}
	}
	n := startVCINode(t, extra...)
	o := n.offer(`["ResidenceCredential_sd_jwt","ResidenceCredential_jwt_vc_json"]`, true, true)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, nodeBin, "wallet.mjs")
	cmd.Dir = interopDir
	cmd.Env = append(os.Environ(), "OFFER="+o["offer_uri"].(string), "TX_CODE="+o["tx_code"].(string), "COUNT=2", "DPOP="+dpop)
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("wallet.mjs: %v\n%s\nnode log:\n%s", err, stderr.String(), n.logs.String())
	}
	var out struct {
		Results []struct {
			Configuration string
			Format        string
			Credentials   []string
			JWKs          []gm.JWK `json:"jwks"`
		}
		TokenType string
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil || len(out.Results) != 2 {
		t.Fatalf("wallet output: %v\n%s", err, stdout.String())
	}
	// With DPoP the token is bound (and the library's proofs passed every
	// check at the token, credential and notification endpoints).
	if want := map[string]string{"": "Bearer", "1": "DPoP"}[dpop]; out.TokenType != want {
		t.Fatalf("token_type %q, want %q", out.TokenType, want)
	}
	for _, r := range out.Results {
		if len(r.Credentials) != 2 || len(r.JWKs) != 2 {
			t.Fatalf("%s: %d credentials for %d keys, want 2", r.Configuration, len(r.Credentials), len(r.JWKs))
		}
		for i, c := range r.Credentials {
			body, _ := json.Marshal(map[string]any{"verifiableCredential": c})
			code, v, _ := n.do("POST", "/credentials/verify", "", "application/json", string(body))
			if code != 200 || v["verified"] != true {
				t.Fatalf("%s credential %d does not verify: %d %v", r.Format, i, code, v)
			}
			want, _ := r.JWKs[i].Thumbprint()
			got, err := boundKey(r.Format, c, v)
			if err != nil || got != want {
				t.Fatalf("%s credential %d is bound to %q, want the wallet's key %q (%v)", r.Format, i, got, want, err)
			}
		}
	}
}

// boundKey returns the thumbprint of the key a credential is bound to:
// cnf.jwk of an SD-JWT VC, the did:jwk subject of a jwt_vc_json.
func boundKey(format, cred string, verified map[string]any) (string, error) {
	var j gm.JWK
	switch format {
	case "dc+sd-jwt":
		parts := strings.Split(strings.SplitN(cred, "~", 2)[0], ".")
		payload, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			return "", err
		}
		var c struct{ Cnf struct{ JWK gm.JWK } }
		if err := json.Unmarshal(payload, &c); err != nil {
			return "", err
		}
		j = c.Cnf.JWK
	case "jwt_vc_json":
		subj, _ := verified["credential"].(map[string]any)["credentialSubject"].(map[string]any)["id"].(string)
		raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(subj, "did:jwk:"))
		if err != nil || !strings.HasPrefix(subj, "did:jwk:") {
			return "", errors.New("subject is not a did:jwk")
		}
		if err := json.Unmarshal(raw, &j); err != nil {
			return "", err
		}
	}
	return j.Thumbprint()
}
