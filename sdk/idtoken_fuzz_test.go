package sdk_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/sdk"
)

// oneRegistryKey is a RegistryKeys with one ES256 key for every kid.
type oneRegistryKey struct{ pub crypto.PublicKey }

func (k oneRegistryKey) IssuerKey(string, string) (crypto.PublicKey, string, error) {
	return k.pub, gm.AlgES256, nil
}

// FuzzIDTokenClaims: whatever claims the provider signs, VerifyIDToken
// gives an identity with a subject for a token meant for this client
// and login, or an error matching ErrIDToken, as documented.
func FuzzIDTokenClaims(f *testing.F) {
	const iss = "https://sh.trustid.example"
	now := time.Unix(1_800_000_000, 0)
	t0 := strconv.FormatInt(now.Unix(), 10)
	good := `{"iss":"` + iss + `","sub":"pairwise-1","aud":"rp","azp":"rp","exp":` + t0 + `0,"iat":` + t0 + `,"nonce":"n-1","acr":"L3","auth_time":` + t0 + `}`
	f.Add(good)
	f.Add(`{"iss":"` + iss + `","sub":"s","aud":["rp","other"],"exp":1e300,"iat":` + t0 + `.5,"nonce":"n-1","auth_time":1e300}`)
	f.Add(`{"iss":"` + iss + `","sub":"s","aud":"rp","exp":` + t0 + `0,"iat":` + t0 + `,"nonce":"n-1","NONCE":"x"}`)
	f.Add(`{"iss":"` + iss + `","sub":"","aud":"rp","exp":-1,"iat":null,"nonce":"n-1"}`)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	signer, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	l, err := sdk.NewLogin(sdk.LoginConfig{Issuer: iss, ClientID: "rp", RedirectURI: "https://rp.example/cb", Key: signer,
		Algorithms: []string{gm.AlgES256}, Registry: oneRegistryKey{&key.PublicKey}, Now: func() time.Time { return now }})
	if err != nil {
		f.Fatal(err)
	}
	method, _ := gm.SigningMethod(key)
	enc := base64.RawURLEncoding.EncodeToString
	sign := func(t testing.TB, claims string) string {
		signing := enc([]byte(`{"alg":"ES256","kid":"k","typ":"JWT"}`)) + "." + enc([]byte(claims))
		sig, err := method.Sign(signing, key)
		if err != nil {
			t.Fatal(err)
		}
		return signing + "." + enc(sig)
	}
	if id, err := l.VerifyIDToken(context.Background(), sign(f, good), "n-1"); err != nil || id.Subject != "pairwise-1" {
		f.Fatalf("the provider's token: %+v, %v", id, err)
	}
	f.Fuzz(func(t *testing.T, claims string) {
		id, err := l.VerifyIDToken(context.Background(), sign(t, claims), "n-1")
		if err != nil {
			if !errors.Is(err, sdk.ErrIDToken) {
				t.Fatalf("error %v does not match ErrIDToken", err)
			}
			return
		}
		if id.Subject == "" {
			t.Fatalf("identity without a subject from %s", claims)
		}
	})
}
