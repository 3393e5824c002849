package redeem

import (
	"bytes"
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/strictjson"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/store"
)

// PeerRedeemPath is the route of node-to-node redemptions.
const PeerRedeemPath = "/v1/qr/peer/redeem"

// PeerRedeemRequest is the body a node sends to the code's home node.
type PeerRedeemRequest struct {
	Code         string       `json:"code"`
	RelyingParty RelyingParty `json:"relying_party"`
}

// Peer is another region's node.
type Peer struct {
	// BaseURL is the node's public base URL, without a trailing slash.
	BaseURL string
	// Client is the HTTP client for it; nil means a client with a 5 s
	// timeout. Redirects are never followed, whatever its policy: the
	// node assertion is for this peer only.
	Client *http.Client
}

// PeerCredentials authenticates this node to a peer: it adds credentials
// (an access token from the peer's token endpoint, a signed node
// assertion, ...) to a request bound for region.
type PeerCredentials interface {
	Authorize(ctx context.Context, req *http.Request, region string) error
}

// HTTPPeers is the PeerRedeemer of a configured peer list.
type HTTPPeers struct {
	Peers       map[string]Peer // by region, e.g. "310000"
	Credentials PeerCredentials
}

// maxPeerResponse bounds a peer's answer.
const maxPeerResponse = 64 << 10

// RedeemAt implements PeerRedeemer.
func (p *HTTPPeers) RedeemAt(ctx context.Context, region string, rp RelyingParty, code string) (*Redemption, error) {
	peer, ok := p.Peers[region]
	if !ok {
		return nil, fmt.Errorf("%w: %s", qrcode.ErrNoRoute, region)
	}
	body, _ := json.Marshal(PeerRedeemRequest{Code: code, RelyingParty: rp})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(peer.BaseURL, "/")+PeerRedeemPath, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", qrcode.ErrPeer, region, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if p.Credentials != nil {
		if err := p.Credentials.Authorize(ctx, req, region); err != nil {
			return nil, fmt.Errorf("%w: credentials for %s: %w", qrcode.ErrPeer, region, err)
		}
	}
	resp, err := noRedirects(peer.Client).Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %w: %s: %v", qrcode.ErrUnavailable, qrcode.ErrPeer, region, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxPeerResponse+1))
	if err != nil || len(data) > maxPeerResponse {
		return nil, fmt.Errorf("%w: %w: %s: unreadable answer", qrcode.ErrUnavailable, qrcode.ErrPeer, region)
	}
	return decodePeerAnswer(region, resp.StatusCode, data)
}

// decodePeerAnswer reads the answer of region's node to a redemption:
// on 200 a Redemption of that region, decoded strictly (package
// strictjson); otherwise the error its code names. A refusal the caller
// should pass on (code used, expired, revoked...) is returned as its
// sentinel; anything else matches ErrPeer (and ErrUnavailable when not a
// malformed 200).
func decodePeerAnswer(region string, status int, data []byte) (*Redemption, error) {
	if status != http.StatusOK {
		m, _ := strictjson.Object(data, maxPeerResponse)
		code, _ := m["error"].(string)
		if sentinel := qrcode.ErrorFromCode(code); sentinel != nil && sentinel != qrcode.ErrPeerAuth && sentinel != qrcode.ErrUnavailable {
			return nil, fmt.Errorf("peer %s: %w", region, sentinel)
		}
		return nil, fmt.Errorf("%w: %w: %s answered %d %q", qrcode.ErrUnavailable, qrcode.ErrPeer, region, status, clip(code))
	}
	var r Redemption
	if err := strictjson.Decode(data, &r, maxPeerResponse); err != nil || r.PairwiseID == "" || r.Region != region {
		return nil, fmt.Errorf("%w: %s: invalid redemption", qrcode.ErrPeer, region)
	}
	return &r, nil
}

// PeerAuthenticator authenticates a node-to-node request and returns the
// calling node's region. Errors match ErrPeerAuth. Safe for concurrent use.
type PeerAuthenticator interface {
	AuthenticatePeer(r *http.Request) (region string, err error)
}

// NodeAssertions authenticates nodes to each other with short-lived
// assertions (JWTs) signed by each node's own signing key: issuer
// "trustid-node:<region>" (and the same subject), audience
// "trustid-node:<peer region>", iat and exp at most 60 seconds apart, and
// a single-use jti. It implements PeerCredentials
// (with Signer/Kid) and PeerAuthenticator (with PeerKeys and Nonces). It
// stands in for node client registrations at the peers' token endpoints
// until the trust registry provides them.
type NodeAssertions struct {
	// Region is this node's region.
	Region string
	// Signer and Kid sign outgoing assertions.
	Signer crypto.Signer
	Kid    string
	// PeerKeys gives each peer region's published keys.
	PeerKeys map[string]qrcode.IssuerKeySource
	// Nonces spends assertion IDs.
	Nonces NonceStore
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

const assertionLifetime = 60 * time.Second

func (n *NodeAssertions) now() time.Time {
	if n.Now != nil {
		return n.Now()
	}
	return time.Now()
}

// Authorize implements PeerCredentials.
func (n *NodeAssertions) Authorize(ctx context.Context, req *http.Request, region string) error {
	m, err := gm.SigningMethod(n.Signer)
	if err != nil {
		return err
	}
	var jti [16]byte
	if _, err := io.ReadFull(defaultRand, jti[:]); err != nil {
		return err
	}
	now := n.now()
	t := jwt.NewWithClaims(m, jwt.RegisteredClaims{
		Issuer: "trustid-node:" + n.Region, Subject: "trustid-node:" + n.Region,
		Audience: jwt.ClaimStrings{"trustid-node:" + region},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(assertionLifetime)),
		ID: base64.RawURLEncoding.EncodeToString(jti[:]),
	})
	t.Header["kid"] = n.Kid
	s, err := t.SignedString(n.Signer)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+s)
	return nil
}

// AuthenticatePeer implements PeerAuthenticator. What can be checked
// without the peer's keys is checked first (the form, a configured issuer
// region, the audience, iat, exp, the lifetime, jti and kid), so a junk
// request never makes the node fetch a peer's keys.
func (n *NodeAssertions) AuthenticatePeer(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || len(tok) > 4096 {
		return "", fmt.Errorf("%w: no node assertion", qrcode.ErrPeerAuth)
	}
	region, err := n.precheck(tok)
	if err != nil {
		return "", fmt.Errorf("%w: %v", qrcode.ErrPeerAuth, err)
	}
	parser, err := gm.NewJWTParser(gm.JWTAlgorithms,
		jwt.WithAudience("trustid-node:"+n.Region), jwt.WithExpirationRequired(), jwt.WithIssuedAt(),
		jwt.WithIssuer("trustid-node:"+region), jwt.WithTimeFunc(n.now), jwt.WithLeeway(5*time.Second))
	if err != nil {
		return "", err
	}
	var claims jwt.RegisteredClaims
	_, err = parser.ParseWithClaims(tok, &claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		keys, err := n.PeerKeys[region].IssuerKeys(r.Context())
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			if k.Kid == kid {
				return k.Public, nil
			}
		}
		return nil, errors.New("unknown peer key")
	})
	if err != nil {
		return "", fmt.Errorf("%w: %v", qrcode.ErrPeerAuth, err)
	}
	err = n.Nonces.MarkUsed(r.Context(), "qr-peer:"+region+":"+claims.ID, 2*assertionLifetime)
	if errors.Is(err, store.ErrReplayed) {
		return "", fmt.Errorf("%w: assertion replayed", qrcode.ErrPeerAuth)
	}
	if err != nil {
		return "", fmt.Errorf("%w: nonce store: %w", qrcode.ErrUnavailable, err)
	}
	return region, nil
}

// precheck checks an assertion as far as it can without keys and returns
// the issuing region: a peer region this node has keys for, sub = iss,
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
	if !ok || n.PeerKeys[region] == nil {
		return "", errors.New("unknown peer region")
	}
	if claims.Subject != claims.Issuer {
		return "", errors.New("assertion sub must equal iss")
	}
	if len(claims.Audience) != 1 || claims.Audience[0] != "trustid-node:"+n.Region {
		return "", errors.New("assertion is not for this node")
	}
	// jwt.WithIssuedAt checks iat only when present: require it here, as
	// the lifetime is measured from it.
	if claims.IssuedAt == nil || claims.ExpiresAt == nil {
		return "", errors.New("assertion needs iat and exp")
	}
	now := n.now()
	if claims.ExpiresAt.Sub(claims.IssuedAt.Time) > assertionLifetime || claims.IssuedAt.After(now.Add(5*time.Second)) || !now.Before(claims.ExpiresAt.Add(5*time.Second)) {
		return "", errors.New("assertion lifetime")
	}
	if claims.ID == "" || len(claims.ID) > 128 {
		return "", errors.New("assertion jti")
	}
	if kid, _ := t.Header["kid"].(string); kid == "" {
		return "", errors.New("assertion kid")
	}
	return region, nil
}
