package redeem

import (
	"bytes"
	"context"
	"crypto"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/authheader"
	"github.com/trustid-cn/trustid/internal/strictjson"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/store"
)

// PeerRedeemPath is the route of node-to-node redemptions.
const PeerRedeemPath = "/v1/qr/peer/redeem"

// PeerRedeemRequest is the body a node sends to the code's home node: the
// code, and the relying party of the calling region on whose behalf it
// asks, by client ID and the sector identifier it names (empty: its
// client ID is its sector). The home node takes the party's home region,
// its allowed claims and whether it holds the sector from the trust
// registry (PeerParties), never from the request.
type PeerRedeemRequest struct {
	Code     string `json:"code"`
	ClientID string `json:"client_id"`
	Sector   string `json:"sector,omitempty"`
}

// PeerParties resolves, from the trust registry, the relying party
// clientID on whose behalf region's node asks: it must be registered with
// region as its home region, be active and allowed to redeem QR codes,
// and hold the pairwise sector (sector, or its client ID when empty). The
// returned party's allowed claims are its registry record's. Errors match
// qrcode.ErrUnknownVerifier (not so in the registry) or
// qrcode.ErrUnavailable. Safe for concurrent use.
type PeerParties interface {
	PeerParty(ctx context.Context, region, clientID, sector string) (RelyingParty, error)
}

// PeerCredentials authenticates this node to a peer: it adds credentials
// (an access token from the peer's token endpoint, a signed node
// assertion, ...) to a request bound for region.
type PeerCredentials interface {
	Authorize(ctx context.Context, req *http.Request, region string) error
}

// PeerDirectory gives a region's node URL from the trust registry
// (federation.Directory): an error when the region is unknown or not
// active, so no redemption is forwarded to a suspended region, or when its
// URL is one this node may not call (federation.CheckEndpoint in the
// node's mode). Callers use the URL as given, unchecked. Safe for
// concurrent use.
type PeerDirectory interface {
	PeerURL(region string) (string, error)
}

// HTTPPeers is the PeerRedeemer of the regions of the trust registry:
// an active region's node is called at the URL Directory gives (its
// registered endpoint, or the operator's --peer URL for it:
// federation.Directory.Peers). Without Directory no code of another
// region is forwarded (qrcode.ErrNoRoute).
type HTTPPeers struct {
	Directory   PeerDirectory
	Credentials PeerCredentials
	// Client is the HTTP client; nil means one with a 5 s timeout. The
	// node gives one that dials public addresses only
	// (federation.PeerClient). Redirects are never followed, whatever its
	// policy: the node assertion is for this peer only.
	Client *http.Client
	// Answers, if set, checks the peer's signature of its answer
	// (PeerAnswerHeader): a 200 answer that fails is refused (ErrPeer and
	// the ErrAnswer* cause), and a refusal that fails is not passed on as
	// the peer's (ErrUnavailable), but for an unsigned 429, which is the
	// peer's limit per calling address (PeerLimitAddress): a
	// PeerLimitedError with its Retry-After header. A 429 whose signature
	// fails is ErrUnavailable. The node sets it to its NodeAssertions;
	// nil trusts answers on TLS alone.
	Answers PeerAnswerVerifier
	// OnRefuse, if set, is told of every answer Answers refused, and of
	// every call not made or failed: the region's URL refused by
	// Directory, an address the client refused at the dial, a peer that
	// did not answer (metrics). It must not block.
	OnRefuse func(error)
}

// refuse tells OnRefuse of err and returns it.
func (p *HTTPPeers) refuse(err error) error {
	if p.OnRefuse != nil {
		p.OnRefuse(err)
	}
	return err
}

// maxPeerResponse bounds a peer's answer.
const maxPeerResponse = 64 << 10

// RedeemAt implements PeerRedeemer.
func (p *HTTPPeers) RedeemAt(ctx context.Context, region string, rp RelyingParty, code string) (*Redemption, error) {
	if p.Directory == nil {
		return nil, fmt.Errorf("%w: %s", qrcode.ErrNoRoute, region)
	}
	base, err := p.Directory.PeerURL(region)
	if err != nil {
		return nil, p.refuse(fmt.Errorf("%w: %s: %w", qrcode.ErrNoRoute, region, err))
	}
	body, _ := json.Marshal(PeerRedeemRequest{Code: code, ClientID: rp.ClientID, Sector: rp.Sector})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(base, "/")+PeerRedeemPath, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", qrcode.ErrPeer, region, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if p.Credentials != nil {
		if err := p.Credentials.Authorize(ctx, req, region); err != nil {
			return nil, fmt.Errorf("%w: credentials for %s: %w", qrcode.ErrPeer, region, err)
		}
	}
	resp, err := noRedirects(p.Client).Do(req)
	if err != nil {
		return nil, p.refuse(fmt.Errorf("%w: %w: %s: %w", qrcode.ErrUnavailable, qrcode.ErrPeer, region, err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxPeerResponse+1))
	if err != nil || len(data) > maxPeerResponse {
		return nil, fmt.Errorf("%w: %w: %s: unreadable answer", qrcode.ErrUnavailable, qrcode.ErrPeer, region)
	}
	if p.Answers != nil {
		err := p.Answers.VerifyAnswer(ctx, req, region, resp.StatusCode, data, resp.Header.Get(PeerAnswerHeader))
		switch {
		case errors.Is(err, ErrAnswerUnsigned) && resp.StatusCode == http.StatusTooManyRequests:
			// The peer's limit per calling address, which it checks
			// before this node's assertion, so before it can sign.
			return nil, &PeerLimitedError{Region: region, RetryAfter: peerRetryAfter(resp.Header.Get("Retry-After")), Limit: PeerLimitAddress}
		case err != nil:
			p.refuse(err)
		}
		switch {
		case err != nil && resp.StatusCode == http.StatusOK:
			return nil, fmt.Errorf("%w: %s: %w", qrcode.ErrPeer, region, err)
		case err != nil:
			return nil, fmt.Errorf("%w: %w: %s answered %d: %w", qrcode.ErrUnavailable, qrcode.ErrPeer, region, resp.StatusCode, err)
		}
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		limit, wait := peerLimit(data)
		if wait == "" {
			wait = resp.Header.Get("Retry-After")
		}
		return nil, &PeerLimitedError{Region: region, RetryAfter: peerRetryAfter(wait), Limit: limit}
	}
	return decodePeerAnswer(region, resp.StatusCode, data)
}

// PeerLimitedError is a peer's 429: its node refused the redemption for
// the limits it grants this region and the relying party (signed, when
// HTTPPeers.Answers is set). It matches qrcode.ErrPeerLimited; nothing
// was redeemed.
type PeerLimitedError struct {
	Region string
	// RetryAfter is the wait the peer asked for, from 1 s to
	// MaxPeerRetryAfter: its answer's retry_after member (covered by its
	// signature), or, when it has none (a node of an older release),
	// its Retry-After header.
	RetryAfter time.Duration
	// Limit names the peer's limit that refused the call, from the
	// answer's limit member (covered by its signature): PeerLimitParty,
	// PeerLimitRegion, or another name of at most 64 characters from
	// a-z 0-9 and '-'; empty when the answer names none (a node of an
	// older release) or names it otherwise. It is PeerLimitAddress for
	// an unsigned 429 when HTTPPeers.Answers is set, whatever it names.
	Limit string
}

func (e *PeerLimitedError) Error() string {
	limit := e.Limit
	if limit == "" {
		limit = "unnamed"
	}
	return fmt.Sprintf("peer %s: %v (limit %s); retry after %v", e.Region, qrcode.ErrPeerLimited, limit, e.RetryAfter)
}

// The names of the limits a node applies to the redemptions another
// region's node asks of it (POST /v1/qr/peer/redeem). Its signed 429
// names the limit in its limit member: what it grants the calling
// region's relying party the request names (PeerLimitParty), and what
// it grants the calling region as a whole (PeerLimitRegion). Its limit
// per calling address (PeerLimitAddress) refuses a call before the node
// assertion is checked, so that 429 is unsigned: the calling node takes
// an unsigned 429 for it (HTTPPeers.Answers).
const (
	PeerLimitParty   = "qr-peer-party"
	PeerLimitRegion  = "qr-peer-region"
	PeerLimitAddress = "qr-peer-addr"
)

// peerLimit reads a peer's 429 answer (its body, data): the limit its
// limit member names, when that is a name (1 to 64 characters from a-z
// 0-9 and '-': nothing else is logged from a peer's answer), else empty;
// and its retry_after member's JSON text, the wait in seconds, empty
// when it has none (a node of an older release, whose wait is only in
// its Retry-After header).
func peerLimit(data []byte) (limit, retryAfter string) {
	var answer struct {
		Limit      string          `json:"limit"`
		RetryAfter json.RawMessage `json:"retry_after"`
	}
	if json.Unmarshal(data, &answer) != nil {
		return "", ""
	}
	retryAfter = string(answer.RetryAfter)
	if len(answer.Limit) > 64 {
		return "", retryAfter
	}
	for _, c := range answer.Limit {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return "", retryAfter
		}
	}
	return answer.Limit, retryAfter
}

func (e *PeerLimitedError) Unwrap() error { return qrcode.ErrPeerLimited }

// MaxPeerRetryAfter bounds the wait a peer's 429 asks for: a relying
// party told to wait longer would only stop asking for longer than the
// peer's minute-long limits need, and a node of an older release sends
// it only in its Retry-After header, which its answer's signature does
// not cover (status and body).
const MaxPeerRetryAfter = time.Minute

// peerRetryAfter reads a peer's wait, its answer's retry_after member or
// its Retry-After header, as delay-seconds (RFC 9110 §10.2.3; a node
// sends no HTTP-date), bounded to 1 s .. MaxPeerRetryAfter; a missing or
// unreadable one is 1 s.
func peerRetryAfter(v string) time.Duration {
	n, err := strconv.ParseUint(v, 10, 64)
	switch {
	case errors.Is(err, strconv.ErrRange) || err == nil && n >= uint64(MaxPeerRetryAfter/time.Second):
		return MaxPeerRetryAfter
	case err != nil || n == 0:
		return time.Second
	}
	return time.Duration(n) * time.Second
}

// decodePeerAnswer reads the answer of region's node to a redemption:
// on 200 a Redemption of that region with an assurance level, decoded
// strictly (package strictjson); otherwise the error its code names. A
// refusal the caller should pass on (code used, expired, revoked...) is
// returned as its sentinel; anything else matches ErrPeer (and
// ErrUnavailable when not a malformed 200).
func decodePeerAnswer(region string, status int, data []byte) (*Redemption, error) {
	if status != http.StatusOK {
		m, _ := strictjson.Object(data, maxPeerResponse)
		code, _ := m["error"].(string)
		// A peer's own failures (to authenticate this node, to be
		// available, to hear from another peer) are not refusals of the code.
		if sentinel := qrcode.ErrorFromCode(code); sentinel != nil && sentinel != qrcode.ErrPeerAuth && sentinel != qrcode.ErrUnavailable && sentinel != qrcode.ErrPeer {
			return nil, fmt.Errorf("peer %s: %w", region, sentinel)
		}
		return nil, fmt.Errorf("%w: %w: %s answered %d %q", qrcode.ErrUnavailable, qrcode.ErrPeer, region, status, clip(code))
	}
	var r Redemption
	// An online code is never delegated: an answer naming an actor is not
	// a redemption of one; nor is one without an assurance level (1 to 4).
	if err := strictjson.Decode(data, &r, maxPeerResponse); err != nil || r.PairwiseID == "" || r.Region != region || r.Act != nil || r.Action != "" ||
		r.Assurance < qrcode.AssuranceDocument || r.Assurance > qrcode.AssuranceBiometric {
		return nil, fmt.Errorf("%w: %s: invalid redemption", qrcode.ErrPeer, region)
	}
	return &r, nil
}

// PeerAuthenticator authenticates a node-to-node request and returns the
// calling node's region. Errors match ErrPeerAuth. Safe for concurrent use.
type PeerAuthenticator interface {
	AuthenticatePeer(r *http.Request) (region string, err error)
}

// RegionKeys resolves a region's verifying key from the trust registry
// (federation.Keys): the key kid of an active region, in state active or
// retiring, and its JWS algorithm. Errors say why a key is refused
// (unknown region, suspended region, unknown kid, retired or revoked key).
// It never calls the region. Safe for concurrent use.
type RegionKeys interface {
	RegionKey(ctx context.Context, region, kid string) (crypto.PublicKey, string, error)
}

// NodeAssertions authenticates nodes to each other with short-lived
// assertions (JWTs) signed by each node's region key as registered in the
// trust registry: issuer "trustid-node:<region>" (and the same subject),
// audience "trustid-node:<peer region>", iat and exp at most 60 seconds
// apart, a single-use jti, and body_sm3, the base64url SM3 digest of the
// request body (of at most MaxPeerBody bytes), so an assertion vouches for
// this one request's code, client and sector. It implements PeerCredentials (with
// SigningKey) and PeerAuthenticator (with Keys and Nonces): the caller's
// region is the one whose registered key verifies the assertion, never
// what the request says.
type NodeAssertions struct {
	// Region is this node's region.
	Region string
	// SigningKey gives the key and kid of each outgoing assertion and
	// signed answer, asked at each signature (the node's keystore, so a
	// reload after a rotation signs with the new active key; FixedKey for
	// a key that never changes). The kid must be one of this region's
	// keys in the registry. Nil: nothing is signed.
	SigningKey func() (crypto.Signer, string, error)
	// Keys resolves the calling regions' keys from the registry.
	Keys RegionKeys
	// Nonces spends assertion IDs.
	Nonces NonceStore
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// OnRefuse, if set, is told of every assertion AuthenticatePeer
	// refuses for a reason of its own (malformed, expired, for another
	// audience or body, replayed: ErrAssertionReplayed); a refusal of the
	// caller's key is Keys' to report. It must not block.
	OnRefuse func(error)
}

// Refusals of a node assertion with a reason of their own (each is
// wrapped with qrcode.ErrPeerAuth).
var (
	// ErrAssertionReplayed: its jti was already spent.
	ErrAssertionReplayed = errors.New("redeem: node assertion replayed")
	// ErrAssertionExpired: expired, or issued in the future (beyond the
	// clock leeway).
	ErrAssertionExpired = errors.New("redeem: node assertion expired or not yet issued")
	// ErrAssertionAudience: for another node (or for more than this one).
	ErrAssertionAudience = errors.New("redeem: node assertion is not for this node")
)

const assertionLifetime = 60 * time.Second

// MaxPeerBody bounds the body of a node-to-node request.
const MaxPeerBody = 8 << 10

// nodeClaims are the claims of a node assertion.
type nodeClaims struct {
	jwt.RegisteredClaims
	BodySM3 string `json:"body_sm3"`
}

// bodyDigest is the body_sm3 claim of body.
func bodyDigest(body []byte) string {
	d := gm.SM3(body)
	return base64.RawURLEncoding.EncodeToString(d[:])
}

// readBody reads req's body (at most MaxPeerBody bytes) and puts it back.
func readBody(body io.ReadCloser) ([]byte, io.ReadCloser, error) {
	if body == nil || body == http.NoBody {
		return nil, body, nil
	}
	data, err := io.ReadAll(io.LimitReader(body, MaxPeerBody+1))
	body.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("request body: %w", err)
	}
	if len(data) > MaxPeerBody {
		return nil, nil, fmt.Errorf("request body over %d bytes", MaxPeerBody)
	}
	return data, io.NopCloser(bytes.NewReader(data)), nil
}

func (n *NodeAssertions) now() time.Time {
	if n.Now != nil {
		return n.Now()
	}
	return time.Now()
}

// FixedKey is a NodeAssertions.SigningKey that always gives signer and
// kid.
func FixedKey(signer crypto.Signer, kid string) func() (crypto.Signer, string, error) {
	return func() (crypto.Signer, string, error) { return signer, kid, nil }
}

// signingKey returns the key and kid this node signs with now.
func (n *NodeAssertions) signingKey() (crypto.Signer, string, error) {
	if n.SigningKey == nil {
		return nil, "", errors.New("redeem: node assertions without a signing key")
	}
	return n.SigningKey()
}

// Authorize implements PeerCredentials.
func (n *NodeAssertions) Authorize(ctx context.Context, req *http.Request, region string) error {
	signer, kid, err := n.signingKey()
	if err != nil {
		return err
	}
	m, err := gm.SigningMethod(signer)
	if err != nil {
		return err
	}
	var jti [16]byte
	if _, err := io.ReadFull(defaultRand, jti[:]); err != nil {
		return err
	}
	body, rc, err := readBody(req.Body)
	if err != nil {
		return err
	}
	req.Body = rc
	now := n.now()
	t := jwt.NewWithClaims(m, nodeClaims{RegisteredClaims: jwt.RegisteredClaims{
		Issuer: "trustid-node:" + n.Region, Subject: "trustid-node:" + n.Region,
		Audience: jwt.ClaimStrings{"trustid-node:" + region},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(assertionLifetime)),
		ID: base64.RawURLEncoding.EncodeToString(jti[:]),
	}, BodySM3: bodyDigest(body)})
	t.Header["kid"] = kid
	s, err := t.SignedString(signer)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+s)
	return nil
}

// AuthenticatePeer implements PeerAuthenticator. What can be checked
// without a key is checked first (the form, the issuer region, the
// audience, iat, exp, the lifetime, jti and kid); the key is the calling
// region's in the registry (Keys), so a suspended region, an unknown or a
// retired key is refused without a network call. The body must be the one
// the assertion's body_sm3 names; it is read and put back for the handler.
func (n *NodeAssertions) AuthenticatePeer(r *http.Request) (string, error) {
	region, keyRefused, err := n.authenticatePeer(r)
	if err != nil && !keyRefused && n.OnRefuse != nil && !errors.Is(err, qrcode.ErrUnavailable) {
		n.OnRefuse(err)
	}
	return region, err
}

func (n *NodeAssertions) authenticatePeer(r *http.Request) (_ string, keyRefused bool, _ error) {
	tok, err := nodeAssertion(r)
	if err != nil {
		return "", false, fmt.Errorf("%w: %w", qrcode.ErrPeerAuth, err)
	}
	region, err := n.precheck(tok)
	if err != nil {
		return "", false, fmt.Errorf("%w: %w", qrcode.ErrPeerAuth, err)
	}
	parser, err := gm.NewJWTParser(gm.JWTAlgorithms,
		jwt.WithAudience("trustid-node:"+n.Region), jwt.WithExpirationRequired(), jwt.WithIssuedAt(),
		jwt.WithIssuer("trustid-node:"+region), jwt.WithTimeFunc(n.now), jwt.WithLeeway(5*time.Second))
	if err != nil {
		return "", false, err
	}
	var claims nodeClaims
	_, err = parser.ParseWithClaims(tok, &claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		pub, alg, err := n.Keys.RegionKey(r.Context(), region, kid)
		if err != nil {
			keyRefused = true
			return nil, err
		}
		if alg != t.Method.Alg() {
			return nil, fmt.Errorf("assertion alg %s, the registry key's is %s", t.Method.Alg(), alg)
		}
		return pub, nil
	})
	if err != nil {
		return "", keyRefused, fmt.Errorf("%w: %v", qrcode.ErrPeerAuth, err)
	}
	body, rc, err := readBody(r.Body)
	if err != nil {
		return "", false, fmt.Errorf("%w: %v", qrcode.ErrPeerAuth, err)
	}
	r.Body = rc
	if want := bodyDigest(body); subtle.ConstantTimeCompare([]byte(claims.BodySM3), []byte(want)) != 1 {
		return "", false, fmt.Errorf("%w: the assertion does not cover this request body", qrcode.ErrPeerAuth)
	}
	err = n.Nonces.MarkUsed(r.Context(), "qr-peer:"+region+":"+claims.ID, 2*assertionLifetime)
	if errors.Is(err, store.ErrReplayed) {
		return "", false, fmt.Errorf("%w: %w", qrcode.ErrPeerAuth, ErrAssertionReplayed)
	}
	if err != nil {
		return "", false, fmt.Errorf("%w: nonce store: %w", qrcode.ErrUnavailable, err)
	}
	return region, false, nil
}

// nodeAssertion reads the node assertion of r's Authorization header, a
// Bearer credential read as the node's routes read an access token
// (authheader.Credential: the scheme in any case; two headers, or Bearer
// without a credential, match authheader.ErrMalformed, which the route
// answers 400 invalid_request).
func nodeAssertion(r *http.Request) (string, error) {
	_, tok, err := authheader.Credential(r.Header, "Bearer")
	switch {
	case err != nil:
		return "", err
	case len(tok) > 4096:
		return "", errors.New("node assertion too long")
	}
	return tok, nil
}

// precheck checks an assertion as far as it can without keys and returns
// the issuing region: another region's six-digit code, sub = iss,
// this node as audience, iat and exp present, not expired and at most
// assertionLifetime apart, a jti and a kid. The signature and the claims
// are checked again, with the key, by the caller.
func (n *NodeAssertions) precheck(tok string) (string, error) {
	var claims jwt.RegisteredClaims
	t, _, err := jwt.NewParser().ParseUnverified(tok, &claims)
	if err != nil {
		return "", errors.New("malformed assertion")
	}
	region, ok := strings.CutPrefix(claims.Issuer, "trustid-node:")
	if _, err := qrcode.ParseRegion(region); !ok || err != nil || region == n.Region {
		return "", errors.New("assertion issuer is not another region's node")
	}
	if claims.Subject != claims.Issuer {
		return "", errors.New("assertion sub must equal iss")
	}
	if len(claims.Audience) != 1 || claims.Audience[0] != "trustid-node:"+n.Region {
		return "", ErrAssertionAudience
	}
	// jwt.WithIssuedAt checks iat only when present: require it here, as
	// the lifetime is measured from it.
	if claims.IssuedAt == nil || claims.ExpiresAt == nil {
		return "", errors.New("assertion needs iat and exp")
	}
	now := n.now()
	if claims.ExpiresAt.Sub(claims.IssuedAt.Time) > assertionLifetime {
		return "", errors.New("assertion lifetime")
	}
	if claims.IssuedAt.After(now.Add(5*time.Second)) || !now.Before(claims.ExpiresAt.Add(5*time.Second)) {
		return "", ErrAssertionExpired
	}
	if claims.ID == "" || len(claims.ID) > 128 {
		return "", errors.New("assertion jti")
	}
	if kid, _ := t.Header["kid"].(string); kid == "" {
		return "", errors.New("assertion kid")
	}
	return region, nil
}

var defaultPeerClient = &http.Client{Timeout: 5 * time.Second}

// noRedirects returns a copy of c (or of the default client) that does
// not follow redirects: the 3xx answer itself is returned.
func noRedirects(c *http.Client) *http.Client {
	if c == nil {
		c = defaultPeerClient
	}
	cc := *c
	cc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cc
}
