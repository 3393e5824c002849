package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/credentials/sdjwt"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/oid4vci"
	"github.com/trustid-cn/trustid/oid4vp"
)

// The wallet-facing routes: OID4VCI's credential endpoint, OID4VP's
// response endpoint, and verification of a Data Integrity credential.
// What a wallet or relying party must do before the request (offers,
// pre-authorized codes redeemed for access tokens, c_nonces, key proofs;
// transactions opened, request objects fetched, presentations signed;
// credentials issued) is done before the clock starts, over HTTP on
// other connections; each timed request spends its own access token,
// nonce or transaction, as a wallet's does.

// Per-address budgets of the OID4VCI and OID4VP public routes, whose
// limit (api.DefaultOID4VCILimit, api.DefaultOID4VPLimit: 600 a minute)
// has no setting.
const walletPerAddr = 500

// Prepared inputs per second of the duration (see tokenRateCap).
const (
	vciRateCap = 2500
	vpRateCap  = 3000
)

// vciConfig is the configuration the OID4VCI route asks for: an SD-JWT
// VC of the type the relying party is accredited for.
const vciConfig = "ResidenceCredential_sd_jwt"

// vciOffer is the offer the relying party makes for each request: by
// value, without a transaction code.
var vciOffer = []byte(`{"credential_configuration_ids":["` + vciConfig + `"],"tx_code":false,"by_reference":false,` +
	`"credential":{"@context":["https://www.w3.org/ns/credentials/v2"],"type":["VerifiableCredential","ResidenceCredential"],` +
	`"credentialSubject":{"region":"310000","since":"2019-07-01"}}}`)

// vciRequest is one prepared credential request: an access token and a
// body with a key proof over a fresh c_nonce.
type vciRequest struct {
	token string
	body  []byte
}

// vciPrepare makes one credential request as a wallet would: the offer
// (by the relying party), the pre-authorized code redeemed at the token
// endpoint, a c_nonce from the nonce endpoint, and an ES256 key proof of
// a fresh holder key over it.
func (b *bench) vciPrepare(c *conn) (vciRequest, error) { return b.vciPrepareWith(c, b.token) }

// vciPrepareWith is vciPrepare with the relying party's access token.
func (b *bench) vciPrepareWith(c *conn, token string) (vciRequest, error) {
	out, err := c.do("POST", oid4vci.PathOffers, token, ctJSON, vciOffer, 201)
	if err != nil {
		return vciRequest{}, fmt.Errorf("offer: %w", err)
	}
	var offer struct {
		Offer struct {
			Grants map[string]struct {
				Code string `json:"pre-authorized_code"`
			} `json:"grants"`
		} `json:"credential_offer"`
	}
	if err := json.Unmarshal(out, &offer); err != nil || offer.Offer.Grants[oid4vci.GrantPreAuthorized].Code == "" {
		return vciRequest{}, fmt.Errorf("offer without a pre-authorized code: %.200s", out)
	}
	form := url.Values{"grant_type": {oid4vci.GrantPreAuthorized}, "pre-authorized_code": {offer.Offer.Grants[oid4vci.GrantPreAuthorized].Code}}
	if out, err = c.do("POST", oid4vci.PathToken, "", ctForm, []byte(form.Encode()), 200); err != nil {
		return vciRequest{}, fmt.Errorf("token: %w", err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(out, &tok); err != nil || tok.AccessToken == "" {
		return vciRequest{}, fmt.Errorf("token response: %.200s", out)
	}
	if out, err = c.do("POST", oid4vci.PathNonce, "", ctJSON, nil, 200); err != nil {
		return vciRequest{}, fmt.Errorf("nonce: %w", err)
	}
	var nonce struct {
		CNonce string `json:"c_nonce"`
	}
	if err := json.Unmarshal(out, &nonce); err != nil || nonce.CNonce == "" {
		return vciRequest{}, fmt.Errorf("nonce response: %.200s", out)
	}
	proof, err := es256Proof(b.node.base, nonce.CNonce)
	if err != nil {
		return vciRequest{}, err
	}
	body, err := json.Marshal(map[string]any{"credential_configuration_id": vciConfig, "proofs": map[string]any{"jwt": []string{proof}}})
	return vciRequest{token: tok.AccessToken, body: body}, err
}

// es256Proof is an OID4VCI jwt key proof for aud and nonce, signed by a
// fresh P-256 key it carries as jwk.
func es256Proof(aud, nonce string) (string, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	j, err := gm.NewJWK(&k.PublicKey, "")
	if err != nil {
		return "", err
	}
	j.Use, j.Alg = "", ""
	t := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"aud": aud, "iat": time.Now().Unix(), "nonce": nonce})
	t.Header["typ"] = oid4vci.ProofTyp
	t.Header["jwk"] = j
	return t.SignedString(k)
}

// prepareOver makes n inputs with mk on conc connections, each moving to
// a new source address after walletPerAddr requests, before the clock
// starts.
func prepareOver[T any](b *bench, conc, n int, mk func(c *conn) (T, error)) ([]T, error) {
	out := make([]T, n)
	err := b.parallel(conc, walletPerAddr, n, func(i int, c *conn) error {
		var err error
		out[i], err = mk(c)
		return err
	})
	return out, err
}

func (b *bench) runOID4VCICredential(ctx context.Context, conc int) (measure, error) {
	reqs, err := prepareOver(b, 8, poolSize(vciRateCap, b.o.duration, conc), b.vciPrepare)
	if err != nil {
		return measure{}, err
	}
	p := &pool[vciRequest]{items: reqs}
	return b.drive(ctx, conc, walletPerAddr, warm, b.o.duration, func(_ int, c *conn) error {
		r, err := p.take()
		if err != nil {
			return err
		}
		return vciCredential(c, r)
	})
}

// vciCredential sends a prepared credential request.
func vciCredential(c *conn, r vciRequest) error {
	out, err := c.do("POST", oid4vci.PathCredential, r.token, ctJSON, r.body, 200)
	if err == nil && !bytes.Contains(out, []byte(`"credentials":[{"credential":"`)) {
		err = fmt.Errorf("credential response: %.200s", out)
	}
	return err
}

// vpDCQL asks for age_over_18 from an AgeCredential (SD-JWT VC) the node
// at base issued.
func vpDCQL(base string) string {
	return `{"credentials":[{"id":"age","format":"dc+sd-jwt","meta":{"vct_values":["` + base + `/vct/AgeCredential"]},` +
		`"claims":[{"path":["age_over_18"],"values":[true]}]}]}`
}

// vpHolder is the wallet of the OID4VP route: an ES256 device key and an
// AgeCredential the node issued, ES256-signed and bound to that key (as
// api's BenchmarkOID4VPDirectPostHTTP, for comparison).
type vpHolder struct {
	key  *ecdsa.PrivateKey
	cred *sdjwt.SDJWT
}

// ensureVPHolder issues the OID4VP route's credential once per run.
func (b *bench) ensureVPHolder() error {
	if b.vpHolder != nil {
		return nil
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	j, err := gm.NewJWK(&k.PublicKey, "")
	if err != nil {
		return err
	}
	body, _ := json.Marshal(map[string]any{
		"credential": map[string]any{"@context": []string{"https://www.w3.org/ns/credentials/v2"}, "type": []string{"VerifiableCredential", "AgeCredential"},
			"credentialSubject": map[string]any{"age_over_18": true, "age_over_60": false, "birthDate": "1990-05-01"}},
		"options": map[string]any{"format": "dc+sd-jwt", "algorithm": gm.AlgES256, "holderKey": j},
	})
	c := newConn(b.node.base, &b.srcs, 0)
	defer c.close()
	out, err := c.do("POST", "/credentials/issue", b.token, ctJSON, body, 201)
	if err != nil {
		return fmt.Errorf("issue the AgeCredential: %w", err)
	}
	var resp struct {
		VC struct {
			ID string `json:"id"`
		} `json:"verifiableCredential"`
	}
	json.Unmarshal(out, &resp)
	_, tok, ok := strings.Cut(resp.VC.ID, ",")
	if !ok {
		return fmt.Errorf("AgeCredential response: %.200s", out)
	}
	sd, err := sdjwt.Split(tok)
	if err != nil {
		return fmt.Errorf("AgeCredential: %w", err)
	}
	b.vpHolder = &vpHolder{key: k, cred: sd}
	return nil
}

// vpResponse is one prepared authorization response: the transaction's
// response path and the direct_post form.
type vpResponse struct {
	path string
	body []byte
}

// vpPrepare opens a transaction as the relying party (direct_post),
// fetches its request object as the wallet, and answers it with a
// presentation of age_over_18 only, with a key-binding JWT over the
// request's nonce and client_id. The wallet does not check the request
// object's signature here (this process's work, not the node's).
func (b *bench) vpPrepare(c *conn) (vpResponse, error) { return b.vpPrepareWith(c, b.token) }

// vpPrepareWith is vpPrepare with the relying party's access token.
func (b *bench) vpPrepareWith(c *conn, token string) (vpResponse, error) {
	body := []byte(`{"dcql_query":` + vpDCQL(b.node.base) + `,"response_mode":"` + oid4vp.ModeDirectPost + `"}`)
	out, err := c.do("POST", "/v1/oid4vp/requests", token, ctJSON, body, 201)
	if err != nil {
		return vpResponse{}, fmt.Errorf("open a transaction: %w", err)
	}
	var created struct {
		RequestURI string `json:"request_uri"`
	}
	if err := json.Unmarshal(out, &created); err != nil || !strings.HasPrefix(created.RequestURI, b.node.base+"/") {
		return vpResponse{}, fmt.Errorf("transaction: %.200s", out)
	}
	ro, err := c.do("GET", strings.TrimPrefix(created.RequestURI, b.node.base), "", ctJSON, nil, 200)
	if err != nil {
		return vpResponse{}, fmt.Errorf("request object: %w", err)
	}
	var claims struct {
		ClientID    string `json:"client_id"`
		Nonce       string `json:"nonce"`
		State       string `json:"state"`
		ResponseURI string `json:"response_uri"`
	}
	parts := strings.Split(string(ro), ".")
	if len(parts) != 3 {
		return vpResponse{}, fmt.Errorf("request object: %.200s", ro)
	}
	payload, err := jwt.NewParser().DecodeSegment(parts[1])
	if err != nil || json.Unmarshal(payload, &claims) != nil || claims.Nonce == "" || !strings.HasPrefix(claims.ResponseURI, b.node.base+"/") {
		return vpResponse{}, fmt.Errorf("request object claims: %.300s", payload)
	}
	h := b.vpHolder
	pres, err := h.cred.Present(func(d *sdjwt.Disclosure) bool { return d.Name == "age_over_18" },
		&sdjwt.KeyBinding{Signer: h.key, Audience: claims.ClientID, Nonce: claims.Nonce, IssuedAt: time.Now()})
	if err != nil {
		return vpResponse{}, err
	}
	vpToken, _ := json.Marshal(map[string][]string{"age": {pres}})
	form := url.Values{"vp_token": {string(vpToken)}, "state": {claims.State}}
	return vpResponse{path: strings.TrimPrefix(claims.ResponseURI, b.node.base), body: []byte(form.Encode())}, nil
}

func (b *bench) runOID4VPResponse(ctx context.Context, conc int) (measure, error) {
	if err := b.ensureVPHolder(); err != nil {
		return measure{}, err
	}
	resps, err := prepareOver(b, 8, poolSize(vpRateCap, b.o.duration, conc), b.vpPrepare)
	if err != nil {
		return measure{}, err
	}
	p := &pool[vpResponse]{items: resps}
	return b.drive(ctx, conc, walletPerAddr, warm, b.o.duration, func(_ int, c *conn) error {
		r, err := p.take()
		if err != nil {
			return err
		}
		return vpRespond(c, r)
	})
}

// vpRespond sends a prepared authorization response.
func vpRespond(c *conn, r vpResponse) error {
	_, err := c.do("POST", r.path, "", ctForm, r.body, 200)
	return err
}

// diIssueBody is the credential the verify-di route verifies: secured
// with sm2-rdfc-2025 by the node, with its status entries; its terms are
// defined by the examples context (Data Integrity canonicalizes them).
var diIssueBody = []byte(`{"credential":{"@context":["https://www.w3.org/ns/credentials/v2","https://www.w3.org/ns/credentials/examples/v2"],` +
	`"type":["VerifiableCredential","ResidenceCredential"],` +
	`"credentialSubject":{"id":"urn:example:resident:bench","region":"310000","since":"2019-07-01"}},` +
	`"options":{"cryptosuite":"sm2-rdfc-2025"}}`)

// ensureDICreds issues, untimed, the Data Integrity credentials the
// verify-di route sends (once per run: no route changes their status).
func (b *bench) ensureDICreds(n int) error {
	if len(b.diBodies) >= n {
		return nil
	}
	more := make([][]byte, n-len(b.diBodies))
	err := b.parallel(4, 0, len(more), func(i int, c *conn) error {
		out, err := c.do("POST", "/credentials/issue", b.token, ctJSON, diIssueBody, 201)
		if err != nil {
			return fmt.Errorf("issue sm2-rdfc-2025: %w", err)
		}
		var resp struct {
			VC json.RawMessage `json:"verifiableCredential"`
		}
		if err := json.Unmarshal(out, &resp); err != nil || !bytes.Contains(resp.VC, []byte(`"sm2-rdfc-2025"`)) {
			return fmt.Errorf("sm2-rdfc-2025 issue response: %.300s", out)
		}
		more[i] = verifyBody(resp.VC)
		return nil
	})
	if err != nil {
		return err
	}
	b.diBodies = append(b.diBodies, more...)
	return nil
}

func (b *bench) runVerifyDI(ctx context.Context, conc int) (measure, error) {
	if err := b.ensureDICreds(max(50, conc)); err != nil {
		return measure{}, err
	}
	bodies := b.diBodies
	var next atomic.Int64
	return b.drive(ctx, conc, verifyPerAddr, warm, b.o.duration, func(_ int, c *conn) error {
		return verifyOnce(c, bodies[(next.Add(1)-1)%int64(len(bodies))])
	})
}
