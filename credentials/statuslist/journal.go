package statuslist

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/trustid-cn/trustid/credentials/status"
)

// ErrVersion: a version the list has not reached.
var ErrVersion = errors.New("statuslist: list has no such version")

// journalEntry is one change not yet marked anchored.
type journalEntry struct {
	version uint64
	index   int
	value   uint8
}

// maxJournal bounds a list's journal before it is collapsed to the last
// change of each index. It is reached only when nothing marks changes
// anchored for a long time (no ledger, or a ledger outbox that keeps
// failing); collapsing keeps the final statuses, which is what the ledger's
// records and heads need, and drops intermediate ones.
const maxJournal = 1024

func appendJournal(j []journalEntry, e journalEntry) []journalEntry {
	j = append(j, e)
	if len(j) <= maxJournal {
		return j
	}
	last := map[int]int{} // index -> position of its last change
	for i, x := range j {
		last[x.index] = i
	}
	out := make([]journalEntry, 0, len(last))
	for i, x := range j {
		if last[x.index] == i {
			out = append(out, x)
		}
	}
	return out
}

// maxValue is the largest status value of the list's kind.
func (l *list) maxValue() uint64 {
	if l.bits != nil {
		return 1
	}
	return status.TokenSuspended
}

func (l *list) snapshot() status.Snapshot {
	snap := status.Snapshot{ID: l.id, Purpose: l.purpose, Version: l.version, Updated: l.updated}
	if l.bits != nil {
		snap.Bitstring = l.bits.Clone()
	} else {
		snap.Token = l.token.Clone()
	}
	return snap
}

// Unanchored returns list listID's anchoring state: a snapshot of the list
// now, the version last marked anchored and the changes made since, taken
// together under the store's lock.
func (s *FileStore) Unanchored(ctx context.Context, listID string) (status.Pending, error) {
	if err := ctx.Err(); err != nil {
		return status.Pending{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	l, found := s.lists[listID]
	if !found {
		return status.Pending{}, status.ErrNotFound
	}
	p := status.Pending{Snapshot: l.snapshot(), Anchored: l.anchored, Changes: make([]status.Change, 0, len(l.journal))}
	for _, e := range l.journal {
		p.Changes = append(p.Changes, status.Change{Index: e.index, Value: e.value, Version: e.version})
	}
	return p, nil
}

// Versions returns list listID's version and the version last marked
// anchored, without copying anything.
func (s *FileStore) Versions(ctx context.Context, listID string) (version, anchored uint64, err error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	l, found := s.lists[listID]
	if !found {
		return 0, 0, status.ErrNotFound
	}
	return l.version, l.anchored, nil
}

// MarkAnchored records that list listID's changes up to version, and its
// head at version, were handed to the ledger (durably: a ledger outbox
// has them). The journal drops them in memory at once; the file follows at
// the list's next change or at Checkpoint, so after a crash in between the
// same changes are handed over again (harmless: they are absolute values
// and heads are versioned). Marking an older version than already marked
// does nothing.
func (s *FileStore) MarkAnchored(ctx context.Context, listID string, version uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l, err := s.lookup(listID)
	if err != nil {
		return err
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if version > l.version {
		return fmt.Errorf("%w: %d (the list is at %d)", ErrVersion, version, l.version)
	}
	if version <= l.anchored {
		return nil
	}
	l.anchored = version
	k := 0
	for k < len(l.journal) && l.journal[k].version <= version {
		k++
	}
	l.journal = slices.Clone(l.journal[k:])
	l.journalDirty = true
	return nil
}

// Checkpoint writes the journal of every list whose anchoring progress is
// newer in memory than on disk, so that a restart does not hand the same
// changes over again. Call it when the node stops.
func (s *FileStore) Checkpoint(ctx context.Context) error {
	s.mu.RLock()
	lists := make([]*list, 0, len(s.order))
	for _, id := range s.order {
		lists = append(lists, s.lists[id])
	}
	s.mu.RUnlock()
	var errs []error
	for _, l := range lists {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.checkpoint(l); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// checkpoint writes l if its journal on disk is behind memory. Holding
// l.wmu, l's state cannot change, so it is written as it is.
func (s *FileStore) checkpoint(l *list) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if !l.journalDirty {
		return nil
	}
	if err := s.write(l); err != nil {
		return err
	}
	l.journalDirty = false
	return nil
}
