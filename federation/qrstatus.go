package federation

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/trustid-cn/trustid/credentials"
	"github.com/trustid-cn/trustid/credentials/status"
	"github.com/trustid-cn/trustid/qrcode"
	"github.com/trustid-cn/trustid/qrcode/redeem"
)

// ListHeads lists the status lists a region anchored on the ledger
// (*ledger.View). Safe for concurrent use.
type ListHeads interface {
	StatusLists(region string) []string
}

// TokenLists checks Token Status List entries (*credentials.StatusChecker
// over a credentials.HTTPStatusSource with the ledger's anchors, built
// with KeepAnchored): nil for a valid entry, credentials.ErrRevoked or
// credentials.ErrSuspended, else an error.
type TokenLists interface {
	CheckToken(ctx context.Context, issuer, uri string, idx int) error
}

// NodeDirectory is where QRStatus finds a region's node (Directory):
// whether and where it may be called (PeerURL), and the URL naming it
// (NodeURL).
type NodeDirectory interface {
	redeem.PeerDirectory
	NodeURL(region string) (string, error)
}

// Errors of other regions' QR status.
var (
	ErrNoStatusList = errors.New("federation: the region anchored no status list with this number")
)

// QRStatus is the qrcode.StatusChecker of other regions' QR codes and
// device bindings: the status reference's region is looked up in the
// trust registry (Directory: an active region and its registered "api"
// endpoint, https or loopback http only), its list number resolved among
// the lists that region anchored on the ledger (Heads), and the entry read
// from that list as the region's node publishes it at
// <endpoint>/status/<list ID> (Lists: signed by one of the region's keys
// in the registry, its digest the head anchored on the ledger, cached).
// Nothing comes from the code but the region, list number and index, and
// nothing from the caller. A cached list whose digest is still the
// anchored head stays usable while the region's node is down; once the
// region has anchored a change it is refused until the new list can be
// fetched (credentials.ErrStatusListChanged). Safe for concurrent use.
type QRStatus struct {
	Directory NodeDirectory
	Heads     ListHeads
	Lists     TokenLists
	// OnRefuse, if set, is told of every status that could not be had
	// (metrics; see Reason). It must not block.
	OnRefuse func(error)

	resolved sync.Map // region + list number → list ID
	nres     atomic.Int64
}

var _ qrcode.StatusChecker = (*QRStatus)(nil)

// maxResolved bounds the resolved list numbers kept.
const maxResolved = 4096

// Status implements qrcode.StatusChecker. Errors match
// qrcode.ErrStatusUnavailable.
func (q *QRStatus) Status(ctx context.Context, ref qrcode.StatusRef) (qrcode.Status, error) {
	st, err := q.status(ctx, ref)
	if err != nil {
		if q.OnRefuse != nil {
			q.OnRefuse(err)
		}
		return 0, fmt.Errorf("%w: region %06d list %d: %w", qrcode.ErrStatusUnavailable, ref.Region, ref.List, err)
	}
	return st, nil
}

func (q *QRStatus) status(ctx context.Context, ref qrcode.StatusRef) (qrcode.Status, error) {
	region := fmt.Sprintf("%06d", ref.Region)
	if _, err := q.Directory.PeerURL(region); err != nil {
		return 0, err
	}
	base, err := q.Directory.NodeURL(region)
	if err != nil {
		return 0, err
	}
	id, err := q.listID(region, ref.List)
	if err != nil {
		return 0, err
	}
	// The list's issuer is the node's base URL, its registered endpoint:
	// the list must be signed as it and anchored under its region. Lists
	// fetches it where the node is called (Directory.StatusListURL).
	base = strings.TrimSuffix(base, "/")
	err = q.Lists.CheckToken(ctx, base, base+"/status/"+id, int(ref.Index))
	switch {
	case err == nil:
		return qrcode.StatusValid, nil
	case errors.Is(err, credentials.ErrRevoked):
		return qrcode.StatusRevoked, nil
	case errors.Is(err, credentials.ErrSuspended):
		return qrcode.StatusSuspended, nil
	}
	return 0, err
}

// listID resolves region's list number n among the lists it anchored: the
// one list whose ID starts with n (qrcode.ListNumber); a second one fails
// closed. Only a list ID as nodes make them counts (status.ValidListID,
// the one a credential's list URL under a region's endpoint must have):
// the contract now takes no other, but an older one took any printable
// ASCII, and the ID becomes the last segment of the URL fetched from the
// region's host, which a path, query or fragment in it would leave. A resolution is kept: list IDs are never
// reused.
func (q *QRStatus) listID(region string, n uint32) (string, error) {
	key := fmt.Sprintf("%s/%d", region, n)
	if id, ok := q.resolved.Load(key); ok {
		return id.(string), nil
	}
	found := ""
	for _, id := range q.Heads.StatusLists(region) {
		if m, ok := qrcode.ListNumber(id); ok && m == n && status.ValidListID(id) {
			if found != "" {
				return "", fmt.Errorf("%w: two lists of %s share number %d", ErrNoStatusList, region, n)
			}
			found = id
		}
	}
	if found == "" {
		return "", fmt.Errorf("%w: %s number %d", ErrNoStatusList, region, n)
	}
	if q.nres.Add(1) <= maxResolved {
		q.resolved.Store(key, found)
	}
	return found, nil
}
