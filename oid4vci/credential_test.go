package oid4vci

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	vc "github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/store"
)

// failingSigner fails the calls fail picks (numbered from 1) with err, and
// signs the others.
type failingSigner struct {
	next  Signer
	err   error
	fail  func(call int64) bool
	calls atomic.Int64
}

func (f *failingSigner) Sign(ctx context.Context, req SignRequest) (string, error) {
	if f.fail(f.calls.Add(1)) {
		return "", f.err
	}
	return f.next.Sign(ctx, req)
}

// preAuthAccess is a Bearer access token for a fresh pre-authorized
// offer of the configurations ids on s.
func preAuthAccess(t *testing.T, s *Service, ids ...string) Access {
	t.Helper()
	ctx := context.Background()
	o, err := s.CreateOffer(ctx, OfferRequest{Client: "rp", ConfigurationIDs: ids, Credential: residence()})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Token(ctx, TokenRequest{GrantType: GrantPreAuthorized, PreAuthorizedCode: preAuthCode(t, o)})
	if err != nil {
		t.Fatal(err)
	}
	return Access{Scheme: "Bearer", Token: tok.AccessToken}
}

// vciSession is an access token for a fresh pre-authorized offer of the
// SD-JWT configuration on s, and a credential request body with n key
// proofs under a fresh c_nonce each time it is called.
func vciSession(t *testing.T, s *Service) (Access, func(n int) []byte) {
	t.Helper()
	ctx := context.Background()
	return preAuthAccess(t, s, sdJWT), func(n int) []byte {
		c, err := s.Nonce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		proofs := make([]string, n)
		for i := range proofs {
			proofs[i] = proof(t, c.CNonce, time.Now())
		}
		b, _ := json.Marshal(map[string]any{"credential_configuration_id": "ResidenceCredential_sd_jwt", "proofs": map[string]any{"jwt": proofs}})
		return b
	}
}

// TestTransientSignFailureLeavesTheConfiguration: a signer that cannot
// sign now (the status store, the ledger binding, the registry
// unavailable) is answered temporarily_unavailable, not
// credential_request_denied (which OID4VCI 1.0 §8.3.1.2 makes
// unrecoverable); the c_nonce stays spent, and a retry with a fresh one
// is served under the same access token, however the failure is wrapped,
// also when it is the second credential of a batch.
func TestTransientSignFailureLeavesTheConfiguration(t *testing.T) {
	for _, c := range []struct {
		name          string
		err           error
		batch, failAt int
	}{
		{"store unavailable", store.ErrUnavailable, 1, 1},
		{"signer unavailable", errors.Join(errors.New("ledger: binding unconfirmed"), ErrSignerUnavailable), 1, 1},
		{"deadline", context.DeadlineExceeded, 1, 1},
		{"second of a batch", store.ErrUnavailable, 3, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			stores(t, func(t *testing.T, st Store) {
				s := newService(t, st, nil)
				s.cfg.Signer = &failingSigner{next: s.cfg.Signer, err: c.err, fail: func(n int64) bool { return n == int64(c.failAt) }}
				access, request := vciSession(t, s)
				ctx := context.Background()
				first := request(c.batch)
				_, err := s.Credential(ctx, access, first)
				if code(err) != CodeTemporarilyUnavailable || !errors.Is(err, c.err) {
					t.Fatalf("a transient signer failure: %v, want temporarily_unavailable wrapping it", err)
				}
				if _, err := s.Credential(ctx, access, first); code(err) != CodeInvalidNonce {
					t.Errorf("the failed request's c_nonce again: %v, want invalid_nonce", err)
				}
				resp, err := s.Credential(ctx, access, request(c.batch))
				if err != nil {
					t.Fatalf("the retry with a fresh c_nonce: %v", err)
				}
				if len(resp.Credentials) != c.batch {
					t.Errorf("%d credentials, want %d", len(resp.Credentials), c.batch)
				}
				if _, err := s.Credential(ctx, access, request(1)); code(err) != CodeInvalidToken {
					t.Errorf("after the issue, the configuration again (the token's only one): %v, want invalid_token", err)
				}
			})
		})
	}
}

// TestSignRefusalSpendsTheConfiguration: a refusal of the signer (the
// client lost its accreditation) stays credential_request_denied and
// spends the configuration under the token (its only one: the token is
// then invalid_token at the credential endpoint).
func TestSignRefusalSpendsTheConfiguration(t *testing.T) {
	s := newService(t, memoryStore(t), nil)
	s.cfg.Signer = &failingSigner{next: s.cfg.Signer, err: vc.ErrNotAccredited, fail: func(n int64) bool { return n == 1 }}
	access, request := vciSession(t, s)
	ctx := context.Background()
	if _, err := s.Credential(ctx, access, request(1)); code(err) != CodeCredentialRequestDenied {
		t.Fatalf("a refusal: %v, want credential_request_denied", err)
	}
	if _, err := s.Credential(ctx, access, request(1)); code(err) != CodeInvalidToken {
		t.Errorf("after a refusal, the configuration again (the token's only one): %v, want invalid_token", err)
	}
}

// TestRetriesIssueOnce: concurrent requests under one access token with a
// signer failing every other call: whatever the interleaving, exactly one
// request is ever served, and the configuration stays issuable until one
// has been.
func TestRetriesIssueOnce(t *testing.T) {
	stores(t, func(t *testing.T, st Store) {
		s := newService(t, st, nil)
		s.cfg.Signer = &failingSigner{next: s.cfg.Signer, err: store.ErrUnavailable, fail: func(n int64) bool { return n%2 == 1 }}
		access, request := vciSession(t, s)
		ctx := context.Background()
		var served atomic.Int32
		for round := 0; round < 4 && served.Load() == 0; round++ {
			var wg sync.WaitGroup
			for range 8 {
				body := request(1)
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := s.Credential(ctx, access, body)
					switch code(err) {
					case "":
						served.Add(1)
					case CodeTemporarilyUnavailable, CodeInvalidCredentialRequest, CodeInvalidToken:
					default:
						t.Error(err)
					}
				}()
			}
			wg.Wait()
		}
		if served.Load() != 1 {
			t.Fatalf("%d requests served, want exactly 1", served.Load())
		}
		for range 3 {
			if _, err := s.Credential(ctx, access, request(1)); code(err) != CodeInvalidToken {
				t.Fatalf("after the issue: %v, want invalid_token", err)
			}
		}
	})
}

// TestCredentialRequestIgnoresUnknownMembers: OID4VCI 1.0 §8.2 "The
// Credential Issuer MUST ignore any unrecognized parameters"; a repeated
// member is still refused.
func TestCredentialRequestIgnoresUnknownMembers(t *testing.T) {
	s := newService(t, memoryStore(t), nil)
	access, request := vciSession(t, s)
	ctx := context.Background()
	n, _ := s.Nonce(ctx)
	p := proof(t, n.CNonce, time.Now())
	dup := []byte(`{"credential_configuration_id":"ResidenceCredential_sd_jwt","credential_configuration_id":"ResidenceCredential_sd_jwt","proofs":{"jwt":["` + p + `"]}}`)
	if _, err := s.Credential(ctx, access, dup); code(err) != CodeInvalidCredentialRequest {
		t.Errorf("a repeated member: %v, want invalid_credential_request", err)
	}
	var body map[string]any
	json.Unmarshal(request(1), &body)
	body["x_extension"] = map[string]any{"nested": []any{1, "two"}}
	b, _ := json.Marshal(body)
	resp, err := s.Credential(ctx, access, b)
	if err != nil {
		t.Fatalf("a credential request with an unrecognized member: %v", err)
	}
	// §11.1: the same for the notification request.
	note := func(extra string) []byte {
		return []byte(`{"notification_id":"` + resp.NotificationID + `","event":"credential_accepted"` + extra + `}`)
	}
	if _, err := s.Notify(ctx, access, note(`,"event":"credential_failure"`)); code(err) != CodeInvalidNotificationRequest {
		t.Errorf("a notification with a repeated member: %v, want invalid_notification_request", err)
	}
	if _, err := s.Notify(ctx, access, note(`,"x_extension":true`)); err != nil {
		t.Errorf("a notification with an unrecognized member: %v", err)
	}
}

// TestNotificationIdempotent: OID4VCI 1.0 §11 "The notification from the
// Wallet is idempotent. When the Credential Issuer receives multiple
// identical calls from the Wallet for the same notification_id, it returns
// success", and the Wallet "MAY send one or more Notification Requests per
// notification_id value received": a repeated notification and a later
// event for the same ID are taken; the ID stays bound to its token.
func TestNotificationIdempotent(t *testing.T) {
	s := newService(t, memoryStore(t), nil)
	access, request := vciSession(t, s)
	ctx := context.Background()
	resp, err := s.Credential(ctx, access, request(1))
	if err != nil {
		t.Fatal(err)
	}
	note := func(event string) []byte {
		return []byte(`{"notification_id":"` + resp.NotificationID + `","event":"` + event + `"}`)
	}
	for i, event := range []string{"credential_accepted", "credential_accepted", "credential_deleted"} {
		if _, err := s.Notify(ctx, access, note(event)); err != nil {
			t.Errorf("notification %d (%s): %v", i, event, err)
		}
	}
	other, _ := vciSession(t, s)
	if _, err := s.Notify(ctx, other, note("credential_accepted")); code(err) != CodeInvalidNotificationID {
		t.Errorf("the notification_id under another token: %v, want invalid_notification_id", err)
	}
}

// TestProofHeaderRefusals: a key proof whose typ is not
// openid4vci-proof+jwt, that has no iat, or that names a kid beside its
// jwk, or that has crit (RFC 7515 §4.1.11) is refused with invalid_proof
// (OID4VCI 1.0 Appendix F.1: typ "MUST be openid4vci-proof+jwt", iat
// "REQUIRED", kid "MUST NOT be present if jwk or x5c header parameter is
// present"); the c_nonce is
// not spent, and the same request with a good proof is served.
func TestProofHeaderRefusals(t *testing.T) {
	s := newService(t, memoryStore(t), nil)
	ctx := context.Background()
	access := preAuthAccess(t, s, sdJWT)
	n, err := s.Nonce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	signed := func(change func(*jwt.Token)) []byte {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		j, _ := gm.NewJWK(&k.PublicKey, "")
		j.Use, j.Alg = "", ""
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"aud": issuerURL, "iat": time.Now().Unix(), "nonce": n.CNonce})
		tok.Header["typ"], tok.Header["jwk"] = ProofTyp, j
		change(tok)
		p, err := tok.SignedString(k)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(map[string]any{"credential_configuration_id": "ResidenceCredential_sd_jwt", "proofs": map[string]any{"jwt": []string{p}}})
		return b
	}
	for name, change := range map[string]func(*jwt.Token){
		"typ JWT":     func(t *jwt.Token) { t.Header["typ"] = "JWT" },
		"no typ":      func(t *jwt.Token) { delete(t.Header, "typ") },
		"no iat":      func(t *jwt.Token) { delete(t.Claims.(jwt.MapClaims), "iat") },
		"kid and jwk": func(t *jwt.Token) { t.Header["kid"] = "key-1" },
		// RFC 7515 §4.1.11: the issuer understands no JWS extension.
		"crit": func(t *jwt.Token) { t.Header["crit"], t.Header["urn:example:x"] = []string{"urn:example:x"}, true },
	} {
		if _, err := s.Credential(ctx, access, signed(change)); code(err) != CodeInvalidProof {
			t.Errorf("%s: %v; want invalid_proof", name, err)
		}
	}
	if _, err := s.Credential(ctx, access, signed(func(*jwt.Token) {})); err != nil {
		t.Fatalf("a good proof after the refusals: %v", err)
	}
}

// TestIssuedTokenKeepsNoGrant: once every configuration of an access
// token is issued, its record keeps no credential and no claims (it kept
// its whole sealed grant to the token's expiry, 5 minutes, though nothing
// was left to issue: PIPL Art. 19); the credential endpoint then refuses
// the token as invalid_token (RFC 6750 §3.1: the token no longer
// authorizes a credential), and the notification endpoint still takes
// it (OID4VCI 1.0 §11: notifications follow the issuance). While a
// configuration is left, the grant stays whole. On the memory store and
// Redis.
func TestIssuedTokenKeepsNoGrant(t *testing.T) {
	stores(t, func(t *testing.T, st Store) {
		s := newService(t, st, nil)
		ctx := context.Background()
		access := preAuthAccess(t, s, sdJWT, jwtVC)
		stored := func() grant {
			t.Helper()
			var g grant
			if err := s.get(ctx, "token", access.Token, &g); err != nil {
				t.Fatalf("the token's record: %v", err)
			}
			return g
		}
		var ids []string
		for i, id := range []string{sdJWT, jwtVC} {
			n, err := s.Nonce(ctx)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(map[string]any{"credential_configuration_id": id, "proofs": map[string]any{"jwt": []string{proof(t, n.CNonce, time.Now())}}})
			resp, err := s.Credential(ctx, access, b)
			if err != nil {
				t.Fatalf("%s: %v", id, err)
			}
			ids = append(ids, resp.NotificationID)
			if g := stored(); i == 0 && (g.Credential == nil || g.Issued) {
				t.Fatalf("with %s left to issue the grant is not whole: %+v", jwtVC, g)
			}
		}
		if g := stored(); g.Credential != nil || g.Claims != nil || len(g.Configs) != 0 || !g.Issued || g.Client != "rp" {
			t.Errorf("after the last credential the token's record keeps %+v, want its client and nothing of the credential", g)
		}
		if err := credentialAs(t, s, access, "credential_configuration_id", sdJWT); code(err) != CodeInvalidToken {
			t.Errorf("a credential request after the last credential: %v, want %s", err, CodeInvalidToken)
		}
		for _, id := range ids {
			if _, err := s.Notify(ctx, access, []byte(`{"notification_id":"`+id+`","event":"credential_accepted"}`)); err != nil {
				t.Errorf("a notification after the last credential: %v", err)
			}
		}
	})
}

// restoreOnPeek is a Store on which a request whose issue failed
// transiently puts its configuration and the whole grant back (as
// Service.credential does) just after retire found that configuration
// spent.
type restoreOnPeek struct {
	Store
	key     string
	restore func()
}

func (s *restoreOnPeek) Peek(ctx context.Context, key string) ([]byte, error) {
	b, err := s.Store.Peek(ctx, key)
	if restore := s.restore; restore != nil && key == s.key {
		s.restore = nil
		restore()
	}
	return b, err
}

// TestRetireRacingRestore: a grant retired while a transient failure
// puts its configuration back is whole again: the configuration put
// back is issued under the token, not refused as invalid_token.
func TestRetireRacingRestore(t *testing.T) {
	s := newService(t, memoryStore(t), nil)
	ctx := context.Background()
	access := preAuthAccess(t, s, sdJWT, jwtVC)
	if err := credentialAs(t, s, access, "credential_configuration_id", sdJWT); err != nil {
		t.Fatal(err)
	}
	var g grant
	if err := s.get(ctx, "token", access.Token, &g); err != nil {
		t.Fatal(err)
	}
	// A request for jwtVC takes its entry; its issue will fail.
	if _, err := s.cfg.Store.Consume(ctx, issueKey(jwtVC, access.Token)); err != nil {
		t.Fatal(err)
	}
	plain := s.cfg.Store
	s.cfg.Store = &restoreOnPeek{Store: plain, key: issueKey(jwtVC, access.Token), restore: func() {
		if err := plain.Put(ctx, issueKey(jwtVC, access.Token), []byte{1}, s.cfg.TokenTTL); err != nil {
			t.Fatal(err)
		}
		if err := s.put(ctx, "token", access.Token, g, s.tokenLeft(&g)); err != nil {
			t.Fatal(err)
		}
	}}
	s.retire(ctx, &g, access.Token) // the request for sdJWT, finishing
	s.cfg.Store = plain
	if err := credentialAs(t, s, access, "credential_configuration_id", jwtVC); err != nil {
		t.Errorf("the configuration put back, asked for again: %v, want its credential", err)
	}
}

// TestNotificationRequestRefusals: a notification without
// notification_id, or whose event_description holds a character outside
// %x20-21 / %x23-5B / %x5D-7E, is invalid_notification_request, one whose
// notification_id is not one given is invalid_notification_id (OID4VCI
// 1.0 §11.3: invalid_notification_request, "The Notification Request is
// missing a required parameter, includes an unsupported parameter or
// parameter value ..."; invalid_notification_id, "The notification_id in
// the Notification Request was invalid"; §11.1: event_description "MUST
// NOT include characters outside the set %x20-21 / %x23-5B / %x5D-7E").
func TestNotificationRequestRefusals(t *testing.T) {
	s := newService(t, memoryStore(t), nil)
	access, request := vciSession(t, s)
	ctx := context.Background()
	resp, err := s.Credential(ctx, access, request(1))
	if err != nil {
		t.Fatal(err)
	}
	for body, want := range map[string]string{
		`{"event":"credential_accepted"}`:                                              CodeInvalidNotificationRequest,
		`{"notification_id":"","event":"credential_accepted"}`:                         CodeInvalidNotificationRequest,
		`{"notification_id":"AAAAAAAAAAAAAAAAAAAAAAAA","event":"credential_accepted"}`: CodeInvalidNotificationID,
		`{"notification_id":"short","event":"credential_accepted"}`:                    CodeInvalidNotificationID,
	} {
		if _, err := s.Notify(ctx, access, []byte(body)); code(err) != want {
			t.Errorf("%s: %v, want %s", body, err, want)
		}
	}
	note := func(description string) []byte {
		b, _ := json.Marshal(map[string]string{"notification_id": resp.NotificationID, "event": "credential_failure", "event_description": description})
		return b
	}
	for _, d := range []string{`say "full"`, `C:\wallet`, "line\nbreak", "tab\there", "存储已满", "\x7f"} {
		if _, err := s.Notify(ctx, access, note(d)); code(err) != CodeInvalidNotificationRequest {
			t.Errorf("event_description %q: %v, want invalid_notification_request", d, err)
		}
	}
	if _, err := s.Notify(ctx, access, note("Could not store the Credential. Out of storage! (#2, 100% ~ {x})")); err != nil {
		t.Errorf("a printable ASCII event_description: %v", err)
	}
}
