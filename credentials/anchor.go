package credentials

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/credentials/status"
)

// Status anchoring connects the node's status lists to the consortium
// ledger.
//
// Issuer side: the node's status store (statuslist.Shared) hands every
// change to the ledger's durable outbox as a compact record (list ID,
// index, new value; nothing personal) and anchors each list's head
// {list, version, digest} once the chain has the change.
//
// This package is the verifier side: HTTPStatusSource with Anchors checks each fetched list
// against the head the issuer's region anchored (StatusAnchors, the
// node's ledger.View), and StatusChecker drops a cached list as soon as the
// ledger's head for it moves.
//
// The digest. A head's digest is chaincode.ListDigest (hex SM3) of the
// list's canonical content as served, not of the JWS bytes: SM2 and ECDSA
// signatures are randomized and a list is signed again when its cached
// encoding expires or the node's key rotates, while its content at a
// version never changes. The content is
//
//	"trustid-statuslist-v1" || 0x00 || u16be(len(list ID)) || list ID
//	|| u16be(len(purpose)) || purpose || u64be(version)
//	|| u8(bits per status) || u32be(number of statuses) || the list's bytes
//
// with purpose "revocation" or "suspension" (Bitstring Status List, 1 bit,
// bytes as encodedList compresses them) or "token" (Token Status List,
// 2 bits, bytes as lst compresses them), the list ID the last segment of
// its URL, and the version the list's own claim: listVersion in a
// BitstringStatusList subject, list_version in a statuslist+jwt.

// StatusAnchors is the ledger as a status-list verifier sees it, read from
// memory (never waiting for the chain); *ledger.View implements it. It is
// safe for concurrent use.
type StatusAnchors interface {
	// IssuerRegion returns the active region whose registry record names
	// issuer (its DID or base URL).
	IssuerRegion(issuer string) (region string, ok bool)
	// StatusHead returns the head region anchored for list.
	StatusHead(region, list string) (chaincode.StatusHead, bool)
	// CheckList returns nil when chaincode.ListDigest(encoded) is the
	// digest of region's head for list; otherwise an error, with the head
	// (zero when none is anchored or the view is not loaded).
	CheckList(region, list string, encoded []byte) (chaincode.StatusHead, error)
}

// Errors of anchoring. A verifier's status check wraps the first three in
// ErrStatusUnavailable (fail closed).
var (
	// ErrStatusListForged: the list claims the version of the anchored
	// head but its content has another digest: it was not issued as
	// anchored (a forged list, or one signed with a stolen key).
	ErrStatusListForged = errors.New("credentials: status list does not match the digest anchored on the ledger for its version (forged)")
	// ErrStatusListStale: the list is older than the anchored head (a
	// replayed or cached old list, which may hide a revocation).
	ErrStatusListStale = errors.New("credentials: status list is older than the head anchored on the ledger (stale)")
	// ErrStatusListUnanchored: no head is anchored for the list (its
	// issuer is not an active region, the list is unknown, or the ledger
	// has not reached the list's version in time).
	ErrStatusListUnanchored = errors.New("credentials: status list is not anchored on the ledger")
	// ErrStatusListChanged: a cached list's head on the ledger has moved
	// (its issuer changed statuses since) and the new list cannot be
	// fetched (StatusCheckerOptions.KeepAnchored).
	ErrStatusListChanged = errors.New("credentials: status list changed on the ledger since it was cached and cannot be fetched")
)

// Served-list claims carrying the list's version.
const (
	ClaimListVersion    = "listVersion"  // in a BitstringStatusList subject
	ClaimJWTListVersion = "list_version" // in a statuslist+jwt
)

// listContent returns the canonical bytes a list head's digest covers
// (status.Content; see the comment at the top of this file).
func listContent(listID, purpose string, version uint64, bitsPer int, body status.Body) ([]byte, error) {
	b, err := status.Content(listID, purpose, version, bitsPer, body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return b, nil
}

// listIDOf returns the list ID at the end of a status list URL.
func listIDOf(url string) (string, bool) {
	i := strings.LastIndexByte(url, '/')
	if i < 0 {
		return "", false
	}
	id := url[i+1:]
	return id, status.ValidListID(id)
}

// parseListVersion reads a list's version claim: a JSON integer from 1.
func parseListVersion(v any) (uint64, error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, fmt.Errorf("%w: the list carries no version", ErrStatusListUnanchored)
	}
	s := n.String()
	ver, err := strconv.ParseUint(s, 10, 64)
	if err != nil || ver == 0 || (len(s) > 1 && s[0] == '0') {
		return 0, fmt.Errorf("%w: list version must be an integer from 1", ErrInvalid)
	}
	return ver, nil
}

// anchoredRef is what a source remembers of a list it checked.
type anchoredRef struct {
	region, list, digest string
}

// Defaults of HTTPStatusSource's anchoring.
const (
	defaultAnchorWait = 5 * time.Second
	anchorPoll        = 25 * time.Millisecond
	maxStaleRefetch   = 2
)

// checkAnchored checks a fetched list's content against the ledger. A list
// newer than the anchored head (or with no head yet) waits up to
// AnchorWait for the ledger to catch up.
func (h *HTTPStatusSource) checkAnchored(ctx context.Context, url, issuer string, version uint64, content []byte) error {
	region, ok := h.Anchors.IssuerRegion(issuer)
	if !ok {
		return fmt.Errorf("%w: the issuer is not an active region of the consortium", ErrStatusListUnanchored)
	}
	listID, ok := listIDOf(url)
	if !ok {
		return fmt.Errorf("%w: the list URL does not end in a list ID", ErrStatusListUnanchored)
	}
	wait := h.AnchorWait
	if wait <= 0 {
		wait = defaultAnchorWait
	}
	deadline := time.Now().Add(wait)
	for {
		head, err := h.Anchors.CheckList(region, listID, content)
		switch {
		case err == nil:
			// A copy: url may be a substring of a whole credential
			// document (strictjson.Object), which the memo would hold.
			u := strings.Clone(url)
			id, _ := listIDOf(u)
			h.memo.Store(u, anchoredRef{region: region, list: id, digest: head.Digest})
			return nil
		case head.Version > version:
			return fmt.Errorf("%w: list %s version %d, the ledger is at %d", ErrStatusListStale, listID, version, head.Version)
		case head.Version == version:
			return fmt.Errorf("%w: list %s version %d", ErrStatusListForged, listID, version)
		}
		// The ledger has not reached this version (or has no head): wait.
		if !time.Now().Before(deadline) {
			if head.Version == 0 {
				return fmt.Errorf("%w: no head for list %s of region %s", ErrStatusListUnanchored, listID, region)
			}
			return fmt.Errorf("%w: list %s version %d is newer than the anchored head %d", ErrStatusListUnanchored, listID, version, head.Version)
		}
		for time.Now().Before(deadline) {
			if hd, ok := h.Anchors.StatusHead(region, listID); ok && hd.Version >= version {
				break
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(anchorPoll):
			}
		}
	}
}

// StatusListCurrency is implemented by a StatusListSource that can tell
// whether the list it last returned for url is still the current one; a
// StatusChecker drops a cached list, before its ttl, as soon as its
// source says it is not. HTTPStatusSource and LocalStatusSource implement
// it, and so can sources of other packages that wrap an HTTPStatusSource
// (the relying-party SDK's). A source without it is current until the
// list's ttl. ListCurrent must be cheap (it runs on every status check)
// and safe for concurrent use.
type StatusListCurrency interface {
	ListCurrent(url string) bool
}

var (
	_ StatusListCurrency = (*HTTPStatusSource)(nil)
	_ StatusListCurrency = (*LocalStatusSource)(nil)
)

// ListCurrent implements StatusListCurrency: with Anchors, a list this
// source returned for url is current while the ledger's head for it has
// not moved (a list never checked, or whose check failed, is not); lists
// fetched without Anchors are current until their ttl.
func (h *HTTPStatusSource) ListCurrent(url string) bool {
	if h.Anchors == nil {
		return true
	}
	v, ok := h.memo.Load(url)
	if !ok {
		return false
	}
	ref := v.(anchoredRef)
	head, ok := h.Anchors.StatusHead(ref.region, ref.list)
	return ok && head.Digest == ref.digest
}

// ListCurrent implements StatusListCurrency: the node's own lists are
// current; others ask Remote.
func (l *LocalStatusSource) ListCurrent(url string) bool {
	if _, ok := l.localID(url); ok {
		return true
	}
	return sourceCurrent(l.Remote, url)
}

// sourceCurrent asks a source whether its list for url is still current.
func sourceCurrent(src StatusListSource, url string) bool {
	if c, ok := src.(StatusListCurrency); ok {
		return c.ListCurrent(url)
	}
	return true
}
