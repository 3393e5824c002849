package wallet

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// The OID4VCI authorization code flow, holder side: the wallet sends the
// holder to the issuer's authorization endpoint (with PKCE S256, a fresh
// state and the offer's issuer_state), the holder logs in there (with
// TrustID: scan the login QR and approve on the phone), and the issuer
// redirects to the wallet's redirect URI with a code, which the wallet
// exchanges for an access token.

// AuthorizationURL builds the authorization request for an offer with the
// authorization_code grant, as the public client clientID (registered with
// the issuer) with redirectURI: authorization_details of type
// openid_credential for configurationIDs (comma-separated; empty means
// all offered), with the claims the holder asked for (RequestClaims), the
// offer's issuer_state, a fresh state and a PKCE S256
// challenge, and, when the issuer takes SM2 DPoP proofs, the dpop_jkt of a
// fresh DPoP key the token request then proves. When the issuer has a
// pushed authorization request endpoint (RFC 9126) the request is pushed
// there, with a DPoP proof by that key instead of dpop_jkt (RFC 9449
// §10.1), and the URL carries only client_id and the request_uri it gave. The wallet opens the URL in a browser and hands the
// redirect it gets back to AcceptAuthorization. A new call replaces the
// request in flight.
func (w *Holder) AuthorizationURL(offer *CredentialOffer, clientID, redirectURI, configurationIDs string) (string, error) {
	if offer == nil || !offer.HasAuthorizationCodeGrant() {
		return "", fmt.Errorf("%w: the offer has no authorization_code grant", ErrInvalidArgument)
	}
	if clientID == "" || redirectURI == "" {
		return "", fmt.Errorf("%w: a client_id and a redirect URI are required", ErrInvalidArgument)
	}
	if u, err := url.Parse(redirectURI); err != nil || u.Scheme == "" || u.Fragment != "" {
		return "", fmt.Errorf("%w: the redirect URI must be absolute, without fragment", ErrInvalidArgument)
	}
	configs, err := offer.pick(configurationIDs)
	if err != nil {
		return "", err
	}
	var secrets [64]byte
	if _, err := io.ReadFull(w.rand, secrets[:]); err != nil {
		return "", err
	}
	verifier := base64.RawURLEncoding.EncodeToString(secrets[:32])
	state := base64.RawURLEncoding.EncodeToString(secrets[32:48])
	sum := sha256.Sum256([]byte(verifier))
	details, err := offer.authorizationDetails(configs)
	if err != nil {
		return "", err
	}
	q := url.Values{
		"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirectURI}, "state": {state},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
		"authorization_details": {details},
	}
	if offer.issuerState != "" {
		q.Set("issuer_state", offer.issuerState)
	}
	// With DPoP the code is bound to the key before it exists (RFC 9449
	// §10): a code stolen from the redirect is of no use without the key.
	// A pushed request carries a DPoP proof instead (§10.1), whose answer
	// gives the nonce the token request then needs.
	jkt, err := w.newDPoPKey(offer)
	if err != nil {
		return "", err
	}
	if jkt != "" && offer.par == "" {
		q.Set("dpop_jkt", jkt)
	}
	if offer.par != "" {
		// RFC 9126: the request goes to the issuer directly, the browser
		// carries only its reference.
		body, err := w.fetchOffer(offer, http.MethodPost, offer.par, "application/x-www-form-urlencoded", "", []byte(q.Encode()))
		if err != nil {
			return "", err
		}
		var pushed struct {
			RequestURI string `json:"request_uri"`
		}
		if err := json.Unmarshal(body, &pushed); err != nil || pushed.RequestURI == "" {
			return "", fmt.Errorf("%w: pushed authorization response", ErrIssuer)
		}
		q = url.Values{"client_id": {clientID}, "request_uri": {pushed.RequestURI}}
	}
	offer.pending = &pendingAuthorization{clientID: clientID, redirectURI: redirectURI, state: state, verifier: verifier, configs: configs}
	sep := "?"
	if strings.Contains(offer.authorize, "?") {
		sep = "&"
	}
	return offer.authorize + sep + q.Encode(), nil
}

// AcceptAuthorization takes the redirect the browser landed on after
// AuthorizationURL: it checks that it is the request's redirect URI, its
// state, and its iss (required when the authorization server says it
// sends it; RFC 9207), turns an error answer (such as access_denied: the
// holder refused) into ErrIssuer naming it, exchanges the code (with the
// PKCE verifier) for an access token, then gets count credentials of each
// configuration asked for, each bound to a fresh key, as AcceptOffer
// does, and returns the stored IDs, comma-separated. The request in
// flight is used once, whatever the outcome.
func (w *Holder) AcceptAuthorization(offer *CredentialOffer, redirect string, count int, store Store) (string, error) {
	if offer == nil || store == nil {
		return "", fmt.Errorf("%w: an offer and a store are required", ErrInvalidArgument)
	}
	p := offer.pending
	if p == nil {
		return "", fmt.Errorf("%w: no authorization request in flight (call AuthorizationURL first)", ErrInvalidArgument)
	}
	if err := offer.checkCount(count); err != nil {
		return "", err
	}
	offer.pending = nil
	code, err := parseAuthorizationResponse(redirect, p.redirectURI, p.state, offer.asIssuer, offer.issRequired)
	if err != nil {
		return "", err
	}
	form := url.Values{"grant_type": {grantAuthorizationCode}, "code": {code}, "code_verifier": {p.verifier},
		"redirect_uri": {p.redirectURI}, "client_id": {p.clientID}}
	tok, err := w.requestToken(offer, form)
	if err != nil {
		return "", err
	}
	return w.collect(offer, p.configs, tok, count, store)
}

// parseAuthorizationResponse checks an authorization response (the
// redirect the browser landed on) and returns its code. The redirect must
// be redirectURI with a query; state must match; iss, when present, must
// be issuer, and is required when required is set. An error response
// becomes ErrIssuer with its code.
func parseAuthorizationResponse(redirect, redirectURI, state, issuer string, required bool) (string, error) {
	if len(redirect) > 8<<10 {
		return "", fmt.Errorf("%w: the redirect is too long", ErrInvalidArgument)
	}
	base, query, _ := strings.Cut(redirect, "?")
	query, _, _ = strings.Cut(query, "#")
	wantBase, _, _ := strings.Cut(redirectURI, "?")
	if base != wantBase {
		return "", fmt.Errorf("%w: the redirect is not the authorization request's redirect URI", ErrInvalidArgument)
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return "", fmt.Errorf("%w: the redirect's query: %v", ErrInvalidArgument, err)
	}
	for _, name := range []string{"code", "state", "iss", "error"} {
		if len(q[name]) > 1 {
			return "", fmt.Errorf("%w: %s is repeated in the redirect", ErrIssuer, name)
		}
	}
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(state)) != 1 {
		return "", fmt.Errorf("%w: the redirect's state is not the request's (a forged or stale response)", ErrIssuer)
	}
	if iss := q.Get("iss"); iss != "" || required {
		if iss != issuer {
			return "", fmt.Errorf("%w: the redirect's iss is not the authorization server (a mix-up)", ErrIssuer)
		}
	}
	if e := q.Get("error"); e != "" {
		return "", fmt.Errorf("%w: authorization refused: %s: %s", ErrIssuer, truncated(e), truncated(q.Get("error_description")))
	}
	code := q.Get("code")
	if code == "" || len(code) > 512 || strings.IndexFunc(code, func(r rune) bool { return r < 0x20 || r > 0x7e }) >= 0 {
		// RFC 6749 §A.11: a code is VSCHAR.
		return "", fmt.Errorf("%w: the redirect has no code, or a malformed one", ErrIssuer)
	}
	return code, nil
}

// SetWalletAttestation gives the wallet the wallet attestation (a Client
// Attestation JWT, OID4VCI 1.0 Appendix E) its wallet provider issued for
// the instance key under keyAlias in the wallet's key store. From then,
// the pushed authorization and token requests to an issuer that takes
// attest_jwt_client_auth with SM2 carry it with a fresh PoP signed by that
// key. The wallet does not check the attestation: the issuer does. An
// empty attestation removes it.
func (w *Holder) SetWalletAttestation(attestation, keyAlias string) error {
	if attestation != "" {
		if strings.Count(attestation, ".") != 2 || len(attestation) > 8<<10 {
			return fmt.Errorf("%w: the wallet attestation is not a compact JWT", ErrInvalidArgument)
		}
		if _, err := w.keys.PublicKey(keyAlias); err != nil {
			return fmt.Errorf("%w: no key under the attestation's alias: %v", ErrInvalidArgument, err)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.attestation, w.attestationKey = attestation, keyAlias
	return nil
}
