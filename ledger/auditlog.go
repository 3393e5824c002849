package ledger

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/gm"
	"github.com/trustid-cn/trustid/internal/groupcommit"
)

// Audit-log entry kinds written by the node.
const (
	// AuditLogCreated is the first entry of every log; its details name
	// the node (AuditOptions.Node).
	AuditLogCreated = "log_created"
	// AuditNodeStarted records a start of the node on its data directory
	// (trustid serve); the node hands out status entries only once the
	// log is anchored past it.
	AuditNodeStarted = "node_started"
	// AuditEnrollment records an enrollment.
	AuditEnrollment = "enrollment"
	// AuditSymbolLink links a holder's symbol under an older symbol key
	// version to the current one.
	AuditSymbolLink = "symbol_link"
	// AuditStatusChange records a credential status change.
	AuditStatusChange = "status_change"
)

// Limits of an audit entry.
const (
	maxAuditLine    = 16 << 10
	maxAuditDetails = 32
	maxAuditValue   = 256
	maxAuditSymbol  = 64
)

// Errors of the audit log.
var (
	// ErrAuditCorrupt: the log's hash chain is broken (an entry edited,
	// removed, reordered or malformed before the last line). The error
	// names the line.
	ErrAuditCorrupt = errors.New("ledger: audit log corrupt")
	// ErrAuditNode: the log belongs to another node ID than configured.
	ErrAuditNode = errors.New("ledger: audit log of another node")
	// ErrAuditEntry: Append was given an entry it refuses (kind, symbol
	// or details out of bounds).
	ErrAuditEntry = errors.New("ledger: audit entry invalid")
	// ErrAuditAnchor: the local log does not contain the head anchored on
	// the chain (entries lost or rewritten since they were anchored).
	ErrAuditAnchor = errors.New("ledger: audit log does not match its ledger anchor")
)

var (
	reAuditToken     = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
	reAuditNode      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$`) // the chaincode's rule
	reAuditNodeOlder = regexp.MustCompile(`^[A-Za-z0-9._:/-]{1,128}$`)            // what logs before took
	auditGenesisPrev = strings.Repeat("0", 64)
)

// ValidAuditNode reports whether id can name a node in AnchorAudit
// (letters, digits and ._:/-, beginning with a letter or digit, at most
// 128).
func ValidAuditNode(id string) bool { return reAuditNode.MatchString(id) }

// AuditEntry is one line of the audit log. It carries no personal data:
// Symbol is at most a pseudonymous symbol form the caller chose (TrustID
// writes the short display form), Details are codes, levels, regions and
// credential IDs.
type AuditEntry struct {
	Seq     uint64            `json:"seq"`
	Time    time.Time         `json:"time"`
	Kind    string            `json:"kind"`
	Symbol  string            `json:"symbol,omitempty"`
	Details map[string]string `json:"details,omitempty"`
	// Prev is the Hash of the previous entry (64 zeros for the first).
	Prev string `json:"prev"`
	// Hash is hex SM3 of the entry's canonical bytes: its JSON encoding
	// (encoding/json, fields in this order, details keys sorted) without
	// the hash field.
	Hash string `json:"hash,omitempty"`
}

// canonical returns the bytes Hash is computed over.
func (e AuditEntry) canonical() ([]byte, error) {
	e.Hash = ""
	return json.Marshal(e)
}

func (e AuditEntry) digest() (string, error) {
	b, err := e.canonical()
	if err != nil {
		return "", err
	}
	h := gm.SM3(b)
	return hex.EncodeToString(h[:]), nil
}

// AuditOptions configures OpenAuditLog.
type AuditOptions struct {
	// Node is the node ID the log is anchored under. A new log records it
	// in its first entry; an existing log must name the same node (empty:
	// take the log's).
	Node string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// SegmentSize is the size in bytes past which Anchor, once it has
	// anchored the head, seals the file as path.<first>-<last> and starts
	// a new one (0: never).
	SegmentSize int64
}

// AuditLog is the node's append-only, SM3 hash-chained audit log: one
// JSON object a line, each naming the hash of the one before, so editing,
// removing or reordering any entry breaks the chain; anchoring the head on
// the ledger (Anchor) makes rewriting the whole tail detectable too.
//
// Every Append is written and fsynced before it returns; concurrent
// Appends share a write and an fsync (group commit). One process writes a
// log (a data directory belongs to one node); within it, an AuditLog is
// safe for concurrent use.
type AuditLog struct {
	group       *groupcommit.Committer[*auditItem]
	path        string
	segmentSize int64
	anchorMu    sync.Mutex // one Anchor or Prune at a time

	mu        sync.Mutex
	f         *os.File
	size      int64  // the file's length: its complete lines
	first     uint64 // the sequence number of the file's first entry
	now       func() time.Time
	node      string
	seq       uint64
	head      string
	truncated int64
	anchored  uint64
	closed    bool
	checked   bool  // the log holds the head anchored before this AuditLog's first anchor
	broken    error // why a failed group could not be cut off (closed)
}

// OpenAuditLog opens the log at path, creating it (with its log_created
// entry) if it does not exist, after verifying the chain of its active
// segment (path; the sealed ones, path.<first>-<last>, are verified by
// VerifyAuditLog) and that it continues the newest sealed segment. A
// rotation a crash interrupted is finished first. A broken chain is
// refused with ErrAuditCorrupt naming the line. A torn last line (no
// final newline: a crash during an append that never returned) is cut
// off; Truncated reports how many bytes.
func OpenAuditLog(path string, opts AuditOptions) (*AuditLog, error) {
	if opts.Node != "" && !ValidAuditNode(opts.Node) {
		return nil, fmt.Errorf("%w: node ID %q: want letters, digits and ._:/-, beginning with a letter or digit (at most 128)", ErrAuditEntry, opts.Node)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := finishRotation(path); err != nil {
		return nil, err
	}
	if !AuditLogExists(path) {
		// Only a new log is created: not one lost beside its segments.
		if err := checkSegmentLink(path, 0, ""); err != nil {
			return nil, err
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%w: audit log: %v", ErrUnavailable, err)
	}
	sum, good, err := scanAuditLog(f, 0)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := checkSegmentLink(path, sum.First, sum.from); err != nil {
		f.Close()
		return nil, err
	}
	a := &AuditLog{path: path, segmentSize: opts.SegmentSize, f: f, size: good, first: max(sum.First, 1), now: opts.Now, node: sum.Node, seq: sum.Seq, head: sum.Head}
	a.group = groupcommit.New(a.commit)
	if sum.TornBytes > 0 {
		if err := f.Truncate(good); err != nil {
			f.Close()
			return nil, fmt.Errorf("%w: audit log: truncate torn line: %v", ErrUnavailable, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, fmt.Errorf("%w: audit log: %v", ErrUnavailable, err)
		}
		a.truncated = sum.TornBytes
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: audit log: %v", ErrUnavailable, err)
	}
	switch {
	case sum.Seq == 0:
		if opts.Node == "" {
			f.Close()
			return nil, fmt.Errorf("%w: a new audit log needs a node ID", ErrAuditEntry)
		}
		a.node = opts.Node
		if _, err := a.Append(AuditLogCreated, "", map[string]string{"node": opts.Node}); err != nil {
			f.Close()
			return nil, err
		}
	case !ValidAuditNode(sum.Node):
		f.Close()
		return nil, fmt.Errorf("%w: %s was created for node %q, which the ledger refuses to anchor (a node ID must begin with a letter or digit; versions before took it): its entries are intact (trustid ledger audit-verify), but move it aside to start a new log under another --node-id", ErrAuditNode, path, sum.Node)
	case opts.Node != "" && sum.Node != opts.Node:
		f.Close()
		return nil, fmt.Errorf("%w: %s was created for node %q, not %q", ErrAuditNode, path, sum.Node, opts.Node)
	}
	return a, nil
}

// Node returns the node ID the log is anchored under.
func (a *AuditLog) Node() string { return a.node }

// Truncated returns the bytes of a torn last line cut off at open (0 if
// none).
func (a *AuditLog) Truncated() int64 { return a.truncated }

// Head returns the sequence number and hash of the last entry.
func (a *AuditLog) Head() (uint64, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.seq, a.head
}

// Append writes an entry of kind about symbol (may be empty) with details,
// fsyncs it and returns its sequence number. kind and detail keys are
// lower-case tokens; symbol at most 64 characters; at most 32 details of
// at most 256 characters each. Concurrent Appends are written in groups
// (one write and one fsync for all that arrived during the previous
// fsync, see package groupcommit); each returns once its group is on disk.
func (a *AuditLog) Append(kind, symbol string, details map[string]string) (uint64, error) {
	if err := checkAuditInput(kind, symbol, details); err != nil {
		return 0, err
	}
	// The entry's own members are encoded here, concurrently with other
	// Appends; commit adds what chains it (seq, time, prev, hash).
	body, err := auditBodyOf(kind, symbol, details)
	if err != nil {
		return 0, err
	}
	it := &auditItem{body: body}
	if err := a.group.Do(it); err != nil {
		return 0, err
	}
	return it.seq, it.err
}

// auditBodyOf returns the members kind, symbol and details of an entry
// as AuditEntry encodes them, without the braces.
func auditBodyOf(kind, symbol string, details map[string]string) ([]byte, error) {
	if len(details) == 0 {
		details = nil
	}
	body, err := json.Marshal(auditBody{Kind: kind, Symbol: symbol, Details: details})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrAuditEntry, err)
	}
	return body[1 : len(body)-1], nil
}

// jsonTime returns t as an entry's time: UTC, to the microsecond, JSON.
func jsonTime(t time.Time) ([]byte, error) {
	return json.Marshal(t.UTC().Truncate(time.Microsecond))
}

// auditItem is one Append waiting for its group: the entry's members
// between time and prev as AuditEntry encodes them, and what commit made
// of it.
type auditItem struct {
	body []byte
	seq  uint64
	err  error // the entry alone was refused
}

// auditBody is the part of an AuditEntry an Append gives: its fields
// encode as AuditEntry's do.
type auditBody struct {
	Kind    string            `json:"kind"`
	Symbol  string            `json:"symbol,omitempty"`
	Details map[string]string `json:"details,omitempty"`
}

// commit chains a group of entries after the head, writes them in one
// write and fsyncs. The group's entries share one time. After a failed
// write or fsync the group fails as a whole: what it wrote is cut off the
// file (a write that stopped short may have left whole lines of it, which
// the next open would keep), and the next group is written after the last
// acknowledged entry (a full disk that frees up). Only if the cut fails is
// nothing more written.
func (a *AuditLog) commit(items []*auditItem) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		if a.broken != nil {
			return fmt.Errorf("%w: audit log closed after a failed write: %w", ErrUnavailable, a.broken)
		}
		return ErrClosed
	}
	seq, head := a.seq, a.head
	if head == "" {
		head = auditGenesisPrev
	}
	now, err := jsonTime(a.now())
	if err != nil {
		return err
	}
	var buf []byte
	for _, it := range items {
		start := len(buf)
		buf = appendAuditLine(buf, seq+1, now, it.body, head)
		if len(buf)-start > maxAuditLine+1 {
			buf = buf[:start]
			it.err = fmt.Errorf("%w: entry over %d bytes", ErrAuditEntry, maxAuditLine)
			continue
		}
		seq, it.seq = seq+1, seq+1
		head = string(buf[len(buf)-3-64 : len(buf)-3]) // the hash just written, before `"}` and the newline
	}
	if len(buf) == 0 {
		return nil
	}
	if _, err := a.f.Write(buf); err != nil {
		err = fmt.Errorf("%w: audit log write: %w", ErrUnavailable, err)
		a.discard(err)
		return err
	}
	if err := a.f.Sync(); err != nil {
		err = fmt.Errorf("%w: audit log sync: %w", ErrUnavailable, err)
		a.discard(err)
		return err
	}
	a.seq, a.head, a.size = seq, head, a.size+int64(len(buf))
	return nil
}

// discard cuts a failed group (failed with cause) off the file, so that
// the next group follows the last acknowledged entry; a.mu is held. If
// the cut fails too, the log is closed to appends (they fail with cause):
// the next open keeps the group's whole lines and cuts its torn one.
func (a *AuditLog) discard(cause error) {
	if a.f.Truncate(a.size) == nil && a.f.Sync() == nil {
		if _, err := a.f.Seek(a.size, io.SeekStart); err == nil {
			return
		}
	}
	a.closed, a.broken = true, cause
}

// appendAuditLine appends the line of the entry with seq, time (JSON),
// body (auditItem.body) and prev to buf, newline included: the bytes
// json.Marshal gives for the AuditEntry, its hash the SM3 of those bytes
// without the hash member (AuditEntry.digest).
func appendAuditLine(buf []byte, seq uint64, time, body []byte, prev string) []byte {
	start := len(buf)
	buf = append(buf, `{"seq":`...)
	buf = strconv.AppendUint(buf, seq, 10)
	buf = append(buf, `,"time":`...)
	buf = append(buf, time...)
	buf = append(buf, ',')
	buf = append(buf, body...)
	buf = append(buf, `,"prev":"`...)
	buf = append(buf, prev...)
	buf = append(buf, `"}`...)
	h := gm.SM3(buf[start:])
	buf = buf[:len(buf)-1] // reopen the object for the hash
	buf = append(buf, `,"hash":"`...)
	buf = hex.AppendEncode(buf, h[:])
	return append(buf, "\"}\n"...)
}

func checkAuditInput(kind, symbol string, details map[string]string) error {
	if !reAuditToken.MatchString(kind) {
		return fmt.Errorf("%w: kind %q: want a lower-case token", ErrAuditEntry, kind)
	}
	if len(symbol) > maxAuditSymbol || !utf8.ValidString(symbol) {
		return fmt.Errorf("%w: symbol must be valid UTF-8 of at most %d bytes", ErrAuditEntry, maxAuditSymbol)
	}
	if len(details) > maxAuditDetails {
		return fmt.Errorf("%w: at most %d details", ErrAuditEntry, maxAuditDetails)
	}
	for k, v := range details {
		if !reAuditToken.MatchString(k) {
			return fmt.Errorf("%w: detail key %q: want a lower-case token", ErrAuditEntry, k)
		}
		if len(v) > maxAuditValue || !utf8.ValidString(v) {
			return fmt.Errorf("%w: detail %s: valid UTF-8 of at most %d bytes", ErrAuditEntry, k, maxAuditValue)
		}
	}
	return nil
}

// Anchor anchors the log's head on the ledger through c, unless it was
// already anchored by this AuditLog. It returns the anchor and whether a
// transaction was submitted. The chaincode refuses a head that forks an
// anchored one (chaincode.ErrHeadConflict) or is older
// (chaincode.ErrStale): both mean the log was rewritten or replaced. A
// head past the anchored one is anchored only once the log is found to
// hold the anchored head (ErrAuditAnchor if not: a replaced log grown
// longer, which the chaincode cannot tell from an extension).
//
// Once the head is anchored, a log over AuditOptions.SegmentSize that
// holds an entry past its first is rotated: its file sealed as path.<first>-<last> and a new one begun
// with a log_continued entry (an error then says the rotation failed,
// the anchor stands).
func (a *AuditLog) Anchor(ctx context.Context, c Client) (chaincode.AuditAnchor, bool, error) {
	a.anchorMu.Lock()
	defer a.anchorMu.Unlock()
	seq, head := a.Head()
	a.mu.Lock()
	done, checked, f, size, first := a.anchored >= seq, a.checked, a.f, a.size, a.first
	a.mu.Unlock()
	if done {
		return chaincode.AuditAnchor{Node: a.node, Seq: seq, Head: head}, false, a.rotateLocked()
	}
	if !checked {
		if err := a.checkAnchor(ctx, c, seq, io.NewSectionReader(f, 0, size), first); err != nil {
			return chaincode.AuditAnchor{}, false, err
		}
	}
	an, err := c.AnchorAudit(ctx, a.node, seq, head)
	if err != nil {
		return an, true, err
	}
	a.mu.Lock()
	a.anchored = max(a.anchored, seq)
	a.mu.Unlock()
	return an, true, a.rotateLocked()
}

// rotateLocked is rotate under a.mu.
func (a *AuditLog) rotateLocked() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.rotate()
}

// checkAnchor compares the log (active, its complete lines up to seq,
// beginning at entry first) with the node's anchor on the chain, if seq
// is past it: the log must hold the anchored head, in active or in the
// sealed segment holding it. Once it does, later heads of this AuditLog
// extend it. a.anchorMu is held (no rotation meanwhile).
func (a *AuditLog) checkAnchor(ctx context.Context, c Client, seq uint64, active io.Reader, first uint64) error {
	region, err := chaincode.RegionOfMSP(c.L.MSPID())
	if err != nil {
		return err
	}
	an, err := c.AuditAnchor(ctx, region, a.node)
	switch {
	case errors.Is(err, chaincode.ErrNotFound):
	case err != nil:
		return err
	case an.Seq >= seq:
		return nil // the chaincode judges it: same head, stale or a fork
	default:
		// Complete lines before size are never rewritten: read them
		// without holding up Appends.
		sum, err := segmentAt(a.path, an.Seq, active, first)
		if err == nil {
			err = CheckAnchor(sum, an)
		}
		if err != nil {
			return err
		}
	}
	a.mu.Lock()
	a.checked = true
	a.mu.Unlock()
	return nil
}

// segmentAt verifies the segment holding entry at (or whose first entry
// follows it): active, which begins at entry first, or a sealed segment
// of the log at path.
func segmentAt(path string, at uint64, active io.Reader, first uint64) (AuditSummary, error) {
	if at+1 >= first {
		sum, _, err := scanAuditLog(active, at)
		return sum, err
	}
	segs, err := auditSegments(path)
	if err != nil {
		return AuditSummary{}, err
	}
	for _, s := range segs {
		if s.first <= at+1 && at <= s.last {
			return verifySegment(s, at)
		}
	}
	return AuditSummary{}, fmt.Errorf("%w: entry %d is in no segment of %s (pruned or lost)", ErrAuditAnchor, at, path)
}

// Close closes the file; later Appends fail with ErrClosed.
func (a *AuditLog) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return nil
	}
	a.closed = true
	err := a.f.Close()
	a.f = nil
	return err
}

// AuditSummary is what VerifyAuditLog found.
type AuditSummary struct {
	Node string `json:"node"`
	// First is the sequence number of the first entry held: 1, or past
	// 1 when older segments were pruned (AuditLog.Prune).
	First uint64 `json:"first"`
	// Segments counts the files: the sealed segments and audit.log.
	Segments int `json:"segments"`
	// Seq and Head are the last complete entry's.
	Seq  uint64 `json:"seq"`
	Head string `json:"head"`
	// HeadAt is the hash of the entry VerifyAuditLog was asked about
	// ("" if the log does not reach it).
	HeadAt string `json:"head_at,omitempty"`
	// TornBytes counts a torn last line (left in place by
	// VerifyAuditLog; cut off by the next OpenAuditLog).
	TornBytes int64 `json:"torn_bytes,omitempty"`

	from string // the prev of entry First: the entry before's hash
}

// VerifyAuditLog checks the chain of the log at path without changing it
// — each sealed segment (path.<first>-<last>), the active one (path), and
// that each continues the one before — and returns its summary, with
// HeadAt the hash of entry at (0: none). Segments pruned before the
// oldest remaining one are not missed; a gap between remaining ones is
// ErrAuditCorrupt. A log without a complete first entry (emptied, or cut
// inside it) is ErrAuditCorrupt: it names no node, so no anchor would be
// compared.
//
// A node may rotate or prune the log meanwhile: a segment pruned before
// it is read is skipped as if pruned before, and when the active segment
// no longer follows the sealed ones read (it was sealed meanwhile), the
// segments sealed since are read and the active one again, up to ten
// times over about a second; a log still rotating then (audit.log gone,
// audit.log.next there, or sealed again) is ErrUnavailable, to retry.
func VerifyAuditLog(path string, at uint64) (AuditSummary, error) {
	var all AuditSummary
	for try := 1; ; try++ {
		segs, err := auditSegments(path)
		if err != nil {
			return all, err
		}
		if afterSegmentsListed != nil {
			afterSegmentsListed()
		}
		for _, s := range segs {
			if all.Segments > 0 && s.first <= all.Seq {
				continue // read in an earlier pass
			}
			sum, err := verifySegment(s, at)
			if all.Segments == 0 && errors.Is(err, fs.ErrNotExist) {
				continue // pruned since listed
			}
			if err != nil {
				return all, err
			}
			if err := all.join(sum, s.path); err != nil {
				return all, err
			}
		}
		sum, err := verifyActive(path, at)
		rotated := errors.Is(err, fs.ErrNotExist) && AuditLogExists(path) ||
			err == nil && sum.First > all.Seq+1 && sealedPast(path, all.Seq)
		if rotated && try == 10 {
			return all, fmt.Errorf("%w: audit log: a rotation of %s is in progress (or was cut short: the node's next start finishes it): retry", ErrUnavailable, path)
		}
		if rotated {
			// The node may be stopped between a rotation's two renames:
			// wait for it, longer each time (about a second in all).
			time.Sleep(time.Millisecond << try)
			continue
		}
		if err != nil {
			return all, err
		}
		if err := all.join(sum, path); err != nil {
			return all, err
		}
		all.TornBytes = sum.TornBytes
		return all, nil
	}
}

// afterSegmentsListed, when set (by tests), runs where VerifyAuditLog has
// listed the sealed segments: the steps of a rotation or a pruning are
// driven from there.
var afterSegmentsListed func()

// sealedPast reports whether the log at path has a sealed segment past
// entry seq, one VerifyAuditLog has not read (seq 0: any). The active
// segment read beginning past seq+1 was then sealed meanwhile: its
// predecessor, sealed before it took its name, is listed now. None is
// listed when the segments between were pruned (or lost: join names the
// gap). A listing that fails is retried.
func sealedPast(path string, seq uint64) bool {
	segs, err := auditSegments(path)
	return err != nil || len(segs) > 0 && segs[len(segs)-1].last > seq
}

// verifyActive verifies the active segment at path.
func verifyActive(path string, at uint64) (AuditSummary, error) {
	f, err := os.Open(path)
	if err != nil {
		return AuditSummary{}, fmt.Errorf("%w: audit log: %w", ErrUnavailable, err)
	}
	defer f.Close()
	sum, _, err := scanAuditLog(f, at)
	if err == nil && sum.Seq == 0 {
		err = fmt.Errorf("%w: line 1: no complete entry (want a %s or %s entry naming the node)", ErrAuditCorrupt, AuditLogCreated, AuditLogContinued)
	}
	if err != nil {
		return sum, fmt.Errorf("%s: %w", path, err)
	}
	return sum, nil
}

// verifySegment verifies the sealed segment s: its whole chain, entries
// s.first to s.last as its name says, its last line complete.
func verifySegment(s auditSegment, at uint64) (AuditSummary, error) {
	f, err := os.Open(s.path)
	if err != nil {
		return AuditSummary{}, fmt.Errorf("%w: audit log: %w", ErrUnavailable, err)
	}
	defer f.Close()
	sum, _, err := scanAuditLog(f, at)
	switch {
	case err != nil:
	case sum.TornBytes > 0:
		err = fmt.Errorf("%w: %d bytes after the last complete line", ErrAuditCorrupt, sum.TornBytes)
	case sum.First != s.first || sum.Seq != s.last:
		err = fmt.Errorf("%w: holds entries %d to %d, not what its name says", ErrAuditCorrupt, sum.First, sum.Seq)
	}
	if err != nil {
		return sum, fmt.Errorf("%s: %w", s.path, err)
	}
	sum.Segments = 1
	return sum, nil
}

// join adds the summary of the next segment, at path, to all: it must
// continue the segment before (one entry on, chained to its head).
func (all *AuditSummary) join(next AuditSummary, path string) error {
	if all.Segments > 0 {
		switch {
		case next.First != all.Seq+1:
			return fmt.Errorf("%w: %s begins at entry %d, the segment before ends at %d (entries missing)", ErrAuditCorrupt, path, next.First, all.Seq)
		case next.from != all.Head:
			return fmt.Errorf("%w: %s does not continue the segment before (its first entry's prev is not the hash of entry %d)", ErrAuditCorrupt, path, all.Seq)
		case next.Node != all.Node:
			return fmt.Errorf("%w: %s names node %q, the segment before %q", ErrAuditCorrupt, path, next.Node, all.Node)
		}
	} else {
		all.Node, all.First, all.from = next.Node, next.First, next.from
	}
	all.Seq, all.Head, all.Segments = next.Seq, next.Head, all.Segments+1
	if next.HeadAt != "" {
		all.HeadAt = next.HeadAt
	}
	return nil
}

// CheckAnchor compares a verified log with its anchor on the chain: the
// log must reach the anchored sequence number and hold the anchored hash
// there.
func CheckAnchor(sum AuditSummary, an chaincode.AuditAnchor) error {
	switch {
	case an.Node != sum.Node:
		return fmt.Errorf("%w: the anchor is of node %q, the log of %q", ErrAuditAnchor, an.Node, sum.Node)
	case an.Seq > sum.Seq:
		return fmt.Errorf("%w: anchored at entry %d, the log ends at %d (entries lost)", ErrAuditAnchor, an.Seq, sum.Seq)
	case an.Seq+1 < sum.First:
		return fmt.Errorf("%w: anchored at entry %d, the log begins at %d (the segment holding it was removed)", ErrAuditAnchor, an.Seq, sum.First)
	case sum.HeadAt != an.Head:
		return fmt.Errorf("%w: entry %d differs from the anchored head (log rewritten)", ErrAuditAnchor, an.Seq)
	}
	return nil
}

// scanAuditLog reads r from the start and verifies every line. It returns
// the summary and the offset after the last complete line. A last line
// without its newline is torn: counted, not an error. Any other bad line
// is ErrAuditCorrupt naming it.
func scanAuditLog(r io.Reader, at uint64) (AuditSummary, int64, error) {
	var sum AuditSummary
	br := bufio.NewReaderSize(r, 64<<10)
	var good int64
	prev := auditGenesisPrev
	for lineNo := 1; ; lineNo++ {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// Longer than any entry Append writes: torn only if no
			// newline follows.
			n := int64(len(line))
			rest, rerr := br.ReadString('\n')
			if rerr == nil {
				return sum, good, fmt.Errorf("%w: line %d: longer than %d bytes", ErrAuditCorrupt, lineNo, maxAuditLine)
			}
			if !errors.Is(rerr, io.EOF) {
				return sum, good, fmt.Errorf("%w: audit log: %v", ErrUnavailable, rerr)
			}
			sum.TornBytes = n + int64(len(rest))
			return sum, good, nil
		}
		if errors.Is(err, io.EOF) {
			sum.TornBytes = int64(len(line))
			return sum, good, nil
		}
		if err != nil {
			return sum, good, fmt.Errorf("%w: audit log: %v", ErrUnavailable, err)
		}
		if len(line) > maxAuditLine+1 {
			return sum, good, fmt.Errorf("%w: line %d: longer than %d bytes", ErrAuditCorrupt, lineNo, maxAuditLine)
		}
		e, err := parseAuditLine(line[:len(line)-1])
		if err != nil {
			return sum, good, fmt.Errorf("%w: line %d: %v", ErrAuditCorrupt, lineNo, err)
		}
		if lineNo == 1 {
			node := e.Details["node"]
			switch {
			case e.Kind == AuditLogCreated && e.Seq == 1 && reAuditNodeOlder.MatchString(node):
			case e.Kind == AuditLogContinued && e.Seq > 1 && reAuditNodeOlder.MatchString(node) &&
				e.Details["from_seq"] == strconv.FormatUint(e.Seq-1, 10) && e.Details["from_hash"] == e.Prev:
				sum.Seq, prev = e.Seq-1, e.Prev
				if at == sum.Seq {
					sum.HeadAt = e.Prev
				}
			default:
				return sum, good, fmt.Errorf("%w: line 1: want a %s entry (entry 1) or %s entry naming the node", ErrAuditCorrupt, AuditLogCreated, AuditLogContinued)
			}
			sum.Node, sum.First, sum.from = node, e.Seq, e.Prev
		}
		switch {
		case e.Seq != sum.Seq+1:
			return sum, good, fmt.Errorf("%w: line %d: seq %d, want %d", ErrAuditCorrupt, lineNo, e.Seq, sum.Seq+1)
		case e.Prev != prev:
			return sum, good, fmt.Errorf("%w: line %d: prev does not match the hash of line %d", ErrAuditCorrupt, lineNo, lineNo-1)
		}
		if d, err := e.digest(); err != nil || d != e.Hash {
			return sum, good, fmt.Errorf("%w: line %d: hash does not match the entry", ErrAuditCorrupt, lineNo)
		}
		sum.Seq, sum.Head, prev = e.Seq, e.Hash, e.Hash
		if e.Seq == at {
			sum.HeadAt = e.Hash
		}
		good += int64(len(line))
	}
}

// parseAuditLine decodes one line strictly: the line must be exactly the
// encoding Append writes (no unknown or repeated fields, no whitespace,
// canonical order), with well-formed fields.
func parseAuditLine(line []byte) (AuditEntry, error) {
	var e AuditEntry
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return e, fmt.Errorf("malformed entry: %v", err)
	}
	again, err := json.Marshal(e)
	if err != nil || !bytes.Equal(again, line) {
		return e, errors.New("not in canonical form")
	}
	if len(e.Prev) != 64 || len(e.Hash) != 64 {
		return e, errors.New("prev and hash must be 64 hex digits")
	}
	if err := checkAuditInput(e.Kind, e.Symbol, e.Details); err != nil {
		return e, err
	}
	return e, nil
}
