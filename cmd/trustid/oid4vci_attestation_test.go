package main

import (
	"crypto"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/oid4vci/attestation"
	sdkwallet "github.com/trustid-cn/trustid/sdk/wallet"
)

const walletProvider = "https://wallet-provider.example"

// walletProviderFile writes the --wallet-providers file trusting k (kid
// wp1) for walletProvider, to attest the client_ids wallet-app and
// animo-wallet.
func walletProviderFile(t *testing.T, k crypto.Signer) string {
	t.Helper()
	j, _ := gm.NewJWK(k.Public(), "wp1")
	raw, _ := json.Marshal(map[string]walletProviderEntry{walletProvider: {Keys: []gm.JWK{j}, ClientIDs: []string{"wallet-app", "animo-wallet"}}})
	path := filepath.Join(t.TempDir(), "wallet-providers.json")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestOID4VCIWalletAttestation: with a trusted wallet provider, the token
// endpoint takes wallet attestations (OID4VCI 1.0 Appendix E): the
// metadata and challenge endpoint, and each refusal with its error code
// (no challenge, a forged challenge, an untrusted provider, an expired
// attestation, another audience, another client_id, a client_id the
// provider is not listed for, a replayed PoP), the
// pre-authorized code left unspent by each; then, required, a request
// without one is invalid_client and the wallet SDK attaches the
// attestation it was given.
func TestOID4VCIWalletAttestation(t *testing.T) {
	provider, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	stranger, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	instance, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	file := walletProviderFile(t, provider)
	n := startVCINode(t, "--wallet-providers", file)
	as := n.base + "/oid4vci"

	_, meta, _ := n.do("GET", "/.well-known/oauth-authorization-server/oid4vci", "", "", "")
	for k, want := range map[string]any{
		"token_endpoint_auth_methods_supported":               []any{"attest_jwt_client_auth", "none"},
		"client_attestation_pop_methods_supported":            []any{"attestation_pop_jwt", "none"},
		"client_attestation_signing_alg_values_supported":     []any{"SM2", "ES256", "EdDSA"},
		"client_attestation_pop_signing_alg_values_supported": []any{"SM2", "ES256", "EdDSA"},
		"challenge_endpoint":                                  n.base + "/oid4vci/challenge",
	} {
		got, _ := json.Marshal(meta[k])
		w, _ := json.Marshal(want)
		if string(got) != string(w) {
			t.Errorf("metadata %s: %s, want %s", k, got, w)
		}
	}
	code, ch, h := n.do("POST", "/oid4vci/challenge", "", "", "")
	challenge, _ := ch["attestation_challenge"].(string)
	if code != 200 || challenge == "" || h.Get("DPoP-Nonce") == "" || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("challenge endpoint: %d %v %v", code, ch, h)
	}

	now := time.Now()
	attest := func(k crypto.Signer, sub string, exp time.Time) string {
		a, err := attestation.Sign(k, "wp1", attestation.Attestation{Issuer: walletProvider, ClientID: sub, InstanceKey: instance.Public(),
			WalletName: "Test wallet", IssuedAt: now.Add(-time.Minute), Expires: exp})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	pop := func(aud, challenge string) string {
		p, err := attestation.NewPoP(instance, aud, challenge, now, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := attest(provider, "wallet-app", now.Add(time.Hour))
	token := func(form, att, pop string) (int, map[string]any, http.Header) {
		t.Helper()
		h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
		if att != "" {
			h.Set("OAuth-Client-Attestation", att)
			h.Set("OAuth-Client-Attestation-PoP", pop)
		}
		return n.doWith("POST", "/oid4vci/token", h, form)
	}
	form := n.preAuthForm(`["ResidenceCredential_sd_jwt"]`)
	code, m, h := token(form, good, pop(as, ""))
	next := h.Get("OAuth-Client-Attestation-Challenge")
	if code != 400 || m["error"] != "use_attestation_challenge" || next == "" {
		t.Fatalf("no challenge: %d %v %q", code, m, next)
	}
	forged := []byte(next)
	forged[len(forged)-2] ^= 1
	withClientID := form + "&" + url.Values{"client_id": {"other-wallet"}}.Encode()
	for name, c := range map[string]struct {
		form, att, pop, want string
	}{
		"a forged challenge":   {form, good, pop(as, string(forged)), "use_attestation_challenge"},
		"an untrusted key":     {form, attest(stranger, "wallet-app", now.Add(time.Hour)), pop(as, next), "invalid_client_attestation"},
		"an expired one":       {form, attest(provider, "wallet-app", now.Add(-time.Hour)), pop(as, next), "use_fresh_attestation"},
		"another audience":     {form, good, pop(n.base, next), "invalid_client_attestation"},
		"another client_id":    {withClientID, good, pop(as, next), "invalid_client_attestation"},
		"a sub not listed":     {form, attest(provider, "unlisted-app", now.Add(time.Hour)), pop(as, next), "invalid_client_attestation"},
		"a PoP without header": {form, good, "", "invalid_client_attestation"},
	} {
		code, m, h := token(c.form, c.att, c.pop)
		if code != 400 || m["error"] != c.want || h.Get("OAuth-Client-Attestation-Challenge") == "" {
			t.Errorf("token with %s: %d %v", name, code, m)
		}
	}
	// The code was left for this: accepted with the challenge given.
	used := pop(as, challenge)
	code, m, h = token(form, good, used)
	if code != 200 || m["access_token"] == nil || h.Get("OAuth-Client-Attestation-Challenge") == "" {
		t.Fatalf("token with a wallet attestation: %d %v", code, m)
	}
	if code, m, _ := token(n.preAuthForm(`["ResidenceCredential_sd_jwt"]`), good, used); code != 400 || m["error"] != "invalid_client_attestation" ||
		!strings.Contains(m["error_description"].(string), "already used") {
		t.Errorf("a replayed PoP: %d %v", code, m)
	}
	// Optional here: a request without one is served.
	if code, m, _ := token(n.preAuthForm(`["ResidenceCredential_sd_jwt"]`), "", ""); code != 200 {
		t.Errorf("token without an attestation, not required: %d %v", code, m)
	}

	// Required: the metadata says so, a request without one is refused.
	r := startVCINode(t, "--wallet-providers", file, "--require-wallet-attestation")
	_, meta, _ = r.do("GET", "/.well-known/oauth-authorization-server/oid4vci", "", "", "")
	if methods, _ := json.Marshal(meta["token_endpoint_auth_methods_supported"]); string(methods) != `["attest_jwt_client_auth"]` ||
		meta["pre-authorized_grant_anonymous_access_supported"] != false {
		t.Errorf("required: metadata %v", meta)
	}
	rForm := r.preAuthForm(`["ResidenceCredential_sd_jwt"]`)
	if code, m, _ := r.doWith("POST", "/oid4vci/token", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, rForm); code != 400 || m["error"] != "invalid_client" {
		t.Errorf("required, none sent: %d %v", code, m)
	}
	// The wallet SDK with the attestation its provider issued for its key:
	// it fetches a challenge (and a DPoP nonce) first, then redeems the
	// offer in one token request carrying the attestation, a PoP and a
	// DPoP proof.
	keys := sdkwallet.NewSoftwareKeys()
	raw, err := keys.Generate("instance")
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := gm.ParsePublicKeyBytes(raw)
	sdkAtt, err := attestation.Sign(provider, "wp1", attestation.Attestation{Issuer: walletProvider, ClientID: "wallet-app", InstanceKey: pub, IssuedAt: now, Expires: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	w, _ := sdkwallet.NewHolder(r.base, keys, "device")
	if err := w.SetWalletAttestation(sdkAtt, "instance"); err != nil {
		t.Fatal(err)
	}
	if err := w.SetWalletAttestation("not-a-jwt", "instance"); err == nil {
		t.Error("the SDK took a malformed attestation")
	}
	rec := &recordingTransport{base: http.DefaultTransport}
	http.DefaultTransport = rec
	defer func() { http.DefaultTransport = rec.base }()
	offer, err := w.ReceiveOffer(r.offer(`["ResidenceCredential_sd_jwt"]`, false, false)["offer_uri"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.AcceptOffer(offer, "", "", 1, sdkwallet.NewMemoryStore()); err != nil {
		t.Fatalf("the SDK with its wallet attestation: %v", err)
	}
	var paths []string
	for _, q := range rec.requests {
		paths = append(paths, q.path)
	}
	if i := slices.Index(paths, "/oid4vci/token"); i < 1 || paths[i-1] != "/oid4vci/challenge" || slices.Index(paths[i+1:], "/oid4vci/token") >= 0 || rec.requests[i].dpop == "" {
		t.Errorf("wallet requests %v", paths)
	}
}

// TestReadWalletProviders: the providers file names each provider's keys
// and the client_ids it may attest; a provider without client_ids, a kid
// named twice in one provider's keys, and an unknown member (a private
// "d" among them) are refused before the node serves.
func TestReadWalletProviders(t *testing.T) {
	k1, _ := gm.GenerateSigner(gm.AlgES256, rand.Reader)
	k2, _ := gm.GenerateSigner(gm.AlgSM2, rand.Reader)
	j1, _ := gm.NewJWK(k1.Public(), "wp1")
	j2, _ := gm.NewJWK(k2.Public(), "wp1")
	write := func(v any) string {
		raw, _ := json.Marshal(v)
		path := filepath.Join(t.TempDir(), "wallet-providers.json")
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	load := func(path string) error {
		ps, err := readWalletProviders(path)
		if err == nil {
			_, err = attestation.NewKeys(ps)
		}
		return err
	}
	ps, err := readWalletProviders(walletProviderFile(t, k1))
	if err != nil || len(ps) != 1 || ps[0].Issuer != walletProvider || len(ps[0].Keys) != 1 || strings.Join(ps[0].ClientIDs, ",") != "wallet-app,animo-wallet" {
		t.Fatalf("the file: %+v %v", ps, err)
	}
	for name, c := range map[string]struct {
		file any
		want string
	}{
		"no client_ids":  {map[string]any{walletProvider: map[string]any{"keys": []gm.JWK{j1}}}, "names no client_id"},
		"a kid twice":    {map[string]any{walletProvider: map[string]any{"keys": []gm.JWK{j1, j2}, "client_ids": []string{"w"}}}, "kid \"wp1\" names two keys"},
		"unknown member": {map[string]any{walletProvider: map[string]any{"keys": []gm.JWK{j1}, "client_ids": []string{"w"}, "sub_pattern": "*"}}, "client_ids"},
	} {
		if err := load(write(c.file)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}
