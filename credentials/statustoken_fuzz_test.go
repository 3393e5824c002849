package credentials_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"testing"
	"time"

	. "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/gm"
)

// oneKey resolves every kid of every issuer to one key.
type oneKey struct{ pub crypto.PublicKey }

func (k oneKey) ResolveKey(context.Context, string, string) (crypto.PublicKey, error) {
	return k.pub, nil
}

// FuzzTokenStatusList: the claims of a Status List Token its issuer
// signed, whatever they hold, give a list of 1- or 2-bit entries with a
// ttl that is not negative, or a refusal that matches one of the
// package's sentinels or status.ErrEncoding (a list that does not
// decode), as a Bitstring Status List's do.
func FuzzTokenStatusList(f *testing.F) {
	const uri, iss = "https://issuer.example/status/00000000000000aa", "https://issuer.example"
	now := time.Unix(1_800_000_000, 0)
	tl, _ := status.NewTokenList(2, 16)
	tl.Set(3, 2)
	lst := tl.Encode()
	seeds := []string{
		`{"sub":"` + uri + `","iat":1800000000,"exp":1800003600,"ttl":300,"status_list":{"bits":2,"lst":"` + lst + `"}}`,
		`{"iss":"` + iss + `","sub":"` + uri + `","iat":1800000000,"status_list":{"bits":1,"lst":"eNrbuRgAAhcBXQ"}}`,
		`{"sub":"` + uri + `","iat":1.8e9,"ttl":1e300,"status_list":{"bits":2.0,"lst":"` + lst + `","aggregation_uri":"x"}}`,
		`{"sub":"` + uri + `","iat":1800000000,"ttl":-1,"status_list":{"bits":8,"lst":""}}`,
	}
	for _, claims := range seeds {
		f.Add(claims)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	method, err := gm.SigningMethod(key)
	if err != nil {
		f.Fatal(err)
	}
	enc := base64.RawURLEncoding
	head := enc.EncodeToString([]byte(`{"alg":"` + method.Alg() + `","typ":"statuslist+jwt","kid":"k"}`))
	verify := func(t testing.TB, claims string) (*TokenStatusList, error) {
		tok := head + "." + enc.EncodeToString([]byte(claims))
		sig, err := method.Sign(tok, key)
		if err != nil {
			t.Fatal(err)
		}
		tok += "." + enc.EncodeToString(sig)
		src := &HTTPStatusSource{Resolver: oneKey{&key.PublicKey}, Algorithms: []string{method.Alg()}, Now: func() time.Time { return now },
			Fetch: func(context.Context, string, string) ([]byte, error) { return []byte(tok), nil }}
		return src.Token(context.Background(), uri, iss)
	}
	if got, err := verify(f, seeds[0]); err != nil || got.List.Bits() != 2 || got.TTL != 300*time.Second {
		f.Fatalf("the issuer's list: %+v, %v", got, err)
	}
	f.Fuzz(func(t *testing.T, claims string) {
		got, err := verify(t, claims)
		if err != nil {
			for _, s := range append(sentinels, status.ErrEncoding) {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("refusal %v matches no sentinel", err)
		}
		if b := got.List.Bits(); b != 1 && b != 2 || got.TTL < 0 {
			t.Fatalf("list of %d bits, ttl %v", b, got.TTL)
		}
	})
}
