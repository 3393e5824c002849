package oid4vci

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/store"
)

// FuzzStoredGrant: a grant read back from the store (opened with its
// code's or token's key, so past the seal), whatever its bytes, gives a
// token, a credential, or a refusal with an error code; never a panic.
// Read as a notification it is a refusal or an acceptance; read as an
// offer stored by reference, it is served only as the offer object
// CreateOffer stores.
func FuzzStoredGrant(f *testing.F) {
	ctx := context.Background()
	m, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { m.Close() })
	s := newService(f, m, nil)
	open := func(purpose, secret string) []byte {
		sealed, err := m.Get(ctx, "oid4vci:"+purpose+":"+secret)
		if err != nil {
			f.Fatal(err)
		}
		plain, err := gm.Open(sealKey(purpose, secret), sealed, []byte(purpose))
		if err != nil {
			f.Fatal(err)
		}
		return plain
	}
	// Seeds: the grant as CreateOffer writes it under its code, and as
	// Token writes it under the access token.
	o, err := s.CreateOffer(ctx, OfferRequest{Client: "rp", ConfigurationIDs: []string{"ResidenceCredential_sd_jwt"}, Credential: residence()})
	if err != nil {
		f.Fatal(err)
	}
	c := preAuthCode(f, o)
	f.Add(open("code", c))
	tok, err := s.Token(ctx, TokenRequest{GrantType: GrantPreAuthorized, PreAuthorizedCode: c})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(open("token", tok.AccessToken))
	n, err := s.Nonce(ctx)
	if err != nil {
		f.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"credential_configuration_id": "ResidenceCredential_sd_jwt", "proofs": map[string]any{"jwt": []string{proof(f, n.CNonce, time.Now())}}})
	res, err := s.Credential(ctx, Access{Scheme: "Bearer", Token: tok.AccessToken}, body)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(open("notification", res.NotificationID))
	o, err = s.CreateOffer(ctx, OfferRequest{Client: "rp", ConfigurationIDs: []string{"ResidenceCredential_sd_jwt"}, Credential: residence(), ByReference: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(o.JSON)
	f.Add([]byte(`null`))
	f.Add([]byte(`{"c":"rp","cfg":["nope"],"vc":null,"lvl":-1,"cl":{"ResidenceCredential_sd_jwt":[{"path":[]}]}}`))
	f.Add([]byte(`{"c":"rp","cfg":["ResidenceCredential_sd_jwt"],"vc":{"type":7},"tx":"AA=="}`))
	secret := func(t *testing.T, n int) string {
		b := make([]byte, n)
		rand.Read(b)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	put := func(t *testing.T, purpose, secret string, plain []byte) {
		sealed, err := gm.Seal(rand.Reader, sealKey(purpose, secret), plain, []byte(purpose))
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Set(ctx, "oid4vci:"+purpose+":"+secret, sealed, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	f.Fuzz(func(t *testing.T, plain []byte) {
		c := secret(t, 32)
		put(t, "code", c, plain)
		if _, err := s.Token(ctx, TokenRequest{GrantType: GrantPreAuthorized, PreAuthorizedCode: c}); err != nil && code(err) == "" {
			t.Fatalf("token: %v without an error code", err)
		}
		at := secret(t, 32)
		put(t, "token", at, plain)
		n, err := s.Nonce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(map[string]any{"credential_configuration_id": "ResidenceCredential_sd_jwt", "proofs": map[string]any{"jwt": []string{proof(t, n.CNonce, time.Now())}}})
		res, err := s.Credential(ctx, Access{Scheme: "Bearer", Token: at}, body)
		if err != nil && code(err) == "" {
			t.Fatalf("credential: %v without an error code", err)
		}
		if err == nil && len(res.Credentials) == 0 {
			t.Fatalf("credential: %+v", res)
		}
		// The notification record, for the seeds' live access token.
		nid := secret(t, 18)
		put(t, "notification", nid, plain)
		nb, _ := json.Marshal(map[string]string{"notification_id": nid, "event": "credential_accepted"})
		if _, err := s.Notify(ctx, Access{Scheme: "Bearer", Token: tok.AccessToken}, nb); err != nil && code(err) == "" {
			t.Fatalf("notification: %v without an error code", err)
		}
		ref := secret(t, 18)
		put(t, "offer", ref, plain)
		doc, err := s.OfferByReference(ctx, ref)
		if err != nil && !errors.Is(err, ErrNotFound) && code(err) == "" {
			t.Fatalf("offer: %v without an error code", err)
		}
		var obj map[string]any
		if err == nil && (json.Unmarshal(doc, &obj) != nil || obj == nil) {
			t.Fatalf("offer %q served", doc)
		}
	})
}
