package credentials_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/issuer"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/strictjson"
)

// TestVCJWTTimeClaims checks exp and nbf in a vc+jwt payload, at their
// boundaries and with leeway, and a signature the wrong length (DER).
func TestVCJWTTimeClaims(t *testing.T) {
	n := newNode(t, testBase)
	ctx := context.Background()
	k, _ := n.keys.Active(gm.AlgSM2)
	hdr := `{"alg":"SM2","typ":"vc+jwt","cty":"vc","kid":"` + n.issuer.DID() + "#" + k.Kid + `"}`
	pb, _ := jsonMarshal(decodePayload(t, mustIssue(t, n, sampleCredential(), issuer.IssueOptions{}).Token))
	now := n.clock.Now().Unix()
	with := func(claim string, at int64) string {
		return resign(t, hdr, strings.Replace(string(pb), `{`, `{"`+claim+`":`+strconv.FormatInt(at, 10)+`,`, 1), k.Signer)
	}
	lenient, err := NewVerifier(VerifierConfig{Trust: AnyIssuer{}, Algorithms: []string{gm.AlgSM2}, Resolver: &Resolver{Local: n.issuer.Local()}, Status: n.checker, Now: n.clock.Now, Leeway: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		v     *Verifier
		token string
		want  error
	}{
		{"exp ahead", n.verifier, with("exp", now+1), nil},
		{"exp now", n.verifier, with("exp", now), ErrExpired},
		{"exp past", n.verifier, with("exp", now-30), ErrExpired},
		{"exp past within leeway", lenient, with("exp", now-30), nil},
		{"nbf now", n.verifier, with("nbf", now), nil},
		{"nbf ahead", n.verifier, with("nbf", now+30), ErrNotYetValid},
		{"nbf ahead within leeway", lenient, with("nbf", now+30), nil},
		{"exp not a number", n.verifier, resign(t, hdr, strings.Replace(string(pb), `{`, `{"exp":"tomorrow",`, 1), k.Signer), ErrMalformed},
	}
	for _, c := range cases {
		_, err := c.v.VerifyCredential(ctx, c.token)
		if (err == nil) != (c.want == nil) || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// A DER signature (what crypto.Signer returns for SM2) is refused.
	in := c2(resign(t, hdr, string(pb), k.Signer))
	der, err := k.Signer.Sign(rand.Reader, []byte(in), crypto.Hash(0))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.verifier.VerifyCredential(ctx, in+"."+b64url(der)); !errors.Is(err, ErrSignature) {
		t.Fatalf("DER signature: %v", err)
	}
}

// c2 returns the signing input (the first two parts) of a token.
func c2(tok string) string { return tok[:strings.LastIndexByte(tok, '.')] }

// TestVerifyTokenCredentialJSON: a vc+jwt whose payload is already
// strictjson.Marshal's encoding (as this node signs) is verified with
// those bytes in CredentialJSON; one signed over other bytes (spaces, keys
// out of order, an escape) has none, and the credential is encoded again.
func TestVerifyTokenCredentialJSON(t *testing.T) {
	n := newNode(t, testBase)
	ctx := context.Background()
	k, _ := n.keys.Active(gm.AlgSM2)
	iss := mustIssue(t, n, sampleCredential(), issuer.IssueOptions{})
	res, err := n.verifier.VerifyToken(ctx, iss.Token)
	if err != nil {
		t.Fatal(err)
	}
	want, err := strictjson.Marshal(res.Credential)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(res.CredentialJSON, want) {
		t.Fatalf("CredentialJSON %s\nwant %s", res.CredentialJSON, want)
	}
	hdr := `{"alg":"SM2","typ":"vc+jwt","cty":"vc","kid":"` + n.issuer.DID() + "#" + k.Kid + `"}`
	for _, p := range []string{
		strings.Replace(string(want), `,"issuer":`, `, "issuer":`, 1),
		`{"type":["VerifiableCredential"],` + strings.TrimPrefix(strings.Replace(string(want), `"type":["VerifiableCredential","ResidenceCredential"],`, "", 1), "{"),
		strings.Replace(string(want), `"since":"2019`, `"since":"\u0032019`, 1),
	} {
		res, err := n.verifier.VerifyToken(ctx, resign(t, hdr, p, k.Signer))
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if res.CredentialJSON != nil {
			t.Errorf("%s: CredentialJSON %s", p, res.CredentialJSON)
		}
	}
}
