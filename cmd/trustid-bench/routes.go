package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trustid-cn/trustid/api"
	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/gm"
	wallet "github.com/trustid-cn/trustid/holder"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/qrcode"
)

// Content types.
const (
	ctForm = "application/x-www-form-urlencoded"
	ctJSON = "application/json"
)

// Requests per loopback source address on the routes whose per-address
// limit has no setting: below api.DefaultVerifyLimit (300 a minute, all
// as a burst) and api.DefaultQRLimits.Issue (120).
const (
	verifyPerAddr  = 250
	qrIssuePerAddr = 100
)

// Pre-signed inputs are made for at most this many requests per second
// of the duration; a route that runs out ends early and says so.
// Enrollment's cap is twice issue 13's target (1,500/s), so that a run
// that meets it is measured over the whole window; its inputs (a device
// key, proof and attestation each) take about 60 µs of CPU to make, all
// before the clock starts.
const (
	tokenRateCap = 12000
	// validateRateCap bounds the access tokens minted (untimed) for
	// token-validate: each is presented once. One connection gets
	// validateRateCap1 per second's worth (about 0.3 ms a round trip).
	validateRateCap  = 8000
	validateRateCap1 = 4000
	enrollRateCap    = 2 * enrollTarget
	enrollTarget     = 1500
	qrIssueRateCap   = 5000
	// redeemCodes is how many codes per second of the duration the run
	// issues (untimed) before timing redemptions, besides those the QR
	// issue run made; redeemTopUpMax bounds the time that takes.
	redeemCodes = 5000
	// offlineRateCap bounds the offline codes made (untimed, in this
	// process) for qr-offline: each is verified once.
	offlineRateCap = 12000
	redeemTopUpMax = 15 * time.Second
)

// warm is the number of unmeasured requests each worker sends first.
const warm = 5

// route is one measured node path.
type route struct {
	name  string
	route string
	// what says what one request does on the node.
	what  string
	floor floorOps
	run   func(b *bench, ctx context.Context, conc int) (measure, error)
}

// routes are measured in this order at each concurrency: each can use
// what the previous made (credentials, holders, codes).
//
// baseline, the node's cheapest route, runs first at each concurrency
// whatever -paths says: every other row can be read as its floor plus it.
var routes = []route{
	{baselineName, "GET /healthz", "the node's cheapest route: routing, request ID, metrics, an access-log line, a 15-byte JSON answer; the HTTP baseline of the other rows",
		floorOps{Note: "none"}, (*bench).runBaseline},
	{netHTTPName, "GET /healthz, net/http alone", "Go's net/http with nothing of TrustID: a process of trustid-bench with `trustid serve`'s server settings writing the same 15-byte answer, no middleware, no log; what of the baseline no change in TrustID can remove (its share of the HTTP baseline is the last ratio column)",
		floorOps{Note: "none"}, (*bench).runNetHTTP},
	{"token", "POST /oauth2/token", "client_credentials with an SM2 private_key_jwt assertion; SM2 access token",
		floorOps{Verifies: 1, Signs: 1, Note: "verify the assertion, sign the token"}, (*bench).runToken},
	{"token-validate", "POST /oauth2/introspect", "RFC 7662 introspection by a resource server (client_secret_basic) of one of its access tokens the node has not checked before: signature, header and claims, client registered and enabled, revocation list",
		floorOps{Verifies: 1, SM3Blocks: 2, Note: "verify the token's signature; HMAC-SM3 of the client secret (2 blocks: the inner and outer states of its salt's key are a function of the stored hash, kept)"}, (*bench).runTokenValidate},
	{"issue", "POST /credentials/issue", "vc+jwt, SM2, with revocation and suspension status entries",
		floorOps{Signs: 1, Note: "sign the credential"}, (*bench).runIssue},
	{"verify", "POST /credentials/verify", "a vc+jwt of this node, status checked against its own lists",
		floorOps{Verifies: 1, Note: "verify the credential; SM3 of its signing input beyond the SM2 figure's 400-byte message (the blocks named)"}, (*bench).runVerify},
	{"status", "POST /v1/credentials/{id}/status", "suspend / reinstate, handed to the ledger outbox (fsync) before the answer",
		floorOps{SM3Blocks: 256, Note: "SM3 of the list's new head (16 KiB)"}, (*bench).runStatus},
	{"enroll", "POST /v1/enrollments", "resident ID, SM2 device key and proof, terminal attestation (L4), PIN; binding, QR binding and identity credential; audit log (fsync)",
		floorOps{Verifies: 2, Signs: 3, Note: "verify device proof and attestation, sign three credentials"}, (*bench).runEnroll},
	{"qr-issue", "POST /v1/qr", "device-signed holder request for an online code (binding status checked)",
		floorOps{Verifies: 2, Note: "verify the binding and the device signature"}, (*bench).runQRIssue},
	{"qr-redeem", "POST /v1/qr/verify", "redeem an online code once (status checked, pairwise ID for the party)",
		floorOps{SM3Blocks: 3, Note: "HMAC-SM3 pairwise ID (SM4-GCM open not counted)"}, (*bench).runQRRedeem},
	{"qr-offline", "POST /v1/qr/verify (offline code)", "an offline code the holder's device signed over its issuer-signed binding (age_over_18 shown), each once: both signatures, freshness, binding status, single-use mark, pairwise ID for the party",
		floorOps{Verifies: 2, SM3Blocks: 3, Note: "verify the binding's issuer signature and the device signature; HMAC-SM3 pairwise ID (SM4-GCM open not counted)"}, (*bench).runQROffline},
	{"login", "GET /oauth2/authorize … GET /oauth2/userinfo", "one whole scan-to-login, 6 requests (7 with the page's QR script, revalidated: 304): the login page, the session read by the app, the device-signed approval, the page's poll (code), the code redeemed for tokens (client_secret_basic, PKCE), userinfo",
		floorOps{Verifies: 2, Signs: 1, Note: "verify the binding and the device signature, sign the SM2 ID token"}, (*bench).runLogin},
	{"verify-di", "POST /credentials/verify (sm2-rdfc-2025)", "a Data Integrity credential of this node (sm2-rdfc-2025: JSON-LD canonicalization, SM3, SM2), status checked against its own lists",
		floorOps{Verifies: 1, Note: "verify the proof (canonicalization and SM3 of the N-Quads not counted)"}, (*bench).runVerifyDI},
	{"oid4vci-credential", "POST /oid4vci/credential", "an SD-JWT VC for a redeemed offer: access token, ES256 jwt key proof over a fresh c_nonce (spent), SM2 signature, status entry, notification record",
		floorOps{ES256Verifies: 1, Signs: 1, Note: "verify the key proof, sign the credential"}, (*bench).runOID4VCICredential},
	{"oid4vp-response", "POST /oid4vp/response/{id}", "a direct_post answer to its own transaction: an ES256 SD-JWT VC (age_over_18 disclosed) with an ES256 key-binding JWT, status checked",
		floorOps{ES256Verifies: 2, Note: "verify the issuer's signature and the key-binding JWT"}, (*bench).runOID4VPResponse},
}

// credential is one credential the node issued.
type credential struct {
	id       string
	envelope json.RawMessage
}

// holder is an enrolled phone: its device key and QR binding.
type holder struct {
	device  *gm.PrivateKey
	binding []byte
}

// poolSize is how many inputs to prepare for rate per second over d,
// plus the warm-up.
func poolSize(rate int, d time.Duration, conc int) int {
	return int(float64(rate)*d.Seconds()) + conc*warm
}

// prepare makes n inputs with mk on every CPU, before the clock starts.
func prepare[T any](n int, mk func(i int) (T, error)) ([]T, error) {
	out := make([]T, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, runtime.NumCPU())
	for w := range errs {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				v, err := mk(i)
				if err != nil {
					errs[w] = err
					return
				}
				out[i] = v
			}
		})
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// pool hands out prepared inputs once each.
type pool[T any] struct {
	items []T
	next  atomic.Int64
}

func (p *pool[T]) take() (T, error) {
	i := p.next.Add(1) - 1
	if i >= int64(len(p.items)) {
		var zero T
		return zero, errExhausted
	}
	return p.items[i], nil
}

// collector gathers what workers get back, without sharing a slice.
type collector[T any] struct {
	mu  sync.Mutex
	got []T
}

func (c *collector[T]) add(v T) {
	c.mu.Lock()
	c.got = append(c.got, v)
	c.mu.Unlock()
}

func (b *bench) runToken(ctx context.Context, conc int) (measure, error) {
	now := time.Now()
	bodies, err := prepare(poolSize(tokenRateCap, b.o.duration, conc), func(int) ([]byte, error) {
		a, err := auth.NewClientAssertion(b.node.clientKey, b.node.kid, clientID, b.tokenEndpoint, now, auth.DefaultMaxAssertionAge, rand.Reader)
		if err != nil {
			return nil, err
		}
		return []byte(url.Values{"grant_type": {auth.GrantClientCredentials}, "client_assertion_type": {auth.AssertionType}, "client_assertion": {a}}.Encode()), nil
	})
	if err != nil {
		return measure{}, err
	}
	p := &pool[[]byte]{items: bodies}
	return b.drive(ctx, conc, 0, warm, b.o.duration, func(_ int, c *conn) error {
		body, err := p.take()
		if err != nil {
			return err
		}
		out, err := c.do("POST", auth.TokenPath, "", ctForm, body, 200)
		if err == nil && !bytes.Contains(out, []byte(`"access_token"`)) {
			err = fmt.Errorf("token response without access_token: %.200s", out)
		}
		return err
	})
}

// baselineName is the route every run measures first at each concurrency.
const baselineName = "baseline"

// netHTTPName is the row of Go's net/http alone (runNetHTTP): not the
// node, so not in its access log.
const netHTTPName = "nethttp"

func (b *bench) runBaseline(ctx context.Context, conc int) (measure, error) {
	return b.drive(ctx, conc, 0, warm, b.o.duration, func(_ int, c *conn) error {
		out, err := c.do("GET", "/healthz", "", ctJSON, nil, 200)
		if err == nil && !bytes.Contains(out, []byte(`"ok"`)) {
			err = fmt.Errorf("healthz: %.200s", out)
		}
		return err
	})
}

// rsBasic is the resource server's Authorization header value
// (client_secret_basic, RFC 6749 §2.3.1: both parts form-encoded).
func (b *bench) rsBasic() string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(rsClientID)+":"+url.QueryEscape(b.node.rsSecret)))
}

// runTokenValidate has the resource server introspect its own access
// tokens, each once: tokens minted before the clock (client_credentials,
// client_secret_basic). Introspection checks every token in full (the
// node's validated-token cache serves Bearer requests only, where a token
// checked before costs a hash and a map lookup: qr-redeem measures that
// path, its relying party presenting one token throughout).
func (b *bench) runTokenValidate(ctx context.Context, conc int) (measure, error) {
	n := poolSize(min(validateRateCap, validateRateCap1*conc), b.o.duration, conc)
	basic := b.rsBasic()
	bodies := make([][]byte, n)
	if err := b.parallel(8, 0, n, func(i int, c *conn) error {
		tok, err := b.rsToken(c)
		bodies[i] = introspectBody(tok)
		return err
	}); err != nil {
		return measure{}, err
	}
	p := &pool[[]byte]{items: bodies}
	return b.drive(ctx, conc, 0, warm, b.o.duration, func(_ int, c *conn) error {
		body, err := p.take()
		if err != nil {
			return err
		}
		return introspect(c, basic, body)
	})
}

// rsToken gets the resource server an access token of its own
// (client_credentials, client_secret_basic).
func (b *bench) rsToken(c *conn) (string, error) {
	mint := []byte(url.Values{"grant_type": {auth.GrantClientCredentials}}.Encode())
	out, _, err := c.send("POST", auth.TokenPath, http.Header{"Content-Type": {ctForm}, "Authorization": {b.rsBasic()}}, mint, 200)
	if err != nil {
		return "", fmt.Errorf("resource server's token: %w", err)
	}
	var resp auth.TokenResponse
	if err := json.Unmarshal(out, &resp); err != nil || resp.AccessToken == "" {
		return "", fmt.Errorf("resource server's token: %.200s", out)
	}
	return resp.AccessToken, nil
}

// introspectBody is the introspection request's form for token.
func introspectBody(token string) []byte { return []byte(url.Values{"token": {token}}.Encode()) }

// introspect has the resource server (basic: rsBasic) introspect a token
// of its own (body: introspectBody), which must be active.
func introspect(c *conn, basic string, body []byte) error {
	out, _, err := c.send("POST", auth.IntrospectionPath, http.Header{"Content-Type": {ctForm}, "Authorization": {basic}}, body, 200)
	if err == nil && !bytes.Contains(out, []byte(`"active":true`)) {
		err = fmt.Errorf("introspection: %.200s", out)
	}
	return err
}

// issueBody is the credential the issue route signs: the node adds
// issuer, id, validFrom and the status entries.
var issueBody = []byte(`{"credential":{"@context":["https://www.w3.org/ns/credentials/v2"],` +
	`"type":["VerifiableCredential","ResidenceCredential"],` +
	`"credentialSubject":{"id":"urn:example:resident:bench","region":"310000","since":"2019-07-01"}},` +
	`"options":{"format":"vc+jwt","algorithm":"SM2"}}`)

// issueOne issues a credential on c.
func (b *bench) issueOne(c *conn) (credential, error) { return b.issueOneWith(c, b.token) }

// issueOneWith issues a credential on c with an access token.
func (b *bench) issueOneWith(c *conn, token string) (credential, error) {
	out, err := c.do("POST", "/credentials/issue", token, ctJSON, issueBody, 201)
	if err != nil {
		return credential{}, err
	}
	var resp struct {
		VerifiableCredential json.RawMessage `json:"verifiableCredential"`
		CredentialID         string          `json:"credentialId"`
	}
	if err := json.Unmarshal(out, &resp); err != nil || resp.CredentialID == "" || resp.VerifiableCredential == nil {
		return credential{}, fmt.Errorf("issue response: %.200s", out)
	}
	return credential{id: resp.CredentialID, envelope: resp.VerifiableCredential}, nil
}

func (b *bench) runIssue(ctx context.Context, conc int) (measure, error) {
	var got collector[credential]
	m, err := b.drive(ctx, conc, 0, warm, b.o.duration, func(_ int, c *conn) error {
		cr, err := b.issueOne(c)
		if err == nil {
			got.add(cr)
		}
		return err
	})
	b.creds = got.got
	return m, err
}

// ensureCreds issues credentials, untimed, until there are n fresh ones
// (when the issue route was not run at this concurrency).
func (b *bench) ensureCreds(n int) error {
	if len(b.creds) >= n {
		return nil
	}
	more := make([]credential, n-len(b.creds))
	err := b.parallel(4, 0, len(more), func(i int, c *conn) error {
		var err error
		more[i], err = b.issueOne(c)
		return err
	})
	b.creds = append(b.creds, more...)
	return err
}

func (b *bench) runVerify(ctx context.Context, conc int) (measure, error) {
	if err := b.ensureCreds(max(50, conc)); err != nil {
		return measure{}, err
	}
	bodies := make([][]byte, len(b.creds))
	blocks := 0
	for i, cr := range b.creds {
		bodies[i] = verifyBody(cr.envelope)
		n, err := signingInput(cr.envelope)
		if err != nil {
			return measure{}, err
		}
		blocks += sm2Blocks(n) - sm2Blocks(floorMessage)
	}
	var next atomic.Int64
	m, err := b.drive(ctx, conc, verifyPerAddr, warm, b.o.duration, func(_ int, c *conn) error {
		return verifyOnce(c, bodies[(next.Add(1)-1)%int64(len(bodies))])
	})
	m.moreSM3Blocks = max(0, blocks/len(bodies))
	return m, err
}

// verifyBody is the verification request for a credential.
func verifyBody(vc json.RawMessage) []byte {
	body, _ := json.Marshal(map[string]json.RawMessage{"verifiableCredential": vc})
	return body
}

// verifyOnce has the node verify a credential (body: verifyBody), which
// must verify.
func verifyOnce(c *conn, body []byte) error {
	out, err := c.do("POST", "/credentials/verify", "", ctJSON, body, 200)
	if err == nil && !bytes.Contains(out, []byte(`"verified":true`)) {
		err = fmt.Errorf("not verified: %.200s", out)
	}
	return err
}

// signingInput is the length of the JWS signing input (header.payload) of
// a vc+jwt envelope (EnvelopedVerifiableCredential, its id a data: URL).
func signingInput(envelope json.RawMessage) (int, error) {
	var e struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(envelope, &e); err != nil {
		return 0, fmt.Errorf("credential envelope: %w", err)
	}
	jws, ok := strings.CutPrefix(e.ID, "data:application/vc+jwt,")
	i := strings.LastIndexByte(jws, '.')
	if !ok || i < 0 {
		return 0, fmt.Errorf("credential envelope: no vc+jwt in %.80q", e.ID)
	}
	return i, nil
}

func (b *bench) runStatus(ctx context.Context, conc int) (measure, error) {
	if err := b.ensureCreds(max(50, conc)); err != nil {
		return measure{}, err
	}
	// Worker w owns the credentials i with i % conc == w, so each
	// credential's changes are sequential: suspend, reinstate, suspend...
	type owned struct {
		paths     []string
		suspended []bool
		next      int
	}
	work := make([]owned, conc)
	for i, cr := range b.creds {
		w := &work[i%conc]
		w.paths = append(w.paths, "/v1/credentials/"+url.PathEscape(cr.id)+"/status")
		w.suspended = append(w.suspended, false)
	}
	suspend, reinstate := []byte(`{"action":"suspend"}`), []byte(`{"action":"reinstate"}`)
	m, err := b.drive(ctx, conc, 0, warm, b.o.duration, func(w int, c *conn) error {
		o := &work[w]
		i := o.next % len(o.paths)
		o.next++
		body := suspend
		if o.suspended[i] {
			body = reinstate
		}
		if _, err := c.do("POST", o.paths[i], b.token, ctJSON, body, 200); err != nil {
			return err
		}
		o.suspended[i] = !o.suspended[i]
		return nil
	})
	b.creds = nil // some are suspended now
	return m, err
}

// enrollNames are names on the made-up documents.
var enrollNames = []string{"张三", "李四", "王五", "赵六", "欧阳娜娜"}

// enrollBody makes the i-th enrollment of the run: a valid made-up
// resident ID number (born from 1950 on, so over 18), a fresh SM2
// device key with its proof for this node, a PIN, and an attestation of
// the registered terminal (face match passed, chip read).
func (b *bench) enrollBody(i int) (enrollInput, error) {
	return b.enrollBodyAt(i + int(b.enrolled.Load()))
}

// enrollBodyAt makes the enrollment with run-wide index i.
func (b *bench) enrollBodyAt(i int) (enrollInput, error) {
	birth := time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i/1000%18000)
	body17 := "110105" + birth.Format("20060102") + fmt.Sprintf("%03d", i%1000)
	number := body17 + string(identity.Mod112(body17))
	doc, err := identity.Parse(number)
	if err != nil {
		return enrollInput{}, fmt.Errorf("made-up number: %w", err)
	}
	name := enrollNames[i%len(enrollNames)]
	device, err := gm.GenerateKey(rand.Reader)
	if err != nil {
		return enrollInput{}, err
	}
	jwk, err := gm.NewJWK(device.Public(), "")
	if err != nil {
		return enrollInput{}, err
	}
	proof, err := wallet.NewDeviceProof(device, b.node.base, time.Now(), rand.Text())
	if err != nil {
		return enrollInput{}, err
	}
	att, err := b.node.terminal.Attest(doc, name, device.Public(),
		identity.Liveness{Method: identity.LivenessFaceMatch, Passed: true, Score: 0.9}, true)
	if err != nil {
		return enrollInput{}, err
	}
	var pin string
	for {
		pin = fmt.Sprintf("%06d", mrand.IntN(1000000))
		if identity.ValidatePIN(pin, doc) == nil {
			break
		}
	}
	body, err := json.Marshal(api.EnrollRequest{Document: api.EnrollDocument{Number: number}, Name: name,
		DeviceKey: &jwk, DeviceProof: proof, Attestation: att, PIN: pin})
	return enrollInput{body: body, device: device}, err
}

type enrollInput struct {
	body   []byte
	device *gm.PrivateKey
}

// enrollOne sends a prepared enrollment and returns the holder it made.
func (b *bench) enrollOne(c *conn, in enrollInput) (holder, error) {
	return b.enrollOneWith(c, in, b.token)
}

// enrollOneWith sends a prepared enrollment with an access token.
func (b *bench) enrollOneWith(c *conn, in enrollInput, token string) (holder, error) {
	out, err := c.do("POST", api.EnrollPath, token, ctJSON, in.body, 201)
	if err != nil {
		return holder{}, err
	}
	var resp struct {
		AssuranceLevel string `json:"assurance_level"`
		QRBinding      []byte `json:"qr_binding"`
	}
	if err := json.Unmarshal(out, &resp); err != nil || len(resp.QRBinding) == 0 || resp.AssuranceLevel != "L4" {
		return holder{}, fmt.Errorf("enrollment response (want L4 with a QR binding): %.300s", out)
	}
	return holder{device: in.device, binding: resp.QRBinding}, nil
}

func (b *bench) runEnroll(ctx context.Context, conc int) (measure, error) {
	inputs, err := prepare(poolSize(enrollRateCap, b.o.duration, conc), b.enrollBody)
	b.enrolled.Add(int64(len(inputs)))
	if err != nil {
		return measure{}, err
	}
	p := &pool[enrollInput]{items: inputs}
	var got collector[holder]
	m, err := b.drive(ctx, conc, 0, warm, b.o.duration, func(_ int, c *conn) error {
		in, err := p.take()
		if err != nil {
			return err
		}
		h, err := b.enrollOne(c, in)
		if err == nil && len(b.holders) < 64 {
			got.add(h)
		}
		return err
	})
	b.holders = append(b.holders, got.got...)
	return m, err
}

// ensureHolders enrolls, untimed, until there are n holders.
func (b *bench) ensureHolders(n int) error {
	if len(b.holders) >= n {
		return nil
	}
	inputs, err := prepare(n-len(b.holders), b.enrollBody)
	b.enrolled.Add(int64(len(inputs)))
	if err != nil {
		return err
	}
	more := make([]holder, len(inputs))
	err = b.parallel(4, 0, len(inputs), func(i int, c *conn) error {
		var err error
		more[i], err = b.enrollOne(c, inputs[i])
		return err
	})
	b.holders = append(b.holders, more...)
	return err
}

// holderRequests signs n requests for online codes (consenting to
// age_over_18), spread over the holders. The node accepts a request
// within qrcode.DefaultWindow (60 s) of its time.
func (b *bench) holderRequests(n int) ([][]byte, error) {
	now := time.Now()
	return prepare(n, func(i int) ([]byte, error) { return holderRequest(b.holders[i%len(b.holders)], now) })
}

// holderRequest is h's signed request for an online code at now.
func holderRequest(h holder, now time.Time) ([]byte, error) {
	r := qrcode.HolderRequest{Purpose: qrcode.PurposeOnlineCode, Binding: h.binding, Time: now.Unix(), Nonce: make([]byte, 16), Region: region, Consent: []string{"age_over_18"}}
	rand.Read(r.Nonce)
	if err := qrcode.SignHolderRequest(rand.Reader, h.device, &r); err != nil {
		return nil, err
	}
	return json.Marshal(r)
}

// issueCode asks for one online code on c.
func (b *bench) issueCode(c *conn, body []byte) (string, error) {
	out, err := c.do("POST", "/v1/qr", "", ctJSON, body, 201)
	if err != nil {
		return "", err
	}
	var resp struct {
		Code string `json:"code"`
	}
	if err := json.Unmarshal(out, &resp); err != nil || resp.Code == "" {
		return "", fmt.Errorf("code response: %.200s", out)
	}
	return resp.Code, nil
}

func (b *bench) runQRIssue(ctx context.Context, conc int) (measure, error) {
	if err := b.ensureHolders(8); err != nil {
		return measure{}, err
	}
	bodies, err := b.holderRequests(poolSize(qrIssueRateCap, b.o.duration, conc))
	if err != nil {
		return measure{}, err
	}
	p := &pool[[]byte]{items: bodies}
	var got collector[string]
	m, err := b.drive(ctx, conc, qrIssuePerAddr, warm, b.o.duration, func(_ int, c *conn) error {
		body, err := p.take()
		if err != nil {
			return err
		}
		code, err := b.issueCode(c, body)
		if err == nil {
			got.add(code)
		}
		return err
	})
	b.codes = got.got
	return m, err
}

// topUpCodes issues codes, untimed, until there are n or redeemTopUpMax
// has passed.
func (b *bench) topUpCodes(n int) error {
	if err := b.ensureHolders(8); err != nil {
		return err
	}
	deadline := time.Now().Add(redeemTopUpMax)
	for len(b.codes) < n && time.Now().Before(deadline) {
		bodies, err := b.holderRequests(min(n-len(b.codes), 5000))
		if err != nil {
			return err
		}
		more := make([]string, len(bodies))
		if err := b.parallel(8, qrIssuePerAddr, len(bodies), func(i int, c *conn) error {
			var err error
			more[i], err = b.issueCode(c, bodies[i])
			return err
		}); err != nil {
			return err
		}
		b.codes = append(b.codes, more...)
	}
	return nil
}

func (b *bench) runQRRedeem(ctx context.Context, conc int) (measure, error) {
	if err := b.topUpCodes(poolSize(redeemCodes, b.o.duration, conc)); err != nil {
		return measure{}, err
	}
	bodies := redeemBodies(b.codes)
	b.codes = nil // spent
	m, err := b.driveQRVerify(ctx, conc, bodies, "redemption")
	if err != nil {
		return m, err
	}
	m.raced, m.doubles, err = b.raceProbe(raceProbeCodes)
	return m, err
}

// runQROffline has the relying party verify offline codes at the node,
// each once: made before the clock by the holders' devices (this
// process), as the holder app makes them, each with a counter new in the
// run (so no two presentations are alike, whatever the time).
func (b *bench) runQROffline(ctx context.Context, conc int) (measure, error) {
	if err := b.ensureHolders(8); err != nil {
		return measure{}, err
	}
	now := time.Now()
	bodies, err := prepare(poolSize(offlineRateCap, b.o.duration, conc), func(i int) ([]byte, error) {
		return b.offlineBody(b.holders[i%len(b.holders)], now)
	})
	if err != nil {
		return measure{}, err
	}
	return b.driveQRVerify(ctx, conc, bodies, "offline verification")
}

// offlineBody is the verification request of an offline code h's device
// makes at now (age_over_18 shown), with a counter new in the run.
func (b *bench) offlineBody(h holder, now time.Time) ([]byte, error) {
	code, err := qrcode.NewOffline(rand.Reader, h.device, h.binding, nil,
		qrcode.Presentation{Time: now, Counter: b.offlineCodes.Add(1), Claims: []string{"age_over_18"}})
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]string{"code": code})
}

// driveQRVerify sends each of bodies once to POST /v1/qr/verify.
func (b *bench) driveQRVerify(ctx context.Context, conc int, bodies [][]byte, what string) (measure, error) {
	p := &pool[[]byte]{items: bodies}
	return b.drive(ctx, conc, 0, warm, b.o.duration, func(_ int, c *conn) error {
		body, err := p.take()
		if err != nil {
			return err
		}
		return qrVerify(c, b.token, body, what)
	})
}

// qrVerify has the relying party redeem or verify a code at POST
// /v1/qr/verify with its access token; the answer must name the holder's
// pairwise ID.
func qrVerify(c *conn, token string, body []byte, what string) error {
	out, err := c.do("POST", "/v1/qr/verify", token, ctJSON, body, 200)
	if err == nil && !bytes.Contains(out, []byte(`"pairwise_id"`)) {
		err = fmt.Errorf("%s without pairwise_id: %.200s", what, out)
	}
	return err
}

func redeemBodies(codes []string) [][]byte {
	bodies := make([][]byte, len(codes))
	for i, code := range codes {
		bodies[i], _ = json.Marshal(map[string]string{"code": code})
	}
	return bodies
}

// raceProbeCodes is how many fresh codes the double-redemption probe
// sends twice at the same moment, after the timed redemptions.
const raceProbeCodes = 100

// raceProbe sends each of n fresh codes twice at once, from two
// connections, and counts the codes redeemed twice. Each must get one
// 200 and one 409; any other answer is an error.
func (b *bench) raceProbe(n int) (raced, doubles int, err error) {
	if err := b.topUpCodes(n); err != nil {
		return 0, 0, err
	}
	bodies := redeemBodies(b.codes[:n])
	b.codes = b.codes[n:]
	conns := [2]*conn{newConn(b.node.base, &b.srcs, 0), newConn(b.node.base, &b.srcs, 0)}
	defer conns[0].close()
	defer conns[1].close()
	for _, body := range bodies {
		var status [2]int
		var errs [2]error
		var wg sync.WaitGroup
		for k, c := range conns {
			wg.Go(func() {
				_, err := c.do("POST", "/v1/qr/verify", b.token, ctJSON, body, 200)
				var se *statusError
				switch {
				case err == nil:
					status[k] = 200
				case errors.As(err, &se):
					status[k] = se.status
				default:
					errs[k] = err
				}
			})
		}
		wg.Wait()
		if err := errors.Join(errs[:]...); err != nil {
			return raced, doubles, err
		}
		raced++
		switch status {
		case [2]int{200, 200}:
			doubles++
		case [2]int{200, 409}, [2]int{409, 200}:
		default:
			return raced, doubles, fmt.Errorf("a code sent twice at once got %d and %d, want 200 and 409", status[0], status[1])
		}
	}
	return raced, doubles, nil
}

// loginScript finds a script the login page loads from the node.
var loginScript = regexp.MustCompile(`<script nonce="[^"]*" src="(/[^"]+)"`)

// revalidate fetches path as a browser with a warm cache does: the first
// time whole, then with the ETag it got (If-None-Match), expecting 304.
func (b *bench) revalidate(c *conn, path string) error {
	if etag, ok := b.etags.Load(path); ok {
		_, _, err := c.send("GET", path, http.Header{"If-None-Match": {etag.(string)}}, nil, 304)
		return err
	}
	_, h, err := c.send("GET", path, http.Header{}, nil, 200)
	if err == nil && h.Get("ETag") != "" {
		b.etags.Store(path, h.Get("ETag"))
	}
	return err
}

// loginAppLink finds the session URL in the login page's app link.
var loginAppLink = regexp.MustCompile(`href="trustid://login\?session=([^"]+)"`)

// runLogin logs holders in to the login client, each iteration one whole
// login as a browser, a phone and the party's backend do it. The phone's
// signature over the session's challenge is made in the loop (the
// challenge is only known then): this process's CPU, not the node's.
func (b *bench) runLogin(ctx context.Context, conc int) (measure, error) {
	if err := b.ensureHolders(8); err != nil {
		return measure{}, err
	}
	var next atomic.Int64
	return b.drive(ctx, conc, 0, warm, b.o.duration, func(_ int, c *conn) error {
		_, err := b.loginOnce(c, b.holders[(next.Add(1)-1)%int64(len(b.holders))], loginScope)
		return err
	})
}

// loginScope is what the login route's website asks for.
const loginScope = "openid age_over_18"

// loginBasic is the login client's Authorization header value
// (client_secret_basic).
func (b *bench) loginBasic() string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(loginClientID)+":"+url.QueryEscape(b.node.loginSecret)))
}

// loginAcceptLanguage is what the login page's browser prefers (a
// Chinese browser's usual header).
const loginAcceptLanguage = "zh-CN,zh;q=0.9,en;q=0.8"

// loginOnce is one login of h on c asking for scope; it returns the
// refresh token the login got (with offline_access), else "".
func (b *bench) loginOnce(c *conn, h holder, scope string) (string, error) {
	verifier := rand.Text() + rand.Text()
	challenge := pkceS256(verifier)
	q := url.Values{"client_id": {loginClientID}, "redirect_uri": {loginRedirect}, "response_type": {"code"},
		"scope": {scope}, "state": {rand.Text()}, "nonce": {rand.Text()},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	// As a browser: the page negotiates its language from this header.
	page, hdr, err := c.send("GET", "/oauth2/authorize?"+q.Encode(), http.Header{"Accept-Language": {loginAcceptLanguage}}, nil, 200)
	if err != nil {
		return "", fmt.Errorf("authorize: %w", err)
	}
	// The browser loads the page's scripts (the QR drawing one, cached:
	// a 304 each time after the first).
	for _, sm := range loginScript.FindAllSubmatch(page, -1) {
		if err := b.revalidate(c, string(sm[1])); err != nil {
			return "", fmt.Errorf("login page script %s: %w", sm[1], err)
		}
	}
	m := loginAppLink.FindSubmatch(page)
	if m == nil {
		return "", fmt.Errorf("login page without the app link: %.200s", page)
	}
	sessionURL, err := url.QueryUnescape(strings.ReplaceAll(string(m[1]), "&amp;", "&"))
	if err != nil || !strings.HasPrefix(sessionURL, b.node.base+"/") {
		return "", fmt.Errorf("session URL %q", m[1])
	}
	session := strings.TrimPrefix(sessionURL, b.node.base)
	var cookie string
	for _, sc := range (&http.Response{Header: hdr}).Cookies() {
		if sc.Name == "tid_login" {
			cookie = sc.Name + "=" + sc.Value
		}
	}
	if cookie == "" {
		return "", errors.New("login page without its cookie")
	}
	out, err := c.do("GET", session, "", ctJSON, nil, 200)
	if err != nil {
		return "", fmt.Errorf("session: %w", err)
	}
	var req struct {
		Challenge string `json:"challenge"`
	}
	json.Unmarshal(out, &req)
	nonce, err := base64.RawURLEncoding.DecodeString(req.Challenge)
	if err != nil || len(nonce) == 0 {
		return "", fmt.Errorf("session without a challenge: %.200s", out)
	}
	hr := qrcode.HolderRequest{Purpose: qrcode.PurposeLoginApprove, Binding: h.binding, Time: time.Now().Unix(), Nonce: nonce, Region: region, Consent: []string{"age_over_18"}}
	if err := qrcode.SignHolderRequest(rand.Reader, h.device, &hr); err != nil {
		return "", err
	}
	approval, _ := json.Marshal(map[string]any{"request": hr})
	if _, err := c.do("POST", session+"/approve", "", ctJSON, approval, 204); err != nil {
		return "", fmt.Errorf("approve: %w", err)
	}
	out, _, err = c.send("GET", session+"/wait", http.Header{"Cookie": {cookie}}, nil, 200)
	if err != nil {
		return "", fmt.Errorf("wait: %w", err)
	}
	var waited struct {
		Status, Redirect string
	}
	json.Unmarshal(out, &waited)
	landed, err := url.Parse(waited.Redirect)
	if err != nil || waited.Status != "approved" || landed.Query().Get("code") == "" {
		return "", fmt.Errorf("wait answered %.200s", out)
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {landed.Query().Get("code")},
		"redirect_uri": {loginRedirect}, "code_verifier": {verifier}}
	out, _, err = c.send("POST", auth.TokenPath, http.Header{"Content-Type": {ctForm}, "Authorization": {b.loginBasic()}}, []byte(form.Encode()), 200)
	if err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	var tok struct {
		AccessToken  string `json:"access_token"`
		IDToken      string `json:"id_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if json.Unmarshal(out, &tok); tok.AccessToken == "" || tok.IDToken == "" {
		return "", fmt.Errorf("token response: %.200s", out)
	}
	out, err = c.do("GET", "/oauth2/userinfo", tok.AccessToken, ctJSON, nil, 200)
	if err == nil && !bytes.Contains(out, []byte(`"age_over_18":true`)) {
		err = fmt.Errorf("userinfo: %.200s", out)
	}
	return tok.RefreshToken, err
}

// refreshLogin has the login client redeem refresh token rt (the
// refresh_token grant); it returns the rotated one.
func (b *bench) refreshLogin(c *conn, rt string) (string, error) {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	out, _, err := c.send("POST", auth.TokenPath, http.Header{"Content-Type": {ctForm}, "Authorization": {b.loginBasic()}}, []byte(form.Encode()), 200)
	if err != nil {
		return "", fmt.Errorf("refresh: %w", err)
	}
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if json.Unmarshal(out, &tok); tok.AccessToken == "" || tok.RefreshToken == "" || tok.RefreshToken == rt {
		return "", fmt.Errorf("refresh response (want an access token and a new refresh token): %.200s", out)
	}
	return tok.RefreshToken, nil
}

// pkceS256 is the S256 code challenge of verifier (RFC 7636).
func pkceS256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
