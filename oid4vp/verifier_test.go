package oid4vp_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/json"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/issuer"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/testredis"
	"github.com/trustid-cn/trustid/oid4vp"
	redisstore "github.com/trustid-cn/trustid/store/redis"
)

// TestFlow runs a transaction in both response modes: the relying party
// gets exactly the requested claim, the wallet the redirect with a
// response_code when one was asked for.
func TestFlow(t *testing.T) {
	for _, mode := range []string{oid4vp.ModeDirectPost, oid4vp.ModeDirectPostJWT} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			holder, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
			cred := e.issue(t, holder)
			r := e.open(t, "shop-1", ageQuery, mode)
			if r.clientID != "verifier_attestation:shop-1" {
				t.Fatalf("client_id %s", r.clientID)
			}
			if res, err := e.verifier.FetchResult(ctx, "shop-1", r.id, ""); err != nil || res.Status != oid4vp.StatusPending {
				t.Fatalf("before: %+v %v", res, err)
			}
			if _, err := e.verifier.FetchResult(ctx, "shop-2", r.id, ""); oid4vp.CodeOf(err) != oid4vp.CodeNotFound {
				t.Fatalf("other RP, before: %v", err)
			}
			pres := e.present(t, cred.Token, holder, r.clientID, r.nonce, "age_over_18")
			out, err := e.verifier.HandleResponse(ctx, r.id, form(t, r, map[string]any{"vp_token": token("pid", pres), "state": r.state}))
			if err != nil {
				t.Fatal(err)
			}
			if out.RedirectURI != "" {
				t.Fatalf("redirect without a redirect_uri: %s", out.RedirectURI)
			}
			res, err := e.verifier.FetchResult(ctx, "shop-1", r.id, "")
			if err != nil {
				t.Fatal(err)
			}
			got := res.Credentials["pid"]
			if res.Status != oid4vp.StatusVerified || len(got) != 1 || got[0].VCT != base+"/vct/IdentityCredential" || got[0].Issuer != base {
				t.Fatalf("result %+v", res)
			}
			if raw, _ := json.Marshal(got[0].Claims); string(raw) != `{"age_over_18":true}` {
				t.Fatalf("claims %s", raw)
			}
			// Another relying party cannot read it.
			if _, err := e.verifier.FetchResult(ctx, "shop-2", r.id, ""); oid4vp.CodeOf(err) != oid4vp.CodeNotFound {
				t.Fatalf("other RP: %v", err)
			}
		})
	}
}

// TestOverDisclosureFiltered: a wallet that discloses more than asked
// does not get the extra claims to the relying party.
func TestOverDisclosureFiltered(t *testing.T) {
	e := newEnv(t)
	holder, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	cred := e.issue(t, holder)
	r := e.open(t, "shop-1", ageQuery, oid4vp.ModeDirectPost)
	pres := e.present(t, cred.Token, holder, r.clientID, r.nonce, "age_over_18", "birthDate", "name")
	if _, err := e.verifier.HandleResponse(context.Background(), r.id, form(t, r, map[string]any{"vp_token": token("pid", pres), "state": r.state})); err != nil {
		t.Fatal(err)
	}
	res, _ := e.verifier.FetchResult(context.Background(), "shop-1", r.id, "")
	raw, _ := json.Marshal(res)
	if strings.Contains(string(raw), "1990") || strings.Contains(string(raw), "张三") {
		t.Fatalf("unrequested claims reached the relying party: %s", raw)
	}
}

// TestResponseCode: with a redirect_uri, the result needs the
// response_code the wallet's redirect carried.
func TestResponseCode(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	holder, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	cred := e.issue(t, holder)
	c, err := e.verifier.Create(ctx, "shop-1", oid4vp.CreateRequest{Query: json.RawMessage(ageQuery), RedirectURI: "https://shop.example/done"})
	if err != nil {
		t.Fatal(err)
	}
	r := e.openExisting(t, c.TransactionID)
	pres := e.present(t, cred.Token, holder, r.clientID, r.nonce, "age_over_18")
	out, err := e.verifier.HandleResponse(ctx, r.id, form(t, r, map[string]any{"vp_token": token("pid", pres), "state": r.state}))
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(out.RedirectURI)
	frag, _ := url.ParseQuery(u.Fragment)
	code := frag.Get("response_code")
	if !strings.HasPrefix(out.RedirectURI, "https://shop.example/done#response_code=") || len(code) < 20 {
		t.Fatalf("redirect %q", out.RedirectURI)
	}
	for _, wrong := range []string{"", code + "x"} {
		if _, err := e.verifier.FetchResult(ctx, "shop-1", r.id, wrong); oid4vp.CodeOf(err) != oid4vp.CodeInvalidRequest {
			t.Fatalf("response_code %q: %v", wrong, err)
		}
	}
	if res, err := e.verifier.FetchResult(ctx, "shop-1", r.id, code); err != nil || res.Status != oid4vp.StatusVerified {
		t.Fatalf("%+v %v", res, err)
	}
	// A redirect URI the relying party is not registered for is refused.
	_, err = e.verifier.Create(ctx, "shop-1", oid4vp.CreateRequest{Query: json.RawMessage(ageQuery), RedirectURI: "https://evil.example/"})
	wantCode(t, err, oid4vp.CodeInvalidClient, "redirect_uri")
}

// TestResultDeletedOnceRead: a result is the relying party's once, as
// OpenID4VP's reference design for direct_post has the Verifier consume
// the VP Token and invalidate the transaction (Implementation
// Considerations, "Response Mode direct_post", step 10: "The Verifier
// then consumes the VP Token and invalidates the transaction-id,
// request-id and nonce"): the fetch that returns it deletes it and its
// transaction, so that the disclosed claims are not kept for the rest
// of the transaction's 5 minutes, and a later fetch is not_found (not
// pending). Polling before the answer sees pending; a fetch with a
// wrong response_code or by another relying party deletes nothing; of
// concurrent fetches one gets the result. Nothing of the transaction is
// left in the store. (The result stayed readable for 5 minutes.) On the
// memory store and Redis.
func TestResultDeletedOnceRead(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		e := newEnv(t)
		testResultDeletedOnceRead(t, e, func() int {
			keys, err := e.store.StoredKeys(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			return len(keys)
		})
	})
	t.Run("redis", func(t *testing.T) {
		e := newEnv(t)
		c := testredis.StartClient(t)
		r, err := redisstore.New(c, redisstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		cfg := e.config
		cfg.Store = r
		if e.verifier, err = oid4vp.New(cfg); err != nil {
			t.Fatal(err)
		}
		testResultDeletedOnceRead(t, e, func() int {
			keys, err := c.Keys(t.Context(), "*").Result() // live keys only
			if err != nil {
				t.Fatal(err)
			}
			return len(keys)
		})
	})
}

func testResultDeletedOnceRead(t *testing.T, e *env, entries func() int) {
	ctx := context.Background()
	holder, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	cred := e.issue(t, holder)
	before := entries()
	for _, redirect := range []string{"", "https://shop.example/done"} {
		c, err := e.verifier.Create(ctx, "shop-1", oid4vp.CreateRequest{Query: json.RawMessage(ageQuery), ResponseMode: oid4vp.ModeDirectPost, RedirectURI: redirect})
		if err != nil {
			t.Fatal(err)
		}
		r := e.openExisting(t, c.TransactionID)
		for range 2 {
			if res, err := e.verifier.FetchResult(ctx, "shop-1", r.id, ""); err != nil || res.Status != oid4vp.StatusPending {
				t.Fatalf("%q: a poll before the answer: %+v %v", redirect, res, err)
			}
		}
		out, err := e.verifier.HandleResponse(ctx, r.id, form(t, r, map[string]any{"vp_token": token("pid", e.present(t, cred.Token, holder, r.clientID, r.nonce, "age_over_18")), "state": r.state}))
		if err != nil {
			t.Fatal(err)
		}
		code := ""
		if redirect != "" {
			u, _ := url.Parse(out.RedirectURI)
			frag, _ := url.ParseQuery(u.Fragment)
			code = frag.Get("response_code")
			if _, err := e.verifier.FetchResult(ctx, "shop-1", r.id, code+"x"); oid4vp.CodeOf(err) != oid4vp.CodeInvalidRequest {
				t.Fatalf("a wrong response_code: %v", err)
			}
		}
		if _, err := e.verifier.FetchResult(ctx, "shop-2", r.id, code); oid4vp.CodeOf(err) != oid4vp.CodeNotFound {
			t.Fatalf("%q: another relying party: %v", redirect, err)
		}
		var wg sync.WaitGroup
		got := make([]*oid4vp.Result, 4)
		errs := make([]error, len(got))
		for i := range got {
			wg.Go(func() { got[i], errs[i] = e.verifier.FetchResult(ctx, "shop-1", r.id, code) })
		}
		wg.Wait()
		read := 0
		for i, res := range got {
			switch {
			case errs[i] == nil && res.Status == oid4vp.StatusVerified && res.Credentials["pid"] != nil:
				read++
			case oid4vp.CodeOf(errs[i]) != oid4vp.CodeNotFound:
				t.Errorf("%q: a concurrent fetch: %+v %v, want the result or %s", redirect, res, errs[i], oid4vp.CodeNotFound)
			}
		}
		if read != 1 {
			t.Errorf("%q: %d of %d concurrent fetches got the result, want 1", redirect, read, len(got))
		}
		if res, err := e.verifier.FetchResult(ctx, "shop-1", r.id, code); oid4vp.CodeOf(err) != oid4vp.CodeNotFound {
			t.Errorf("%q: a fetch after the result was read: %+v %v, want %s", redirect, res, err, oid4vp.CodeNotFound)
		}
		if n := entries() - before; n != 0 {
			t.Errorf("%q: the read transaction left %d store entries", redirect, n)
		}
	}
}

// TestCreateRefuses: DCQL over-asking and malformed queries.
func TestCreateRefuses(t *testing.T) {
	e := newEnv(t)
	for name, c := range map[string]struct{ rp, query, mode, code, desc string }{
		"over-asking":         {"shop-1", strings.Replace(ageQuery, `"values":[true]}`, `"values":[true]},{"path":["birthDate"]}`, 1), "", oid4vp.CodeInvalidScope, `"birthDate"`},
		"over-asking in set":  {"shop-1", strings.Replace(ageQuery, `["age_over_18"]`, `["age_over_60"]`, 1), "", oid4vp.CodeInvalidScope, `"age_over_60"`},
		"nested over-asking":  {"shop-2", strings.Replace(ageQuery, `["age_over_18"]`, `["address","street"]`, 1), "", oid4vp.CodeInvalidScope, `"address"`},
		"unknown rp":          {"nobody", ageQuery, "", oid4vp.CodeInvalidClient, "not registered"},
		"not json":            {"shop-1", `{"credentials":`, "", oid4vp.CodeInvalidRequest, ""},
		"no credentials":      {"shop-1", `{"credentials":[]}`, "", oid4vp.CodeInvalidRequest, "credentials"},
		"repeated member":     {"shop-1", strings.Replace(ageQuery, `"format"`, `"colour":1,"colour":2,"format"`, 1), "", oid4vp.CodeInvalidRequest, ""},
		"mdoc":                {"shop-1", strings.Replace(ageQuery, `"dc+sd-jwt","meta":{"vct_values":["https://trustid.example/vct/IdentityCredential"]}`, `"mso_mdoc","meta":{"doctype_value":"x"}`, 1), "", oid4vp.CodeVPFormatsNotSupported, "dc+sd-jwt"},
		"bad mode":            {"shop-1", ageQuery, "fragment", oid4vp.CodeInvalidRequest, "response_mode"},
		"claim_sets unknown":  {"shop-1", strings.Replace(ageQuery, `"claims":[{"path"`, `"claim_sets":[["x"]],"claims":[{"id":"a","path"`, 1), "", oid4vp.CodeInvalidRequest, "unknown claim"},
		"credential_sets bad": {"shop-1", strings.TrimSuffix(ageQuery, "}") + `,"credential_sets":[{"options":[["nope"]]}]}`, "", oid4vp.CodeInvalidRequest, "unknown credential"},
		"oversized":           {"shop-1", `{"credentials":[` + strings.Repeat(" ", 20<<10) + `]}`, "", oid4vp.CodeInvalidRequest, "bytes"},
		// OpenID4VP 1.0 §6.1: "Verifiers MUST NOT point to the same claim
		// more than once in a single query".
		"claim twice": {"shop-1", strings.Replace(ageQuery, `"claims":[{"path":["age_over_18"],"values":[true]}]`, `"claims":[{"path":["age_over_18"],"values":[true]},{"path":["age_over_18"]}]`, 1), "", oid4vp.CodeInvalidRequest, "twice"},
		// §6.1: trusted_authorities, when present, is a non-empty array.
		"empty trusted_authorities": {"shop-1", strings.Replace(ageQuery, `"format":"dc+sd-jwt"`, `"format":"dc+sd-jwt","trusted_authorities":[]`, 1), "", oid4vp.CodeInvalidRequest, "trusted_authorities"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := e.verifier.Create(context.Background(), c.rp, oid4vp.CreateRequest{Query: json.RawMessage(c.query), ResponseMode: c.mode})
			wantCode(t, err, c.code, c.desc)
		})
	}
}

// TestCreateIgnoresUnknownMembers: OpenID4VP 1.0 §6, "Implementations
// MUST ignore any unknown properties", at the top level and inside.
func TestCreateIgnoresUnknownMembers(t *testing.T) {
	e := newEnv(t)
	for _, q := range []string{
		strings.Replace(ageQuery, `{"credentials":`, `{"x_ext":1,"credentials":`, 1),
		strings.Replace(ageQuery, `"format":"dc+sd-jwt"`, `"format":"dc+sd-jwt","x_ext":true`, 1),
	} {
		if _, err := e.verifier.Create(context.Background(), "shop-1", oid4vp.CreateRequest{Query: json.RawMessage(q)}); err != nil {
			t.Errorf("%s: %v", q, err)
		}
	}
}

// TestResponseRefuses: responses for another verifier or nonce, replays,
// wrong state, mode mismatches, garbage, revoked credentials; a refused
// response changes nothing (the right one is still accepted after).
func TestResponseRefuses(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	holder, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	cred := e.issue(t, holder)
	r := e.open(t, "shop-1", ageQuery, oid4vp.ModeDirectPostJWT)
	other := e.open(t, "shop-2", ageQuery, oid4vp.ModeDirectPost)
	good := e.present(t, cred.Token, holder, r.clientID, r.nonce, "age_over_18")
	thief, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	for name, c := range map[string]struct {
		form url.Values
		desc string
	}{
		"other verifier":                        {form(t, r, map[string]any{"vp_token": token("pid", e.present(t, cred.Token, holder, other.clientID, r.nonce, "age_over_18")), "state": r.state}), "aud"},
		"other nonce":                           {form(t, r, map[string]any{"vp_token": token("pid", e.present(t, cred.Token, holder, r.clientID, other.nonce, "age_over_18")), "state": r.state}), "nonce"},
		"wrong state":                           {form(t, r, map[string]any{"vp_token": token("pid", good), "state": other.state}), "state"},
		"no kb":                                 {form(t, r, map[string]any{"vp_token": token("pid", strings.TrimSuffix(good, good[strings.LastIndexByte(good, '~')+1:])), "state": r.state}), "key binding"},
		"other key":                             {form(t, r, map[string]any{"vp_token": token("pid", e.present(t, cred.Token, thief, r.clientID, r.nonce, "age_over_18")), "state": r.state}), "key binding"},
		"claim missing":                         {form(t, r, map[string]any{"vp_token": token("pid", e.present(t, cred.Token, holder, r.clientID, r.nonce)), "state": r.state}), "do not meet"},
		"unknown query":                         {form(t, r, map[string]any{"vp_token": token("x", good), "state": r.state}), "did not ask"},
		"not array":                             {form(t, r, map[string]any{"vp_token": map[string]any{"pid": good}, "state": r.state}), "array"},
		"two, not multiple":                     {form(t, r, map[string]any{"vp_token": map[string]any{"pid": []string{good, good}}, "state": r.state}), "multiple"},
		"garbage":                               {form(t, r, map[string]any{"vp_token": token("pid", "eyJ~x~"), "state": r.state}), "vp_token"},
		"plain in jwt mode":                     {url.Values{"vp_token": {`{"pid":["` + good + `"]}`}, "state": {r.state}}, "direct_post.jwt"},
		"plain error with vp_token in jwt mode": {url.Values{"error": {"access_denied"}, "vp_token": {`{"pid":["` + good + `"]}`}, "state": {r.state}}, "direct_post.jwt"},
		"plain error with response":             {url.Values{"error": {"access_denied"}, "response": {"a.b.c.d.e"}, "state": {r.state}}, "JWE"},
		"empty vp_token, credential required":   {form(t, r, map[string]any{"vp_token": map[string]any{}, "state": r.state}), "credential sets"},
		"not a JWE":                             {url.Values{"response": {"a.b.c.d.e"}}, "JWE"},
		"JWE for another transaction": {form(t, request{mode: oid4vp.ModeDirectPostJWT, encKey: e.open(t, "shop-1", ageQuery, oid4vp.ModeDirectPostJWT).encKey},
			map[string]any{"vp_token": token("pid", good), "state": r.state}), "key"},
		"repeated param": {url.Values{"response": {"x", "y"}}, "repeated"},
		// OpenID4VP 1.0 §8.3: the key has a kid, so the JWE must carry it.
		"JWE without kid": {form(t, request{mode: oid4vp.ModeDirectPostJWT, encKey: withoutKid(r.encKey)},
			map[string]any{"vp_token": token("pid", good), "state": r.state}), "kid"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := e.verifier.HandleResponse(ctx, r.id, c.form)
			wantCode(t, err, oid4vp.CodeInvalidRequest, c.desc)
		})
	}
	if _, err := e.verifier.HandleResponse(ctx, "nope", url.Values{}); oid4vp.CodeOf(err) != oid4vp.CodeInvalidRequest {
		t.Fatalf("unknown transaction: %v", err)
	}
	// The good response is still accepted, once.
	if _, err := e.verifier.HandleResponse(ctx, r.id, form(t, r, map[string]any{"vp_token": token("pid", good), "state": r.state})); err != nil {
		t.Fatal(err)
	}
	_, err := e.verifier.HandleResponse(ctx, r.id, form(t, r, map[string]any{"vp_token": token("pid", good), "state": r.state}))
	wantCode(t, err, oid4vp.CodeInvalidRequest, "already answered")
	// Expired transactions are gone.
	e.clock.Advance(6 * time.Minute)
	if _, err := e.verifier.RequestObject(ctx, other.id); oid4vp.CodeOf(err) != oid4vp.CodeInvalidRequestURI {
		t.Fatalf("expired: %v", err)
	}
}

// TestRevoked: a revoked credential is refused with invalid_request.
func TestRevoked(t *testing.T) {
	e := newEnv(t)
	holder, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	cred := e.issue(t, holder)
	if err := e.issuer.SetStatus(context.Background(), cred.ID, issuer.ActionRevoke); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Minute)
	r := e.open(t, "shop-1", ageQuery, oid4vp.ModeDirectPost)
	_, err := e.verifier.HandleResponse(context.Background(), r.id, form(t, r, map[string]any{"vp_token": token("pid", e.present(t, cred.Token, holder, r.clientID, r.nonce, "age_over_18")), "state": r.state}))
	wantCode(t, err, oid4vp.CodeInvalidRequest, "revoked")
}

// TestWalletError: access_denied reaches the relying party as refused, in
// either mode: in direct_post.jwt, "If a Wallet is unable to generate an
// encrypted response, it MAY send an error response without encryption"
// (OpenID4VP 1.0 §8.3.1).
func TestWalletError(t *testing.T) {
	e := newEnv(t)
	for _, mode := range []string{oid4vp.ModeDirectPost, oid4vp.ModeDirectPostJWT} {
		r := e.open(t, "shop-1", ageQuery, mode)
		if _, err := e.verifier.HandleResponse(context.Background(), r.id, url.Values{"error": {"access_denied"}, "state": {r.state}}); err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		res, err := e.verifier.FetchResult(context.Background(), "shop-1", r.id, "")
		if err != nil || res.Status != oid4vp.StatusRefused || res.Error != "access_denied" {
			t.Fatalf("%s: %+v %v", mode, res, err)
		}
	}
}

// TestEmptyVPTokenForOptionalSets: with only optional credential sets, a
// wallet holding none of the credentials answers vp_token {} (OpenID4VP
// 1.0 §8.1: "There MUST NOT be any entry in the JSON-encoded object for
// optional Credential Queries when there are no matching Credentials");
// the result is verified, without credentials.
func TestEmptyVPTokenForOptionalSets(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	q := strings.TrimSuffix(ageQuery, "}") + `,"credential_sets":[{"options":[["pid"]],"required":false}]}`
	r := e.open(t, "shop-1", q, oid4vp.ModeDirectPost)
	if _, err := e.verifier.HandleResponse(ctx, r.id, url.Values{"vp_token": {"{}"}, "state": {r.state}}); err != nil {
		t.Fatal(err)
	}
	res, err := e.verifier.FetchResult(ctx, "shop-1", r.id, "")
	if err != nil || res.Status != oid4vp.StatusVerified || len(res.Credentials) != 0 {
		t.Fatalf("%+v %v", res, err)
	}
}

// TestResponseRefusesOtherVCT: a credential of a type the query did not
// ask for is refused, whatever claims it discloses, before its issuer's
// key is looked up (a fetch for another node's issuer) or its status
// list read: no key lookup.
func TestResponseRefusesOtherVCT(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	local := e.issuer.Local()
	keys := &countingKeys{LocalKeys: local.Keys}
	local.Keys = keys
	cv, err := credentials.NewVerifier(credentials.VerifierConfig{Trust: &credentials.RegistryTrust{Local: local}, Algorithms: gm.JWTAlgorithms,
		Resolver: &credentials.Resolver{Local: local, Now: e.clock.Now}, SkipStatus: true, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.config
	cfg.Verifier = cv
	if e.verifier, err = oid4vp.New(cfg); err != nil {
		t.Fatal(err)
	}
	holder, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	cred := e.issue(t, holder)
	q := strings.Replace(ageQuery, "vct/IdentityCredential", "vct/ResidenceCredential", 1)
	r := e.open(t, "shop-1", q, oid4vp.ModeDirectPost)
	pres := e.present(t, cred.Token, holder, r.clientID, r.nonce, "age_over_18")
	_, err = e.verifier.HandleResponse(ctx, r.id, form(t, r, map[string]any{"vp_token": token("pid", pres), "state": r.state}))
	wantCode(t, err, oid4vp.CodeInvalidRequest, "vct")
	if n := keys.lookups.Load(); n != 0 {
		t.Errorf("%d issuer key lookups for a credential the query did not ask for, want 0", n)
	}
}

// countingKeys counts the lookups of the node's own issuer keys.
type countingKeys struct {
	credentials.LocalKeys
	lookups atomic.Int32
}

func (k *countingKeys) VerifyingKey(ctx context.Context, kid string) (crypto.PublicKey, bool) {
	k.lookups.Add(1)
	return k.LocalKeys.VerifyingKey(ctx, kid)
}

// TestResponseAfterStoreFailure: a wallet's response whose result the
// store cannot keep fails, and the wallet's retry is verified: the
// transaction is not lost to a failure after it was spent. (It was
// spent first, so the retry was "already answered" and the relying
// party saw the transaction pending until it expired.)
func TestResponseAfterStoreFailure(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	holder, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	cred := e.issue(t, holder)
	r := e.open(t, "shop-1", ageQuery, oid4vp.ModeDirectPost)
	pres := e.present(t, cred.Token, holder, r.clientID, r.nonce, "age_over_18")
	answer := form(t, r, map[string]any{"vp_token": token("pid", pres), "state": r.state})
	e.faults.failSet = "oid4vp:result:"
	if _, err := e.verifier.HandleResponse(ctx, r.id, answer); err == nil {
		t.Fatal("a response whose result could not be stored succeeded")
	}
	e.faults.failSet = ""
	if _, err := e.verifier.HandleResponse(ctx, r.id, answer); err != nil {
		t.Fatalf("the wallet's retry: %v", err)
	}
	if res, err := e.verifier.FetchResult(ctx, "shop-1", r.id, ""); err != nil || res.Status != oid4vp.StatusVerified {
		t.Fatalf("result: %+v %v", res, err)
	}
	if _, err := e.verifier.HandleResponse(ctx, r.id, answer); oid4vp.CodeOf(err) != oid4vp.CodeInvalidRequest {
		t.Errorf("a response after the result: %v, want %s (already answered)", err, oid4vp.CodeInvalidRequest)
	}
}

// TestResponseRefusesQueryOutsideSets: with credential sets, a
// presentation for a credential query that no option names is refused,
// though the query is in the request.
func TestResponseRefusesQueryOutsideSets(t *testing.T) {
	e := newEnv(t)
	holder, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	cred := e.issue(t, holder)
	q := strings.Replace(twoQueries, `[["pid"],["alt"]]`, `[["pid"]]`, 1)
	r := e.open(t, "shop-1", q, oid4vp.ModeDirectPost)
	pres := e.present(t, cred.Token, holder, r.clientID, r.nonce, "age_over_18")
	tok := map[string]any{"pid": []string{pres}, "alt": []string{pres}}
	_, err := e.verifier.HandleResponse(context.Background(), r.id, form(t, r, map[string]any{"vp_token": tok, "state": r.state}))
	wantCode(t, err, oid4vp.CodeInvalidRequest, "did not ask")
}

// TestUnrequiredKeyBindingIgnored: for a credential query with
// require_cryptographic_holder_binding false, a KB-JWT the wallet sends
// anyway is not checked (RFC 9901 §7.3: whether Key Binding is checked is
// the verifier's policy, and "This decision MUST NOT be based on whether
// or not a Key Binding JWT is provided by the Holder"); one made for
// another verifier and nonce refused the response. Asked for, the same
// KB-JWT is still refused.
func TestUnrequiredKeyBindingIgnored(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	holder, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	cred := e.issue(t, holder)
	unbound := strings.Replace(ageQuery, `"format":"dc+sd-jwt",`, `"format":"dc+sd-jwt","require_cryptographic_holder_binding":false,`, 1)
	for query, ok := range map[string]bool{unbound: true, ageQuery: false} {
		r := e.open(t, "shop-1", query, oid4vp.ModeDirectPost)
		pres := e.present(t, cred.Token, holder, "x509_hash:another-verifier", "another-nonce", "age_over_18")
		_, err := e.verifier.HandleResponse(ctx, r.id, form(t, r, map[string]any{"vp_token": token("pid", pres), "state": r.state}))
		if ok && err != nil {
			t.Errorf("holder binding not asked for: %v", err)
		}
		if !ok && oid4vp.CodeOf(err) != oid4vp.CodeInvalidRequest {
			t.Errorf("holder binding asked for: %v, want invalid_request", err)
		}
	}
}
