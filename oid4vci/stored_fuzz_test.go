package oid4vci

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/login"
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

// FuzzStoredPushedRequest: a pushed authorization request (PAR) or an
// offer's issuer_state record read back from the store (past the seal),
// whatever its bytes, starts a login or is refused with a
// *login.AuthorizeError (as Authorize documents) or, for a record that
// does not open as one, the *login.Error of an unreadable store; never a
// panic. A record
// that starts a login reads (as get reads it) as one the writer could
// have stored: a pushed form of the same client, an offer of the asked
// configuration.
func FuzzStoredPushedRequest(f *testing.F) {
	ctx := context.Background()
	m, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { m.Close() })
	s := newServiceWith(f, Config{Store: m, Login: newLogin(f, m)})
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
	// Seeds: the offer as CreateOffer writes it under its issuer_state,
	// and the pushed form of a request for it as push writes it.
	q := authorizationRequest(f, s)
	offer := open("state", q.Get("issuer_state"))
	resp, err := s.PushAuthorizationRequest(ctx, q, nil, ClientAttestation{})
	if err != nil {
		f.Fatal(err)
	}
	pushed := open("par", strings.TrimPrefix(resp.RequestURI, RequestURIPrefix))
	f.Add(offer)
	f.Add(pushed)
	f.Add([]byte(`{"client_id":["wallet"]}`))
	f.Add([]byte(`{"client_id":["wallet","other"],"issuer_state":[]}`))
	f.Add([]byte(`{"c":"bureau","cfg":["ResidenceCredential_sd_jwt"],"vc":{},"lvl":99,"sub":""}`))
	// put stores plain as the live record of purpose and secret, and
	// removes it when t ends (so the store never fills).
	put := func(t testing.TB, purpose, secret string, plain []byte) {
		del := func() {
			m.Delete(ctx, "oid4vci:"+purpose+":"+secret)
			m.Consume(ctx, "oid4vci:"+purpose+"-once:"+secret)
		}
		del()
		t.Cleanup(del)
		sealed, err := gm.Seal(rand.Reader, sealKey(purpose, secret), plain, []byte(purpose))
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Set(ctx, "oid4vci:"+purpose+":"+secret, sealed, time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := m.Put(ctx, "oid4vci:"+purpose+"-once:"+secret, []byte{1}, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	// run stores plain as a pushed request (for the live offer) and as an
	// offer, and sends the authorization requests that read them.
	form := maps.Clone(q)
	run := func(t testing.TB, plain []byte) (pushedErr, offerErr error) {
		id, err := s.random(32)
		if err != nil {
			t.Fatal(err)
		}
		put(t, "par", id, plain)
		put(t, "state", q.Get("issuer_state"), offer)
		_, pushedErr = s.Authorize(ctx, url.Values{"client_id": {"wallet"}, "request_uri": {RequestURIPrefix + id}})
		state, err := s.random(32)
		if err != nil {
			t.Fatal(err)
		}
		put(t, "state", state, plain)
		form.Set("issuer_state", state)
		_, offerErr = s.Authorize(ctx, form)
		return pushedErr, offerErr
	}
	if err, _ := run(f, pushed); err != nil {
		f.Fatalf("the pushed request as written: %v", err)
	}
	if _, err := run(f, offer); err != nil {
		f.Fatalf("the offer as written: %v", err)
	}
	refused := func(t *testing.T, what string, err error) {
		var ae *login.AuthorizeError
		var le *login.Error
		if err != nil && !errors.As(err, &ae) && !errors.As(err, &le) {
			t.Fatalf("%s: %v is neither a *login.AuthorizeError nor a *login.Error", what, err)
		}
	}
	f.Fuzz(func(t *testing.T, plain []byte) {
		pushedErr, offerErr := run(t, plain)
		refused(t, "pushed request", pushedErr)
		var form map[string][]string
		if pushedErr == nil && (decode(plain, &form) != nil || len(form["client_id"]) == 0 || form["client_id"][0] != "wallet") {
			t.Fatalf("pushed request %q started a login", plain)
		}
		refused(t, "offer", offerErr)
		var g grant
		if offerErr == nil && (decode(plain, &g) != nil || !slices.Contains(g.Configs, "ResidenceCredential_sd_jwt")) {
			t.Fatalf("offer %q started a login", plain)
		}
	})
}
