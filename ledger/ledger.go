package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/trustid-cn/trustid/chaincode"
	"github.com/trustid-cn/trustid/gm"
)

// StatusChange is one status-list entry change to anchor.
type StatusChange = chaincode.StatusChange

// StatusHeadInput is a status-list head to anchor.
type StatusHeadInput = chaincode.HeadInput

// Ledger is a connection to the chain, acting as one organization (one
// region). Implementations are safe for concurrent use.
//
// Errors the contract returns wrap the chaincode sentinels
// (chaincode.ErrNotFound, chaincode.ErrBatchConflict, ...) in both
// backends; errors.Is works on them. Other errors (network, peer down,
// MVCC conflicts) wrap ErrUnavailable and are worth retrying.
type Ledger interface {
	// Submit runs a writing transaction and returns its result once the
	// transaction is committed (or an error if it was not), and the number
	// of the block that committed it (0 when it is not known: a
	// transaction that wrote nothing, or a relay that does not tell; no
	// status batch is ever in block 0, the chain's first).
	Submit(ctx context.Context, fn string, args ...string) (result []byte, block uint64, err error)
	// Evaluate runs a query on the current state and commits nothing.
	Evaluate(ctx context.Context, fn string, args ...string) ([]byte, error)
	// Events delivers the contract's events of committed transactions
	// from block number from (0: from the start), in commit order, until
	// ctx ends; then the channel is closed.
	Events(ctx context.Context, from uint64) (<-chan Event, error)
	// Height returns the number of blocks committed so far.
	Height(ctx context.Context) (uint64, error)
	// TxBlock returns the number of the block that committed the
	// transaction of ID txID (the ID the contract saw, as in
	// chaincode.Batch's Tx), or an error when it cannot tell: one matching
	// chaincode.ErrNotFound when it knows no block of it, any other when
	// the ledger does not answer.
	TxBlock(ctx context.Context, txID string) (uint64, error)
	// MSPID returns the identity transactions are submitted as.
	MSPID() string
	// Close releases the connection.
	Close() error
}

// Event is a contract event of a committed transaction.
type Event struct {
	Block   uint64
	TxID    string
	Name    string
	Payload []byte
}

// ErrUnavailable wraps failures of the ledger itself (not the contract's
// refusals): a peer or file that cannot serve, a transaction that did not
// commit. Retrying later may succeed.
var ErrUnavailable = errors.New("ledger: unavailable")

// ErrConflict marks a transaction that did not commit because a
// concurrent transaction changed what it read (Fabric's MVCC read
// conflict). It also matches ErrUnavailable; a read-modify-write should
// read again and retry.
var ErrConflict = errors.New("ledger: transaction conflicted with a concurrent one")

// ErrClosed is returned after Close.
var ErrClosed = errors.New("ledger: closed")

// Client is the typed API of the contract over any Ledger.
type Client struct {
	L Ledger
}

func call[T any](ctx context.Context, c Client, submit bool, fn string, args ...string) (T, error) {
	out, _, err := callAt[T](ctx, c, submit, fn, args...)
	return out, err
}

// callAt is call that also returns the block of a submitted transaction
// (Ledger.Submit).
func callAt[T any](ctx context.Context, c Client, submit bool, fn string, args ...string) (T, uint64, error) {
	var out T
	var b []byte
	var block uint64
	var err error
	if submit {
		b, block, err = c.L.Submit(ctx, fn, args...)
	} else {
		b, err = c.L.Evaluate(ctx, fn, args...)
	}
	if err != nil {
		return out, 0, err
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return out, 0, fmt.Errorf("%w: %s returned malformed JSON: %v", ErrUnavailable, fn, err)
	}
	return out, block, nil
}

// listAll reads every record the list function fn (ListIssuers, …)
// answers with, a page at a time from its paged form (fn+"Page", with a
// bookmark after args: chaincode.PageSize records an answer, so the
// answer stays under what Fabric passes however many records a region
// writes), or from fn in one answer when the contract is older than the
// paged functions (chaincode.ErrUnknownFunc).
func listAll[T any](ctx context.Context, c Client, fn string, args ...string) ([]T, error) {
	out := []T{}
	bookmark := ""
	for {
		p, err := call[chaincode.Page[T]](ctx, c, false, fn+"Page", append(args[:len(args):len(args)], bookmark)...)
		switch {
		case errors.Is(err, chaincode.ErrUnknownFunc) && bookmark == "":
			return call[[]T](ctx, c, false, fn, args...)
		case err != nil:
			return nil, err
		case p.Next != "" && p.Next <= bookmark:
			return nil, fmt.Errorf("%w: %sPage answered bookmark %.64q after %.64q", ErrUnavailable, fn, p.Next, bookmark)
		}
		out = append(out, p.Items...)
		if p.Next == "" {
			return out, nil
		}
		bookmark = p.Next
	}
}

// conflictRetries bounds how often write submits a transaction again
// after a read conflict.
const conflictRetries = 6

// write submits a registry write, submitting it again after a read
// conflict (ErrConflict): a conflicted transaction changed nothing, and
// running it again reads the state the concurrent one left, so the
// contract's own checks (versions, ErrExists, key transitions) decide as
// for a first try. Registry writes are rare and often meet another
// instance's write to the same region record (its keys at start-up);
// the anchoring paths count and retry their own conflicts instead.
func write[T any](ctx context.Context, c Client, fn string, args ...string) (T, error) {
	for attempt := 1; ; attempt++ {
		out, err := call[T](ctx, c, true, fn, args...)
		if !errors.Is(err, ErrConflict) || attempt == conflictRetries {
			return out, err
		}
		pause := time.Duration(attempt)*20*time.Millisecond + time.Duration(rand.Int64N(int64(20*time.Millisecond)))
		select {
		case <-ctx.Done():
			return out, err
		case <-time.After(pause):
		}
	}
}

func js(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// RequestRegion asks for the admission of the caller's own region.
func (c Client) RequestRegion(ctx context.Context, in chaincode.RegionInput) (chaincode.Region, error) {
	a, err := js(in)
	if err != nil {
		return chaincode.Region{}, err
	}
	return write[chaincode.Region](ctx, c, "RequestRegion", a)
}

// Vote casts the caller's vote on a consortium change (chaincode.ActionAdmit,
// ActionSuspend, ActionReinstate) for region code.
func (c Client) Vote(ctx context.Context, action, code string) error {
	_, err := write[json.RawMessage](ctx, c, "Vote", action, code)
	return err
}

// UpdateRegion updates the caller's region's DID, name and endpoints.
func (c Client) UpdateRegion(ctx context.Context, in chaincode.RegionInput) (chaincode.Region, error) {
	a, err := js(in)
	if err != nil {
		return chaincode.Region{}, err
	}
	return write[chaincode.Region](ctx, c, "UpdateRegion", a)
}

// AddRegionKey adds a verifying key (active) to the caller's region.
func (c Client) AddRegionKey(ctx context.Context, j gm.JWK) (chaincode.Region, error) {
	a, err := js(j)
	if err != nil {
		return chaincode.Region{}, err
	}
	return write[chaincode.Region](ctx, c, "AddRegionKey", a)
}

// SetRegionKeyState moves a key of the caller's region to state
// (chaincode.KeyRetiring, KeyRetired, KeyRevoked; only forward).
func (c Client) SetRegionKeyState(ctx context.Context, kid, state string) (chaincode.Region, error) {
	return write[chaincode.Region](ctx, c, "SetRegionKeyState", kid, state)
}

// Region returns a region's record.
func (c Client) Region(ctx context.Context, code string) (chaincode.Region, error) {
	return call[chaincode.Region](ctx, c, false, "GetRegion", code)
}

// Regions lists every region.
func (c Client) Regions(ctx context.Context) ([]chaincode.Region, error) {
	return listAll[chaincode.Region](ctx, c, "ListRegions")
}

// Proposals lists the open consortium changes.
func (c Client) Proposals(ctx context.Context) ([]chaincode.Proposal, error) {
	return call[[]chaincode.Proposal](ctx, c, false, "ListProposals")
}

// PutIssuer adds or updates an issuer of the caller's region.
func (c Client) PutIssuer(ctx context.Context, in chaincode.Issuer) (chaincode.Issuer, error) {
	a, err := js(in)
	if err != nil {
		return chaincode.Issuer{}, err
	}
	return write[chaincode.Issuer](ctx, c, "PutIssuer", a)
}

// Issuers lists every issuer.
func (c Client) Issuers(ctx context.Context) ([]chaincode.Issuer, error) {
	return listAll[chaincode.Issuer](ctx, c, "ListIssuers")
}

// AddRelyingParty registers a new relying party of the caller's region;
// an ID already registered (by any region) fails with chaincode.ErrExists.
func (c Client) AddRelyingParty(ctx context.Context, in chaincode.RelyingParty) (chaincode.RelyingParty, error) {
	a, err := js(in)
	if err != nil {
		return chaincode.RelyingParty{}, err
	}
	return write[chaincode.RelyingParty](ctx, c, "AddRelyingParty", a)
}

// PutRelyingParty adds or updates a relying party of the caller's region
// (with in.Version set, only if the stored record is at that version,
// else chaincode.ErrStale).
func (c Client) PutRelyingParty(ctx context.Context, in chaincode.RelyingParty) (chaincode.RelyingParty, error) {
	a, err := js(in)
	if err != nil {
		return chaincode.RelyingParty{}, err
	}
	return write[chaincode.RelyingParty](ctx, c, "PutRelyingParty", a)
}

// RelyingParty returns a relying party by client ID.
func (c Client) RelyingParty(ctx context.Context, clientID string) (chaincode.RelyingParty, error) {
	return call[chaincode.RelyingParty](ctx, c, false, "GetRelyingParty", clientID)
}

// RelyingParties lists every relying party.
func (c Client) RelyingParties(ctx context.Context) ([]chaincode.RelyingParty, error) {
	return listAll[chaincode.RelyingParty](ctx, c, "ListRelyingParties")
}

// ClaimSector records that a relying party of the caller's region holds
// a pairwise sector. It fails with an error matching chaincode.ErrExists
// when another relying party holds it; claiming again what one holds
// returns it.
func (c Client) ClaimSector(ctx context.Context, in chaincode.SectorClaim) (chaincode.Sector, error) {
	a, err := js(in)
	if err != nil {
		return chaincode.Sector{}, err
	}
	return write[chaincode.Sector](ctx, c, "ClaimSector", a)
}

// Sector returns who holds a pairwise sector (chaincode.ErrNotFound when
// nobody does).
func (c Client) Sector(ctx context.Context, kind, name string) (chaincode.Sector, error) {
	return call[chaincode.Sector](ctx, c, false, "GetSector", kind, name)
}

// AddTerminal registers a new verification terminal of the caller's
// region; an ID already registered fails with chaincode.ErrExists.
func (c Client) AddTerminal(ctx context.Context, in chaincode.Terminal) (chaincode.Terminal, error) {
	a, err := js(in)
	if err != nil {
		return chaincode.Terminal{}, err
	}
	return write[chaincode.Terminal](ctx, c, "AddTerminal", a)
}

// PutTerminal adds or updates a verification terminal of the caller's region.
func (c Client) PutTerminal(ctx context.Context, in chaincode.Terminal) (chaincode.Terminal, error) {
	a, err := js(in)
	if err != nil {
		return chaincode.Terminal{}, err
	}
	return write[chaincode.Terminal](ctx, c, "PutTerminal", a)
}

// Terminals lists every terminal.
func (c Client) Terminals(ctx context.Context) ([]chaincode.Terminal, error) {
	return listAll[chaincode.Terminal](ctx, c, "ListTerminals")
}

// AnchorBatch anchors a packed batch (chaincode.NewBatchInput). Anchoring
// the same batch again is a no-op reported as Replayed. The result's
// Block is the block that committed the batch, as the Ledger reports it;
// for a replay, the block of the transaction that first committed it
// (Ledger.TxBlock: a replay whose block the ledger cannot tell now is an
// error matching ErrUnavailable, to be sent again; one whose transaction
// it does not know, as a Fabric peer started from a snapshot taken after
// it, has Block 0, as a refused batch has, rather than being sent again
// for ever).
func (c Client) AnchorBatch(ctx context.Context, in chaincode.BatchInput) (chaincode.BatchResult, error) {
	a, err := js(in)
	if err != nil {
		return chaincode.BatchResult{}, err
	}
	res, block, err := callAt[chaincode.BatchResult](ctx, c, true, "AnchorBatch", a)
	switch {
	case err != nil:
		return res, err
	case !res.Replayed:
		res.Block = block
	case res.Batch.Tx != "":
		switch res.Block, err = c.L.TxBlock(ctx, res.Batch.Tx); {
		case errors.Is(err, chaincode.ErrNotFound):
			res.Block = 0
		case err != nil:
			return res, fmt.Errorf("%w: block of replayed batch %s: %w", ErrUnavailable, in.ID, err)
		}
	}
	return res, nil
}

// Batch returns an anchored batch.
func (c Client) Batch(ctx context.Context, region, id string) (chaincode.Batch, error) {
	return call[chaincode.Batch](ctx, c, false, "GetBatch", region, id)
}

// PutStatusHeads anchors status-list heads of the caller's region.
func (c Client) PutStatusHeads(ctx context.Context, heads []StatusHeadInput) (chaincode.HeadsEvent, error) {
	a, err := js(heads)
	if err != nil {
		return chaincode.HeadsEvent{}, err
	}
	return call[chaincode.HeadsEvent](ctx, c, true, "PutStatusHeads", a)
}

// StatusHead returns the anchored head of a region's list.
func (c Client) StatusHead(ctx context.Context, region, list string) (chaincode.StatusHead, error) {
	return call[chaincode.StatusHead](ctx, c, false, "GetStatusHead", region, list)
}

// StatusHeads lists a region's anchored heads.
func (c Client) StatusHeads(ctx context.Context, region string) ([]chaincode.StatusHead, error) {
	return listAll[chaincode.StatusHead](ctx, c, "ListStatusHeads", region)
}

// AnchorAudit anchors the head of a node's audit log.
func (c Client) AnchorAudit(ctx context.Context, node string, seq uint64, head string) (chaincode.AuditAnchor, error) {
	a, err := js(chaincode.AuditInput{Node: node, Seq: seq, Head: head})
	if err != nil {
		return chaincode.AuditAnchor{}, err
	}
	return call[chaincode.AuditAnchor](ctx, c, true, "AnchorAudit", a)
}

// RecordAuditPrune records on the ledger, with the node's anchored head
// (seq, head), that its log is pruned through p.Seq (AnchorAudit with
// chaincode.AuditInput.Pruned). It returns once the record is committed.
func (c Client) RecordAuditPrune(ctx context.Context, node string, seq uint64, head string, p chaincode.AuditPrune) (chaincode.AuditAnchor, error) {
	a, err := js(chaincode.AuditInput{Node: node, Seq: seq, Head: head, Pruned: p})
	if err != nil {
		return chaincode.AuditAnchor{}, err
	}
	return call[chaincode.AuditAnchor](ctx, c, true, "AnchorAudit", a)
}

// AuditAnchors lists the anchored audit heads of a region's nodes.
func (c Client) AuditAnchors(ctx context.Context, region string) ([]chaincode.AuditAnchor, error) {
	return listAll[chaincode.AuditAnchor](ctx, c, "ListAuditAnchors", region)
}

// AuditAnchor returns the anchored head of a node's audit log.
func (c Client) AuditAnchor(ctx context.Context, region, node string) (chaincode.AuditAnchor, error) {
	return call[chaincode.AuditAnchor](ctx, c, false, "GetAuditAnchor", region, node)
}

// Issuer returns an issuer by ID.
func (c Client) Issuer(ctx context.Context, id string) (chaincode.Issuer, error) {
	return call[chaincode.Issuer](ctx, c, false, "GetIssuer", id)
}

// Terminal returns a verification terminal by ID.
func (c Client) Terminal(ctx context.Context, id string) (chaincode.Terminal, error) {
	return call[chaincode.Terminal](ctx, c, false, "GetTerminal", id)
}

// BindCredentialIDs records bindings of the caller's region's credential
// IDs (chaincode.BindingsInput); a key bound to another value fails the
// whole transaction with chaincode.ErrBindingExists.
func (c Client) BindCredentialIDs(ctx context.Context, in chaincode.BindingsInput) (chaincode.BindingsResult, error) {
	a, err := js(in)
	if err != nil {
		return chaincode.BindingsResult{}, err
	}
	return call[chaincode.BindingsResult](ctx, c, true, "BindCredentialIDs", a)
}

// CredentialBinding returns a region's binding of key
// (chaincode.ErrNotFound when there is none).
func (c Client) CredentialBinding(ctx context.Context, region, key string) (chaincode.StoredBinding, error) {
	return call[chaincode.StoredBinding](ctx, c, false, "GetCredentialBinding", region, key)
}
