package api

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/trustid-cn/trustid/auth"
	"github.com/trustid-cn/trustid/internal/authheader"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/qrcode/redeem"
)

// QRConfig wires the QR identity code routes. Routes whose dependencies
// are nil are not mounted.
type QRConfig struct {
	// Service issues and redeems online codes: POST /v1/qr (with Holders)
	// and POST /v1/qr/verify (protected by auth.ScopeQRRedeem).
	Service *redeem.Service
	// Holders authenticates the holder app's device-signed requests.
	Holders redeem.HolderAuthenticator
	// Peers authenticates other regions' nodes for
	// POST /v1/qr/peer/redeem, and PeerAnswers signs the answers to them
	// (redeem.PeerAnswerHeader); both or neither.
	Peers       redeem.PeerAuthenticator
	PeerAnswers redeem.PeerAnswerSigner
	// Verifier checks static codes before POST /v1/qr/static renders them,
	// so a revoked or forged code is never printed.
	Verifier *qrcode.Verifier
	// Limiter counts Limits (per source address, and per calling region
	// and relying party on the peer route) and ForwardLimit: nil disables
	// them (the QR load test runs without).
	Limiter Limiter
	// Limits are those limits; nil means DefaultQRLimits. A zero
	// RateLimit in it disables that one.
	Limits *QRLimits
	// ForwardLimit counts, with Limiter, the online codes of other
	// regions each authenticated client redeems at POST /v1/qr/verify,
	// which the node forwards to their regions' nodes, before anything
	// is sent: over it, 429 and nothing is forwarded. This region's codes
	// and offline codes are not counted. nil means
	// DefaultQRForwardLimit.
	ForwardLimit *RateLimit
	// ForwardRegion and ForwardFloor share out what another region's
	// node grants this region (its QRLimits.PeerRegion) among this
	// region's clients: each client's first codes of a region, up to
	// ForwardFloor, are its own; beyond, every client's codes of that
	// region count against one ForwardRegion for the region, so that
	// clients at their ForwardLimit use up ForwardRegion, not the other
	// region's grant, and every other client still has its floor. Over
	// ForwardRegion, 429 and nothing is forwarded. Both are counted after
	// ForwardLimit, with Limiter. nil means DefaultQRForwardRegion,
	// DefaultQRForwardFloor.
	ForwardRegion *RateLimit
	ForwardFloor  *RateLimit
}

// QRLimits are the limits of the QR routes open to callers without a
// token.
type QRLimits struct {
	// Issue limits POST /v1/qr per source address: each call checks a
	// device signature and spends a nonce.
	Issue RateLimit
	// Static limits POST /v1/qr/static per source address: each call
	// verifies a code and renders an image.
	Static RateLimit
	// PeerRedeem limits POST /v1/qr/peer/redeem per source address,
	// before the node assertion is checked: it bounds the signature
	// checks any one address can cause. It is set above PeerRegion, so
	// that a region's node (one address) is held by its region's limit,
	// not by this one.
	PeerRedeem RateLimit
	// PeerParty and PeerRegion limit the calls of authenticated nodes on
	// POST /v1/qr/peer/redeem: per calling region and the relying party
	// the request names (which the node assertion covers, body_sm3),
	// counted first, then per calling region. A call refused for its
	// party does not count against its region: one party cannot use up
	// the redemptions of its region's other parties.
	PeerParty  RateLimit
	PeerRegion RateLimit
}

// DefaultQRLimits: 120 issues a minute per address (a phone refreshes
// its code every 30 to 60 s; many phones share a carrier's address), 60
// static renders a minute (printing is an operator's occasional act).
// Each region's node is granted 3,000 redemptions a minute (one node
// speaks for many verifiers), each of its relying parties 1,200 of them
// (twice DefaultQRForwardLimit, what the party's home node lets it send),
// so at least three parties of a region must each send at their limit
// to use up its region's; an address is allowed 6,000 calls a minute
// (twice a region's grant, so a region's node reaches its region's
// limit first; an address sending forged assertions gets a burst of
// 6,000 SM2 verifications, then 100 a second, some 5 ms of a core a
// second at 49.8 µs each, docs/BENCHMARKS.md). Each is a GCRA limit: a
// burst of the limit, then the limit spread over the window.
var DefaultQRLimits = QRLimits{
	Issue:      RateLimit{Limit: 120, Window: time.Minute},
	Static:     RateLimit{Limit: 60, Window: time.Minute},
	PeerRedeem: RateLimit{Limit: 6000, Window: time.Minute},
	PeerParty:  RateLimit{Limit: 1200, Window: time.Minute},
	PeerRegion: RateLimit{Limit: 3000, Window: time.Minute},
}

// DefaultQRForwardLimit limits each relying party to 600 redemptions a
// minute of other regions' online codes at POST /v1/qr/verify (a burst
// of 600, then 10 a second): visitors from other regions. A redemption
// is a person showing a code to a reader, a few seconds each: 10 a
// second is some thirty readers busy with visitors without a pause. It
// is below
// what another region's node grants one party
// (DefaultQRLimits.PeerParty), so a party within it is never refused
// there, and no party can use up its region's redemptions at another
// region (SECURITY.md, known gap 26).
var DefaultQRForwardLimit = RateLimit{Limit: 600, Window: time.Minute}

// DefaultQRForwardRegion and DefaultQRForwardFloor: each client's first
// 60 codes a minute of another region are its own; beyond, all clients
// share 2,400 a minute of that region's codes. What the node sends one
// region is then at most 2,400 a minute plus 60 for each client sending
// at once: within another region's grant to this one
// (DefaultQRLimits.PeerRegion, 3,000) for ten clients at once, so five
// clients at their DefaultQRForwardLimit (3,000 together) use up the
// shared 2,400 at this node, and every other client is still served its
// 60 a minute (SECURITY.md, known gap 26).
var (
	DefaultQRForwardRegion = RateLimit{Limit: 2400, Window: time.Minute}
	DefaultQRForwardFloor  = RateLimit{Limit: 60, Window: time.Minute}
)

// maxQRBody bounds QR request bodies: a holder request carries a binding
// of about 170 bytes, base64-encoded.
const maxQRBody = 8 << 10

// MountQR registers the QR routes. POST /v1/qr, POST /v1/qr/static and
// POST /v1/qr/peer/redeem are rate-limited per source address, the
// latter also per calling region and party (QRConfig.Limits); POST
// /v1/qr/verify needs a token, and the codes it forwards to other
// regions are limited per client (QRConfig.ForwardLimit).
func (s *Server) MountQR(cfg QRConfig) error {
	limits := DefaultQRLimits
	if cfg.Limits != nil {
		limits = *cfg.Limits
	}
	if (cfg.Peers == nil) != (cfg.PeerAnswers == nil) {
		return errors.New("api: QRConfig.Peers and PeerAnswers go together")
	}
	limits.Issue.Name, limits.Static.Name, limits.PeerRedeem.Name = "qr-issue-addr", "qr-static-addr", redeem.PeerLimitAddress
	limits.PeerParty.Name, limits.PeerRegion.Name = redeem.PeerLimitParty, redeem.PeerLimitRegion
	forwardLimit := clientLimitOr(cfg.ForwardLimit, DefaultQRForwardLimit, "qr-forward-client")
	forwardRegion := clientLimitOr(cfg.ForwardRegion, DefaultQRForwardRegion, "qr-forward-region")
	forwardFloor := clientLimitOr(cfg.ForwardFloor, DefaultQRForwardFloor, "qr-forward-floor")
	limited := func(rl RateLimit, h func(http.ResponseWriter, *http.Request, QRConfig) error) http.Handler {
		return s.rateLimit(cfg.Limiter, rl, ClientAddress, errorHandler(s, func(w http.ResponseWriter, r *http.Request) error { return h(w, r, cfg) }))
	}
	if cfg.Service != nil && cfg.Holders != nil {
		s.handle("POST /v1/qr", limited(limits.Issue, qrIssue))
	}
	if cfg.Service != nil {
		s.handle("POST /v1/qr/verify", s.protect(auth.ScopeQRRedeem, errorHandler(s, func(w http.ResponseWriter, r *http.Request) error {
			forwarding := func(region string) error {
				client := AuthenticatedClient(r)
				if err := s.checkRate(w, r, cfg.Limiter, forwardLimit, client); err != nil {
					return err
				}
				return s.checkShare(w, r, cfg.Limiter, forwardFloor, region+" "+client, forwardRegion, region)
			}
			return qrRedeem(w, r, s.log, cfg, forwarding)
		})))
	}
	if cfg.Service != nil && cfg.Peers != nil {
		s.handle("POST "+redeem.PeerRedeemPath, s.rateLimit(cfg.Limiter, limits.PeerRedeem, ClientAddress, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			qrPeerRedeem(s, w, r, cfg, limits)
		})))
	}
	if cfg.Verifier != nil {
		s.handle("POST /v1/qr/static", limited(limits.Static, qrStatic))
	}
	return nil
}

// errorHandler adapts an error-returning handler for wrapping (protect).
func errorHandler(s *Server, h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			writeError(w, r, s.log, err)
		}
	})
}

// decodeQRBody reads one JSON object strictly (see decodeBody).
func decodeQRBody(r *http.Request, v any) error {
	return decodeBody(r, maxQRBody, v, invalidRequest, "with the documented fields")
}

// qrIssueResponse is the answer to POST /v1/qr.
type qrIssueResponse struct {
	Code      string    `json:"code"`
	Region    string    `json:"region"`
	ExpiresAt time.Time `json:"expires_at"`
	ExpiresIn int       `json:"expires_in"`
}

func qrIssue(w http.ResponseWriter, r *http.Request, cfg QRConfig) error {
	var req qrcode.HolderRequest
	if err := decodeQRBody(r, &req); err != nil {
		return err
	}
	h, err := cfg.Holders.AuthenticateHolder(r.Context(), &req, qrcode.PurposeOnlineCode)
	if err != nil {
		return err
	}
	is, err := cfg.Service.Issue(r.Context(), h, req.Consent)
	if err != nil {
		return err
	}
	writeJSONStatus(w, http.StatusCreated, qrIssueResponse{
		Code: is.Text, Region: cfg.Service.Region(), ExpiresAt: is.ExpiresAt.UTC(), ExpiresIn: int((is.ExpiresIn + time.Second - 1) / time.Second),
	})
	return nil
}

type qrRedeemRequest struct {
	Code string `json:"code"`
	// Action is what a delegated offline code is presented for
	// (qrcode.VerifyOptions.Action); offline codes only.
	Action string `json:"action,omitempty"`
}

// qrRedeem serves POST /v1/qr/verify; forwarding counts a redemption
// the node forwards to region (QRConfig.ForwardLimit, ForwardFloor,
// ForwardRegion). A refusal by that region's limits is logged with the
// party it was for and the limit that region names.
func qrRedeem(w http.ResponseWriter, r *http.Request, log *slog.Logger, cfg QRConfig, forwarding func(region string) error) error {
	p, ok := PrincipalFrom(r.Context())
	if !ok {
		return &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Message: "no authenticated caller"}
	}
	var req qrRedeemRequest
	if err := decodeQRBody(r, &req); err != nil {
		return err
	}
	var (
		red *redeem.Redemption
		err error
	)
	// A code that is not one (prefix, version, size) is refused as such,
	// with or without an action.
	switch k, kerr := qrcode.DetectKind(req.Code); {
	case kerr != nil:
		return kerr
	case k == qrcode.KindOffline:
		red, err = cfg.Service.VerifyOffline(r.Context(), p.ClientID, req.Code, req.Action)
	case req.Action != "":
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "action applies to offline codes only"}
	default:
		// Another region's code is forwarded to its node, which grants
		// this region's parties a share of its redemptions: each client
		// counts its own (QRConfig.ForwardLimit), and shares the grant
		// with the others beyond its floor (ForwardRegion).
		if region, ok := cfg.Service.Forwards(req.Code); ok {
			if err := forwarding(region); err != nil {
				return err
			}
		}
		red, err = cfg.Service.Redeem(r.Context(), p.ClientID, req.Code)
	}
	// The code's region is over its limits for this region or the
	// caller: the caller waits as that region's node asked (bounded),
	// and the log names the party (a client ID: no personal data), which
	// the other region's answer does not, and the limit, which it does.
	var limited *redeem.PeerLimitedError
	if errors.As(err, &limited) {
		w.Header().Set("Retry-After", strconv.FormatInt(int64(limited.RetryAfter/time.Second), 10))
		log.LogAttrs(r.Context(), slog.LevelWarn, "another region refused a forwarded redemption for its limits",
			slog.String("request_id", requestID(r.Context())), slog.String("client_id", p.ClientID),
			slog.String("region", limited.Region), slog.String("limit", limited.Limit),
			slog.Duration("retry_after", limited.RetryAfter))
	}
	if err != nil {
		return err
	}
	writeRedemption(w, red)
	return nil
}

// qrPeerRedeem redeems a code of this region for another region's node;
// every answer to an authenticated node is signed (signedPeerAnswer).
// The call counts against limits.PeerParty for the calling region and the
// party it names, then against limits.PeerRegion, before anything is
// redeemed.
func qrPeerRedeem(s *Server, w http.ResponseWriter, r *http.Request, cfg QRConfig, limits QRLimits) {
	region, err := cfg.Peers.AuthenticatePeer(r)
	if e := malformedPeerAuthorization(w, err); e != nil {
		err = e
	}
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	s.signedPeerAnswer(w, r, cfg.PeerAnswers, region, func(w http.ResponseWriter) {
		var req redeem.PeerRedeemRequest
		if err := decodeQRBody(r, &req); err != nil {
			writeError(w, r, s.log, err)
			return
		}
		// The party first: its refused calls leave its region's budget
		// to the region's other parties.
		if err := s.checkRate(w, r, cfg.Limiter, limits.PeerParty, region+" "+req.ClientID); err != nil {
			writeError(w, r, s.log, namedLimit(err, limits.PeerParty))
			return
		}
		if err := s.checkRate(w, r, cfg.Limiter, limits.PeerRegion, region); err != nil {
			writeError(w, r, s.log, namedLimit(err, limits.PeerRegion))
			return
		}
		red, err := cfg.Service.RedeemForPeer(r.Context(), region, req)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		writeJSON(w, red)
	})
}

// namedLimit is checkRate's error err with, when it is a refusal (429),
// the name of the limit rl that refused it, which the answer to the
// calling node names (Error.Limit; redeem.PeerLimitParty,
// redeem.PeerLimitRegion) with its wait (Error.RetryAfter, the
// Retry-After header's seconds), both under the answer's signature: a
// limiter that failed is no limit's refusal.
func namedLimit(err error, rl RateLimit) error {
	if e, ok := err.(*Error); ok && e.Status == http.StatusTooManyRequests {
		e.Limit = rl.Name
	}
	return err
}

// malformedPeerAuthorization is the answer to a node-to-node request
// whose Authorization header is malformed (two of them, or Bearer
// without a node assertion: authheader.ErrMalformed, which
// AuthenticatePeer's reader reports as every route's does): RFC 6750
// §3.1 invalid_request, 400, with its challenge, as any route that
// takes a Bearer credential answers it. Nil for any other error.
func malformedPeerAuthorization(w http.ResponseWriter, err error) *Error {
	if !errors.Is(err, authheader.ErrMalformed) {
		return nil
	}
	w.Header().Set("WWW-Authenticate", `Bearer error="invalid_request"`)
	return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "the Authorization header must be one Bearer node assertion", Err: err}
}

// maxStaticForm bounds POST /v1/qr/static's form: a code of the
// decoders' 1400 characters, each percent-encoded at worst.
const maxStaticForm = 8 << 10

// qrStatic renders a static code for printing: POST /v1/qr/static with
// the form code=TIDST1:...&format=png|svg&size=N in the body (a static
// code carries a masked name and number: never in a URL, which proxies
// and browsers keep). The code is verified first (signature, validity,
// status).
func qrStatic(w http.ResponseWriter, r *http.Request, cfg QRConfig) error {
	q, err := readForm(r, maxStaticForm)
	if err != nil {
		return err
	}
	for name := range q {
		if name != "code" && name != "format" && name != "size" {
			return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "the form takes code, format and size, once each"}
		}
	}
	size := 0
	if s := q["size"]; s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < qrcode.MinImageSize || n > qrcode.MaxImageSize {
			return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: fmt.Sprintf("size must be %d to %d pixels", qrcode.MinImageSize, qrcode.MaxImageSize)}
		}
		size = n
	}
	format := q["format"]
	if format == "" {
		format = "png"
	}
	if format != "png" && format != "svg" {
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "format must be png or svg"}
	}
	code := q["code"]
	if k, err := qrcode.DetectKind(code); err != nil {
		return err
	} else if k != qrcode.KindStatic {
		return fmt.Errorf("%w: want a static code", qrcode.ErrKind)
	}
	if _, err := cfg.Verifier.VerifyStatic(r.Context(), code); err != nil {
		return err
	}
	sym, err := qrcode.Encode(code, qrcode.Medium)
	if err != nil {
		return err
	}
	if size != 0 && size < sym.Modules {
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: fmt.Sprintf("size must be at least %d pixels for this code (one a module)", sym.Modules)}
	}
	var body []byte
	if format == "svg" {
		body, err = sym.SVG(size)
		w.Header().Set("Content-Type", "image/svg+xml")
	} else {
		body, err = sym.PNG(size)
		w.Header().Set("Content-Type", "image/png")
	}
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
	return nil
}

// qrErrors maps the qrcode package's errors. Codes shared with the
// node-to-node protocol match qrcode.ErrorCode (TestQRErrorCodesMatch).
// Only a peer node's assertion, sent as a Bearer credential, is
// answered 401 (with its challenge, writeError). A holder's device
// signature is in the body, as is a code's issuer signature: no HTTP
// authentication scheme carries them, so no 401 could carry a challenge
// for them (RFC 9110 §15.5.2); their refusals are 403, credentials
// "insufficient to grant access" (§15.5.4), as a revoked binding's are.
var qrErrors = []mapping{
	{qrcode.ErrCodeUsed, http.StatusConflict, "qr_code_used", "the code was already redeemed or is unknown"},
	{qrcode.ErrCodeExpired, http.StatusGone, "qr_code_expired", "the code has expired"},
	{qrcode.ErrNoRoute, http.StatusUnprocessableEntity, "qr_no_route", "the code belongs to a region this node cannot reach"},
	{qrcode.ErrWrongRegion, http.StatusUnprocessableEntity, "qr_wrong_region", "the code belongs to another region"},
	{qrcode.ErrUnknownVerifier, http.StatusForbidden, "qr_unknown_verifier", "the relying party is not registered for QR redemption"},
	{qrcode.ErrPeerLimited, http.StatusTooManyRequests, CodeRateLimited, "the code's region is over its limits for this region's redemptions; retry later"},
	{qrcode.ErrPeerAuth, http.StatusUnauthorized, "qr_peer_unauthorized", "node authentication failed"},
	{qrcode.ErrHolderAuth, http.StatusForbidden, "qr_holder_unauthorized", "the device-signed request is invalid, stale or replayed"},
	{qrcode.ErrRevoked, http.StatusForbidden, "qr_revoked", "the device binding or code is revoked"},
	{qrcode.ErrSuspended, http.StatusForbidden, "qr_suspended", "the device binding or code is suspended"},
	{qrcode.ErrBindingExpired, http.StatusForbidden, "qr_binding_expired", "the device binding or code is expired"},
	{qrcode.ErrDelegationScope, http.StatusForbidden, "qr_delegation_scope", "the action is outside the delegation's scope"},
	{qrcode.ErrDelegationExpired, http.StatusForbidden, "qr_delegation_expired", "the delegation is expired or not yet valid"},
	{qrcode.ErrDelegation, http.StatusForbidden, "qr_delegation_invalid", "the delegation is invalid"},
	{qrcode.ErrUnknownKey, http.StatusForbidden, "qr_unknown_key", "the code is signed by an unknown issuer key"},
	{qrcode.ErrSignature, http.StatusForbidden, "qr_bad_signature", "a signature does not verify"},
	{qrcode.ErrStale, http.StatusBadRequest, "qr_stale", "the code is outside the freshness window"},
	{qrcode.ErrChallenge, http.StatusBadRequest, "qr_challenge_mismatch", "the challenge does not match"},
	{qrcode.ErrAudience, http.StatusBadRequest, "qr_audience_mismatch", "the code is for another verifier"},
	{qrcode.ErrReplayed, http.StatusConflict, "qr_replayed", "the code was already presented"},
	{qrcode.ErrCloneSuspected, http.StatusConflict, "qr_clone_suspected", "the device counter went backwards"},
	{qrcode.ErrConsent, http.StatusBadRequest, "qr_invalid_consent", "consent names a claim that is not attested"},
	{qrcode.ErrUnknownStatusList, http.StatusUnprocessableEntity, "qr_unknown_status_list", "the code names a status list its region does not have; it cannot be verified"},
	{qrcode.ErrStatusUnavailable, http.StatusServiceUnavailable, CodeUnavailable, "status is temporarily unavailable"},
	{qrcode.ErrUnavailable, http.StatusServiceUnavailable, CodeUnavailable, "temporarily unavailable, retry"},
	{qrcode.ErrPeer, http.StatusBadGateway, "qr_peer_failed", "the code's region did not answer correctly"},
	{qrcode.ErrTooLarge, http.StatusRequestEntityTooLarge, "qr_too_large", "the code is too large"},
	{qrcode.ErrVersion, http.StatusBadRequest, "qr_unsupported_version", "unsupported code version"},
	{qrcode.ErrKind, http.StatusBadRequest, "qr_wrong_kind", "wrong kind of code for this endpoint"},
	{qrcode.ErrPrefix, http.StatusBadRequest, "qr_malformed", "not a TrustID code"},
	{qrcode.ErrTruncated, http.StatusBadRequest, "qr_malformed", "the code is truncated"},
	{qrcode.ErrTrailingData, http.StatusBadRequest, "qr_malformed", "data after the code"},
	{qrcode.ErrDuplicateField, http.StatusBadRequest, "qr_malformed", "the code repeats a field"},
	{qrcode.ErrUnknownField, http.StatusBadRequest, "qr_malformed", "the code has an unknown field"},
	{qrcode.ErrNonCanonical, http.StatusBadRequest, "qr_malformed", "the code is not in its canonical encoding"},
	{qrcode.ErrMalformed, http.StatusBadRequest, "qr_malformed", "the code is malformed"},
	{qrcode.ErrBase45, http.StatusBadRequest, "qr_malformed", "the code is not valid base45"},
	{qrcode.ErrInvalidArgument, http.StatusBadRequest, CodeInvalidRequest, "invalid argument"},
}
