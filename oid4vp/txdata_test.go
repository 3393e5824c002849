package oid4vp_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/credentials/sdjwt"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/leakcheck"
	"github.com/trustid-cn/trustid/internal/testredis"
	"github.com/trustid-cn/trustid/oid4vp"
	"github.com/trustid-cn/trustid/oid4vp/txdata"
	redisstore "github.com/trustid-cn/trustid/store/redis"
)

// presentKB makes a presentation of cred disclosing names, with a KB-JWT
// whose claims are the standard ones plus extra (as a wallet of any
// quality might write them).
func presentKB(t testing.TB, e *env, cred string, holder crypto.Signer, aud, nonce string, extra map[string]any, names ...string) string {
	t.Helper()
	sd, err := sdjwt.Split(cred)
	if err != nil {
		t.Fatal(err)
	}
	var ds []*sdjwt.Disclosure
	for _, d := range sd.Disclosures {
		for _, n := range names {
			if d.Name == n {
				ds = append(ds, d)
			}
		}
	}
	pres := sdjwt.Serialize(sd.JWT, ds)
	claims := jwt.MapClaims{"iat": e.clock.Now().Unix(), "aud": aud, "nonce": nonce, "sd_hash": sdjwt.Digest(pres)}
	for k, v := range extra {
		claims[k] = v
	}
	m, err := gm.SigningMethod(holder)
	if err != nil {
		t.Fatal(err)
	}
	tok := jwt.NewWithClaims(m, claims)
	tok.Header["typ"] = sdjwt.TypKB
	s, err := tok.SignedString(holder)
	if err != nil {
		t.Fatal(err)
	}
	return pres + s
}

const twoQueries = `{"credentials":[{"id":"pid","format":"dc+sd-jwt","meta":{"vct_values":["https://trustid.example/vct/IdentityCredential"]},"claims":[{"path":["age_over_18"],"values":[true]}]},
 {"id":"alt","format":"dc+sd-jwt","meta":{"vct_values":["https://trustid.example/vct/IdentityCredential"]},"claims":[{"path":["age_over_18"]}]}],
 "credential_sets":[{"options":[["pid"],["alt"]]}]}`

func confirmation(ids string, extra string) json.RawMessage {
	return json.RawMessage(`{"type":"` + txdata.TypeConfirmation + `","credential_ids":` + ids + `,"summary":"支付 ¥120.00 给 商店"` + extra + `}`)
}

// TestTransactionData: the request object carries each object
// base64url-encoded; a presentation whose KB-JWT hashes it is accepted
// and the relying party gets the objects back; every bad key binding of
// transaction data is refused, and a refused response leaves the
// transaction open.
func TestTransactionData(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	holder, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	cred := e.issue(t, holder).Token
	open := func(objs ...json.RawMessage) (request, []string) {
		t.Helper()
		c, err := e.verifier.Create(ctx, "shop-1", oid4vp.CreateRequest{Query: json.RawMessage(twoQueries), ResponseMode: oid4vp.ModeDirectPost, TransactionData: objs})
		if err != nil {
			t.Fatal(err)
		}
		ro, err := e.verifier.RequestObject(ctx, c.TransactionID)
		if err != nil {
			t.Fatal(err)
		}
		claims := jwt.MapClaims{}
		if _, _, err := jwt.NewParser().ParseUnverified(ro, claims); err != nil {
			t.Fatal(err)
		}
		var td []string
		for _, x := range claims["transaction_data"].([]any) {
			td = append(td, x.(string))
		}
		return e.openExisting(t, c.TransactionID), td
	}
	hash := func(s string) string { h, _ := txdata.Hash(s, txdata.HashSHA256); return h }

	r, td := open(confirmation(`["pid","alt"]`, ""), confirmation(`["pid"]`, `,"transaction_data_hashes_alg":["sha-384","sha-256"]`))
	if len(td) != 2 {
		t.Fatalf("transaction_data %v", td)
	}
	if it, err := txdata.Parse(td[1]); err != nil || it.CredentialIDs[0] != "pid" || it.HashAlgs[1] != "sha-256" {
		t.Fatalf("object %+v %v", it, err)
	}
	both := []any{hash(td[0]), hash(td[1])}
	respond := func(tok map[string]any) error {
		_, err := e.verifier.HandleResponse(ctx, r.id, form(t, r, map[string]any{"vp_token": tok, "state": r.state}))
		return err
	}
	pres := func(extra map[string]any) string {
		return presentKB(t, e, cred, holder, r.clientID, r.nonce, extra, "age_over_18")
	}
	for name, c := range map[string]struct {
		tok  map[string]any
		desc string
	}{
		"no hashes":                {token("pid", pres(nil)), "transaction_data[0] is authorized by 0"},
		"one of two":               {token("pid", pres(map[string]any{"transaction_data_hashes": []any{hash(td[0])}})), "transaction_data[1] is authorized by 0"},
		"alg missing":              {token("pid", pres(map[string]any{"transaction_data_hashes": both})), "needs transaction_data_hashes_alg"},
		"other alg":                {token("pid", pres(map[string]any{"transaction_data_hashes": both, "transaction_data_hashes_alg": "sha-384"})), "hash of no transaction data"},
		"wrong hash":               {token("pid", pres(map[string]any{"transaction_data_hashes": []any{hash(td[0]), hash(td[0] + "x")}, "transaction_data_hashes_alg": "sha-256"})), "hash of no transaction data"},
		"hash of decoded JSON":     {token("pid", pres(map[string]any{"transaction_data_hashes": []any{hash(`{"type":"x"}`)}})), "hash of no transaction data"},
		"hashed twice":             {token("pid", pres(map[string]any{"transaction_data_hashes": []any{hash(td[0]), hash(td[0]), hash(td[1])}, "transaction_data_hashes_alg": "sha-256"})), "hashed twice"},
		"not an array":             {token("pid", pres(map[string]any{"transaction_data_hashes": hash(td[0])})), "non-empty array"},
		"empty array":              {token("pid", pres(map[string]any{"transaction_data_hashes": []any{}})), "non-empty array"},
		"alg not a string":         {token("pid", pres(map[string]any{"transaction_data_hashes": both, "transaction_data_hashes_alg": []any{"sha-256"}})), "must be a string"},
		"alg without hashes":       {token("pid", pres(map[string]any{"transaction_data_hashes_alg": "sha-256"})), "without transaction_data_hashes"},
		"object for another query": {token("alt", pres(map[string]any{"transaction_data_hashes": both, "transaction_data_hashes_alg": "sha-256"})), "does not name this credential query"},
	} {
		t.Run(name, func(t *testing.T) { wantCode(t, respond(c.tok), oid4vp.CodeInvalidRequest, c.desc) })
	}
	// The good answer: both objects bound to the pid presentation.
	if err := respond(token("pid", pres(map[string]any{"transaction_data_hashes": both, "transaction_data_hashes_alg": "sha-256"}))); err != nil {
		t.Fatal(err)
	}
	res, err := e.verifier.FetchResult(ctx, "shop-1", r.id, "")
	if err != nil || res.Status != oid4vp.StatusVerified || len(res.TransactionData) != 2 || !strings.Contains(string(res.TransactionData[0]), "支付") {
		t.Fatalf("result %+v %v", res, err)
	}

	// An object naming two queries is authorized by exactly one of them.
	r, td = open(confirmation(`["pid","alt"]`, ""))
	one := map[string]any{"transaction_data_hashes": []any{hash(td[0])}}
	dual := map[string]any{
		"pid": []string{presentKB(t, e, cred, holder, r.clientID, r.nonce, one, "age_over_18")},
		"alt": []string{presentKB(t, e, cred, holder, r.clientID, r.nonce, one, "age_over_18")},
	}
	wantCode(t, respond(dual), oid4vp.CodeInvalidRequest, "authorized by 2 presentations")
	if err := respond(token("alt", presentKB(t, e, cred, holder, r.clientID, r.nonce, one, "age_over_18"))); err != nil {
		t.Fatalf("authorized by alt: %v", err)
	}

	// Hashes in a response to a request without transaction data.
	r = e.open(t, "shop-1", ageQuery, oid4vp.ModeDirectPost)
	wantCode(t, respond(token("pid", presentKB(t, e, cred, holder, r.clientID, r.nonce, one, "age_over_18"))), oid4vp.CodeInvalidRequest, "hash of no transaction data")
}

// TestTransactionDataCreateRefuses: the node opens no request whose
// transaction data a wallet would have to refuse.
func TestTransactionDataCreateRefuses(t *testing.T) {
	e := newEnv(t)
	unbound := strings.Replace(twoQueries, `"id":"alt","format":"dc+sd-jwt",`, `"id":"alt","format":"dc+sd-jwt","require_cryptographic_holder_binding":false,`, 1)
	many := make([]json.RawMessage, 9)
	for i := range many {
		many[i] = confirmation(`["pid"]`, "")
	}
	for name, c := range map[string]struct {
		query string
		objs  []json.RawMessage
		desc  string
	}{
		"other type":        {twoQueries, []json.RawMessage{json.RawMessage(`{"type":"payment","credential_ids":["pid"],"amount":1}`)}, "unsupported transaction data type"},
		"unknown member":    {twoQueries, []json.RawMessage{confirmation(`["pid"]`, `,"amount":1`)}, "invalid transaction data"},
		"no credential_ids": {twoQueries, []json.RawMessage{json.RawMessage(`{"type":"` + txdata.TypeConfirmation + `","summary":"x"}`)}, "credential_ids"},
		"unknown query id":  {twoQueries, []json.RawMessage{confirmation(`["nope"]`, "")}, "no credential query"},
		"no key binding":    {unbound, []json.RawMessage{confirmation(`["alt"]`, "")}, "key binding"},
		"only sha-384":      {twoQueries, []json.RawMessage{confirmation(`["pid"]`, `,"transaction_data_hashes_alg":["sha-384"]`)}, "transaction_data_hashes_alg"},
		"too many":          {twoQueries, many, "at most 8"},
		"not an object":     {twoQueries, []json.RawMessage{json.RawMessage(`"eyJ0eXBlIjoieCJ9"`)}, "invalid transaction data"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := e.verifier.Create(context.Background(), "shop-1", oid4vp.CreateRequest{Query: json.RawMessage(c.query), TransactionData: c.objs})
			wantCode(t, err, oid4vp.CodeInvalidRequest, c.desc)
		})
	}
}

// TestStoreKeepsNoTransactionData: a confirmation's summary names people
// (a payee) and what they do; neither the open transaction nor its
// verified result, which wait in the node's store (Redis) up to the
// transaction's TTL, shows it, nor the claims presented, in any database,
// however encoded (the store keeps only a digest of the transaction ID,
// under which both are sealed).
func TestStoreKeepsNoTransactionData(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
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
	holder, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	cred := e.issue(t, holder).Token
	const payee = "欧阳明月"
	obj := json.RawMessage(`{"type":"` + txdata.TypeConfirmation + `","credential_ids":["pid"],"summary":"支付 ¥120.00 给 ` + payee + `"}`)
	created, err := e.verifier.Create(ctx, "shop-1", oid4vp.CreateRequest{Query: json.RawMessage(ageQuery), ResponseMode: oid4vp.ModeDirectPost,
		TransactionData: []json.RawMessage{obj}})
	if err != nil {
		t.Fatal(err)
	}
	tx := e.openExisting(t, created.TransactionID)
	scan := leakcheck.New(t, payee)
	scan.PlantRedis(c)
	if hits := scan.Redis(c); len(hits) > 0 {
		t.Errorf("the open transaction shows its transaction data:\n%s", strings.Join(hits, "\n"))
	}
	enc := base64.RawURLEncoding.EncodeToString(obj)
	hash, _ := txdata.Hash(enc, txdata.HashSHA256)
	pres := presentKB(t, e, cred, holder, tx.clientID, tx.nonce, map[string]any{"transaction_data_hashes": []any{hash}}, "age_over_18")
	if _, err := e.verifier.HandleResponse(ctx, tx.id, form(t, tx, map[string]any{"vp_token": token("pid", pres), "state": tx.state})); err != nil {
		t.Fatal(err)
	}
	var results []string
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if v, err := c.Get(ctx, k).Bytes(); err == nil && (bytes.Contains(v, []byte("age_over_18")) || bytes.Contains(v, []byte(enc))) {
			results = append(results, k)
		}
	}
	if len(results) > 0 {
		t.Errorf("the stored result shows the claims or the transaction data under %v", results)
	}
	scan.PlantRedis(c)
	if hits := scan.Redis(c); len(hits) > 0 {
		t.Errorf("the verified result shows its transaction data:\n%s", strings.Join(hits, "\n"))
	}
	res, err := e.verifier.FetchResult(ctx, "shop-1", tx.id, "")
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != oid4vp.StatusVerified || len(res.TransactionData) != 1 || !bytes.Equal(res.TransactionData[0], obj) {
		t.Fatalf("result %+v", res)
	}
	if raw, _ := json.Marshal(res.Credentials["pid"][0].Claims); string(raw) != `{"age_over_18":true}` {
		t.Fatalf("claims %s", raw)
	}
}

// TestOlderClearRecordsUnknown: a transaction or a result an older node
// kept in clear is not one this node can open: the request object and
// the wallet's response are invalid_request_uri's "unknown or expired
// transaction", the relying party's fetch not_found; not a server error.
func TestOlderClearRecordsUnknown(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	inClear := func(purpose, id string) {
		t.Helper()
		key := "oid4vp:" + purpose + ":" + id
		sealed, err := e.store.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := oid4vp.OpenRecord(purpose, id, sealed)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.store.Set(ctx, key, plain, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	r := e.open(t, "shop-1", ageQuery, oid4vp.ModeDirectPost)
	inClear("tx", r.id)
	if _, err := e.verifier.RequestObject(ctx, r.id); oid4vp.CodeOf(err) != oid4vp.CodeInvalidRequestURI {
		t.Errorf("request object of a transaction in clear: %v", err)
	}
	if _, err := e.verifier.HandleResponse(ctx, r.id, form(t, r, map[string]any{"error": "access_denied", "state": r.state})); oid4vp.CodeOf(err) != oid4vp.CodeInvalidRequest {
		t.Errorf("response to a transaction in clear: %v", err)
	}
	if _, err := e.verifier.FetchResult(ctx, "shop-1", r.id, ""); oid4vp.CodeOf(err) != oid4vp.CodeNotFound {
		t.Errorf("fetch of a transaction in clear: %v", err)
	}
	r = e.open(t, "shop-1", ageQuery, oid4vp.ModeDirectPost)
	if _, err := e.verifier.HandleResponse(ctx, r.id, form(t, r, map[string]any{"error": "access_denied", "state": r.state})); err != nil {
		t.Fatal(err)
	}
	inClear("result", r.id)
	if _, err := e.verifier.FetchResult(ctx, "shop-1", r.id, ""); oid4vp.CodeOf(err) != oid4vp.CodeNotFound {
		t.Errorf("fetch of a result in clear: %v", err)
	}
}
