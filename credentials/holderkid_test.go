package credentials_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	. "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/gm"
)

// anyKid resolves every kid to one key, as a resolver that answers by kid
// alone (a key cache, a resolver of a single trusted party) would: the
// verifier, not the resolver, must tie the kid to the holder.
type anyKid struct{ pub crypto.PublicKey }

func (r anyKid) ResolveKey(context.Context, string, string) (crypto.PublicKey, error) {
	return r.pub, nil
}

func (r anyKid) ResolveKeyFor(context.Context, string, string, string) (crypto.PublicKey, error) {
	return r.pub, nil
}

// TestHTTPSHolderKidOfAnotherDocument: a presentation by an https
// controlled identifier holder signed under a kid of another controlled
// identifier document (holderKid: kid must be "a method of the holder's
// https controlled identifier document") is refused by VerifyPresentation
// and SignerKey, whatever the resolver answers for that kid; a kid of the
// holder's own document is taken.
func TestHTTPSHolderKidOfAnotherDocument(t *testing.T) {
	ctx := context.Background()
	key, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	v, err := NewVerifier(VerifierConfig{Algorithms: allAlgs, Resolver: anyKid{key.Public()}, Trust: AnyIssuer{}, SkipStatus: true})
	if err != nil {
		t.Fatal(err)
	}
	holder := "https://holder.example/cid"
	for kid, ok := range map[string]bool{
		holder + "#auth-1":                    true,
		"https://other.example/cid#auth-1":    false,
		"https://holder.example/other#auth-1": false,
	} {
		doc := presentationOf(holder)
		doc["nonce"], doc["aud"], doc["iat"] = "c-9", "https://rp.example", time.Now().Unix()
		tok, err := SignJWT(doc, TypVPJWT, kid, key)
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.VerifyPresentation(ctx, tok, "c-9", "https://rp.example")
		if ok && err != nil || !ok && !errors.Is(err, ErrInvalidPresentation) {
			t.Errorf("vp+jwt, kid %s: %v, want taken %v", kid, err, ok)
		}
		_, _, err = v.SignerKey(ctx, holder, kid, true)
		if ok && err != nil || !ok && !errors.Is(err, ErrInvalidPresentation) {
			t.Errorf("SignerKey, kid %s: %v, want taken %v", kid, err, ok)
		}
	}
}
