package statuslist

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Allocation log. An allocation in a list that already exists is not a
// rewrite of the list's file: its index is appended to the list's
// allocation log (<list ID>.alloc, 4-byte big-endian indices), the
// allocations of one group in one write and one fsync, before they are
// acknowledged. A list's allocated entries are those its file records
// plus those in its log. A crash during an append leaves at most a torn
// last record (a length not a multiple of 4, or an index out of range:
// never acknowledged), cut off when the store is opened; a complete
// record of an append that was never acknowledged only marks one more
// entry allocated, so no index is ever handed out twice.
const allocSuffix = ".alloc"

func (s *FileStore) allocPath(listID string) string {
	return filepath.Join(s.dir, listID+allocSuffix)
}

// readAllocLog marks the entries l's allocation log records allocated,
// cutting a torn last record off the file if cut.
func (s *FileStore) readAllocLog(l *list, cut bool) error {
	f, err := os.OpenFile(s.allocPath(l.id), os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("statuslist: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return fmt.Errorf("statuslist: %w", err)
	}
	l.logExists = true
	good := len(data) - len(data)%4
	for off := 0; off < good; off += 4 {
		i := int(binary.BigEndian.Uint32(data[off:]))
		if i >= l.size() {
			if off+4 == good { // the torn last record
				good = off
				break
			}
			return fmt.Errorf("%s%s: %w: index out of range at offset %d", l.id, allocSuffix, ErrCorrupted, off)
		}
		if !l.isAllocated(i) {
			l.allocated[i>>3] |= 0x80 >> (i & 7)
			l.count++
		}
	}
	if good < len(data) && cut {
		if err := f.Truncate(int64(good)); err != nil {
			return fmt.Errorf("statuslist: cutting a torn allocation record: %w", err)
		}
		if err := f.Sync(); err != nil {
			return fmt.Errorf("statuslist: cutting a torn allocation record: %w", err)
		}
	}
	return nil
}

// appendAllocs appends indices to l's allocation log in one write and
// one fsync (and, when the log is new, an fsync of the directory). The
// caller holds l.wmu. If the append fails the log is cut back to its
// previous end; if even that fails, the list takes no more allocations
// (a later record would follow a partial one).
func (s *FileStore) appendAllocs(l *list, indices []int) error {
	if l.logBroken {
		return errors.New("statuslist: allocation log unusable after a failed append")
	}
	f, err := os.OpenFile(s.allocPath(l.id), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("statuslist: %w", err)
	}
	defer f.Close()
	if !l.logExists {
		d, err := os.Open(s.dir)
		if err == nil {
			err = d.Sync()
			d.Close()
		}
		if err != nil {
			return fmt.Errorf("statuslist: allocation log: %w", err)
		}
		l.logExists = true
	}
	buf := make([]byte, 0, 4*len(indices))
	for _, i := range indices {
		buf = binary.BigEndian.AppendUint32(buf, uint32(i))
	}
	end, err := f.Seek(0, io.SeekEnd)
	if err == nil {
		if _, err = f.Write(buf); err == nil {
			err = f.Sync()
		}
		if err != nil && f.Truncate(end) != nil {
			l.logBroken = true
		}
	}
	if err != nil {
		return fmt.Errorf("statuslist: allocation log: %w", err)
	}
	return nil
}
