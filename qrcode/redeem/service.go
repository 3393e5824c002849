package redeem

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"

	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/identity"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/store"
)

// TokenStore is the part of the ephemeral store the online service uses;
// store.Memory and redisstore.Store satisfy it. Put must refuse to overwrite a
// live token; Consume must atomically return and delete it, so that of
// concurrent callers exactly one gets the value and the others get an
// error matching store.ErrNotFound (as do callers after expiry).
type TokenStore interface {
	Put(ctx context.Context, key string, value []byte, ttl time.Duration) error
	Consume(ctx context.Context, key string) ([]byte, error)
}

// Holder is an authenticated holder: the facts of the device binding that
// signed the request, as a HolderAuthenticator established them.
type Holder struct {
	Subject   []byte // symbol-derived subject
	Assurance int
	Region    uint32 // the binding's issuing region
	Status    qrcode.StatusRef
	// Claims are the attested claims the holder may release, by name.
	Claims map[string]string
	// Expiry is the binding's: a code issued for it expires no later
	// (zero: no bound but the code's TTL).
	Expiry time.Time
}

// RelyingParty is a verifier's registration as QR redemption sees it: its
// client ID, its sector identifier (pairwise IDs are per sector; empty
// when it registered none, and its IDs are then per client ID) and the
// claims it may receive. The node's full record of a relying party is
// auth.Client (enrollment.QRRelyingParties makes this view of it), and
// its ledger record is chaincode.RelyingParty.
type RelyingParty struct {
	ClientID      string   `json:"client_id"`
	Sector        string   `json:"sector,omitempty"`
	AllowedClaims []string `json:"allowed_claims,omitempty"`
}

// PairwiseSector is what the party's pairwise IDs are derived for: its
// sector identifier, or its client ID when it registered none. The two
// kinds are separated in the derivation, so a client ID never meets a
// sector identifier of the same text.
func (rp RelyingParty) PairwiseSector() identity.Sector {
	if rp.Sector != "" {
		return identity.Sector{Kind: identity.SectorIdentifier, Name: rp.Sector}
	}
	return identity.Sector{Kind: identity.SectorClientID, Name: rp.ClientID}
}

// check validates a relying party another node asks for, before anything
// is spent for it: a client ID, a valid sector (a lower-case DNS host or
// none) and at most MaxClaims well-formed claim names.
func (rp RelyingParty) check() error {
	if rp.ClientID == "" {
		return fmt.Errorf("%w: relying party without a client ID", qrcode.ErrInvalidArgument)
	}
	if err := rp.PairwiseSector().Check(); err != nil {
		return fmt.Errorf("%w: relying party: %w", qrcode.ErrInvalidArgument, err)
	}
	if len(rp.AllowedClaims) > qrcode.MaxClaims {
		return fmt.Errorf("%w: relying party with more than %d claims", qrcode.ErrInvalidArgument, qrcode.MaxClaims)
	}
	for _, name := range rp.AllowedClaims {
		if !qrcode.ValidToken(name) {
			return fmt.Errorf("%w: relying party claim %q", qrcode.ErrInvalidArgument, clip(name))
		}
	}
	return nil
}

// RelyingParties looks up a verifier's registration. It returns an error
// matching ErrUnknownVerifier for a client that is not registered (or not
// allowed to redeem QR codes). Safe for concurrent use.
type RelyingParties interface {
	RelyingParty(ctx context.Context, clientID string) (RelyingParty, error)
}

// PairwiseDeriver derives a relying party's pseudonymous ID for a holder
// from the symbol-derived subject and the party's sector
// (RelyingParty.PairwiseSector). The same inputs always give the same ID;
// different sectors give unlinkable IDs. Safe for concurrent use.
type PairwiseDeriver interface {
	Pairwise(subject []byte, sector identity.Sector) (string, error)
}

// PeerRedeemer forwards a redemption to the node of another region. It
// returns an error matching ErrNoRoute when it has no peer for region, and
// the peer's error (ErrCodeUsed, ErrCodeExpired...) when the peer refused.
type PeerRedeemer interface {
	RedeemAt(ctx context.Context, region string, rp RelyingParty, code string) (*Redemption, error)
}

// Redemption is all a verifier learns from an online code.
type Redemption struct {
	// PairwiseID is the verifier's own pseudonymous ID for the holder.
	PairwiseID string `json:"pairwise_id"`
	Assurance  int    `json:"assurance_level"`
	// Region is the issuing region, six digits.
	Region string `json:"region"`
	// Claims are those both consented to by the holder for this code and
	// allowed by the verifier's registration.
	Claims map[string]string `json:"claims,omitempty"`
	// Act is set for a delegated offline code (Service.VerifyOffline):
	// PairwiseID is then the principal's, Act names who presented the
	// code for them, and Action is what the delegation allowed.
	Act    *Actor `json:"act,omitempty"`
	Action string `json:"action,omitempty"`
}

// Actor is who presented a delegated code, as the verifier knows them.
type Actor struct {
	// PairwiseID is the verifier's own pseudonymous ID for the actor
	// (what the actor's own codes give it).
	PairwiseID string `json:"pairwise_id"`
	// Relationship is the delegation's: guardian, family or agent.
	Relationship string `json:"relationship"`
}

// Defaults of ServiceConfig.
const (
	DefaultCodeTTL = 60 * time.Second
)

// ServiceConfig configures NewService.
type ServiceConfig struct {
	// Region is this node's region, e.g. "310000". Required.
	Region string
	// Store keeps the redemption records. Required.
	Store TokenStore
	// Pairwise derives verifiers' pairwise IDs. Required.
	Pairwise PairwiseDeriver
	// RelyingParties resolves verifiers. Required.
	RelyingParties RelyingParties
	// Status checks, at redemption, the status entry of the device
	// binding a code was issued for: a binding revoked or suspended after
	// the code was issued makes the code fail (ErrRevoked, ErrSuspended),
	// and a status source that
	// cannot answer makes it fail too (ErrStatusUnavailable): it fails
	// closed. A node passes the checker its holder authenticator uses
	// (its own current lists), so a revocation takes effect at once.
	// Required.
	Status qrcode.StatusChecker
	// Peers forwards codes of other regions; nil means none (ErrNoRoute).
	Peers PeerRedeemer
	// PeerParties resolves, from the trust registry, the relying parties
	// other regions' nodes redeem for (RedeemForPeer); nil refuses every
	// peer redemption (ErrUnknownVerifier).
	PeerParties PeerParties
	// Offline and Nonces let VerifyOffline verify offline codes (of any
	// region) for relying parties, each presentation once; nil: it
	// refuses them (qrcode.ErrKind).
	Offline OfflineVerifier
	Nonces  NonceStore
	// OnPeerRefuse, if set, is told when RedeemForPeer refuses a code a
	// calling node forwarded that is not of this region (ErrWrongRegion),
	// for metrics; refusals of the party are PeerParties' to report. It
	// must not block.
	OnPeerRefuse func(error)
	// TTL is how long a code can be redeemed. Zero means DefaultCodeTTL.
	TTL time.Duration
	// Grace is how long after TTL a record is kept so that a late
	// redemption gets ErrCodeExpired rather than ErrCodeUsed. Zero means
	// TTL; negative means none.
	Grace time.Duration
	// Rand makes references and record nonces; nil means crypto/rand.
	Rand io.Reader
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Service issues and redeems online codes. The record behind a code is
// stored under the reference, sealed with SM4-GCM under a key derived from
// the reference itself: the store (Redis) sees neither the reference (it
// hashes keys) nor the record's content, and only a caller holding the code
// can open it. It is safe for concurrent use.
type Service struct {
	cfg    ServiceConfig
	region uint32
}

// NewService returns the online code service.
func NewService(cfg ServiceConfig) (*Service, error) {
	region, err := qrcode.ParseRegion(cfg.Region)
	if err != nil {
		return nil, err
	}
	if cfg.Store == nil || cfg.Pairwise == nil || cfg.RelyingParties == nil || cfg.Status == nil {
		return nil, fmt.Errorf("%w: the QR service needs a store, a pairwise deriver, the relying parties and a status checker", qrcode.ErrInvalidArgument)
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultCodeTTL
	}
	if cfg.Grace == 0 {
		cfg.Grace = cfg.TTL
	} else if cfg.Grace < 0 {
		cfg.Grace = 0
	}
	if cfg.Rand == nil {
		cfg.Rand = defaultRand
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{cfg: cfg, region: region}, nil
}

// Region returns the node's region.
func (s *Service) Region() string { return s.cfg.Region }

// TTL returns how long codes can be redeemed.
func (s *Service) TTL() time.Duration { return s.cfg.TTL }

// record is what the store keeps for a code (sealed).
type record struct {
	Subject   []byte            `cbor:"1,keyasint"`
	Assurance uint8             `cbor:"2,keyasint"`
	Region    uint32            `cbor:"3,keyasint"`
	Expiry    int64             `cbor:"4,keyasint"` // unix milliseconds
	Claims    map[string]string `cbor:"5,keyasint,omitempty"`
	// The status reference of the holder's device binding, checked at
	// redemption. Required: a record without it (one written by an
	// older version) is refused.
	StatusRegion *uint32 `cbor:"6,keyasint"`
	StatusList   *uint32 `cbor:"7,keyasint"`
	StatusIndex  *uint32 `cbor:"8,keyasint"`
}

// Issued is a freshly issued online code.
type Issued struct {
	Code      qrcode.OnlineCode
	Text      string // the payload to render
	ExpiresAt time.Time
	// ExpiresIn is ExpiresAt less the time of issue: the TTL, or less
	// when the holder's binding expires first.
	ExpiresIn time.Duration
}

// Issue makes an online code for an authenticated holder. consent names
// the claims the holder agrees to release with this code; each must be
// among the holder's attested claims (ErrConsent otherwise). The record
// keeps only the subject, assurance, region, expiry, the consented claims
// and the binding's status reference (h.Status, checked again at
// redemption) — never a document number or a name. The code expires after
// the TTL, or with the holder's binding (h.Expiry) when that comes first;
// a binding expired already is qrcode.ErrBindingExpired.
func (s *Service) Issue(ctx context.Context, h Holder, consent []string) (*Issued, error) {
	if len(h.Subject) < qrcode.MinSubjectSize || len(h.Subject) > qrcode.MaxSubjectSize {
		return nil, fmt.Errorf("%w: holder: %w: subject must be %d to %d bytes", qrcode.ErrInvalidArgument, qrcode.ErrMalformed, qrcode.MinSubjectSize, qrcode.MaxSubjectSize)
	}
	if h.Assurance < qrcode.AssuranceDocument || h.Assurance > qrcode.AssuranceBiometric {
		return nil, fmt.Errorf("%w: holder assurance %d", qrcode.ErrInvalidArgument, h.Assurance)
	}
	if len(consent) > qrcode.MaxClaims {
		return nil, fmt.Errorf("%w: more than %d claims", qrcode.ErrConsent, qrcode.MaxClaims)
	}
	var claims map[string]string
	for _, name := range consent {
		v, ok := h.Claims[name]
		if !ok || !qrcode.ValidToken(name) || len(v) > qrcode.MaxClaimLen || !utf8.ValidString(v) {
			return nil, fmt.Errorf("%w: claim %q is not attested for this holder", qrcode.ErrConsent, clip(name))
		}
		if claims == nil {
			claims = make(map[string]string, len(consent))
		}
		claims[name] = v
	}
	now := s.cfg.Now()
	exp := now.Add(s.cfg.TTL)
	if !h.Expiry.IsZero() && h.Expiry.Before(exp) {
		// A code answers for its binding: not past the binding's expiry,
		// when an offline code of it is refused too.
		exp = h.Expiry
	}
	if !now.Before(exp) {
		return nil, qrcode.ErrBindingExpired
	}
	st := h.Status
	rec := marshalRecord(record{Subject: h.Subject, Assurance: uint8(h.Assurance), Region: s.region, Expiry: exp.UnixMilli(), Claims: claims,
		StatusRegion: &st.Region, StatusList: &st.List, StatusIndex: &st.Index})
	for attempt := 0; ; attempt++ {
		code, err := qrcode.NewOnlineCode(s.cfg.Rand, s.region)
		if err != nil {
			return nil, err
		}
		sealed, err := gm.Seal(s.cfg.Rand, recordKey(code.Ref[:]), rec, code.Ref[:])
		if err != nil {
			return nil, fmt.Errorf("%w: seal: %v", qrcode.ErrUnavailable, err)
		}
		err = s.cfg.Store.Put(ctx, storeKey(code.Ref[:]), sealed, s.cfg.TTL+s.cfg.Grace)
		if errors.Is(err, store.ErrExists) && attempt < 3 {
			continue // 128-bit collision: only with a broken Rand
		}
		if err != nil {
			return nil, fmt.Errorf("%w: store: %w", qrcode.ErrUnavailable, err)
		}
		return &Issued{Code: code, Text: code.String(), ExpiresAt: exp, ExpiresIn: exp.Sub(now)}, nil
	}
}

func clip(s string) string {
	if len(s) > qrcode.MaxClaimLen {
		return s[:qrcode.MaxClaimLen] + "..."
	}
	return s
}

// defaultRand is the randomness of references, record nonces and
// assertion IDs when none is configured.
var defaultRand = rand.Reader

// The record's CBOR: deterministic encoding, strict decoding (it comes
// back from the store).
var (
	recordEnc, _ = cbor.CoreDetEncOptions().EncMode()
	recordDec, _ = cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		MaxNestedLevels:   4,
		MaxMapPairs:       16,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		UTF8:              cbor.UTF8RejectInvalid,
	}.DecMode()
)

func marshalRecord(r record) []byte {
	b, err := recordEnc.Marshal(r)
	if err != nil {
		panic(fmt.Sprintf("redeem: marshal record: %v", err)) // a fixed structure
	}
	return b
}

// unmarshalRecord decodes a record read back from the store and holds it
// to what Issue writes: a damaged one is refused, not redeemed with a
// level or a subject Issue would not have given.
func unmarshalRecord(b []byte, r *record) error {
	if err := recordDec.Unmarshal(b, r); err != nil {
		return fmt.Errorf("%w: record: %v", qrcode.ErrMalformed, err)
	}
	if len(r.Subject) < qrcode.MinSubjectSize || len(r.Subject) > qrcode.MaxSubjectSize ||
		r.Assurance < qrcode.AssuranceDocument || r.Assurance > qrcode.AssuranceBiometric {
		return fmt.Errorf("%w: record: subject or assurance out of range", qrcode.ErrMalformed)
	}
	return nil
}

func storeKey(ref []byte) string { return "qr:" + string(ref) }

// recordKey derives the record's SM4 key from the reference.
func recordKey(ref []byte) []byte {
	return gm.HMACSM3(ref, []byte("TrustID QR record key v1"))[:gm.SM4KeySize]
}

// Forwards reports whether Redeem forwards text to another region's node
// (it is an online code of another region), and that region.
func (s *Service) Forwards(text string) (region string, ok bool) {
	code, err := qrcode.DecodeOnline(text)
	if err != nil || code.Region == s.region {
		return "", false
	}
	return code.RegionString(), true
}

// Redeem redeems an online code for the verifier clientID. Codes of this
// region are consumed here (exactly one redemption succeeds); codes of
// another region are forwarded to it through Peers. The status of the
// holder's device binding is checked after the code is consumed, so a
// code of a binding revoked since it was issued is refused and used up.
// Errors: ErrCodeUsed, ErrCodeExpired, ErrRevoked, ErrSuspended, ErrStatusUnavailable,
// ErrNoRoute, ErrUnknownVerifier, decoding errors, ErrPeerLimited when the
// code's region refused for its limits, and ErrUnavailable for store or
// peer failures.
func (s *Service) Redeem(ctx context.Context, clientID, text string) (*Redemption, error) {
	code, err := qrcode.DecodeOnline(text)
	if err != nil {
		return nil, err
	}
	rp, err := s.cfg.RelyingParties.RelyingParty(ctx, clientID)
	if err != nil {
		if errors.Is(err, qrcode.ErrUnknownVerifier) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: relying parties: %w", qrcode.ErrUnavailable, err)
	}
	if code.Region != s.region {
		if s.cfg.Peers == nil {
			return nil, fmt.Errorf("%w: %s", qrcode.ErrNoRoute, code.RegionString())
		}
		r, err := s.cfg.Peers.RedeemAt(ctx, code.RegionString(), rp, text)
		if err != nil {
			return nil, err
		}
		// The peer's answer is filtered like a local one: the verifier
		// gets only the claims its registration here allows.
		r.Claims = allowedClaims(r.Claims, rp)
		return r, nil
	}
	return s.redeem(ctx, rp, code)
}

// allowedClaims returns the claims among got that rp may receive (nil if
// none).
func allowedClaims(got map[string]string, rp RelyingParty) map[string]string {
	var out map[string]string
	for name, v := range got {
		if slices.Contains(rp.AllowedClaims, name) {
			if out == nil {
				out = map[string]string{}
			}
			out[name] = v
		}
	}
	return out
}

// RedeemForPeer redeems a code of this region for region's node, which
// has authenticated itself (the region comes from its verified
// assertion), on behalf of the relying party req names. The party must be
// registered with region and hold the sector req names (PeerParties);
// its allowed claims come from the registry. Codes of other regions are
// refused (ErrWrongRegion): a node never forwards what was forwarded to
// it. Nothing is consumed before the party is resolved.
func (s *Service) RedeemForPeer(ctx context.Context, region string, req PeerRedeemRequest) (*Redemption, error) {
	code, err := qrcode.DecodeOnline(req.Code)
	if err != nil {
		return nil, err
	}
	if code.Region != s.region {
		err := fmt.Errorf("%w: %s", qrcode.ErrWrongRegion, code.RegionString())
		if s.cfg.OnPeerRefuse != nil {
			s.cfg.OnPeerRefuse(err)
		}
		return nil, err
	}
	rp := RelyingParty{ClientID: req.ClientID, Sector: req.Sector}
	if err := rp.check(); err != nil {
		return nil, err
	}
	if s.cfg.PeerParties == nil {
		return nil, fmt.Errorf("%w: this node redeems for no other region", qrcode.ErrUnknownVerifier)
	}
	if rp, err = s.cfg.PeerParties.PeerParty(ctx, region, req.ClientID, req.Sector); err != nil {
		return nil, err
	}
	if err := rp.check(); err != nil {
		return nil, fmt.Errorf("%w: registry record: %w", qrcode.ErrUnknownVerifier, err)
	}
	return s.redeem(ctx, rp, code)
}

func (s *Service) redeem(ctx context.Context, rp RelyingParty, code qrcode.OnlineCode) (*Redemption, error) {
	sealed, err := s.cfg.Store.Consume(ctx, storeKey(code.Ref[:]))
	if errors.Is(err, store.ErrNotFound) {
		return nil, qrcode.ErrCodeUsed
	}
	if err != nil {
		return nil, fmt.Errorf("%w: store: %w", qrcode.ErrUnavailable, err)
	}
	plain, err := gm.Open(recordKey(code.Ref[:]), sealed, code.Ref[:])
	if err != nil {
		return nil, fmt.Errorf("%w: record does not open: %v", qrcode.ErrUnavailable, err)
	}
	var rec record
	if err := unmarshalRecord(plain, &rec); err != nil {
		return nil, fmt.Errorf("%w: record: %w", qrcode.ErrUnavailable, err)
	}
	if rec.Region != s.region {
		return nil, qrcode.ErrWrongRegion
	}
	if s.cfg.Now().UnixMilli() >= rec.Expiry {
		return nil, qrcode.ErrCodeExpired
	}
	if rec.StatusRegion == nil || rec.StatusList == nil || rec.StatusIndex == nil {
		return nil, fmt.Errorf("%w: the code's record has no status reference", qrcode.ErrStatusUnavailable)
	}
	ref := qrcode.StatusRef{Region: *rec.StatusRegion, List: *rec.StatusList, Index: *rec.StatusIndex}
	switch st, err := s.cfg.Status.Status(ctx, ref); {
	case errors.Is(err, qrcode.ErrStatusUnavailable):
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("%w: device binding: %w", qrcode.ErrStatusUnavailable, err)
	case st != qrcode.StatusValid:
		return nil, fmt.Errorf("%w: device binding", st.Err())
	}
	id, err := s.cfg.Pairwise.Pairwise(rec.Subject, rp.PairwiseSector())
	if err != nil {
		return nil, fmt.Errorf("%w: pairwise: %w", qrcode.ErrUnavailable, err)
	}
	return &Redemption{PairwiseID: id, Assurance: int(rec.Assurance), Region: strconv.FormatUint(uint64(rec.Region), 10), Claims: allowedClaims(rec.Claims, rp)}, nil
}
