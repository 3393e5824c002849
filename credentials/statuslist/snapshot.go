package statuslist

import (
	"context"

	"github.com/trustid-cn/trustid/credentials/status"
)

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

// Version returns list listID's version, without copying anything.
func (s *FileStore) Version(ctx context.Context, listID string) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	l, found := s.lists[listID]
	if !found {
		return 0, status.ErrNotFound
	}
	return l.version, nil
}
