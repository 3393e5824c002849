package main

import (
	"crypto"
	"crypto/rand"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/oid4vci/dpop"
	sdkwallet "github.com/trustid-cn/trustid/sdk/wallet"
)

// recordingTransport records the path, Authorization scheme and DPoP
// header of each request it passes on.
type recordingTransport struct {
	base     http.RoundTripper
	requests []struct{ path, auth, dpop string }
}

func (r *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	a := req.Header.Get("Authorization")
	if scheme, _, ok := strings.Cut(a, " "); ok {
		a = scheme + " …"
	}
	r.requests = append(r.requests, struct{ path, auth, dpop string }{req.URL.Path, a, req.Header.Get("DPoP")})
	return r.base.RoundTrip(req)
}

// dpopDo sends a POST with an Authorization scheme and token (when
// set) and DPoP header fields.
func (n *vciNode) dpopDo(path, scheme, token, contentType, body string, proofs ...string) (int, map[string]any, http.Header) {
	n.t.Helper()
	h := http.Header{"Content-Type": {contentType}, "Dpop": proofs}
	if token != "" {
		h.Set("Authorization", scheme+" "+token)
	}
	return n.doWith("POST", path, h, body)
}

// preAuthForm is a token request for a fresh offer of configs.
func (n *vciNode) preAuthForm(configs string) string {
	o := n.offer(configs, false, false)
	grants := o["credential_offer"].(map[string]any)["grants"].(map[string]any)
	code := grants["urn:ietf:params:oauth:grant-type:pre-authorized_code"].(map[string]any)["pre-authorized_code"].(string)
	return url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:pre-authorized_code"}, "pre-authorized_code": {code}}.Encode()
}

// TestOID4VCIDPoP: DPoP (RFC 9449) at the token and credential endpoints
// with SM2, ES256 and EdDSA keys: the metadata, the nonce round trip,
// the bound token and each refusal (wrong htm or htu, stale iat, replayed
// jti, another key, no proof for a bound token, a bound token as Bearer
// (a DPoP challenge), an unbound one as DPoP, a missing or wrong ath, two
// proofs), and the notification's 204 with a fresh DPoP-Nonce.
func TestOID4VCIDPoP(t *testing.T) {
	n := startVCINode(t)
	const sd = "ResidenceCredential_sd_jwt"
	_, meta, _ := n.do("GET", "/.well-known/oauth-authorization-server/oid4vci", "", "", "")
	algs, _ := meta["dpop_signing_alg_values_supported"].([]any)
	if !slices.Equal(algs, []any{"SM2", "ES256", "EdDSA"}) {
		t.Fatalf("dpop_signing_alg_values_supported %v", algs)
	}
	tokenURL, credURL := n.base+"/oid4vci/token", n.base+"/oid4vci/credential"
	proof := func(k crypto.Signer, method, target, token, nonce string, at time.Time) string {
		t.Helper()
		p, err := dpop.NewProof(k, method, target, token, nonce, at, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	const form = "application/x-www-form-urlencoded"
	for _, alg := range []string{gm.AlgSM2, gm.AlgES256, gm.AlgEdDSA} {
		t.Run(alg, func(t *testing.T) {
			k, _ := gm.GenerateSigner(alg, rand.Reader)
			other, _ := gm.GenerateSigner(alg, rand.Reader)
			body := n.preAuthForm(`["` + sd + `"]`)
			now := time.Now()
			// No nonce: use_dpop_nonce with one, the code unspent.
			code, m, h := n.dpopDo("/oid4vci/token", "", "", form, body, proof(k, "POST", tokenURL, "", "", now))
			nonce := h.Get("DPoP-Nonce")
			if code != 400 || m["error"] != "use_dpop_nonce" || nonce == "" {
				t.Fatalf("no nonce: %d %v %q", code, m, nonce)
			}
			for name, bad := range map[string][]string{
				"wrong htm":     {proof(k, "GET", tokenURL, "", nonce, now)},
				"wrong htu":     {proof(k, "POST", credURL, "", nonce, now)},
				"stale iat":     {proof(k, "POST", tokenURL, "", nonce, now.Add(-10*time.Minute))},
				"future iat":    {proof(k, "POST", tokenURL, "", nonce, now.Add(5*time.Minute))},
				"ath, no token": {proof(k, "POST", tokenURL, "some-token", nonce, now)},
				"two proofs":    {proof(k, "POST", tokenURL, "", nonce, now), proof(k, "POST", tokenURL, "", nonce, now)},
				"garbage":       {"a.b.c"},
			} {
				if code, m, _ := n.dpopDo("/oid4vci/token", "", "", form, body, bad...); code != 400 || m["error"] != "invalid_dpop_proof" {
					t.Errorf("token, %s: %d %v", name, code, m)
				}
			}
			if code, m, h := n.dpopDo("/oid4vci/token", "", "", form, body, proof(k, "POST", tokenURL, "", "unknown-nonce-unknown-nonce-abcd", now)); code != 400 || m["error"] != "use_dpop_nonce" || h.Get("DPoP-Nonce") == "" {
				t.Errorf("token, unknown nonce: %d %v", code, m)
			}
			good := proof(k, "POST", tokenURL, "", nonce, now)
			code, m, h = n.dpopDo("/oid4vci/token", "", "", form, body, good)
			if code != 200 || m["token_type"] != "DPoP" || h.Get("DPoP-Nonce") == "" {
				t.Fatalf("token: %d %v", code, m)
			}
			tok := m["access_token"].(string)
			nonce = h.Get("DPoP-Nonce")
			// The same proof again (for another code): its jti is spent.
			if code, m, _ := n.dpopDo("/oid4vci/token", "", "", form, n.preAuthForm(`["`+sd+`"]`), good); code != 400 || m["error"] != "invalid_dpop_proof" || !strings.Contains(m["error_description"].(string), "already used") {
				t.Errorf("token, replayed jti: %d %v", code, m)
			}

			_, nm, _ := n.do("POST", "/oid4vci/nonce", "", "", "")
			req := `{"credential_configuration_id":"` + sd + `","proofs":{"jwt":["` + es256Proof(t, n.base, nm["c_nonce"].(string), nil) + `"]}}`
			const jsonType = "application/json"
			for name, c := range map[string]struct {
				scheme string
				proofs []string
				want   string
			}{
				"bound token as Bearer": {"Bearer", []string{proof(k, "POST", credURL, tok, nonce, now)}, "invalid_token"},
				"no proof":              {"DPoP", nil, "invalid_dpop_proof"},
				"another key":           {"DPoP", []string{proof(other, "POST", credURL, tok, nonce, now)}, "invalid_dpop_proof"},
				"no ath":                {"DPoP", []string{proof(k, "POST", credURL, "", nonce, now)}, "invalid_dpop_proof"},
				"ath of another token":  {"DPoP", []string{proof(k, "POST", credURL, tok+"x", nonce, now)}, "invalid_dpop_proof"},
				"wrong htu":             {"DPoP", []string{proof(k, "POST", tokenURL, tok, nonce, now)}, "invalid_dpop_proof"},
				"wrong htm":             {"DPoP", []string{proof(k, "PUT", credURL, tok, nonce, now)}, "invalid_dpop_proof"},
				"stale iat":             {"DPoP", []string{proof(k, "POST", credURL, tok, nonce, now.Add(-10*time.Minute))}, "invalid_dpop_proof"},
				"no nonce":              {"DPoP", []string{proof(k, "POST", credURL, tok, "", now)}, "use_dpop_nonce"},
			} {
				code, m, h := n.dpopDo("/oid4vci/credential", c.scheme, tok, jsonType, req, c.proofs...)
				challenge := h.Get("WWW-Authenticate")
				// Every refusal, the bound token as Bearer too, is a DPoP
				// challenge (RFC 9449 §7.1) naming the algorithms.
				if code != 401 || m["error"] != c.want || challenge != `DPoP error="`+c.want+`", algs="SM2 ES256 EdDSA"` {
					t.Errorf("credential, %s: %d %v %q", name, code, m, challenge)
				}
				if c.want == "use_dpop_nonce" && h.Get("DPoP-Nonce") == "" {
					t.Errorf("credential, %s: no DPoP-Nonce", name)
				}
			}
			good = proof(k, "POST", credURL, tok, nonce, now)
			code, m, h = n.dpopDo("/oid4vci/credential", "DPoP", tok, jsonType, req, good)
			if code != 200 || len(m["credentials"].([]any)) != 1 || h.Get("DPoP-Nonce") == "" {
				t.Fatalf("credential: %d %v", code, m)
			}
			if code, m, _ := n.dpopDo("/oid4vci/credential", "DPoP", tok, jsonType, req, good); code != 401 || m["error"] != "invalid_dpop_proof" {
				t.Errorf("credential, replayed jti: %d %v", code, m)
			}
			// No Authorization header: 401 with a Bearer and a DPoP
			// challenge naming the algorithms, no error code (RFC 6750
			// §3.1, RFC 9449 §7.1).
			for _, path := range []string{"/oid4vci/credential", "/oid4vci/notification"} {
				code, m, h := n.dpopDo(path, "", "", jsonType, req)
				if ch := h.Values("WWW-Authenticate"); code != 401 || m["error"] != "invalid_token" || !slices.Equal(ch, []string{"Bearer", `DPoP algs="SM2 ES256 EdDSA"`}) {
					t.Errorf("%s without Authorization: %d %v %q", path, code, m, ch)
				}
			}
			// The notification endpoint takes the bound token the same way.
			nb := `{"notification_id":"` + m["notification_id"].(string) + `","event":"credential_accepted"}`
			if code, m, h := n.dpopDo("/oid4vci/notification", "Bearer", tok, jsonType, nb); code != 401 || m["error"] != "invalid_token" ||
				!strings.HasPrefix(h.Get("WWW-Authenticate"), `DPoP error="invalid_token"`) {
				t.Errorf("notification as Bearer: %d %v %q", code, m, h.Get("WWW-Authenticate"))
			}
			// Its 204 carries a fresh nonce (RFC 9449 §8.2), good for the
			// next request: a second notification with it is taken
			// (OID4VCI 1.0 §11: notifications are idempotent), not
			// refused for its nonce.
			code, m, h = n.dpopDo("/oid4vci/notification", "DPoP", tok, jsonType, nb, proof(k, "POST", n.base+"/oid4vci/notification", tok, h.Get("DPoP-Nonce"), now))
			next := h.Get("DPoP-Nonce")
			if code != 204 || next == "" || next == nonce {
				t.Fatalf("notification: %d %v, DPoP-Nonce %q", code, m, next)
			}
			if code, m, _ := n.dpopDo("/oid4vci/notification", "DPoP", tok, jsonType, nb, proof(k, "POST", n.base+"/oid4vci/notification", tok, next, now)); code != 204 {
				t.Errorf("notification with the 204's nonce: %d %v", code, m)
			}
		})
	}
	// The wallet SDK uses DPoP since the issuer takes SM2 proofs: every
	// request to the token, credential and notification endpoints carries
	// one, and the access token goes with the DPoP scheme.
	rec := &recordingTransport{base: http.DefaultTransport}
	http.DefaultTransport = rec
	defer func() { http.DefaultTransport = rec.base }()
	w, err := sdkwallet.NewHolder(n.base, sdkwallet.NewSoftwareKeys(), "device")
	if err != nil {
		t.Fatal(err)
	}
	offer, err := w.ReceiveOffer(n.offer(`["`+sd+`"]`, false, false)["offer_uri"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.AcceptOffer(offer, "", "", 2, sdkwallet.NewMemoryStore()); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, r := range rec.requests {
		if r.path == "/oid4vci/token" || r.path == "/oid4vci/credential" || r.path == "/oid4vci/notification" {
			if r.dpop == "" || (r.path != "/oid4vci/token" && !strings.HasPrefix(r.auth, "DPoP ")) {
				t.Errorf("wallet request to %s without DPoP (%q)", r.path, r.auth)
			}
			seen[r.path]++
		}
	}
	// The token request is sent twice: first without a nonce
	// (use_dpop_nonce), then with the one the node gave.
	if seen["/oid4vci/token"] != 2 || seen["/oid4vci/credential"] != 1 || seen["/oid4vci/notification"] != 1 {
		t.Errorf("wallet requests %v", seen)
	}

	// A Bearer token (no DPoP at the token endpoint) sent with the DPoP
	// scheme is refused; as Bearer it works.
	tok, _ := n.vciSession(`["` + sd + `"]`)
	if code, m, _ := n.dpopDo("/oid4vci/credential", "DPoP", tok, "application/json", `{}`); code != 401 || m["error"] != "invalid_token" {
		t.Errorf("unbound token as DPoP: %d %v", code, m)
	}
}
