package redeem

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"

	"github.com/golang-jwt/jwt/v5"

	"github.com/trustid-cn/trustid/gm"
)

// PeerAnswerHeader is the response header that carries the callee node's
// signature of its answer to a node-to-node request: a compact JWS (JWT)
// of type PeerAnswerType signed with a key of the callee's region in the
// trust registry, with claims iss "trustid-node:<callee region>", aud
// "trustid-node:<caller region>", in_reply_to the jti of the caller's
// node assertion, status the HTTP status, body_sm3 the base64url SM3
// digest of the response body. It binds the answer to the one request it
// answers: replayed to another request, or with another body or status,
// it fails. It has no time claims: the caller's jti is single-use and
// fresh, so the answer is as fresh as the request, and the nodes' clocks
// matter only for the assertion.
const PeerAnswerHeader = "Trustid-Peer-Answer"

// PeerAnswerType is the JWS typ of a signed peer answer.
const PeerAnswerType = "trustid-peer-answer+jwt"

// Errors of a peer answer's signature, each wrapped with
// qrcode.ErrPeer by HTTPPeers (and by federation's introspection).
var (
	ErrAnswerUnsigned = errors.New("redeem: the peer's answer is not signed")
	ErrAnswerInvalid  = errors.New("redeem: the peer's answer signature is not its region's")
	ErrAnswerMismatch = errors.New("redeem: the peer's signed answer is not for this request")
)

// PeerAnswerSigner signs this node's answer to an authenticated
// node-to-node request r from region (NodeAssertions): the value of
// PeerAnswerHeader. Safe for concurrent use.
type PeerAnswerSigner interface {
	SignAnswer(r *http.Request, region string, status int, body []byte) (string, error)
}

// PeerAnswerVerifier checks the value sig of PeerAnswerHeader on region's
// answer (status, body) to req, a request this node sent with its node
// assertion (NodeAssertions). Errors match ErrAnswerUnsigned,
// ErrAnswerInvalid or ErrAnswerMismatch, and the registry's refusal of
// the key. Safe for concurrent use.
type PeerAnswerVerifier interface {
	VerifyAnswer(ctx context.Context, req *http.Request, region string, status int, body []byte, sig string) error
}

var (
	_ PeerAnswerSigner   = (*NodeAssertions)(nil)
	_ PeerAnswerVerifier = (*NodeAssertions)(nil)
)

// answerClaims are the claims of a signed peer answer.
type answerClaims struct {
	jwt.RegisteredClaims
	InReplyTo string `json:"in_reply_to"`
	Status    int    `json:"status"`
	BodySM3   string `json:"body_sm3"`
}

// assertionID returns the jti of the node assertion in r's Authorization
// header (not verified here: the callee verified it with
// AuthenticatePeer, the caller made it).
func assertionID(r *http.Request) (string, error) {
	tok, err := nodeAssertion(r)
	if err != nil {
		return "", err
	}
	var c jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(tok, &c); err != nil || c.ID == "" || len(c.ID) > 128 {
		return "", errors.New("node assertion without jti")
	}
	return c.ID, nil
}

// SignAnswer implements PeerAnswerSigner.
func (n *NodeAssertions) SignAnswer(r *http.Request, region string, status int, body []byte) (string, error) {
	jti, err := assertionID(r)
	if err != nil {
		return "", err
	}
	signer, kid, err := n.signingKey()
	if err != nil {
		return "", err
	}
	m, err := gm.SigningMethod(signer)
	if err != nil {
		return "", err
	}
	t := jwt.NewWithClaims(m, answerClaims{RegisteredClaims: jwt.RegisteredClaims{
		Issuer: "trustid-node:" + n.Region, Audience: jwt.ClaimStrings{"trustid-node:" + region},
	}, InReplyTo: jti, Status: status, BodySM3: bodyDigest(body)})
	t.Header["kid"], t.Header["typ"] = kid, PeerAnswerType
	return t.SignedString(signer)
}

// answerParser is the one parser of signed answers (built once: it is on
// every peer call's path); the issuer and audience, which depend on the
// call, are checked after it.
var answerParser = sync.OnceValues(func() (*gm.JWTParser, error) { return gm.NewJWTParser(gm.JWTAlgorithms) })

// VerifyAnswer implements PeerAnswerVerifier: the signature must be by a
// usable key of region in the registry (Keys), for this node, in reply to
// req's assertion, over this status and body.
func (n *NodeAssertions) VerifyAnswer(ctx context.Context, req *http.Request, region string, status int, body []byte, sig string) error {
	if sig == "" {
		return ErrAnswerUnsigned
	}
	if len(sig) > 4096 {
		return fmt.Errorf("%w: oversized", ErrAnswerInvalid)
	}
	jti, err := assertionID(req)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrAnswerMismatch, err)
	}
	parser, err := answerParser()
	if err != nil {
		return err
	}
	var c answerClaims
	var keyErr error
	_, err = parser.ParseWithClaims(sig, &c, func(t *jwt.Token) (any, error) {
		if typ, _ := t.Header["typ"].(string); typ != PeerAnswerType {
			return nil, errors.New("typ is not " + PeerAnswerType)
		}
		kid, _ := t.Header["kid"].(string)
		pub, alg, err := n.Keys.RegionKey(ctx, region, kid)
		if err != nil {
			keyErr = err
			return nil, err
		}
		if alg != t.Method.Alg() {
			return nil, fmt.Errorf("alg %s, the registry key's is %s", t.Method.Alg(), alg)
		}
		return pub, nil
	})
	switch {
	case keyErr != nil:
		return fmt.Errorf("%w: %w", ErrAnswerInvalid, keyErr)
	case err != nil:
		return fmt.Errorf("%w: %v", ErrAnswerInvalid, err)
	case c.Issuer != "trustid-node:"+region:
		return fmt.Errorf("%w: issued by another node than region %s's", ErrAnswerInvalid, region)
	case !slices.Contains(c.Audience, "trustid-node:"+n.Region):
		return fmt.Errorf("%w: for another node", ErrAnswerMismatch)
	case subtle.ConstantTimeCompare([]byte(c.InReplyTo), []byte(jti)) != 1:
		return fmt.Errorf("%w: in reply to another request", ErrAnswerMismatch)
	case c.Status != status:
		return fmt.Errorf("%w: signed status %d, answered %d", ErrAnswerMismatch, c.Status, status)
	case subtle.ConstantTimeCompare([]byte(c.BodySM3), []byte(bodyDigest(body))) != 1:
		return fmt.Errorf("%w: another body", ErrAnswerMismatch)
	}
	return nil
}
