package wallet

import (
	"bufio"
	"context"
	"crypto"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/testenv"
)

// TestOID4VCIInteropAnimoIssuer runs the wallet SDK against an issuer no
// one on this project wrote: Animo's @openid4vc/openid4vci 0.4.6 issuer
// and @openid4vc/oauth2 authorization server on Node.js
// (internal/interop/oid4vc/issuer.mjs, which adds only the HTTP glue and
// an SM2 verifier, since Node's crypto has none). The wallet receives the
// offer, redeems it with the transaction code, proves two SM2 keys and
// gets two SD-JWT VCs, each signed by the issuer and bound to one of its
// keys, and sends the notification.
func TestOID4VCIInteropAnimoIssuer(t *testing.T) {
	dir := filepath.Join("..", "..", "internal", "interop", "oid4vc")
	nodeBin := testenv.NPM(t, dir)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, nodeBin, "issuer.mjs")
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("issuer.mjs: %v\n%s", err, stderr.String())
	}
	var started struct {
		Offer     string `json:"offer"`
		TxCode    string `json:"tx_code"`
		IssuerJWK gm.JWK `json:"issuer_jwk"`
	}
	if err := json.Unmarshal([]byte(line), &started); err != nil {
		t.Fatalf("issuer.mjs said %q: %v", line, err)
	}

	keys := NewSoftwareKeys()
	w, err := NewHolder("http://127.0.0.1:1", keys, "device")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.SetTimeout(60); err != nil {
		t.Fatal(err)
	}
	offer, err := w.ReceiveOffer(started.Offer)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	if offer.TxCodeLength() != 4 || offer.ConfigurationIDs() != "residence_sd_jwt" || offer.IssuerName("en") != "Animo interop issuer" {
		t.Fatalf("offer: %d %q %q", offer.TxCodeLength(), offer.ConfigurationIDs(), offer.IssuerName("en"))
	}
	store := NewMemoryStore()
	ids, err := w.AcceptOffer(offer, "", started.TxCode, 2, store)
	if err != nil {
		time.Sleep(time.Second) // let the issuer's log arrive
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	issuerKey, err := started.IssuerJWK.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	p, _ := gm.NewJWTParser([]string{gm.AlgES256})
	bound := map[string]bool{}
	for _, id := range strings.Split(ids, ",") {
		c, err := LoadCredential(store, id)
		if err != nil {
			t.Fatal(err)
		}
		var claims struct {
			Cnf struct{ JWK gm.JWK } `json:"cnf"`
			jwt.RegisteredClaims
		}
		if _, err := p.ParseWithClaims(strings.TrimSuffix(c.Credential, "~"), &claims, func(*jwt.Token) (any, error) { return crypto.PublicKey(issuerKey), nil }); err != nil {
			t.Fatalf("credential %s: %v", id, err)
		}
		s, err := newStoreSigner(keys, c.KeyAlias)
		if err != nil {
			t.Fatal(err)
		}
		j, _ := gm.NewJWK(s.pub, "")
		want, _ := j.Thumbprint()
		got, _ := claims.Cnf.JWK.Thumbprint()
		if got != want || bound[got] {
			t.Fatalf("credential %s is bound to %q, want its own key %q", id, got, want)
		}
		bound[got] = true
	}
	if len(bound) != 2 {
		t.Fatalf("%d credentials, want 2", len(bound))
	}
}
