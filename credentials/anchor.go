package credentials

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/credentials/status"
)

// Status anchoring connects the node's status lists to the consortium
// ledger.
//
// Issuer side: every status change is handed to an Anchorer (the ledger's
// durable outbox) as a compact record — list ID, index, new status value;
// the list's purpose is fixed per list — together with the list's new head
// {list, version, digest}. Nothing personal goes: no credential ID, no
// subject. The API call returns once the outbox has both on disk; the
// chain is reached later, by the outbox.
//
// Durability and order. The status store's change and the outbox entry
// live in two files, so they cannot be committed atomically. The store is
// written first, and its write (an atomic file replacement) carries the
// change in the list's anchoring journal as well; the journal entry is
// dropped only after the outbox has accepted the change and the head
// (MarkAnchored). A crash between the two therefore leaves the change in
// the journal, and ReplayAnchors (run when the node starts, before it
// serves) hands it over again. Replays are idempotent: a change record
// carries an absolute value (setting index 17 to 1 twice is setting it
// once), and a head is {version, digest}, which the contract accepts once
// and treats as a no-op when repeated. At worst the chain's batch log
// holds a change twice; it never holds a change the store did not make,
// and the list's head always ends at the store's version.
//
// Verifier side: HTTPStatusSource with Anchors checks each fetched list
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

// Anchorer takes status changes and status-list heads to the ledger;
// *ledger.Outbox implements it.
type Anchorer interface {
	// Anchor durably accepts changes (on disk when it returns nil); they
	// reach the chain whatever happens to the process afterwards.
	Anchor(ctx context.Context, changes []chaincode.StatusChange) error
	// AnchorHeads durably accepts new list heads; for each list only the
	// newest version waits.
	AnchorHeads(ctx context.Context, heads []chaincode.HeadInput) error
}

// StatusJournal is what anchoring needs from the status store besides
// StatusStore: each list's changes not yet handed to the Anchorer,
// persisted with the changes themselves. *statuslist.FileStore implements
// it. Unknown lists give errors matching status.ErrNotFound.
type StatusJournal interface {
	// Lists returns every list ID.
	Lists() []string
	// Unanchored returns the list now, the version last marked anchored
	// and the changes since.
	Unanchored(ctx context.Context, listID string) (status.Pending, error)
	// Versions returns the list's version and the version last marked
	// anchored.
	Versions(ctx context.Context, listID string) (version, anchored uint64, err error)
	// MarkAnchored records that the changes up to version and the head at
	// version were handed over.
	MarkAnchored(ctx context.Context, listID string, version uint64) error
	// Checkpoint persists what MarkAnchored recorded.
	Checkpoint(ctx context.Context) error
}

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
	// ErrAnchor: a status change is saved but could not be handed to the
	// ledger's outbox; the journal keeps it for the next attempt.
	ErrAnchor = errors.New("credentials: status change not handed to the ledger yet")
)

// Served-list claims carrying the list's version.
const (
	claimListVersion    = "listVersion"  // in a BitstringStatusList subject
	claimJWTListVersion = "list_version" // in a statuslist+jwt
)

const listContentTag = "trustid-statuslist-v1"

// listBody is a Bitstring or a TokenList.
type listBody interface {
	Len() int
	AppendBinary([]byte) ([]byte, error)
}

// listContent returns the canonical bytes a list head's digest covers (see
// the comment at the top of this file).
func listContent(listID, purpose string, version uint64, bitsPer int, body listBody) ([]byte, error) {
	if len(listID) > chaincode.MaxListID || len(purpose) > 64 {
		return nil, fmt.Errorf("%w: list ID or purpose too long", ErrInvalid)
	}
	b := make([]byte, 0, 64+len(listID)+len(purpose)+body.Len()*bitsPer/8)
	b = append(b, listContentTag...)
	b = append(b, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(len(listID)))
	b = append(b, listID...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(purpose)))
	b = append(b, purpose...)
	b = binary.BigEndian.AppendUint64(b, version)
	b = append(b, byte(bitsPer))
	b = binary.BigEndian.AppendUint32(b, uint32(body.Len()))
	return body.AppendBinary(b)
}

// snapshotContent is listContent of a store snapshot.
func snapshotContent(s status.Snapshot) ([]byte, error) {
	if s.Bitstring != nil {
		return listContent(s.ID, s.Purpose, s.Version, 1, s.Bitstring)
	}
	if s.Token != nil {
		return listContent(s.ID, s.Purpose, s.Version, s.Token.Bits(), s.Token)
	}
	return nil, fmt.Errorf("%w: empty snapshot", ErrInvalid)
}

// listHead returns the head anchored for a snapshot.
func listHead(s status.Snapshot) (chaincode.HeadInput, error) {
	content, err := snapshotContent(s)
	if err != nil {
		return chaincode.HeadInput{}, err
	}
	return chaincode.HeadInput{List: s.ID, Version: s.Version, Digest: chaincode.ListDigest(content)}, nil
}

// StatusHead returns the head the issuer anchors for a list now: its
// version and the digest a verifier computes over the list as served.
func (is *Issuer) StatusHead(ctx context.Context, listID string) (chaincode.HeadInput, error) {
	snap, err := is.cfg.Status.Snapshot(ctx, listID)
	if errors.Is(err, status.ErrNotFound) {
		return chaincode.HeadInput{}, fmt.Errorf("%w: status list", ErrNotFound)
	}
	if err != nil {
		return chaincode.HeadInput{}, err
	}
	return listHead(snap)
}

// anchorLock serializes hand-offs of one list, so heads reach the outbox
// in version order and the changes made during one hand-off share the
// next (group commit).
func (is *Issuer) anchorLock(listID string) *sync.Mutex {
	mu, _ := is.anchorLocks.LoadOrStore(listID, &sync.Mutex{})
	return mu.(*sync.Mutex)
}

// handOff hands what the journal holds for each list to the Anchorer: all
// of it, or with firstOnly only a list that never had a head (a list an
// issuance just created). It does not stop when ctx is cancelled (the
// store change is made already).
func (is *Issuer) handOff(ctx context.Context, firstOnly bool, listIDs ...string) error {
	if is.cfg.Anchor == nil {
		return nil
	}
	ctx = context.WithoutCancel(ctx)
	var errs []error
	for _, id := range listIDs {
		if err := is.handOffList(ctx, id, firstOnly); err != nil {
			errs = append(errs, fmt.Errorf("list %s: %w", id, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		is.anchorRetry.Store(true)
		if is.cfg.OnAnchorError != nil {
			is.cfg.OnAnchorError(fmt.Errorf("%w: %w", ErrAnchor, err))
		}
		return err
	}
	return nil
}

// handOffList hands over list listID up to its version now (which covers
// the caller's change), unless a hand-off while the caller waited for the
// list's lock did already; with firstOnly, only if no version was.
func (is *Issuer) handOffList(ctx context.Context, listID string, firstOnly bool) error {
	target, anchored, err := is.journal.Versions(ctx, listID)
	if firstOnly {
		target = 1
	}
	if err != nil || anchored >= target {
		return err
	}
	mu := is.anchorLock(listID)
	mu.Lock()
	defer mu.Unlock()
	if _, anchored, err = is.journal.Versions(ctx, listID); err != nil || anchored >= target {
		return err
	}
	p, err := is.journal.Unanchored(ctx, listID)
	if err != nil {
		return err
	}
	head, err := listHead(p.Snapshot)
	if err != nil {
		return err
	}
	changes := make([]chaincode.StatusChange, len(p.Changes))
	for i, c := range p.Changes {
		changes[i] = chaincode.StatusChange{List: listID, Index: uint64(c.Index), Status: c.Value}
	}
	if err := is.send(ctx, changes, []chaincode.HeadInput{head}); err != nil {
		return err
	}
	return is.journal.MarkAnchored(ctx, listID, p.Version)
}

// send hands changes and heads to the Anchorer at the same time (an
// outbox groups concurrent writers into one commit).
func (is *Issuer) send(ctx context.Context, changes []chaincode.StatusChange, heads []chaincode.HeadInput) error {
	var anchorErr error
	var wg sync.WaitGroup
	if len(changes) > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			anchorErr = is.cfg.Anchor.Anchor(ctx, changes)
		}()
	}
	var headErrs []error
	for len(heads) > 0 {
		n := min(len(heads), chaincode.MaxHeads)
		headErrs = append(headErrs, is.cfg.Anchor.AnchorHeads(ctx, heads[:n]))
		heads = heads[n:]
	}
	wg.Wait()
	return errors.Join(append(headErrs, anchorErr)...)
}

// ReplayAnchors hands the Anchorer every change the journal still holds
// and the current head of every list (heads already anchored are no-ops
// on the chain). Run it once when the node starts, before it serves: it
// repairs a crash between a status change and its hand-off, and a lost
// outbox. It returns the number of changes and heads handed over.
func (is *Issuer) ReplayAnchors(ctx context.Context) (changes, heads int, err error) {
	if is.cfg.Anchor == nil {
		return 0, 0, errors.New("credentials: no Anchorer configured")
	}
	var cs []chaincode.StatusChange
	var hs []chaincode.HeadInput
	versions := map[string]uint64{}
	for _, id := range is.journal.Lists() {
		p, err := is.journal.Unanchored(ctx, id)
		if err != nil {
			return 0, 0, fmt.Errorf("list %s: %w", id, err)
		}
		h, err := listHead(p.Snapshot)
		if err != nil {
			return 0, 0, fmt.Errorf("list %s: %w", id, err)
		}
		hs = append(hs, h)
		versions[id] = p.Version
		for _, c := range p.Changes {
			cs = append(cs, chaincode.StatusChange{List: id, Index: uint64(c.Index), Status: c.Value})
		}
	}
	if len(hs) == 0 {
		return 0, 0, nil
	}
	if err := is.send(ctx, cs, hs); err != nil {
		return 0, 0, fmt.Errorf("%w: %w", ErrAnchor, err)
	}
	for id, v := range versions {
		if err := is.journal.MarkAnchored(ctx, id, v); err != nil {
			return 0, 0, err
		}
	}
	return len(cs), len(hs), nil
}

// RunAnchoring runs, every interval (default 10 s) until ctx ends, the
// hand-offs that failed (they stay in the journal) and a checkpoint of the
// journal, so that a restart hands over again at most one interval's
// changes (harmless repeats). It writes nothing when ctx ends: files
// written while a node shuts down would race whoever removes them.
func (is *Issuer) RunAnchoring(ctx context.Context, interval time.Duration) error {
	if is.cfg.Anchor == nil {
		return errors.New("credentials: no Anchorer configured")
	}
	if interval <= 0 {
		interval = 10 * time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			if is.anchorRetry.Swap(false) {
				is.handOff(ctx, false, is.journal.Lists()...)
			}
			if err := is.journal.Checkpoint(ctx); err != nil && ctx.Err() == nil && is.cfg.OnAnchorError != nil {
				is.cfg.OnAnchorError(fmt.Errorf("checkpoint of the status journal: %w", err))
			}
		}
	}
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
			h.memo.Store(url, anchoredRef{region: region, list: listID, digest: head.Digest})
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

// current reports whether a list this source returned for url is still
// the one anchored (the ledger's head has not moved); lists fetched
// without Anchors are current until their ttl.
func (h *HTTPStatusSource) current(url string) bool {
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

// current reports whether a cached list is still current: the node's own
// lists are; others ask Remote.
func (l *LocalStatusSource) current(url string) bool {
	if _, ok := l.localID(url); ok {
		return true
	}
	return sourceCurrent(l.Remote, url)
}

// sourceCurrent asks a source whether its list for url is still current.
func sourceCurrent(src StatusListSource, url string) bool {
	if c, ok := src.(interface{ current(string) bool }); ok {
		return c.current(url)
	}
	return true
}
